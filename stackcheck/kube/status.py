"""A small port of kstatus (kubernetes-sigs/cli-utils ``pkg/kstatus/status``): is an object ready?

Readiness is data: one pure function per kind, each returning a :class:`Result` (a status and a
message), tried after the generic rules, in kstatus' order:

1. no object → ``NotFound``; a ``deletionTimestamp`` → ``Terminating``;
2. ``status.observedGeneration`` behind ``metadata.generation`` → ``InProgress`` (the controller
   has not seen the change yet, so nothing else in ``status`` can be trusted);
3. the ``Reconciling`` / ``Stalled`` conditions → ``InProgress`` / ``Failed``;
4. the kind's rule: Deployment, StatefulSet, DaemonSet, PersistentVolumeClaim, Job,
   CustomResourceDefinition, Pod, Namespace; any other kind that exists is ``Current``.

Two additions to kstatus, both for waits that must not return early: a Deployment with
``status.terminatingReplicas`` above 0 is still ``InProgress`` (its old pods are Terminating), and a
Pod's message carries the scheduler's reason when it is not scheduled.

One departure, so that a wait does not sit out its budget in silence: a Deployment or ReplicaSet
whose ``ReplicaFailure`` condition is True is ``Failed`` when the message says its (current) pods
``violate PodSecurity`` (:func:`admission_refusal`). kstatus calls any ReplicaFailure of a ReplicaSet
``InProgress`` ("Replica Failure condition. Check Pods") and ignores it on a Deployment until
``ProgressDeadlineExceeded`` (600 s by default). That is right for causes that clear by themselves
(an exhausted ResourceQuota, a webhook that is down), and those stay ``InProgress`` here too, with
the controller's message. A PodSecurity refusal does not clear: the namespace's label or the pod
template has to change, and both are the user's to change.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

StatusName = Literal["Current", "InProgress", "Failed", "Terminating", "NotFound"]
CURRENT: StatusName = "Current"
IN_PROGRESS: StatusName = "InProgress"
FAILED: StatusName = "Failed"
TERMINATING: StatusName = "Terminating"
NOT_FOUND: StatusName = "NotFound"

Json = dict[str, Any]


@dataclass(frozen=True)
class Result:
    """An object's status and why."""

    status: StatusName
    message: str
    reason: str = ""


def condition(obj: Json, kind: str) -> Json | None:
    """The ``status.conditions`` entry of that type, or None."""
    for entry in (obj.get("status") or {}).get("conditions") or []:
        if entry.get("type") == kind:
            return dict(entry)
    return None


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


#: The API server's words when PodSecurity admission refuses a pod (contracts j1, j6-j8).
PODSECURITY_REFUSAL = "violates PodSecurity"
#: The level it names: ``violates PodSecurity "restricted:latest"``.
PODSECURITY_LEVEL = re.compile(PODSECURITY_REFUSAL + r' "(?P<level>[^"]+)"')


_REFUSED_POD = re.compile(r'pods "(?P<pod>[^"]+)" is forbidden')
_NEW_REPLICASET = re.compile(r'replica ?set "(?P<rs>[^"]+)"', re.IGNORECASE)


def admission_refusal(obj: Json) -> Result | None:
    """A Deployment's or ReplicaSet's ``ReplicaFailure`` (True): Failed for PodSecurity, else InProgress.

    A Deployment copies the condition from any of its ReplicaSets. After a fixed template is applied,
    the old ReplicaSet keeps failing until the new one's pods are available (seen on the real 1.36
    server), so only a refusal of a pod of the new ReplicaSet, the one the ``Progressing`` condition
    names, is a failure; an older one's leaves the rollout InProgress, with the server's message.
    """
    failure = condition(obj, "ReplicaFailure")
    if failure is None or failure.get("status") != "True":
        return None
    message = str(failure.get("message", ""))
    reason = str(failure.get("reason") or "ReplicaFailure")
    if PODSECURITY_REFUSAL not in message:
        return Result(IN_PROGRESS, f"ReplicaFailure {reason}: {message}".rstrip(": "), "ReplicaFailure")
    if obj.get("kind") == "Deployment":
        pod = _REFUSED_POD.search(message)
        named = _NEW_REPLICASET.search(str((condition(obj, "Progressing") or {}).get("message", "")))
        if pod is None or named is None or not pod["pod"].startswith(f"{named['rs']}-"):
            return Result(IN_PROGRESS, f"ReplicaFailure {reason} of an older ReplicaSet: {message}",
                          "OldReplicaSetRefused")
    return Result(FAILED, f"PodSecurity refused its pods ({reason}): {message}", "PodSecurity")


