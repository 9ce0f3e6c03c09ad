"""Prometheus scrapes every target, evaluates every rule, and has every rule of the acceptance list."""
from __future__ import annotations

from typing import Any

import pytest

from stackcheck.budgets import Budgets
from stackcheck.checks import prometheus as checks
from stackcheck.checks.freshness import NOT_LOADED, Verdict, find_rule, recording_verdict, sample_times
from stackcheck.clients.prometheus import PrometheusClient, RuleGroup
from stackcheck.inventory import ALERTS
from stackcheck.manifests import Manifests, RuleDef
from stackcheck.promql import metric_names
from stackcheck.targets.base import SIGNAL_SOURCES, Target
from stackcheck.wait import eventually, until

#: At most this many jobs' targets are fetched to quote their lastError when targets.up fails.
DETAILED_JOBS = 5


@pytest.mark.check("targets.up", component="prometheus")
def test_every_scrape_job_has_targets_and_all_are_up(
    prometheus: PrometheusClient, stackcheck_target: Target, manifests: Manifests, budgets: Budgets,
) -> None:
    """Every expected scrape job has at least one target, and all of its targets are up, judged by a
    recent scrape (within two of its intervals, by Prometheus' clock)."""
    expected = stackcheck_target.expected_jobs
    if expected is None:
        expected = manifests.scrape_jobs()
    # Poll one small PromQL answer (two numbers per job), backing off to the scrape interval: the state
    # cannot change faster. On a Prometheus with thousands of targets, /api/v1/targets is megabytes.
    # Until a target is scraped by this process, its "up" is the last process' (a restart over the same
    # TSDB): the poll waits for this Prometheus' own scrapes.
    by_job = checks.up_by_job(prometheus.started_at())
    seen: list[tuple[list[str], list[str]]] = []

    def problems_now() -> list[str]:
        seen[:] = [checks.up_problems(prometheus.query(by_job), expected)]
        return seen[0][0]

    eventually(problems_now, budgets.targets_s, max_interval_s=budgets.scrape_s)
    problems, down = seen[0]
    # An "up" sample older than two scrape intervals may come from a stalled scrape loop (health is that
    # of the last scrape, however old): those jobs, and the down ones, are judged target by target on
    # their own interval and timeout, by Prometheus' clock, fetching only their scrape pools.
    stale_query = checks.STALE_JOBS.format(limit=2 * budgets.scrape_s)
    stale = [str(series["metric"].get("job", "?")) for series in prometheus.query(stale_query)]
    suspects = sorted(set(down) | set(stale))[:DETAILED_JOBS]
    if suspects:
        now = prometheus.now()
        detail = [line for job in suspects
                  for line in checks.job_problems(prometheus.targets(scrape_pool=job), [job], now)]
        problems = [p for p in problems if not any(p.startswith(f"job {job!r}: ") and " of " in p
                                                   for job in suspects)] + detail
    assert not problems, "scrape targets not healthy:\n" + "\n".join(problems)


@pytest.mark.check("rules.healthy", component="prometheus")
def test_every_rule_group_evaluates_without_error(prometheus: PrometheusClient, budgets: Budgets) -> None:
    """Every rule of every loaded group evaluated successfully on its last run, and that run is recent
    (within two of its group's intervals, by Prometheus' clock)."""
    problems = eventually(lambda: checks.rule_health_problems(prometheus.rule_groups(), prometheus.now()),
                          budgets.rules_s, max_interval_s=budgets.evaluation_s)
    assert not problems, "rules failing:\n" + "\n".join(problems)


@pytest.mark.check("rules.recording_returns_data", component="prometheus")
def test_recording_rule_returns_data(
    recording_rule: RuleDef, prometheus: PrometheusClient, stackcheck_target: Target, budgets: Budgets,
    record_property: Any,
) -> None:
    """The recording rule is loaded and produces data now: its latest evaluation wrote series, or its own
    expression returns data. Series left in the TSDB by an earlier rule or a restart do not count."""
    reads = sorted(metric_names(recording_rule.expr))
    for name in reads:
        for prefix, source in SIGNAL_SOURCES.items():
            if name.startswith(prefix) and source in stackcheck_target.missing_sources:
                pytest.skip(f"{recording_rule.name} reads {name}: "
                            f"{stackcheck_target.missing_sources[source]}")

    def judge(groups: list[RuleGroup]) -> Verdict:
        found = find_rule(groups, recording_rule.name, "recording")
        if found is None:
            return Verdict(False, NOT_LOADED.format(name=recording_rule.name, file=recording_rule.file.name))
        group, rule = found
        written = sample_times(prometheus.query(f"timestamp({recording_rule.name})"))  # after the rules
        expr_series = 0 if written else len(prometheus.query(rule.get("query") or recording_rule.expr))
        loaded_reads = metric_names(rule["query"]) if rule.get("query") else reads
        return recording_verdict(recording_rule.name, group, rule, written, expr_series, loaded_reads)

    # A group may evaluate less often than the global interval: wait two of its own evaluations.
    groups = prometheus.rule_groups("record")
    found = find_rule(groups, recording_rule.name, "recording")
    group_s = float(found[0].get("interval") or 0) if found else 0.0
    budget = max(budgets.recording_s, budgets.recording_s + 2 * (group_s - budgets.evaluation_s))
    # That read, taken as the first poll starts, is the first poll's; every later poll reads the rules
    # afresh. Each poll reads them before the samples, as recording_verdict requires.
    unused = [groups]

    def poll() -> Verdict:
        return judge(unused.pop() if unused else prometheus.rule_groups("record"))

    verdict = until(poll, budget, max_interval_s=budgets.evaluation_s)
    assert verdict.ok, f"{verdict.message} (waited {budget:.0f}s)"
    record_property("message", verdict.message)


@pytest.mark.check("alerts.loaded", component="prometheus")
def test_reference_alert_is_loaded_with_its_severity(alert_name: str, prometheus: PrometheusClient) -> None:
    """The alert of the acceptance list is loaded, with the severity the reference design gives it."""
    loaded = checks.loaded_rules(prometheus.rule_groups("alert"), "alerting")
    assert alert_name in loaded, f"alert {alert_name} is not loaded by Prometheus (check the rule files)"
    severity = loaded[alert_name].get("severity")
    assert severity == ALERTS[alert_name], (
        f"alert {alert_name} has severity {severity!r}, the reference design says {ALERTS[alert_name]!r}")
