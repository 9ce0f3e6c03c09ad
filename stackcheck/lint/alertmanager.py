"""amtool's verdicts: ``check-config`` on alertmanager.yml, and the route tests of routes.test.yml.

A route test states, for one alert's labels, the exact receivers it must reach (in amtool's order);
``amtool config routes test --verify.receivers`` is the authority, so a critical alert that would land
in #alerts-warning fails here, before anyone is paged through the wrong channel (or not at all).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from stackcheck.lint.context import Context
from stackcheck.lint.result import Item
from stackcheck.lint.tools import run

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
        alert = str(entry.get("alert", f"#{index}")) if isinstance(entry, dict) else f"#{index}"
        if alert in seen:  # a second case for the same alert keeps a distinct, stable id
            alert = f"{alert}#{index}"
        seen.add(alert)
        labels, receivers = (
            (entry.get("labels"), entry.get("receivers")) if isinstance(entry, dict) else (None, None)
        )
        if not isinstance(labels, dict) or not isinstance(receivers, list) or not receivers:
            tasks.append(
                _done(
                    Item(
                        f"lint.routes[{alert}]",
                        f"route test {alert} ({rel})",
                        problems=[
                            (
                                f"{rel}: entry {index} ({alert}): needs alert, labels (a mapping) "
                                "and receivers (a non-empty list)"
                            )
                        ],
                    )
                )
            )
            continue
        tasks.append(
            functools.partial(
                route_item,
                ctx,
                f"lint.routes[{alert}]",
                alert,
                _strings(labels),
                [str(r) for r in receivers],
                rel,
            )
        )
    return tasks


def _done(item: Item) -> Callable[[], Item]:
    return lambda: item


def route_item(
    ctx: Context, item_id: str, alert: str, labels: dict[str, str], expected: list[str], where: str
) -> Item:
    """Route one alert's labels with amtool and compare the receivers with ``expected``."""
    item = Item(item_id, f"route of {alert} (amtool config routes test)")
    ran = run(
        [
            ctx.amtool,
            "config",
            "routes",
            "test",
            f"--config.file={ctx.rel(ctx.manifests.alertmanager_yml)}",
            f"--verify.receivers={','.join(expected)}",
            *(f"{k}={v}" for k, v in labels.items()),
        ],
        cwd=ctx.root,
    )
    lines = ran.stdout.strip().splitlines()
    actual = lines[0].strip() if lines else ""
    if not ran.ok:
        if actual and "did not match" in ran.stdout:
            item.problems.append(
                f"{where}: alert {alert}: expected receivers {','.join(expected)}, "
                f"alertmanager.yml routes it to {actual}"
            )
        else:
            item.problems.append(f"{where}: alert {alert}: amtool config routes test:\n{ran.message()}")
    item.summary = f"{alert} -> {','.join(expected)}"
    return item


def watchdog_item(ctx: Context) -> Item:
    """``lint.routes.watchdog``: the Watchdog, with its rule's labels, reaches only the dead-man receiver."""
    rules = [r for r in ctx.rules if r.kind == "alert" and r.name == WATCHDOG_ALERT]
    if not rules:
        return Item(
            "lint.routes.watchdog",
            f"route of {WATCHDOG_ALERT} (dead man's switch)",
            problems=[
                (
                    f"{', '.join(ctx.rel(p) for p in ctx.rule_files)}: no alert {WATCHDOG_ALERT}: "
                    "the dead man's switch is missing"
                )
            ],
        )
    rule = rules[0]
    external = _strings((ctx.prometheus.get("global") or {}).get("external_labels") or {})
    labels = {**external, **_strings(rule.labels), "alertname": WATCHDOG_ALERT}
    item = route_item(
        ctx, "lint.routes.watchdog", WATCHDOG_ALERT, labels, [DEADMAN_RECEIVER], ctx.rel(rule.file)
    )
    item.title = f"route of {WATCHDOG_ALERT} to the dead-man receiver {DEADMAN_RECEIVER!r}"
    return item


def _strings(mapping: dict[Any, Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in mapping.items()}
