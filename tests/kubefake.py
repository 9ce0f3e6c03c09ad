"""A Kubernetes API test double that answers as the real 1.36 API server did
(``shared/contracts/kubernetes.md``).

It follows the captures in ``tests/contracts/kubernetes/`` in each way that file's "Where a naive double
goes wrong" lists (the bodies come from the captures, not from memory):

- service proxy: 503 ``no endpoints available for service "x"`` when no ready pod backs the Service,
  503 ``no service port …``, 400 ``invalid service request`` for a malformed ref, 404 for an unknown
  Service (a1–a8); pod proxy: 400 ``address not allowed`` for a pod without an IP (b1, b2), 404 (b3);
- no credentials: 403 for ``system:anonymous`` (c1, c2), except ``/version`` and ``/readyz`` (c3, c4);
  a wrong token: 401 (c5);
- server-side apply: 201 create / 200 no-op with the same resourceVersion / 409 FieldManagerConflict /
  ``force`` / dryRun / 422 without ``fieldManager`` / 500 for an unknown field (d1–d11, in
  :mod:`tests.kubefake_ssa`); strategic merge by name, merge patch, JSON patch, 415 for
  ``application/json`` (e1–e7); the HPA's 422s and strict validation with its ``Warning`` header
  (f1–f5); dry runs store nothing;
- managedFields on every object, ``generation`` only on kinds that have one (not the HPA, g9);
- with no node (``node=False``, the default for objects created through the API): the controllers'
  status, Pending pods with no IP, Pending claims, FailedScheduling/FailedBinding events in both
  event APIs (g1–g12, :mod:`tests.kubefake_cluster`);
- DELETE: an unscheduled pod answers with the pod and is gone at once (k6, k7); a Namespace answers
  with itself ``Terminating`` and disappears only when empty (h1–h7);
- PodSecurity admission (j1–j8, rows 21 and 22; a documented subset of the checks in
  :mod:`tests.kubefake_podsecurity`): a violating Pod is 403 before the name check, workloads get
  ``Warning`` headers, and their controllers report ``ReplicaFailure``/``FailedCreate``.

Not modelled: other admission (quotas, webhooks), watches, logs, exec, port-forward, aggregated
discovery, the openshift fork's extra ConfigMap (row 26), strict field validation of patches to kinds
other than the HPA (row 13 is modelled for the HPA only), duplicate YAML keys in an apply body (row 19,
d7d/d7e: stackcheck sends JSON, which cannot carry them), map key order in the JSON (row 27: no client
compares text), nodes (so no DaemonSet ever tries to create a pod).
``/api/v1`` and ``/apis/<group>/<version>`` resource lists are not in the captures; they list the
kinds below in the documented ``APIResourceList`` shape.

``KubeFake(token)`` starts with the stack of manifests/ running (seed=True: Namespaces, Services with
endpoints, the probe's Deployment, HPA and two Running probe pods, as a cluster with a node has
them). ``KubeFake(token, seed=False)`` is an empty cluster with no node, for deploy and destroy.

>>> with KubeFake(token="t0ken") as fake:                                  # doctest: +SKIP
...     fake.write_kubeconfig(tmp_path / "config")
"""
from __future__ import annotations

import copy
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml
from requests.structures import CaseInsensitiveDict

from stackcheck.kube.access import KubeAccess
from stackcheck.manifests import BUNDLED_MANIFESTS
from stackcheck.probe import FaultState, ProbeError, parse_fault_request
from stackcheck.targets.base import Target
from tests import kubefake_cluster as cluster
from tests import kubefake_ssa as ssa
from tests.kubefake_controllers import Controllers
from tests.kubefake_proxy import Proxies
from tests.loopback import LoopbackServer

