"""`lint.promise[<name>]`: each promise of a shipped config, broken alone in a copy of manifests/, fails lint
with a message naming the file, the key and the value; the shipped manifests keep every promise.

The promise stage is pure Python, so these cases call it directly (promtool and amtool are not run; the
Context's tool paths are placeholders). One case runs the real `stackcheck lint --manifests COPY`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stackcheck.lint import context
from stackcheck.lint.context import Context
from stackcheck.lint.promises import PROMISES, promise_items
from stackcheck.lint.promises.model import Verdict
from stackcheck.lint.promises.stack import Stack
from stackcheck.lint.result import Item
from tests.test_lint import MANIFESTS, copy, edit_text, edit_yaml, needs_tools, run_lint

__all__ = ["copy"]  # the fixture, re-exported for pytest

Seed = Callable[[Path], None]


@pytest.fixture(autouse=True)
def no_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    """The promises never run promtool/amtool: let Context.load succeed where they are not installed."""
    monkeypatch.setattr(
        context, "require", lambda binaries: {"promtool": Path("promtool"), "amtool": Path("amtool")}
    )


def promises_of(root: Path) -> dict[str, Item]:
    return {item.id: item for item in promise_items(Context.load(str(root)))}


def text(rel: str, old: str, new: str) -> Seed:
    return lambda root: edit_text(root / rel, old, new)


def yaml_edit(rel: str, change: Callable[[Any], None]) -> Seed:
    return lambda root: edit_yaml(root / rel, change)


LOKI = "config/loki/loki.yaml"
JAEGER = "config/jaeger/config.yaml"
ALLOY = "config/alloy/config.alloy"
PROM = "config/prometheus/prometheus.yml"
AM = "config/alertmanager/alertmanager.yml"
DS = "config/grafana/datasources.yml"
LOKI_STS = "loki/loki-statefulset.yaml"
GRAFANA = "grafana/grafana-deployment.yaml"
PROM_STS = "prometheus/prometheus-statefulset.yaml"
AM_STS = "alertmanager/alertmanager-statefulset.yaml"
PROBE = "probe/phase5-backend-deployment.yaml"
BLACKBOX = "blackbox-exporter/blackbox-exporter-deployment.yaml"


def _receiver(name: str, change: Callable[[dict[str, Any]], None]) -> Seed:
    def edit(doc: Any) -> None:
        change(next(r for r in doc["receivers"] if r["name"] == name))

    return yaml_edit(AM, edit)


def _route(receiver: str, key: str, value: str) -> Seed:
    def edit(doc: Any) -> None:
        next(r for r in doc["route"]["routes"] if r["receiver"] == receiver)[key] = value

    return yaml_edit(AM, edit)


CASES = [
    # Loki
    (
        "loki.retention_in_force",
        text(LOKI, "  retention_enabled: true", "  retention_enabled: false"),
        [LOKI, "compactor.retention_enabled is false", "set compactor.retention_enabled: true"],
    ),
    (
        "loki.retention_in_force",
        text(LOKI, "  delete_request_store: filesystem\n", ""),
        [LOKI, "compactor.delete_request_store is unset", "delete_request_store: filesystem"],
    ),
    (
        "loki.retention_in_force",
        text(LOKI, "  delete_request_store: filesystem", "  delete_request_store: s3"),
        [LOKI, "compactor.delete_request_store is 's3', but the chunks are in ['filesystem']"],
    ),
    (
        "loki.retention_in_force",
        text(LOKI, "  retention_period: 744h", "  retention_period: 24h"),
        [LOKI, "limits_config.retention_period is '24h'", "744h"],
    ),
    (
        "loki.retention_in_force",
        text(LOKI, "period: 24h", "period: 168h"),
        [LOKI, "schema_config.configs[0].index.period is '168h'"],
    ),
    (
        "loki.single_tenant",
        text(LOKI, "auth_enabled: false", "auth_enabled: true"),
        [LOKI, "auth_enabled is true", "X-Scope-OrgID"],
    ),
    (
        "loki.config_mounted",
        text(LOKI_STS, "-config.file=/etc/loki/config/loki.yaml", "-config.file=/etc/loki/x.yaml"),
        [LOKI_STS, "/etc/loki/x.yaml", "ConfigMap"],
    ),
    (
        "loki.compactor_runs",
        text(LOKI_STS, "-target=all", "-target=querier"),
        [LOKI_STS, "-target=querier runs no compactor"],
    ),
    (
        "loki.listen_ports",
        text(LOKI, "http_listen_port: 3100", "http_listen_port: 3101"),
        [LOKI_STS, "container port http (3100)", "server.http_listen_port = 3101"],
    ),
    (
        "loki.listen_ports",
        text("loki/loki-service.yaml", "targetPort: http", "targetPort: web"),
        ["loki/loki-service.yaml", "port http targets 'web'", "StatefulSet/monitoring/loki container loki"],
    ),
    (
        "loki.storage_on_pvc",
        text(LOKI, "working_directory: /var/loki/compactor", "working_directory: /tmp/compactor"),
        [LOKI, "compactor.working_directory = /tmp/compactor", "emptyDir"],
    ),
    # Alloy
    (
        "alloy.config_mounted",
        text("alloy/alloy-daemonset.yaml", "- /etc/alloy/config.alloy", "- /etc/alloy/main.alloy"),
        ["alloy/alloy-daemonset.yaml", "/etc/alloy/main.alloy", "no key 'main.alloy'"],
    ),
    (
        "alloy.loki_push_url",
        text(ALLOY, "loki.monitoring.svc:3100", "loki.monitoring.svc:3110"),
        [
            ALLOY,
            "loki.write endpoint url = http://loki.monitoring.svc:3110/loki/api/v1/push",
            "has no port 3110",
        ],
    ),
    (
        "alloy.pipeline_reaches_loki",
        text(ALLOY, "forward_to = [loki.write.default.receiver]", "forward_to = [loki.write.local.receiver]"),
        [
            ALLOY,
            (
                "loki.process.pod_logs forwards to loki.write.local.receiver, which the config "
                "does not define"
            ),
        ],
    ),
    (
        "alloy.labels_for_checks",
        text(ALLOY, 'target_label  = "namespace"', 'target_label  = "ns"'),
        [ALLOY, "target_label 'namespace'", '{namespace="phase5"}'],
    ),
    (
        "alloy.env_set",
        yaml_edit(
            "alloy/alloy-daemonset.yaml", lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("env")
        ),
        [ALLOY, 'sys.env("HOSTNAME")', "DaemonSet/monitoring/alloy"],
    ),
    (
        "alloy.listen_ports",
        text("alloy/alloy-daemonset.yaml", "listen-addr=0.0.0.0:12345", "listen-addr=127.0.0.1:12345"),
        ["alloy/alloy-daemonset.yaml", "loopback only"],
    ),
    # Jaeger and the probe's spans
    (
        "jaeger.config_mounted",
        text(
            "jaeger/jaeger-deployment.yaml",
            "--config=/etc/jaeger/config.yaml",
            "--config=/etc/jaeger/jaeger.yaml",
        ),
        ["/etc/jaeger/jaeger.yaml", "no key 'jaeger.yaml'"],
    ),
    (
        "jaeger.listen_ports",
        text(JAEGER, "port: 8888", "port: 8889"),
        ["container port metrics (8888)", JAEGER],
    ),
    (
        "jaeger.otlp_receivers",
        text(JAEGER, "endpoint: 0.0.0.0:4318", "endpoint: localhost:4318"),
        [JAEGER, "receivers.otlp.protocols.http.endpoint is localhost:4318", "0.0.0.0:4318"],
    ),
    (
        "jaeger.query_on_16686",
        text(JAEGER, "endpoint: 0.0.0.0:16686", "endpoint: 0.0.0.0:16687"),
        [JAEGER, "extensions.jaeger_query.http.endpoint is 0.0.0.0:16687"],
    ),
    (
        "jaeger.badger_on_pvc",
        text(JAEGER, "keys: /badger/data/keys", "keys: /tmp/keys"),
        [JAEGER, "badger.directories.keys = /tmp/keys", "emptyDir"],
    ),
    (
        "jaeger.badger_on_pvc",
        text(JAEGER, "  ephemeral: false", "  ephemeral: true"),
        [JAEGER, "ephemeral is true"],
    ),
    (
        "probe.otlp_endpoint",
        text(PROBE, "jaeger-collector.tracing.svc:4318", "jaeger-collector.tracing.svc:4317"),
        [PROBE, "--otlp-endpoint", "OTLP HTTP receiver is on 4318"],
    ),
    # Grafana
    (
        "grafana.datasource_uids",
        text(DS, "datasourceUid: jaeger", "datasourceUid: jaegr"),
        [DS, "derivedFields[0].datasourceUid is 'jaegr'"],
    ),
    (
        "grafana.datasource_uids",
        text(
            "config/grafana/dashboards/system-overview.json",
            '"type": "loki",\n        "uid": "loki"',
            '"type": "loki",\n        "uid": "prometheus"',
        ),
        ["config/grafana/dashboards/system-overview.json", "uid 'prometheus' is of type 'loki'"],
    ),
    (
        "grafana.datasource_urls",
        text(DS, "url: http://loki.monitoring.svc:3100", "url: http://loki.logging.svc:3100"),
        [DS, "datasource 'loki' url = http://loki.logging.svc:3100", "no Service logging/loki"],
    ),
    (
        "grafana.admin_password_from_secret",
        text(
            GRAFANA,
            "- name: GF_SECURITY_ADMIN_PASSWORD__FILE\n"
            "              value: /etc/grafana-secrets/admin-password",
            "- name: GF_SECURITY_ADMIN_PASSWORD\n              value: admin123",
        ),
        [GRAFANA, "env GF_SECURITY_ADMIN_PASSWORD is a literal value"],
    ),
    (
        "grafana.provisioning_mounted",
        text(
            GRAFANA, "mountPath: /etc/grafana/provisioning/datasources", "mountPath: /etc/grafana/datasources"
        ),
        [GRAFANA, "/etc/grafana/provisioning/datasources/datasources.yml", "no volumeMount"],
    ),
    (
        "grafana.dashboards_provisioned",
        text("config/kustomization.yaml", "      - grafana/dashboards/agents-monitoring.json\n", ""),
        [GRAFANA, "agents-monitoring.json", "no key 'agents-monitoring.json'"],
    ),
    (
        "grafana.scrape_interval_matches",
        text(DS, "timeInterval: 15s", "timeInterval: 30s"),
        [DS, "jsonData.timeInterval is '30s'", "every 15s"],
    ),
    (
        "grafana.listen_ports",
        yaml_edit(
            GRAFANA,
            lambda d: d["spec"]["template"]["spec"]["containers"][0]["env"].append(
                {"name": "GF_SERVER_HTTP_PORT", "value": "3001"}
            ),
        ),
        [GRAFANA, "container port http (3000)"],
    ),
    # Prometheus
    (
        "prometheus.config_mounted",
        text(
            PROM_STS, "--config.file=/etc/prometheus/prometheus.yml", "--config.file=/etc/prometheus/prom.yml"
        ),
        [PROM_STS, "/etc/prometheus/prom.yml"],
    ),
    (
        "prometheus.listen_ports",
        text(PROM_STS, "--web.listen-address=:9090", "--web.listen-address=:9091"),
        [PROM_STS, "container port http (9090)", "--web.listen-address = 9091"],
    ),
    (
        "prometheus.scrape_interval_15s",
        text(PROM, "scrape_interval: 15s", "scrape_interval: 30s"),
        [PROM, "global.scrape_interval is '30s'"],
    ),
    (
        "prometheus.jobs_relied_on",
        text(PROM, "- job_name: phase5\n", "- job_name: app\n"),
        [PROM, "no scrape job 'phase5'", "alerts.rules.yml"],
    ),
    (
        "prometheus.rule_files_mounted",
        text("overlays/kind/kustomization.yaml", "      - generated/rules/meta.rules.yml\n", ""),
        [PROM, "[overlays/kind]", "meta.rules.yml"],
    ),
    (
        "prometheus.tsdb_on_pvc",
        text(PROM_STS, "--storage.tsdb.path=/prometheus", "--storage.tsdb.path=/data"),
        [PROM_STS, "--storage.tsdb.path = /data", "mounts no volume"],
    ),
    (
        "prometheus.discovery_finds_services",
        text(PROM, "regex: loki;http", "regex: loki;web"),
        [PROM, "job 'loki' keeps port name 'web' of Service loki"],
    ),
    (
        "prometheus.alerting_target",
        yaml_edit(
            PROM,
            lambda d: d["alerting"]["alertmanagers"][0]["kubernetes_sd_configs"][0].__setitem__(
                "namespaces", {"names": ["alerting"]}
            ),
        ),
        [PROM, "alerting.alertmanagers[0] keeps Service alertmanager", "['alerting']"],
    ),
    # The probe
    (
        "probe.scrape_annotations",
        text(PROBE, 'prometheus.io/port: "8080"', 'prometheus.io/port: "9090"'),
        [PROBE, "prometheus.io/port '9090' is no declared container port"],
    ),
    (
        "probe.service_name",
        text(PROBE, "- --service\n            - phase5-backend", "- --service\n            - backend"),
        [PROBE, "--service is 'backend'", "PHASE5_SERVICE"],
    ),
    (
        "probe.listen_ports",
        text(PROBE, "- 0.0.0.0:8080", "- 0.0.0.0:8081"),
        [PROBE, "container port http (8080)"],
    ),
    # blackbox-exporter
    (
        "blackbox.config_mounted",
        text(BLACKBOX, "--config.file=/etc/blackbox/blackbox.yml", "--config.file=/etc/blackbox/config.yml"),
        [BLACKBOX, "no key 'config.yml'"],
    ),
    (
        "blackbox.listen_ports",
        text(BLACKBOX, "--web.listen-address=:9115", "--web.listen-address=:9116"),
        [BLACKBOX, "container port http (9115)"],
    ),
    (
        "blackbox.modules_exist",
        text(PROM, "module: [http_2xx]", "module: [http_200]"),
        [PROM, "module 'http_200'", "config/blackbox/blackbox.yml"],
    ),
    (
        "blackbox.probe_targets",
        text(PROM, "http://loki.monitoring.svc:3100/ready", "http://loki.monitoring.svc:3110/ready"),
        [PROM, "probes http://loki.monitoring.svc:3110/ready", "has no port 3110"],
    ),
    (
        "blackbox.probe_targets",
        text(PROM, "http://loki.monitoring.svc:3100/ready", "http://loki.monitoring.svc:3100/readyz"),
        [PROM, "probes http://loki.monitoring.svc:3100/readyz", "answers health on /ready"],
    ),
    # kube-state-metrics, node-exporter
    (
        "kube_state_metrics.listen_ports",
        text("kube-state-metrics/kube-state-metrics-deployment.yaml", "--port=8080", "--port=8082"),
        ["container port http-metrics (8080)"],
    ),
    (
        "node_exporter.listen_ports",
        text(
            "node-exporter/node-exporter-daemonset.yaml", "address=$(HOST_IP):9100", "address=$(HOST_IP):9101"
        ),
        ["container port metrics (9100)"],
    ),
    # Alertmanager
    (
        "alertmanager.config_mounted",
        text(
            AM_STS,
            "--config.file=/etc/alertmanager/alertmanager.yml",
            "--config.file=/etc/alertmanager/am.yml",
        ),
        [AM_STS, "/etc/alertmanager/am.yml"],
    ),
    (
        "alertmanager.listen_ports",
        text(AM_STS, "--web.listen-address=:9093", "--web.listen-address=:9094"),
        [AM_STS, "container port http (9093)"],
    ),
    (
        "alertmanager.secrets_from_files",
        _receiver(
            "slack-kafka",
            lambda r: r["slack_configs"][0].update(api_url="https://hooks.slack.com/services/T000/B000/XXXX"),
        ),
        [AM, "receiver 'slack-kafka' slack_configs[0].api_url is written inline"],
    ),
    (
        "alertmanager.secrets_from_files",
        text(
            AM,
            "smtp_auth_password_file: /etc/alertmanager/secrets/smtp-password",
            "smtp_auth_password_file: /etc/alertmanager/smtp-password",
        ),
        [
            AM,
            "global.smtp_auth_password_file = /etc/alertmanager/smtp-password",
            "[manifests, overlays/kind, overlays/production] has no volume there",
        ],
    ),
    (
        "alertmanager.secrets_from_files",
        text(
            "overlays/kind/kustomization.yaml", "      - deadman-token=generated/secrets/deadman-token\n", ""
        ),
        [AM, "Secret alertmanager-sink-secrets [overlays/kind]", "no key 'deadman-token'"],
    ),
    (
        "alertmanager.critical_to_slack_and_email",
        _receiver("critical", lambda r: r.pop("email_configs")),
        [AM, "severity=critical reaches critical (slack_configs)", "slack + email"],
    ),
    (
        "alertmanager.critical_to_slack_and_email",
        _route("critical", "group_wait", "30s"),
        [AM, "severity=critical route to critical has group_wait 30s", "group_wait: 0s"],
    ),
    (
        "alertmanager.warning_to_slack_after_30s",
        _route("slack-warning", "group_wait", "10s"),
        [AM, "severity=warning route to slack-warning has group_wait 10s", "group_wait: 30s"],
    ),
    (
        "alertmanager.kind_delivers_to_sink",
        text(
            "overlays/kind/generated/secrets/slack-webhook-url",
            "stackcheck-sink.monitoring.svc:8080",
            "stackcheck-sink.monitoring.svc:9999",
        ),
        [
            "overlays/kind/generated/alertmanager.yml",
            "slack-webhook-url = http://stackcheck-sink.monitoring.svc:9999",
            "has no port 9999",
        ],
    ),
    (
        "alertmanager.kind_delivers_to_sink",
        text(
            "overlays/kind/generated/alertmanager.yml",
            "smtp_smarthost: stackcheck-sink.monitoring.svc:2525",
            "smtp_smarthost: stackcheck-sink.monitoring.svc:25",
        ),
        ["global.smtp_smarthost = smtp://stackcheck-sink.monitoring.svc:25", "has no port 25"],
    ),
    (
        "alertmanager.data_on_pvc",
        text(AM_STS, "--storage.path=/alertmanager", "--storage.path=/tmp/am"),
        [AM_STS, "--storage.path = /tmp/am", "mounts no volume"],
    ),
]


CASES += [
    (
        "alertmanager.route_tests_match_rules",
        text(
            "config/alertmanager/routes.test.yml",
            "{alertname: HighErrorRate, severity: critical, component: backend,",
            "{alertname: HighErrorRate, severity: critical, component: database,",
        ),
        ["routes.test.yml: alert HighErrorRate: labels component=database", "gives it component=backend"],
    ),
    (
        "prometheus.tsdb_on_pvc",
        text(
            PROM_STS,
            "- --storage.tsdb.retention.time=15d",
            "- --storage.tsdb.retention.time=15d\n            - --storage.tsdb.retention.size=10GB",
        ),
        [PROM_STS, "--storage.tsdb.retention.size=10GB is not below the PVC's 10Gi"],
    ),
    (
        "grafana.loki_max_lines_within_limit",
        text(DS, "maxLines: 1000", "maxLines: 10000"),
        [DS, "jsonData.maxLines is 10000, above Loki's max_entries_limit_per_query 5000"],
    ),
    (
        "grafana.dashboard_uids",
        text(
            "config/grafana/dashboards/agents-monitoring.json",
            '"uid": "stackcheck-agents-monitoring"',
            '"uid": "stackcheck-system-overview"',
        ),
        [
            "config/grafana/dashboards/system-overview.json",
            "uid 'stackcheck-system-overview' is also the uid of",
        ],
    ),
    (
        "verify.component_services",
        text("jaeger/jaeger-query-service.yaml", "- name: http-query", "- name: query"),
        ["jaeger/jaeger-query-service.yaml", "no port named 'http-query'", "COMPONENT_SERVICES"],
    ),
]


def test_shipped_manifests_keep_every_promise() -> None:
    """Every promise holds on the repository's manifests, and each has a seeded-defect case below."""
    items = promises_of(MANIFESTS)
    broken = {i: item.message for i, item in items.items() if item.status != "passed"}
    assert not broken, json.dumps(broken, indent=1)
    assert set(items) == {f"lint.promise[{p.name}]" for p in PROMISES}
    assert {p.name for p in PROMISES} == {name for name, _, _ in CASES}, "a promise without a seeded defect"


