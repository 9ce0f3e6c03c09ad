"""Is a workload's container crash-looping, even in the moment it runs between two back-offs?

kstatus reads only the workload's own status. A Deployment counts a pod available once its Ready
condition is True, and a container with no readiness probe is Ready the moment it runs. A crash-looping
container runs for a second between back-offs (captured on a real 1.36 kubelet: contracts p1-p3), so a
poll that lands there sees ``availableReplicas: 1`` and kstatus says Current. The wait therefore also
reads the pods' container statuses and remembers, across polls, what it saw:

- crash evidence: ``state.waiting.reason`` CrashLoopBackOff, a ``state.terminated`` with a non-zero
  exit code, or a ``restartCount`` higher than at the previous poll;
- a container that has restarted (``restartCount`` > 0), or that has no readiness probe (so Ready
  says only that it runs: the crasher on the real kubelet was first seen Running, restartCount 0,
  Ready, and then never again), is settled only once it has been running for :data:`STABLE_S`:
  by its own ``state.running.startedAt`` (the kubelet's clock, so a redeploy of a stack whose pod
  restarted long ago is not held up) read against the API server's clock (``wall``: its ``Date``, so
  a machine whose clock runs ahead cannot age a fresh restart past the limit), or by this wait's own
  observation (if the clocks disagree);
- the fail-fast grace runs from the first evidence and is not reset by a brief run; only a settled
  container clears it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Json = dict[str, Any]
STABLE_S = 30.0


@dataclass
class Seen:
    """One container as this wait saw it."""

    restarts: int = 0
    crashed_at: float | None = None
    running_since: float | None = None
    started_at: str = ""


@dataclass
class Crash:
    """A container that is crash-looping (or has not yet shown it stopped)."""

    pod: str
    container: str
    restarts: int
    evidence: bool
    since: float
    detail: str


@dataclass
class Tracker:
    """What the wait remembers about every container of one workload's pods."""

    seen: dict[str, Seen] = field(default_factory=dict)


def _statuses(pod: Json) -> list[tuple[Json, bool]]:
    """(container status, whether Ready proves more than "it runs": a readiness probe, or an init
    container, which must exit 0)."""
    status, spec = pod.get("status") or {}, pod.get("spec") or {}
    probed = {c.get("name") for c in spec.get("containers") or [] if c.get("readinessProbe")}
    return ([(entry, True) for entry in status.get("initContainerStatuses") or []]
            + [(entry, entry.get("name") in probed) for entry in status.get("containerStatuses") or []])


def _age_s(stamp: str, wall: datetime) -> float | None:
    try:
        return (wall - datetime.fromisoformat(stamp)).total_seconds()
    except ValueError:
        return None


def last_exit(entry: Json) -> str:
    """``exit code 1 (Error) at 2026-12-01T13:21:31Z``: the newest exit, ``state.terminated`` while the
    container is down before its back-off, else ``lastState.terminated``; or ''."""
    ended = (entry.get("state") or {}).get("terminated") or (entry.get("lastState") or {}).get("terminated")
    if not ended:
        return ""
    return (f"exit code {ended.get('exitCode')} ({ended.get('reason') or 'no reason'}) "
            f"at {ended.get('finishedAt')}")


def crashes(tracker: Tracker, pods: list[Json], now: float, wall: Callable[[], datetime]) -> list[Crash]:
    """The containers of these pods that are crash-looping or not yet settled after a restart."""
    out: list[Crash] = []
    live: set[str] = set()
    for pod in pods:
        meta = pod.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            continue  # an old pod on its way out is not the workload's current state
        name = str(meta.get("name"))
        for entry, probed in _statuses(pod):
            key = f"{meta.get('uid') or name}/{entry.get('name')}"
            live.add(key)
            restarts = int(entry.get("restartCount") or 0)
            state = entry.get("state") or {}
            seen = tracker.seen.get(key)
            if seen is None:
                seen = tracker.seen[key] = Seen(restarts=restarts)
            waiting = (state.get("waiting") or {}).get("reason")
            terminated = state.get("terminated") or {}
            evidence = (waiting == "CrashLoopBackOff" or int(terminated.get("exitCode") or 0) != 0
                        or restarts > seen.restarts)
            seen.restarts = restarts
            running = state.get("running") or {}
            if running and str(running.get("startedAt")) != seen.started_at:
                seen.started_at, seen.running_since = str(running.get("startedAt")), now
            elif not running:
                seen.started_at, seen.running_since = "", None
            if evidence and seen.crashed_at is None:
                seen.crashed_at = now
            if restarts == 0 and not evidence and (probed or not running):
                continue
            age = _age_s(seen.started_at, wall()) if running else None
            settled = bool(running) and not evidence and (
                (age is not None and age >= STABLE_S)
                or (seen.running_since is not None and now - seen.running_since >= STABLE_S))
            if settled:
                seen.crashed_at = None
                continue
            how = ("CrashLoopBackOff" if waiting == "CrashLoopBackOff" else
                   "exited" if terminated else f"running for less than {STABLE_S:g}s" if running
                   else str(waiting or "not running"))
            detail = (f"restarted {restarts} times, {how}" if restarts else
                      f"{how} (no readiness probe: Ready only says it runs)")
            if last_exit(entry):
                detail += f"; last {last_exit(entry)}"
            out.append(Crash(name, str(entry.get("name")), restarts, evidence,
                             seen.crashed_at if seen.crashed_at is not None else now, detail))
    for key in list(tracker.seen):
        if key not in live:
            del tracker.seen[key]
    return out
