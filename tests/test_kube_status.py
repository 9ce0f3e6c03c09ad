"""The kstatus port on the real status bodies a 1.36 API server with no node produced
(tests/contracts/kubernetes)."""
from __future__ import annotations

import pytest

from stackcheck.kube.status import compute
from tests.kubefake_cluster import body


@pytest.mark.parametrize(("fixture", "status", "message"), [
    ("g1_deployment_grafana", "Failed",
     'Progress deadline exceeded: ReplicaSet "grafana-56b88749f7" has timed out'),
    ("g1a_deployment_grafana_within_deadline", "InProgress", "Available: 0/1"),
    ("g2_statefulset_prometheus", "InProgress", "Ready: 0/1"),
    ("g11_daemonset_alloy", "Current", "All replicas scheduled as expected. Replicas: 0"),
    ("g6_pvc_pending_no_storageclass", "InProgress", "PVC is not Bound. phase: Pending"),
    ("g4_pod_pending_grafana", "InProgress", "Pod is not scheduled (Unschedulable): no nodes available"),
    ("h1_delete_namespace", "Terminating", "Resource scheduled for deletion"),
    ("d0_create_namespace", "Current", "Namespace is Active"),
    ("g9_hpa_phase5_backend", "Current", "Resource is current"),
    ("j8_deployment_noncompliant_status", "Failed",
     ('PodSecurity refused its pods (FailedCreate): pods "psa-noncompliant-656f4c686c-zddw8" is forbidden: '
      'violates PodSecurity "restricted:latest": host namespaces (hostNetwork=true)')),
    ("j6_replicaset_pods_rejected", "Failed", "PodSecurity refused its pods (FailedCreate): pods"),
    ("g3_replicaset_grafana", "InProgress", "Available: 0/1"),
])
def test_kstatus_reads_real_status_bodies(fixture: str, status: str, message: str) -> None:
    """Each captured object gets kstatus' verdict, with a message that says why."""
    result = compute(body(fixture))
    assert result.status == status and result.message.startswith(message)


def test_a_missing_object_is_not_found() -> None:
    """No object: NotFound."""
    assert compute(None).status == "NotFound"


def test_an_unobserved_generation_is_in_progress() -> None:
    """A status the controller wrote for an older generation cannot be trusted yet."""
    deployment = body("g1a_deployment_grafana_within_deadline")
    deployment["metadata"]["generation"] = 2
    assert compute(deployment).message == "Deployment generation is 2, but latest observed generation is 1"


def test_a_rollout_with_terminating_pods_is_not_done() -> None:
    """status.terminatingReplicas > 0 keeps a finished-looking Deployment InProgress (pods still
    Terminating)."""
    deployment = body("g1a_deployment_grafana_within_deadline")
    deployment["status"].update(readyReplicas=1, availableReplicas=1, unavailableReplicas=0,
                                terminatingReplicas=1, conditions=[{"type": "Available", "status": "True"},
                                            {"type": "Progressing", "status": "True",
                                             "reason": "NewReplicaSetAvailable"}])
    assert compute(deployment).message == "Terminating: 1"
    deployment["status"]["terminatingReplicas"] = 0
    assert compute(deployment).status == "Current"


def test_a_crash_looping_pod_is_failed() -> None:
    """A container in CrashLoopBackOff makes its pod Failed (kstatus' rule)."""
    pod = body("g4_pod_pending_grafana")
    pod["status"]["containerStatuses"] = [{"name": "grafana",
                                           "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]
    assert compute(pod).status == "Failed"


def test_a_replica_failure_that_is_not_podsecurity_stays_in_progress_with_its_message() -> None:
    """Only PodSecurity fails fast; a quota (which can clear) keeps waiting, naming the controller's words."""
    deployment = body("j8_deployment_noncompliant_status")
    failure = next(c for c in deployment["status"]["conditions"] if c["type"] == "ReplicaFailure")
    failure["message"] = 'pods "x" is forbidden: exceeded quota: compute, requested: cpu=1, limited: cpu=0'
    result = compute(deployment)
    assert result.status == "InProgress"
    assert result.message == f"ReplicaFailure FailedCreate: {failure['message']}"


def test_a_replica_failure_that_is_false_is_ignored() -> None:
    """ReplicaFailure False is no failure: the usual replica counts decide."""
    deployment = body("j8_deployment_noncompliant_status")
    for entry in deployment["status"]["conditions"]:
        if entry["type"] == "ReplicaFailure":
            entry["status"] = "False"
    assert compute(deployment).message == "Replicas: 0/1"


def test_a_refusal_of_an_older_replicasets_pods_does_not_fail_a_rollout() -> None:
    """After a fixed template, the old ReplicaSet keeps failing until the new one is available (seen on
    the real 1.36 server): a refusal of a pod that is not the new ReplicaSet's leaves it InProgress."""
    deployment = body("j8_deployment_noncompliant_status")
    for entry in deployment["status"]["conditions"]:
        if entry["type"] == "Progressing":
            entry.update(reason="ReplicaSetUpdated",
                         message='ReplicaSet "psa-noncompliant-7c88cf8f54" is progressing.')
    result = compute(deployment)
    assert result.status == "InProgress"
    assert result.message.startswith(
        'ReplicaFailure FailedCreate of an older ReplicaSet: pods "psa-noncompliant-656f')
