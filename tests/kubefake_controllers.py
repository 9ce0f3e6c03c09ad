"""kubefake's controllers and seed: what the controllers do to stored objects with no node, and the
seeded stack of a cluster that has one (the probe's Running pods). See tests/kubefake_cluster.py for
the captured bodies used as templates."""
from __future__ import annotations

import copy
import uuid
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from tests import kubefake_cluster as cluster
from tests import kubefake_podsecurity as podsecurity

if TYPE_CHECKING:
    import itertools
    import threading

    from tests.kubefake import ProbePod, Res

Json = dict[str, Any]


class _Fake(Protocol):
    """The KubeFake members the controllers use: mypy takes a protocol, not the subclass, as a mixin's
    self."""

    objects: dict[tuple[str, str, str], Json]
    probes: dict[str, ProbePod]
    endpoints: set[tuple[str, str]]
    deadline_exceeded: set[tuple[str, str]]
    _lock: threading.RLock
    _versions: itertools.count[int]
    _ns_polls: dict[str, int]

    def get(self, resource: str, namespace: str, name: str) -> Json | None: ...
    def of_kind(self, key: str, namespace: str | None = None) -> list[Json]: ...
    def create(self, body: Json, manager: str, *, dry_run: bool = False,
               namespace: str | None = None) -> Json: ...
    def client_side_apply(self, body: Json) -> Json: ...
    def _replace_pods(self, owner: Json, names: list[str], generate: str | None) -> None: ...
    def _event(self, regarding: Json, reason: str, message: str, combined: bool = False) -> None: ...
    def now(self) -> str: ...
    def add_probe_pod(self, deployment: Json, name: str, ip: str, phase: str = "Running") -> None: ...
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: FailedCreate events a ReplicaSet writes before its recorder combines them (j7: nine, then combined).
REFUSAL_BURST = 9


