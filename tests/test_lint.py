"""`stackcheck lint`: offline checks of manifests/, run as users run them (the console script).

Table-driven like promtool's own tests: each case seeds one defect into a copy of manifests/ and
states the exit code and the words the output must contain (the file, the object, the problem).
The shipped manifests must pass. Unit tests below cover the renderer, Pod Security exceptions and
the promtool copy of prometheus.yml without running any tool.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackcheck.lint.objects import object_ref
from stackcheck.lint.podsecurity import unexcused_violations, violations
from stackcheck.lint.prom import checkable_copy
from stackcheck.lint.render import (
    KUBECTL,
    RenderError,
    UnsupportedFeature,
    apply_operation,
    render_kubectl,
    render_python,
)
from stackcheck.lint.schema import KUBERNETES_VERSIONS, schema_problems
from stackcheck.report import SCHEMA

REPO = Path(__file__).resolve().parent.parent
MANIFESTS = REPO / "manifests"
STACKCHECK = Path(sys.executable).with_name("stackcheck")
TOOLS = {name: shutil.which(name) for name in ("promtool", "amtool")}
needs_tools = pytest.mark.skipif(
    not all(TOOLS.values()),
    reason="promtool/amtool not installed (sudo apt-get install prometheus "
    "prometheus-alertmanager); lint needs both",
)
RENDER_TARGETS = (".", "overlays/kind", "overlays/production")


def run_lint(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it (wide output so lines do not wrap)."""
    full_env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1", **(env or {})}
    return subprocess.run(
        [str(STACKCHECK), "lint", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
        check=False,
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A private copy of manifests/ to seed a defect into."""
    return Path(shutil.copytree(MANIFESTS, tmp_path / "manifests"))


# --------------------------------------------------------------------------- seeded defects


def edit_text(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path}: seed text {old!r} not found; update the test"
    path.write_text(text.replace(old, new, 1))


def edit_yaml(path: Path, change: Callable[[Any], None]) -> None:
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def unknown_field(root: Path) -> list[str]:
    def change(obj: Any) -> None:
        obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"

    edit_yaml(root / "grafana" / "grafana-deployment.yaml", change)
    return [
        "grafana/grafana-deployment.yaml",
        "Deployment/monitoring/grafana",
        "unknown field 'imagePullPolicyy'",
        "lint.schema[manifests]",
    ]


def privileged_container(root: Path) -> list[str]:
    def change(obj: Any) -> None:
        obj["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True

    edit_yaml(root / "blackbox-exporter" / "blackbox-exporter-deployment.yaml", change)
    return [
        "blackbox-exporter/blackbox-exporter-deployment.yaml",
        "Deployment/monitoring/blackbox-exporter",
        "container blackbox-exporter: privileged",
        "lint.podsecurity[overlays/production]",
    ]


def dashboard_metric_typo(root: Path) -> list[str]:
    path = root / "config" / "grafana" / "dashboards" / "system-overview.json"
    edit_text(path, '"sum(phase5:http_requests:rate5m{', '"sum(phase5:http_request:rate5m{')
    return [
        "config/grafana/dashboards/system-overview.json",
        "panel 'Request rate'",
        "'phase5:http_request:rate5m'",
        "did you mean 'phase5:http_requests:rate5m'",
        "lint.dashboard[system-overview.json]",
    ]


def alert_without_severity(root: Path) -> list[str]:
    def change(doc: Any) -> None:
        (rule,) = [r for r in doc["groups"][0]["rules"] if r.get("alert") == "HighErrorRate"]
        del rule["labels"]["severity"]

    edit_yaml(root / "config" / "prometheus" / "rules" / "alerts.rules.yml", change)
    return [
        "config/prometheus/rules/alerts.rules.yml: alert HighErrorRate: no severity label",
        "lint.alerts[alerts.rules.yml]",
    ]


def critical_to_warning_channel(root: Path) -> list[str]:
    edit_text(
        root / "config" / "alertmanager" / "alertmanager.yml",
        "- receiver: critical\n      matchers: ['severity=\"critical\"']",
        "- receiver: slack-warning\n      matchers: ['severity=\"critical\"']",
    )
    return [
        (
            "config/alertmanager/routes.test.yml: alert HighErrorRate: expected receivers "
            "critical,slack-backend, alertmanager.yml routes it to slack-warning,slack-backend"
        ),
        "lint.routes[HighErrorRate]",
    ]


def receiver_on_the_wrong_channel(root: Path) -> list[str]:
    edit_text(root / "config" / "alertmanager" / "alertmanager.yml", '"#alerts-backend"', '"#alerts-infra"')
    return [
        (
            "config/alertmanager/routes.test.yml: alert HighErrorRate: declares channels "
            "['#alerts-backend', '#alerts-critical', 'oncall@stackcheck.example'], but receivers "
            "critical,slack-backend deliver to ['#alerts-critical', '#alerts-infra', "
            "'oncall@stackcheck.example']"
        ),
        "lint.routes[HighResponseTime]",
    ]


def failing_promtool_test(root: Path) -> list[str]:
    edit_text(root / "config" / "prometheus" / "tests" / "recording.test.yml", "value: 0.85", "value: 0.86")
    return [
        "config/prometheus/tests/recording.test.yml: promtool test rules",
        'expr: "round(phase5:http_request_duration:p95',
        "exp: ",
        "got: ",
        "lint.promtool.tests[recording.test.yml]",
    ]


def bad_promql_in_dashboard(root: Path) -> list[str]:
    path = root / "config" / "grafana" / "dashboards" / "system-overview.json"
    edit_text(path, '"sum(up)"', '"sum(up"')
    return [
        "config/grafana/dashboards/system-overview.json",
        "panel 'Targets up'",
        "PromQL does not parse",
        "lint.dashboard[system-overview.json]",
    ]


def unknown_datasource_uid(root: Path) -> list[str]:
    path = root / "config" / "grafana" / "dashboards" / "agents-monitoring.json"
    board = json.loads(path.read_text())
    (panel,) = [p for p in board["panels"] if p.get("title") == "Task operations by operation"]
    panel["datasource"]["uid"] = "promethues"
    path.write_text(json.dumps(board, indent=2))
    return [
        (
            "config/grafana/dashboards/agents-monitoring.json: panel 'Task operations by operation': "
            "datasource uid 'promethues' is not provisioned in config/grafana/datasources.yml"
        ),
        "lint.dashboard[agents-monitoring.json]",
    ]


def unused_recording_rule(root: Path) -> list[str]:
    def change(doc: Any) -> None:
        doc["groups"][0]["rules"].append({"record": "phase5:unused:rate5m", "expr": "sum(rate(up[5m]))"})

    edit_yaml(root / "config" / "prometheus" / "rules" / "recording.rules.yml", change)
    return [
        (
            "config/prometheus/rules/recording.rules.yml: recording rule phase5:unused:rate5m: read by no "
            "dashboard panel or alert"
        ),
        "lint.rules.recording_used",
    ]


def alert_without_route_test(root: Path) -> list[str]:
    def change(doc: Any) -> None:
        doc["groups"][0]["rules"].append(
            {
                "alert": "NewAlert",
                "expr": "vector(1)",
                "labels": {"severity": "warning"},
                "annotations": {"summary": "s", "runbook_url": "https://example.invalid/r"},
            }
        )

    edit_yaml(root / "config" / "prometheus" / "rules" / "meta.rules.yml", change)
    return [
        (
            "config/prometheus/rules/meta.rules.yml: alert NewAlert: no entry in "
            "config/alertmanager/routes.test.yml"
        ),
        "lint.routes.coverage",
    ]


def line_of(path: Path, text: str) -> int:
    return path.read_text().splitlines().index(text) + 1


def malformed_object_yaml(root: Path) -> list[str]:
    path = root / "loki" / "loki-service.yaml"
    edit_text(path, "kind: Service", "kind: Service\n  bad: [unclosed")
    return [f"loki/loki-service.yaml:{line_of(path, '  bad: [unclosed')}: malformed YAML"]


def malformed_config_yaml(root: Path) -> list[str]:
    path = root / "config" / "alertmanager" / "alertmanager.yml"
    edit_text(path, "route:\n", "route:\n  receiver: a: b\n")
    return [f"config/alertmanager/alertmanager.yml:{line_of(path, '  receiver: a: b')}: malformed YAML"]


DEFECTS = [
    pytest.param(unknown_field, 1, id="unknown-field-in-deployment"),
    pytest.param(privileged_container, 1, id="privileged-container"),
    pytest.param(dashboard_metric_typo, 1, id="dashboard-metric-typo"),
    pytest.param(alert_without_severity, 1, id="alert-without-severity"),
    pytest.param(critical_to_warning_channel, 1, id="critical-routed-to-warning-receiver"),
    pytest.param(receiver_on_the_wrong_channel, 1, id="receiver-on-the-wrong-channel"),
    pytest.param(failing_promtool_test, 1, id="failing-promtool-unit-test"),
    pytest.param(bad_promql_in_dashboard, 1, id="bad-promql-in-dashboard"),
    pytest.param(unknown_datasource_uid, 1, id="unknown-datasource-uid"),
    pytest.param(unused_recording_rule, 1, id="unused-recording-rule"),
    pytest.param(alert_without_route_test, 1, id="alert-without-route-test"),
    pytest.param(malformed_object_yaml, 2, id="malformed-object-yaml"),
    pytest.param(malformed_config_yaml, 2, id="malformed-config-yaml"),
]


@needs_tools
@pytest.mark.binaries
@pytest.mark.parametrize(("seed", "exit_code"), DEFECTS)
def test_lint_fails_on_a_seeded_defect_and_names_it(
    copy: Path, tmp_path: Path, seed: Callable[[Path], list[str]], exit_code: int
) -> None:
    """Each seeded defect makes lint exit 1 (2 for malformed YAML), and the output names the file, the
    object and the problem; the JSON report marks the item failed with the same words."""
    expected = seed(copy)
    report = tmp_path / "report.json"
    ran = run_lint("--manifests", str(copy), "--json", str(report))
    output = ran.stdout + ran.stderr
    assert ran.returncode == exit_code, output
    ids = [e for e in expected if e.startswith("lint.")]
    for text in (e for e in expected if not e.startswith("lint.")):
        assert text in output, f"{text!r} not in the output:\n{output}"
    if exit_code == 2:
        assert "UsageError" in ran.stderr and not report.exists()
        assert "Traceback" not in output
        return
    assert "STACKCHECK FAILED" in ran.stdout
    checks = {c["id"]: c for c in json.loads(report.read_text())["checks"]}
    for check_id in ids:
        assert checks[check_id]["status"] == "failed", checks.get(check_id)


# --------------------------------------------------------------------------- the shipped manifests


@needs_tools
@pytest.mark.binaries
def test_shipped_manifests_pass_and_reports_follow_the_schema(tmp_path: Path) -> None:
    """The repository's manifests pass every item (exit 0); --json writes stackcheck.report/v1 with
    target manifests, profile lint, component manifests and stable ids; --junit-xml has one testcase
    per item."""
    json_path, junit_path = tmp_path / "lint.json", tmp_path / "lint.xml"
    ran = run_lint("--manifests", str(MANIFESTS), "--json", str(json_path), "--junit-xml", str(junit_path))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "STACKCHECK OK - " in ran.stdout and "FAILED" not in ran.stdout
    assert f"Kubernetes {', '.join(KUBERNETES_VERSIONS)}" in ran.stdout
    report = json.loads(json_path.read_text())
    assert set(report) == {
        "schema",
        "target",
        "profile",
        "time_scale",
        "started_at",
        "duration_s",
        "summary",
        "interrupted",
        "checks",
    }
    assert (report["schema"], report["target"], report["profile"]) == (SCHEMA, "manifests", "lint")
    assert report["interrupted"] is False
    ids = [c["id"] for c in report["checks"]]
    assert len(ids) == len(set(ids)), "check ids must be unique"
    for check in report["checks"]:
        assert set(check) == {"id", "component", "status", "duration_s", "message"}
        assert (check["component"], check["status"]) == ("manifests", "passed"), check
    assert report["summary"] == {"passed": len(ids), "failed": 0, "skipped": 0, "errors": 0}
    for expected in (
        "lint.render[manifests]",
        "lint.render[overlays/kind]",
        "lint.schema[overlays/production]",
        "lint.podsecurity[manifests]",
        "lint.promtool.rules[alerts.rules.yml]",
        "lint.promtool.config",
        "lint.promtool.tests[alerts.test.yml]",
        "lint.amtool.config",
        "lint.routes[HighErrorRate]",
        "lint.routes.watchdog",
        "lint.routes.coverage",
        "lint.dashboard[system-overview.json]",
        "lint.alerts[meta.rules.yml]",
        "lint.rules.recording_used",
    ):
        assert expected in ids
    suite = ET.parse(junit_path).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == str(len(ids)) and suite.get("failures") == "0"
    assert [case.get("name") for case in suite.iter("testcase")] == ids


@needs_tools
@pytest.mark.binaries
def test_lint_renders_without_kubectl(tmp_path: Path) -> None:
    """With no kubectl on PATH, lint renders with its own renderer and still passes."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, path in TOOLS.items():
        (bin_dir / name).symlink_to(str(path))
    ran = run_lint("--manifests", str(MANIFESTS), env={"PATH": str(bin_dir)})
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "rendered with stackcheck's renderer (no kubectl on PATH)" in ran.stdout
    assert "kustomization.yaml (stackcheck renderer)" in ran.stdout


@needs_tools
@pytest.mark.binaries
def test_unsupported_kustomize_feature_without_kubectl_is_a_usage_error(copy: Path, tmp_path: Path) -> None:
    """A kustomize feature the renderer lacks, with no kubectl to fall back on, exits 2 naming kubectl."""
    edit_text(copy / "kustomization.yaml", "resources:", "namePrefix: x-\nresources:")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, path in TOOLS.items():
        (bin_dir / name).symlink_to(str(path))
    ran = run_lint("--manifests", str(copy), env={"PATH": str(bin_dir)})
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "kustomization.yaml: uses namePrefix" in ran.stderr and "kubectl" in ran.stderr


def test_missing_promtool_is_a_usage_error_with_the_apt_command(tmp_path: Path) -> None:
    """Without promtool and amtool, lint exits 2 naming them and the apt-get command."""
    env = {"PATH": str(tmp_path), "STACKCHECK_PROMTOOL_BIN": "", "STACKCHECK_AMTOOL_BIN": ""}
    ran = run_lint("--manifests", str(MANIFESTS), env=env)
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert (
        "promtool" in ran.stderr and "sudo apt-get install prometheus prometheus-alertmanager" in ran.stderr
    )


def test_a_directory_without_config_is_a_usage_error(tmp_path: Path) -> None:
    """--manifests pointing elsewhere exits 2 and says what is missing."""
    ran = run_lint("--manifests", str(tmp_path))
    assert ran.returncode == 2
    assert "is not a stackcheck manifests directory" in ran.stderr


# --------------------------------------------------------------------------- the renderer


@pytest.mark.parametrize("target", RENDER_TARGETS)
def test_python_renderer_matches_kubectl_kustomize(target: str) -> None:
    """stackcheck's renderer produces exactly kubectl kustomize's objects (kinds, names and bodies)."""
    kubectl = KUBECTL.find()
    if kubectl is None:
        pytest.skip("kubectl not on PATH: nothing to compare the Python renderer with")
    ours = {o.ref: o.body for o in render_python(MANIFESTS / target)}
    theirs = {object_ref(b): b for b in render_kubectl(kubectl, MANIFESTS / target)}
    assert sorted(ours) == sorted(theirs)
    differ = [ref for ref in ours if ours[ref] != theirs[ref]]
    assert not differ, f"bodies differ from kubectl's for {differ}"


def test_python_renderer_attributes_objects_to_their_files() -> None:
    """Each rendered object knows its file; generated ConfigMaps point at their kustomization; the kind
    overlay's patches are applied and recorded."""
    objects = {o.ref: o for o in render_python(MANIFESTS / "overlays" / "kind")}
    grafana = objects["Deployment/monitoring/grafana"]
    assert grafana.source == MANIFESTS / "grafana" / "grafana-deployment.yaml"
    config = objects["ConfigMap/monitoring/prometheus-rules"]
    assert config.source == MANIFESTS / "config" / "kustomization.yaml"
    assert set(config.body["data"]) == {"alerts.rules.yml", "meta.rules.yml", "recording.rules.yml"}
    assert config.body["metadata"]["labels"]["app.kubernetes.io/part-of"] == "stackcheck"
    namespace = objects["Namespace/monitoring"]
    assert namespace.body["metadata"]["labels"]["stackcheck.dev/allow-faults"] == "true"
    assert namespace.patched_by == [MANIFESTS / "overlays" / "kind" / "kustomization.yaml"]


def _kustomize(root: Path, doc: dict[str, Any], files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "kustomization.yaml").write_text(yaml.safe_dump(doc))
    for name, text in files.items():
        (root / name).write_text(text)
    return root


CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: ns}\ndata: {k: v}\n"


def test_generator_key_equals_path_and_patches_by_target(tmp_path: Path) -> None:
    """`key=path` names the ConfigMap key; JSON6902 add/replace/remove hit only the target object."""
    base = _kustomize(
        tmp_path,
        {
            "resources": ["a.yaml"],
            "configMapGenerator": [
                {
                    "name": "gen",
                    "namespace": "ns",
                    "files": ["renamed.txt=src.txt"],
                    "options": {"disableNameSuffixHash": True},
                }
            ],
            "patches": [
                {
                    "target": {"kind": "ConfigMap", "name": "a"},
                    "patch": "- {op: add, path: /data/x, value: y}\n- {op: remove, path: /data/k}",
                }
            ],
        },
        {"a.yaml": CM, "src.txt": "hello\n"},
    )
    objects = {o.ref: o.body for o in render_python(base)}
    assert objects["ConfigMap/ns/gen"]["data"] == {"renamed.txt": "hello\n"}
    assert objects["ConfigMap/ns/a"]["data"] == {"x": "y"}


@pytest.mark.parametrize(
    ("doc", "error", "words"),
    [
        pytest.param(
            {"resources": ["a.yaml"], "namePrefix": "x-"}, UnsupportedFeature, "uses namePrefix", id="prefix"
        ),
        pytest.param(
            {"resources": ["a.yaml"], "configMapGenerator": [{"name": "g", "files": ["a.yaml"]}]},
            UnsupportedFeature,
            "disableNameSuffixHash",
            id="hash-suffix",
        ),
        pytest.param(
            {
                "resources": ["a.yaml"],
                "patches": [
                    {"target": {"kind": "Secret", "name": "a"}, "patch": "- {op: remove, path: /data}"}
                ],
            },
            RenderError,
            "matches no object",
            id="patch-misses",
        ),
        pytest.param({"resources": ["a.yaml", "a.yaml"]}, RenderError, "defined twice", id="duplicate"),
        pytest.param({"resources": ["missing.yaml"]}, RenderError, "does not exist", id="missing-file"),
    ],
)
def test_renderer_refuses_what_it_cannot_render(
    tmp_path: Path, doc: dict[str, Any], error: type[Exception], words: str
) -> None:
    """Unsupported features, patches that miss and duplicate objects fail with the kustomization named."""
    base = _kustomize(tmp_path, doc, {"a.yaml": CM})
    with pytest.raises(error, match=words):
        render_python(base)


def test_json6902_operations_follow_rfc6902() -> None:
    """add inserts into lists (or appends with -), replace needs an existing path, ~1 is a slash."""
    doc: dict[str, Any] = {"a": [1, 3], "m": {"x/y": 1}}
    apply_operation(doc, {"op": "add", "path": "/a/1", "value": 2})
    apply_operation(doc, {"op": "add", "path": "/a/-", "value": 4})
    apply_operation(doc, {"op": "replace", "path": "/m/x~1y", "value": 2})
    assert doc == {"a": [1, 2, 3, 4], "m": {"x/y": 2}}
    with pytest.raises(KeyError):
        apply_operation(doc, {"op": "replace", "path": "/m/absent", "value": 1})
    with pytest.raises(UnsupportedFeature):
        apply_operation(doc, {"op": "move", "from": "/a", "path": "/b"})


# ------------------------------------------------------------- schemas, Pod Security, promtool copy


def test_schema_problem_names_the_unknown_field_and_its_path() -> None:
    """An unknown field is reported with its path, once for all supported versions."""
    body = yaml.safe_load((MANIFESTS / "grafana" / "grafana-deployment.yaml").read_text())
    body["spec"]["template"]["spec"]["containers"][0]["bogus"] = 1
    versions = ", ".join(KUBERNETES_VERSIONS)
    assert schema_problems(body) == [
        f"spec.template.spec.containers[0]: unknown field 'bogus' (Kubernetes {versions})"
    ]


def test_pod_security_exception_covers_only_its_documented_rules() -> None:
    """node-exporter may use host namespaces, paths and ports, but a privileged container still fails."""
    node_exporter = yaml.safe_load((MANIFESTS / "node-exporter" / "node-exporter-daemonset.yaml").read_text())
    assert {v.rule for v in violations(node_exporter)} == {"hostNetwork", "hostPID", "hostPath", "hostPort"}
    assert unexcused_violations(node_exporter) == []
    node_exporter["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    assert [str(v) for v in unexcused_violations(node_exporter)] == ["container node-exporter: privileged"]


def test_promtool_copy_keeps_relabels_and_points_credentials_at_a_real_file() -> None:
    """The checkable copy swaps Kubernetes SD for a static target and nothing else that matters."""
    config = yaml.safe_load((MANIFESTS / "config" / "prometheus" / "prometheus.yml").read_text())
    out = checkable_copy(config, Path("/m/config/prometheus"), Path("/tmp/token"))
    jobs = {j["job_name"]: j for j in out["scrape_configs"]}
    assert "kubernetes_sd_configs" not in json.dumps(out)
    assert jobs["cadvisor"]["static_configs"] == [{"targets": ["127.0.0.1:9"]}]
    assert jobs["cadvisor"]["authorization"]["credentials_file"] == "/tmp/token"
    assert (
        jobs["phase5"]["relabel_configs"]
        == {j["job_name"]: j for j in config["scrape_configs"]}["phase5"]["relabel_configs"]
    )
    assert out["rule_files"] == ["/m/config/prometheus/rules/*.rules.yml"]
    assert out["alerting"]["alertmanagers"][0]["static_configs"] == [{"targets": ["127.0.0.1:9"]}]
