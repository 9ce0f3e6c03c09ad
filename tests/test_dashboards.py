"""Offline checks of Grafana provisioning: datasources, dashboard provider and the three dashboards.

A dashboard that loads but whose queries read metrics nobody produces shows "No data" forever and
looks like a broken stack. These tests read only files under manifests/ and need no Grafana.

The pure helpers (walking panels, substituting dashboard variables, extracting metric names and
label matchers from PromQL with promql-parser's AST) and the probe/exporter metric tables live in
`stackcheck.lint`, which `stackcheck lint` runs; these tests use the same ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import promql_parser  # extra "lint" of pyproject.toml
import pytest
import yaml

from stackcheck.dashboards import (
    LABEL_VALUES,
    iter_panels,
    iter_targets,
    loki_stream_selector,
    substitute_variables,
    target_datasource,
    variable_query,
)
from stackcheck.inventory import RECORDING_RULES
from stackcheck.lint.metrics import EXPORTER_METRICS, PROBE_METRICS
from stackcheck.lint.promql_ast import grouping_labels, label_matchers, metric_names

# --------------------------------------------------------------------------- what the stack produces

ROOT = Path(__file__).resolve().parent.parent
GRAFANA = ROOT / "manifests" / "config" / "grafana"
RULES_DIR = ROOT / "manifests" / "config" / "prometheus" / "rules"
DASHBOARD_FILES = sorted((GRAFANA / "dashboards").glob("*.json"))

EXPECTED_DASHBOARDS = {
    "stackcheck-system-overview": "System Overview",
    "stackcheck-database-infrastructure": "Database & Infrastructure",
    "stackcheck-agents-monitoring": "Agents Monitoring",
}


def recording_rules() -> dict[str, set[str] | None]:
    """Recording rule names -> output labels (None when unknown).

    Names come from the rule files under manifests/config/prometheus/rules/ once they exist;
    until then from DESIGN.md's list.
    """
    names: set[str] = set()
    for path in sorted(RULES_DIR.glob("*.rules.yml")):
        doc = yaml.safe_load(path.read_text()) or {}
        for group in doc.get("groups", []):
            names.update(r["record"] for r in group.get("rules", []) if "record" in r)
    if not names:
        return {n: set(labels) for n, labels in RECORDING_RULES.items()}
    return {n: set(RECORDING_RULES[n]) if n in RECORDING_RULES else None for n in names}


def known_metrics() -> dict[str, set[str] | None]:
    """Every metric a dashboard may read -> labels it carries (None: not checked)."""
    return {**PROBE_METRICS, **EXPORTER_METRICS, **recording_rules()}


# --------------------------------------------------------------------------- loading

def load_dashboards() -> dict[str, dict[str, Any]]:
    """File stem -> parsed dashboard JSON."""
    return {p.stem: json.loads(p.read_text()) for p in DASHBOARD_FILES}


def load_datasources() -> list[dict[str, Any]]:
    return list(yaml.safe_load((GRAFANA / "datasources.yml").read_text())["datasources"])


def _all_targets() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    return [(stem, p, t) for stem, d in load_dashboards().items() for p, t in iter_targets(d)]


def _targets_of_type(ds_type: str) -> list[Any]:
    """pytest params `(panel title, target)` of one datasource type, with readable ids."""
    return [
        pytest.param(p, t, id=f"{stem}:{p.get('title', '?')}:{t.get('refId')}")
        for stem, p, t in _all_targets()
        if target_datasource(p, t).get("type") == ds_type
    ]


def _promql(target: Mapping[str, Any]) -> str:
    return substitute_variables(str(target["expr"]))


PROM_TARGETS = _targets_of_type("prometheus")
LOKI_TARGETS = _targets_of_type("loki")
JAEGER_TARGETS = _targets_of_type("jaeger")
DASHBOARD_PARAMS = [pytest.param(p, id=p.stem) for p in DASHBOARD_FILES]


# --------------------------------------------------------------------------- helper tests

def test_iter_panels_descends_into_collapsed_rows() -> None:
    """Panels inside a collapsed row are found, in order, after their row."""
    board = {"panels": [{"id": 1}, {"id": 2, "type": "row", "panels": [{"id": 3}, {"id": 4}]}, {"id": 5}]}
    assert [p["id"] for p in iter_panels(board)] == [1, 2, 3, 4, 5]


def test_substitute_variables_handles_all_variable_forms() -> None:
    """`$x`, `${x}`, `${x:regex}`, `[[x]]` and interval built-ins are all replaced."""
    expr = 'rate(m{a=~"$svc", b="${ns}", c=~"${pod:regex}", d="[[old]]"}[$__rate_interval])'
    assert substitute_variables(expr) == 'rate(m{a=~"sample", b="sample", c=~"sample", d="sample"}[1m])'


def test_metric_names_come_from_the_ast() -> None:
    """Metric names are read from selectors, including `{__name__="..."}`, subqueries and ranges."""
    expr = 'sum by (a) (rate(x_total{l="up"}[5m])) / {__name__="y"} + max_over_time(z[5m:1m]) or vector(0)'
    assert metric_names(expr) == {"x_total", "y", "z"}


def test_grouping_labels_pairs_by_labels_with_their_metrics() -> None:
    """`sum by (l) (...)` reports its labels and the metrics it aggregates."""
    assert grouping_labels("sum by (service) (a) / count(b)") == [({"service"}, {"a"})]


# --------------------------------------------------------------------------- provisioning files

def test_datasources_have_the_fixed_uids_types_and_urls() -> None:
    """Prometheus (default), Loki and Jaeger are provisioned with fixed uids and in-cluster URLs."""
    by_uid = {d["uid"]: d for d in load_datasources()}
    assert {u: (d["type"], d["url"]) for u, d in by_uid.items()} == {
        "prometheus": ("prometheus", "http://prometheus.monitoring.svc:9090"),
        "loki": ("loki", "http://loki.monitoring.svc:3100"),
        "jaeger": ("jaeger", "http://jaeger-query.tracing.svc:16686"),
    }
    assert [u for u, d in by_uid.items() if d.get("isDefault")] == ["prometheus"]
    assert all(d.get("access") == "proxy" for d in by_uid.values()), "use server-side (proxy) access"


def test_datasources_hold_no_secrets() -> None:
    """No credentials are provisioned in plain text."""
    for ds in load_datasources():
        assert "secureJsonData" not in ds and not ds.get("basicAuth"), ds["uid"]


def test_datasource_links_point_at_existing_uids() -> None:
    """Loki's trace-id derived field targets Jaeger and Jaeger's traces-to-logs targets Loki, by uid."""
    by_uid = {d["uid"]: d for d in load_datasources()}
    derived = by_uid["loki"]["jsonData"]["derivedFields"]
    assert [f["datasourceUid"] for f in derived] == ["jaeger"]
    assert re.compile(derived[0]["matcherRegex"]).groups == 1, "a derived field regex needs one capture group"
    assert re.search(derived[0]["matcherRegex"],
                     '{"level":"error","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}')
    assert by_uid["jaeger"]["jsonData"]["tracesToLogsV2"]["datasourceUid"] == "loki"


def test_datasource_file_escapes_grafana_macros() -> None:
    """`${__...}` macros are written `$${...}`: Grafana expands `${...}` from the environment."""
    text = (GRAFANA / "datasources.yml").read_text()
    assert not re.search(r"(?<!\$)\$\{", text), "write $${__value.raw}, not ${__value.raw}"


def test_dashboard_provider_reads_the_dashboard_dir_read_only() -> None:
    """One file provider, folder stackcheck, no UI edits or deletions, rescanned every 30 s."""
    providers = yaml.safe_load((GRAFANA / "dashboards.yml").read_text())["providers"]
    assert len(providers) == 1
    p = providers[0]
    assert (p["type"], p["folder"], p["options"]["path"]) == ("file", "stackcheck",
                                                              "/var/lib/grafana/dashboards")
    assert (p["allowUiUpdates"], p["disableDeletion"], p["updateIntervalSeconds"]) == (False, True, 30)


# --------------------------------------------------------------------------- dashboard structure

def test_the_three_dashboards_ship_with_their_uids_and_titles() -> None:
    """Exactly the three dashboards of the reference design ship, with stable uids."""
    assert {d["uid"]: d["title"] for d in load_dashboards().values()} == EXPECTED_DASHBOARDS


def test_dashboard_uids_are_unique() -> None:
    """No two dashboard files share a uid (the provider would silently keep one)."""
    uids = [d["uid"] for d in load_dashboards().values()]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("path", DASHBOARD_PARAMS)
def test_dashboard_is_provisionable_json(path: Path) -> None:
    """Valid JSON with uid, title, schemaVersion, panels; no `id` (Grafana assigns it)."""
    d = json.loads(path.read_text())
    assert "id" not in d
    assert d["uid"] and d["title"] and d["panels"]
    assert isinstance(d["schemaVersion"], int) and d["schemaVersion"] >= 36


@pytest.mark.parametrize("path", DASHBOARD_PARAMS)
def test_dashboard_refreshes_every_30s(path: Path) -> None:
    """Dashboards auto-refresh every 30 s over a relative time range."""
    d = json.loads(path.read_text())
    assert d["refresh"] == "30s"
    assert d["time"]["from"].startswith("now-") and d["time"]["to"] == "now"


@pytest.mark.parametrize("path", DASHBOARD_PARAMS)
def test_panels_have_unique_ids_and_fit_the_grid(path: Path) -> None:
    """Each panel has a unique id and a gridPos inside Grafana's 24 columns."""
    panels = list(iter_panels(json.loads(path.read_text())))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    for p in panels:
        g = p["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and 0 <= g["x"] and g["x"] + g["w"] <= 24, p.get("title")


def test_every_panel_and_target_datasource_is_provisioned() -> None:
    """Panel and target datasource uids all name a datasource in datasources.yml, with its type."""
    types = {d["uid"]: d["type"] for d in load_datasources()}
    for stem, d in load_dashboards().items():
        for panel in iter_panels(d):
            refs = [panel.get("datasource")] + [t.get("datasource") for t in panel.get("targets", [])]
            for ref in filter(None, refs):
                where = f"{stem}: {panel.get('title')}"
                assert isinstance(ref, dict), f"{where}: use {{'type': ..., 'uid': ...}}"
                assert types.get(ref["uid"]) == ref["type"], f"{where}: unknown datasource {ref}"
            for t in panel.get("targets", []):
                assert t.get("refId"), f"{stem}: {panel.get('title')}: target without refId"


def test_system_overview_shows_logs_and_traces() -> None:
    """System Overview has a Loki logs panel and a Jaeger traces panel beside its metrics."""
    d = load_dashboards()["system-overview"]
    kinds = {(p["type"], p["datasource"]["uid"]) for p in iter_panels(d) if "datasource" in p}
    assert {("logs", "loki"), ("table", "jaeger")} <= kinds


def test_agents_monitoring_shows_agent_logs() -> None:
    """Agents Monitoring has a Loki logs panel."""
    d = load_dashboards()["agents-monitoring"]
    assert any(p["type"] == "logs" and p["datasource"]["uid"] == "loki" for p in iter_panels(d))


# --------------------------------------------------------------------------- queries

@pytest.mark.parametrize(("panel", "target"), PROM_TARGETS)
def test_prometheus_query_parses(panel: dict[str, Any], target: dict[str, Any]) -> None:
    """Every Prometheus expr is valid PromQL once dashboard variables are substituted."""
    try:
        promql_parser.parse(_promql(target))
    except ValueError as e:
        pytest.fail(f"{panel['title']} {target['refId']}: {e}: {target['expr']}")


@pytest.mark.parametrize(("panel", "target"), PROM_TARGETS)
def test_prometheus_query_reads_only_produced_metrics(panel: dict[str, Any], target: dict[str, Any]) -> None:
    """A panel reads only recording rules, probe metrics and exporter metrics the stack produces."""
    names = metric_names(_promql(target))
    assert names, f"{panel['title']}: query reads no metric"
    unknown = names - known_metrics().keys()
    assert not unknown, f"{panel['title']}: nothing produces {sorted(unknown)}"


@pytest.mark.parametrize(("panel", "target"), PROM_TARGETS)
def test_prometheus_query_uses_existing_labels(panel: dict[str, Any], target: dict[str, Any]) -> None:
    """Label matchers and `by (...)` labels exist on the metrics they apply to."""
    known = known_metrics()
    expr = _promql(target)
    for metric, label in label_matchers(expr):
        labels = known.get(metric)
        assert labels is None or label in labels, f"{panel['title']}: {metric} has no label {label!r}"
    for by, metrics in grouping_labels(expr):
        available = set().union(*(known.get(m) or by for m in metrics))
        assert by <= available, f"{panel['title']}: by {sorted(by - available)} not on {sorted(metrics)}"


def test_every_recording_rule_is_on_a_dashboard() -> None:
    """Each of DESIGN.md's 13 recording rules is read by at least one panel."""
    used: set[str] = set()
    for _, panel, target in _all_targets():
        if target_datasource(panel, target).get("type") == "prometheus":
            used |= metric_names(_promql(target))
    assert not set(RECORDING_RULES) - used


def test_template_variables_read_produced_metrics() -> None:
    """`label_values(metric, label)` variables read a produced metric and a label it has."""
    known = known_metrics()
    for stem, d in load_dashboards().items():
        for var in d.get("templating", {}).get("list", []):
            if var.get("type") != "query":
                continue
            match = LABEL_VALUES.match(variable_query(var))
            assert match, f"{stem}: variable {var['name']}: expected label_values(metric, label)"
            (metric,) = metric_names(match["selector"])
            assert metric in known, f"{stem}: variable {var['name']} reads unknown {metric}"
            labels = known[metric]
            assert labels is None or match["label"] in labels, f"{stem}: {metric} has no {match['label']}"


@pytest.mark.parametrize(("panel", "target"), LOKI_TARGETS)
def test_loki_query_selects_collector_labels(panel: dict[str, Any], target: dict[str, Any]) -> None:
    """Loki queries select streams only by labels the Alloy collector attaches."""
    selector = loki_stream_selector(target["expr"])
    labels = {label for _, label in label_matchers(selector)}
    assert labels and labels <= {"namespace", "pod", "container", "app", "job"}, selector


@pytest.mark.parametrize(("panel", "target"), JAEGER_TARGETS)
def test_jaeger_query_searches_the_backend(panel: dict[str, Any], target: dict[str, Any]) -> None:
    """Jaeger panels run a trace search for service phase5-backend."""
    assert (target["queryType"], target["service"]) == ("search", "phase5-backend")


def test_readme_lists_every_panel() -> None:
    """manifests/config/grafana/README.md names every dashboard and every data panel."""
    readme = (GRAFANA / "README.md").read_text()
    for d in load_dashboards().values():
        assert d["title"] in readme
        for p in iter_panels(d):
            if p.get("type") != "row":
                assert p["title"] in readme, f"README misses panel {p['title']!r} of {d['title']}"
