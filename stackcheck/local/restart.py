"""Bring one stopped service of the running local stack back, and tell when a service answers.

Faults restart what they killed through this module; it reads only the recorded state, so they need
nothing of :mod:`stackcheck.local.runtime`, which starts and stops the whole stack.
"""
from __future__ import annotations

from pathlib import Path

import requests

from stackcheck.errors import Unreachable, UsageError
from stackcheck.local import processes
from stackcheck.local.processes import Proc
from stackcheck.local.state import LocalState
from stackcheck.wait import until

#: How long a service may take to answer after a start, unless the caller gives a budget.
DEFAULT_READY_BUDGET_S = 30.0
#: Pause between readiness polls: a local service answers in milliseconds.
READY_POLL_S = 0.1


def is_ready(ready_url: str) -> bool:
    """Whether the service's readiness URL answers 200."""
    try:
        return requests.get(ready_url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def restart(state_dir: Path, name: str, budget_s: float = DEFAULT_READY_BUDGET_S) -> Proc:
    """Start a stopped service of the running stack again with its recorded command (used by faults)."""
    state = LocalState.require(state_dir)
    old = next((p for p in state.processes if p.name == name), None)
    if old is None or not old.argv:
        raise UsageError(f"the local stack in {state_dir} has no restartable service {name!r}")
    if processes.alive(old):
        return old
    new = processes.start(name, old.argv, Path(old.log))
    state.processes = [new if p.name == name else p for p in state.processes]
    state.save(state_dir)
    ready_url = state.endpoints[name] + "/healthz"

    def back() -> bool:
        if not processes.alive(new):
            raise Unreachable(f"{name} did not come back after a restart; see {new.log}")
        return is_ready(ready_url)

    if not until(back, budget_s, interval_s=READY_POLL_S):
        raise Unreachable(f"{name} did not come back after a restart; see {new.log}")
    return new
