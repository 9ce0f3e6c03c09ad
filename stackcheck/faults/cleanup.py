"""``stackcheck cleanup``: revert faults a killed run left behind, found by their run id.

It only reverts what stackcheck recorded or labelled (the ledger, probe switches set by a
``stackcheck-…`` run id, its own tmpfs); it never touches anything else.
"""
from __future__ import annotations

import os
from pathlib import Path

from stackcheck.clients.http import Http
from stackcheck.clients.probe import ProbeClient
from stackcheck.errors import StackcheckError
from stackcheck.faults import ledger, local
from stackcheck.faults.scenarios import SCENARIOS
from stackcheck.local import processes
from stackcheck.local.state import LocalState
from stackcheck.targets.local import local_target

RUN_PREFIX = "stackcheck-"


def cleanup_local(state_dir: Path) -> list[str]:
    """Revert every leftover fault of the local stack; returns one line per thing reverted."""
    state = LocalState.require(state_dir)
    target = local_target(state_dir)
    done: list[str] = []
    for run_id, alert in ledger.outstanding(state_dir):
        scenario = SCENARIOS.get(alert)
        if scenario is not None:
            scenario.clear(target, run_id)
        ledger.record(state_dir, run_id, alert, "cleared")
        done.append(f"cleared {alert} fault of run {run_id}")
    for name in ("probe", "probe_canary"):
        url = state.endpoints.get(name)
        if url is None:
            continue
        probe = ProbeClient(Http(name, url))
        try:
            active = probe.active_run_ids()
        except StackcheckError:
            continue  # a probe that is down holds no switches
        for run_id in sorted(r for r in active if r.startswith(RUN_PREFIX)):
            probe.clear_run(run_id)
            done.append(f"cleared probe switches of run {run_id} on {name}")
    if os.path.ismount(local.disk_mount(state_dir)):
        local.clear_disk(state_dir)
        done.append(f"unmounted {local.disk_mount(state_dir)}")
    for proc in state.processes:
        if proc.name == "probe_canary" and not processes.alive(proc):
            local.restart_service(state_dir, proc.name)
            done.append("restarted probe_canary")
    return done
