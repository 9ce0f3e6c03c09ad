"""``stackcheck deploy``: render, say where, apply in stages, prune, wait, and explain what is not ready.

The order of events, each printed as it happens:

1. render the overlay (lint's renderer) and resolve the cluster; print context, server and the
   namespaces before anything changes; refuse a disposable overlay (``stackcheck.dev/allow-faults``)
   on a context that is not a kind cluster unless ``--allow-faults``;
2. stage one (Namespaces, CRDs, cluster RBAC): server-side apply, then wait for Active/Established;
3. the Secrets the manifests mount but never hold: created when missing, never overwritten;
4. stage two: every other object, in kind order (:mod:`stackcheck.kube.apply`);
5. prune: inventory members that left the manifests and whose uid still matches, listed first;
6. the inventory (:mod:`stackcheck.deploy.inventory`) and the change table;
7. unless ``--no-wait`` or ``--dry-run=server``: the kstatus wait, and on failure the diagnosis, exit 1.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stackcheck.deploy import inventory
from stackcheck.deploy.diagnose import diagnose
from stackcheck.deploy.plan import Plan, is_kind_context, render
from stackcheck.deploy.secrets import create_secret, parse_secret_files, plan_secrets
from stackcheck.deploy.wait import wait
from stackcheck.errors import ExitCode, UsageError
from stackcheck.kube.access import KubeAccess
from stackcheck.kube.apply import Applied, ApplyConflict, ApplyRejected, Ref, apply, order_key, read
from stackcheck.kube.config import load_access
from stackcheck.kube.status import compute
from stackcheck.manifests import Manifests

SCHEMA = "stackcheck.deploy/v1"


@dataclass
class DeployOptions:
    """``stackcheck deploy``'s options (see ``stackcheck deploy --help``)."""

    overlay: str = "kind"
    context: str | None = None
    kubeconfig: str | None = None
    manifests: str | None = None
    dry_run: bool = False
    wait: bool = True
    timeout_s: float | None = None
    force_conflicts: bool = False
    prune: bool = True
    json_path: str | None = None
    allow_faults: bool = False
    secret_files: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    """What the run did, for the table and ``--json``."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    secrets: list[dict[str, str]] = field(default_factory=list)
    pruned: list[dict[str, str]] = field(default_factory=list)
    not_ready: list[dict[str, Any]] = field(default_factory=list)
    result: str = "ok"
    error: str | None = None

    def add(self, applied: Applied) -> None:
        """One ``objects`` row of ``--json``: the object, what was done, and (after the wait) its status."""
        self.rows.append({"group": applied.ref.group, "kind": applied.ref.kind,
                          "namespace": applied.ref.namespace,
                          "name": applied.ref.name, "action": applied.action,
                          "uid": (applied.live.get("metadata") or {}).get("uid"),
                          "changed": applied.changed, "took_over": applied.took_over,
                          "warnings": applied.warnings, "status": None, "message": None})


def inventory_namespace(plan: Plan) -> str:
    """Where the inventory Secret lives: ``monitoring`` when the overlay has it."""
    if "monitoring" in plan.namespaces or not plan.namespaces:
        return "monitoring"
    return plan.namespaces[0]


def _apply_all(kube: KubeAccess, bodies: list[dict[str, Any]], opts: DeployOptions, set_id: str,
               outcome: Outcome, console: Console, pending_namespaces: set[str]) -> list[Applied]:
    done: list[Applied] = []
    for body in bodies:
        ref = Ref.of(body)
        if opts.dry_run and ref.namespace in pending_namespaces:
            # A dry run created no namespace, so the server cannot dry-run objects inside it.
            applied = Applied(ref, "create", {"metadata": {}})
        else:
            applied = apply(kube, inventory.label_member(body, set_id), dry_run=opts.dry_run,
                            force=opts.force_conflicts)
        for warning in applied.warnings:  # the API server's Warning headers, each once per object
            console.print(f"[yellow]warning[/yellow] from the API server on {escape(str(ref))}: "
                          f"{escape(warning)}")
        if applied.took_over:
            console.print(f"  {escape(str(ref))}: took over the fields of {', '.join(applied.took_over)}")
        outcome.add(applied)
        done.append(applied)
    return done


def change_table(outcome: Outcome, dry_run: bool) -> Table:
    view = Table(title="change plan (dry run: nothing changed)" if dry_run else "changes",
                 title_justify="left")
    view.add_column("action", no_wrap=True)
    view.add_column("object", no_wrap=True)
    view.add_column("fields")
    colours = {"create": "green", "update": "yellow", "unchanged": "dim", "prune": "red"}
    for row in outcome.rows + [dict(r, action="prune") for r in outcome.pruned]:
        where = f"{row['namespace']}/{row['name']}" if row["namespace"] else row["name"]
        fields = ", ".join(row.get("changed") or [])
        if row["kind"] == "Secret" and row["action"] in ("create", "update"):
            fields = "data (values masked)"
        if row.get("took_over"):
            fields = (fields + "; " if fields else "") + f"takes over {', '.join(row['took_over'])}"
        colour = colours.get(row["action"], "white")
        view.add_row(f"[{colour}]{row['action']}[/{colour}]", escape(f"{row['kind']} {where}"),
                     escape(fields))
    return view


def summary(outcome: Outcome, dry_run: bool) -> str:
    """``Plan: 2 to create, …`` before a dry run's nothing; ``Applied: 2 created, …`` after real changes."""
    counts = {a: sum(r["action"] == a for r in outcome.rows) for a in ("create", "update", "unchanged")}
    if dry_run:
        return (f"Plan: {counts['create']} to create, {counts['update']} to update, "
                f"{counts['unchanged']} unchanged, {len(outcome.pruned)} to prune")
    return (f"Applied: {counts['create']} created, {counts['update']} configured, "
            f"{counts['unchanged']} unchanged, {len(outcome.pruned)} pruned")


