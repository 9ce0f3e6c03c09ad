"""What the API server and its controllers do to stored objects, with no node (for kubefake).

Everything here is modelled on the real 1.36 captures in ``tests/contracts/kubernetes/`` (copied
from ``shared/contracts/fixtures/kubernetes/``), whose bodies serve as templates:

- defaults the API server fills in on every write (e0, g2: ``strategy``, ``imagePullPolicy``,
  ``terminationMessage*``, ``resources {}``, port ``protocol``, a ``fieldRef``'s ``apiVersion``,
  each volume claim template's ``apiVersion``/``kind``/``volumeMode``/``status``);
- workload status with no node: a Deployment inside its deadline (g1a) or past it (g1), a
  StatefulSet (g2), a DaemonSet (g11), an HPA without a metrics API (g9);
- the pods and claims the controllers create: Pending pods with only ``PodScheduled=False
  Unschedulable`` and no IP (g4), claims ``Pending`` with the protection finalizer (g6);
- the events they write, in both APIs (g7 core/v1, g8 events.k8s.io/v1): ``FailedScheduling`` and
  ``FailedBinding``;
- a namespace's deletion: ``Terminating`` first (h1, h2), then gone once it is empty (h7), or held
  with the controller's conditions (h3) while an object with a finalizer remains.
"""
from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

Json = dict[str, Any]
CREATED_AT = "2026-12-01T07:28:07Z"  # the captures' day
CONTRACTS = Path(__file__).resolve().parent / "contracts" / "kubernetes"


def timestamp(seconds: int) -> str:
    """CREATED_AT plus ``seconds``, in the API server's format."""
    start = datetime.fromisoformat(CREATED_AT)
    return (start + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


@cache
def _exchange(name: str) -> Json:
    data: Json = json.loads((CONTRACTS / f"{name}.json").read_text())
    return data


def response(name: str) -> tuple[int, Json, list[str]]:
    """A captured answer: status, body, ``Warning`` headers."""
    answer = _exchange(name)["response"]
    return int(answer["status"]), copy.deepcopy(answer["body"]), list(answer["headers"].get("warning") or [])


def request_body(name: str) -> Json:
    """The body a capture sent."""
    sent: Json = copy.deepcopy(_exchange(name)["request"]["body"])
    return sent


def body(name: str) -> Json:
    return response(name)[1]


def _event_template(fixture: str, reason: str) -> Json:
    for item in body(fixture)["items"]:
        if item["reason"] == reason:
            return copy.deepcopy(item)
    raise KeyError(reason)


def short_hash(value: Any, n: int = 10) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:n]


# -- defaults -----------------------------------------------------------------------------------

def _container_defaults(container: Json) -> None:
    image = str(container.get("image", ""))
    container.setdefault("imagePullPolicy", "Always" if image.endswith(":latest") or ":" not in image
                         else "IfNotPresent")
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        port.setdefault("protocol", "TCP")
    for env in container.get("env") or []:
        field_ref = (env.get("valueFrom") or {}).get("fieldRef")
        if field_ref is not None:
            field_ref.setdefault("apiVersion", "v1")


def pod_spec_defaults(spec: Json) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    if spec.get("serviceAccountName"):
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            _container_defaults(container)
            if spec.get("hostNetwork"):  # a host-network pod's ports are host ports (by hand: hostPort 9100)
                for port in container.get("ports") or []:
                    port.setdefault("hostPort", port.get("containerPort"))


