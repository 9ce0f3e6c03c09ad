"""Which Alertmanager timer an alert's first notification waits for: ``group_wait`` or ``group_interval``.

Alertmanager sends a new group's first notification ``group_wait`` after its first alert. An alert that
joins a group which has already notified waits for the group's next flush, up to ``group_interval``
later. Groups are per route and per value of the route's ``group_by`` labels, so an alert of the same
name (another pool, pod or mountpoint) that notified first makes the next one wait ``group_interval``:
this is how, in a concurrent campaign, an alert can fire on time and still reach its receiver late.

>>> config = {"route": {"receiver": "r", "group_by": ["alertname"], "group_wait": "0s",
...           "group_interval": "30s"}}
>>> first_notification_wait(config, {"alertname": "A", "pool": "b"}, [], arrived_at=100.0).describe()
'group_wait 0s'
>>> first = ({"alertname": "A", "pool": "a"}, 50.0)   # in Alertmanager since t=50, notified at once
>>> first_notification_wait(config, {"alertname": "A", "pool": "b"}, [first], arrived_at=100.0).describe()
'group_interval 30s (A{pool="a"} of the same group on receiver r notified first)'
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from stackcheck.routing import Match, route
from stackcheck.timescale import parse_duration

#: Prometheus keeps a resolved alert for 15 minutes of wall-clock time, whatever the time scale, and
#: re-sends it to Alertmanager all along (``rules/alerting.go``: ``resolvedRetention = 15 * time.Minute``).
#: Each re-send updates the alert in its Alertmanager group, so the group is not emptied at its flushes
#: and stays, already notified, for that long: the same alert firing again joins it and waits for the
#: group's next ``group_interval`` tick, where a new group would wait only ``group_wait``.
RESOLVED_RETENTION_S = 15 * 60.0
#: Alertmanager then removes an emptied group at its dispatcher's maintenance, every 30 s
#: (``dispatch/dispatch.go``: ``time.NewTicker(30 * time.Second)``).
GROUP_CLEANUP_S = 30.0
#: Labels that never tell two alerts of one group apart in a message.
_NOT_DISTINCTIVE = {"alertname", "severity", "component", "service", "cluster"}


@dataclass(frozen=True)
class Wait:
    """The Alertmanager timer on an alert's slowest route, and why that timer applies."""

    timer: str
    seconds: float
    receiver: str = ""
    because: str = ""
    #: The other alert of the same group that notified first, when that is why (``A{pool="a"}``).
    other: str = ""

    def describe(self) -> str:
        text = f"{self.timer} {_seconds(self.seconds)}"
        return f"{text} ({self.because})" if self.because else text


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _name(labels: dict[str, str], mine: dict[str, str]) -> str:
    """``A{pool="a"}``: the alert's name and the labels that tell it from ``mine``."""
    differ = {k: v for k, v in sorted(labels.items()) if k not in _NOT_DISTINCTIVE and mine.get(k) != v}
    inner = ", ".join(f'{k}="{v}"' for k, v in differ.items())
    return f"{labels.get('alertname', '?')}{{{inner}}}" if inner else labels.get("alertname", "?")


def first_notification_wait(config: dict[str, Any], labels: dict[str, str],
                            others: Iterable[tuple[dict[str, str], float]], *, arrived_at: float) -> Wait:
    """The longest wait over every route ``labels`` reaches.

    ``others`` are the other alerts Alertmanager holds, with the time each became active there
    (``startsAt``). On a route where one of them shares the alert's group and had been there for the
    route's ``group_wait`` before ``arrived_at``, the group has notified already: that route waits
    ``group_interval``.
    """
    earlier = [(other, since) for other, since in others if other != labels]
    worst: Wait | None = None
    for match in route(config, labels):
        group_wait = parse_duration(match.group_wait)
        first = next((other for other, since in earlier
                      if since + group_wait <= arrived_at and _same_group(config, match, labels, other)),
                     None)
        if first is not None:
            name = _name(first, labels)
            wait = Wait("group_interval", parse_duration(match.group_interval), match.receiver,
                        f"{name} of the same group on receiver {match.receiver} notified first", other=name)
        else:
            wait = Wait("group_wait", group_wait, match.receiver)
        if worst is None or wait.seconds > worst.seconds:
            worst = wait
    return worst or Wait("group_wait", 0.0)


def _same_group(config: dict[str, Any], match: Match, labels: dict[str, str], other: dict[str, str]) -> bool:
    """True when ``other`` reaches ``match``'s route too and joins the group ``labels`` joins there."""
    key = match.group_key(labels)
    return any(m.path == match.path and m.group_key(other) == key for m in route(config, other))


def lingering_group_wait(alert: str, matches: Iterable[Any], last_notified: float | None, *,
                         arrived_at: float) -> Wait | None:
    """``group_interval`` when the group of an earlier ``alert`` (an earlier fault, an earlier run) may
    still exist: its latest notification at the alert's channels, at ``last_notified``, came less than
    Prometheus' resolved retention, a group interval and Alertmanager's clean-up ago.
    """
    if last_notified is None:
        return None
    interval = max((parse_duration(m.group_interval) for m in matches), default=0.0)
    age = arrived_at - last_notified
    if age >= RESOLVED_RETENTION_S + interval + GROUP_CLEANUP_S:
        return None
    return Wait("group_interval", interval, because=(
        f"its group was still open: an earlier {alert} was notified {age:.0f}s before, and Prometheus "
        f"re-sends a resolved alert for {RESOLVED_RETENTION_S / 60:g} minutes, so Alertmanager keeps its "
        "group"))


def resend_interval_s(matches: Iterable[Match]) -> float:
    """How long apart an always-firing alert (Watchdog) is notified on these routes: Alertmanager re-sends
    on ``group_interval`` ticks once ``repeat_interval`` has passed, so the larger of the two, worst route."""
    return max(max(parse_duration(m.repeat_interval), parse_duration(m.group_interval)) for m in matches)
