"""Grafana is healthy, its provisioned datasources pass their health checks, and its dashboards show data.

Dashboard panels are judged through Grafana itself (``/api/ds/query``), as a browser would see them. Only
Prometheus panels are queried: Loki and Jaeger panels are covered by the logs.* and traces.* checks and by
their datasources' health, and a Loki panel of error lines is rightly empty on a healthy stack.

"Has data" means now: each panel is asked for a recent window only (the budget in which a live pipeline
writes new points: two scrapes and two evaluations plus the margin), not for the dashboard's own hour, and
only points inside that window count. What the store still holds from before a restart is not data now.

A Prometheus panel with no data fails the check, except when every one of its metrics' sources is one the
target is known to lack (e.g. cAdvisor on a stack without a kubelet): then the check is **skipped** with
those panels and reasons, never passed, so a dashboard is only reported good when every panel was seen
with data.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from stackcheck.budgets import MARGIN_S, Budgets
from stackcheck.checks.grafana import (
    PANEL_UNKNOWN_DATASOURCE,
    datasource_health_problem,
    grafana_health_problem,
    lacking_sources,
    panel_queries,
    query_problem,
    resolve_variables,
)
from stackcheck.checks.telemetry import datasource_settle_s
from stackcheck.clients.grafana import GrafanaClient
from stackcheck.manifests import Manifests, load_yaml
from stackcheck.targets.base import SIGNAL_SOURCES, Target
from stackcheck.wait import eventually, until

#: Grafana's default ``updateIntervalSeconds`` for a dashboard provider that does not set it.
DEFAULT_PROVIDER_RESCAN_S = 10.0


@pytest.mark.check("grafana.healthy", component="grafana")
def test_grafana_is_up_and_its_database_is_ok(grafana: GrafanaClient) -> None:
    """Grafana answers /api/health and its database is ok."""
    problem = grafana_health_problem(grafana.health())
    assert problem is None, problem


@pytest.mark.check("grafana.datasources_healthy", component="grafana")
def test_provisioned_datasource_exists_and_is_healthy(grafana_datasource: dict[str, Any],
                                                      grafana: GrafanaClient, stackcheck_target: Target,
                                                      manifests: Manifests) -> None:
    """The datasource of datasources.yml exists with its fixed uid and type, and its health check passes."""
    uid, kind, name = (str(grafana_datasource.get(k)) for k in ("uid", "type", "name"))
    if kind in stackcheck_target.missing_components:  # e.g. Grafana runs locally but Loki does not
        pytest.skip(f"datasource {uid} points at {kind}: {stackcheck_target.why_missing(kind)}")
    served = {ds.get("uid"): ds for ds in grafana.datasources()}
    assert uid in served, (
        f"datasource {uid} ({name}, {kind}) from datasources.yml is not in Grafana, which has "
        f"{sorted(str(u) for u in served) or 'none'}; check the provisioning mount and Grafana's log")
    assert served[uid].get("type") == kind, (
        f"datasource {uid} has type {served[uid].get('type')!r} in Grafana, datasources.yml says {kind!r}")
    budget = datasource_settle_s(load_yaml(manifests.config_dir / "loki" / "loki.yaml") or {})
    problem = eventually(lambda: datasource_health_problem(uid, grafana.datasource_health(uid)), budget)
    assert problem is None, f"{problem} (after {budget:.0f}s)"


@pytest.mark.check("grafana.dashboard_loads", component="grafana")
def test_dashboard_loads_and_its_prometheus_panels_have_data(
    grafana_dashboard: tuple[Path, dict[str, Any]], grafana: GrafanaClient, stackcheck_target: Target,
    manifests: Manifests, budgets: Budgets,
) -> None:
    """The provisioned dashboard loads from Grafana, and every Prometheus panel query returns data."""
    path, wanted = grafana_dashboard
    uid, title = str(wanted.get("uid")), str(wanted.get("title"))
    rescan = _provider_rescan_s(manifests) + MARGIN_S
    served = until(lambda: grafana.dashboard(uid), rescan)
    assert served is not None, (
        f"dashboard {uid} ({title}, {path.name}) is not in Grafana after {rescan:.0f}s; "
        "check the dashboard provider (dashboards.yml) and the dashboards mount")
    dashboard = served.get("dashboard") or {}
    assert dashboard.get("title") == title, (
        f"Grafana serves dashboard {uid} titled {dashboard.get('title')!r}, {path.name} says {title!r}; "
        "it was not provisioned from this file")

    sources = grafana.datasources()
    types = {str(ds.get(key)): str(ds.get("type")) for ds in sources for key in ("uid", "name")}
    default = next((str(ds.get("uid")) for ds in sources if ds.get("isDefault")), None)
    queries = panel_queries(dashboard, types, default)
    unknown = [PANEL_UNKNOWN_DATASOURCE.format(panel=q.panel, ref_id=q.ref_id, datasource=q.datasource_uid)
               for q in queries if not q.datasource_type]
    assert not unknown, f"dashboard {uid}: " + "; ".join(unknown)

    prom = [q for q in queries if q.datasource_type == "prometheus" and q.expr]
    exprs = [resolve_variables(q.expr, dashboard) for q in prom]
    recording = {r.name: r.expr for r in manifests.rules() if r.kind == "record"}
    lacking = {i: lacking_sources(exprs[i], recording, SIGNAL_SOURCES, stackcheck_target.missing_sources)
               for i in range(len(prom))}
    window = budgets.recording_s

    def run(i: int) -> str | None:
        q = prom[i]
        end = time.time()
        result = grafana.query(q.datasource_uid, exprs[i], instant=q.instant, start=end - window, end=end,
                               interval_ms=int(budgets.scrape_s * 1000), ref_id=q.ref_id, extra=q.target)
        return query_problem(q, exprs[i], result, since_ms=int((end - window) * 1000), window_s=window)

    # Panels the target can feed are polled until their data exists; the others are asked once.
    pending = {i: "not queried" for i in range(len(prom)) if not lacking[i]}

    def still_failing() -> dict[int, str]:
        for i in list(pending):
            problem = run(i)
            if problem is None:
                pending.pop(i, None)
            else:
                pending[i] = problem
        return pending

    started = time.monotonic()
    eventually(still_failing, budgets.recording_s)
    failed = [pending[i] for i in sorted(pending)]
    skipped = [f"{problem} ({'; '.join(lacking[i])})" for i in range(len(prom)) if lacking[i]
               if (problem := run(i)) is not None]
    note = f"; also without data where the target lacks the source: {'; '.join(skipped)}" if skipped else ""
    assert not failed, (f"dashboard {uid} ({title}): {len(failed)} of {len(prom)} Prometheus queries without "
                        f"data after {time.monotonic() - started:.0f}s: " + "; ".join(failed) + note)
    if skipped:
        pytest.skip(f"dashboard {uid}: every other Prometheus query has data, but {len(skipped)} cannot on "
                    f"target {stackcheck_target.name}: " + "; ".join(skipped))


def _provider_rescan_s(manifests: Manifests) -> float:
    """How often Grafana rescans the dashboard files (``updateIntervalSeconds`` of dashboards.yml)."""
    doc = load_yaml(manifests.config_dir / "grafana" / "dashboards.yml") or {}
    providers = doc.get("providers") or []
    intervals = [float(p.get("updateIntervalSeconds", DEFAULT_PROVIDER_RESCAN_S)) for p in providers]
    return max(intervals, default=DEFAULT_PROVIDER_RESCAN_S)