def defaults(obj: Json) -> Json:
    """The object as the API server stores it after defaulting."""
    kind, spec = obj.get("kind"), obj.get("spec")
    meta = obj.setdefault("metadata", {})
    if kind == "Namespace":
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj.setdefault("status", {"phase": "Active"})
    elif kind == "Secret":
        obj.setdefault("type", "Opaque")
        if isinstance(obj.get("data"), dict):
            obj["data"] = {k: "".join(str(v).split()) for k, v in obj["data"].items()}
    elif kind == "Service" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        if spec.get("clusterIP") != "None":
            spec.setdefault("clusterIP",
                            f"10.96.{int(short_hash(meta['name'], 2), 16)}.{len(meta['name']) + 10}")
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
        obj.setdefault("status", {"loadBalancer": {}})
    elif kind == "PersistentVolumeClaim" and isinstance(spec, dict):
        spec.setdefault("volumeMode", "Filesystem")
        meta.setdefault("finalizers", ["kubernetes.io/pvc-protection"])
        obj.setdefault("status", body("g6_pvc_pending_no_storageclass")["status"])
    elif kind in ("Deployment", "StatefulSet", "DaemonSet") and isinstance(spec, dict):
        spec.setdefault("revisionHistoryLimit", 10)
        pod_spec_defaults(spec.setdefault("template", {}).setdefault("spec", {}))
        if kind == "Deployment":
            spec.setdefault("replicas", 1)
            spec.setdefault("progressDeadlineSeconds", 600)
            spec.setdefault("strategy", {"type": "RollingUpdate",
                                         "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        elif kind == "StatefulSet":
            spec.setdefault("replicas", 1)
            spec.setdefault("podManagementPolicy", "OrderedReady")
            spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
            spec.setdefault("persistentVolumeClaimRetentionPolicy",
                            {"whenDeleted": "Retain", "whenScaled": "Retain"})
            for template in spec.get("volumeClaimTemplates") or []:
                template.setdefault("kind", "PersistentVolumeClaim")
                template.setdefault("apiVersion", "v1")
                template.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
                template.setdefault("status", {"phase": "Pending"})
        else:
            spec.setdefault("updateStrategy", {"type": "RollingUpdate",
                                               "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
    elif kind == "Pod" and isinstance(spec, dict):
        pod_spec_defaults(spec)
    return obj


#: Kinds whose metadata.generation the API server maintains (the HPA has none: g9).
GENERATION_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod", "Job", "CronJob",
                              "NetworkPolicy", "PodDisruptionBudget", "CustomResourceDefinition", "Ingress"})


# -- the controllers, with no node --------------------------------------------------------------

def deployment_status(obj: Json, *, deadline_exceeded: bool = False) -> Json:
    """g1a (inside the deadline) or g1 (past it), with this Deployment's counts and ReplicaSet name."""
    fixture = "g1_deployment_grafana" if deadline_exceeded else "g1a_deployment_grafana_within_deadline"
    status: Json = body(fixture)["status"]
    replicas = int(obj["spec"].get("replicas", 1))
    rs = f"{obj['metadata']['name']}-{pod_template_hash(obj)}"
    status.update(observedGeneration=obj["metadata"].get("generation", 1), replicas=replicas,
                  updatedReplicas=replicas, unavailableReplicas=replicas)
    for entry in status["conditions"]:
        entry["message"] = entry["message"].replace("grafana-56b88749f7", rs)
    return status


def statefulset_status(obj: Json) -> Json:
    status: Json = body("g2_statefulset_prometheus")["status"]
    revision = f"{obj['metadata']['name']}-{pod_template_hash(obj)[:9]}"
    replicas = int(obj["spec"].get("replicas", 1))
    status.update(observedGeneration=obj["metadata"].get("generation", 1), replicas=replicas,
                  currentReplicas=replicas, updatedReplicas=replicas, currentRevision=revision,
                  updateRevision=revision)
    return status


def daemonset_status(obj: Json) -> Json:
    status: Json = body("g11_daemonset_alloy")["status"]
    status["observedGeneration"] = obj["metadata"].get("generation", 1)
    return status


def refused_deployment_status(obj: Json, replicaset: str, refused: str) -> Json:
    """j8: its pods refused by admission: Progressing True NewReplicaSetCreated, Available False,
    ReplicaFailure True FailedCreate with the 403 message; no ``replicas`` key (zero is omitted)."""
    status: Json = body("j8_deployment_noncompliant_status")["status"]
    status.update(observedGeneration=obj["metadata"].get("generation", 1),
                  unavailableReplicas=int(obj["spec"].get("replicas", 1)))
    for entry in status["conditions"]:
        if entry["type"] == "Progressing":
            entry["message"] = f'Created new replica set "{replicaset}"'
        elif entry["type"] == "ReplicaFailure":
            entry["message"] = refused
    return status


def replicaset(owner: Json, name: str) -> Json:
    """g3, j6: the Deployment's ReplicaSet (labels, owner, template with ``pod-template-hash``)."""
    template = copy.deepcopy(owner["spec"]["template"])
    pod_hash = name.rsplit("-", 1)[1]
    template.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = pod_hash
    selector = copy.deepcopy(owner["spec"].get("selector") or {})
    selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
    meta = body("j6_replicaset_pods_rejected")["metadata"]
    replicas = int(owner["spec"].get("replicas", 1))
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": owner["metadata"]["namespace"],
                         "labels": dict(template["metadata"]["labels"]),
                         "annotations": {**meta["annotations"],
                                         "deployment.kubernetes.io/desired-replicas": str(replicas)},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                              "name": owner["metadata"]["name"],
                                              "uid": owner["metadata"]["uid"],
                                              "controller": True, "blockOwnerDeletion": True}]},
            "spec": {"replicas": replicas, "selector": selector, "template": template}}


