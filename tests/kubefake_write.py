"""kubefake's write verbs: create, the four patch types, delete (see tests/kubefake.py for the captures)."""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import yaml

from tests import kubefake_cluster as cluster
from tests import kubefake_podsecurity as podsecurity
from tests import kubefake_ssa as ssa

if TYPE_CHECKING:
    from tests.kubefake import Answer, KubeFake, Recorded, Res

Json = dict[str, Any]


def _manager(req: Recorded) -> str:
    """``fieldManager``, else the user agent's first word (the capture's ``stackcheck-capture``)."""
    given = req.query.get("fieldManager")
    if given:
        return given[0]
    return str(req.headers.get("User-Agent") or "unknown").split("/", 1)[0]


def _dry(req: Recorded) -> bool:
    return req.query.get("dryRun") == ["All"]


def write(fake: KubeFake, req: Recorded, res: Res, ns: str, name: str | None, verb: str) -> Answer:
    from tests.kubefake import not_found, status

    if res.namespaced and verb in ("create", "patch"):
        namespace = fake.get("namespaces", "", ns)
        if namespace is None:
            return 404, not_found(fake_res(fake, "namespaces"), ns), []
        if namespace["metadata"].get("deletionTimestamp"):
            new_name = name or str(((req.body or {}) if isinstance(req.body, dict) else {}).get(
                "metadata", {}).get("name", ""))
            code, body, _ = cluster.response("h4_create_in_terminating_namespace")
            body["message"] = (f'{res.plural} "{new_name}" is forbidden: unable to create new content in '
                               f"namespace {ns} because it is being terminated")
            body["details"].update(name=new_name, kind=res.plural)
            body["details"]["causes"][0]["message"] = f"namespace {ns} is being terminated"
            return code, body, []
    if verb == "create":
        return _create(fake, req, res, ns)
    assert name is not None
    if verb == "patch":
        return _patch(fake, req, res, ns, name)
    if verb == "delete":
        return _delete(fake, req, res, ns, name)
    return 405, status(405, "MethodNotAllowed",
                       "the server does not allow this method on the requested resource"), []


def fake_res(fake: KubeFake, key: str) -> Res:
    from tests.kubefake import BY_KEY

    return BY_KEY[key]


def _admission(fake: KubeFake, ns: str, obj: Json, *, creating: bool) -> tuple[Answer | None, list[str]]:
    """PodSecurity (tests/kubefake_podsecurity): j1's 403 for a refused Pod, else the Warning headers."""
    from tests.kubefake import status

    if obj.get("kind") == "Pod" or obj.get("kind") in podsecurity.WORKLOAD_KINDS:
        obj = cluster.defaults(copy.deepcopy(obj))  # judged as stored: hostNetwork's hostPorts too
    refused, warnings = podsecurity.admit(fake.get("namespaces", "", ns), obj, creating=creating)
    if refused is None:
        return None, warnings
    name = str((obj.get("metadata") or {}).get("name", ""))
    return (403, status(403, "Forbidden", refused, {"name": name, "kind": "pods"}), []), []


def _relabelled(fake: KubeFake, res: Res, current: Json, new: Json) -> list[str]:
    """A Namespace made stricter: the server's warnings about its pods the new level refuses (by hand)."""
    if res.kind != "Namespace":
        return []
    return podsecurity.namespace_warnings(current, new, fake.of_kind("pods", current["metadata"]["name"]))


def _create(fake: KubeFake, req: Recorded, res: Res, ns: str) -> Answer:
    from tests.kubefake import status

    body = req.body if isinstance(req.body, dict) else {}
    new_name = str((body.get("metadata") or {}).get("name", ""))
    # Admission runs before the name check: a violating Pod under an existing name is 403, not 409
    # (contracts row 21, j1; a compliant one gets k3's 409).
    refused, warnings = _admission(fake, ns, {**body, "kind": res.kind}, creating=True)
    if refused is not None:
        return refused
    if fake.get(res.key, ns, new_name) is not None:
        details: Json = {"name": new_name}
        if res.group:
            details["group"] = res.group
        details["kind"] = res.plural
        return 409, status(409, "AlreadyExists", f'{res.qualified} "{new_name}" already exists', details), []
    full = {**copy.deepcopy(body), "apiVersion": res.api_version, "kind": res.kind}
    full.setdefault("metadata", {})["namespace"] = ns
    return 201, fake.create(full, _manager(req), dry_run=_dry(req), namespace=ns), warnings


