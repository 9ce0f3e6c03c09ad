"""``stackcheck deploy`` where PodSecurity admission has a say (the double's model:
tests/kubefake_podsecurity.py, from contracts j1-j8 and the real 1.36 server).

The shipped manifests meet their namespaces' levels; each test edits a copy so that one object does not.
"""
from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackcheck.deploy.admission import refused_by_admission
from stackcheck.errors import ExitCode
from stackcheck.kube.access import warning_text
from stackcheck.kube.apply import PodSecurityRejected
from tests.deployfake import Cluster, cluster

MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"
NODE_EXPORTER_WARNING = (
    'would violate PodSecurity "restricted:latest": host namespaces (hostNetwork=true, hostPID=true), '
    'hostPort (container "node-exporter" uses hostPort 9100), restricted volume types (volumes "sys", "root" '
    'use restricted volume type "hostPath")')
FIX = "set the securityContext fields listed above in the pod (template), or, if the pod really needs"


@pytest.fixture
def kind(tmp_path: Path) -> Iterator[Cluster]:
    yield from cluster(tmp_path)


def _edited(tmp_path: Path, relative: str, change: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of manifests/ with one YAML file changed."""
    copy = tmp_path / "manifests"
    if not copy.exists():
        shutil.copytree(MANIFESTS, copy)
    path = copy / relative
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return copy


def _warn_restricted(doc: dict[str, Any]) -> None:
    doc["metadata"]["labels"]["pod-security.kubernetes.io/warn"] = "restricted"


def _no_security_context(doc: dict[str, Any]) -> None:
    spec = doc["spec"]["template"]["spec"]
    spec.pop("securityContext", None)
    for container in spec["containers"]:
        container.pop("securityContext", None)


def test_a_warning_header_is_shown_once_naming_the_object(kind: Cluster, tmp_path: Path) -> None:
    """monitoring-agents warns at restricted: node-exporter's apply prints the server's Warning once."""
    copy = _edited(tmp_path, "setup/monitoring-agents-namespace.yaml", _warn_restricted)
    code, out = kind.deploy(wait=False, manifests=str(copy))
    assert code == 0
    line = ("warning from the API server on DaemonSet monitoring-agents/node-exporter: "
            f"{NODE_EXPORTER_WARNING}")
    assert out.replace("\n", "").count(line) == 1


def test_the_json_report_keeps_each_objects_warnings(kind: Cluster, tmp_path: Path) -> None:
    """--json: the row of the warned object lists the warning text; other rows none."""
    copy = _edited(tmp_path, "setup/monitoring-agents-namespace.yaml", _warn_restricted)
    report = tmp_path / "deploy.json"
    kind.deploy(wait=False, manifests=str(copy), json_path=str(report))
    rows = json.loads(report.read_text())["objects"]
    warned = {r["name"]: r["warnings"] for r in rows if r["warnings"]}
    assert warned == {"node-exporter": [NODE_EXPORTER_WARNING]}


def test_the_shipped_manifests_draw_no_warning(kind: Cluster) -> None:
    """Every pod the overlay renders meets its namespace's warn level (the enforce level, by default)."""
    _, out = kind.deploy(wait=False)
    assert "warning from the API server" not in out


def test_pods_refused_by_podsecurity_fail_the_wait_at_once(kind: Cluster, tmp_path: Path) -> None:
    """A Deployment whose pods PodSecurity refuses (ReplicaFailure) is Failed: no waiting out the budget."""
    copy = _edited(tmp_path, "blackbox-exporter/blackbox-exporter-deployment.yaml", _no_security_context)
    code, out = kind.deploy(manifests=str(copy), timeout_s=300)
    assert code == ExitCode.CHECK_FAILED
    assert kind.clock.now - 1000.0 < 10
    assert ("Deployment monitoring/blackbox-exporter: Failed: PodSecurity refused its pods (FailedCreate): "
            'pods "blackbox-exporter-') in out


def test_the_diagnosis_quotes_the_replicasets_event_and_gives_the_fix(kind: Cluster, tmp_path: Path) -> None:
    """The FailedCreate event is the ReplicaSet's; the diagnosis shows it and how to fix it."""
    copy = _edited(tmp_path, "blackbox-exporter/blackbox-exporter-deployment.yaml", _no_security_context)
    _, out = kind.deploy(manifests=str(copy), timeout_s=300)
    text = out.replace("\n", "")
    assert re.search(r'ReplicaSet blackbox-exporter-\w+: Warning FailedCreate: (\(combined from similar '
                     r'events\): )?Error creating: pods "blackbox-exporter-', text)
    assert ('fix: namespace monitoring enforces Pod Security "restricted:latest" (label '
            f"pod-security.kubernetes.io/enforce): {FIX}") in text


def test_the_diagnosis_shows_the_controllers_retries_once(kind: Cluster, tmp_path: Path) -> None:
    """Nine refusals and their "(combined from similar events)" differ only in the pod name: one line."""
    copy = _edited(tmp_path, "blackbox-exporter/blackbox-exporter-deployment.yaml", _no_security_context)
    _, out = kind.deploy(manifests=str(copy), timeout_s=300)
    assert out.count("ReplicaSet blackbox-exporter-") == 1
    assert len(kind.fake.of_kind("events", "monitoring")) > 10  # the double did write the burst


def test_a_statefulset_whose_pods_are_refused_fails_from_its_event(kind: Cluster, tmp_path: Path) -> None:
    """A StatefulSet has no condition for it; its FailedCreate event ends the wait at once."""
    copy = _edited(tmp_path, "loki/loki-statefulset.yaml", _no_security_context)
    code, out = kind.deploy(manifests=str(copy), timeout_s=300)
    assert code == ExitCode.CHECK_FAILED and kind.clock.now - 1000.0 < 10
    text = out.replace("\n", "")
    assert ("StatefulSet monitoring/loki: Failed: PodSecurity refused its pods (FailedCreate event): Create "
            'Pod loki-0 in StatefulSet loki failed error: pods "loki-0" is forbidden') in text


def test_a_daemonset_whose_pods_are_refused_fails_from_its_event(kind: Cluster) -> None:
    """The DaemonSet controller's FailedCreate (its text as the real server wrote it for node-exporter in
    an enforce=restricted namespace, with a node registered; the double has no node) fails the wait."""
    kind.deploy(wait=False)
    from stackcheck.kube.config import load_access

    live = kind.fake.get("daemonsets", "monitoring-agents", "node-exporter")
    assert live is not None
    kind.fake._event(live, "FailedCreate", (
        'Error creating: pods "node-exporter-7q8h4" is forbidden: violates PodSecurity "restricted:latest": '
        'host namespaces (hostNetwork=true, hostPID=true), hostPort (container "node-exporter" uses hostPort '
        '9100), restricted volume types (volumes "sys", "root" use restricted volume type "hostPath")'))
    result = refused_by_admission(load_access(None, str(kind.kubeconfig), environ=kind.env), live)
    assert result is not None and result.status == "Failed"
    assert result.message.startswith("PodSecurity refused its pods (FailedCreate event): Error creating: "
                                     'pods "node-exporter-7q8h4" is forbidden')


def test_an_event_older_than_the_last_write_is_not_trusted(kind: Cluster, tmp_path: Path) -> None:
    """A FailedCreate from before the object's last write may describe a template fixed since."""
    copy = _edited(tmp_path, "loki/loki-statefulset.yaml", _no_security_context)
    kind.deploy(manifests=str(copy), wait=False)
    from stackcheck.kube.config import load_access

    kube = load_access(None, str(kind.kubeconfig), environ=kind.env)
    live = kind.fake.get("statefulsets", "monitoring", "loki")
    assert live is not None and refused_by_admission(kube, live) is not None
    for entry in live["metadata"]["managedFields"]:
        entry["time"] = "2099-01-01T00:00:00Z"
    assert refused_by_admission(kube, live) is None


def test_once_the_template_is_fixed_old_refusals_do_not_fail_the_wait(kind: Cluster, tmp_path: Path) -> None:
    """The refused ReplicaSet and the StatefulSet's FailedCreate events outlive the fix; the next deploy
    waits for the rollout instead of failing on them."""
    copy = _edited(tmp_path, "blackbox-exporter/blackbox-exporter-deployment.yaml", _no_security_context)
    copy = _edited(tmp_path, "loki/loki-statefulset.yaml", _no_security_context)
    kind.deploy(manifests=str(copy), wait=False)
    _, out = kind.deploy(timeout_s=30)
    assert ": Failed:" not in out
    assert "Deployment monitoring/blackbox-exporter: InProgress: ReplicaFailure FailedCreate of an older " \
           "ReplicaSet" in out
    assert "StatefulSet monitoring/loki: InProgress: Ready: 0/1" in out


def _bare_pod(tmp_path: Path) -> Path:
    copy = _edited(tmp_path, "probe/kustomization.yaml", lambda k: k["resources"].append("debug-pod.yaml"))
    (copy / "probe" / "debug-pod.yaml").write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "debug", "namespace": "phase5"},
        "spec": {"hostNetwork": True, "containers": [{"name": "c", "image": "registry.invalid/x:1"}]}}))
    return copy


