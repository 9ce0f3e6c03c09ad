"""`lint.netpol`: the rendered NetworkPolicies admit every flow the stack and verify need.

The shipped manifests must pass in each rendering. Each seeded defect goes into a copy of
manifests/ and must fail naming the flow and the side that blocks it. The unit tests below pin
one NetworkPolicy rule each, on small hand-written policies.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackcheck.lint.flows import (
    ALERTMANAGER,
    ALLOY,
    BLACKBOX,
    FLOWS,
    GRAFANA,
    NODE_NETWORK_ENV,
    PROBE,
    PROMETHEUS,
    Flow,
    Pods,
)
from stackcheck.lint.netpol import check_flow, reachability
from stackcheck.lint.objects import KObject
from stackcheck.lint.render import render_python

REPO = Path(__file__).resolve().parent.parent
MANIFESTS = REPO / "manifests"
TARGETS = (".", "overlays/kind", "overlays/production")
STACKCHECK = Path(sys.executable).with_name("stackcheck")


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A private copy of manifests/ to seed a defect into."""
    return Path(shutil.copytree(MANIFESTS, tmp_path / "manifests"))


def problems(root: Path, target: str) -> list[str]:
    rendered = render_python(root / target)
    return reachability(rendered, target, lambda p: str(p.resolve().relative_to(root.resolve()))).problems


def edit_yaml(path: Path, change: Callable[[Any], None]) -> None:
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def drop_resource(kustomization: Path, name: str) -> None:
    edit_yaml(kustomization, lambda doc: doc["resources"].remove(name))


# --------------------------------------------------------------------------- the shipped manifests


@pytest.mark.parametrize("target", TARGETS)
def test_shipped_policies_admit_every_needed_flow(target: str) -> None:
    """Every flow of the table that this rendering needs is admitted at both ends."""
    name = "manifests" if target == "." else target
    needed = [f for f in FLOWS if name in f.targets]
    assert len(needed) > 30, f"{name}: only {len(needed)} flows apply; the flow table's target names drifted"
    assert problems(MANIFESTS, target) == []


@pytest.mark.parametrize("target", TARGETS)
def test_every_namespace_denies_ingress_and_egress_by_default(target: str) -> None:
    """Each rendered namespace has a policy selecting all pods for both directions with no rule, so
    the flow table is the whole list of what may move (a flow cannot pass by no policy selecting it)."""
    objects = render_python(MANIFESTS / target)
    namespaces = {o.body["metadata"]["name"] for o in objects if o.kind == "Namespace"}
    denied = {
        o.body["metadata"]["namespace"]
        for o in objects
        if o.kind == "NetworkPolicy"
        and o.body["spec"].get("podSelector") == {}
        and set(o.body["spec"].get("policyTypes") or []) == {"Ingress", "Egress"}
        and not o.body["spec"].get("ingress")
        and not o.body["spec"].get("egress")
    }
    assert namespaces and namespaces <= denied, f"{target}: no default deny in {sorted(namespaces - denied)}"


# --------------------------------------------------------------------------- seeded defects


def test_missing_alloy_egress_rule_blocks_alloy_to_loki(copy: Path) -> None:
    """Without Alloy's egress rule, alloy → loki:3100 is blocked on Alloy's side, naming its policies."""
    edit_yaml(copy / "alloy" / "alloy-networkpolicy.yaml", lambda doc: doc["spec"].pop("egress"))
    found = [
        p for p in problems(copy, "overlays/kind") if p.startswith("flow monitoring/alloy → monitoring/loki")
    ]
    assert len(found) == 1, found
    assert (
        "3100 (http)/TCP (pushes logs) blocked: egress of monitoring/alloy not allowed by any policy"
        in found[0]
    )
    assert "alloy (alloy/alloy-networkpolicy.yaml)" in found[0]
    assert (
        "ingress of monitoring/loki allowed by NetworkPolicy loki (loki/loki-networkpolicy.yaml)" in found[0]
    )


def test_wrong_port_in_loki_policy_blocks_every_client_of_loki(copy: Path) -> None:
    """A policy opening 3101 instead of Loki's http port blocks the push, the datasource and the scrape."""

    def change(doc: Any) -> None:
        doc["spec"]["ingress"][0]["ports"][0]["port"] = 3101

    edit_yaml(copy / "loki" / "loki-networkpolicy.yaml", change)
    found = problems(copy, "overlays/production")
    for source in ("alloy", "grafana", "prometheus", "blackbox-exporter"):
        assert any(
            p.startswith(f"flow monitoring/{source} → monitoring/loki:3100 (http)/TCP")
            and "ingress of monitoring/loki not allowed by any policy" in p
            for p in found
        ), (source, found)


