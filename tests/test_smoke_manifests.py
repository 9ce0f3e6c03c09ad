"""manifests/smoke: the smoke exporter as shipped (Deployment, Service, scrape job, NetworkPolicies, RBAC).

No cluster here; these pin what one would reveal late: an exporter that nobody scrapes, RBAC that lets a
"read-only" check write or read Secrets, a NetworkPolicy that lets it talk to anything, alerts that
cannot route.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from stackcheck.lint.podsecurity import restricted_violations
from stackcheck.lint.render import render_python
from stackcheck.local.configs import LOCAL_JOB_GAPS

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "manifests"
OVERLAYS = {"base": MANIFESTS, "kind": MANIFESTS / "overlays/kind",
            "production": MANIFESTS / "overlays/production"}
RBAC_KINDS = {"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
READ_VERBS = {"get", "list", "watch"}
#: The components the smoke profile reads, and nothing else (besides DNS).
COMPONENT_PORTS = {9090, 9093, 3000, 3100, 16686}


def rendered(overlay: str) -> dict[str, dict[str, Any]]:
    return {o.ref: o.body for o in render_python(OVERLAYS[overlay])}


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_overlay_contains_the_smoke_deployment_service_and_account(overlay: str) -> None:
    """Every rendering has the exporter: Deployment, Service, ServiceAccount and its NetworkPolicy."""
    objs = rendered(overlay)
    for ref in ("Deployment/monitoring/stackcheck", "Service/monitoring/stackcheck",
                "ServiceAccount/monitoring/stackcheck", "NetworkPolicy/monitoring/stackcheck"):
        assert ref in objs, f"{overlay}: {ref} missing"
    pod = objs["Deployment/monitoring/stackcheck"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "stackcheck"
    (container,) = pod["containers"]
    args = container["args"]
    assert args[:3] == ["serve", "--target", "incluster"] and "--allow-faults" not in args
    assert args[args.index("--listen") + 1].endswith(":9464")


def test_smoke_pod_meets_restricted_pod_security() -> None:
    """The exporter's pod meets Pod Security "restricted" (its namespace enforces it)."""
    deployment = rendered("production")["Deployment/monitoring/stackcheck"]
    assert restricted_violations(deployment) == []


@pytest.mark.parametrize("overlay", sorted(OVERLAYS))
def test_rbac_has_no_wildcard_no_write_verb_and_no_secret_access(overlay: str) -> None:
    """No Role or ClusterRole in the rendering grants a wildcard, a verb beyond get/list/watch or any access
    to Secrets, and the smoke exporter's ServiceAccount is bound to nothing (it makes no API call)."""
    objs = rendered(overlay)
    for ref, body in objs.items():
        if body["kind"] in ("Role", "ClusterRole"):
            for rule in body.get("rules") or []:
                fields = [*rule.get("verbs", []), *rule.get("resources", []), *rule.get("apiGroups", []),
                          *rule.get("nonResourceURLs", []), *rule.get("resourceNames", [])]
                assert "*" not in fields and not any("*" in f for f in fields), f"{ref}: wildcard in {rule}"
                assert set(rule.get("verbs", [])) <= READ_VERBS, f"{ref}: write verb in {rule}"
                assert "secrets" not in rule.get("resources", []), f"{ref}: reads Secrets: {rule}"
        if body["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            for subject in body.get("subjects") or []:
                assert (subject.get("kind"), subject.get("name")) != ("ServiceAccount", "stackcheck"), (
                    f"{ref} binds the smoke exporter's ServiceAccount: it needs no API access")
            assert body["roleRef"]["name"] not in ("cluster-admin", "admin", "edit"), ref
    account = objs["ServiceAccount/monitoring/stackcheck"]
    pod = objs["Deployment/monitoring/stackcheck"]["spec"]["template"]["spec"]
    assert account.get("automountServiceAccountToken") is False
    assert pod["automountServiceAccountToken"] is False


def test_rbac_check_fails_on_a_wildcard_a_write_verb_or_secret_access() -> None:
    """The RBAC rules above catch each defect (so the test cannot pass by checking nothing)."""
    bad = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["*"]},
           {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "patch"]},
           {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    for rule in bad:
        fields = [*rule["verbs"], *rule["resources"], *rule["apiGroups"]]
        caught = ("*" in fields or not set(rule["verbs"]) <= READ_VERBS or "secrets" in rule["resources"])
        assert caught, rule


def test_smoke_network_policy_allows_only_prometheus_in_and_the_components_and_dns_out() -> None:
    """Ingress: only Prometheus, only the metrics port. Egress: only the component ports and DNS (53)."""
    policy = rendered("production")["NetworkPolicy/monitoring/stackcheck"]["spec"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    (ingress,) = policy["ingress"]
    assert ingress["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}]
    assert [p["port"] for p in ingress["ports"]] == ["metrics"]
    for rule in policy["egress"]:
        assert rule.get("to"), f"egress rule without a destination: {rule}"
        ports = {p["port"] for p in rule["ports"]}
        assert ports <= COMPONENT_PORTS or ports == {53}, rule
        for peer in rule["to"]:
            assert "ipBlock" not in peer and peer.get("podSelector") is not None, peer


def test_components_admit_the_smoke_exporter_on_their_http_ports() -> None:
    """The access policies of smoke/ let the exporter reach each component's HTTP port it reads."""
    objs = rendered("production")
    monitoring = objs["NetworkPolicy/monitoring/stackcheck-monitoring-access"]["spec"]
    (expr,) = monitoring["podSelector"]["matchExpressions"]
    assert set(expr["values"]) == {"prometheus", "alertmanager", "grafana", "loki"}
    tracing = objs["NetworkPolicy/tracing/stackcheck-tracing-access"]["spec"]
    assert [p["port"] for r in tracing["ingress"] for p in r["ports"]] == ["http-query"]


def test_prometheus_scrapes_the_exporter_with_a_stable_job_name() -> None:
    """prometheus.yml has job stackcheck keeping Service stackcheck's metrics port; locally it is skipped
    with a reason (the local runtime has no such Service)."""
    config = yaml.safe_load((MANIFESTS / "config/prometheus/prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "stackcheck"]
    keep = [r for r in job["relabel_configs"] if r.get("action") == "keep"]
    assert keep and keep[0]["regex"] == "stackcheck;metrics"
    assert job["kubernetes_sd_configs"][0]["namespaces"]["names"] == ["monitoring"]
    assert "stackcheck" in LOCAL_JOB_GAPS


def test_smoke_alerts_route_and_have_runbooks() -> None:
    """StackcheckSmokeFailing and StackcheckSmokeStale carry severity, summary, description and runbook_url,
    have route-test entries, promtool tests and runbook sections."""
    rules = yaml.safe_load((MANIFESTS / "config/prometheus/rules/meta.rules.yml").read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}
    routes = {e["alert"]
              for e in yaml.safe_load((MANIFESTS / "config/alertmanager/routes.test.yml").read_text())}
    tests = (MANIFESTS / "config/prometheus/tests/meta.test.yml").read_text()
    runbooks = (ROOT / "docs/runbooks.md").read_text()
    for name in ("StackcheckSmokeFailing", "StackcheckSmokeStale"):
        rule = alerts[name]
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"])
        assert rule["annotations"]["runbook_url"].endswith("#" + name.lower())
        assert name in routes and f"alertname: {name}" in tests and f"## {name}" in runbooks
