"""The inventory: an ApplySet-compatible parent Secret listing every object deploy applied.

kubectl's ApplySet (KEP-3659, ``kubectl apply --applyset``) keys, so kubectl and other tools see the
set for what it is:

- parent label ``applyset.kubernetes.io/id: applyset-<base64url(sha256(<name>.<namespace>.Secret.))>-v1``;
- parent annotations ``applyset.kubernetes.io/tooling: stackcheck/<version>``,
  ``applyset.kubernetes.io/contains-group-kinds`` (``Kind.group``, sorted, comma-separated) and
  ``applyset.kubernetes.io/additional-namespaces`` (the members' namespaces other than the parent's);
- each member's label ``applyset.kubernetes.io/part-of: <id>``.

The parent's data key ``inventory.json`` holds what ApplySet does not: each member's group, kind,
namespace, name and **uid**. Prune and destroy act only on members whose live uid still matches, so
an object someone else re-created under the same name, or one that merely carries the managed-by
label, is never deleted (the failure of prune-by-label in kubernetes/kubernetes#66430).
"""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from stackcheck import __version__
from stackcheck.errors import ApiError
from stackcheck.kube.access import KubeAccess
from stackcheck.kube.apply import Ref, apply, read

PARENT_NAME = "stackcheck-inventory"
ID_LABEL = "applyset.kubernetes.io/id"
PART_OF_LABEL = "applyset.kubernetes.io/part-of"
TOOLING = "applyset.kubernetes.io/tooling"
GROUP_KINDS = "applyset.kubernetes.io/contains-group-kinds"
NAMESPACES = "applyset.kubernetes.io/additional-namespaces"
DATA_KEY = "inventory.json"


@dataclass(frozen=True)
class Member:
    """One inventory entry."""

    ref: Ref
    uid: str

    def to_json(self) -> dict[str, str]:
        return {"group": self.ref.group, "kind": self.ref.kind, "namespace": self.ref.namespace,
                "name": self.ref.name, "apiVersion": self.ref.api_version, "uid": self.uid}


def applyset_id(name: str, namespace: str) -> str:
    """ApplySet's id of a parent Secret (group "" → the trailing dot)."""
    digest = hashlib.sha256(f"{name}.{namespace}.Secret.".encode()).digest()
    return f"applyset-{base64.urlsafe_b64encode(digest).decode().rstrip('=')}-v1"


def parent_ref(namespace: str) -> Ref:
    return Ref("", "Secret", namespace, PARENT_NAME, "v1")


def label_member(body: dict[str, Any], set_id: str) -> dict[str, Any]:
    """The body with the ApplySet ``part-of`` label."""
    labelled = dict(body)
    meta = dict(labelled.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), PART_OF_LABEL: set_id}
    labelled["metadata"] = meta
    return labelled


def load(kube: KubeAccess, namespace: str) -> list[Member] | None:
    """The inventory, or None when there is no parent Secret."""
    body = read(kube, parent_ref(namespace))
    if body is None:
        return None
    raw = (body.get("data") or {}).get(DATA_KEY)
    try:
        entries = json.loads(base64.b64decode(raw)) if raw else []
        return [Member(Ref(e["group"], e["kind"], e["namespace"], e["name"], e.get("apiVersion") or (
            f"{e['group']}/v1" if e["group"] else "v1")), e["uid"]) for e in entries]
    except (ValueError, KeyError, TypeError) as exc:
        raise ApiError(f"the inventory Secret {namespace}/{PARENT_NAME} is not readable ({exc}); remove it "
                       "only if you know what deploy made") from exc


def parent_body(namespace: str, members: list[Member]) -> dict[str, Any]:
    """The parent Secret for these members."""
    set_id = applyset_id(PARENT_NAME, namespace)
    kinds = sorted({m.ref.group_kind for m in members})
    others = sorted({m.ref.namespace for m in members if m.ref.namespace and m.ref.namespace != namespace})
    data = json.dumps([m.to_json() for m in sorted(members, key=lambda m: m.ref)], indent=1)
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": PARENT_NAME, "namespace": namespace,
                         "labels": {ID_LABEL: set_id, "app.kubernetes.io/part-of": "stackcheck",
                                    "app.kubernetes.io/managed-by": "stackcheck"},
                         "annotations": {TOOLING: f"stackcheck/v{__version__}", GROUP_KINDS: ",".join(kinds),
                                         NAMESPACES: ",".join(others)}},
            "data": {DATA_KEY: base64.b64encode(data.encode()).decode()}}


def save(kube: KubeAccess, namespace: str, members: list[Member], *, dry_run: bool = False) -> None:
    """Write the parent (server-side apply, like every other object)."""
    apply(kube, parent_body(namespace, members), dry_run=dry_run)


def still_ours(kube: KubeAccess, member: Member) -> tuple[bool, dict[str, Any] | None]:
    """Whether the live object is the one recorded (same uid), and the live object."""
    live = read(kube, member.ref)
    if live is None:
        return False, None
    return (live.get("metadata") or {}).get("uid") == member.uid, live
