"""Server-side apply with field manager ``stackcheck``, strict validation, and no forcing by default.

One object at a time (:func:`apply`):

1. Read the live object. When it carries managedFields entries of ``kubectl-client-side-apply``
   or ``before-first-apply`` (operation ``Update``), rename them to ``stackcheck`` / ``Apply`` with
   a JSON patch of ``/metadata/managedFields``, merging them into an existing ``stackcheck`` entry.
   This is what fluxcd/pkg ``ssa`` does before it applies: the fields kubectl wrote become ours, so
   a stack first applied with ``kubectl apply -k`` deploys with no conflict and no force. Fields we
   now own and no longer send (``kubectl.kubernetes.io/last-applied-configuration``) are then
   removed by the apply itself.
2. ``PATCH`` with ``application/apply-patch+yaml``, ``fieldManager=stackcheck``,
   ``fieldValidation=Strict`` (and ``dryRun=All`` for a dry run). A 409 ``FieldManagerConflict``
   from any other manager raises :class:`ApplyConflict`: one line per field naming the object, the
   field path and the manager, and the fix (``--force-conflicts``). Nothing is forced unless asked.
3. The action: ``create`` (the object did not exist), ``update`` (its resourceVersion moved, or in
   a dry run the would-be object differs), or ``unchanged``. A no-op apply leaves resourceVersion
   alone on the server (contracts d2), so a second deploy moves nothing.

A dry run never writes: the takeover is not sent; when the only conflicts are with the managers
above, the dry run is repeated with ``force`` (still ``dryRun=All``) to learn the would-be object.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from stackcheck.errors import StackcheckError, UsageError, truncate
from stackcheck.kube.access import KubeAccess, warning_text
from stackcheck.kube.status import PODSECURITY_LEVEL

FIELD_MANAGER = "stackcheck"
#: (manager, operation) whose fields are taken over before applying (as fluxcd/pkg ssa does).
TAKEOVER_MANAGERS = (("kubectl-client-side-apply", "Update"), ("before-first-apply", "Update"))
APPLY_PATCH = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"
_CONFLICT_MANAGER = re.compile(r'conflicts? with "([^"]+)"')

#: Apply order (lightkube's sort_objects, extended): definitions, then identities and config, then
#: workloads, then what watches workloads. Delete runs the reverse.
KIND_ORDER = (
    "CustomResourceDefinition", "Namespace", "ResourceQuota", "LimitRange", "PriorityClass",
    "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Secret", "ConfigMap",
    "StorageClass", "PersistentVolume", "PersistentVolumeClaim", "Service", "NetworkPolicy",
    "DaemonSet", "Deployment", "StatefulSet", "ReplicaSet", "Job", "CronJob", "Pod",
    "PodDisruptionBudget", "HorizontalPodAutoscaler", "Ingress",
)
#: Kinds whose first write after creation moves resourceVersion once even when nothing changes. Seen on
#: the real 1.36 API server: a PersistentVolumeClaim created by server-side apply gets a new
#: resourceVersion from the next identical apply (also with `kubectl apply --server-side` alone), and
#: never again. Re-applying once right after the create spends that write inside the same deploy, so
#: the next deploy moves nothing.
SETTLE_AFTER_CREATE = frozenset({"PersistentVolumeClaim"})
#: Applied first, then waited for (Active, Established), as kube-prometheus' setup/ and Flux do.
STAGE_ONE = frozenset({"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"})


@dataclass(frozen=True, order=True)
class Ref:
    """An object's identity: group, kind, namespace, name (and the apiVersion to reach it)."""

    group: str
    kind: str
    namespace: str
    name: str
    api_version: str = field(compare=False, default="v1")

    @classmethod
    def of(cls, body: dict[str, Any]) -> Ref:
        api_version = str(body.get("apiVersion", "v1"))
        meta = body.get("metadata") or {}
        group = api_version.rpartition("/")[0]
        return cls(group, str(body.get("kind", "")), str(meta.get("namespace") or ""),
                   str(meta.get("name", "")), api_version)

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"

    @property
    def group_kind(self) -> str:
        """``Kind.group`` (``Kind`` for the core group), as ApplySet's annotations write it."""
        return f"{self.kind}.{self.group}" if self.group else self.kind


def order_key(ref: Ref) -> tuple[int, str, str, str]:
    rank = KIND_ORDER.index(ref.kind) if ref.kind in KIND_ORDER else len(KIND_ORDER)
    return rank, ref.namespace, ref.name, ref.group


@dataclass(frozen=True)
class Conflict:
    """One field another manager owns."""

    field: str
    manager: str
    message: str