def _deployment(obj: Json) -> Result:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    refused = admission_refusal(obj)
    if refused is not None and refused.status == FAILED:
        return refused
    progressing = "progressDeadlineSeconds" not in spec  # without a deadline the controller never says
    available = False
    for entry in status.get("conditions") or []:
        if entry.get("type") == "Progressing":
            if entry.get("reason") == "ProgressDeadlineExceeded":
                return Result(FAILED, f"Progress deadline exceeded: {entry.get('message', '')}".rstrip(": "),
                              "ProgressDeadlineExceeded")
            if entry.get("status") == "True" and entry.get("reason") == "NewReplicaSetAvailable":
                progressing = True
        elif entry.get("type") == "Available" and entry.get("status") == "True":
            available = True
    want = _int(spec.get("replicas"), 1)
    have, updated = _int(status.get("replicas"), 0), _int(status.get("updatedReplicas"), 0)
    ready, avail = _int(status.get("readyReplicas"), 0), _int(status.get("availableReplicas"), 0)
    terminating = _int(status.get("terminatingReplicas"), 0)
    checks = ((want > have, f"Replicas: {have}/{want}", "LessReplicas"),
              (want > updated, f"Updated: {updated}/{want}", "LessUpdated"),
              (have > want, f"Pending termination: {have - want}", "ExtraPods"),
              (terminating > 0, f"Terminating: {terminating}", "TerminatingPods"),
              (updated > avail, f"Available: {avail}/{updated}", "LessAvailable"),
              (want > ready, f"Ready: {ready}/{want}", "LessReady"),
              (not progressing, "ReplicaSet not Available", "ReplicaSetNotAvailable"),
              (not available, "Deployment not Available", "DeploymentNotAvailable"))
    for failed, message, reason in checks:
        if failed:
            return refused or Result(IN_PROGRESS, message, reason)
    return Result(CURRENT, f"Deployment is available. Replicas: {have}")


