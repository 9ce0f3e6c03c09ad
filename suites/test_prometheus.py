"""Prometheus scrapes every target, evaluates every rule, and has every rule of the acceptance list."""
from __future__ import annotations

import pytest

from stackcheck.budgets import Budgets
from stackcheck.checks.prometheus import (
    UP_BY_JOB,
    job_problems,
    loaded_rules,
    rule_health_problems,
    up_problems,
)
from stackcheck.clients.prometheus import PrometheusClient
from stackcheck.inventory import ALERTS
from stackcheck.manifests import Manifests, RuleDef
from stackcheck.promql import metric_names
from stackcheck.targets.base import SIGNAL_SOURCES, Target
from stackcheck.wait import eventually

#: At most this many jobs' targets are fetched to quote their lastError when targets.up fails.
DETAILED_JOBS = 5


@pytest.mark.check("targets.up", component="prometheus")
def test_every_scrape_job_has_targets_and_all_are_up(
    prometheus: PrometheusClient, stackcheck_target: Target, manifests: Manifests, budgets: Budgets,
) -> None:
    """Every expected scrape job has at least one target, and all of its targets are up."""
    expected = stackcheck_target.expected_jobs
    if expected is None:
        expected = manifests.scrape_jobs()
    # Poll one small PromQL answer (two numbers per job), backing off to the scrape interval: the state
    # cannot change faster. On a Prometheus with thousands of targets, /api/v1/targets is megabytes.
    seen: list[tuple[list[str], list[str]]] = []

    def problems_now() -> list[str]:
        seen[:] = [up_problems(prometheus.query(UP_BY_JOB), expected)]
        return seen[0][0]

    eventually(problems_now, budgets.targets_s, max_interval_s=budgets.scrape_s)
    problems, down = seen[0]
    if down:  # the lastError of each down target, from those jobs' targets only (scrapePool filter)
        detail = [line for job in down[:DETAILED_JOBS]
                  for line in job_problems(prometheus.targets(scrape_pool=job), [job])]
        problems = [p for p in problems if not any(p.startswith(f"job {job!r}: ") and " of " in p
                                                   for job in down[:DETAILED_JOBS])] + detail
    assert not problems, "scrape targets not healthy:\n" + "\n".join(problems)


@pytest.mark.check("rules.healthy", component="prometheus")
def test_every_rule_group_evaluates_without_error(prometheus: PrometheusClient, budgets: Budgets) -> None:
    """Every rule of every loaded group evaluated successfully on its last run."""
    problems = eventually(lambda: rule_health_problems(prometheus.rule_groups()), budgets.rules_s,
                          max_interval_s=budgets.evaluation_s)
    assert not problems, "rules failing:\n" + "\n".join(problems)


@pytest.mark.check("rules.recording_returns_data", component="prometheus")
def test_recording_rule_returns_data(
    recording_rule: RuleDef, prometheus: PrometheusClient, stackcheck_target: Target, budgets: Budgets,
) -> None:
    """The recording rule is loaded and its series hold data."""
    for name in sorted(metric_names(recording_rule.expr)):
        for prefix, source in SIGNAL_SOURCES.items():
            if name.startswith(prefix) and source in stackcheck_target.missing_sources:
                pytest.skip(f"{recording_rule.name} reads {name}: {stackcheck_target.missing_sources[source]}")
    loaded = loaded_rules(prometheus.rule_groups("record"), "recording")
    assert recording_rule.name in loaded, (
        f"recording rule {recording_rule.name} ({recording_rule.file.name}) is not loaded by Prometheus")
    result = eventually(lambda: not prometheus.query(recording_rule.name), budgets.recording_s,
                        max_interval_s=budgets.evaluation_s)
    assert not result, (
        f"recording rule {recording_rule.name} returned no data after {budgets.recording_s:.0f}s; "
        f"it reads {', '.join(sorted(metric_names(recording_rule.expr)))} — check those metrics exist")


@pytest.mark.check("alerts.loaded", component="prometheus")
def test_reference_alert_is_loaded_with_its_severity(alert_name: str, prometheus: PrometheusClient) -> None:
    """The alert of the acceptance list is loaded, with the severity the reference design gives it."""
    loaded = loaded_rules(prometheus.rule_groups("alert"), "alerting")
    assert alert_name in loaded, f"alert {alert_name} is not loaded by Prometheus (check the rule files)"
    severity = loaded[alert_name].get("severity")
    assert severity == ALERTS[alert_name], (
        f"alert {alert_name} has severity {severity!r}, the reference design says {ALERTS[alert_name]!r}")
