"""The Kubernetes fault driver against the Kubernetes API double (tests/kubefake.py).

Each test states one requirement. Every inject must change only what it says, marked with the run
id. Every clear must restore the original exactly. Cleanup must touch only annotated objects.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stackcheck.errors import ApiError, Unauthorized, UsageError
from stackcheck.faults import kubernetes as kf
from stackcheck.inventory import ALERTS
from stackcheck.kube.errors import ProxyError
from stackcheck.targets.base import Target
from stackcheck.targets.kubernetes import kubernetes_target
from tests.kubefake import KubeFake, kube_of

TOKEN = "kube-token-1c9e4b7f20"
RUN = "stackcheck-0a1b2c3d4e"
OTHER_RUN = "stackcheck-ffffeeee00"
HPA = ("horizontalpodautoscalers", "phase5", "phase5-backend")


@pytest.fixture
def fake() -> Iterator[KubeFake]:
    with KubeFake(TOKEN, allow_faults=("phase5", "monitoring")) as double:
        yield double


@pytest.fixture
def target(fake: KubeFake, tmp_path: Path) -> Target:
    """The kubernetes target on the double (two Running probe pods, HPA 2..4 at 2 replicas)."""
    home = tmp_path / "home"
    home.mkdir()
    config = fake.write_kubeconfig(tmp_path / "config")
    return kubernetes_target(None, str(config), environ={"HOME": str(home)})


def _switches(fake: KubeFake) -> dict[str, dict[str, Any]]:
    return {name: fake.probes[name].faults.to_json() for name in fake.probe_pod_names()}


def _kept(obj: dict[str, Any]) -> dict[str, Any]:
    """What a revert must restore exactly: labels, annotations and spec."""
    meta = obj["metadata"]
    kept = {"labels": meta.get("labels"), "annotations": meta.get("annotations"), "spec": obj["spec"]}
    return copy.deepcopy(kept)


def _created(fake: KubeFake, resource: str) -> dict[str, Any]:
    (call,) = [r for r in fake.calls("POST", f"/{resource}") if "/proxy" not in r.path]
    body: dict[str, Any] = call.body
    return body


# -- the table ------------------------------------------------------------------------------------------

def test_every_reference_alert_but_disk_has_a_kubernetes_fault() -> None:
    """K8S_FAULTS covers every reference alert except DiskSpaceLow (a node's disk) and Watchdog (no fault)."""
    assert set(kf.K8S_FAULTS) == set(ALERTS) - {"DiskSpaceLow", "Watchdog"}


def test_fault_on_a_non_kubernetes_target_is_a_usage_error() -> None:
    """Calling a kubernetes fault on another target says it needs --target kubernetes."""
    inject, _ = kf.K8S_FAULTS["HPAMaxedOut"]
    with pytest.raises(UsageError, match="not --target kubernetes"):
        inject(Target(name="local", description="", endpoints={}), RUN)


# -- probe switches -------------------------------------------------------------------------------------

@pytest.mark.parametrize("alert", list(kf.PROBE_SWITCHES))
def test_switch_fault_reaches_every_probe_pod_and_clears(fake: KubeFake, target: Target, alert: str) -> None:
    """A switch fault reaches every probe pod, with the run id, through the pod proxy; clear turns it off."""
    inject, clear = kf.K8S_FAULTS[alert]
    inject(target, RUN)
    switches = kf.PROBE_SWITCHES[alert]
    for name, state in _switches(fake).items():
        assert state["faults"] == switches, name
        assert set(state["run_ids"].values()) == {RUN}
    posted = sorted(r.path for r in fake.calls("POST", "/proxy/faults"))
    assert posted == [f"/api/v1/namespaces/phase5/pods/{n}:8080/proxy/faults" for n in fake.probe_pod_names()]
    assert not [r for r in fake.calls("POST") if "/services/" in r.path]  # a Service reaches only one pod
    clear(target, RUN)
    assert all(state == {"faults": {}, "run_ids": {}} for state in _switches(fake).values())


def test_cpu_burn_on_one_pod_only(fake: KubeFake, target: Target) -> None:
    """HighCPUUsage sets cpu_burn on one probe pod (a per-pod alert), and clear turns it off everywhere."""
    inject, clear = kf.K8S_FAULTS["HighCPUUsage"]
    inject(target, RUN)
    burning = [n for n, s in _switches(fake).items() if s["faults"].get("cpu_burn")]
    assert burning == fake.probe_pod_names()[:1]
    clear(target, RUN)
    assert not any(s["faults"] for s in _switches(fake).values())


def test_memory_hog_is_sized_from_the_deployment_limit(fake: KubeFake, target: Target) -> None:
    """HighMemoryUsage asks for 90 % of the Deployment's memory limit minus the probe's baseline."""
    inject, _ = kf.K8S_FAULTS["HighMemoryUsage"]
    inject(target, RUN)
    first = fake.probe_pod_names()[0]
    assert _switches(fake)[first]["faults"] == {"memory_hog_mb": round(256 * 0.9) - kf.PROBE_BASELINE_MIB}


def test_memory_hog_follows_a_changed_limit(fake: KubeFake, target: Target) -> None:
    """A fork that raises the limit to 1Gi gets a proportionally larger hog."""
    deployment = fake.objects[("deployments", "phase5", "phase5-backend")]
    deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = "1Gi"
    kf.K8S_FAULTS["HighMemoryUsage"][0](target, RUN)
    assert _switches(fake)[fake.probe_pod_names()[0]]["faults"]["memory_hog_mb"] == round(1024 * 0.9) - 24


def test_memory_fault_without_a_limit_says_why_it_cannot_fire(fake: KubeFake, target: Target) -> None:
    """No memory limit on the probe: HighMemoryUsage cannot fire, and the error says so."""
    deployment = fake.objects[("deployments", "phase5", "phase5-backend")]
    del deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
    with pytest.raises(ApiError, match="has no memory limit"):
        kf.K8S_FAULTS["HighMemoryUsage"][0](target, RUN)


def test_cpu_fault_refuses_a_limit_one_thread_cannot_reach(fake: KubeFake, target: Target) -> None:
    """A CPU limit of 2 cores is refused: one burning thread cannot reach 80 % of it."""
    deployment = fake.objects[("deployments", "phase5", "phase5-backend")]
    deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "2"
    with pytest.raises(ApiError, match="cannot reach 80 %"):
        kf.K8S_FAULTS["HighCPUUsage"][0](target, RUN)


@pytest.mark.parametrize(("text", "value"), [
    ("256Mi", 256 * 2**20), ("1Gi", 2**30), ("500m", 0.5), ("2", 2.0), ("1.5", 1.5), ("128M", 128e6),
    ("1e3", 1000.0), (268435456, 268435456.0),
])
def test_quantities_parse_like_kubernetes(text: str | int, value: float) -> None:
    """Resource quantities parse with binary, decimal and milli suffixes."""
    assert kf.parse_quantity(text) == value


def test_no_probe_pod_names_the_selector_and_namespace(fake: KubeFake, target: Target) -> None:
    """Without a Running probe pod a switch fault fails naming the label selector and namespace."""
    for name in fake.probe_pod_names():
        fake.objects[("pods", "phase5", name)]["status"]["phase"] = "Pending"
    with pytest.raises(ApiError, match=r"no Running pod with label app.kubernetes.io/name=phase5-backend in "
                                       r"namespace phase5"):
        kf.K8S_FAULTS["HighErrorRate"][0](target, RUN)


def test_pod_proxy_unavailable_points_at_network_policy(fake: KubeFake, target: Target) -> None:
    """A 503 from the pod proxy (API server cannot dial the pod) quotes the API server and names
    NetworkPolicy."""
    fake.pod_proxy_status = 503
    with pytest.raises(ProxyError,
                       match=r"HTTP 503 ServiceUnavailable: error trying to reach service.*NetworkPolicy"):
        kf.K8S_FAULTS["HighErrorRate"][0](target, RUN)


def test_clear_reaches_every_pod_even_when_one_fails(fake: KubeFake, target: Target) -> None:
    """Clearing still turns the switch off on the pods it can reach, then reports the one it could not."""
    inject, clear = kf.K8S_FAULTS["HighErrorRate"]
    inject(target, RUN)
    first, second = fake.probe_pod_names()
    del fake.probes[first]  # the first pod no longer answers on its port
    with pytest.raises(ProxyError, match=first):
        clear(target, RUN)
    assert fake.probes[second].faults.to_json() == {"faults": {}, "run_ids": {}}


def test_memory_clear_needs_no_limit(fake: KubeFake, target: Target) -> None:
    """Clearing HighMemoryUsage works even if the Deployment's limit has gone in the meantime."""
    inject, clear = kf.K8S_FAULTS["HighMemoryUsage"]
    inject(target, RUN)
    deployment = fake.objects[("deployments", "phase5", "phase5-backend")]
    del deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    clear(target, RUN)
    assert all(state["faults"] == {} for state in _switches(fake).values())


# -- the HPA (patched) ----------------------------------------------------------------------------------

def test_hpa_fault_clamps_max_replicas_with_run_marks(fake: KubeFake, target: Target) -> None:
    """HPAMaxedOut patches maxReplicas down to the current replicas and records the run and the original."""
    kf.K8S_FAULTS["HPAMaxedOut"][0](target, RUN)
    hpa = fake.objects[HPA]
    assert hpa["spec"]["maxReplicas"] == 2 == hpa["status"]["currentReplicas"]
    original = '{"spec": {"maxReplicas": 4}}'
    marks = {k: v for k, v in hpa["metadata"]["annotations"].items() if k.startswith("stackcheck.dev/")}
    assert marks == {kf.RUN_KEY: RUN, kf.ORIGINAL_ANNOTATION: original}
    assert hpa["metadata"]["labels"][kf.RUN_KEY] == RUN
    (patch,) = fake.calls("PATCH", "/horizontalpodautoscalers/phase5-backend")
    assert patch.content_type == "application/strategic-merge-patch+json"
    assert patch.query["fieldManager"] == ["stackcheck"]


def test_hpa_clear_restores_the_original_exactly(fake: KubeFake, target: Target) -> None:
    """Clearing HPAMaxedOut restores maxReplicas and leaves labels and annotations as they were."""
    before = _kept(fake.objects[HPA])
    inject, clear = kf.K8S_FAULTS["HPAMaxedOut"]
    inject(target, RUN)
    clear(target, RUN)
    assert _kept(fake.objects[HPA]) == before


def test_hpa_clear_of_another_run_changes_nothing(fake: KubeFake, target: Target) -> None:
    """Clearing with another run id leaves the HPA alone (never undo what this run did not do)."""
    inject, clear = kf.K8S_FAULTS["HPAMaxedOut"]
    inject(target, RUN)
    during = _kept(fake.objects[HPA])
    clear(target, OTHER_RUN)
    assert _kept(fake.objects[HPA]) == during


def test_hpa_left_faulted_by_another_run_is_refused(fake: KubeFake, target: Target) -> None:
    """An HPA still carrying another run's fault is not faulted on top; the error says to run cleanup."""
    kf.K8S_FAULTS["HPAMaxedOut"][0](target, OTHER_RUN)
    with pytest.raises(UsageError, match=rf"still carries the fault of run {OTHER_RUN}.*stackcheck cleanup"):
        kf.K8S_FAULTS["HPAMaxedOut"][0](target, RUN)


def test_forbidden_patch_is_unauthorized_naming_the_verb(fake: KubeFake, target: Target) -> None:
    """A 403 on the patch is Unauthorized, naming the object and that RBAC must allow the patch."""
    fake.forbid.add(("patch", "horizontalpodautoscalers"))
    with pytest.raises(Unauthorized, match=r"patch horizontalpodautoscaler phase5/phase5-backend .*RBAC"):
        kf.K8S_FAULTS["HPAMaxedOut"][0](target, RUN)


# -- created objects ------------------------------------------------------------------------------------

def test_pod_down_creates_a_never_ready_pod_and_clear_deletes_it(fake: KubeFake, target: Target) -> None:
    """PodDown creates a marked pod whose readiness probe aims at a closed port; clear deletes it."""
    inject, clear = kf.K8S_FAULTS["PodDown"]
    inject(target, RUN)
    pod = fake.objects[("pods", "phase5", kf.POD_DOWN_POD)]
    container = pod["spec"]["containers"][0]
    assert container["readinessProbe"]["tcpSocket"] == {"port": 8080}
    assert container["command"] == kf.IDLE
    assert pod["metadata"]["annotations"][kf.RUN_KEY] == RUN
    assert pod["metadata"]["annotations"][kf.CREATED_ANNOTATION] == "true"
    assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == "stackcheck-fault"  # not the probe's
    # Not scraped (job phase5 keeps annotated pods with declared ports), so up == 0 adds no alert.
    assert not any(k.startswith("prometheus.io/") for k in pod["metadata"]["annotations"])
    assert "ports" not in container
    clear(target, RUN)
    assert ("pods", "phase5", kf.POD_DOWN_POD) not in fake.objects


def test_fault_pods_copy_the_probe_security_context(fake: KubeFake, target: Target) -> None:
    """Fault pods copy the probe's image and security contexts, so they pass the namespace's Pod Security."""
    kf.K8S_FAULTS["PodRestartingTooOften"][0](target, RUN)
    spec = _created(fake, "pods")["spec"]
    probe = fake.objects[("deployments", "phase5", "phase5-backend")]["spec"]["template"]["spec"]
    assert spec["securityContext"] == probe["securityContext"]
    assert spec["containers"][0]["securityContext"] == probe["containers"][0]["securityContext"]
    assert spec["containers"][0]["image"] == probe["containers"][0]["image"]
    assert spec["automountServiceAccountToken"] is False


def test_restart_pod_crashes_once_then_idles(fake: KubeFake, target: Target) -> None:
    """PodRestartingTooOften creates a pod whose container exits once (marker in an emptyDir), then idles."""
    inject, clear = kf.K8S_FAULTS["PodRestartingTooOften"]
    inject(target, RUN)
    spec = fake.objects[("pods", "phase5", kf.RESTART_POD)]["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["containers"][0]["command"] == kf.CRASH_ONCE
    assert {"name": "tmp", "mountPath": "/tmp"} in spec["containers"][0]["volumeMounts"]
    assert "emptyDir" in spec["volumes"][0]
    clear(target, RUN)
    assert ("pods", "phase5", kf.RESTART_POD) not in fake.objects


def test_replica_mismatch_deployment_allows_one_of_two_pods(fake: KubeFake, target: Target) -> None:
    """DeploymentReplicaMismatch creates 2 replicas that repel each other on kubernetes.io/os: 1 can run."""
    inject, clear = kf.K8S_FAULTS["DeploymentReplicaMismatch"]
    inject(target, RUN)
    body = fake.objects[("deployments", "phase5", kf.MISMATCH_DEPLOYMENT)]
    assert body["spec"]["replicas"] == 2
    (term,) = body["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/os"
    selector = body["spec"]["selector"]["matchLabels"]
    assert term["labelSelector"]["matchLabels"] == selector
    assert selector.items() <= body["spec"]["template"]["metadata"]["labels"].items()
    clear(target, RUN)
    assert ("deployments", "phase5", kf.MISMATCH_DEPLOYMENT) not in fake.objects
    (delete,) = fake.calls("DELETE", f"/deployments/{kf.MISMATCH_DEPLOYMENT}")
    assert delete.query["propagationPolicy"] == ["Background"]  # the fault's pods go with it


def test_clear_of_another_run_leaves_a_created_object(fake: KubeFake, target: Target) -> None:
    """Clearing with another run id does not delete the fault pod this run created."""
    inject, clear = kf.K8S_FAULTS["PodDown"]
    inject(target, RUN)
    clear(target, OTHER_RUN)
    assert ("pods", "phase5", kf.POD_DOWN_POD) in fake.objects


def test_existing_fault_object_of_another_run_is_refused(fake: KubeFake, target: Target) -> None:
    """A fault pod left by another run is not reused; the error names the run and says to run cleanup."""
    kf.K8S_FAULTS["PodDown"][0](target, OTHER_RUN)
    with pytest.raises(UsageError, match=rf"left by run {OTHER_RUN}.*stackcheck cleanup"):
        kf.K8S_FAULTS["PodDown"][0](target, RUN)


def test_unmarked_object_with_the_fault_name_is_never_deleted(fake: KubeFake, target: Target) -> None:
    """An object stackcheck did not create, even under a fault's name, is refused and never deleted."""
    fake.put("pods", "phase5", {"metadata": {"name": kf.POD_DOWN_POD}, "spec": {"containers": []}})
    with pytest.raises(UsageError, match="stackcheck did not create it"):
        kf.K8S_FAULTS["PodDown"][0](target, RUN)
    kf.K8S_FAULTS["PodDown"][1](target, RUN)
    assert ("pods", "phase5", kf.POD_DOWN_POD) in fake.objects


# -- cleanup --------------------------------------------------------------------------------------------

def test_revert_leftovers_restores_patched_and_leaves_unannotated(fake: KubeFake, target: Target) -> None:
    """revert_leftovers restores the patched HPA, deletes created fault objects, clears the switches,
    and leaves an object without the annotation untouched (even one carrying the label)."""
    before = _kept(fake.objects[HPA])
    for alert in ("HPAMaxedOut", "PodDown", "DeploymentReplicaMismatch", "HighErrorRate"):
        kf.K8S_FAULTS[alert][0](target, RUN)  # a run killed before it could clear
    stranger = fake.put("pods", "phase5", {"metadata": {"name": "labelled-only", "labels": {kf.RUN_KEY: RUN}},
                                           "spec": {"containers": []}, "status": {"phase": "Running"}})
    lines = kf.revert_leftovers(kube_of(target))
    assert _kept(fake.objects[HPA]) == before
    assert ("pods", "phase5", kf.POD_DOWN_POD) not in fake.objects
    assert ("deployments", "phase5", kf.MISMATCH_DEPLOYMENT) not in fake.objects
    assert fake.objects[("pods", "phase5", "labelled-only")] == stranger
    assert all(state["faults"] == {} for state in _switches(fake).values())
    assert any("restored HorizontalPodAutoscaler phase5/phase5-backend" in line for line in lines)
    assert any(f"deleted Pod phase5/{kf.POD_DOWN_POD} created by run {RUN}" in line for line in lines)
    assert any(f"cleared probe switches of run {RUN}" in line for line in lines)
    assert kf.revert_leftovers(kube_of(target)) == []  # nothing left the second time


def test_switch_to_a_pod_without_ip_quotes_address_not_allowed(fake: KubeFake, target: Target) -> None:
    """A probe pod the kubelet reports Running but without an IP yet: the pod proxy answers 400 "address not
    allowed" (contracts b1), and the error quotes the API server, not the probe."""
    first = fake.probe_pod_names()[0]
    fake.objects[("pods", "phase5", first)]["status"].pop("podIP")
    with pytest.raises(ProxyError,
                       match=r"through its pod proxy \(HTTP 400 BadRequest: address not allowed\); "
                                         r"the pod has no IP yet"):
        kf.K8S_FAULTS["HighErrorRate"][0](target, RUN)


def test_switch_that_does_not_take_fails_naming_the_pod_and_switch(
        fake: KubeFake, target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    """A POST answered 200 that changed nothing (a proxy that lost the body) fails loudly after read-back."""
    from stackcheck.clients.probe import FaultNotApplied

    def lost_body(self: object, method: str, query: dict[str, list[str]], body: object) -> tuple[int, object]:
        return 200, {"faults": {}, "run_ids": {}}

    monkeypatch.setattr("tests.kubefake.ProbePod.handle", lost_body)
    inject, _ = kf.K8S_FAULTS["HighErrorRate"]
    with pytest.raises(FaultNotApplied, match=r"probe pod phase5/\S+ did not take .*error_rate"):
        inject(target, RUN)