def _statefulset(obj: Json) -> Result:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if (spec.get("updateStrategy") or {}).get("type") == "OnDelete":
        return Result(CURRENT, "StatefulSet is using the ondelete update strategy")
    want = _int(spec.get("replicas"), 1)
    have, ready = _int(status.get("replicas"), 0), _int(status.get("readyReplicas"), 0)
    current, updated = _int(status.get("currentReplicas"), 0), _int(status.get("updatedReplicas"), 0)
    partition = _int(((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition"), -1)
    if want > have:
        return Result(IN_PROGRESS, f"Replicas: {have}/{want}", "LessReplicas")
    if want > ready:
        return Result(IN_PROGRESS, f"Ready: {ready}/{want}", "LessReady")
    if have > want:
        return Result(IN_PROGRESS, f"Pending termination: {have - want}", "ExtraPods")
    if partition > 0:
        if updated < want - partition:
            return Result(IN_PROGRESS, f"updated: {updated}/{want - partition}", "LessUpdated")
        return Result(CURRENT, f"Partition rollout complete. updated: {updated}")
    if want > current:
        return Result(IN_PROGRESS, f"current: {current}/{want}", "LessCurrent")
    if status.get("currentRevision") != status.get("updateRevision"):
        return Result(IN_PROGRESS,
                      f"Waiting for updated revision {status.get('updateRevision')} to match current "
                                   f"{status.get('currentRevision')}", "RevisionMismatch")
    return Result(CURRENT, f"All replicas scheduled as expected. Replicas: {have}")


def _replicaset(obj: Json) -> Result:
    """kstatus' ReplicaSet rule, with the PodSecurity departure above."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    refused = admission_refusal(obj)
    if refused is not None:
        return refused
    want = _int(spec.get("replicas"), 1)
    for key, label in (("fullyLabeledReplicas", "Labelled"), ("availableReplicas", "Available"),
                       ("readyReplicas", "Ready")):
        value = _int(status.get(key), 0)
        if want > value:
            return Result(IN_PROGRESS, f"{label}: {value}/{want}", f"Less{label}")
    if _int(status.get("replicas"), 0) > want:
        return Result(IN_PROGRESS, f"Pending termination: {_int(status.get('replicas'), 0) - want}",
                      "ExtraPods")
    return Result(CURRENT, f"ReplicaSet is available. Replicas: {want}")


def _daemonset(obj: Json) -> Result:
    status = obj.get("status") or {}
    desired = _int(status.get("desiredNumberScheduled"), -1)
    if desired == -1:
        return Result(IN_PROGRESS, "Missing .status.desiredNumberScheduled", "NoDesiredNumber")
    for key, label in (("currentNumberScheduled", "Current"), ("updatedNumberScheduled", "Updated"),
                       ("numberAvailable", "Available"), ("numberReady", "Ready")):
        value = _int(status.get(key), 0)
        if desired > value:
            return Result(IN_PROGRESS, f"{label}: {value}/{desired}", f"Less{label}")
    return Result(CURRENT, f"All replicas scheduled as expected. Replicas: {desired}")


def _pvc(obj: Json) -> Result:
    phase = (obj.get("status") or {}).get("phase")
    if phase != "Bound":
        return Result(IN_PROGRESS, f"PVC is not Bound. phase: {phase}", "NotBound")
    return Result(CURRENT, "PVC is Bound")


def _job(obj: Json) -> Result:
    for entry in (obj.get("status") or {}).get("conditions") or []:
        if entry.get("type") == "Complete" and entry.get("status") == "True":
            return Result(CURRENT, "Job Completed")
        if entry.get("type") == "Failed" and entry.get("status") == "True":
            return Result(FAILED, f"Job Failed: {entry.get('message', '')}", "JobFailed")
    return Result(IN_PROGRESS, "Job in progress", "JobInProgress")


def _crd(obj: Json) -> Result:
    names = condition(obj, "NamesAccepted")
    if names is not None and names.get("status") == "False":
        return Result(FAILED, f"CRD names not accepted: {names.get('message', '')}", "NamesNotAccepted")
    established = condition(obj, "Established")
    if established is not None and established.get("status") == "True":
        return Result(CURRENT, "CRD is established")
    return Result(IN_PROGRESS, "CRD is not established", "NotEstablished")


#: Container waiting reasons that do not heal by waiting (kstatus' crash loop, plus image pulls).
STUCK_REASONS = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "InvalidImageName",
                 "CreateContainerConfigError", "CreateContainerError")


def waiting_reasons(pod: Json) -> list[tuple[str, str, str]]:
    """``(container, reason, message)`` of every waiting container, init containers first."""
    status = pod.get("status") or {}
    out = []
    for key in ("initContainerStatuses", "containerStatuses"):
        for entry in status.get(key) or []:
            waiting = (entry.get("state") or {}).get("waiting")
            if waiting:
                out.append((str(entry.get("name")), str(waiting.get("reason", "")),
                            str(waiting.get("message", ""))))
    return out


def _pod(obj: Json) -> Result:
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return Result(CURRENT, "Pod has completed successfully")
    if phase == "Failed":
        return Result(FAILED, "Pod has completed, but not successfully", "PodFailed")
    ready = condition(obj, "Ready")
    if ready is not None and ready.get("status") == "True":
        return Result(CURRENT, "Pod is Ready")
    stuck = [f"{c} {r}" for c, r, _ in waiting_reasons(obj) if r == "CrashLoopBackOff"]
    if stuck:
        return Result(FAILED, f"Containers in CrashLoop state: {', '.join(stuck)}", "ContainerCrashLooping")
    scheduled = condition(obj, "PodScheduled")
    if scheduled is not None and scheduled.get("status") == "False":
        return Result(IN_PROGRESS, f"Pod is not scheduled ({scheduled.get('reason')}): "
                                   f"{scheduled.get('message', '')}",
                      str(scheduled.get("reason") or "PodNotScheduled"))
    return Result(IN_PROGRESS, "Pod is not Ready", "PodNotReady")


def _namespace(obj: Json) -> Result:
    phase = (obj.get("status") or {}).get("phase")
    if phase == "Terminating":
        return Result(TERMINATING, "Namespace is Terminating")
    return Result(CURRENT, "Namespace is Active") if phase == "Active" else Result(
        IN_PROGRESS, f"Namespace phase {phase}", "NotActive")


RULES: dict[str, Callable[[Json], Result]] = {
    "Deployment": _deployment, "ReplicaSet": _replicaset, "StatefulSet": _statefulset,
    "DaemonSet": _daemonset,
    "PersistentVolumeClaim": _pvc, "Job": _job, "CustomResourceDefinition": _crd, "Pod": _pod,
    "Namespace": _namespace,
}


def compute(obj: Json | None) -> Result:
    """kstatus' verdict on one live object (None: it does not exist)."""
    if obj is None:
        return Result(NOT_FOUND, "Resource not found")
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    if meta.get("deletionTimestamp"):
        return Result(TERMINATING, "Resource scheduled for deletion")
    generation, observed = meta.get("generation"), status.get("observedGeneration")
    if generation is not None and observed is not None and _int(observed, 0) < _int(generation, 0):
        return Result(IN_PROGRESS,
                      f"{obj.get('kind')} generation is {generation}, but latest observed generation "
                                   f"is {observed}", "LatestGenerationNotObserved")
    for kind, verdict in (("Reconciling", IN_PROGRESS), ("Stalled", FAILED)):
        entry = condition(obj, kind)
        if entry is not None and entry.get("status") == "True":
            return Result(verdict, str(entry.get("message") or kind), str(entry.get("reason") or kind))
    rule = RULES.get(str(obj.get("kind")))
    return rule(obj) if rule is not None else Result(CURRENT, "Resource is current")
