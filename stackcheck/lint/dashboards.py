"""Dashboards: valid JSON, PromQL that parses, metrics somebody produces, datasources that exist.

A panel whose query names a metric nobody produces shows "No data" forever; Grafana reports nothing
wrong. Lint resolves every metric a panel or template variable reads against the recording rules,
the probe's contract and the declared exporter metrics (:mod:`stackcheck.lint.metrics`).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stackcheck.dashboards import (
    LABEL_VALUES,
    iter_panels,
    substitute_variables,
    target_datasource,
    variable_query,
)
from stackcheck.lint.context import Context
from stackcheck.lint.metrics import known_metrics
from stackcheck.lint.promql_ast import label_matchers, metric_names
from stackcheck.lint.result import Item


def datasource_types(ctx: Context) -> tuple[dict[str, str], str | None]:
    """Provisioned datasources uid -> type, and the type of the default one."""
    entries = (ctx.datasources or {}).get("datasources") or [] if isinstance(ctx.datasources, dict) else []
    types = {str(d.get("uid")): str(d.get("type")) for d in entries if isinstance(d, dict)}
    default = next((str(d.get("type")) for d in entries if isinstance(d, dict) and d.get("isDefault")), None)
    return types, default


class DashboardError(ValueError):
    """A dashboard file that is not a JSON object."""


def load_dashboard(path: Path) -> dict[str, Any]:
    """Parse a dashboard; the error names the line and column of a JSON error."""
    try:
        board = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DashboardError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    if not isinstance(board, dict):
        raise DashboardError("not a dashboard (expected a JSON object)")
    return board


def prometheus_queries(
    board: dict[str, Any],
    types: dict[str, str],
    default: str | None,
) -> Iterator[tuple[str, str]]:
    """``(where, query)`` for every Prometheus query: panel targets and template variables."""
    for panel in iter_panels(board):
        for target in panel.get("targets", []):
            uid = target_datasource(panel, target).get("uid")
            kind = types.get(str(uid)) if uid else default
            if kind == "prometheus" and target.get("expr"):
                yield f"panel {panel.get('title', '?')!r}", str(target["expr"])
    for var in (board.get("templating") or {}).get("list") or []:
        uid = (var.get("datasource") or {}).get("uid") if isinstance(var.get("datasource"), dict) else None
        if var.get("type") == "query" and (types.get(str(uid)) if uid else default) == "prometheus":
            query = variable_query(var)
            match = LABEL_VALUES.match(query)
            yield f"variable {var.get('name', '?')!r}", match["selector"] if match else query


def dashboard_item(ctx: Context, path: Path, recording_rules: set[str]) -> Item:
    """``lint.dashboard[<file>]``: one dashboard file."""
    rel = ctx.rel(path)
    item = Item(f"lint.dashboard[{path.name}]", f"{rel} (Grafana dashboard)")
    try:
        board = load_dashboard(path)
    except DashboardError as exc:
        item.problems.append(f"{rel}: {exc}")
        return item
    types, default = datasource_types(ctx)
    variables = (board.get("templating") or {}).get("list") or []
    owners = [
        (
            f"panel {p.get('title', '?')!r}",
            [p.get("datasource"), *(t.get("datasource") for t in p.get("targets", []))],
        )
        for p in iter_panels(board)
    ]
    owners += [(f"variable {v.get('name', '?')!r}", [v.get("datasource")]) for v in variables]
    for where, refs in owners:
        uids = {str(uid) for ref in refs if (uid := ref.get("uid") if isinstance(ref, dict) else ref)}
        for uid in sorted(u for u in uids if u not in types and "$" not in u):  # "$ds": a variable
            item.problems.append(
                f"{rel}: {where}: datasource uid {uid!r} is not provisioned in "
                f"{ctx.rel(ctx.datasources_path)}"
            )
    known = known_metrics(recording_rules)
    count = 0
    for where, query in prometheus_queries(board, types, default):
        count += 1
        item.problems += [f"{rel}: {where}: {p}" for p in query_problems(query, known)]
    item.summary = f"{count} Prometheus queries read produced metrics"
    return item


def query_problems(query: str, known: dict[str, set[str] | None]) -> list[str]:
    """Why one dashboard query would show no data: it does not parse, or reads unknown metrics/labels."""
    expr = substitute_variables(query)
    try:
        names = metric_names(expr)
    except ValueError as exc:
        return [f"PromQL does not parse ({str(exc).strip()}): {query}"]
    problems = []
    for name in sorted(names - known.keys()):
        close = difflib.get_close_matches(name, list(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(
            f"metric {name!r} is produced by no recording rule, probe metric or exporter metric{hint}"
        )
    for metric, label in sorted(label_matchers(expr)):
        labels = known.get(metric)
        if labels is not None and label not in labels:
            problems.append(f"metric {metric!r} has no label {label!r}")
    return problems


def metrics_read(ctx: Context) -> set[str]:
    """Every metric the dashboards' parseable Prometheus queries read."""
    types, default = datasource_types(ctx)
    used: set[str] = set()
    for path in ctx.dashboard_files:
        try:
            board = load_dashboard(path)
        except DashboardError:
            continue
        for _, query in prometheus_queries(board, types, default):
            try:
                used |= metric_names(substitute_variables(query))
            except ValueError:
                continue
    return used
