"""A Kubernetes API test double: only the API paths the kubernetes target and fault driver use.

Body shapes follow ``shared/reference/configs/kubernetes-api.md`` (real captures and apimachinery's
formats):

- Errors are ``Status`` objects. The 401 body is the verbatim capture. 403, 404 and 409 use
  apimachinery's message formats (``deployments.apps "web" not found``).
- Objects carry ``apiVersion``, ``kind``, ``metadata`` (uid, resourceVersion, generation,
  creationTimestamp), ``spec`` and ``status``.
- A list is a ``<Kind>List`` with ``metadata.resourceVersion`` and ``items``, and the items carry
  no kind or apiVersion, as the API server sends them.

The stored objects start as the repository's manifests: the Namespaces, every Service, and the
phase5-backend Deployment and HPA. To these the double adds the fields the server and its
controllers fill in, and two Running probe pods made from the Deployment's template.

Paths served:

- ``/api/v1/namespaces/{name}``: GET.
- ``/api/v1/namespaces/{ns}/{pods,services}[/{name}]``, ``/apis/apps/v1/namespaces/{ns}/deployments[/…]``
  and ``/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers[/…]``: GET (a list takes
  ``labelSelector``), POST, PATCH (strategic-merge or merge patch), DELETE.
- ``/api/v1/namespaces/{ns}/services/{scheme}:{name}:{port}/proxy/...``: any verb, answered by
  ``service_handler``.
- ``/api/v1/namespaces/{ns}/pods/{pod}:{port}/proxy/faults``: GET, POST, DELETE, served by the real
  probe's ``FaultState`` (one per pod).

Every request needs ``Authorization: Bearer <token>`` and is recorded in ``requests``.

>>> with KubeFake(token="t0ken") as fake:                                  # doctest: +SKIP
...     fake.write_kubeconfig(tmp_path / "config")
"""
from __future__ import annotations

import copy
import itertools
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml
from requests.structures import CaseInsensitiveDict

from stackcheck.manifests import BUNDLED_MANIFESTS
from stackcheck.probe import FaultState, ProbeError, parse_fault_request
from tests.loopback import LoopbackServer

Json = dict[str, Any]
CREATED_AT = "2026-07-23T10:00:00Z"
CONTEXT = "kind-stackcheck"

#: resource → (kind, apiVersion, API group)
RESOURCES = {
    "namespaces": ("Namespace", "v1", ""),
    "pods": ("Pod", "v1", ""),
    "services": ("Service", "v1", ""),
    "deployments": ("Deployment", "apps/v1", "apps"),
    "horizontalpodautoscalers": ("HorizontalPodAutoscaler", "autoscaling/v2", "autoscaling"),
}
PREFIXES = {"/api/v1": "", "/apis/apps/v1": "apps", "/apis/autoscaling/v2": "autoscaling"}
_SEEDED_KINDS = re.compile(r"^kind:\s*(Namespace|Service)\s*$", re.MULTILINE)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MERGE_TYPES = ("application/strategic-merge-patch+json", "application/merge-patch+json")

#: Verbatim: kubernetes-api.md §2b (kubernetes/kubernetes#61978).
UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Unauthorized", "reason": "Unauthorized", "code": 401}

_NAMESPACE = re.compile(r"^/api/v1/namespaces/(?P<name>[^/]+)$")
_SERVICE_PROXY = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/services/(?P<ref>[^/]+)/proxy(?P<rest>/.*)?$")
_POD_PROXY = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<pod>[^/:]+):(?P<port>\d+)"
                        r"/proxy(?P<rest>/.*)?$")
_RESOURCE = re.compile(r"^(?P<prefix>/api/v1|/apis/apps/v1|/apis/autoscaling/v2)/namespaces/(?P<ns>[^/]+)/"
                       r"(?P<res>[a-z]+)(?:/(?P<name>[^/]+))?$")


def status(code: int, reason: str, message: str, details: Json | None = None) -> Json:
    """A ``Status`` failure body (kubernetes-api.md §2)."""
    body: Json = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": message, "reason": reason}
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