Json = dict[str, Any]
CREATED_AT = cluster.CREATED_AT
CONTEXT = "kind-stackcheck"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SEEDED_KINDS = re.compile(r"^kind:\s*(Namespace|Service)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Res:
    """One served resource."""

    plural: str
    kind: str
    group: str
    version: str
    #: Stated for every resource, as discovery's ``APIResource.namespaced`` is.
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """The store key: the plural, except the second Event API."""
        return "events.k8s.io" if self.group == "events.k8s.io" else self.plural

    @property
    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCES = [Res(*r) for r in (
    ("namespaces", "Namespace", "", "v1", False), ("pods", "Pod", "", "v1", True),
    ("services", "Service", "", "v1", True), ("configmaps", "ConfigMap", "", "v1", True),
    ("secrets", "Secret", "", "v1", True),
    ("serviceaccounts", "ServiceAccount", "", "v1", True),
    ("persistentvolumeclaims", "PersistentVolumeClaim", "", "v1", True),
    ("events", "Event", "", "v1", True), ("deployments", "Deployment", "apps", "v1", True),
    ("statefulsets", "StatefulSet", "apps", "v1", True), ("daemonsets", "DaemonSet", "apps", "v1", True),
    ("replicasets", "ReplicaSet", "apps", "v1", True),
    ("horizontalpodautoscalers", "HorizontalPodAutoscaler", "autoscaling", "v2", True),
    ("networkpolicies", "NetworkPolicy", "networking.k8s.io", "v1", True),
    ("poddisruptionbudgets", "PodDisruptionBudget", "policy", "v1", True),
    ("clusterroles", "ClusterRole", "rbac.authorization.k8s.io", "v1", False),
    ("clusterrolebindings", "ClusterRoleBinding", "rbac.authorization.k8s.io", "v1", False),
    ("roles", "Role", "rbac.authorization.k8s.io", "v1", True),
    ("rolebindings", "RoleBinding", "rbac.authorization.k8s.io", "v1", True),
    ("events", "Event", "events.k8s.io", "v1", True),
    ("customresourcedefinitions", "CustomResourceDefinition", "apiextensions.k8s.io", "v1", False),
)]
BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
BY_KEY = {r.key: r for r in RESOURCES}
#: Top-level fields each kind may carry (an apply with any other is refused, contracts d7).
TOP_LEVEL = {"apiVersion", "kind", "metadata", "spec", "status", "data", "binaryData", "stringData", "type",
             "immutable", "rules", "roleRef", "subjects", "secrets", "imagePullSecrets",
             "automountServiceAccountToken", "aggregationRule"}
META_FIELDS = {"name", "namespace", "labels", "annotations", "finalizers", "ownerReferences", "generateName",
               "uid", "resourceVersion", "creationTimestamp", "generation", "managedFields",
               "deletionTimestamp", "deletionGracePeriodSeconds"}
HPA_SPEC = {"scaleTargetRef", "minReplicas", "maxReplicas", "metrics", "behavior"}
PATCH_TYPES = ("application/strategic-merge-patch+json", "application/merge-patch+json",
               "application/json-patch+json", "application/apply-patch+yaml")

_CORE = re.compile(r"^/api/v1(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[a-z]+)"
                   r"(?:/(?P<name>[^/]+))?(?:/status)?$")
_GROUP = re.compile(r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)(?:/namespaces/(?P<ns>[^/]+))?/"
                    r"(?P<plural>[a-z]+)(?:/(?P<name>[^/]+))?(?:/status)?$")
_SERVICE_PROXY = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/services/(?P<ref>[^/]+)/proxy(?P<rest>/.*)?$")
_POD_PROXY = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<ref>[^/]+)/proxy(?P<rest>/.*)?$")
OPEN_PATHS = ("/version", "/readyz", "/livez", "/healthz")


def status(code: int, reason: str, message: str, details: Json | None = None) -> Json:
    """A ``Status`` failure body."""
    out: Json = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                 "message": message}
    if reason:
        out["reason"] = reason
    if details is not None:
        out["details"] = details
    out["code"] = code
    return out


def not_found(res: Res, name: str) -> Json:
    """k1/k9/a7: ``deployments.apps "web" not found``, ``details {name, group, kind}``."""
    details: Json = {"name": name}
    if res.group:
        details["group"] = res.group
    details["kind"] = res.plural
    return status(404, "NotFound", f'{res.qualified} "{name}" not found', details)


def forbidden(res: Res, verb: str, namespace: str, name: str | None, user: str,
              subresource: str = "") -> Json:
    """c1, c2, c6–c9: the API server's ``forbiddenMessage`` (a subresource as ``services/proxy``)."""
    named = f' "{name}"' if name else ""
    if res.kind == "Namespace" and name:
        namespace = name  # c1: a namespace is its own namespace in the authorizer's attributes
    where = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    resource = f"{res.plural}/{subresource}" if subresource else res.plural
    message = (f'{res.qualified}{named} is forbidden: User "{user}" cannot {verb} resource "{resource}" '
               f'in API group "{res.group}" {where}')
    if subresource == "proxy":  # seen on the real 1.36 server (the openshift fork), not in the captures
        message += ": proxy subresource changed to unsafeproxy"
    details: Json = {}
    if name:
        details["name"] = name
    if res.group:
        details["group"] = res.group
    details["kind"] = res.plural
    return status(403, "Forbidden", message, details)


