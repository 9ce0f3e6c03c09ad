"""Kubernetes faults that patch or create objects: the HPA clamp, and the PodDown, PodRestartingTooOften
and DeploymentReplicaMismatch objects (see :mod:`stackcheck.faults.kubernetes` for why these, and for
the marking rules: only objects carrying ``stackcheck.dev/fault-run`` are ever reverted or deleted).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from stackcheck.errors import UsageError
from stackcheck.kube.access import KubeAccess
from stackcheck.targets.base import Target
from stackcheck.targets.kubernetes import PROBE_NAMESPACE

PROBE_DEPLOYMENT = "phase5-backend"
PROBE_HPA = "phase5-backend"
PROBE_SELECTOR = "app.kubernetes.io/name=phase5-backend"
PROBE_CONTAINER = "probe"
PROBE_PORT_NAME = "http"
PROBE_DEFAULT_PORT = 8080

RUN_KEY = "stackcheck.dev/fault-run"  # label and annotation
ORIGINAL_ANNOTATION = "stackcheck.dev/fault-original"
CREATED_ANNOTATION = "stackcheck.dev/fault-created"
FAULT_ANNOTATION = "stackcheck.dev/fault"
FIELD_MANAGER = "stackcheck"
STRATEGIC_MERGE = "application/strategic-merge-patch+json"

POD_DOWN_POD = "stackcheck-fault-pod-down"
RESTART_POD = "stackcheck-fault-restart"
MISMATCH_DEPLOYMENT = "stackcheck-fault-replica-mismatch"

#: Idles forever; Python as PID 1 ignores SIGTERM, so the pods also get a 1 s grace period.
IDLE = ["python", "-c", "import signal; signal.pause()"]
#: Exits 1 the first time (one restart), then idles. The marker lives in an emptyDir, which
#: survives restarts of the container within the pod.
CRASH_ONCE = ["python", "-c", ("import os, signal, sys\n"
                               "if not os.path.exists('/tmp/crashed'):\n"
                               "    open('/tmp/crashed', 'w').close()\n"
                               "    sys.exit(1)\n"
                               "signal.pause()\n")]

FaultFn = Callable[[Target, str], None]


def _kube(target: Target) -> KubeAccess:
    if not isinstance(target.kube, KubeAccess):
        raise UsageError(f"this fault acts on a cluster, and target {target.name} is not --target kubernetes")
    return target.kube


# -- patched objects: the HPA ---------------------------------------------------------------------

def _annotations(body: dict[str, Any]) -> dict[str, str]:
    return dict((body.get("metadata") or {}).get("annotations") or {})


def _marks(run_id: str, extra: dict[str, str]) -> dict[str, Any]:
    return {"labels": {RUN_KEY: run_id}, "annotations": {RUN_KEY: run_id, **extra}}


def _unmark(original: dict[str, Any]) -> dict[str, Any]:
    """A merge patch restoring ``original`` and removing our label and annotations."""
    patch: dict[str, Any] = json.loads(json.dumps(original))
    meta = patch.setdefault("metadata", {})
    meta.setdefault("labels", {})[RUN_KEY] = None
    meta.setdefault("annotations", {}).update({RUN_KEY: None, ORIGINAL_ANNOTATION: None})
    return patch


def _refuse_leftover(kind: str, body: dict[str, Any], run_id: str) -> bool:
    """True when this run already patched the object; a UsageError when another run left it."""
    other = _annotations(body).get(RUN_KEY)
    if other is None:
        return False
    if other == run_id:
        return True
    name = body["metadata"]["name"]
    raise UsageError(f"{kind} {PROBE_NAMESPACE}/{name} still carries the fault of run {other}; "
                     "revert it with `stackcheck cleanup` first")


def _read_hpa(kube: KubeAccess) -> dict[str, Any]:
    body: dict[str, Any] = kube.call(
        f"read horizontalpodautoscaler {PROBE_NAMESPACE}/{PROBE_HPA}",
        kube.autoscaling.read_namespaced_horizontal_pod_autoscaler, PROBE_HPA, PROBE_NAMESPACE)
    return body


def _patch_hpa(kube: KubeAccess, patch: dict[str, Any]) -> None:
    kube.call(f"patch horizontalpodautoscaler {PROBE_NAMESPACE}/{PROBE_HPA}",
              kube.autoscaling.patch_namespaced_horizontal_pod_autoscaler, PROBE_HPA, PROBE_NAMESPACE, patch,
              field_manager=FIELD_MANAGER, _content_type=STRATEGIC_MERGE)


def inject_hpa_maxed_out(target: Target, run_id: str) -> None:
    """Clamp the HPA's ``maxReplicas`` to its current replicas, so it sits at its maximum."""
    kube = _kube(target)
    hpa = _read_hpa(kube)
    if _refuse_leftover("HorizontalPodAutoscaler", hpa, run_id):
        return
    spec, status = hpa["spec"], hpa.get("status") or {}
    low, high = int(spec.get("minReplicas", 1)), int(spec["maxReplicas"])
    clamp = max(low, min(int(status.get("currentReplicas") or low), high))
    original = {"spec": {"maxReplicas": high}}
    _patch_hpa(kube, {"metadata": _marks(run_id, {ORIGINAL_ANNOTATION: json.dumps(original)}),
                      "spec": {"maxReplicas": clamp}})