def test_deleted_proxy_ipblock_blocks_verify(copy: Path) -> None:
    """Without the ipBlock rule of allow-apiserver-proxy, verify cannot read Prometheus via the proxy."""
    path = copy / "setup" / "monitoring-allow-apiserver-proxy-networkpolicy.yaml"
    edit_yaml(path, lambda doc: doc["spec"].pop("ingress"))
    found = [
        p
        for p in problems(copy, ".")
        if p.startswith("flow API server proxy (172.18.0.0/16) → monitoring/prometheus")
    ]
    assert len(found) == 1, found
    assert "ingress of monitoring/prometheus not allowed by any policy" in found[0]
    assert "allow-apiserver-proxy (setup/monitoring-allow-apiserver-proxy-networkpolicy.yaml)" in found[0]


def test_default_deny_without_its_allows_blocks_the_probe_traces(copy: Path) -> None:
    """With Jaeger's own policy gone, tracing's default deny blocks the probe's spans, naming the deny."""
    drop_resource(copy / "jaeger" / "kustomization.yaml", "jaeger-networkpolicy.yaml")
    found = [
        p
        for p in problems(copy, "overlays/kind")
        if p.startswith("flow phase5/phase5-backend → tracing/jaeger:4318")
    ]
    assert len(found) == 1, found
    assert "egress of phase5/phase5-backend allowed by NetworkPolicy phase5-backend" in found[0]
    assert "ingress of tracing/jaeger not allowed by any policy" in found[0]
    assert "default-deny (setup/tracing-default-deny-networkpolicy.yaml)" in found[0]


def test_missing_workload_is_a_failure_not_a_skip(copy: Path) -> None:
    """A needed flow whose pod is not rendered fails and names the label the table looks for."""

    def rename(doc: Any) -> None:
        doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] = "promtail"

    edit_yaml(copy / "alloy" / "alloy-daemonset.yaml", rename)
    found = [p for p in problems(copy, ".") if p.startswith("flow monitoring/alloy → monitoring/loki")]
    assert (
        found
        and "no workload with pod label app.kubernetes.io/name: alloy in namespace monitoring" in found[0]
    )


