"""Field sets, server-side apply and the patch types, as the API server applies them (for kubefake).

A simplified structured-merge-diff, enough to reproduce the captured answers
(``shared/contracts/kubernetes.md`` d1–d11, e1–e8):

- maps are granular, except the ones the Kubernetes schema marks atomic (:data:`ATOMIC`: a
  ``fieldRef`` or a label selector is one value);
- lists of objects with a ``name`` (containers, env, volumes) and ``ports`` are keyed lists, merged
  item by item; every other list (``volumeClaimTemplates``, ``args``, RBAC ``rules``) is atomic;
- a field path prints as the API server prints it: ``.spec.template.spec.containers[name="app"].image``.

A conflict is a field the applied object sets to a value other than the live one, owned by another
manager. Because the server's defaults land inside atomic values (a ``fieldRef`` gains
``apiVersion: v1``; each volume claim template gains ``apiVersion``, ``kind``, ``volumeMode`` and a
``status``), an apply of the unchanged manifests conflicts with a client-side ``kubectl apply`` (an
``Update`` manager that owns the defaulted value), as the issue reports from the real server.
"""
from __future__ import annotations

import copy
import json
from typing import Any

Json = dict[str, Any]
Path = tuple[str, ...]  # elements: "f:<key>" or 'k:{"name":"x"}'

#: Maps and lists the schema marks atomic (``+structType=atomic`` / ``+listType=atomic``).
ATOMIC = frozenset({"fieldRef", "resourceFieldRef", "secretKeyRef", "configMapKeyRef", "selector",
                    "volumeClaimTemplates", "nodeSelectorTerms", "labelSelector", "rules", "subjects",
                    "roleRef", "podSelector", "namespaceSelector", "ingress", "egress", "matchExpressions"})
#: Fields no manager owns (the server sets them, or they identify the object).
UNOWNED = frozenset({("f:apiVersion",), ("f:kind",), ("f:metadata", "f:name"), ("f:metadata", "f:namespace"),
                     ("f:status",)})


def _list_key(item: Any, field: str) -> str | None:
    if not isinstance(item, dict):
        return None
    if field == "ports" and "containerPort" in item:
        return json.dumps({"containerPort": item["containerPort"], "protocol": item.get("protocol", "TCP")},
                          separators=(",", ":"))
    if field == "ports" and "port" in item:
        return json.dumps({"port": item["port"], "protocol": item.get("protocol", "TCP")},
                          separators=(",", ":"))
    if "name" in item:
        return json.dumps({"name": item["name"]}, separators=(",", ":"))
    return None


def _keyed(field: str, value: Any) -> bool:
    return (field not in ATOMIC and isinstance(value, list) and bool(value)
            and all(_list_key(i, field) is not None for i in value))


def leaves(obj: Any, path: Path = (), field: str = "") -> dict[Path, Any]:
    """Every owned leaf of ``obj``: path → value (atomic values are one leaf)."""
    out: dict[Path, Any] = {}
    if isinstance(obj, dict) and field not in ATOMIC and obj:
        for key, value in obj.items():
            sub = path + (f"f:{key}",)
            if sub in UNOWNED or (not path and key in ("apiVersion", "kind", "status")):
                continue
            out.update(leaves(value, sub, key))
        return out
    if _keyed(field, obj):
        for item in obj:
            sub = path + (f"k:{_list_key(item, field)}",)
            out[sub + (".",)] = True
            for key, value in item.items():
                out.update(leaves(value, sub + (f"f:{key}",), key))
        return out
    if path:
        out[path] = obj
    return out


def fields_v1(paths: Any) -> Json:
    """A managedFields ``fieldsV1`` trie of the paths."""
    trie: Json = {}
    for path in sorted(paths):
        node = trie
        for element in path:
            node = node.setdefault(element, {})
    return trie


def paths_of(trie: Json, path: Path = ()) -> set[Path]:
    """The leaf paths of a ``fieldsV1`` trie."""
    if not trie:
        return {path} if path else set()
    out: set[Path] = set()
    for key, sub in trie.items():
        out |= paths_of(sub, path + (key,))
    return out


def path_text(path: Path) -> str:
    """``('f:spec','f:containers','k:{"name":"a"}','f:image')`` → ``.spec.containers[name="a"].image``."""
    out = ""
    for element in path:
        if element == ".":
            continue
        if element.startswith("k:"):
            keys = json.loads(element[2:])
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in keys.items()) + "]"
        else:
            out += "." + element[2:]
    return out


