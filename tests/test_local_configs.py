"""The local runtime's configs: the production files with k8s discovery → loopback, secrets → the sink.

Each test runs on a small production-like manifests directory written here, and on the repository's
own manifests/ once its prometheus.yml and alertmanager.yml exist. promtool and amtool, when installed,
must accept what is generated.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackcheck.errors import UsageError
from stackcheck.local.configs import (
    LOCAL_JOB_GAPS,
    alertmanager_config,
    dump,
    prometheus_config,
    write_rules,
)
from stackcheck.local.ports import Ports
from stackcheck.manifests import BUNDLED_MANIFESTS, Manifests
from stackcheck.timescale import parse_duration
from tests.fakes import CONTRACTS, PROMETHEUS

FACTOR = 20
PORTS = Ports(29000)
LOCAL_JOBS = ("prometheus", "alertmanager", "node-exporter", "phase5", "blackbox-http")
PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")
needs_amtool = pytest.mark.skipif(
    AMTOOL is None, reason="amtool not on PATH (Debian: apt-get install prometheus-alertmanager)")

PROMETHEUS_YML = """
global:
  scrape_interval: 15s
  evaluation_interval: 15s
  scrape_timeout: 10s
  external_labels: {cluster: production}
alerting:
  alertmanagers:
    - kubernetes_sd_configs: [{role: endpoints, namespaces: {names: [monitoring]}}]
      relabel_configs:
        - {source_labels: [__meta_kubernetes_service_name], action: keep, regex: alertmanager}
rule_files: ["rules/*.yml"]
scrape_configs:
  - job_name: prometheus
    static_configs: [{targets: ["localhost:9090"]}]
  - job_name: alertmanager
    kubernetes_sd_configs: [{role: endpoints, namespaces: {names: [monitoring]}}]
    relabel_configs:
      - {source_labels: [__meta_kubernetes_service_name], action: keep, regex: alertmanager}
  - job_name: node-exporter
    kubernetes_sd_configs: [{role: endpoints}]
    relabel_configs:
      - {source_labels: [__meta_kubernetes_endpoints_name], action: keep, regex: node-exporter}
      - {source_labels: [__meta_kubernetes_pod_node_name], target_label: node}
  - job_name: kube-state-metrics
    kubernetes_sd_configs: [{role: endpoints}]
  - job_name: cadvisor
    scheme: https
    tls_config: {ca_file: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt}
    authorization: {credentials_file: /var/run/secrets/kubernetes.io/serviceaccount/token}
    kubernetes_sd_configs: [{role: node}]
    relabel_configs:
      - {target_label: __address__, replacement: "kubernetes.default.svc:443"}
  - job_name: phase5
    scrape_interval: 5s
    kubernetes_sd_configs: [{role: pod}]
    relabel_configs:
      - {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], action: keep, regex: "true"}
      - {action: labelmap, regex: __meta_kubernetes_pod_label_(.+)}
  - job_name: blackbox-http
    metrics_path: /probe
    params: {module: [http_2xx]}
    static_configs: [{targets: ["http://phase5-backend.phase5.svc:8000/healthz"]}]
    relabel_configs:
      - {source_labels: [__address__], target_label: __param_target}
      - {source_labels: [__param_target], target_label: instance}
      - {target_label: __address__, replacement: "blackbox-exporter.monitoring.svc:9115"}
  - job_name: grafana
    kubernetes_sd_configs: [{role: endpoints}]
"""

ALERTMANAGER_YML = """
global:
  resolve_timeout: 5m
  slack_api_url_file: /etc/alertmanager/secrets/slack-webhook-url
  smtp_smarthost: smtp.gmail.com:587
  smtp_from: alerts@phase5.example.com
  smtp_auth_username: alerts@phase5.example.com
  smtp_auth_password_file: /etc/alertmanager/secrets/smtp-password
  smtp_require_tls: true
route:
  receiver: slack-default
  group_by: [alertname]
  group_wait: 30s
  routes:
    - {receiver: critical, matchers: ['severity="critical"'], group_wait: 0s}
    - {receiver: audit-webhook, matchers: ['component="audit"']}