def _qualified(resource: str) -> str:
    group = RESOURCES[resource][2]
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, name: str) -> Json:
    """apimachinery ``NewNotFound``: ``deployments.apps "web" not found``."""
    details: Json = {"name": name, "kind": resource}
    if RESOURCES[resource][2]:
        details["group"] = RESOURCES[resource][2]
    return status(404, "NotFound", f'{_qualified(resource)} "{name}" not found', details)


def already_exists(resource: str, name: str) -> Json:
    """apimachinery ``NewAlreadyExists``: ``pods "x" already exists``."""
    details: Json = {"name": name, "kind": resource}
    if RESOURCES[resource][2]:
        details["group"] = RESOURCES[resource][2]
    return status(409, "AlreadyExists", f'{_qualified(resource)} "{name}" already exists', details)


def forbidden(resource: str, verb: str, namespace: str, name: str | None) -> Json:
    """The apiserver's ``forbiddenMessage`` format (kubernetes-api.md §2c)."""
    group = RESOURCES[resource][2]
    named = f' "{name}"' if name else ""
    message = (f'{_qualified(resource)}{named} is forbidden: User "system:serviceaccount:ci:stackcheck" '
               f'cannot {verb} resource "{resource}" in API group "{group}" in the namespace "{namespace}"')
    details: Json = {"kind": resource}
    if group:
        details["group"] = group
    if name:
        details["name"] = name
    return status(403, "Forbidden", message, details)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 merge: maps merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _selects(selector: str | None, labels: dict[str, str]) -> bool:
    for term in filter(None, (selector or "").split(",")):
        key, eq, value = term.partition("=")
        if (key not in labels) if not eq else (labels.get(key) != value):
            return False
    return True


@dataclass
class Recorded:
    """One request the double received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    raw_query: str = ""

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


@dataclass
class ProbePod:
    """The fault switches of one probe pod, kept by the real probe's ``FaultState``."""

    faults: FaultState = field(default_factory=FaultState)

    def handle(self, method: str, query: dict[str, list[str]], body: Any) -> tuple[int, Json]:
        if method == "GET":
            return 200, self.faults.to_json()
        if method == "DELETE":
            self.faults.clear(_first(query, "run_id"))
            return 200, self.faults.to_json()
        try:
            changes, run_id = parse_fault_request(body)
        except ProbeError as exc:
            return exc.status, {"error": str(exc)}
        self.faults.apply(changes, run_id)
        return 200, self.faults.to_json()


ServiceHandler = Callable[[str, str, str], tuple[int, str, bytes]]