def _unknown_top_level(body: Json) -> str | None:
    from tests.kubefake import META_FIELDS, TOP_LEVEL

    for key in body:
        if key not in TOP_LEVEL:
            return f".{key}"
    for key in body.get("metadata") or {}:
        if key not in META_FIELDS:
            return f".metadata.{key}"
    return None


def _patch(fake: KubeFake, req: Recorded, res: Res, ns: str, name: str) -> Answer:
    from tests.kubefake import PATCH_TYPES, not_found

    content_type = req.content_type.split(";")[0].strip()
    if content_type not in PATCH_TYPES:
        return cluster.response("e7_patch_content_type_application_json")[:2] + ([],)
    if content_type == "application/apply-patch+yaml":
        return _apply(fake, req, res, ns, name)
    current = fake.get(res.key, ns, name)
    if current is None:
        return 404, not_found(res, name), []
    warnings: list[str] = []
    patch = req.body
    if res.kind == "HorizontalPodAutoscaler" and isinstance(patch, dict):
        unknown = sorted(set(patch.get("spec") or {}) - cluster_hpa_spec())
        if unknown:
            text = f'unknown field "spec.{unknown[0]}"'
            if req.query.get("fieldValidation") == ["Strict"]:
                code, body, _ = cluster.response("f4_hpa_unknown_field_strict")
                shown = "map[spec:map[" + " ".join(f"{k}:{patch['spec'][k]}" for k in unknown) + "]]"
                body["message"] = (f' "" is invalid: patch: Invalid value: "{shown}": strict decoding error: '
                                   f'{text}')
                body["details"]["causes"][0]["message"] = (f'Invalid value: "{shown}": strict decoding '
                                                           f'error: {text}')
                return code, body, []
            warnings.append(f'299 - "unknown field \\"spec.{unknown[0]}\\""')  # f5
            patch = {**patch, "spec": {k: v for k, v in patch["spec"].items() if k not in unknown}}
    try:
        if content_type == "application/json-patch+json":
            patched = ssa.json_patch(current, patch if isinstance(patch, list) else [])
        elif content_type == "application/merge-patch+json":
            patched = ssa.merge_patch(current, patch)
        else:
            patched = ssa.strategic_merge(current, patch)
    except ssa.JsonPatchError:
        return cluster.response("e5_json_patch_test_failed")[:2] + ([],)
    if res.kind == "HorizontalPodAutoscaler":
        invalid = _hpa_invalid(patched, name)
        if invalid is not None:
            return invalid
    meta = patched["metadata"]
    for key in ("labels", "annotations"):
        if key in meta and not meta[key]:
            del meta[key]  # an empty map is omitted, as the API server's JSON does
    cluster.defaults(patched)
    warnings += _admission(fake, ns, patched, creating=False)[1]  # e3: a workload's Warning
    warnings += _relabelled(fake, res, current, patched)
    _update_managed(fake, res, current, patched, _manager(req))
    return _commit(fake, req, res, current, patched, warnings)


def cluster_hpa_spec() -> set[str]:
    from tests.kubefake import HPA_SPEC

    return set(HPA_SPEC)


def _hpa_invalid(hpa: Json, name: str) -> Answer | None:
    spec = hpa.get("spec") or {}
    high, low = spec.get("maxReplicas"), spec.get("minReplicas", 1)
    if high is None:
        code, body, _ = cluster.response("f1_hpa_maxreplicas_null")
    elif int(high) < int(low):
        code, body, _ = cluster.response("f2_hpa_max_below_min")
    else:
        return None
    body["message"] = body["message"].replace('"phase5-backend"', f'"{name}"')
    body["details"]["name"] = name
    return code, body, []


def _update_managed(fake: KubeFake, res: Res, old: Json, new: Json, manager: str) -> None:
    """An Update: the manager takes every field whose value it changed; others lose them."""
    before, after = fake._owned(old), fake._owned(new)
    changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p) and p in after}
    entries = copy.deepcopy((new.get("metadata") or {}).get("managedFields") or [])
    mine = next((e for e in entries if e["manager"] == manager and e["operation"] == "Update"), None)
    for entry in entries:
        if entry is not mine:
            entry["fieldsV1"] = ssa.fields_v1(ssa.paths_of(entry.get("fieldsV1") or {}) - changed)
    if changed:
        if mine is None:
            entries.append(fake._entry(manager, "Update", res, changed))
        else:
            mine["fieldsV1"] = ssa.fields_v1((ssa.paths_of(mine.get("fieldsV1") or {}) & set(after))
                                             | changed)
    new["metadata"]["managedFields"] = [e for e in entries if e.get("fieldsV1")]