def print_changes(outcome: Outcome, dry_run: bool, console: Console) -> None:
    """The change table, or one line when nothing changes (a table of only "unchanged" says nothing)."""
    if outcome.rows and not outcome.pruned and all(r["action"] == "unchanged" for r in outcome.rows):
        console.print(f"No changes: all {len(outcome.rows)} objects unchanged"
                      + (" (dry run)" if dry_run else ""))
        return
    if outcome.rows or outcome.pruned:
        console.print(change_table(outcome, dry_run))
    console.print(summary(outcome, dry_run))


def _prune(kube: KubeAccess, previous: list[inventory.Member], desired: set[tuple[str, str, str, str]],
           opts: DeployOptions, outcome: Outcome, console: Console) -> list[inventory.Member]:
    """Delete members that left the manifests and are still the object deploy made; keep the rest."""
    gone = [m for m in previous if (m.ref.group, m.ref.kind, m.ref.namespace, m.ref.name) not in desired]
    kept: list[inventory.Member] = []
    doomed: list[tuple[inventory.Member, str]] = []
    for member in sorted(gone, key=lambda m: order_key(m.ref), reverse=True):
        ours, live = inventory.still_ours(kube, member)
        if live is None:
            continue
        if not ours:
            console.print(f"  not pruning {escape(str(member.ref))}: its uid is not the one deploy recorded "
                          "(someone re-created it)")
            continue
        doomed.append((member, str((live.get("metadata") or {}).get("resourceVersion"))))
    if not doomed:
        return kept
    if not opts.prune:
        console.print(f"{len(doomed)} object(s) left the manifests; --no-prune keeps them: "
                      + ", ".join(str(m.ref) for m, _ in doomed))
        return [m for m, _ in doomed]
    console.print(f"Pruning {len(doomed)} object(s) that left the manifests:")
    for member, _ in doomed:
        console.print(f"  {escape(str(member.ref))} (uid {member.uid})")
        outcome.pruned.append({"group": member.ref.group, "kind": member.ref.kind,
                               "namespace": member.ref.namespace, "name": member.ref.name, "uid": member.uid})
    if not opts.dry_run:
        from stackcheck.deploy.destroy import delete

        for member, _ in doomed:
            delete(kube, member.ref)
    return kept