#: What another change of issue 8 adds (Loki's fast scheduler lookup, Alloy stamping lines with their own
#: ``ts``): the promises must keep holding with it.
LOKI_FRONTEND = "\nfrontend:\n  scheduler_dns_lookup_period: 1s\n"
ALLOY_TS_STAGE = """
loki.process "pod_logs" {
  stage.json {
    expressions = { ts = "ts" }
  }
  stage.timestamp {
    source = "ts"
    format = "RFC3339Nano"
  }
  forward_to = [loki.write.default.receiver]
}
"""


def test_promises_hold_with_loki_frontend_lookup_and_alloy_timestamp_stage(copy: Path) -> None:
    """Loki's frontend.scheduler_dns_lookup_period and an Alloy loki.process that stamps entries from ``ts``
    (between the source and loki.write) keep every promise."""
    (copy / LOKI).write_text((copy / LOKI).read_text() + LOKI_FRONTEND)
    edit_text(
        copy / ALLOY,
        "  forward_to = [loki.write.default.receiver]",
        "  forward_to = [loki.process.pod_logs.receiver]",
    )
    (copy / ALLOY).write_text((copy / ALLOY).read_text() + ALLOY_TS_STAGE)
    broken = {i: item.message for i, item in promises_of(copy).items() if item.status != "passed"}
    assert not broken, json.dumps(broken, indent=1)