def _commit(fake: KubeFake, req: Recorded, res: Res, current: Json, new: Json, warnings: list[str],
            code: int = 200) -> Answer:
    """Store ``new`` unless nothing changed or it is a dry run; bump resourceVersion and generation."""
    def same(a: Json, b: Json) -> bool:
        def strip(o: Json) -> Json:
            out = copy.deepcopy(o)
            out["metadata"].pop("resourceVersion", None)
            for e in out["metadata"].get("managedFields") or []:
                e.pop("time", None)
            return out
        return strip(a) == strip(b)

    fresh = (str(current["metadata"].get("namespace") or ""), current["metadata"]["name"])
    if same(current, new) and not (res.kind == "PersistentVolumeClaim" and fresh in fake.fresh_claims
                                   and not _dry(req)):
        return code, current, warnings
    if res.kind == "PersistentVolumeClaim" and not _dry(req):
        fake.fresh_claims.discard(fresh)
    if res.kind in cluster.GENERATION_KINDS and current.get("spec") != new.get("spec"):
        new["metadata"]["generation"] = int(current["metadata"].get("generation", 1)) + 1
    if _dry(req):
        new["metadata"]["resourceVersion"] = current["metadata"].get("resourceVersion")  # e2, f6
        return code, new, warnings
    new["metadata"]["resourceVersion"] = str(next(fake._versions))
    writer = _manager(req)
    for entry in new["metadata"].get("managedFields") or []:  # the writer's entry records when it wrote
        if entry["manager"] == writer and not entry.get("subresource"):
            entry["time"] = fake.now()
    fake._store(res, new, old=current)
    return code, fake.get(res.key, str(new["metadata"].get("namespace") or ""),
                          new["metadata"]["name"]) or new, warnings


