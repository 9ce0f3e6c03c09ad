"""Wait until every applied object is Current (kstatus), with a live table and a budget.

- Polling follows the budget (through :mod:`stackcheck.wait`): the first polls come quickly (0.5 s),
  later ones every 2 s, and no sleep runs past the deadline. No fixed sleeps.
- A workload is not ready while a container of its pods is crash-looping, even when kstatus says
  Current (:mod:`stackcheck.deploy.crashloop` says why kstatus alone misses it).
- Fail fast: an object kstatus calls ``Failed`` (ProgressDeadlineExceeded, a crash-looping pod)
  ends the wait at once. So does a workload whose pods have waited ``STUCK_GRACE_S`` in
  ``ImagePullBackOff``/``ErrImagePull``/…, have crash-looped that long (a brief run between two
  back-offs does not restart the count), or have stayed ``Unschedulable`` for
  ``UNSCHEDULABLE_GRACE_S`` (a cluster autoscaler gets that long to add a node), all counted from
  when this wait first saw it. When one object fails, every other object whose pods are stuck on an
  image or crash-looping is reported Failed too, whatever its grace, so the list names them all; an
  Unschedulable pod keeps its grace (a node may still come).
- A workload that is not ready shows its pods' waiting reasons after kstatus' message.
- On a terminal the table is redrawn in place (rich ``Live``); elsewhere (CI logs) one line is
  printed per status change.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from stackcheck.deploy.admission import REFUSED_BY_EVENT, refused_by_admission
from stackcheck.deploy.crashloop import Tracker, crashes
from stackcheck.kube.access import KubeAccess
from stackcheck.kube.apply import Ref, read
from stackcheck.kube.status import (
    CURRENT,
    FAILED,
    IN_PROGRESS,
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
    crash: Tracker = field(default_factory=Tracker)


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


def _fail_fast(tracked: Tracked, now: float, grace_s: float = STUCK_GRACE_S) -> Result | None:
    """A Failed result when the workload's pods have been stuck past their grace period."""
    seen: set[str] = set()
    for pod in tracked.pods:
        name = (pod.get("metadata") or {}).get("name")
        for container, reason, message in waiting_reasons(pod):
            if reason in STUCK_REASONS and reason != "CrashLoopBackOff":  # crash loops: crashloop.py
                # The kubelet alternates ErrImagePull and ImagePullBackOff: one timer for both.
                key = f"{'ImagePull' if 'ImagePull' in reason else reason}:{name}/{container}"
                seen.add(key)
                since = tracked.stuck_since.setdefault(key, now)
                if now - since >= grace_s:
                    said = f"pod {name} container {container}: {reason}: {short(message)}"
                    return Result(FAILED, said.rstrip(": "), reason)
        scheduled = condition(pod, "PodScheduled")
        if scheduled is not None and scheduled.get("status") == "False" \
                and scheduled.get("reason") == "Unschedulable":
            key = f"Unschedulable:{name}"
            seen.add(key)
            since = tracked.stuck_since.setdefault(key, now)
            if now - since >= UNSCHEDULABLE_GRACE_S:  # the autoscaler's grace, even once another failed
                return Result(FAILED, f"pod {name} Unschedulable for {now - since:.0f}s: "
                                      f"{scheduled.get('message', '')}", "Unschedulable")
    for key in list(tracked.stuck_since):
        if key not in seen:
            del tracked.stuck_since[key]
    return None


def _crash_looping(tracked: Tracked, now: float, wall: Callable[[], datetime],
                   grace_s: float = STUCK_GRACE_S) -> Result | None:
    """InProgress while a container has not settled after a restart; Failed once it crash-looped past
    the grace (counted from the first crash this wait saw, so a brief run does not restart it)."""
    if tracked.ref.kind == "Job":
        return None  # a Job's pods are meant to end; its own status says whether they failed
    found = crashes(tracked.crash, tracked.pods, now, wall)
    for crash in found:
        if crash.evidence and now - crash.since >= grace_s:
            return Result(FAILED, f"pod {crash.pod} container {crash.container} is crash-looping: "
                                  f"{crash.detail}", "CrashLoopBackOff")
    if found:
        crash = found[0]
        return Result(IN_PROGRESS, f"pod {crash.pod} container {crash.container}: {crash.detail}",
                      "ContainerRestarting")
    return None