def clear_hpa_maxed_out(target: Target, run_id: str) -> None:
    """Put back the recorded ``maxReplicas``, only if this run's annotation is on the HPA."""
    kube = _kube(target)
    hpa = _read_hpa(kube)
    annotations = _annotations(hpa)
    if annotations.get(RUN_KEY) != run_id or ORIGINAL_ANNOTATION not in annotations:
        return
    _patch_hpa(kube, _unmark(json.loads(annotations[ORIGINAL_ANNOTATION])))


# -- created objects: PodDown, PodRestartingTooOften, DeploymentReplicaMismatch -------------------

def _fault_labels(name: str, run_id: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "stackcheck-fault", "app.kubernetes.io/instance": name,
            "app.kubernetes.io/component": "fault", "app.kubernetes.io/part-of": "stackcheck",
            "app.kubernetes.io/managed-by": "stackcheck", RUN_KEY: run_id}


def _fault_meta(name: str, alert: str, run_id: str) -> dict[str, Any]:
    return {"name": name, "namespace": PROBE_NAMESPACE, "labels": _fault_labels(name, run_id),
            "annotations": {RUN_KEY: run_id, CREATED_ANNOTATION: "true", FAULT_ANNOTATION: alert}}


def fault_pod_spec(kube: KubeAccess, command: list[str],
                   readiness: dict[str, Any] | None = None) -> dict[str, Any]:
    """A pod spec running ``command`` with the probe's image, security context and resources.

    Copying from the probe's Deployment means the pod passes the namespace's "restricted" Pod
    Security level and any quota that admits the probe, and its image is already on the nodes.
    No prometheus.io annotations: nobody scrapes it.
    """
    deployment = kube.call(f"read deployment {PROBE_NAMESPACE}/{PROBE_DEPLOYMENT}",
                           kube.apps.read_namespaced_deployment, PROBE_DEPLOYMENT, PROBE_NAMESPACE)
    template = deployment["spec"]["template"]["spec"]
    containers = template.get("containers") or []
    source = next((c for c in containers if c.get("name") == PROBE_CONTAINER), containers[0])
    container: dict[str, Any] = {
        "name": "fault", "image": source["image"],
        "imagePullPolicy": source.get("imagePullPolicy", "IfNotPresent"), "command": command,
        "securityContext": source.get("securityContext") or {},
        "resources": source.get("resources") or {},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if readiness is not None:
        container["readinessProbe"] = readiness
    return {"automountServiceAccountToken": False, "securityContext": template.get("securityContext") or {},
            "terminationGracePeriodSeconds": 1, "containers": [container],
            "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "1Mi"}}]}


_CREATED: dict[str, tuple[str, str]] = {
    # kind → (client attribute, method suffix)
    "Pod": ("core", "namespaced_pod"),
    "Deployment": ("apps", "namespaced_deployment"),
}


def _api(kube: KubeAccess, kind: str, verb: str) -> Callable[..., Any]:
    attribute, suffix = _CREATED[kind]
    method: Callable[..., Any] = getattr(getattr(kube, attribute), f"{verb}_{suffix}")
    return method


def _create(kube: KubeAccess, kind: str, body: dict[str, Any], run_id: str) -> None:
    name = body["metadata"]["name"]
    existing = kube.call(f"read {kind.lower()} {PROBE_NAMESPACE}/{name}", _api(kube, kind, "read"),
                         name, PROBE_NAMESPACE, missing_ok=True)
    if existing is not None:
        if _annotations(existing).get(RUN_KEY) == run_id:
            return
        other = _annotations(existing).get(RUN_KEY)
        raise UsageError(f"{kind} {PROBE_NAMESPACE}/{name} already exists"
                         + (f" (left by run {other}); remove it with `stackcheck cleanup` first" if other else
                            ", and stackcheck did not create it; rename or remove it"))
    kube.call(f"create {kind.lower()} {PROBE_NAMESPACE}/{name}", _api(kube, kind, "create"), PROBE_NAMESPACE,
              body, field_manager=FIELD_MANAGER)


def _delete_created(kube: KubeAccess, kind: str, name: str, run_id: str | None) -> bool:
    """Delete an object this run (any run, when ``run_id`` is None) created; True when it did."""
    existing = kube.call(f"read {kind.lower()} {PROBE_NAMESPACE}/{name}", _api(kube, kind, "read"),
                         name, PROBE_NAMESPACE, missing_ok=True)
    if existing is None:
        return False
    annotations = _annotations(existing)
    if annotations.get(CREATED_ANNOTATION) != "true" or RUN_KEY not in annotations:
        return False
    if run_id is not None and annotations[RUN_KEY] != run_id:
        return False
    kube.call(f"delete {kind.lower()} {PROBE_NAMESPACE}/{name}", _api(kube, kind, "delete"), name,
              PROBE_NAMESPACE, propagation_policy="Background", missing_ok=True)
    return True


def _pod(kube: KubeAccess, name: str, alert: str, run_id: str, command: list[str],
         readiness: dict[str, Any] | None = None) -> dict[str, Any]:
    spec = fault_pod_spec(kube, command, readiness)
    spec["restartPolicy"] = "Always"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": _fault_meta(name, alert, run_id), "spec": spec}


def inject_pod_down(target: Target, run_id: str) -> None:
    """A pod that never becomes ready: kube_pod_status_ready{condition="false"} for it."""
    kube = _kube(target)
    never_ready = {"tcpSocket": {"port": PROBE_DEFAULT_PORT}, "periodSeconds": 5}  # nothing listens there
    _create(kube, "Pod", _pod(kube, POD_DOWN_POD, "PodDown", run_id, IDLE, never_ready), run_id)


def clear_pod_down(target: Target, run_id: str) -> None:
    _delete_created(_kube(target), "Pod", POD_DOWN_POD, run_id)


def inject_pod_restarting(target: Target, run_id: str) -> None:
    """A pod whose container exits once (one restart), then stays up, so only the restart counter moves."""
    kube = _kube(target)
    _create(kube, "Pod", _pod(kube, RESTART_POD, "PodRestartingTooOften", run_id, CRASH_ONCE), run_id)


def clear_pod_restarting(target: Target, run_id: str) -> None:
    _delete_created(_kube(target), "Pod", RESTART_POD, run_id)


def inject_replica_mismatch(target: Target, run_id: str) -> None:
    """A Deployment of 2 whose pods repel each other on ``kubernetes.io/os``: 1 runs, 1 stays Pending.

    Every node of an all-Linux cluster has the same ``kubernetes.io/os`` value. Required
    anti-affinity on that key therefore allows one pod in the whole cluster, whatever the node
    count. The Deployment then has 1 available replica against 2 wanted, and because 1 is still
    available, PodDown's "no available replica" branch does not fire too.
    """
    kube = _kube(target)
    name = MISMATCH_DEPLOYMENT
    labels = _fault_labels(name, run_id)
    spec = fault_pod_spec(kube, IDLE)
    spec["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app.kubernetes.io/instance": name}},
         "topologyKey": "kubernetes.io/os"}]}}
    body = {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": _fault_meta(name, "DeploymentReplicaMismatch", run_id),
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app.kubernetes.io/instance": name}},
                     "template": {"metadata": {"labels": labels}, "spec": spec}}}
    _create(kube, "Deployment", body, run_id)


def clear_replica_mismatch(target: Target, run_id: str) -> None:
    _delete_created(_kube(target), "Deployment", MISMATCH_DEPLOYMENT, run_id)
