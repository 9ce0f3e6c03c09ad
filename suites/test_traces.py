"""Traces reach Jaeger: the Phase 5 backend has recent traces, and a span sent on request is readable."""
from __future__ import annotations

import time
import uuid

import pytest

from stackcheck.checks.telemetry import (
    PHASE5_SERVICE,
    trace_canary_problem,
    trace_delivery_s,
    trace_freshness_problem,
)
from stackcheck.clients.http import Http
from stackcheck.clients.jaeger import JaegerClient
from stackcheck.errors import truncate
from stackcheck.targets.base import Target
from stackcheck.wait import eventually, until


@pytest.mark.check("traces.fresh", component="jaeger")
def test_jaeger_holds_a_recent_trace_of_the_phase5_backend(jaeger: JaegerClient, stackcheck_target: Target) -> None:
    """Jaeger lists each expected service (phase5-backend by default) and holds a trace of it that started
    in the expected window (15 minutes by default; ``--expectations`` sets both)."""
    expect = stackcheck_target.expectations

    def problems() -> list[str]:
        services = jaeger.services()
        found = []
        for service in expect.trace_services:
            recent = jaeger.find_traces(service, expect.trace_window_s, limit=1)
            problem = trace_freshness_problem(services, recent, service=service, window_s=expect.trace_window_s)
            if problem:
                found.append(problem)
        return found

    found = eventually(problems, trace_delivery_s())
    assert not found, "; ".join(found) + f" (expectations: {expect.source})"


@pytest.mark.full
@pytest.mark.check("traces.canary", component="jaeger")
def test_a_span_the_probe_sends_is_readable_in_jaeger(jaeger: JaegerClient, probe_http: Http) -> None:
    """A span the probe sends over OTLP with a fresh run id is readable by its trace id within the budget."""
    run_id = "stackcheck-" + uuid.uuid4().hex[:10]
    response = probe_http.request("POST", "/trace", json={"run_id": run_id})
    # 409: the probe has no OTLP endpoint; 502: the endpoint (Jaeger's OTLP receiver) failed. Both quoted.
    assert response.status_code == 200, (
        f"the probe at {probe_http.display_url} did not send the canary span of run {run_id} "
        f"(HTTP {response.status_code}): {truncate(response.text)}")
    trace_id = str(probe_http.json_of(response)["trace_id"])
    sent = time.monotonic()
    budget = trace_delivery_s()
    spans = until(lambda: jaeger.trace(trace_id), budget)
    problem = trace_canary_problem(spans, trace_id=trace_id, run_id=run_id, service=PHASE5_SERVICE,
                                   waited_s=time.monotonic() - sent)
    assert problem is None, problem
