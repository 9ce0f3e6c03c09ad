"""Traces reach Jaeger: the Phase 5 backend has recent traces, and a span sent on request is readable."""
from __future__ import annotations

import time
import uuid

import pytest

from stackcheck.checks.telemetry import (
    PHASE5_SERVICE,
    TRACE_LOOKBACK_S,
    trace_canary_problem,
    trace_delivery_s,
    trace_fresh_s,
    trace_freshness_problem,
)
from stackcheck.clients.http import Http
from stackcheck.clients.jaeger import JaegerClient
from stackcheck.errors import truncate
from stackcheck.targets.base import Target
from stackcheck.wait import eventually, until


@pytest.mark.check("traces.fresh", component="jaeger")
def test_jaeger_holds_a_recent_trace_of_the_phase5_backend(jaeger: JaegerClient,
                                                           stackcheck_target: Target) -> None:
    """Jaeger lists each expected service (phase5-backend by default) and holds a trace of it that started
    (by its spans' own start time) within the expected window (by default one probe heartbeat period
    plus delivery; ``--expectations`` sets both for a real application)."""
    expect = stackcheck_target.expectations
    limit = expect.trace_window_s

    def problem_of(service: str, services: list[str], now: float) -> str | None:
        # The fresh window first: a search over a longer one may return older traces and miss the newest.
        spans = jaeger.find_traces(service, limit, limit=5, now=now)
        found = trace_freshness_problem(services, spans, service=service, now_s=now, max_age_s=limit,
                                        limit_from=expect.trace_window_from, lookback_s=limit)
        if found is not None and service in services and limit < TRACE_LOOKBACK_S:
            older = jaeger.find_traces(service, TRACE_LOOKBACK_S, limit=20, now=now)
            found = trace_freshness_problem(services, [*spans, *older], service=service, now_s=now,
                                            max_age_s=limit, limit_from=expect.trace_window_from,
                                            lookback_s=TRACE_LOOKBACK_S)
        return found if found is None else f"{found} ({jaeger.search_form})"

    def problems() -> list[str]:
        now = time.time()
        services = jaeger.services()
        return [p for service in expect.trace_services if (p := problem_of(service, services, now))]

    found = eventually(problems, trace_fresh_s())  # the delivery budget, however wide the window
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
