"""amtool's verdicts: ``check-config`` on alertmanager.yml, and the route tests of routes.test.yml.

A route test states, for one alert's labels, the exact receivers it must reach (in amtool's order);
``amtool config routes test --verify.receivers`` is the authority, so a critical alert that would land
in #alerts-warning fails here, before anyone is paged through the wrong channel (or not at all).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stackcheck.lint.context import Context
from stackcheck.lint.result import Item
from stackcheck.lint.tools import run
from stackcheck.routing import channels

#: The dead man's switch: this alert must reach exactly this receiver (manifests/config/README.md).
WATCHDOG_ALERT = "Watchdog"
DEADMAN_RECEIVER = "deadman"


def check_config_item(ctx: Context) -> Item:
    """``lint.amtool.config``: ``amtool check-config`` (routes, receivers, templates, inhibitions)."""
    path = ctx.manifests.alertmanager_yml
    item = Item("lint.amtool.config", f"{ctx.rel(path)} (amtool check-config)")
    ran = run([ctx.amtool, "check-config", ctx.rel(path)], cwd=ctx.root)
    if not ran.ok:
        item.problems.append(f"{ctx.rel(path)}: amtool check-config:\n{ran.message()}")
    counts = re.findall(r"- (\d+ (?:receivers|inhibit rules|templates))", ran.stdout)
    item.summary = ", ".join(counts) or "valid"
    return item


def route_tasks(ctx: Context) -> list[Callable[[], Item]]:
    """``lint.routes[<alert>]``: one task per entry of routes.test.yml (each runs amtool once)."""
    rel = ctx.rel(ctx.route_tests_path)
    entries = ctx.route_tests
    if not isinstance(entries, list):
        problem = "missing" if entries is None else "expected a list of {alert, labels, receivers} entries"
        return [
            _done(Item("lint.routes", f"{rel} (amtool config routes test)", problems=[f"{rel}: {problem}"]))
        ]
    tasks: list[Callable[[], Item]] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        entry = entry if isinstance(entry, dict) else {}
        alert = str(entry.get("alert", f"#{index}"))
        if alert in seen:  # a second case for the same alert keeps a distinct, stable id
            alert = f"{alert}#{index}"
        seen.add(alert)
        labels, receivers, channels = entry.get("labels"), entry.get("receivers"), entry.get("channels")
        if not isinstance(labels, dict) or not isinstance(receivers, list) or not receivers:
            problem = (
                f"{rel}: entry {index} ({alert}): needs alert, labels (a mapping) and receivers (a list)"
            )
            tasks.append(
                _done(Item(f"lint.routes[{alert}]", f"route test {alert} ({rel})", problems=[problem]))
            )
            continue
        case = RouteCase(
            alert,
            _strings(labels),
            [str(r) for r in receivers],
            [str(c) for c in channels] if isinstance(channels, list) else None,
        )
        tasks.append(functools.partial(route_item, ctx, f"lint.routes[{alert}]", case, rel))
    return tasks


def _done(item: Item) -> Callable[[], Item]:
    return lambda: item


@dataclass(frozen=True)
class RouteCase:
    """One route test: an alert's labels, the receivers it must reach, and (optionally) the channels
    those receivers must deliver to (``#slack-channel``, an email address, ``webhook:<receiver>``)."""

    alert: str
    labels: dict[str, str]
    receivers: list[str]
    channels: list[str] | None = None


def route_item(ctx: Context, item_id: str, case: RouteCase, where: str) -> Item:
    """Route one alert's labels with amtool; compare the receivers, then the channels they deliver to."""
    item = Item(item_id, f"route of {case.alert} (amtool config routes test)")
    config_file = ctx.rel(ctx.manifests.alertmanager_yml)
    ran = run(
        [
            ctx.amtool,
            "config",
            "routes",
            "test",
            f"--config.file={config_file}",
            f"--verify.receivers={','.join(case.receivers)}",
            *(f"{k}={v}" for k, v in case.labels.items()),
        ],
        cwd=ctx.root,
    )
    lines = ran.stdout.strip().splitlines()
    actual = lines[0].strip() if lines else ""
    if not ran.ok and actual and "did not match" in ran.stdout:
        item.problems.append(
            f"{where}: alert {case.alert}: expected receivers {','.join(case.receivers)}, "
            f"alertmanager.yml routes it to {actual}"
        )
    elif not ran.ok:
        item.problems.append(f"{where}: alert {case.alert}: amtool config routes test:\n{ran.message()}")
    if case.channels is not None:
        delivered = sorted({c for r in case.receivers for c in receiver_channels(ctx.alertmanager, r)})
        if sorted(set(case.channels)) != delivered:
            item.problems.append(
                f"{where}: alert {case.alert}: declares channels {sorted(set(case.channels))}, "
                f"but receivers {','.join(case.receivers)} deliver to {delivered} in "
                f"{config_file}"
            )
    item.summary = f"{case.alert} -> {','.join(case.receivers)}"
    return item


def receiver_channels(config: dict[str, Any], receiver: str) -> list[str]:
    """Where one receiver delivers: Slack channels, email recipients and ``webhook:<receiver>``."""
    found = channels(config, receiver)
    return [*found["slack"], *found["email"], *(f"webhook:{name}" for name in found["webhook"])]


def watchdog_item(ctx: Context) -> Item:
    """``lint.routes.watchdog``: the Watchdog, with its rule's labels, reaches only the dead-man receiver."""
    rules = [r for r in ctx.rules if r.kind == "alert" and r.name == WATCHDOG_ALERT]
    if not rules:
        files = ", ".join(ctx.rel(p) for p in ctx.rule_files)
        problem = f"{files}: no alert {WATCHDOG_ALERT}: the dead man's switch is missing"
        return Item(
            "lint.routes.watchdog", f"route of {WATCHDOG_ALERT} (dead man's switch)", problems=[problem]
        )
    rule = rules[0]
    external = _strings((ctx.prometheus.get("global") or {}).get("external_labels") or {})
    labels = {**external, **_strings(rule.labels), "alertname": WATCHDOG_ALERT}
    item = route_item(
        ctx, "lint.routes.watchdog", RouteCase(WATCHDOG_ALERT, labels, [DEADMAN_RECEIVER]), ctx.rel(rule.file)
    )
    item.title = f"route of {WATCHDOG_ALERT} to the dead-man receiver {DEADMAN_RECEIVER!r}"
    return item


def _strings(mapping: dict[Any, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in mapping.items()}
