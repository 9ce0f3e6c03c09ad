"""Logs reach Loki: the Phase 5 workload's lines are fresh there, and a line written on request is found."""
from __future__ import annotations

import time
import uuid

import pytest

from stackcheck.checks.telemetry import (
    CLOCK_SLACK_S,
    LOG_LOOKBACK_S,
    PHASE5_LOG_SELECTOR,
    log_canary_problem,
    log_delivery_s,
    log_fresh_s,
    log_freshness_problem,
    newest_line_summary,
)
from stackcheck.clients.http import Http
from stackcheck.clients.loki import LokiClient
from stackcheck.errors import truncate
from stackcheck.targets.base import Target
from stackcheck.wait import eventually


@pytest.mark.check("logs.fresh", component="loki")
def test_loki_holds_fresh_lines_of_the_phase5_workload(loki: LokiClient, stackcheck_target: Target) -> None:
    """Loki holds a line of each expected namespace (phase5 by default) no older than the expected age
    (by default one probe summary period plus delivery; ``--expectations`` sets it for a real application)."""
    expect = stackcheck_target.expectations
    limit = expect.log_max_age_s
    lookback = max(LOG_LOOKBACK_S, limit)

    def problems() -> list[str]:
        found = []
        for namespace in expect.log_namespaces:
            selector = expect.log_selector(namespace)
            now = time.time()
            newest = loki.query_range(selector, start=now - lookback, end=now + CLOCK_SLACK_S, limit=1)
            problem = log_freshness_problem(newest, selector=selector, now_s=now, max_age_s=limit,
                                            lookback_s=lookback)
            if problem:
                found.append(problem)
        return found

    found = eventually(problems, log_fresh_s())
    assert not found, "; ".join(found) + f" (expectations: {expect.source})"


@pytest.mark.full
@pytest.mark.check("logs.canary", component="loki")
def test_a_line_the_probe_writes_is_found_in_loki(loki: LokiClient, probe_http: Http) -> None:
    """A line the probe writes with a fresh run id is found, exactly, in Loki within the delivery budget."""
    run_id = "stackcheck-" + uuid.uuid4().hex[:10]
    message = f"stackcheck log canary {run_id}"
    response = probe_http.request("POST", "/log", json={"run_id": run_id, "message": message})
    assert response.status_code == 200, (
        f"the probe at {probe_http.display_url} did not write the canary line of run {run_id} "
        f"(HTTP {response.status_code}): {truncate(response.text)}")
    posted = time.time()
    logql = f'{PHASE5_LOG_SELECTOR} |= "{run_id}"'
    budget = log_delivery_s()

    def problem() -> str | None:
        now = time.time()
        streams = loki.query_range(logql, start=posted - CLOCK_SLACK_S, end=now + CLOCK_SLACK_S, limit=100)
        return log_canary_problem(streams, run_id=run_id, message=message, selector=logql,
                                  waited_s=now - posted)

    found = eventually(problem, budget)
    if found:
        now = time.time()
        newest = loki.query_range(PHASE5_LOG_SELECTOR, start=now - LOG_LOOKBACK_S, end=now + CLOCK_SLACK_S,
                                  limit=1)
        found += "; " + newest_line_summary(newest, selector=PHASE5_LOG_SELECTOR, now_s=now)
    assert found is None, found