class ApplyConflict(StackcheckError):
    """Server-side apply found fields owned by another manager; nothing was forced (exit 1)."""

    def __init__(self, ref: Ref, conflicts: list[Conflict]) -> None:
        self.ref = ref
        self.conflicts = conflicts
        lines = [f"{ref}: field {c.field} is owned by field manager {c.manager!r}" for c in conflicts]
        super().__init__("; ".join(lines) + "; nothing was forced. Decide who owns it: remove it from the "
                         "other manager, or re-run with --force-conflicts to take it over")


class ApplyRejected(UsageError):
    """The API server refused the object itself (unknown field, bad value): a manifest error (exit 2)."""


#: A PodSecurity answer lists every violated check; cutting it would cut the fix.
PODSECURITY_TEXT_MAX = 2000


def podsecurity_fix(namespace: str, level: str) -> str:
    """What to do when PodSecurity refuses a pod of ``namespace`` (level as the server names it)."""
    return (f"namespace {namespace} enforces Pod Security \"{level}\" (label "
            "pod-security.kubernetes.io/enforce): set the securityContext fields listed above in the pod "
            "(template), or, if the pod really needs what it asks for, lower that label on the namespace or "
            "run the pod in a namespace that allows it")


class PodSecurityRejected(ApplyRejected):
    """PodSecurity admission refused a Pod (HTTP 403, ``violates PodSecurity``): a manifest or namespace
    policy problem, not a permission one, so exit 2 and not 3."""

    def __init__(self, ref: Ref, message: str) -> None:
        found = PODSECURITY_LEVEL.search(message)
        level = found["level"] if found else "?"
        fix = podsecurity_fix(ref.namespace, level)
        super().__init__(f"PodSecurity admission refused {ref} (HTTP 403 Forbidden: "
                         f"{truncate(message, PODSECURITY_TEXT_MAX)}); {fix}")


@dataclass
class Applied:
    """What one apply did."""

    ref: Ref
    action: str  # create | update | unchanged
    live: dict[str, Any]
    warnings: list[str] = field(default_factory=list)  # the Warning headers' texts, each once
    took_over: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # changed field paths (never values)


def clean_body(body: dict[str, Any]) -> dict[str, Any]:
    """The body to apply: no server-owned metadata, no status, Secret base64 on one line.

    kustomize wraps long base64 values over lines; the server stores them unwrapped, and an apply
    that sends them wrapped would differ from the live value at every run.
    """
    out = copy.deepcopy(body)
    meta = out.setdefault("metadata", {})
    for key in ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation", "selfLink"):
        meta.pop(key, None)
    out.pop("status", None)
    if out.get("kind") == "Secret" and isinstance(out.get("data"), dict):
        out["data"] = {k: "".join(str(v).split()) for k, v in out["data"].items()}
    return out


