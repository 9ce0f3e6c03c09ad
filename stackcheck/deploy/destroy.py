"""``stackcheck destroy``: delete exactly what the inventory lists, in reverse order, and wait until gone.

Never by label selector: an object that carries ``app.kubernetes.io/managed-by: stackcheck`` but is
not in the inventory (or whose uid is not the recorded one) survives. The order is deploy's in
reverse (workloads, then config, then RBAC), then the claims the StatefulSets made (they have no
owner, so nothing else deletes them; ``--keep-pvcs`` keeps them and the namespaces they live in),
then the inventory Secret, then the Namespaces. Every deletion is waited for; what is still there
at the end is reported with its finalizers, and a namespace stuck ``Terminating`` with the
namespace controller's conditions (which name what remains).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape

from stackcheck.deploy import inventory
from stackcheck.deploy.plan import is_kind_context, render
from stackcheck.errors import ExitCode, UsageError
from stackcheck.kube.access import KubeAccess
from stackcheck.kube.apply import Ref, order_key, read
from stackcheck.kube.config import load_access
from stackcheck.manifests import Manifests
from stackcheck.wait import eventually

DEFAULT_TIMEOUT_S = 300.0
FIRST_POLL_S = 0.2
MAX_POLL_S = 2.0


@dataclass
class DestroyOptions:
    """``stackcheck destroy``'s options."""

    overlay: str = "kind"
    context: str | None = None
    kubeconfig: str | None = None
    manifests: str | None = None
    yes: bool = False
    keep_pvcs: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S


def _path(kube: KubeAccess, ref: Ref) -> str:
    return str(kube.resource(ref.api_version, ref.kind).path(name=ref.name, namespace=ref.namespace or None))


def delete(kube: KubeAccess, ref: Ref) -> bool:
    """DELETE with background propagation; False when it was already gone."""
    answer = kube.request(f"delete {ref}", "DELETE", _path(kube, ref),
                          query=[("propagationPolicy", "Background")], accept=(404,))
    return answer.status != 404


def statefulset_claims(kube: KubeAccess, member: inventory.Member) -> list[Ref]:
    """The claims a StatefulSet's templates made (``<template>-<statefulset>-<ordinal>``)."""
    live = read(kube, member.ref)
    if live is None:
        return []
    spec = live.get("spec") or {}
    replicas = int(spec.get("replicas", 1) or 1)
    return [Ref("", "PersistentVolumeClaim", member.ref.namespace,
                f"{t['metadata']['name']}-{member.ref.name}-{i}")
            for t in spec.get("volumeClaimTemplates") or [] for i in range(replicas)]


def wait_gone(kube: KubeAccess, refs: list[Ref], timeout_s: float, console: Console, *,
              clock: Callable[[], float],
              sleep: Callable[[float], None]) -> list[tuple[Ref, dict[str, object]]]:
    """Poll until every ref answers 404; returns what is still there at the deadline."""
    if not refs:
        return []
    left, printed = list(refs), -1

    def still_there() -> list[tuple[Ref, dict[str, object]]]:
        nonlocal left
        found = [(r, live) for r in left if (live := read(kube, r)) is not None]  # what was gone stays so
        left = [r for r, _ in found]
        return found

    def show(found: list[tuple[Ref, dict[str, object]]], _: float) -> None:
        nonlocal printed
        if len(found) != printed:
            waiting = f"{', '.join(str(r) for r in left[:4])}{' …' if len(left) > 4 else ''}"
            console.print(f"  {len(refs) - len(left)}/{len(refs)} gone"
                          + (f"; waiting for {waiting}" if left else ""))
            printed = len(found)

    return eventually(still_there, timeout_s, interval_s=FIRST_POLL_S, max_interval_s=MAX_POLL_S,
                      clock=clock, sleep=sleep, on_poll=show)


def _stuck(remaining: list[tuple[Ref, dict[str, object]]], console: Console) -> None:
    for ref, live in remaining:
        meta = live.get("metadata") or {}
        finalizers = meta.get("finalizers") if isinstance(meta, dict) else None
        console.print(f"[red]still there[/red]: {escape(str(ref))}"
                      + (f", held by finalizers {', '.join(map(str, finalizers))}" if finalizers else ""))
        status = live.get("status") or {}
        if ref.kind == "Namespace" and isinstance(status, dict):
            for entry in status.get("conditions") or []:
                if entry.get("status") == "True":
                    console.print(f"  condition {entry.get('type')} {entry.get('reason')}: "
                                  f"{escape(str(entry.get('message')))}")