def replicaset_status(replicaset: Json, refused: str | None) -> Json:
    """g3 (its pods created, Pending), or j6 (refused: replicas 0, ReplicaFailure FailedCreate)."""
    if refused is None:
        status: Json = body("g3_replicaset_grafana")["status"]
        replicas = replicaset["spec"]["replicas"]
        status.update(replicas=replicas, fullyLabeledReplicas=replicas)
    else:
        status = body("j6_replicaset_pods_rejected")["status"]
        status["conditions"][0]["message"] = refused
    status["observedGeneration"] = replicaset["metadata"].get("generation", 1)
    return status


def with_old_refusal(status: Json, old: Json) -> None:
    """A fixed template rolls out while the refused ReplicaSet, still wanting its replica, keeps
    failing (by hand on the real 1.36 server): the Deployment carries that ReplicaSet's ReplicaFailure
    between Available and Progressing, and counts its replica as unavailable too."""
    failure = next((c for c in (old.get("status") or {}).get("conditions") or []
                    if c["type"] == "ReplicaFailure"), None)
    if failure is None:
        return
    entry = {"type": "ReplicaFailure", "status": "True", "lastUpdateTime": failure["lastTransitionTime"],
             "lastTransitionTime": failure["lastTransitionTime"], "reason": failure["reason"],
             "message": failure["message"]}
    status["conditions"].insert(1, entry)
    status["unavailableReplicas"] = int(status.get("unavailableReplicas", 0)) + int(old["spec"]["replicas"])


def refused_statefulset_status(obj: Json) -> Json:
    """By hand on the real 1.36 server (a StatefulSet whose pod PodSecurity refuses): ``replicas 0``,
    no ``currentReplicas``/``updatedReplicas`` keys, ``collisionCount 0``, no conditions."""
    status = statefulset_status(obj)
    for key in ("currentReplicas", "updatedReplicas", "readyReplicas"):
        status.pop(key, None)
    status.update(replicas=0, availableReplicas=0, collisionCount=0)
    return status


def hpa_status() -> Json:
    status: Json = body("g9_hpa_phase5_backend")["status"]
    return status


def pod_template_hash(obj: Json) -> str:
    return short_hash((obj.get("spec") or {}).get("template"), 10)