def _selects(selector: str | None, labels: dict[str, str]) -> bool:
    for term in filter(None, (selector or "").split(",")):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
            continue
        key, eq, value = term.replace("==", "=").partition("=")
        if (key not in labels) if not eq else (labels.get(key) != value):
            return False
    return True


def _field(obj: Json, dotted: str) -> Any:
    node: Any = obj
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


@dataclass
class Recorded:
    """One request the double received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
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
Answer = tuple[int, Json | str, list[str]]


class KubeFake(Controllers, Proxies, LoopbackServer):
    """The double: a ThreadingHTTPServer on 127.0.0.1 and the objects it serves."""

    def __init__(self, token: str, *, allow_faults: Iterable[str] = (), probe_pods: int = 2,
                 with_sink: bool = False, manifests: Path = BUNDLED_MANIFESTS, seed: bool = True) -> None:
        self.token = token
        self.requests: list[Recorded] = []
        #: (store key, namespace, name) → object; the store key is the plural (``pods``).
        self.objects: dict[tuple[str, str, str], Json] = {}
        self.probes: dict[str, ProbePod] = {}
        #: (verb, plural) pairs answered 403 for a user without RBAC, e.g. ("patch",
        #: "horizontalpodautoscalers").
        self.forbid: set[tuple[str, str]] = set()
        #: Status code every pod-proxy request to a pod with an IP gets instead of reaching it (not captured).
        self.pod_proxy_status: int | None = None
        #: How far the server's clock (its ``Date`` header, which Go's net/http sends on every answer) is
        #: from ours: a cluster whose clock disagrees with the machine stackcheck runs on.
        self.clock_offset_s = 0.0
        #: (namespace, Service) pairs that have ready endpoints, besides Services selecting a Ready pod.
        self.endpoints: set[tuple[str, str]] = set()
        #: Deployments (ns, name) whose rollout is past progressDeadlineSeconds (g1).
        self.deadline_exceeded: set[tuple[str, str]] = set()
        #: Answers service-proxy requests that reach a Service with endpoints.
        self.service_handler: ServiceHandler = lambda method, ref, rest: (200, "text/plain", b"ok\n")
        self._lock = threading.RLock()
        self._versions = itertools.count(1000)
        self._seconds = itertools.count(1)
        self._ns_polls: dict[str, int] = {}
        #: PVCs not written since their create: the real server moves their resourceVersion on the next
        #: write even when nothing changes (seen by hand on the real 1.36 server, not in the captures).
        self.fresh_claims: set[tuple[str, str]] = set()
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                        "kube-apiserver")
        if seed:
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

    def _res(self, body: Json) -> Res:
        group = str(body.get("apiVersion", "v1")).rpartition("/")[0]
        return next(r for r in RESOURCES if r.kind == body["kind"] and r.group == group)

    def _stamp(self, obj: Json, res: Res, namespace: str) -> Json:
        meta = obj.setdefault("metadata", {})
        if res.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        meta.update(uid=str(uuid.uuid4()), resourceVersion=str(next(self._versions)),
                    creationTimestamp=CREATED_AT)
        if res.kind in cluster.GENERATION_KINDS:
            meta["generation"] = 1
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind
        return obj

    def _owned(self, obj: Json) -> dict[ssa.Path, Any]:
        clean = copy.deepcopy(obj)
        meta = clean.get("metadata") or {}
        for key in ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields",
                    "deletionTimestamp"):
            meta.pop(key, None)
        return ssa.leaves(clean)

    def create(self, body: Json, manager: str, *, dry_run: bool = False,
               namespace: str | None = None) -> Json:
        """Store a new object as the API server does after a create (Update manager owns all of it)."""
        res = self._res(body)
        obj = cluster.defaults(copy.deepcopy(body))
        ns = namespace if namespace is not None else str((obj.get("metadata") or {}).get("namespace") or "")
        self._stamp(obj, res, ns)
        obj["metadata"]["managedFields"] = [self._entry(manager, "Update", res, self._owned(obj))]
        if dry_run:
            obj["metadata"].pop("resourceVersion", None)  # d5
            return obj
        if res.kind == "PersistentVolumeClaim":
            self.fresh_claims.add((ns, obj["metadata"]["name"]))
        self._store(res, obj)
        return copy.deepcopy(obj)

    def now(self) -> str:
        """The double's clock for managedFields and event times: one second later at each call, from
        the captures' day, so that what happened later reads later (no real time is involved)."""
        with self._lock:
            return cluster.timestamp(next(self._seconds))

    def _entry(self, manager: str, operation: str, res: Res, paths: Any) -> Json:
        return {"manager": manager, "operation": operation, "apiVersion": res.api_version, "time": self.now(),
                "fieldsType": "FieldsV1", "fieldsV1": ssa.fields_v1(paths)}

    def _store(self, res: Res, obj: Json, *, old: Json | None = None) -> None:
        meta = obj["metadata"]
        with self._lock:
            self.objects[(res.key, str(meta.get("namespace") or ""), meta["name"])] = obj
            self._react(res, obj, old)

    def put(self, resource: str, namespace: str, body: Json) -> Json:
        """Store an object directly (tests' shortcut), as created by ``kubectl-client-side-apply``."""
        res = BY_KEY[resource]
        full = {**copy.deepcopy(body), "apiVersion": res.api_version, "kind": res.kind}
        full.setdefault("metadata", {})["namespace"] = namespace
        keep_status = "status" in body
        obj = self.create(full, "kubectl-client-side-apply")
        if keep_status:
            with self._lock:
                key = (res.key, namespace, obj["metadata"]["name"])
                self.objects[key]["status"] = copy.deepcopy(body["status"])
                obj["status"] = copy.deepcopy(body["status"])
        return obj

    def client_side_apply(self, body: Json) -> Json:
        """What ``kubectl apply`` (client-side) leaves: the last-applied annotation, manager
        ``kubectl-client-side-apply`` (Update) owning every field of the defaulted object (d9)."""
        annotated = copy.deepcopy(body)
        annotated.setdefault("metadata", {}).setdefault("annotations", {})[
            "kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(body, separators=(",", ":"))
        return self.create(annotated, "kubectl-client-side-apply")

    def calls(self, method: str | None = None, path_part: str = "") -> list[Recorded]:
        """Recorded requests, by method and a substring of the path."""
        return [r for r in self.requests if (method is None or r.method == method) and path_part in r.path]

    def probe_pod_names(self) -> list[str]:
        return sorted(self.probes)

    def of_kind(self, key: str, namespace: str | None = None) -> list[Json]:
        with self._lock:
            return [copy.deepcopy(o) for (k, ns, _), o in sorted(self.objects.items())
                    if k == key and (namespace is None or ns == namespace)]

    # -- HTTP ---------------------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

            def date_time_string(self, timestamp: float | None = None) -> str:
                return super().date_time_string((timestamp or time.time()) + fake.clock_offset_s)

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                record = Recorded(self.command, unquote(parts.path), parse_qs(parts.query),
                                  CaseInsensitiveDict(self.headers.items()), body, parts.query)
                fake.requests.append(record)
                code, content_type, payload, warnings = fake.answer(record)
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for warning in warnings:
                    self.send_header("Warning", warning)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        return Handler

    def answer(self, req: Recorded) -> tuple[int, str, bytes, list[str]]:
        """Route one request: auth, discovery, proxies, then the resources."""
        auth = req.headers.get("Authorization")
        if auth is not None and auth != f"Bearer {self.token}":
            return _json(401, cluster.body("c5_bad_bearer_token"))
        if req.path in OPEN_PATHS or req.path in ("/api", "/apis") \
                or req.path.startswith(("/api/v1", "/apis/")):
            if req.path == "/version":
                return _json(200, cluster.body("c3_anonymous_version"))
            if req.path in ("/readyz", "/livez", "/healthz"):
                return 200, "text/plain; charset=utf-8", b"ok", []
        user = "system:anonymous" if auth is None else "system:serviceaccount:ci:stackcheck"
        with self._lock:
            code, out, warnings = self._route(req, user, anonymous=auth is None)
        if isinstance(out, str):
            return code, "text/plain; charset=utf-8", out.encode(), warnings
        return (*_json(code, out)[:3], warnings)

    def _route(self, req: Recorded, user: str, *, anonymous: bool) -> Answer:
        if req.path == "/api":
            return 200, cluster.body("i1_discovery_api"), []
        if req.path == "/apis":
            return 200, cluster.body("i2_discovery_apis"), []
        if match := _SERVICE_PROXY.match(req.path):
            if anonymous:
                return 403, forbidden(BY_KEY["services"], req.method.lower().replace("post", "create"),
                                      match["ns"], match["ref"], user, "proxy"), []
            return self._service_proxy(req, match["ns"], match["ref"], match["rest"] or "/")
        if match := _POD_PROXY.match(req.path):
            if anonymous:
                return 403, forbidden(BY_KEY["pods"], req.method.lower().replace("post", "create"),
                                      match["ns"], match["ref"], user, "proxy"), []
            return self._pod_proxy(req, match["ns"], match["ref"], match["rest"] or "/")
        if req.path == "/api/v1" or re.fullmatch(r"/apis/[^/]+/[^/]+", req.path):
            return self._resource_list(req.path)
        core, grouped = _CORE.match(req.path), _GROUP.match(req.path)
        match = core or grouped
        if match is None:
            return 404, status(404, "NotFound", "the server could not find the requested resource", {}), []
        group = "" if core else match["group"]
        version = "v1" if core else match["version"]
        ns, plural, name = match["ns"] or "", match["plural"], match["name"]
        if core and plural == "namespaces" and match["ns"] and not match["name"]:
            return 404, status(404, "NotFound", "the server could not find the requested resource", {}), []
        res = BY_PATH.get((group, version, plural))
        if res is None:
            return 404, status(404, "NotFound", "the server could not find the requested resource", {}), []
        verb = {"GET": "get" if name else "list", "POST": "create", "PATCH": "patch", "DELETE": "delete",
                "PUT": "update"}[req.method]
        if anonymous:
            return 403, forbidden(res, verb, ns, name, user), []
        if (verb, plural) in self.forbid:
            return 403, forbidden(res, verb, ns, name, user), []
        return self._crud(req, res, ns, name, verb)

    def _resource_list(self, path: str) -> Answer:
        group_version = "v1" if path == "/api/v1" else path[len("/apis/"):]
        group, _, version = group_version.rpartition("/")
        served = [r for r in RESOURCES if r.group == group and r.version == version]
        verbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        resources = [{"name": r.plural, "singularName": r.kind.lower(), "namespaced": r.namespaced,
                      "kind": r.kind,
                      "verbs": [v for v in verbs if r.namespaced or v != "deletecollection"]} for r in served]
        # Not in the captures; checked by hand against the real server (no apiVersion key there).
        return 200, {"kind": "APIResourceList", "groupVersion": group_version, "resources": resources}, []

    # -- resources ----------------------------------------------------------------------------------

    def _crud(self, req: Recorded, res: Res, ns: str, name: str | None, verb: str) -> Answer:
        from tests.kubefake_write import write  # the write verbs, kept in their own module

        if verb == "list":
            return self._list(res, ns, req)
        if verb == "get":
            assert name is not None
            if res.kind == "Namespace":
                self._namespace_controller(name)
            current = self.get(res.key, ns, name)
            return (200, current, []) if current is not None else (404, not_found(res, name), [])
        return write(self, req, res, ns, name, verb)

    def _list(self, res: Res, ns: str, req: Recorded) -> Answer:
        selector, fields = _first(req.query, "labelSelector"), _first(req.query, "fieldSelector")
        found = []
        for (key, namespace, _), obj in sorted(self.objects.items()):
            if key != res.key or (res.namespaced and ns and namespace != ns):
                continue
            if not _selects(selector, (obj.get("metadata") or {}).get("labels") or {}):
                continue
            if fields and not all(str(_field(obj, k)) == v for k, _, v in
                                  (f.partition("=") for f in fields.split(","))):
                continue
            item = copy.deepcopy(obj)
            item.pop("kind", None)
            item.pop("apiVersion", None)
            found.append(item)
        return 200, {"kind": f"{res.kind}List", "apiVersion": res.api_version,
                     "metadata": {"resourceVersion": str(next(self._versions))}, "items": found}, []



def _first(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def _json(code: int, body: Any) -> tuple[int, str, bytes, list[str]]:
    return code, "application/json", json.dumps(body).encode(), []


def kube_of(target: Target) -> KubeAccess:
    """The target's cluster access: a kubernetes target always has one."""
    assert target.kube is not None, f"target {target.name} has no cluster access"
    return target.kube
