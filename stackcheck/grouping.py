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

from stackcheck.routing import route
from stackcheck.timescale import parse_duration

#: Labels that never tell two alerts of one group apart in a message.
_NOT_DISTINCTIVE = {"alertname", "severity", "component", "service", "cluster"}


@dataclass(frozen=True)
class Wait:
    """The Alertmanager timer on an alert's slowest route, and why that timer applies."""

    timer: str
    seconds: float
    receiver: str = ""
    because: str = ""

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
        key, group_wait = match.group_key(labels), parse_duration(match.group_wait)
        first = next((other for other, since in earlier if since + group_wait <= arrived_at
                      and any(m.path == match.path and m.group_key(other) == key for m in route(config, other))),
                     None)
        if first is not None:
            wait = Wait("group_interval", parse_duration(match.group_interval), match.receiver,
                        f"{_name(first, labels)} of the same group on receiver {match.receiver} notified first")
        else:
            wait = Wait("group_wait", group_wait, match.receiver)
        if worst is None or wait.seconds > worst.seconds:
            worst = wait
    return worst or Wait("group_wait", 0.0)