receivers:
  - name: slack-default
    slack_configs: [{channel: "#alerts", send_resolved: true}]
  - name: critical
    slack_configs: [{channel: "#alerts-critical", api_url_file: /etc/alertmanager/secrets/slack-critical-url}]
    email_configs:
      - {to: oncall@phase5.example.com, auth_password_file: /etc/alertmanager/secrets/smtp-password}
  - name: audit-webhook
    webhook_configs:
      - url: https://hooks.example.com/audit
        http_config:
          authorization: {type: Bearer, credentials_file: /etc/alertmanager/secrets/webhook-token}
          tls_config: {ca_file: /etc/alertmanager/ca.pem}
"""


def _inline(root: Path) -> Manifests:
    prom_dir, am_dir = root / "config" / "prometheus", root / "config" / "alertmanager"
    (prom_dir / "rules").mkdir(parents=True)
    am_dir.mkdir(parents=True)
    (prom_dir / "prometheus.yml").write_text(PROMETHEUS_YML)
    shutil.copy(CONTRACTS / PROMETHEUS / "rules.yml", prom_dir / "rules" / "example.yml")
    (am_dir / "alertmanager.yml").write_text(ALERTMANAGER_YML)
    return Manifests.find(str(root))


@dataclass(frozen=True)
class Generated:
    """The local configs generated once from one manifests directory (tests only read them)."""

    manifests: Manifests
    workdir: Path
    prometheus: dict[str, Any]
    skipped: dict[str, str]
    alertmanager: dict[str, Any]

    @property
    def rules_dir(self) -> Path:
        return self.workdir / "config" / "rules"

    @property
    def secrets_dir(self) -> Path:
        return self.workdir / "config" / "secrets"


@pytest.fixture(scope="module", params=["inline", "repo"])
def generated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Generated:
    """Local configs from a production-like manifests directory, and from the repository's own."""
    workdir = tmp_path_factory.mktemp(request.param)
    if request.param == "inline":
        manifests = _inline(workdir / "manifests")
    else:
        prom_yml = BUNDLED_MANIFESTS / "config" / "prometheus" / "prometheus.yml"
        if not prom_yml.is_file():
            pytest.skip(f"{prom_yml} does not exist yet")
        try:
            manifests = Manifests.find()
        except UsageError as exc:
            pytest.skip(str(exc))
    config, skipped = prometheus_config(manifests, PORTS, FACTOR, workdir / "config" / "rules")
    am = alertmanager_config(manifests, PORTS, FACTOR, workdir / "config" / "secrets")
    return Generated(manifests, workdir, config, skipped, am)


@pytest.fixture
def manifests(generated: Generated) -> Manifests:
    return generated.manifests


@pytest.fixture
def prom(generated: Generated) -> tuple[dict[str, Any], dict[str, str]]:
    return generated.prometheus, generated.skipped


@pytest.fixture
def secrets_dir(generated: Generated) -> Path:
    return generated.secrets_dir


@pytest.fixture
def am(generated: Generated) -> dict[str, Any]:
    return generated.alertmanager


def _keys(node: Any) -> list[str]:
    """Every mapping key anywhere in a YAML document."""
    if isinstance(node, dict):
        return [str(k) for k in node] + [k for v in node.values() for k in _keys(v)]
    if isinstance(node, list):
        return [k for v in node for k in _keys(v)]
    return []


# --- prometheus.yml -------------------------------------------------------------------------------

def test_no_kubernetes_service_discovery_is_left(prom: tuple[dict[str, Any], dict[str, str]]) -> None:
    """The local prometheus.yml has no kubernetes_sd_configs anywhere (jobs or alerting)."""
    config, _ = prom
    assert "kubernetes_sd_configs" not in _keys(config)
    leftover = [k for k in _keys(config) if k.endswith("_sd_configs")]
    assert not leftover, f"service discovery left in the local config: {leftover}"


