"""Faults that confirm themselves: every change of the probe's switches is read back.

The probe here is the real one, in process (tests/test_probe.py's ``Running``). The "lost body" cases make
it read every POST as ``{}``, which is what it did with a chunked body before it read those (issue 8):
it answered 200 and changed nothing.
"""
from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackcheck.clients.http import Http
from stackcheck.clients.probe import FaultNotApplied, ProbeClient, confirm_switches, switch_problems
from stackcheck.errors import ApiError
from stackcheck.faults import local
from stackcheck.local import processes
from stackcheck.local.state import LocalState
from tests.test_probe import Running, make_probe


@pytest.fixture
def probe() -> Iterator[Running]:
    running = Running(make_probe())
    yield running
    running.close()


@pytest.fixture
def lossy_probe(probe: Running) -> Running:
    """The real probe, reading every POST /faults body as {} (a body lost on the way)."""
    original = probe.probe.set_faults
    probe.probe.set_faults = lambda payload: original({})  # type: ignore[method-assign]
    return probe


def client(probe: Running) -> ProbeClient:
    return ProbeClient(Http("probe", probe.url))


def test_a_switch_that_took_is_confirmed(probe: Running) -> None:
    """set_faults POSTs, reads back and returns quietly when the probe reports what was asked."""
    client(probe).set_faults("stackcheck-r1", {"error_rate": 0.5, "audit_failures": True})
    assert probe.faults("GET") == (200, {"faults": {"error_rate": 0.5, "audit_failures": True},
                                         "run_ids": {"error_rate": "stackcheck-r1",
                                                     "audit_failures": "stackcheck-r1"}})


def test_a_switch_turned_off_is_confirmed(probe: Running) -> None:
    """Turning a switch off is read back too: the probe no longer lists it."""
    client(probe).set_faults("stackcheck-r1", {"error_rate": 0.5})
    client(probe).set_faults("stackcheck-r1", {"error_rate": 0})
    assert probe.faults("GET")[1]["faults"] == {}


def test_a_switch_that_did_not_take_fails_naming_it_and_the_probe_report(lossy_probe: Running) -> None:
    """POST answered 200, state unchanged: FaultNotApplied names the switch, the run and what GET said."""
    with pytest.raises(FaultNotApplied) as caught:
        local.set_switches(lossy_probe.url, "stackcheck-r1", {"db_pool_saturation": True})
    message = str(caught.value)
    assert message.startswith(f"probe at {lossy_probe.url} did not take the fault switches of run "
                              "stackcheck-r1: db_pool_saturation: asked true, the probe reports it off")
    assert '(GET /faults: {"faults": {}, "run_ids": {}})' in message
    assert isinstance(caught.value, ApiError)  # a failed check (exit 1), not a crash


def test_a_clear_that_did_not_take_fails_too(probe: Running) -> None:
    """A switch asked off that the probe still reports on is named as such."""
    client(probe).set_faults("stackcheck-r1", {"consumer_lag": 5000})
    original = probe.probe.set_faults
    probe.probe.set_faults = lambda payload: original({})  # type: ignore[method-assign]
    with pytest.raises(FaultNotApplied,
                       match=re.escape("consumer_lag: asked off, the probe still reports 5000")):
        local.set_switches(probe.url, "stackcheck-r1", {"consumer_lag": 0})


def test_a_switch_held_by_another_run_is_named() -> None:
    """Right value, wrong holder: another run's clear would turn it off under us."""
    reported = {"faults": {"error_rate": 0.5}, "run_ids": {"error_rate": "stackcheck-other"}}
    assert switch_problems({"error_rate": 0.5}, "stackcheck-me", reported) == [
        "error_rate: on, but held by run 'stackcheck-other', not 'stackcheck-me'"]


def test_a_different_value_is_named_with_both_values() -> None:
    """Asked 0.5, reported 0.2: both numbers in the message."""
    assert switch_problems({"error_rate": 0.5}, None, {"faults": {"error_rate": 0.2}}) == [
        "error_rate: asked 0.5, the probe reports 0.2"]


def test_a_number_is_not_a_boolean() -> None:
    """consumer_lag 1 reported as true would be a different switch state; it is named."""
    assert switch_problems({"consumer_lag": 1}, None, {"faults": {"consumer_lag": True}}) != []


def test_crash_is_not_read_back() -> None:
    """The probe exits right after answering a crash; there is no switch left to read."""
    assert switch_problems({"crash": True}, "r", {"faults": {}}) == []


def test_confirm_switches_is_reusable_with_a_body_read_elsewhere() -> None:
    """The Kubernetes fault driver reads GET /faults through the pod proxy and confirms with the body."""
    confirm_switches("probe pod phase5/x", {"error_rate": 0.5}, "r1",
                     {"faults": {"error_rate": 0.5}, "run_ids": {"error_rate": "r1"}})
    with pytest.raises(FaultNotApplied, match=r"^probe pod phase5/x did not take"):
        confirm_switches("probe pod phase5/x", {"error_rate": 0.5}, "r1", {"faults": {}, "run_ids": {}})


# --- the other local faults confirm themselves too --------------------------------------------------

def _state(tmp_path: Path, procs: list[processes.Proc]) -> Path:
    LocalState(manifests="m", time_scale=1.0, port_base=29000, fingerprint="f", started_at=time.time(),
               endpoints={}, processes=procs, scrape_jobs=[]).save(tmp_path)
    return tmp_path


def test_kill_service_confirms_the_process_is_gone(tmp_path: Path) -> None:
    """PodDown's kill returns once the process is gone."""
    proc = processes.start("probe_canary", [sys.executable, "-c", "import time; time.sleep(60)"],
                           tmp_path / "logs" / "c.log")
    try:
        local.kill_service(_state(tmp_path, [proc]), "probe_canary")
        assert not processes.alive(proc)
    finally:
        processes.stop(proc)


def test_kill_service_of_an_unknown_process_says_so(tmp_path: Path) -> None:
    """Killing a name the stack does not run is an error, not a silent success."""
    with pytest.raises(Exception, match="has no process 'probe_canary' to kill"):
        local.kill_service(_state(tmp_path, []), "probe_canary")