def test_a_pod_podsecurity_refuses_is_one_usage_error_naming_it(kind: Cluster, tmp_path: Path) -> None:
    """A bare Pod the namespace's level refuses: exit 2, the object, the server's 403 and the fix."""
    with pytest.raises(PodSecurityRejected) as refused:
        kind.deploy(wait=False, manifests=str(_bare_pod(tmp_path)))
    message = str(refused.value)
    assert refused.value.exit_code == ExitCode.USAGE
    assert message.startswith('PodSecurity admission refused Pod phase5/debug (HTTP 403 Forbidden: pods '
                              '"debug" is forbidden: violates PodSecurity "restricted:latest": host '
                              "namespaces (hostNetwork=true), allowPrivilegeEscalation != false")
    assert message.endswith(f"{FIX} what it asks for, lower that label on the namespace or run the pod in a "
                            "namespace that allows it")
    assert kind.fake.get("pods", "phase5", "debug") is None


def test_a_dry_run_meets_the_same_refusal(kind: Cluster, tmp_path: Path) -> None:
    """--dry-run=server runs admission too, so the refusal shows before anything changes."""
    kind.deploy(wait=False)
    with pytest.raises(PodSecurityRejected):
        kind.deploy(dry_run=True, manifests=str(_bare_pod(tmp_path)))


def test_a_refused_deploy_is_recorded_in_the_json_report(kind: Cluster, tmp_path: Path) -> None:
    """--json: result "rejected" and the message."""
    report = tmp_path / "deploy.json"
    with pytest.raises(PodSecurityRejected):
        kind.deploy(wait=False, manifests=str(_bare_pod(tmp_path)), json_path=str(report))
    doc = json.loads(report.read_text())
    assert doc["result"] == "rejected"
    assert doc["error"].startswith("PodSecurity admission refused Pod phase5/debug")


def test_warning_text_unquotes_the_header() -> None:
    """A Warning header's text, as j4 sent it, without code, agent and escapes."""
    from tests.kubefake_cluster import response

    header = response("j4_podsecurity_warn_noncompliant_deployment")[2][0]
    assert warning_text(header).startswith('would violate PodSecurity "restricted:latest": host namespaces '
                                           "(hostNetwork=true), allowPrivilegeEscalation != false "
                                           '(container "c"')
