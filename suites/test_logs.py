"""Logs reach Loki: the Phase 5 workload's lines are fresh there, and a line written on request is found.

Both judge a line by the time it carries (the probe's JSON ``ts``), not by the stamp a collector gave it
when it read it, so a backlog shipped after an outage is not taken for a live stream. When the target
knows that no collector runs (a local stack without Alloy), a check that finds nothing fresh fails at
once, saying so, instead of waiting out its budget.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from stackcheck.checks.telemetry import (
    CLOCK_SLACK_S,
    LOG_FRESH_SAMPLE,
    LOG_LOOKBACK_S,
    PHASE5_LOG_SELECTOR,
    canary_latency_problem,
    find_canary,
    log_canary_problem,
    log_delivery_s,
    log_fresh_s,
    log_freshness_problem,
    newest_line_summary,
    no_collector_problem,
    shipped_recently,
)
from stackcheck.clients.http import Http
from stackcheck.clients.loki import NS, LokiClient, Stream
from stackcheck.errors import truncate
from stackcheck.targets.base import Target
from stackcheck.wait import eventually

SLACK_NS = int(CLOCK_SLACK_S * NS)


def newest_lines(loki: LokiClient, now_ns: int, selector: str = PHASE5_LOG_SELECTOR,
                 lookback_s: float = LOG_LOOKBACK_S) -> list[Stream]:
    """The newest entries of ``selector`` by Loki's stamp (enough to find the newest by their own ts)."""
    return loki.query_range(selector, start_ns=now_ns - int(lookback_s * NS), end_ns=now_ns + SLACK_NS,
                            limit=LOG_FRESH_SAMPLE)


@pytest.mark.check("logs.fresh", component="loki")
def test_loki_holds_fresh_lines_of_the_phase5_workload(loki: LokiClient, stackcheck_target: Target) -> None:
    """Loki holds a line of each expected namespace (phase5 by default) written (by its own ts) no longer
    ago than the expected age (by default one probe summary period plus delivery; ``--expectations`` sets
    it for a real application)."""
    expect = stackcheck_target.expectations
    limit = expect.log_max_age_s
    lookback = max(LOG_LOOKBACK_S, limit)

    def problems() -> list[str]:
        found = []
        for namespace in expect.log_namespaces:
            selector = expect.log_selector(namespace)
            now = time.time_ns()
            streams = newest_lines(loki, now, selector, lookback)
            problem = log_freshness_problem(streams, selector=selector, now_ns=now, max_age_s=limit,
                                            limit_from=expect.log_max_age_from, lookback_s=lookback,
                                            hint=stackcheck_target.log_shipper_hint)
            if problem is not None and stackcheck_target.log_collector_missing and not shipped_recently(
                    streams, now_ns=now, within_s=limit):
                # Nothing will ship a line while we wait: say so now instead of waiting out the budget.
                raise AssertionError(no_collector_problem(streams,
                                                          why=stackcheck_target.log_collector_missing,
                                                          selector=selector, now_ns=now, lookback_s=lookback))
            if problem is not None:
                found.append(problem)
        return found

    found = eventually(problems, log_fresh_s())  # the delivery budget, however old a line may be
    assert not found, "; ".join(found) + f" (expectations: {expect.source})"


@pytest.mark.full
@pytest.mark.check("logs.canary", component="loki")
def test_a_line_the_probe_writes_is_found_in_loki(loki: LokiClient, probe_http: Http,
                                                  stackcheck_target: Target,
                                                  record_property: Callable[[str, object], None]) -> None:
    """A line the probe writes with a fresh run id is found, exactly, in Loki within the delivery budget,
    measured from the time the line carries."""
    run_id = "stackcheck-" + uuid.uuid4().hex[:10]
    message = f"stackcheck log canary {run_id}"
    response = probe_http.request("POST", "/log", json={"run_id": run_id, "message": message})
    assert response.status_code == 200, (
        f"the probe at {probe_http.display_url} did not write the canary line of run {run_id} "
        f"(HTTP {response.status_code}): {truncate(response.text)}")
    posted = time.time_ns()
    logql = f'{PHASE5_LOG_SELECTOR} |= "{run_id}"'
    budget = log_delivery_s()
    record_property("bound_s", budget)
    seen: dict[str, int] = {}

    def problem() -> str | None:
        now = time.time_ns()
        streams = loki.query_range(logql, start_ns=posted - SLACK_NS, end_ns=now + SLACK_NS, limit=100)
        found = log_canary_problem(streams, run_id=run_id, message=message, selector=logql,
                                   waited_s=(now - posted) / NS)
        if found is None:
            canary = find_canary(streams, run_id, message)
            assert canary is not None
            seen["found_ns"], seen["written_ns"] = now, canary.when_ns
            return canary_latency_problem(canary, run_id=run_id, found_ns=now, bound_s=budget)
        if stackcheck_target.log_collector_missing and not shipped_recently(
                newest := newest_lines(loki, now), now_ns=now, within_s=log_fresh_s()):
            # No collector known, and no other one (e.g. a Promtail started by hand) ships anything.
            raise AssertionError(no_collector_problem(newest, why=stackcheck_target.log_collector_missing,
                                                      selector=PHASE5_LOG_SELECTOR, now_ns=now,
                                                      lookback_s=LOG_LOOKBACK_S))
        return found

    found = eventually(problem, budget)
    if "found_ns" in seen:
        record_property("latency_s", round((seen["found_ns"] - seen["written_ns"]) / NS, 3))
    elif found:
        now = time.time_ns()
        found += "; Loki: " + newest_line_summary(newest_lines(loki, now), selector=PHASE5_LOG_SELECTOR,
                                                  now_ns=now)
    assert found is None, found
