"""Run every lint item, concurrently, and report: ``stackcheck lint`` is this module's :func:`lint`.

Most of the time is spent waiting on promtool and amtool processes (``promtool test rules`` alone
takes over a second), so the items run in a thread pool and the whole lint stays well under 5 s.
Results are printed in a fixed order whatever order they finish in.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from stackcheck.errors import ExitCode
from stackcheck.lint import alertmanager, crosschecks, dashboards, k8s, netpol, prom
from stackcheck.lint.context import Context
from stackcheck.lint.output import print_items, print_verdict, write_junit
from stackcheck.lint.promises import promise_tasks
from stackcheck.lint.result import Item
from stackcheck.lint.schema import KUBERNETES_VERSIONS, ensure_available
from stackcheck.report import Report

Task = Callable[[], list[Item]]


def _one(make: Callable[[], Item]) -> Task:
    return lambda: [make()]


def tasks(ctx: Context) -> list[tuple[str, Task]]:
    """``(id for a crash report, task)`` of every item, in the order they are printed."""
    out: list[tuple[str, Task]] = []
    for target in ctx.render_targets:
        render = k8s.python_render(ctx, target)  # a usage error (e.g. malformed YAML) surfaces here
        out.append(
            (
                f"lint.render[{k8s.target_name(target)}]",
                functools.partial(k8s.kubernetes_items, ctx, target, render),
            )
        )
        out.append(
            (
                f"lint.netpol[{k8s.target_name(target)}]",
                _one(functools.partial(netpol.netpol_item, ctx, target, render)),
            )
        )
    out += [
        (f"lint.promtool.rules[{p.name}]", _one(functools.partial(prom.check_rules_item, ctx, p)))
        for p in ctx.rule_files
    ]
    out.append(("lint.promtool.config", _one(functools.partial(prom.check_config_item, ctx))))
    out += [
        (f"lint.promtool.tests[{p.name}]", _one(functools.partial(prom.rule_tests_item, ctx, p)))
        for p in ctx.test_files
    ]
    out.append(("lint.amtool.config", _one(functools.partial(alertmanager.check_config_item, ctx))))
    out += [("lint.routes", _one(task)) for task in alertmanager.route_tasks(ctx)]
    out.append(("lint.routes.watchdog", _one(functools.partial(alertmanager.watchdog_item, ctx))))
    out.append(("lint.routes.coverage", _one(functools.partial(crosschecks.route_coverage_item, ctx))))
    recording = {r.name for r in ctx.rules if r.kind == "record"}
    out += [
        (f"lint.dashboard[{p.name}]", _one(functools.partial(dashboards.dashboard_item, ctx, p, recording)))
        for p in ctx.dashboard_files
    ]
    out.append(("lint.alerts", lambda: crosschecks.alert_convention_items(ctx)))
    out.append(
        ("lint.rules.recording_used", _one(functools.partial(crosschecks.recording_rules_used_item, ctx)))
    )
    out += promise_tasks(ctx)
    return out


def _run(item_id: str, task: Task) -> list[Item]:
    """Run a task and time it; an unexpected exception becomes an ``error`` item, not a lost result."""
    start = time.perf_counter()
    try:
        items = task()
    except Exception as exc:  # noqa: BLE001 - a bug in one check must not hide the others' verdicts
        items = [Item(item_id, item_id, error=f"{type(exc).__name__}: {exc}")]
    elapsed = time.perf_counter() - start
    for item in items:
        item.duration_s = item.duration_s or elapsed
    return items


def lint(option: str | None, json_path: str | None, junit_path: str | None, console: Console) -> int:
    """Check the manifests directory offline; returns the exit code (0 clean, 1 a problem found)."""
    report = Report(target="manifests", profile="lint", time_scale=1.0)
    ctx = Context.load(option)
    ensure_available()
    planned = tasks(ctx)  # renders with stackcheck's renderer: malformed object YAML stops here (exit 2)
    renderer = (
        f"kubectl kustomize ({ctx.kubectl})" if ctx.kubectl else "stackcheck's renderer (no kubectl on PATH)"
    )
    console.print(
        escape(
            f"stackcheck lint {ctx.root}: Kubernetes {', '.join(KUBERNETES_VERSIONS)} (strict), "
            f"rendered with {renderer}, promtool {ctx.promtool}, amtool {ctx.amtool}"
        ),
        soft_wrap=True,
    )
    console.print()
    with ThreadPoolExecutor(max_workers=min(32, (os.cpu_count() or 2) * 4, len(planned) or 1)) as pool:
        # promtool test rules is the longest item: start it first, so that it does not finish last.
        order = sorted(range(len(planned)), key=lambda i: not planned[i][0].startswith("lint.promtool.tests"))
        futures = {i: pool.submit(_run, *planned[i]) for i in order}
        items = [item for i in range(len(planned)) for item in futures[i].result()]
    report.checks = [item.to_check() for item in items]
    report.finished_at = time.time()
    print_items(items, console)
    print_verdict(report, console)
    if json_path:
        report.write_json(Path(json_path))
    if junit_path:
        write_junit(items, report, Path(junit_path))
    summary = report.summary()
    return ExitCode.CHECK_FAILED if summary["failed"] or summary["errors"] else ExitCode.OK