def short(message: str) -> str:
    """The kubelet's message up to its first quoted name: ``Back-off pulling image "grafana:12.3.1"``
    (the rest, the runtime's error chain, is in the diagnosis)."""
    cut = message.find('": ')
    return message[:cut + 1] if cut > 0 else message


def _with_waiting(result: Result, pods: list[dict[str, Any]]) -> Result:
    """kstatus' message plus the pods' waiting reasons: "Available: 0/1 (ImagePullBackOff: …)"."""
    reasons = [f"{reason}: {short(message)}".rstrip(": ") for pod in pods
               if not (pod.get("metadata") or {}).get("deletionTimestamp")
               for _, reason, message in waiting_reasons(pod) if reason]
    reasons = [r for r in dict.fromkeys(reasons) if r not in result.message]  # a fail-fast line has it
    if not reasons or result.status not in (IN_PROGRESS, FAILED) or result.reason == "ContainerRestarting":
        return result
    return Result(result.status, f"{result.message} ({'; '.join(reasons)})", result.reason)


def poll(kube: KubeAccess, tracked: Tracked, now: float, wall: Callable[[], datetime]) -> None:
    tracked.live = read(kube, tracked.ref)
    tracked.result = compute(tracked.live)
    tracked.pods = pods_of(kube, tracked.live) if tracked.live and tracked.ref.kind in WORKLOADS else []
    crash = _crash_looping(tracked, now, wall) if tracked.pods else None
    if crash is not None and tracked.result.status in (CURRENT, IN_PROGRESS):
        tracked.result = crash
    if tracked.result.status != CURRENT:
        stuck = _fail_fast(tracked, now) if tracked.result.status != FAILED else None
        if stuck is None and tracked.live and not tracked.pods and tracked.ref.kind in REFUSED_BY_EVENT:
            stuck = refused_by_admission(kube, tracked.live)  # PodSecurity: a StatefulSet's only trace
        if stuck is not None:
            tracked.result = stuck
    tracked.result = _with_waiting(tracked.result, tracked.pods)


def also_stuck(items: list[Tracked], now: float, wall: Callable[[], datetime]) -> None:
    """Once one object failed, mark Failed every other one whose pods are stuck too, whatever its grace
    (Unschedulable aside: :func:`_fail_fast` keeps its grace)."""
    for item in items:
        if item.result.status not in (CURRENT, FAILED) and item.pods:
            stuck = _crash_looping(item, now, wall, grace_s=0) or _fail_fast(item, now, grace_s=0)
            if stuck is not None and stuck.status == FAILED:
                item.result = stuck


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
         label: str = "objects", wall: Callable[[], datetime] | None = None
         ) -> tuple[bool, list[Tracked]]:
    """Poll until every ref is Current, one is Failed, or the budget runs out; (all ready, last seen).

    ``wall`` is the clock a container's ``startedAt`` is read against: the API server's by default.
    """
    wall = wall or kube.server_now
    items = [Tracked(r) for r in waitable(refs)]
    if not items:
        return True, items
    shown: dict[Ref, str] = {}
    live = Live(table(items, timeout_s), console=console, refresh_per_second=4, transient=False) \
        if console.is_terminal else None
    console.print(f"Waiting up to {format_duration(round(timeout_s))} for {len(items)} {label} "
                  "(kstatus: Current)")

    def settled() -> bool:
        now = clock()
        for item in items:
            if item.result.status != CURRENT:
                poll(kube, item, now, wall)
        if any(i.result.status == FAILED for i in items):
            also_stuck(items, now, wall)
            return True
        return all(i.result.status == CURRENT for i in items)

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