def _apply(fake: KubeFake, req: Recorded, res: Res, ns: str, name: str) -> Answer:
    from tests.kubefake import status

    if not req.query.get("fieldManager"):
        return cluster.response("d8_apply_missing_fieldmanager")[:2] + ([],)
    try:
        body = req.body if isinstance(req.body, dict) else yaml.safe_load(str(req.body))
    except yaml.YAMLError as exc:
        return 400, status(400, "BadRequest",
                           f"error decoding YAML: error converting YAML to JSON: {exc}"), []
    if not isinstance(body, dict):
        return 400, status(400, "BadRequest", "error decoding YAML: not an object"), []
    unknown = _unknown_top_level(body)
    if unknown is not None:
        where = f"{ns}/{name}" if ns else name
        gvk = f"{res.group}/{res.version}, Kind={res.kind}"  # d7: "/v1, Kind=ConfigMap" for the core group
        return 500, status(500, "", f"failed to create typed patch object ({where}; {gvk}): {unknown}: "
                                    "field not declared in schema"), []
    if (body.get("metadata") or {}).get("name") != name:
        return 400, status(400, "BadRequest",
                           f"the name of the object ({(body.get('metadata') or {}).get('name')}) "
                                              f"does not match the name on the URL ({name})"), []
    manager, force = req.query["fieldManager"][0], req.query.get("force") in (["true"], ["True"])
    applied = {**copy.deepcopy(body), "apiVersion": res.api_version, "kind": res.kind}
    applied.setdefault("metadata", {})
    if res.namespaced:
        applied["metadata"]["namespace"] = ns
    current = fake.get(res.key, ns, name)
    if current is None:  # d1, d5: create
        refused, warnings = _admission(fake, ns, applied, creating=True)
        if refused is not None:  # also with dryRun=All (by hand)
            return refused
        created = fake.create(applied, manager, dry_run=_dry(req), namespace=ns)
        entry = created["metadata"]["managedFields"][0]
        entry["operation"] = "Apply"
        entry["fieldsV1"] = ssa.fields_v1(_applied_paths(fake, applied))
        if not _dry(req):
            fake.objects[(res.key, ns, name)]["metadata"]["managedFields"] = copy.deepcopy(
                created["metadata"]["managedFields"])
        return 201, created, warnings
    wanted = _applied_paths(fake, applied)
    values = fake._owned(applied)
    live = fake._owned(current)
    entries = copy.deepcopy(current["metadata"].get("managedFields") or [])
    conflicts: list[tuple[ssa.Path, Json]] = []
    for entry in entries:
        if entry["manager"] == manager and entry["operation"] == "Apply":
            continue
        owned = ssa.paths_of(entry.get("fieldsV1") or {})
        for path in sorted(wanted & owned):
            if path[-1] != "." and live.get(path) != values.get(path):
                conflicts.append((path, entry))
    if conflicts and not force:
        return 409, ssa.conflict_status(conflicts), []
    for path, entry in conflicts:  # force: the other managers lose the fields
        entry["fieldsV1"] = ssa.fields_v1(ssa.paths_of(entry["fieldsV1"]) - {path})
    mine = next((e for e in entries if e["manager"] == manager and e["operation"] == "Apply"), None)
    before_mine = ssa.paths_of(mine["fieldsV1"]) if mine else set()
    others = set().union(*[ssa.paths_of(e.get("fieldsV1") or {}) for e in entries if e is not mine])
    merged = ssa.merge(copy.deepcopy(current), {k: v for k, v in applied.items() if k != "status"})
    for path in sorted(before_mine - wanted - others, key=len, reverse=True):
        ssa.remove(merged, path)
    cluster.defaults(merged)
    if mine is None:
        entries.append(fake._entry(manager, "Apply", res, wanted))
    elif before_mine != wanted:
        mine["fieldsV1"] = ssa.fields_v1(wanted)
    merged["metadata"]["managedFields"] = [e for e in entries if e.get("fieldsV1")]
    # A workload's template is judged on every apply, one that changes nothing too (by hand).
    warnings = _admission(fake, ns, merged, creating=False)[1] + _relabelled(fake, res, current, merged)
    return _commit(fake, req, res, current, merged, warnings)


def _applied_paths(fake: KubeFake, applied: Json) -> set[ssa.Path]:
    return set(fake._owned(applied))


def _delete(fake: KubeFake, req: Recorded, res: Res, ns: str, name: str) -> Answer:
    from tests.kubefake import CREATED_AT, not_found

    current = fake.get(res.key, ns, name)
    if current is None:
        return 404, not_found(res, name), []
    meta = current["metadata"]
    if res.kind == "Namespace":  # h1: the Namespace itself, Terminating
        meta.setdefault("deletionTimestamp", CREATED_AT)
        current["status"] = {"phase": "Terminating"}
        meta["resourceVersion"] = str(next(fake._versions))
        fake.objects[(res.key, "", name)] = current
        return 200, copy.deepcopy(current), []
    finalizers = [f for f in meta.get("finalizers") or [] if f != "kubernetes.io/pvc-protection"]
    if finalizers:  # held until the finalizer goes (h5)
        meta.setdefault("deletionTimestamp", CREATED_AT)
        meta["deletionGracePeriodSeconds"] = 0
        fake.objects[(res.key, ns, name)] = current
        return 200, copy.deepcopy(current), []
    fake.objects.pop((res.key, ns, name), None)
    uid = meta["uid"]
    for key in ("pods", "replicasets"):  # the garbage collector: pods and ReplicaSets of a deleted workload
        for owned in fake.of_kind(key, ns):
            if any(r.get("uid") == uid for r in owned["metadata"].get("ownerReferences") or []):
                fake.objects.pop((key, ns, owned["metadata"]["name"]), None)
    if res.kind == "Pod" and not (current.get("spec") or {}).get("nodeName"):  # k6: unscheduled, gone at once
        meta.update(deletionTimestamp=CREATED_AT, deletionGracePeriodSeconds=0,
                    generation=int(meta.get("generation", 1)) + 1)
        return 200, current, []
    if res.kind == "Pod":
        meta.update(deletionTimestamp=CREATED_AT, deletionGracePeriodSeconds=1)
        return 200, current, []
    details: Json = {"name": name}
    if res.group:
        details["group"] = res.group
    details.update(kind=res.plural, uid=uid)
    return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                 "details": details}, []