class Controllers:
    """Mixed into KubeFake."""

    def _react(self: _Fake, res: Res, obj: Json, old: Json | None) -> None:
        """The controllers, with no node (kubefake_cluster): status, pods, claims, events."""
        kind, meta = res.kind, obj["metadata"]
        ns, name = str(meta.get("namespace") or ""), meta["name"]
        if kind == "Namespace" and old is None and name not in ("kube-system",):
            cm = {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": "kube-root-ca.crt", "namespace": name,
                               "annotations": {"kubernetes.io/description": "Contains a CA bundle that can "
                                               "be used to verify the kube-apiserver when using internal "
                                               "endpoints such as the internal service IP or "
                                               "kubernetes.default.svc. No other usage is guaranteed across "
                                               "distributions of Kubernetes clusters."}},
                  "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"}}
            self.create(cm, "kube-controller-manager")
        spec_changed = old is None or old.get("spec") != obj.get("spec")
        if kind == "HorizontalPodAutoscaler" and old is None and "status" not in obj:
            obj["status"] = cluster.hpa_status()
        if kind not in ("Deployment", "StatefulSet", "DaemonSet",
                        "PersistentVolumeClaim") or not spec_changed:
            return
        namespace = self.get("namespaces", "", ns)
        template_spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        if kind == "Deployment":
            rs = f"{name}-{cluster.pod_template_hash(obj)}"
            pods = [f"{rs}-{cluster.short_hash([rs, i], 5)}" for i in range(REFUSAL_BURST + 1)]
            refusals = [podsecurity.refusal(namespace, template_spec, pod) for pod in pods]
            if self.get("replicasets", ns, rs) is None:  # g3, j6: the ReplicaSet of this template
                made = self.create(cluster.replicaset(obj, rs), "kube-controller-manager")
                self.objects[("replicasets", ns, rs)]["status"] = cluster.replicaset_status(made,
                                                                                            refusals[0])
            if refusals[0] is not None:  # j6-j8: the ReplicaSet cannot create its pods
                obj["status"] = cluster.refused_deployment_status(obj, rs, refusals[0])
                self._replace_pods(obj, [], generate=None)
                replicaset = self.objects[("replicasets", ns, rs)]
                # j7: the controller's retries, one event each, then the recorder's aggregate.
                for refused in refusals[:REFUSAL_BURST]:
                    self._event(replicaset, "FailedCreate", f"Error creating: {refused}")
                self._event(replicaset, "FailedCreate",
                            f"(combined from similar events): Error creating: {refusals[-1]}", combined=True)
                return
            obj["status"] = cluster.deployment_status(obj,
                                                      deadline_exceeded=(ns, name) in self.deadline_exceeded)
            for old_rs in self.of_kind("replicasets", ns):  # a refused ReplicaSet of an earlier template
                owners = old_rs["metadata"].get("ownerReferences") or []
                if old_rs["metadata"]["name"] != rs and any(r.get("uid") == meta["uid"] for r in owners):
                    cluster.with_old_refusal(obj["status"], old_rs)
            self._replace_pods(obj,
                               [f"{name}-{cluster.pod_template_hash(obj)}-{cluster.short_hash([name, i], 5)}"
                                     for i in range(int(obj["spec"].get("replicas", 1)))],
                               generate=f"{name}-{cluster.pod_template_hash(obj)}-")
        elif kind == "StatefulSet":
            obj["status"] = cluster.statefulset_status(obj)
            before = (old or {}).get("status") or {}
            if old is not None and "currentReplicas" not in before:  # fixed after a refusal (by hand):
                obj["status"]["currentRevision"] = before.get("currentRevision")  # no pod at the old one
                obj["status"].pop("currentReplicas", None)
            replicas = int(obj["spec"].get("replicas", 1))
            for template in obj["spec"].get("volumeClaimTemplates") or []:
                for ordinal in range(replicas):
                    pvc = cluster.claim(obj, template, ordinal)
                    if self.get("persistentvolumeclaims", ns, pvc["metadata"]["name"]) is None:
                        self.create(pvc, "kube-controller-manager")
            refused = podsecurity.refusal(namespace, template_spec, f"{name}-0")
            if refused is not None:  # by hand on the real 1.36 server: no pod, no condition, one event
                obj["status"] = cluster.refused_statefulset_status(obj)
                self._replace_pods(obj, [], generate=None)
                self._event(obj, "FailedCreate",
                            f"Create Pod {name}-0 in StatefulSet {name} failed error: {refused}")
                return
            self._replace_pods(obj, [f"{name}-{i}" for i in range(replicas)], generate=None)
        elif kind == "DaemonSet":
            obj["status"] = cluster.daemonset_status(obj)
        elif kind == "PersistentVolumeClaim" and old is None:
            self._event(obj, "FailedBinding", "no persistent volumes available for this claim and no storage "
                                              "class is set")

    def _replace_pods(self: _Fake, owner: Json, names: list[str], generate: str | None) -> None:
        uid = owner["metadata"]["uid"]
        ns = owner["metadata"]["namespace"]
        for pod in self.of_kind("pods", ns):
            if any(r.get("uid") == uid for r in pod["metadata"].get("ownerReferences") or []) \
                    and pod["metadata"]["name"] not in names:
                self.objects.pop(("pods", ns, pod["metadata"]["name"]), None)
        for name in names:
            if self.get("pods", ns, name) is None:
                pod = self.create(cluster.pending_pod(owner, name, generate_name=generate),
                                  "kube-controller-manager")
                self._event(pod, "FailedScheduling", "no nodes available to schedule pods")

    def _event(self: _Fake, regarding: Json, reason: str, message: str, combined: bool = False) -> None:
        core, new = cluster.event_pair(regarding, reason, message, str(uuid.uuid4()), combined=combined,
                                       when=self.now() if reason == "FailedCreate" else None)
        ns = regarding["metadata"]["namespace"]
        core["metadata"]["resourceVersion"] = new["metadata"]["resourceVersion"] = str(next(self._versions))
        self.objects[("events", ns, core["metadata"]["name"])] = {"kind": "Event", "apiVersion": "v1", **core}
        self.objects[("events.k8s.io", ns, new["metadata"]["name"])] = {
            "kind": "Event", "apiVersion": "events.k8s.io/v1", **new}

    def expire_deadline(self: _Fake, namespace: str, name: str) -> None:
        """The Deployment ran out of progressDeadlineSeconds (g1: Progressing False
        ProgressDeadlineExceeded)."""
        self.deadline_exceeded.add((namespace, name))
        with self._lock:
            obj = self.objects[("deployments", namespace, name)]
            obj["status"] = cluster.deployment_status(obj, deadline_exceeded=True)

    def _seed(self: _Fake, manifests: Path, allow_faults: set[str], pods: int, with_sink: bool) -> None:
        docs, deployment, hpa = copy.deepcopy(_manifest_docs(manifests))
        for doc in docs:
            if doc.get("kind") == "Namespace":
                if doc["metadata"]["name"] in allow_faults:
                    doc["metadata"].setdefault("labels", {})["stackcheck.dev/allow-faults"] = "true"
                self.client_side_apply(doc)
            elif doc.get("kind") == "Service":
                self.client_side_apply(doc)
                self.endpoints.add((doc["metadata"]["namespace"], doc["metadata"]["name"]))
        if with_sink:
            sink = {"apiVersion": "v1", "kind": "Service",
                    "metadata": {"name": "stackcheck-sink", "namespace": "monitoring",
                                 "labels": {"app.kubernetes.io/name": "stackcheck-sink"}},
                    "spec": {"type": "ClusterIP", "selector": {"app.kubernetes.io/name": "stackcheck-sink"},
                             "ports": [{"name": "smtp", "port": 2525, "targetPort": 2525, "protocol": "TCP"},
                                       {"name": "http", "port": 8080, "targetPort": 8080,
                                        "protocol": "TCP"}]}}
            self.client_side_apply(sink)
            self.endpoints.add(("monitoring", "stackcheck-sink"))
        deployment["spec"]["replicas"] = pods
        stored = self.client_side_apply(deployment)
        # A cluster with a node: a completed rollout (not captured here, kubernetes-api.md §3).
        done = {"availableReplicas": pods, "observedGeneration": 1, "readyReplicas": pods, "replicas": pods,
                "updatedReplicas": pods,
                "conditions": [{"lastTransitionTime": cluster.CREATED_AT,
                                "lastUpdateTime": cluster.CREATED_AT,
                                "message": "Deployment has minimum availability.",
                                "reason": "MinimumReplicasAvailable", "status": "True", "type": "Available"},
                               {"lastTransitionTime": cluster.CREATED_AT,
                                "lastUpdateTime": cluster.CREATED_AT,
                                "message": f'ReplicaSet "phase5-backend-{cluster.pod_template_hash(stored)}" '
                                           "has successfully progressed.",
                                "reason": "NewReplicaSetAvailable", "status": "True", "type": "Progressing"}]}
        with self._lock:
            for pod in self.of_kind("pods", "phase5"):
                self.objects.pop(("pods", "phase5", pod["metadata"]["name"]), None)
            for key in [k for k in self.objects if k[0] in ("events", "events.k8s.io") and k[1] == "phase5"]:
                self.objects.pop(key)
            self.objects[("deployments", "phase5", "phase5-backend")]["status"] = done
        stored_hpa = self.client_side_apply(hpa)
        hpa_status = cluster.hpa_status()
        hpa_status.update(currentReplicas=pods, desiredReplicas=pods)
        with self._lock:
            self.objects[("horizontalpodautoscalers", "phase5",
                          stored_hpa["metadata"]["name"])]["status"] = hpa_status
        for index, suffix in zip(range(pods), ("4xk2p", "9qzlm", "b7t2w", "x5vnc"), strict=False):
            self.add_probe_pod(self.get("deployments", "phase5", "phase5-backend") or stored,
                               f"phase5-backend-{cluster.pod_template_hash(stored)}-{suffix}",
                               f"10.244.0.{11 + index}")

    def add_probe_pod(self: _Fake, deployment: Json, name: str, ip: str, phase: str = "Running") -> None:
        """A pod of the probe's ReplicaSet as a kubelet reports it (Running, Ready, with an IP; not
        captured)."""
        pod = cluster.pending_pod(deployment, name, generate_name=name.rsplit("-", 1)[0] + "-")
        pod["spec"].update(nodeName="kind-control-plane")
        container = pod["spec"]["containers"][0]
        pod["status"] = {
            "phase": phase, "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "172.18.0.2",
            "qosClass": "Burstable", "startTime": cluster.CREATED_AT,
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": cluster.CREATED_AT}
                           for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
            "containerStatuses": [{"name": container["name"], "image": container["image"], "ready": True,
                                   "restartCount": 0, "started": True,
                                   "state": {"running": {"startedAt": cluster.CREATED_AT}}}]}
        stored = self.create(pod, "kube-controller-manager")
        with self._lock:
            self.objects[("pods", "phase5", name)]["status"] = stored["status"] = pod["status"]
        self.probes[name] = _probe_pod()

    def _namespace_controller(self: _Fake, name: str) -> None:
        """h1–h7: a Terminating namespace is seen once as is; then its content goes, and it goes when
        empty."""
        ns = self.objects.get(("namespaces", "", name))
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return
        polls = self._ns_polls.get(name, 0) + 1
        self._ns_polls[name] = polls
        if polls < 2:
            return
        remaining, held = [], []
        for key in [k for k in self.objects if k[1] == name]:
            obj = self.objects[key]
            if obj["metadata"].get("finalizers") and key[0] != "persistentvolumeclaims":
                obj["metadata"].setdefault("deletionTimestamp", cluster.CREATED_AT)
                obj["metadata"]["deletionGracePeriodSeconds"] = 0
                remaining.append(key[0])
                held += list(obj["metadata"]["finalizers"])
            else:
                self.objects.pop(key)
        if remaining:
            ns["status"] = cluster.namespace_conditions(
                [f"{r}. has {remaining.count(r)} resource instances" for r in sorted(set(remaining))],
                [f"{f} in {held.count(f)} resource instances" for f in sorted(set(held))])
            return
        self.objects.pop(("namespaces", "", name))
        self._ns_polls.pop(name, None)


def _probe_pod() -> Any:
    from tests.kubefake import ProbePod

    return ProbePod()


@lru_cache(maxsize=4)
def _manifest_docs(manifests: Path) -> tuple[list[Json], Json, Json]:
    """The Namespace and Service objects, the probe's Deployment and its HPA (parsed once per run)."""
    docs = []
    for path in sorted(manifests.glob("*/*.yaml")):
        text = path.read_text()
        if _seeded_kinds().search(text):
            doc = yaml.load(text, Loader=_LOADER)
            if isinstance(doc, dict):
                docs.append(doc)
    probe = manifests / "probe"
    deployment = yaml.load((probe / "phase5-backend-deployment.yaml").read_text(), Loader=_LOADER)
    hpa = yaml.load((probe / "phase5-backend-horizontalpodautoscaler.yaml").read_text(), Loader=_LOADER)
    return docs, deployment, hpa




def _seeded_kinds() -> Any:
    from tests.kubefake import _SEEDED_KINDS

    return _SEEDED_KINDS