def test_local_jobs_scrape_static_loopback_targets(prom: tuple[dict[str, Any], dict[str, str]]) -> None:
    """prometheus, alertmanager, node-exporter and phase5 scrape static targets on 127.0.0.1."""
    jobs = {job["job_name"]: job for job in prom[0]["scrape_configs"]}
    expected = {"prometheus": PORTS.prometheus, "alertmanager": PORTS.alertmanager,
                "node-exporter": PORTS.node_exporter, "phase5": PORTS.probe}
    for name, port in expected.items():
        targets = [t for sc in jobs[name]["static_configs"] for t in sc["targets"]]
        assert f"127.0.0.1:{port}" in targets, f"job {name}: {targets}"
        assert all(t.startswith("127.0.0.1:") for t in targets), f"job {name}: {targets}"


def test_blackbox_probes_loopback_urls_through_the_local_exporter(
        prom: tuple[dict[str, Any], dict[str, str]]) -> None:
    """blackbox-http probes loopback URLs, and its __address__ rewrite points at the local exporter."""
    job = next(j for j in prom[0]["scrape_configs"] if j["job_name"] == "blackbox-http")
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    assert targets and all(t.startswith("http://127.0.0.1:") for t in targets), targets
    address = [r for r in job.get("relabel_configs") or [] if r.get("target_label") == "__address__"]
    assert [r.get("replacement") for r in address] == [f"127.0.0.1:{PORTS.blackbox}"]


def test_only_jobs_with_a_local_counterpart_are_kept(prom: tuple[dict[str, Any], dict[str, str]]) -> None:
    """The local config keeps only jobs the local runtime can serve; every other one is skipped."""
    kept = {job["job_name"] for job in prom[0]["scrape_configs"]}
    assert kept <= set(LOCAL_JOBS)
    assert set(LOCAL_JOBS) - kept == set(), f"local jobs missing from the config: {set(LOCAL_JOBS) - kept}"


def test_kube_state_metrics_and_cadvisor_are_skipped_with_a_reason(
        prom: tuple[dict[str, Any], dict[str, str]]) -> None:
    """kube-state-metrics and cAdvisor are reported as skipped, each with why."""
    skipped = prom[1]
    assert skipped["kube-state-metrics"] == LOCAL_JOB_GAPS["kube-state-metrics"]
    assert skipped["cadvisor"] == "cAdvisor runs inside the kubelet; the local runtime has no kubelet"


def test_alerting_points_at_the_local_alertmanager(prom: tuple[dict[str, Any], dict[str, str]]) -> None:
    """Prometheus sends alerts to the local Alertmanager only."""
    assert prom[0]["alerting"] == {
        "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{PORTS.alertmanager}"]}]}]}


def test_no_cluster_credentials_or_tls_are_left(prom: tuple[dict[str, Any], dict[str, str]]) -> None:
    """No kept job carries in-cluster credentials, TLS settings or https."""
    for job in prom[0]["scrape_configs"]:
        assert not {"authorization", "bearer_token_file", "tls_config"} & set(job), job
        assert job.get("scheme", "http") == "http", job


def test_intervals_are_scaled(prom: tuple[dict[str, Any], dict[str, str]], manifests: Manifests) -> None:
    """The global scrape and evaluation intervals are the production ones divided by the factor."""
    production = manifests.prometheus_config().get("global") or {}
    local = prom[0]["global"]
    for key in ("scrape_interval", "evaluation_interval"):
        assert parse_duration(local[key]) == pytest.approx(
            parse_duration(production.get(key, "1m")) / FACTOR, abs=0.001), key


def test_rules_are_loaded_from_the_scaled_copies(generated: Generated, tmp_path: Path) -> None:
    """rule_files points at the generated rules dir, and write_rules copies every production rule file."""
    assert generated.prometheus["rule_files"] == [str(generated.rules_dir / "*.yml")]
    rules_dir, manifests = tmp_path / "rules", generated.manifests
    write_rules(manifests, FACTOR, rules_dir)
    assert sorted(p.name for p in rules_dir.glob("*.yml")) == sorted(p.name for p in manifests.rule_files())


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not on PATH (Debian: apt-get install prometheus)")
def test_promtool_accepts_the_local_prometheus_config(generated: Generated) -> None:
    """`promtool check config` accepts the generated prometheus.yml with its scaled rules."""
    write_rules(generated.manifests, FACTOR, generated.rules_dir)
    path = dump(generated.prometheus, generated.workdir / "config" / "prometheus.yml")
    result = subprocess.run([str(PROMTOOL), "check", "config", str(path)], capture_output=True, text=True,
                            check=False, timeout=60)
    assert result.returncode == 0, f"promtool check config {path}:\n{result.stdout}{result.stderr}"