def test_node_network_override_is_checked_against_the_policies(
    copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another node network (STACKCHECK_NODE_NETWORK) outside the policies' CIDR blocks the proxy flows."""
    monkeypatch.setenv(NODE_NETWORK_ENV, "10.20.0.0/16")
    found = problems(copy, "overlays/production")
    assert any(p.startswith("flow API server proxy (10.20.0.0/16) → monitoring/grafana") for p in found), (
        found
    )


def test_invalid_node_network_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A value that is not a CIDR gives one problem naming the variable, not a traceback."""
    monkeypatch.setenv(NODE_NETWORK_ENV, "kind")
    expected = (
        f"{NODE_NETWORK_ENV}='kind' is not a CIDR; set it to the range of your nodes "
        "(e.g. 172.18.0.0/16), or unset it for kind's"
    )
    assert problems(MANIFESTS, ".") == [expected]


def test_lint_exits_1_and_prints_the_blocked_flow(copy: Path) -> None:
    """`stackcheck lint` on a copy with a blocked flow exits 1 and prints it under lint.netpol."""
    if not all(shutil.which(t) for t in ("promtool", "amtool")):
        pytest.skip("promtool/amtool not installed (sudo apt-get install prometheus prometheus-alertmanager)")
    edit_yaml(copy / "alloy" / "alloy-networkpolicy.yaml", lambda doc: doc["spec"].pop("egress"))
    proc = subprocess.run(
        [str(STACKCHECK), "lint", "--manifests", str(copy)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "400", "NO_COLOR": "1"},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Checking NetworkPolicy reachability of manifests" in proc.stdout
    assert (
        "FAILED: flow monitoring/alloy → monitoring/loki:3100 (http)/TCP (pushes logs) blocked" in proc.stdout
    )


# --------------------------------------------------------------------------- NetworkPolicy semantics

CLIENT, SERVER = Pods("a", "client"), Pods("b", "server")


def namespace(name: str, **labels: str) -> KObject:
    return KObject(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}, Path(name)
    )


def deployment(ns: str, name: str, ports: list[dict[str, Any]], host_network: bool = False) -> KObject:
    spec: dict[str, Any] = {"containers": [{"name": name, "ports": ports}]}
    if host_network:
        spec["hostNetwork"] = True
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"template": {"metadata": {"labels": {"app.kubernetes.io/name": name}}, "spec": spec}},
    }
    return KObject(body, Path(f"{name}.yaml"))


def policy(ns: str, name: str, spec: dict[str, Any]) -> KObject:
    body = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
    }
    return KObject({**body, "spec": spec}, Path(f"{name}.yaml"))


def deny_all(ns: str) -> KObject:
    return policy(ns, f"deny-{ns}", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})


def world(*policies: KObject, host_network: bool = False) -> list[KObject]:
    return [
        namespace("a", team="x"),
        namespace("b"),
        deployment("a", "client", []),
        deployment("b", "server", [{"name": "web", "containerPort": 8080}], host_network),
        *policies,
    ]


def blocked(objects: list[KObject], port: str | int = "web", dest: Pods = SERVER) -> str | None:
    flow = Flow(CLIENT, dest, port, "test")
    return check_flow(str, flow, objects, [o for o in objects if o.kind == "NetworkPolicy"])


SERVER_FROM_A = {
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "server"}},
    "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "a"}}}]}],
}
CLIENT_TO_SERVER_WEB = {
    "podSelector": {},
    "policyTypes": ["Egress"],
    "egress": [{"to": [{"namespaceSelector": {}, "podSelector": {}}], "ports": [{"port": "web"}]}],
}


def test_no_policy_admits_everything() -> None:
    """Pods no policy selects are not isolated in either direction."""
    assert blocked(world()) is None


def test_both_ends_must_allow() -> None:
    """An ingress allow is not enough when the source's namespace denies egress."""
    message = blocked(world(deny_all("a"), policy("b", "in", SERVER_FROM_A)))
    assert message and "egress of a/client not allowed by any policy" in message
    assert "ingress of b/server allowed by NetworkPolicy in" in message


def test_named_port_in_an_egress_rule_resolves_on_the_destination_pod() -> None:
    """`port: web` in the client's egress rule matches 8080 because the server names 8080 `web`."""
    assert blocked(world(deny_all("a"), policy("a", "out", CLIENT_TO_SERVER_WEB))) is None
    assert blocked(world(deny_all("a"), policy("a", "out", CLIENT_TO_SERVER_WEB)), port=9090) is not None


def test_policy_types_default_to_ingress_without_egress_rules() -> None:
    """A policy with only ingress rules and no policyTypes does not isolate its pods' egress."""
    only_ingress: dict[str, Any] = {"podSelector": {}, "ingress": [{}]}
    assert blocked(world(policy("a", "ingress-only", only_ingress))) is None


def test_pod_selector_alone_means_the_policys_namespace() -> None:
    """A peer with a podSelector and no namespaceSelector does not match pods of other namespaces."""
    same_namespace: dict[str, Any] = {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]}
    assert blocked(world(policy("b", "same-ns", same_namespace))) is not None


def test_namespace_selector_matches_namespace_labels() -> None:
    """namespaceSelector matches the Namespace's own labels (team=x), not only the metadata.name one."""
    by_team = {
        "podSelector": {},
        "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "x"}}}]}],
    }
    assert blocked(world(deny_all("b"), policy("b", "team", by_team))) is None


def test_empty_from_admits_every_source() -> None:
    """An ingress rule with `from: []` matches all sources (only its ports restrict it)."""
    open_web = {"podSelector": {}, "ingress": [{"from": [], "ports": [{"port": 8080}]}]}
    assert blocked(world(deny_all("b"), policy("b", "open", open_web))) is None


def test_ipblock_except_carves_out_the_pod_network() -> None:
    """An ipBlock whose `except` covers the pod network does not admit a pod."""
    public = {
        "podSelector": {},
        "ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]}],
    }
    assert blocked(world(deny_all("b"), policy("b", "public", public))) is not None


def test_host_network_destination_needs_only_the_source_egress_to_the_node_network() -> None:
    """Ingress policies do not apply to a host-network pod; selectors miss it, an ipBlock of nodes hits it."""
    to_pods = {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"namespaceSelector": {}}]}]}
    to_nodes = {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "172.16.0.0/12"}}]}],
    }
    assert blocked(world(deny_all("a"), deny_all("b"), policy("a", "pods", to_pods), host_network=True))
    assert (
        blocked(world(deny_all("a"), deny_all("b"), policy("a", "nodes", to_nodes), host_network=True))
        is None
    )


# --------------------------------------------------------------------------- the documented override