def test_alloy_promises_skip_for_a_stack_without_alloy(copy: Path) -> None:
    """A stack that runs another collector (no config/alloy) skips the Alloy promises with the reason;
    lint does not fail it for that (DESIGN.md: the checks do not depend on the collector)."""
    (copy / ALLOY).unlink()
    items = promises_of(copy)
    alloy = {i: item for i, item in items.items() if i.startswith("lint.promise[alloy.")}
    assert alloy and all(item.status == "skipped" for item in alloy.values()), alloy
    assert "config/alloy/config.alloy is absent" in str(next(iter(alloy.values())).skipped)
    assert items["lint.promise[loki.retention_in_force]"].status == "passed"


@pytest.mark.parametrize(
    ("name", "seed", "expected"), [pytest.param(*c, id=f"{c[0]}-{i}") for i, c in enumerate(CASES)]
)
def test_a_broken_promise_fails_naming_file_key_and_value(
    copy: Path, name: str, seed: Seed, expected: list[str]
) -> None:
    """The seeded defect fails that promise's item; the message names the file, the key and the value."""
    seed(copy)
    item = promises_of(copy)[f"lint.promise[{name}]"]
    assert item.status == "failed", item.message
    for words in expected:
        assert words in item.message, f"{words!r} not in:\n{item.message}"


