"""Shrink every timer of the stack by one factor, for CI and the local runtime.

Production values stay in ``manifests/``; the local runtime writes scaled copies. One factor is applied
to scrape and evaluation intervals, ``for``, rate windows and Alertmanager's group timers, so an alert's
detection bound shrinks by exactly that factor.

>>> scale_duration("5m", 20)
'15s'
>>> scale_expr("rate(x[5m]) > 0", 20)
'rate(x[15s]) > 0'
"""
from __future__ import annotations

import copy
import re
from typing import Any

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000,
             "y": 31_536_000_000}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
_DURATION = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|y))+$")
# A range or subquery selector: [5m] or [30m:1m] (the step may be empty).
_RANGE = re.compile(r"\[\s*([0-9a-z]+)\s*(?::\s*([0-9a-z]*)\s*)?\]")
_OFFSET = re.compile(r"\boffset\s+([0-9a-z]+)")


def parse_duration(text: str) -> float:
    """Prometheus/Alertmanager duration → seconds (``1h30m`` → 5400.0)."""
    text = str(text).strip()
    if text == "0":
        return 0.0
    if not _DURATION.match(text):
        raise ValueError(f"not a duration: {text!r} (expected e.g. 30s, 5m, 1h30m)")
    return sum(int(n) * _UNITS_MS[u] for n, u in _PART.findall(text)) / 1000


def format_duration(seconds: float) -> str:
    """Seconds → the shortest exact duration string, millisecond precision; non-zero values are ≥ 1ms."""
    if seconds == 0:
        return "0s"
    ms = max(1, round(seconds * 1000))
    out = []
    for unit in ("h", "m", "s", "ms"):
        size = _UNITS_MS[unit]
        if ms >= size:
            out.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(out)


def scale_duration(text: str, factor: float) -> str:
    """Divide a duration by ``factor``; ``0s`` stays ``0s``."""
    seconds = parse_duration(text)
    return "0s" if seconds == 0 else format_duration(seconds / factor)


def scale_expr(expr: str, factor: float) -> str:
    """Scale range windows, subquery steps and offsets inside a PromQL expression."""
    if factor == 1:
        return expr

    def window(match: re.Match[str]) -> str:
        rng, step = match.group(1), match.group(2)
        if not _DURATION.match(rng):
            return match.group(0)  # e.g. an index like foo[0] inside a label regex: leave it
        inner = scale_duration(rng, factor)
        if step is not None:
            inner += ":" + (scale_duration(step, factor) if step else "")
        return f"[{inner}]"

    expr = _RANGE.sub(window, expr)
    return _OFFSET.sub(lambda m: f"offset {scale_duration(m.group(1), factor)}"
                       if _DURATION.match(m.group(1)) else m.group(0), expr)


def scale_prometheus_config(config: dict[str, Any], factor: float) -> dict[str, Any]:
    """Scale global and per-job scrape/evaluation intervals and timeouts (timeout ≤ interval kept)."""
    out = copy.deepcopy(config)
    glob = out.setdefault("global", {})
    glob.setdefault("scrape_interval", "1m")
    glob.setdefault("evaluation_interval", "1m")
    glob.setdefault("scrape_timeout", "10s")
    _scale_scrape(glob, factor, None)
    glob["evaluation_interval"] = scale_duration(glob["evaluation_interval"], factor)
    for job in out.get("scrape_configs") or []:
        _scale_scrape(job, factor, glob)
    return out


def _scale_scrape(section: dict[str, Any], factor: float, parent: dict[str, Any] | None) -> None:
    for key in ("scrape_interval", "scrape_timeout"):
        if key in section:
            section[key] = scale_duration(section[key], factor)
    interval = parse_duration(section.get("scrape_interval") or (parent or {}).get("scrape_interval", "1m"))
    timeout = parse_duration(section.get("scrape_timeout") or (parent or {}).get("scrape_timeout", "10s"))
    if timeout > interval:
        section["scrape_timeout"] = format_duration(interval)


def scale_rules(doc: dict[str, Any], factor: float) -> dict[str, Any]:
    """Scale a rule file: group ``interval``, each rule's ``for``/``keep_firing_for`` and its windows."""
    out = copy.deepcopy(doc)
    for group in out.get("groups") or []:
        if "interval" in group:
            group["interval"] = scale_duration(group["interval"], factor)
        for rule in group.get("rules") or []:
            for key in ("for", "keep_firing_for"):
                if key in rule:
                    rule[key] = scale_duration(rule[key], factor)
            rule["expr"] = scale_expr(str(rule["expr"]), factor)
    return out


_AM_ROUTE_TIMERS = ("group_wait", "group_interval", "repeat_interval")


def scale_alertmanager_config(config: dict[str, Any], factor: float) -> dict[str, Any]:
    """Scale Alertmanager's route timers (every route) and ``global.resolve_timeout``."""
    out = copy.deepcopy(config)
    glob = out.get("global") or {}
    if "resolve_timeout" in glob:
        glob["resolve_timeout"] = scale_duration(glob["resolve_timeout"], factor)
    root = out.setdefault("route", {})
    # Alertmanager's defaults (30s, 5m, 4h) must be scaled too, so write them out on the root.
    for key, default in zip(_AM_ROUTE_TIMERS, ("30s", "5m", "4h")):
        root.setdefault(key, default)

    def walk(route: dict[str, Any]) -> None:
        for key in _AM_ROUTE_TIMERS:
            if key in route:
                route[key] = scale_duration(route[key], factor)
        for child in route.get("routes") or []:
            walk(child)

    walk(root)
    return out