def _merge_fields(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Union of two fieldsV1 tries."""
    out = dict(a)
    for key, value in b.items():
        out[key] = _merge_fields(out.get(key) or {}, value or {}) if key in out else value
    return out


def takeover_patch(live: dict[str, Any],
                   manager: str = FIELD_MANAGER) -> tuple[list[dict[str, Any]], list[str]]:
    """The JSON patch that renames the takeover managers' entries to ``manager`` (Apply).

    Returns the patch (empty when nothing is to be taken over) and the managers taken over.
    """
    entries = (live.get("metadata") or {}).get("managedFields") or []
    taken: list[str] = []
    kept: list[dict[str, Any]] = []
    ours: dict[str, Any] | None = None
    for entry in entries:
        key = (entry.get("manager"), entry.get("operation"))
        if key in TAKEOVER_MANAGERS and not entry.get("subresource"):
            taken.append(str(entry.get("manager")))
            entry = {**entry, "manager": manager, "operation": "Apply"}
        if entry.get("manager") == manager and entry.get("operation") == "Apply" \
                and not entry.get("subresource"):
            if ours is None:
                ours = copy.deepcopy(entry)
                kept.append(ours)
            else:
                ours["fieldsV1"] = _merge_fields(ours.get("fieldsV1") or {}, entry.get("fieldsV1") or {})
            continue
        kept.append(entry)
    if not taken:
        return [], []
    return [{"op": "replace", "path": "/metadata/managedFields", "value": kept}], sorted(set(taken))


def conflicts_of(status_body: dict[str, Any]) -> list[Conflict]:
    """The ``FieldManagerConflict`` causes of a 409 Status (contracts d3, d10)."""
    out = []
    for cause in (status_body.get("details") or {}).get("causes") or []:
        if cause.get("reason") != "FieldManagerConflict":
            continue
        text = str(cause.get("message", ""))
        found = _CONFLICT_MANAGER.search(text)
        out.append(Conflict(str(cause.get("field", "?")), found.group(1) if found else "?", text))
    return out


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    meta = out.get("metadata") or {}
    for key in ("resourceVersion", "generation"):
        meta.pop(key, None)
    for entry in meta.get("managedFields") or []:
        entry.pop("time", None)
    return out


def changed_paths(old: Any, new: Any, prefix: str = "", limit: int = 6) -> list[str]:
    """Field paths whose values differ (values themselves are never returned)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            if key in ("managedFields", "resourceVersion", "generation", "status") \
                    and prefix in ("", ".metadata"):
                continue
            if old.get(key) != new.get(key):
                out += changed_paths(old.get(key), new.get(key), f"{prefix}.{key}", limit)
            if len(out) >= limit:
                break
        return out[:limit]
    return [prefix or "."] if old != new else []


def _path(kube: KubeAccess, ref: Ref) -> str:
    resource = kube.resource(ref.api_version, ref.kind)
    return str(resource.path(name=ref.name, namespace=ref.namespace or None))


def read(kube: KubeAccess, ref: Ref) -> dict[str, Any] | None:
    """The live object, or None."""
    answer = kube.request(f"read {ref}", "GET", _path(kube, ref), accept=(404,))
    return answer.body if answer.status == 200 else None


def apply(kube: KubeAccess, body: dict[str, Any], *, dry_run: bool = False, force: bool = False) -> Applied:
    """Server-side apply one object; see the module docstring for the steps."""
    ref = Ref.of(body)
    path = _path(kube, ref)
    live = read(kube, ref)
    took_over: list[str] = []
    if live is not None and not dry_run:
        patch, took_over = takeover_patch(live)
        if patch:
            kube.request(f"take over the fields of {', '.join(took_over)} on {ref}", "PATCH", path,
                         body=patch, content_type=JSON_PATCH)
    query = [("fieldManager", FIELD_MANAGER), ("fieldValidation", "Strict")]
    if dry_run:
        query.append(("dryRun", "All"))
    sent = clean_body(body)
    answer = _send(kube, ref, path, sent, query + ([("force", "true")] if force else []))
    warnings = list(answer.warnings)
    if answer.status == 409:
        conflicts = conflicts_of(answer.body)
        takeover_names = {m for m, _ in TAKEOVER_MANAGERS}
        if dry_run and conflicts and all(c.manager in takeover_names for c in conflicts):
            took_over = sorted({c.manager for c in conflicts})
            answer = _send(kube, ref, path, sent, query + [("force", "true")])
            warnings += answer.warnings
        if answer.status == 409:
            raise ApplyConflict(ref, conflicts_of(answer.body) or [Conflict("?", "?", truncate(
                str(answer.body.get("message", ""))))])
    result = answer.body
    if live is None and not dry_run and ref.kind in SETTLE_AFTER_CREATE:
        settled = _send(kube, ref, path, sent, query)
        result, warnings = settled.body, warnings + settled.warnings
    if live is None:
        action, changed = "create", []
    elif dry_run:
        changed = changed_paths(_comparable(live), _comparable(result))
        action = "update" if changed or took_over else "unchanged"
    else:
        moved = (live.get("metadata") or {}).get("resourceVersion") != (result.get("metadata") or {}).get(
            "resourceVersion")
        changed = changed_paths(_comparable(live), _comparable(result)) if moved else []
        action = "update" if moved else "unchanged"
    texts = list(dict.fromkeys(warning_text(w) for w in warnings))  # once per object, however many sends
    return Applied(ref, action, result, texts, took_over, changed)


def _send(kube: KubeAccess, ref: Ref, path: str, body: dict[str, Any], query: list[tuple[str, str]]) -> Any:
    answer = kube.request(f"apply {ref}", "PATCH", path, body=body, query=query, content_type=APPLY_PATCH,
                          accept=(400, 403, 409, 422, 500))
    if answer.status == 403:
        message = str(answer.body.get("message", ""))
        if PODSECURITY_LEVEL.search(message):
            raise PodSecurityRejected(ref, message)
        raise kube.error(f"apply {ref}", 403, json.dumps(answer.body))
    if answer.status in (400, 422) \
            or (answer.status == 500 and "schema" in str(answer.body.get("message", ""))):
        raise ApplyRejected(f"the API server refused {ref} (HTTP {answer.status}"
                            f"{' ' + str(answer.body.get('reason')) if answer.body.get('reason') else ''}: "
                            f"{truncate(str(answer.body.get('message', '')))}); fix the manifest")
    if answer.status == 500:
        raise kube.error(f"apply {ref}", 500, json.dumps(answer.body))
    return answer