def documented_overlay() -> str:
    """The kustomization manifests/README.md gives under "Another cluster"."""
    text = (MANIFESTS / "README.md").read_text()
    section = text[text.index("### Another cluster") :]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


def test_documented_cidr_override_admits_the_proxy_from_that_cidr(
    copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README's overlay moves every node-network rule to 10.20.0.0/16, and lint with that range passes."""
    overlay = copy.parent / "my-cluster"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(documented_overlay())
    monkeypatch.setenv(NODE_NETWORK_ENV, "10.20.0.0/16")
    rendered = render_python(overlay)
    assert reachability(rendered, "overlays/production", str).problems == []
    unpatched = yaml.safe_load(documented_overlay())
    del unpatched["patches"]
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(unpatched))
    assert reachability(render_python(overlay), "overlays/production", str).problems


# --------------------------------------------------------------------------- the table follows the configs

ADDRESS = re.compile(r"(?:https?://)?([a-z0-9-]+)\.([a-z0-9-]+)\.svc(?:\.cluster\.local)?:(\d+)")


def service_flows(source: Pods, text: str, target: str = "overlays/kind") -> list[tuple[str, Flow | None]]:
    """(address, the flow from ``source`` that serves it) for each in-cluster address in ``text``."""
    objects = render_python(MANIFESTS / target)
    services = {
        (o.body["metadata"]["namespace"], o.body["metadata"]["name"]): o.body
        for o in objects
        if o.kind == "Service"
    }
    name = "manifests" if target == "." else target
    out: list[tuple[str, Flow | None]] = []
    for svc_name, ns, port in ADDRESS.findall(text):
        svc = services[(ns, svc_name)]
        (svc_port,) = [p for p in svc["spec"]["ports"] if int(p["port"]) == int(port)]
        dest = Pods(ns, svc["spec"]["selector"]["app.kubernetes.io/name"])
        wanted = {str(svc_port.get("targetPort", port)), str(port)}
        flow = next(
            (
                f
                for f in FLOWS
                if f.source == source and f.dest == dest and str(f.port) in wanted and name in f.targets
            ),
            None,
        )
        out.append((f"{svc_name}.{ns}.svc:{port}", flow))
    return out


def assert_served(source: Pods, text: str, target: str = "overlays/kind") -> None:
    found = service_flows(source, text, target)
    assert found, f"no in-cluster address found for {source}"
    missing = [address for address, flow in found if flow is None]
    assert not missing, f"{source} is configured to reach {missing}, which stackcheck/lint/flows.py lacks"


def test_every_scrape_job_has_a_flow() -> None:
    """Each job of prometheus.yml is a flow from Prometheus (named `job <name>`), so lint checks it."""
    config = yaml.safe_load((MANIFESTS / "config" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    served = {m for f in FLOWS if f.source == PROMETHEUS for m in re.findall(r"\bjob ([\w-]+)", f.why)}
    assert jobs <= served, f"scrape jobs without a flow in stackcheck/lint/flows.py: {sorted(jobs - served)}"


def test_every_blackbox_url_has_a_flow() -> None:
    """Each URL job blackbox-http probes is a flow from blackbox-exporter."""
    config = yaml.safe_load((MANIFESTS / "config" / "prometheus" / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "blackbox-http"]
    assert_served(BLACKBOX, " ".join(url for static in job["static_configs"] for url in static["targets"]))


def test_every_grafana_datasource_has_a_flow() -> None:
    """Each datasource URL of Grafana's provisioning is a flow from Grafana."""
    assert_served(GRAFANA, (MANIFESTS / "config" / "grafana" / "datasources.yml").read_text())


def test_alloy_loki_url_has_a_flow() -> None:
    """The Loki URL Alloy writes to is a flow from Alloy."""
    assert_served(ALLOY, (MANIFESTS / "config" / "alloy" / "config.alloy").read_text())


def test_probe_otlp_endpoint_has_a_flow() -> None:
    """The OTLP endpoint the probe sends spans to is a flow from the probe."""
    assert_served(PROBE, (MANIFESTS / "probe" / "phase5-backend-deployment.yaml").read_text())


def test_kind_receivers_have_flows() -> None:
    """Every sink address in the kind overlay's Alertmanager config and Slack URL is a flow from
    Alertmanager."""
    generated = MANIFESTS / "overlays" / "kind" / "generated"
    text = (generated / "alertmanager.yml").read_text() + (
        generated / "secrets" / "slack-webhook-url"
    ).read_text()
    assert_served(ALERTMANAGER, text)
