"""Why an alert did not fire within its budget, in words: what Prometheus showed, not a dump of labels.

An alert that hovers around its threshold goes pending, drops back to inactive when its expression stops
matching, and goes pending again: its ``for:`` never elapses. The message says the rule's state (pending
since when, with the value it matched, or inactive), its expression, and how often it went pending during
the wait, from the pending alerts the wait itself saw (their ``activeAt`` and ``value``, as
``/api/v1/alerts`` gives them). The expression's value while inactive would need a query of its left
side; that is not asked: an arbitrary rule has no left side to take apart safely.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def seen_pending(alerts: list[dict[str, Any]], into: dict[str, str]) -> None:
    """Remember each pending episode the wait sees: its ``activeAt`` and the latest value it matched."""
    for alert in alerts:
        if alert.get("state") == "pending" and alert.get("activeAt"):
            into[str(alert["activeAt"])] = str(alert.get("value", "?"))


def message(alert: str, budget_s: float, rule: Mapping[str, Any] | None, labels: Mapping[str, str],
            pending_seen: Mapping[str, str]) -> str:
    """``<alert> did not fire within <budget>s of the fault: Prometheus shows it <state>…``.

    ``rule`` is the alerting rule as ``/api/v1/rules`` gives it (None when not loaded), ``labels`` the
    scenario's, ``pending_seen`` what :func:`seen_pending` gathered (activeAt → value)."""
    head = f"{alert} did not fire within {budget_s:.0f}s of the fault"
    if rule is None:
        return f"{head}; Prometheus has no alerting rule {alert} loaded (check the rule files)"
    expr, for_s = str(rule.get("query", "?")), float(rule.get("duration") or 0)
    if rule.get("health") == "err":
        return f"{head}: its rule fails to evaluate ({rule.get('lastError', '?')}); fix `{expr}`"
    mine = [a for a in rule.get("alerts") or []
            if all((a.get("labels") or {}).get(k) == v for k, v in labels.items())]
    pending = [a for a in mine if a.get("state") == "pending"]
    if pending:
        now = (f"Prometheus shows it pending since {_clock(pending[0].get('activeAt'))}, value "
               f"{_number(pending[0].get('value'))} of `{expr}`; it fires once that has held for {for_s:g}s")
    else:
        now = (f"Prometheus shows it inactive: `{expr}` matched no series at its last evaluation "
               f"({_clock(rule.get('lastEvaluation'))})")
    episodes = dict(pending_seen)
    for a in pending:
        episodes.setdefault(str(a.get("activeAt")), str(a.get("value")))
    resets = len(episodes) - (1 if pending else 0)
    if resets > 0:
        values = ", ".join(_number(v) for v in list(episodes.values())[-4:])
        now += (f"; during the wait it went pending {len(episodes)} time(s) and was reset {resets} "
                f"time(s), each time `{expr}` stopped matching before {for_s:g}s had passed (values "
                f"matched: {values})")
    elif not episodes:
        now += "; it never went pending during the wait"
    return f"{head}: {now}"


def _clock(stamp: object) -> str:
    """``2026-11-27T15:23:56.625047497Z`` → ``15:23:56Z``."""
    text = str(stamp or "?")
    return f"{text[11:19]}Z" if len(text) >= 19 and text[10] == "T" else text


def _number(value: object) -> str:
    """Prometheus' ``9.3e-01`` → ``0.93``."""
    try:
        return f"{float(str(value)):.4g}"
    except ValueError:
        return str(value)