def merge(live: Any, applied: Any, field: str = "") -> Any:
    """Apply-merge ``applied`` into ``live`` (granular maps, keyed lists by key, atomic otherwise)."""
    if isinstance(live, dict) and isinstance(applied, dict) and field not in ATOMIC:
        out = dict(live)
        for key, value in applied.items():
            out[key] = merge(live.get(key), value, key)
        return out
    if _keyed(field, applied) and isinstance(live, list) and _keyed(field, live):
        index = {_list_key(i, field): i for i in live}
        merged = [merge(index.get(_list_key(i, field)), i, "") for i in applied]
        kept = [i for i in live if _list_key(i, field) not in {_list_key(a, field) for a in applied}]
        return merged + kept
    return copy.deepcopy(applied)


def remove(obj: Any, path: Path) -> None:
    """Delete the field at ``path`` (a keyed-list item when the path ends in it)."""
    node = obj
    for index, element in enumerate(path):
        last = index == len(path) - 1 or path[index + 1] == "."
        if element.startswith("f:"):
            if not isinstance(node, dict) or element[2:] not in node:
                return
            if last:
                del node[element[2:]]
                return
            node = node[element[2:]]
        elif element.startswith("k:"):
            keys = json.loads(element[2:])
            if not isinstance(node, list):
                return
            found = [i for i in node if isinstance(i, dict) and all(i.get(k) == v for k, v in keys.items())]
            if not found:
                return
            if last:
                node.remove(found[0])
                return
            node = found[0]


def strategic_merge(target: Any, patch: Any, field: str = "") -> Any:
    """Strategic merge patch: maps merge, null deletes, named lists merge by name, ``$patch: delete``."""
    if isinstance(patch, dict):
        out = dict(target) if isinstance(target, dict) else {}
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = strategic_merge(out.get(key), value, key)
        return out
    if isinstance(patch, list) and isinstance(target, list) and patch and all(
            isinstance(i, dict) and "name" in i for i in patch) and field not in ATOMIC:
        out_list = [copy.deepcopy(i) for i in target]
        for item in patch:
            names = [i for i in out_list if isinstance(i, dict) and i.get("name") == item["name"]]
            if item.get("$patch") == "delete":
                out_list = [i for i in out_list if not (isinstance(i,
                                                                   dict) and i.get("name") == item["name"])]
            elif names:
                out_list[out_list.index(names[0])] = strategic_merge(names[0], item)
            else:
                out_list.append(copy.deepcopy(item))
        return out_list
    return copy.deepcopy(patch)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 merge: maps merge, null deletes, anything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class JsonPatchError(Exception):
    """A JSON patch operation failed (the server answers a generic 422, contracts e5/e6)."""


def json_patch(doc: Json, ops: list[Json]) -> Json:
    """RFC 6902 ``add``/``replace``/``remove``/``test``."""
    out = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in str(op.get("path", "")).split("/")[1:]]
        parent: Any = out
        try:
            for part in parts[:-1]:
                parent = parent[int(part)] if isinstance(parent, list) else parent[part]
            last = parts[-1] if parts else ""
            kind = op.get("op")
            if kind == "test":
                current = parent[int(last)] if isinstance(parent, list) else parent[last]
                if current != op.get("value"):
                    raise JsonPatchError("test failed")
            elif isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                if kind == "add":
                    parent.insert(index, copy.deepcopy(op.get("value")))
                elif kind == "replace":
                    parent[index] = copy.deepcopy(op.get("value"))
                elif kind == "remove":
                    del parent[index]
            elif kind == "add":
                parent[last] = copy.deepcopy(op.get("value"))
            elif kind in ("replace", "remove"):
                if last not in parent:
                    raise JsonPatchError(f"missing path {op.get('path')}")
                if kind == "remove":
                    del parent[last]
                else:
                    parent[last] = copy.deepcopy(op.get("value"))
            else:
                raise JsonPatchError(f"unknown op {kind}")
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise JsonPatchError(str(exc)) from exc
    return out


def conflict_status(conflicts: list[tuple[Path, Json]]) -> Json:
    """The 409 ``Status`` of an apply conflict, in apimachinery's wording (contracts d3, d10)."""
    def who(entry: Json) -> str:
        text = f'"{entry["manager"]}"'
        if entry.get("operation") == "Update":
            text += f" using {entry.get('apiVersion')}"
        return text

    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {who(e)}", "field": path_text(p)}
              for p, e in conflicts]
    if len(conflicts) == 1:
        message = (f"Apply failed with 1 conflict: conflict with {who(conflicts[0][1])}: "
                   f"{path_text(conflicts[0][0])}")
    else:
        by: dict[str, list[str]] = {}
        for p, e in conflicts:
            by.setdefault(who(e), []).append(path_text(p))
        parts = [f"conflicts with {m}:\n" + "\n".join(f"- {p}" for p in ps) for m, ps in sorted(by.items())]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(parts)
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": "Conflict", "details": {"causes": causes}, "code": 409}