def deploy(opts: DeployOptions, console: Console, *, environ: Mapping[str, str] | None = None,
           clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> int:
    """Run ``stackcheck deploy``; returns the exit code."""
    started, t0 = datetime.now(UTC), clock()
    files = parse_secret_files(opts.secret_files)
    plan = render(opts.overlay, Manifests.find(opts.manifests))
    kube = load_access(opts.context, opts.kubeconfig, environ=environ)
    console.print(f"Deploying overlay {plan.overlay} ({len(plan.objects)} objects from {plan.directory})")
    console.print(f"  context {kube.context}, server {kube.server}")
    console.print(f"  namespaces {', '.join(plan.namespaces)}"
                  + ("  [bold](dry run: --dry-run=server, nothing will change)[/bold]"
                     if opts.dry_run else ""))
    if plan.disposable and not is_kind_context(kube.context) and not opts.allow_faults:
        raise UsageError(
            f"overlay {plan.overlay} marks namespaces {', '.join(plan.disposable)} disposable "
            f"(stackcheck.dev/allow-faults=true: verify may inject faults there), and context {kube.context} "
            "is not a kind cluster; pass --allow-faults if that cluster really is disposable, or deploy "
            "--overlay production")
    timeout = opts.timeout_s if opts.timeout_s is not None else plan.default_timeout_s
    inv_ns = inventory_namespace(plan)
    set_id = inventory.applyset_id(inventory.PARENT_NAME, inv_ns)
    previous = inventory.load(kube, inv_ns) or []
    secret_plans, secret_bodies = plan_secrets(kube, plan.objects, files)  # a usage error before any change
    outcome = Outcome()
    try:
        first, rest = plan.stages()
        applied = _apply_all(kube, first, opts, set_id, outcome, console, set())
        pending = {a.ref.name for a in applied if a.ref.kind == "Namespace" and a.action == "create"} \
            if opts.dry_run else set()
        if not opts.dry_run:
            ok, items = wait(kube, [a.ref for a in applied], timeout, console, clock=clock, sleep=sleep,
                             label="namespaces and definitions")
            if not ok:
                outcome.not_ready = diagnose(kube, items, console)
                outcome.result, outcome.error = "failed", not_ready_error(items)
                return ExitCode.CHECK_FAILED
        for secret, body in zip([p for p in secret_plans if p.action == "create"], secret_bodies,
                                strict=True):
            labelled = inventory.label_member(body, set_id)
            made = None if opts.dry_run else create_secret(kube, labelled, dry_run=False)
            created = Applied(secret.ref, "create", made or {"metadata": {}})
            if not opts.dry_run:
                applied.append(created)
            outcome.add(created)
        for secret in secret_plans:
            if secret.generated is not None:  # made by an earlier deploy: still a member, never rewritten
                applied.append(Applied(secret.ref, "unchanged", secret.generated))
                outcome.add(applied[-1])
            outcome.secrets.append({"namespace": secret.ref.namespace, "name": secret.ref.name,
                                    "action": secret.action, "read_with": secret.command})
            verb = ("exists, left as it is" if secret.action != "create" else
                    "would be created (dry run)" if opts.dry_run else "created (value not shown)")
            console.print(f"Secret {secret.ref.namespace}/{secret.ref.name} {verb}; read it with: "
                          f"{escape(secret.command)}", soft_wrap=True)  # one line: ready to paste
        applied += _apply_all(kube, rest, opts, set_id, outcome, console, pending)
        members = _members(kube, applied, previous, opts.dry_run)
        desired = {(m.ref.group, m.ref.kind, m.ref.namespace, m.ref.name) for m in members}
        members += _prune(kube, previous, desired, opts, outcome, console)
        if not opts.dry_run:
            inventory.save(kube, inv_ns, members)
    except ApplyConflict as exc:
        outcome.result, outcome.error = "conflict", str(exc)
        raise
    except ApplyRejected as exc:  # a manifest the server refused: PodSecurity, validation
        outcome.result, outcome.error = "rejected", str(exc)
        raise
    finally:
        print_changes(outcome, opts.dry_run, console)
        _write_json(opts, kube, plan, outcome, started, clock() - t0)
    if opts.dry_run or not opts.wait:
        if not opts.dry_run:
            by_ref = {(a.ref.kind, a.ref.namespace, a.ref.name): compute(a.live) for a in applied}
            for row in outcome.rows:  # no wait: the status each object had as applied
                result = by_ref.get((row["kind"], row["namespace"], row["name"]))
                row["status"], row["message"] = (result.status, result.message) if result else (None, None)
            _write_json(opts, kube, plan, outcome, started, clock() - t0)
            console.print("Not waiting (--no-wait); `stackcheck deploy` again, or "
                          f"`{escape(kube.kubectl('get pods -A'))}`, shows progress", soft_wrap=True)
        return ExitCode.OK
    ok, items = wait(kube, [a.ref for a in applied], max(timeout - (clock() - t0), 1.0), console, clock=clock,
                     sleep=sleep, label="objects")
    _statuses(outcome, items)
    if not ok:
        console.print(f"[red]deploy failed[/red]: {sum(i.result.status != 'Current' for i in items)} "
                      "object(s) not ready:")
        outcome.not_ready = diagnose(kube, items, console)
        outcome.result, outcome.error = "failed", not_ready_error(items)
        _write_json(opts, kube, plan, outcome, started, clock() - t0)
        return ExitCode.CHECK_FAILED
    console.print(f"Deploy complete: {len(items)} workloads and claims Current")
    _write_json(opts, kube, plan, outcome, started, clock() - t0)
    return ExitCode.OK


def _members(kube: KubeAccess, applied: list[Applied], previous: list[inventory.Member],
             dry_run: bool) -> list[inventory.Member]:
    out = []
    old = {m.ref: m.uid for m in previous}
    for item in applied:
        uid = (item.live.get("metadata") or {}).get("uid")
        if not uid and not dry_run:
            live = read(kube, item.ref)
            uid = (live or {}).get("metadata", {}).get("uid")
        out.append(inventory.Member(item.ref, str(uid or old.get(item.ref, ""))))
    return out


def not_ready_error(items: list[Any]) -> str:
    """The reason of a failed wait, for --json: ``2 object(s) not ready: Deployment monitoring/grafana
    (Failed: …); …``."""
    pending = [i for i in items if i.result.status != "Current"]
    return (f"{len(pending)} object(s) not ready: "
            + "; ".join(f"{i.ref} ({i.result.status}: {i.result.message})" for i in pending))


def _statuses(outcome: Outcome, items: list[Any]) -> None:
    by_ref = {(i.ref.kind, i.ref.namespace, i.ref.name): i.result for i in items}
    for row in outcome.rows:
        result = by_ref.get((row["kind"], row["namespace"], row["name"]))
        row["status"] = result.status if result else "Current"
        row["message"] = result.message if result else "exists"


def _write_json(opts: DeployOptions, kube: KubeAccess, plan: Plan, outcome: Outcome, started: datetime,
                duration: float) -> None:
    if not opts.json_path:
        return
    doc = {"schema": SCHEMA, "context": kube.context, "server": kube.server, "overlay": plan.overlay,
           "dry_run": opts.dry_run, "started_at": started.isoformat(), "duration_s": round(duration, 3),
           "result": outcome.result, "objects": outcome.rows,
           "secrets": outcome.secrets, "pruned": outcome.pruned, "not_ready": outcome.not_ready}
    if outcome.error:  # present only when result is not "ok"
        doc["error"] = outcome.error
    from stackcheck.secrets import scrub

    Path(opts.json_path).write_text(scrub(json.dumps(doc, indent=2)) + "\n", encoding="utf-8")
