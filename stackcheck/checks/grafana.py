"""Judge Grafana: its health, its datasources' health checks, and whether dashboard panels have data now.

Pure functions, as in :mod:`stackcheck.checks.telemetry`: they take what the Grafana client returned and
say what is wrong (``None`` when all is well). A panel has data when its query returned points in a recent
window (the suite asks for that window only): what the store still holds from an hour ago is not data now.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stackcheck.clients.grafana import DatasourceHealth, Frame, Health, QueryResult
from stackcheck.dashboards import VARIABLE, iter_panels
from stackcheck.promql import metric_names

GRAFANA_DB = ("Grafana's /api/health says database {database!r} (want 'ok'); "
              "check its database (grafana.db, PVC)")
DATASOURCE_UNHEALTHY = "datasource {uid} health check says {status}: {message}"
PANEL_NO_DATA = "panel {panel!r} query {ref_id} returned no data: {expr}"
PANEL_NO_RECENT_DATA = ("panel {panel!r} query {ref_id} returned no data "
                        "in the last {window:.0f}s{older}: {expr}")
PANEL_ERROR = "panel {panel!r} query {ref_id} failed: {error} (query: {expr})"
PANEL_UNKNOWN_DATASOURCE = ("panel {panel!r} query {ref_id} uses datasource {datasource!r}, "
                            "which Grafana does not have")


def grafana_health_problem(body: Health) -> str | None:
    """None when Grafana's database is ok."""
    database = body.get("database")
    return None if database == "ok" else GRAFANA_DB.format(database=database)


def datasource_health_problem(uid: str, body: DatasourceHealth) -> str | None:
    """None when the datasource's health check says OK (match on ``status``, never on the message)."""
    status = body.get("status")
    if status == "OK":
        return None
    return DATASOURCE_UNHEALTHY.format(uid=uid, status=status, message=body.get("message", "(no message)"))


@dataclass(frozen=True)
class PanelQuery:
    """One query target of a dashboard panel."""

    panel: str
    ref_id: str
    datasource_uid: str
    datasource_type: str  # "" when Grafana has no datasource of that uid or name
    expr: str
    instant: bool
    target: dict[str, Any]

    def describe(self) -> str:
        return f"{self.panel!r} {self.ref_id}"


def panel_queries(dashboard: Mapping[str, Any], datasources: Mapping[str, str],
                  default_uid: str | None = None) -> list[PanelQuery]:
    """Every visible query target; ``datasources`` maps uid and name to type (a panel may use either)."""
    found = []
    for panel in iter_panels(dashboard):
        for target in panel.get("targets") or []:
            if target.get("hide"):
                continue
            ref = target.get("datasource") or panel.get("datasource")
            uid = str(ref.get("uid", "")) if isinstance(ref, dict) else str(ref or default_uid or "")
            kind = datasources.get(uid, "")
            found.append(PanelQuery(
                panel=str(panel.get("title", "")), ref_id=str(target.get("refId", "A")), datasource_uid=uid,
                datasource_type=kind, expr=str(target.get("expr") or ""),
                instant=bool(target.get("instant")) and not target.get("range"), target=dict(target)))
    return found


def variable_value(variable: Mapping[str, Any]) -> str:
    """What Grafana's browser puts in place of a dashboard variable at its saved selection."""
    value = (variable.get("current") or {}).get("value")
    values = [str(v) for v in (value if isinstance(value, list) else [value] if value else [])]
    if not values or "$__all" in values:
        return str(variable.get("allValue") or ".*")
    return values[0] if len(values) == 1 else "(" + "|".join(values) + ")"


def resolve_variables(expr: str, dashboard: Mapping[str, Any]) -> str:
    """Substitute the dashboard's own variables; Grafana's ``$__…`` built-ins are left for the server.

    >>> resolve_variables('up{service=~"$service"}[$__rate_interval]',
    ...                   {"templating": {"list": [{"name": "service", "allValue": ".*",
    ...                                             "current": {"value": ["$__all"]}}]}})
    'up{service=~".*"}[$__rate_interval]'
    """
    variables = (dashboard.get("templating") or {}).get("list") or []
    table = {str(v.get("name")): variable_value(v) for v in variables}

    def replace(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g is not None)
        return table.get(name, match.group(0))

    return VARIABLE.sub(replace, expr)


def frame_rows(frames: Iterable[Frame]) -> int:
    """Rows over all frames (columns are ``data.values``; a frame with no values has no rows)."""
    rows = 0
    for frame in frames:
        columns = (frame.get("data") or {}).get("values") or []
        rows += max((len(column) for column in columns), default=0)
    return rows


def recent_rows(frames: Iterable[Frame], since_ms: int) -> int:
    """Rows at or after ``since_ms`` (epoch milliseconds) holding at least one value that is not null.

    The time column is the field of type ``time``; a frame without one (an instant table) counts whole, its
    rows being as recent as the query's end.
    """
    rows = 0
    for frame in frames:
        fields = (frame.get("schema") or {}).get("fields") or []
        columns = (frame.get("data") or {}).get("values") or []
        times = next((i for i, f in enumerate(fields) if f.get("type") == "time" and i < len(columns)), None)
        others = [c for i, c in enumerate(columns) if i != times]
        for row in range(max((len(c) for c in columns), default=0)):
            if times is not None and not (row < len(columns[times]) and columns[times][row] is not None
                                          and columns[times][row] >= since_ms):
                continue
            if any(row < len(c) and c[row] is not None for c in others) or not others:
                rows += 1
    return rows


def query_problem(query: PanelQuery, expr: str, result: QueryResult, *, since_ms: int | None = None,
                  window_s: float = 0.0) -> str | None:
    """None when the panel's query returned at least one row, at or after ``since_ms`` when given (the
    start of the recent window the panel was asked for: older points are what the store still holds)."""
    if result.error:
        return PANEL_ERROR.format(panel=query.panel, ref_id=query.ref_id, error=result.error, expr=expr)
    if since_ms is None:
        if frame_rows(result.frames) == 0:
            return PANEL_NO_DATA.format(panel=query.panel, ref_id=query.ref_id, expr=expr)
        return None
    if recent_rows(result.frames, since_ms) == 0:
        older = f" (only {frame_rows(result.frames)} older row(s))" if frame_rows(result.frames) else ""
        return PANEL_NO_RECENT_DATA.format(panel=query.panel, ref_id=query.ref_id, window=window_s or 0,
                                           older=older, expr=expr)
    return None


def metrics_read(expr: str, recording: Mapping[str, str]) -> set[str]:
    """Metric names ``expr`` reads, through recording rules down to raw series (``$__…`` made parseable)."""
    try:
        names = metric_names(re.sub(r"\$__\w+", "1m", expr))
    except ValueError:
        return set()
    seen: set[str] = set()
    while names:
        name = names.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in recording:
            names |= metrics_read(recording[name], {})
    return seen


def lacking_sources(expr: str, recording: Mapping[str, str], sources: Mapping[str, str],
                    missing: Mapping[str, str]) -> list[str]:
    """Why ``expr`` cannot have data on this target: one reason per signal source it reads that is missing.

    ``sources`` maps metric-name prefixes to their source (``targets.base.SIGNAL_SOURCES``), ``missing``
    sources to the reason the target lacks them.
    """
    reasons = set()
    for name in metrics_read(expr, recording):
        for prefix, source in sources.items():
            if name.startswith(prefix) and source in missing:
                reasons.add(f"reads {name}: {missing[source]}")
    return sorted(reasons)
