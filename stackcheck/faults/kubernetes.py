"""Faults on a Kubernetes target: probe switches on the probe pods, and kubectl-level actions.

Every action uses the kubernetes client or the API server's pod proxy. ``clear`` undoes it, and
after a killed run :func:`revert_leftovers` does. All of it happens in namespace ``phase5``:

- HighErrorRate, HighResponseTime, DatabaseConnectionPoolExhausted, AuditLogFailures,
  ReminderDeliveryFailures, KafkaConsumerLag: POST ``/faults`` to every Running probe pod through
  ``pods/{pod}:{port}/proxy`` (a Service would reach one pod); clear sets the same switches to 0/false.
- HighCPUUsage: ``cpu_burn`` on one probe pod; clear turns it off on every probe pod.
- HighMemoryUsage: ``memory_hog_mb`` on one pod, sized to 90 % of the Deployment's memory limit;
  clear sets it to 0 on every probe pod.
- HPAMaxedOut: patch the HPA's ``maxReplicas`` down to its current replicas; clear patches the
  recorded value back.
- PodDown: create Pod ``stackcheck-fault-pod-down``, whose readiness probe never passes; clear
  deletes it.
- PodRestartingTooOften: create Pod ``stackcheck-fault-restart``, whose container exits once, then
  idles; clear deletes it.
- DeploymentReplicaMismatch: create Deployment ``stackcheck-fault-replica-mismatch`` with 2 replicas,
  of which only 1 can be scheduled; clear deletes it.

Why fault objects of our own, rather than changes to ``phase5-backend``: the Deployment belongs to
its HPA, which undoes any change to the replica count. Scaling it, or rolling it onto unschedulable
nodes, would also trip PodDown and starve the six switch scenarios that run at the same time.
An object stackcheck created can be deleted safely. When it is gone its series disappear, so the
alert resolves quickly instead of waiting out ``increase(...[15m])``. The same reasoning holds for
the HPA: clamping ``maxReplicas`` to the current count adds no pods, so the fleet-wide ratios
(DatabaseConnectionPoolExhausted needs every pod saturated) keep their switches. It also needs no
metrics-server.

Marking: every object patched or created gets the label and annotation ``stackcheck.dev/fault-run:
<run id>``. A patched object also gets ``stackcheck.dev/fault-original``, a JSON merge patch that
restores what was changed. A created one gets ``stackcheck.dev/fault-created: "true"``. Nothing
without the annotation is ever touched.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import requests

from stackcheck.clients.probe import confirm_switches
from stackcheck.errors import ApiError, StackcheckError, Unreachable, truncate
from stackcheck.faults.kubeobjects import (
    _CREATED,
    CRASH_ONCE,
    CREATED_ANNOTATION,
    FAULT_ANNOTATION,
    FIELD_MANAGER,
    IDLE,
    MISMATCH_DEPLOYMENT,
    ORIGINAL_ANNOTATION,
    POD_DOWN_POD,
    PROBE_CONTAINER,
    PROBE_DEFAULT_PORT,
    PROBE_DEPLOYMENT,
    PROBE_HPA,
    PROBE_PORT_NAME,
    PROBE_SELECTOR,
    RESTART_POD,
    RUN_KEY,
    STRATEGIC_MERGE,
    FaultFn,
    _annotations,
    _delete_created,
    _kube,
    _unmark,
    clear_hpa_maxed_out,
    clear_pod_down,
    clear_pod_restarting,
    clear_replica_mismatch,
    fault_pod_spec,
    inject_hpa_maxed_out,
    inject_pod_down,
    inject_pod_restarting,
    inject_replica_mismatch,
)
from stackcheck.faults.switches import PROBE_SWITCHES, switches_off
from stackcheck.kube.access import KubeAccess
from stackcheck.kube.errors import proxy_failure, status_message
from stackcheck.kube.quantity import parse_quantity
from stackcheck.targets.base import Target
from stackcheck.targets.kubernetes import PROBE_NAMESPACE

#: Re-exported for callers and tests that read the fault objects' names and marks from here.
__all__ = ["CRASH_ONCE", "CREATED_ANNOTATION", "FAULT_ANNOTATION", "IDLE", "K8S_FAULTS",
           "MISMATCH_DEPLOYMENT", "ORIGINAL_ANNOTATION", "POD_DOWN_POD", "PROBE_SWITCHES", "RESTART_POD",
           "RUN_KEY", "fault_pod_spec", "parse_quantity", "revert_leftovers"]

#: HighMemoryUsage fires above 80 % of the limit. We aim for 90 %: the hog plus the probe's own
#: resident size, which we estimate at this many MiB (Python 3.12 with the probe loaded).
MEMORY_TARGET_RATIO = 0.9
PROBE_BASELINE_MIB = 24
MEMORY_HOG_MAX_MIB = 4096  # the probe's upper bound for memory_hog_mb
#: cpu_burn is one busy Python thread, about one core. Above this limit it cannot reach 80 %.
CPU_BURN_MAX_LIMIT_CORES = 1.2

#: Labels that single out each scenario's alert (for the campaign's ``alert_labels``).
K8S_ALERT_LABELS = {
    "PodDown": {"namespace": PROBE_NAMESPACE, "pod": POD_DOWN_POD},
    "PodRestartingTooOften": {"namespace": PROBE_NAMESPACE, "pod": RESTART_POD},
    "DeploymentReplicaMismatch": {"namespace": PROBE_NAMESPACE, "deployment": MISMATCH_DEPLOYMENT},
    "HPAMaxedOut": {"namespace": PROBE_NAMESPACE, "horizontalpodautoscaler": PROBE_HPA},
}

# -- probe switches through the pod proxy ---------------------------------------------------------

def probe_pods(kube: KubeAccess) -> list[dict[str, Any]]:
    """The Running, not terminating, probe pods, by name. None at all is an error."""
    body = kube.call(f"list pods {PROBE_SELECTOR} in namespace {PROBE_NAMESPACE}",
                     kube.core.list_namespaced_pod, PROBE_NAMESPACE, label_selector=PROBE_SELECTOR)
    pods = [p for p in body.get("items") or []
            if (p.get("status") or {}).get("phase") == "Running"
            and not (p.get("metadata") or {}).get("deletionTimestamp")]
    if not pods:
        raise ApiError(
            f"no Running pod with label {PROBE_SELECTOR} in namespace {PROBE_NAMESPACE} "
            f"(context {kube.context}); is the probe deployed? (`kubectl -n {PROBE_NAMESPACE} get pods`)")
    return sorted(pods, key=lambda p: str(p["metadata"]["name"]))


def _probe_port(pod: dict[str, Any]) -> int:
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == PROBE_CONTAINER:
            for port in container.get("ports") or []:
                if port.get("name") == PROBE_PORT_NAME:
                    return int(port["containerPort"])
    return PROBE_DEFAULT_PORT


def _probe_request(kube: KubeAccess, pod: dict[str, Any], method: str, *, json_body: Any = None,
                   params: dict[str, str] | None = None) -> requests.Response:
    name = str(pod["metadata"]["name"])
    url = kube.pod_url(PROBE_NAMESPACE, name, _probe_port(pod)) + "/faults"
    what = f"{method} /faults on pod {PROBE_NAMESPACE}/{name} through the pod proxy"
    try:
        with kube.session() as session:
            response = session.request(method, url, json=json_body, params=params, timeout=kube.timeout)
    except requests.RequestException as exc:
        raise Unreachable(f"the Kubernetes API server {kube.server} is unreachable ({type(exc).__name__}) "
                          f"while trying to {what}") from exc
    if response.status_code in (401, 403):
        raise kube.error(what, response.status_code, response.text)
    # The API server's own answer (pod without an IP, unknown pod, dial failure) is a Status body;
    # the probe's refusals are its own JSON. Quote whichever spoke.
    failure = proxy_failure(f"probe pod {PROBE_NAMESPACE}/{name}", url, response.status_code, response.text,
                            kube.kubectl)
    if failure is not None:
        raise failure
    if response.status_code != 200:
        raise ApiError(f"probe pod {PROBE_NAMESPACE}/{name} refused {what} (HTTP {response.status_code}): "
                       f"{truncate(status_message(response.text))}")
    return response


def post_switches(kube: KubeAccess, pods: list[dict[str, Any]], run_id: str,
                  switches: dict[str, bool | int | float]) -> None:
    """POST the switches to each pod (a Service would reach only one of them), then read them back with
    ``GET /faults``: a proxy that lost the body (a 200 with nothing applied) fails loudly, naming the pod
    and the switch, instead of a fault that silently never happened.

    Every pod is tried even when one fails, so a clear turns off what it can. The first error is
    raised afterwards.
    """
    errors: list[StackcheckError] = []
    for pod in pods:
        try:
            _probe_request(kube, pod, "POST", json_body={"run_id": run_id, **switches})
            reported = _probe_request(kube, pod, "GET").json()
            confirm_switches(f"probe pod {PROBE_NAMESPACE}/{pod['metadata']['name']}", switches, run_id,
                             reported if isinstance(reported, dict) else {})
        except StackcheckError as exc:
            errors.append(exc)
    if errors:
        raise errors[0]


def switch_fault(switches: dict[str, bool | int | float]) -> tuple[FaultFn, FaultFn]:
    """inject/clear setting probe switches on every Running probe pod, then 0/false on every one."""
    def inject(target: Target, run_id: str) -> None:
        kube = _kube(target)
        post_switches(kube, probe_pods(kube), run_id, switches)

    def clear(target: Target, run_id: str) -> None:
        kube = _kube(target)
        post_switches(kube, probe_pods(kube), run_id, switches_off(switches))

    return inject, clear


def _one_pod_fault(size: Callable[[KubeAccess], dict[str, bool | int | float]],
                   off: dict[str, bool | int | float]) -> tuple[FaultFn, FaultFn]:
    """inject on the first probe pod (one pod is enough for a per-pod alert); clear on all of them."""
    def inject(target: Target, run_id: str) -> None:
        kube = _kube(target)
        switches = size(kube)
        post_switches(kube, probe_pods(kube)[:1], run_id, switches)

    def clear(target: Target, run_id: str) -> None:
        kube = _kube(target)
        post_switches(kube, probe_pods(kube), run_id, off)

    return inject, clear


# -- the probe's resources -----------------------------------------------------------------------

def _probe_limit(kube: KubeAccess, resource: str) -> float | None:
    body = kube.call(f"read deployment {PROBE_NAMESPACE}/{PROBE_DEPLOYMENT}",
                     kube.apps.read_namespaced_deployment, PROBE_DEPLOYMENT, PROBE_NAMESPACE)
    for container in body["spec"]["template"]["spec"].get("containers") or []:
        if container.get("name") == PROBE_CONTAINER:
            limit = ((container.get("resources") or {}).get("limits") or {}).get(resource)
            return None if limit is None else parse_quantity(limit)
    return None


def memory_hog_mib(limit_bytes: float) -> int:
    """The ``memory_hog_mb`` that brings the probe to ``MEMORY_TARGET_RATIO`` of its memory limit."""
    wanted = round(limit_bytes / 2**20 * MEMORY_TARGET_RATIO) - PROBE_BASELINE_MIB
    return max(1, min(MEMORY_HOG_MAX_MIB, wanted))


def _memory_switch(kube: KubeAccess) -> dict[str, bool | int | float]:
    limit = _probe_limit(kube, "memory")
    if limit is None:
        raise ApiError(f"container {PROBE_CONTAINER} of deployment {PROBE_NAMESPACE}/{PROBE_DEPLOYMENT} "
                       "has no memory limit; HighMemoryUsage compares usage with the limit, so it cannot "
                       "fire")
    return {"memory_hog_mb": memory_hog_mib(limit)}


def _cpu_switch(kube: KubeAccess) -> dict[str, bool | int | float]:
    limit = _probe_limit(kube, "cpu")
    if limit is None:
        raise ApiError(f"container {PROBE_CONTAINER} of deployment {PROBE_NAMESPACE}/{PROBE_DEPLOYMENT} "
                       "has no CPU limit; HighCPUUsage compares usage with the limit, so it cannot fire")
    if limit > CPU_BURN_MAX_LIMIT_CORES:
        raise ApiError(f"the probe's CPU limit is {limit:g} cores; cpu_burn uses one core, so it cannot "
                       f"reach 80 % (keep the limit at or below {CPU_BURN_MAX_LIMIT_CORES:g})")
    return {"cpu_burn": True}


# -- the table ------------------------------------------------------------------------------------

def _table() -> dict[str, tuple[FaultFn, FaultFn]]:
    table = {alert: switch_fault(switches) for alert, switches in PROBE_SWITCHES.items()}
    table.update({
        "HighCPUUsage": _one_pod_fault(_cpu_switch, {"cpu_burn": False}),
        "HighMemoryUsage": _one_pod_fault(_memory_switch, {"memory_hog_mb": 0}),
        "HPAMaxedOut": (inject_hpa_maxed_out, clear_hpa_maxed_out),
        "PodDown": (inject_pod_down, clear_pod_down),
        "PodRestartingTooOften": (inject_pod_restarting, clear_pod_restarting),
        "DeploymentReplicaMismatch": (inject_replica_mismatch, clear_replica_mismatch),
    })
    return table


#: alert → (inject, clear) on a kubernetes target. DiskSpaceLow has none: stackcheck does not fill a
#: node's disk. Watchdog needs no fault.
K8S_FAULTS: dict[str, tuple[FaultFn, FaultFn]] = _table()


# -- cleanup --------------------------------------------------------------------------------------

_LISTS: dict[str, tuple[str, str]] = {
    "HorizontalPodAutoscaler": ("autoscaling", "list_namespaced_horizontal_pod_autoscaler"),
    "Deployment": ("apps", "list_namespaced_deployment"),
    "Pod": ("core", "list_namespaced_pod"),
}
_PATCHES: dict[str, tuple[str, str]] = {
    "HorizontalPodAutoscaler": ("autoscaling", "patch_namespaced_horizontal_pod_autoscaler"),
    "Deployment": ("apps", "patch_namespaced_deployment"),
    "Pod": ("core", "patch_namespaced_pod"),
}


def revert_leftovers(kube: KubeAccess) -> list[str]:
    """Revert what killed runs left behind in ``phase5``; returns one line per thing reverted.

    Only objects that carry the ``stackcheck.dev/fault-run`` annotation are touched. A patched one
    gets its recorded original back, and one that stackcheck created is deleted. Then any probe
    switches still set by a ``stackcheck-…`` run are cleared.
    """
    done: list[str] = []
    for kind, (attribute, method) in _LISTS.items():
        listed = kube.call(f"list {kind.lower()}s labelled {RUN_KEY} in namespace {PROBE_NAMESPACE}",
                           getattr(getattr(kube, attribute), method), PROBE_NAMESPACE, label_selector=RUN_KEY)
        for item in listed.get("items") or []:
            annotations = _annotations(item)
            run_id = annotations.get(RUN_KEY)
            name = str(item["metadata"]["name"])
            if run_id is None:
                continue  # labelled but not annotated, e.g. the pods of a fault Deployment
            if annotations.get(CREATED_ANNOTATION) == "true" and kind in _CREATED:
                if _delete_created(kube, kind, name, run_id):
                    done.append(f"deleted {kind} {PROBE_NAMESPACE}/{name} created by run {run_id}")
            elif ORIGINAL_ANNOTATION in annotations:
                original = json.loads(annotations[ORIGINAL_ANNOTATION])
                attribute, patch = _PATCHES[kind]
                kube.call(f"patch {kind.lower()} {PROBE_NAMESPACE}/{name}",
                          getattr(getattr(kube, attribute), patch), name, PROBE_NAMESPACE, _unmark(original),
                          field_manager=FIELD_MANAGER, _content_type=STRATEGIC_MERGE)
                done.append(f"restored {kind} {PROBE_NAMESPACE}/{name} ({json.dumps(original)}) "
                            f"patched by run {run_id}")
    done += _clear_leftover_switches(kube)
    return done


def _clear_leftover_switches(kube: KubeAccess) -> list[str]:
    done: list[str] = []
    try:
        pods = probe_pods(kube)
    except ApiError:
        return done  # no probe running: nothing can hold a switch
    for pod in pods:
        active = _probe_request(kube, pod, "GET").json().get("run_ids") or {}
        for run_id in sorted({str(r) for r in active.values() if str(r).startswith("stackcheck-")}):
            _probe_request(kube, pod, "DELETE", params={"run_id": run_id})
            where = f"{PROBE_NAMESPACE}/{pod['metadata']['name']}"
            done.append(f"cleared probe switches of run {run_id} on pod {where}")
    return done