def pending_pod(owner: Json, name: str, *, generate_name: str | None = None) -> Json:
    """A pod of ``owner``'s template as the scheduler leaves it with no node (g4)."""
    template = copy.deepcopy(owner["spec"]["template"])
    meta = template.setdefault("metadata", {})
    meta["name"] = name
    meta["namespace"] = owner["metadata"]["namespace"]
    if generate_name:
        meta["generateName"] = generate_name
    labels = meta.setdefault("labels", {})
    if owner["kind"] == "Deployment":
        labels["pod-template-hash"] = pod_template_hash(owner)
    meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet" if owner["kind"] == "Deployment"
                                else owner["kind"], "name": generate_name.rstrip("-") if generate_name
                                else owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                                "controller": True, "blockOwnerDeletion": True}]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec") or {}}
    pod_spec_defaults(pod["spec"])
    pod["status"] = body("g4_pod_pending_grafana")["status"]
    return pod


def claim(owner: Json, template: Json, ordinal: int) -> Json:
    """The claim a StatefulSet's controller makes from one volume claim template (g6)."""
    name = f"{template['metadata']['name']}-{owner['metadata']['name']}-{ordinal}"
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": name, "namespace": owner["metadata"]["namespace"],
                        "labels": dict((template.get("metadata") or {}).get("labels") or {})},
           "spec": copy.deepcopy(template.get("spec") or {})}
    return defaults(pvc)


def event_pair(regarding: Json, reason: str, message: str, uid: str,
               combined: bool = False, when: str | None = None) -> tuple[Json, Json]:
    """One event in both APIs (g7 core/v1, g8 events.k8s.io/v1), about ``regarding``; ``combined``: the
    recorder's aggregate of similar events, which names no reporting component (j7, and by hand in
    events.k8s.io/v1)."""
    if reason == "FailedCreate":  # j7 (core); the controllers' events.k8s.io shape from g8
        core = _event_template("j7_events_scratch_namespace", "FailedCreate")
        new = _event_template("g8_events_k8s_io_v1_monitoring", "SuccessfulCreate")
        component = {"ReplicaSet": "replicaset-controller",
                     "DaemonSet": "daemonset-controller"}.get(regarding["kind"], "statefulset-controller")
        core.update(source={"component": component}, reportingComponent=component)
        new.update(type="Warning", reportingController=component, deprecatedSource={"component": component})
        if combined:
            core["reportingComponent"] = ""
            new.pop("reportingController", None)
        if when is not None:
            core.update(firstTimestamp=when, lastTimestamp=when)
            new.update(deprecatedFirstTimestamp=when, deprecatedLastTimestamp=when)
    else:
        fixture_reason = "FailedScheduling" if reason == "FailedScheduling" else "FailedBinding"
        core = _event_template("g7_events_v1_monitoring", fixture_reason)
        new = _event_template("g8_events_k8s_io_v1_monitoring", fixture_reason)
    meta = regarding["metadata"]
    ref = {"kind": regarding["kind"], "namespace": meta["namespace"], "name": meta["name"],
           "uid": meta["uid"],
           "apiVersion": regarding["apiVersion"], "resourceVersion": meta.get("resourceVersion", "")}
    name = f"{meta['name']}.{short_hash([meta['uid'], reason, message], 16)}"
    for event in (core, new):
        event["metadata"].update(name=name, namespace=meta["namespace"], uid=uid)
    core.update(involvedObject=ref, reason=reason, message=message)
    new.update(regarding=ref, reason=reason, note=message)
    return core, new


def namespace_conditions(remaining: list[str], finalizers: list[str]) -> Json:
    """h3's five conditions, naming what still holds the namespace."""
    status: Json = body("h3_get_namespace_terminating_conditions")["status"]
    for entry in status["conditions"]:
        if entry["type"] == "NamespaceContentRemaining":
            entry["message"] = "Some resources are remaining: " + ", ".join(remaining)
        elif entry["type"] == "NamespaceFinalizersRemaining":
            entry["message"] = ("Some content in the namespace has finalizers remaining: "
                                + ", ".join(finalizers))
    return status
