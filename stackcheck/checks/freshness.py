"""Judge "has data" by what Prometheus produced *now*, not by what its TSDB still holds.

A series written before a rules change or a restart stays queryable for the 5-minute lookback, so
"the query returns data" proves nothing about the rule Prometheus runs today. A recording rule passes
only when its latest evaluation wrote samples (their timestamps are that evaluation's), or when its own
expression returns data now; a target only when its last scrape is recent against its own interval.

>>> parse_time("2026-11-27T15:24:11.626183012Z")
1795793051.626183
>>> parse_time("0001-01-01T00:00:00Z") is None   # never evaluated / scraped
True
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stackcheck.clients.prometheus import Rule, RuleGroup

_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")

WRITTEN = "{n} series written by its latest evaluation at {at}"
EXPR_NOW = ("its expression returns {n} series now (its latest evaluation at {at} wrote none of its own "
            "series yet)")
NOT_EVALUATED = "recording rule {name} has not been evaluated yet since Prometheus (re)started or reloaded"
NOT_LOADED = "recording rule {name} ({file}) is not loaded by Prometheus (check rule_files and the rule file)"
STALE = ("recording rule {name} ({group}): its latest evaluation at {at} wrote no series ({newest}), and its "
         "expression returns nothing now; it reads {reads}: check those metrics exist")


@dataclass(frozen=True)
class Verdict:
    """A pass/fail with the sentence that explains it (true when ``ok``, so ``until`` can poll it)."""

    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok


def parse_time(text: str | None) -> float | None:
    """RFC 3339 (Go's, nanoseconds allowed) → epoch seconds; Go's zero time or nothing → None."""
    match = _RFC3339.match(text or "")
    if match is None:
        return None
    base, fraction, zone = match.groups()
    when = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    if when.year <= 1:
        return None
    return when.replace(tzinfo=when.tzinfo or UTC).timestamp() + float(f"0.{fraction or 0}")


def clock(epoch: float) -> str:
    """Epoch seconds → ``15:24:11.626Z`` (UTC), short enough for a message."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%H:%M:%S.%f")[:-3] + "Z"


def find_rule(groups: Iterable[RuleGroup], name: str, kind: str) -> tuple[RuleGroup, Rule] | None:
    """The loaded rule named ``name`` of ``kind`` ("recording" or "alerting") and its group."""
    for group in groups:
        for rule in group.get("rules", []):
            if rule.get("name") == name and rule.get("type") == kind:
                return group, rule
    return None


def sample_times(result: Iterable[dict[str, Any]]) -> list[float]:
    """The values of a ``timestamp(...)`` query: each series' newest sample time, epoch seconds."""
    return [float(series["value"][1]) for series in result]


def recording_verdict(name: str, group: RuleGroup, rule: Rule, written_at: list[float],
                      expr_series: int, reads: Iterable[str]) -> Verdict:
    """Judge one recording rule from its loaded state, its series' sample times and its expression now.

    ``written_at`` must be read *after* ``rule`` (so a sample of the latest evaluation cannot be
    missed). Samples carry the group's evaluation timestamp, a little before the rule's
    ``lastEvaluation`` (wall clock at its start); anything older than half an interval before it comes
    from an earlier evaluation, or from before a restart.
    """
    last = parse_time(rule.get("lastEvaluation")) or parse_time(group.get("lastEvaluation"))
    if last is None:
        return Verdict(False, NOT_EVALUATED.format(name=name))
    interval = float(group.get("interval") or 0) or 60.0
    fresh = [t for t in written_at if t >= last - interval / 2]
    if fresh:
        return Verdict(True, WRITTEN.format(n=len(fresh), at=clock(last)))
    if expr_series:
        return Verdict(True, EXPR_NOW.format(n=expr_series, at=clock(last)))
    newest = (f"its newest sample is {last - max(written_at):.1f}s older, from an earlier evaluation or a "
              "previous Prometheus" if written_at else "none of its series is in the TSDB")
    return Verdict(False, STALE.format(name=name, group=group.get("name"), at=clock(last), newest=newest,
                                       reads=", ".join(sorted(reads)) or "no metric"))
