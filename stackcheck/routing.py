"""Walk an Alertmanager route tree the way Alertmanager does, to find an alert's receivers and timers.

Used for wait budgets (which ``group_wait`` applies) and for naming the channel an alert should reach.
``amtool config routes test`` stays the authority in ``lint``; this mirrors it for the live checks.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

# One matcher of a comma-separated list: name, operator, then a quoted (Go escapes) or bare value.
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|[^,"]*?)\s*(?:,|$)')


def parse_matchers(line: str) -> list[tuple[str, str, str]]:
    """One ``matchers`` entry → (name, op, value) triples, read like Alertmanager's ``labels.ParseMatchers``:
    a comma-separated list, optionally in braces (``'{a="1", b=~"x|y"}'``)."""
    text = line.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    found, pos = [], 0
    while pos < len(text):
        match = _MATCHER.match(text, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"cannot parse matcher {line!r}; `amtool check-config` shows why")
        name, op, value = match.groups()
        found.append((name, op, json.loads(value) if value.startswith('"') else value))
        pos = match.end()
    return found


@dataclass(frozen=True)
class Match:
    """One route an alert ends on: its receiver and effective timers (inherited from parents)."""

    receiver: str
    group_wait: str
    group_interval: str
    repeat_interval: str = "4h"
    #: The route's effective ``group_by`` (inherited); ``("...",)`` groups by every label.
    group_by: tuple[str, ...] = field(default=(), compare=False)
    #: Where the route sits in the tree (child indexes from the root): Alertmanager's route identity.
    path: tuple[int, ...] = field(default=(), compare=False)

    def group_key(self, labels: dict[str, str]) -> tuple[tuple[int, ...], tuple[tuple[str, str], ...]]:
        """The aggregation group an alert with ``labels`` joins on this route, as Alertmanager forms it:
        the route, then the values of the ``group_by`` labels the alert has."""
        if "..." in self.group_by:
            return self.path, tuple(sorted(labels.items()))
        return self.path, tuple((name, labels[name]) for name in self.group_by if name in labels)


def _matches(route: dict[str, Any], labels: dict[str, str]) -> bool:
    for name, value in (route.get("match") or {}).items():
        if labels.get(name, "") != str(value):
            return False
    for name, pattern in (route.get("match_re") or {}).items():
        if not re.fullmatch(str(pattern), labels.get(name, "")):
            return False
    for line in route.get("matchers") or []:
        for name, op, value in parse_matchers(str(line)):
            actual = labels.get(name, "")
            ok = {"=": actual == value, "!=": actual != value,
                  "=~": bool(re.fullmatch(value, actual)), "!~": not re.fullmatch(value, actual)}[op]
            if not ok:
                return False
    return True


def route(config: dict[str, Any], labels: dict[str, str]) -> list[Match]:
    """Every receiver an alert with ``labels`` reaches, in order (honours ``continue``)."""
    root = config.get("route") or {}
    inherited = {"receiver": root.get("receiver", ""), "group_wait": root.get("group_wait", "30s"),
                 "repeat_interval": root.get("repeat_interval", "4h"),
                 "group_interval": root.get("group_interval", "5m")}

    def walk(node: dict[str, Any], parent: dict[str, str], group_by: tuple[str, ...],
             path: tuple[int, ...]) -> list[Match]:
        here = {key: str(node.get(key, parent[key])) for key in parent}
        grouping = tuple(map(str, node["group_by"])) if "group_by" in node else group_by
        found: list[Match] = []
        for index, child in enumerate(node.get("routes") or []):
            if _matches(child, labels):
                found += walk(child, here, grouping, (*path, index))
                if not child.get("continue", False):
                    break
        return found or [Match(here["receiver"], here["group_wait"], here["group_interval"],
                               here["repeat_interval"], group_by=grouping, path=path)]

    return walk(root, inherited, (), ())


def channels(config: dict[str, Any], receiver: str) -> dict[str, list[str]]:
    """The Slack channels and email recipients of one receiver."""
    for entry in config.get("receivers") or []:
        if entry.get("name") == receiver:
            return {
                "slack": [str(s.get("channel", "")) for s in entry.get("slack_configs") or []],
                "email": [str(e.get("to", "")) for e in entry.get("email_configs") or []],
                "webhook": [receiver for _ in entry.get("webhook_configs") or []],
            }
    return {"slack": [], "email": [], "webhook": []}