# --- alertmanager.yml -----------------------------------------------------------------------------

def test_every_slack_url_file_is_a_sink_url_in_the_secrets_dir(am: dict[str, Any], secrets_dir: Path) -> None:
    """Every Slack receiver (and the global default) reads its URL from a file under the secrets dir,
    and that file holds a loopback sink URL."""
    files = [am["global"]["slack_api_url_file"]] if "slack_api_url_file" in am.get("global", {}) else []
    for receiver in am.get("receivers") or []:
        for slack in receiver.get("slack_configs") or []:
            assert "api_url" not in slack, receiver["name"]
            files.append(slack.get("api_url_file") or am["global"]["slack_api_url_file"])
    assert files, "no Slack receiver found"
    for name in files:
        path = Path(name)
        assert path.parent == secrets_dir, f"{path} is not under {secrets_dir}"
        assert path.read_text().startswith(f"http://127.0.0.1:{PORTS.sink_http}/slack/"), path.read_text()
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"


def test_smtp_goes_to_the_sink_without_auth(am: dict[str, Any]) -> None:
    """smtp_smarthost is the sink's SMTP port, TLS is off, and no SMTP auth key remains anywhere."""
    glob = am["global"]
    assert glob["smtp_smarthost"] == f"127.0.0.1:{PORTS.sink_smtp}"
    assert glob["smtp_require_tls"] is False
    assert not [k for k in glob if k.startswith("smtp_auth")], glob
    for receiver in am.get("receivers") or []:
        for email in receiver.get("email_configs") or []:
            assert not [k for k in email if k.startswith("auth") or k in ("smarthost", "tls_config")], email
            assert email["require_tls"] is False


def test_webhooks_go_to_the_sink_with_a_generated_token(am: dict[str, Any], secrets_dir: Path) -> None:
    """Webhook URLs point at the sink; a bearer credential stays, read from a generated file."""
    for receiver in am.get("receivers") or []:
        for hook in receiver.get("webhook_configs") or []:
            assert hook["url"] == f"http://127.0.0.1:{PORTS.sink_http}/webhook/{receiver['name']}"
            http_config = hook.get("http_config") or {}
            assert "tls_config" not in http_config
            if "authorization" in http_config:
                token_file = Path(http_config["authorization"]["credentials_file"])
                assert token_file.parent == secrets_dir and len(token_file.read_text()) == 32


def test_routes_and_receivers_are_the_production_ones(am: dict[str, Any], manifests: Manifests) -> None:
    """Receiver names and the route tree's receivers are unchanged."""
    production = manifests.alertmanager_config()

    def tree(route: dict[str, Any]) -> list[Any]:
        return [route.get("receiver"), [tree(r) for r in route.get("routes") or []]]

    assert [r["name"] for r in am["receivers"]] == [r["name"] for r in production["receivers"]]
    assert tree(am["route"]) == tree(production["route"])


def test_production_alertmanager_file_is_untouched(manifests: Manifests, tmp_path: Path) -> None:
    """Generating the local config changes neither the production file nor the parsed production config."""
    before_text = manifests.alertmanager_yml.read_bytes()
    before = manifests.alertmanager_config()
    alertmanager_config(manifests, PORTS, FACTOR, tmp_path / "secrets")
    assert manifests.alertmanager_yml.read_bytes() == before_text
    assert manifests.alertmanager_config() == before


@needs_amtool
def test_amtool_accepts_the_local_alertmanager_config(generated: Generated) -> None:
    """`amtool check-config` accepts the generated alertmanager.yml."""
    am = generated.alertmanager
    path = dump(am, generated.workdir / "config" / "alertmanager.yml")
    result = subprocess.run([str(AMTOOL), "check-config", str(path)], capture_output=True, text=True,
                            check=False, timeout=60)
    assert result.returncode == 0, f"amtool check-config {path}:\n{result.stdout}{result.stderr}"
    assert yaml.safe_load(path.read_text()) == am