class KubeFake(LoopbackServer):
    """The double: a ThreadingHTTPServer on 127.0.0.1 and the objects it serves."""

    def __init__(self, token: str, *, allow_faults: Iterable[str] = (), probe_pods: int = 2,
                 with_sink: bool = False, manifests: Path = BUNDLED_MANIFESTS) -> None:
        self.token = token
        self.requests: list[Recorded] = []
        self.objects: dict[tuple[str, str, str], Json] = {}
        self.probes: dict[str, ProbePod] = {}
        #: (method, resource) pairs answered 403, e.g. ("patch", "horizontalpodautoscalers").
        self.forbid: set[tuple[str, str]] = set()
        #: Status code every pod-proxy request gets instead of reaching the pod (e.g. 503).
        self.pod_proxy_status: int | None = None
        #: Answers service-proxy requests: (method, "ns/scheme:name:port", path?query after /proxy) →
        #: (status, content type, body).
        self.service_handler: ServiceHandler = lambda method, ref, rest: (200, "text/plain", b"ok\n")
        self._lock = threading.Lock()
        self._versions = itertools.count(1000)
        self._seed(manifests, set(allow_faults), probe_pods, with_sink)
        self._serve(self._handler_class(), poll_interval=0.02)

    # -- lifecycle ----------------------------------------------------------------------------------


    def write_kubeconfig(self, path: Path, *, token: str | None = None, context: str = CONTEXT,
                         server: str | None = None, others: Iterable[str] = ()) -> Path:
        """A kubeconfig whose current context points at this double with bearer-token auth."""
        names = [context, *others]
        doc = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": n, "cluster": {"server": server or self.url}} for n in names],
            "users": [{"name": n, "user": {"token": token or self.token}} for n in names],
            "contexts": [{"name": n, "context": {"cluster": n, "user": n, "namespace": "monitoring"}}
                         for n in names],
            "current-context": context,
        }
        path.write_text(yaml.safe_dump(doc))
        return path

    # -- objects ------------------------------------------------------------------------------------

    def get(self, resource: str, namespace: str, name: str) -> Json | None:
        with self._lock:
            found = self.objects.get((resource, namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def put(self, resource: str, namespace: str, body: Json) -> Json:
        """Store an object as the API server would after a create."""
        kind, api_version, _ = RESOURCES[resource]
        obj = copy.deepcopy(body)
        obj["apiVersion"], obj["kind"] = api_version, kind
        meta = obj.setdefault("metadata", {})
        if resource != "namespaces":
            meta["namespace"] = namespace
        meta.update(uid=str(uuid.uuid4()), resourceVersion=str(next(self._versions)), generation=1,
                    creationTimestamp=CREATED_AT)
        with self._lock:
            self.objects[(resource, namespace, meta["name"])] = obj
        return copy.deepcopy(obj)

    def calls(self, method: str | None = None, path_part: str = "") -> list[Recorded]:
        """Recorded requests, by method and a substring of the path."""
        return [r for r in self.requests if (method is None or r.method == method) and path_part in r.path]

    def probe_pod_names(self) -> list[str]:
        return sorted(self.probes)

    def _seed(self, manifests: Path, allow_faults: set[str], pods: int, with_sink: bool) -> None:
        docs, deployment, hpa = copy.deepcopy(_manifest_docs(manifests))
        for doc in docs:
            if doc.get("kind") == "Namespace":
                name = doc["metadata"]["name"]
                labels = doc["metadata"].setdefault("labels", {})
                labels["kubernetes.io/metadata.name"] = name  # set by the API server
                if name in allow_faults:
                    labels["stackcheck.dev/allow-faults"] = "true"
                doc["spec"], doc["status"] = {"finalizers": ["kubernetes"]}, {"phase": "Active"}
                self.put("namespaces", "", doc)
            elif doc.get("kind") == "Service":
                if doc["spec"].get("clusterIP") != "None":
                    doc["spec"]["clusterIP"] = f"10.96.{len(self.objects) % 250}.{len(self.objects) % 7 + 10}"
                doc["status"] = {"loadBalancer": {}}
                self.put("services", doc["metadata"]["namespace"], doc)
        if with_sink:
            self.put("services", "monitoring", {
                "metadata": {"name": "stackcheck-sink",
                             "labels": {"app.kubernetes.io/name": "stackcheck-sink"}},
                "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.99",
                         "selector": {"app.kubernetes.io/name": "stackcheck-sink"},
                         "ports": [{"name": "smtp", "port": 2525, "targetPort": 2525, "protocol": "TCP"},
                                   {"name": "http", "port": 8080, "targetPort": 8080, "protocol": "TCP"}]},
                "status": {"loadBalancer": {}}})
        deployment["spec"].update(replicas=pods, revisionHistoryLimit=10, progressDeadlineSeconds=600)
        # kubernetes-api.md §3: a complete rollout.
        deployment["status"] = {
            "availableReplicas": pods, "observedGeneration": 1, "readyReplicas": pods, "replicas": pods,
            "updatedReplicas": pods,
            "conditions": [
                {"lastTransitionTime": CREATED_AT, "lastUpdateTime": CREATED_AT,
                 "message": "Deployment has minimum availability.", "reason": "MinimumReplicasAvailable",
                 "status": "True", "type": "Available"},
                {"lastTransitionTime": CREATED_AT, "lastUpdateTime": CREATED_AT,
                 "message": 'ReplicaSet "phase5-backend-7c9d8f6b5d" has successfully progressed.',
                 "reason": "NewReplicaSetAvailable", "status": "True", "type": "Progressing"}]}
        stored = self.put("deployments", "phase5", deployment)
        hpa["status"] = {"currentReplicas": pods, "desiredReplicas": pods, "currentMetrics": None,
                         "conditions": [{"type": "AbleToScale", "status": "True",
                                         "reason": "ReadyForNewScale", "lastTransitionTime": CREATED_AT,
                                         "message": "recommended size matches current size"}]}
        self.put("horizontalpodautoscalers", "phase5", hpa)
        for index, suffix in zip(range(pods), ("4xk2p", "9qzlm", "b7t2w", "x5vnc"), strict=False):
            self.add_probe_pod(stored, f"phase5-backend-7c9d8f6b5d-{suffix}", f"10.244.0.{11 + index}")

    def add_probe_pod(self, deployment: Json, name: str, ip: str, phase: str = "Running") -> None:
        """A pod of the probe's ReplicaSet, as the kubelet reports it."""
        template = copy.deepcopy(deployment["spec"]["template"])
        meta = template["metadata"]
        meta["name"] = name
        meta["labels"]["pod-template-hash"] = "7c9d8f6b5d"
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                    "name": "phase5-backend-7c9d8f6b5d", "uid": str(uuid.uuid4()),
                                    "controller": True, "blockOwnerDeletion": True}]
        spec = template["spec"]
        spec.update(nodeName="kind-control-plane", restartPolicy="Always", schedulerName="default-scheduler")
        container = spec["containers"][0]
        template["status"] = {
            "phase": phase, "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "172.18.0.2",
            "qosClass": "Burstable", "startTime": CREATED_AT,
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": CREATED_AT}
                           for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
            "containerStatuses": [{"name": container["name"], "image": container["image"], "ready": True,
                                   "restartCount": 0, "started": True,
                                   "state": {"running": {"startedAt": CREATED_AT}}}]}
        self.put("pods", "phase5", template)
        self.probes[name] = ProbePod()

    # -- HTTP ---------------------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw
                record = Recorded(self.command, parts.path, parse_qs(parts.query), CaseInsensitiveDict(self.headers.items()),
                                  body, parts.query)
                fake.requests.append(record)
                code, content_type, payload = fake.answer(record)
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        return Handler

    def answer(self, req: Recorded) -> tuple[int, str, bytes]:
        if req.headers.get("Authorization") != f"Bearer {self.token}":
            return _json(401, UNAUTHORIZED)
        if match := _SERVICE_PROXY.match(req.path):
            ns, ref = match["ns"], match["ref"]
            name = ref.split(":")[1] if ref.count(":") == 2 else ref.split(":")[0]
            if self.get("services", ns, name) is None:
                return _json(404, not_found("services", name))
            rest = (match["rest"] or "/") + (f"?{req.raw_query}" if req.raw_query else "")
            return self.service_handler(req.method, f"{ns}/{ref}", rest)
        if match := _POD_PROXY.match(req.path):
            return self._pod_proxy(req, match["ns"], match["pod"], int(match["port"]), match["rest"] or "/")
        if match := _NAMESPACE.match(req.path):
            return self._crud(req, "namespaces", "", match["name"])
        if match := _RESOURCE.match(req.path):
            group, resource = PREFIXES[match["prefix"]], match["res"]
            if resource not in RESOURCES or RESOURCES[resource][2] != group:
                return _json(404, status(404, "NotFound", "the server could not find the requested resource"))
            return self._crud(req, resource, match["ns"], match["name"])
        return _json(404, status(404, "NotFound", "the server could not find the requested resource"))

    def _pod_proxy(self, req: Recorded, ns: str, name: str, port: int, rest: str) -> tuple[int, str, bytes]:
        pod = self.get("pods", ns, name)
        if pod is None:
            return _json(404, not_found("pods", name))
        if self.pod_proxy_status is not None:
            # The apiserver's proxy dial failure: "error trying to reach service: <dial error>".
            return _json(self.pod_proxy_status, status(
                self.pod_proxy_status, "ServiceUnavailable",
                f"error trying to reach service: dial tcp {pod['status'].get('podIP')}:{port}: i/o timeout"))
        ports = {p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports") or []}
        probe = self.probes.get(name)
        if port not in ports or probe is None or rest != "/faults":
            return _json(503, status(503, "ServiceUnavailable", f"error trying to reach service: dial tcp "
                                     f"{pod['status'].get('podIP')}:{port}: connect: connection refused"))
        code, body = probe.handle(req.method, req.query, req.body)
        return _json(code, body)

    def _crud(self, req: Recorded, resource: str, ns: str, name: str | None) -> tuple[int, str, bytes]:
        verb = {"GET": "get" if name else "list", "POST": "create", "PATCH": "patch", "DELETE": "delete",
                "PUT": "update"}[req.method]
        if (verb, resource) in self.forbid:
            return _json(403, forbidden(resource, verb, ns, name))
        if verb == "list":
            return self._list(resource, ns, _first(req.query, "labelSelector"))
        if verb == "create":
            new_name = str(req.body["metadata"]["name"])
            if self.get(resource, ns, new_name) is not None:
                return _json(409, already_exists(resource, new_name))
            body = copy.deepcopy(req.body)
            if resource == "pods":
                body["status"] = {"phase": "Pending", "qosClass": "Burstable"}
            elif resource == "deployments":
                body["status"] = {}
            return _json(201, self.put(resource, ns, body))
        assert name is not None
        current = self.get(resource, ns, name)
        if current is None:
            return _json(404, not_found(resource, name))
        if verb == "get":
            return _json(200, current)
        if verb == "delete":
            with self._lock:
                self.objects.pop((resource, ns, name), None)
            if resource == "pods":
                current["metadata"]["deletionTimestamp"] = CREATED_AT
                current["metadata"]["deletionGracePeriodSeconds"] = 1
                return _json(200, current)
            return _json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                               "details": {"name": name, "group": RESOURCES[resource][2], "kind": resource,
                                           "uid": current["metadata"]["uid"]}})
        if verb == "patch":
            if req.content_type not in MERGE_TYPES:
                return _json(415, status(415, "UnsupportedMediaType",
                                         f"the body of the request was in an unknown format - accepted media "
                                         f"types include: {', '.join(MERGE_TYPES)}"))
            patched = merge_patch(current, req.body)
            meta = patched["metadata"]
            for key in ("labels", "annotations"):
                if key in meta and not meta[key]:
                    del meta[key]  # an empty map is omitted, as the API server's JSON does
            meta["resourceVersion"] = str(next(self._versions))
            if patched.get("spec") != current.get("spec"):
                meta["generation"] = int(meta.get("generation", 1)) + 1
            with self._lock:
                self.objects[(resource, ns, name)] = patched
            return _json(200, copy.deepcopy(patched))
        return _json(405, status(405, "MethodNotAllowed", "the server does not allow this method"))

    def _list(self, resource: str, ns: str, selector: str | None) -> tuple[int, str, bytes]:
        kind, api_version, _ = RESOURCES[resource]
        with self._lock:
            found = [copy.deepcopy(o) for (r, n, _), o in sorted(self.objects.items())
                     if r == resource and n == ns
                     and _selects(selector, (o.get("metadata") or {}).get("labels") or {})]
        for item in found:
            item.pop("kind", None)
            item.pop("apiVersion", None)
        return _json(200, {"kind": f"{kind}List", "apiVersion": api_version,
                           "metadata": {"resourceVersion": str(next(self._versions))}, "items": found})


@lru_cache(maxsize=4)
def _manifest_docs(manifests: Path) -> tuple[list[Json], Json, Json]:
    """The Namespace and Service objects, the probe's Deployment and its HPA (parsed once per run)."""
    docs = []
    for path in sorted(manifests.glob("*/*.yaml")):
        text = path.read_text()
        if _SEEDED_KINDS.search(text):
            doc = yaml.load(text, Loader=_LOADER)
            if isinstance(doc, dict):
                docs.append(doc)
    probe = manifests / "probe"
    deployment = yaml.load((probe / "phase5-backend-deployment.yaml").read_text(), Loader=_LOADER)
    hpa = yaml.load((probe / "phase5-backend-horizontalpodautoscaler.yaml").read_text(), Loader=_LOADER)
    return docs, deployment, hpa


def _first(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def _json(code: int, body: Any) -> tuple[int, str, bytes]:
    return code, "application/json", json.dumps(body).encode()