def destroy(opts: DestroyOptions, console: Console, *, environ: Mapping[str, str] | None = None,
            ask: Callable[[str], str] = input, clock: Callable[[], float] = time.monotonic,
            sleep: Callable[[float], None] = time.sleep) -> int:
    """Run ``stackcheck destroy``; returns the exit code."""
    from stackcheck.deploy.run import inventory_namespace

    plan = render(opts.overlay, Manifests.find(opts.manifests))
    kube = load_access(opts.context, opts.kubeconfig, environ=environ)
    inv_ns = inventory_namespace(plan)
    console.print(f"Destroying what deploy recorded: context {kube.context}, server {kube.server}, "
                  f"inventory Secret {inv_ns}/{inventory.PARENT_NAME}")
    members = inventory.load(kube, inv_ns)
    if members is None:
        console.print(f"No inventory Secret {inv_ns}/{inventory.PARENT_NAME}: deploy has recorded nothing in "
                      "this cluster, so nothing is deleted (destroy never deletes by label).")
        return ExitCode.OK
    namespaces = sorted((m for m in members if m.ref.kind == "Namespace"), key=lambda m: m.ref.name)
    others = sorted((m for m in members if m.ref.kind != "Namespace"), key=lambda m: order_key(m.ref),
                    reverse=True)
    console.print(f"  {len(others)} objects, then namespaces "
                  f"{', '.join(m.ref.name for m in namespaces) or 'none'}"
                  f"{'; StatefulSet claims kept (--keep-pvcs)' if opts.keep_pvcs else ''}")
    if not is_kind_context(kube.context) and not opts.yes:
        try:
            reply = ask(f"Delete these {len(members)} objects from context {kube.context}? [y/N] ")
        except EOFError:
            raise UsageError(f"context {kube.context} is not a kind cluster and there is no terminal to ask; "
                             "pass --yes to destroy without asking") from None
        if reply.strip().lower() not in ("y", "yes"):
            console.print("Nothing deleted.")
            return ExitCode.CHECK_FAILED
    claims: list[Ref] = []
    for member in others:
        if member.ref.kind == "StatefulSet":
            claims += statefulset_claims(kube, member)
    deleted: list[Ref] = []
    for member in others:
        ours, live = inventory.still_ours(kube, member)
        if live is None:
            continue
        if not ours:
            console.print(f"  keeping {escape(str(member.ref))}: its uid is not the one deploy recorded")
            continue
        if delete(kube, member.ref):
            console.print(f"  deleted {escape(str(member.ref))}")
            deleted.append(member.ref)
    remaining = wait_gone(kube, deleted, opts.timeout_s, console, clock=clock, sleep=sleep)
    kept_namespaces: set[str] = set()
    if opts.keep_pvcs:
        kept_namespaces = {c.namespace for c in claims if read(kube, c) is not None}
        if kept_namespaces:
            console.print(f"  keeping namespaces {', '.join(sorted(kept_namespaces))}: they hold the claims "
                          "--keep-pvcs keeps")
    else:
        gone_claims = [c for c in claims if delete(kube, c)]
        for claim in gone_claims:
            console.print(f"  deleted {escape(str(claim))} (StatefulSet claim)")
        remaining += wait_gone(kube, gone_claims, opts.timeout_s, console, clock=clock, sleep=sleep)
    delete(kube, inventory.parent_ref(inv_ns))
    doomed_ns = []
    for member in namespaces:
        if member.ref.name in kept_namespaces:
            continue
        ours, live = inventory.still_ours(kube, member)
        if ours and delete(kube, member.ref):
            console.print(f"  deleted {escape(str(member.ref))}")
            doomed_ns.append(member.ref)
        elif live is not None:
            console.print(f"  keeping {escape(str(member.ref))}: its uid is not the one deploy recorded")
    remaining += wait_gone(kube, doomed_ns, opts.timeout_s, console, clock=clock, sleep=sleep)
    if remaining:
        _stuck(remaining, console)
        console.print(f"[red]destroy incomplete[/red]: {len(remaining)} object(s) still there after "
                      f"{opts.timeout_s:g}s")
        return ExitCode.CHECK_FAILED
    console.print(f"Destroyed {len(deleted) + len(doomed_ns)} objects; all gone.")
    return ExitCode.OK