@needs_tools
@pytest.mark.binaries
def test_lint_exits_1_naming_loki_retention_when_retention_is_off(copy: Path, tmp_path: Path) -> None:
    """`stackcheck lint --manifests COPY` of a Loki with retention_enabled: false exits 1 naming the promise
    (issue 8, item 3: it used to pass)."""
    edit_text(copy / LOKI, "  retention_enabled: true", "  retention_enabled: false")
    report = tmp_path / "lint.json"
    ran = run_lint("--manifests", str(copy), "--json", str(report))
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "promise loki.retention_in_force" in ran.stdout
    assert "FAILED: config/loki/loki.yaml: compactor.retention_enabled is false" in ran.stdout
    assert "STACKCHECK FAILED" in ran.stdout
    checks = {c["id"]: c for c in json.loads(report.read_text())["checks"]}
    assert checks["lint.promise[loki.retention_in_force]"]["status"] == "failed"
    assert [i for i, c in checks.items() if c["status"] == "failed"] == [
        "lint.promise[loki.retention_in_force]"
    ]


def test_readme_lists_every_promise() -> None:
    """README's lint section names every promise, so the documented list matches what lint checks."""
    readme = (MANIFESTS.parent / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in PROMISES if f"`{p.name}`" not in readme]
    assert not missing, f"README.md does not list {missing}"


