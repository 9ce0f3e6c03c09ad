"""Wait until every applied object is Current (kstatus), with a live table and a budget.

- Polling follows the budget (through :mod:`stackcheck.wait`): the first polls come quickly (0.5 s),
  later ones every 2 s, and no sleep runs past the deadline. No fixed sleeps.
- Fail fast: an object kstatus calls ``Failed`` (ProgressDeadlineExceeded, a crash-looping pod)
  ends the wait at once. So does a workload whose pods have waited ``STUCK_GRACE_S`` in
  ``ImagePullBackOff``/``ErrImagePull``/``CrashLoopBackOff``/…, or have stayed ``Unschedulable``
  for ``UNSCHEDULABLE_GRACE_S`` (a cluster autoscaler gets that long to add a node), both counted
  from when this wait first saw it.
- On a terminal the table is redrawn in place (rich ``Live``); elsewhere (CI logs) one line is
  printed per status change.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from stackcheck.deploy.admission import REFUSED_BY_EVENT, refused_by_admission
from stackcheck.kube.access import KubeAccess
from stackcheck.kube.apply import Ref, read
from stackcheck.kube.status import (
    CURRENT,
    FAILED,
    RULES,
    STUCK_REASONS,
    Result,
    compute,
    condition,
    waiting_reasons,
)
from stackcheck.timescale import format_duration
from stackcheck.wait import until

STUCK_GRACE_S = 20.0
UNSCHEDULABLE_GRACE_S = 120.0
FIRST_POLL_S = 0.5
MAX_POLL_S = 2.0
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")


@dataclass
class Tracked:
    """One object being waited for, and what was last seen."""

    ref: Ref
    result: Result = field(default_factory=lambda: Result("InProgress", "not read yet"))
    live: dict[str, Any] | None = None
    pods: list[dict[str, Any]] = field(default_factory=list)
    stuck_since: dict[str, float] = field(default_factory=dict)


def selector_of(obj: dict[str, Any]) -> str | None:
    """A workload's ``matchLabels`` as a label selector."""
    labels = (((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {})
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or None


def pods_of(kube: KubeAccess, obj: dict[str, Any]) -> list[dict[str, Any]]:
    selector = selector_of(obj)
    if selector is None:
        return []
    ns = (obj.get("metadata") or {}).get("namespace")
    answer = kube.request(f"list pods {selector} in {ns}", "GET", f"/api/v1/namespaces/{ns}/pods",
                          query=[("labelSelector", selector)])
    return list(answer.body.get("items") or [])


def _fail_fast(tracked: Tracked, now: float) -> Result | None:
    """A Failed result when the workload's pods have been stuck past their grace period."""
    seen: set[str] = set()
    for pod in tracked.pods:
        name = (pod.get("metadata") or {}).get("name")
        for container, reason, message in waiting_reasons(pod):
            if reason in STUCK_REASONS:
                key = f"{reason}:{name}/{container}"
                seen.add(key)
                since = tracked.stuck_since.setdefault(key, now)
                if now - since >= STUCK_GRACE_S:
                    return Result(FAILED,
                                  f"pod {name} container {container}: {reason}: {message}".rstrip(": "),
                                  reason)
        scheduled = condition(pod, "PodScheduled")
        if scheduled is not None and scheduled.get("status") == "False" \
                and scheduled.get("reason") == "Unschedulable":
            key = f"Unschedulable:{name}"
            seen.add(key)
            since = tracked.stuck_since.setdefault(key, now)
            if now - since >= UNSCHEDULABLE_GRACE_S:
                return Result(FAILED, f"pod {name} Unschedulable for {UNSCHEDULABLE_GRACE_S:g}s: "
                                      f"{scheduled.get('message', '')}", "Unschedulable")
    for key in list(tracked.stuck_since):
        if key not in seen:
            del tracked.stuck_since[key]
    return None


def poll(kube: KubeAccess, tracked: Tracked, now: float) -> None:
    tracked.live = read(kube, tracked.ref)
    tracked.result = compute(tracked.live)
    tracked.pods = pods_of(kube, tracked.live) if tracked.live and tracked.ref.kind in WORKLOADS else []
    if tracked.result.status != CURRENT:
        stuck = _fail_fast(tracked, now)
        if stuck is None and tracked.live and not tracked.pods and tracked.ref.kind in REFUSED_BY_EVENT:
            stuck = refused_by_admission(kube, tracked.live)  # PodSecurity: a StatefulSet's only trace
        if stuck is not None:
            tracked.result = stuck


def table(items: list[Tracked], remaining_s: float) -> Table:
    view = Table(title=f"waiting: {sum(t.result.status == CURRENT for t in items)}/{len(items)} ready, "
                       f"{max(remaining_s, 0):.0f}s left", title_justify="left")
    for column in ("object", "status", "message"):
        view.add_column(column)
    for item in items:
        colour = {"Current": "green", "Failed": "red"}.get(item.result.status, "yellow")
        view.add_row(escape(str(item.ref)), f"[{colour}]{item.result.status}[/{colour}]",
                     escape(item.result.message))
    return view


def waitable(refs: list[Ref]) -> list[Ref]:
    """The refs kstatus has a rule for; any other kind is Current once it exists."""
    return [r for r in refs if r.kind in RULES]


def wait(kube: KubeAccess, refs: list[Ref], timeout_s: float, console: Console, *,
         clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
         label: str = "objects") -> tuple[bool, list[Tracked]]:
    """Poll until every ref is Current, one is Failed, or the budget runs out; (all ready, last seen)."""
    items = [Tracked(r) for r in waitable(refs)]
    if not items:
        return True, items
    shown: dict[Ref, str] = {}
    live = Live(table(items, timeout_s), console=console, refresh_per_second=4, transient=False) \
        if console.is_terminal else None
    console.print(f"Waiting up to {format_duration(round(timeout_s))} for {len(items)} {label} (kstatus: Current)")

    def settled() -> bool:
        now = clock()
        for item in items:
            if item.result.status != CURRENT:
                poll(kube, item, now)
        return all(i.result.status == CURRENT for i in items) or any(i.result.status == FAILED for i in items)

    def show(_: bool, remaining: float) -> None:
        if live is not None:
            live.update(table(items, remaining))
            return
        for item in items:
            line = f"{item.result.status}: {item.result.message}"
            if shown.get(item.ref) != line:
                shown[item.ref] = line
                console.print(f"  {escape(str(item.ref))}: {escape(line)}")

    try:
        if live is not None:
            live.start()
        until(settled, timeout_s, interval_s=FIRST_POLL_S, max_interval_s=MAX_POLL_S, clock=clock,
              sleep=sleep, on_poll=show)
    finally:
        if live is not None:
            live.stop()
    return all(i.result.status == CURRENT for i in items), items