def test_a_section_of_the_wrong_type_fails_naming_it_not_a_lint_bug(copy: Path) -> None:
    """A config whose section has the wrong type (``server: x`` in loki.yaml) fails the promises that read
    it with the file, the key and the type, instead of an 'error' item blaming lint."""
    edit_text(
        copy / LOKI, "server:\n  http_listen_port: 3100", "server: x\nserverx:\n  http_listen_port: 3100"
    )
    items = promises_of(copy)
    assert not [i for i, item in items.items() if item.status == "error"], items
    item = items["lint.promise[loki.listen_ports]"]
    assert item.status == "failed"
    assert "config/loki/loki.yaml: server is a str, not a mapping" in item.message


def test_every_promise_has_a_title() -> None:
    """Each promise's title (its check's docstring, or the one its factory writes) is a sentence, not its
    bare name: lint prints "promise <name>: <title>"."""
    untitled = [p.name for p in PROMISES if not p.title or p.title == p.name]
    assert not untitled, f"promises whose check has no docstring: {untitled}"


#: Promises about one workload, and the app label each looks for.
WORKLOAD_PROMISES = {
    "loki.config_mounted": "loki",
    "loki.compactor_runs": "loki",
    "jaeger.listen_ports": "jaeger",
    "jaeger.badger_on_pvc": "jaeger",
    "grafana.admin_password_from_secret": "grafana",
    "alertmanager.data_on_pvc": "alertmanager",
    "prometheus.tsdb_on_pvc": "prometheus",
    "alloy.env_set": "alloy",
}
PROBE_PROMISES = ("probe.otlp_endpoint", "probe.service_name", "probe.scrape_annotations")


def test_a_promise_about_a_missing_workload_fails_naming_it_and_a_missing_probe_is_fine() -> None:
    """Manifests without the workload a promise reads break that promise, naming the app label it looked
    for; manifests without the probe (the production overlay) keep the probe's promises."""
    stack = Stack(Context.load(str(MANIFESTS)), {".": []})
    by_name = {p.name: p for p in PROMISES}
    for name, app in WORKLOAD_PROMISES.items():
        verdict = by_name[name].check(stack)
        assert verdict.problems, name
        assert f"no workload labelled app.kubernetes.io/name={app}" in verdict.problems[0], verdict
    for name in PROBE_PROMISES:
        verdict = by_name[name].check(stack)
        assert verdict == Verdict("no probe in these manifests (production overlay)"), (name, verdict)
