"""Judging Prometheus' targets, rules and alerts, on bodies captured from a real Prometheus 2.42."""
from __future__ import annotations

from typing import Any

import pytest

from stackcheck.checks.freshness import WRITTEN, find_rule, parse_time, recording_verdict, sample_times
from stackcheck.checks.prometheus import (
    DOWN_TARGET,
    MISSING_JOB,
    RULE_ERROR,
    STALE_TARGET,
    firing,
    job_problems,
    loaded_rules,
    rule_health_problems,
)
from stackcheck.clients.prometheus import Rule, RuleGroup
from tests.fakes import PROMETHEUS, load_json

REFUSED = ('Get "http://127.0.0.1:19999/metrics": dial tcp 127.0.0.1:19999: connect: connection refused')


def _data(file: str) -> Any:
    body = load_json(PROMETHEUS, file)
    assert isinstance(body, dict) and body["status"] == "success"
    return body["data"]


@pytest.fixture
def targets() -> Any:
    return list(_data("targets.json")["activeTargets"])


@pytest.fixture
def groups() -> Any:
    return list(_data("rules.json")["groups"])


@pytest.fixture
def alerts() -> Any:
    return list(_data("alerts.json")["alerts"])


def test_job_problems_names_the_down_target_and_its_last_error(targets: Any) -> None:
    """A target that is down is reported with its job, instance, health and Prometheus' lastError."""
    problems = job_problems(targets, ["prometheus", "alertmanager", "down-target"])
    assert problems == [DOWN_TARGET.format(job="down-target", instance="127.0.0.1:19999", health="down",
                                           error=REFUSED)]
    assert problems[0] == ("job 'down-target': target 127.0.0.1:19999 is down: " + REFUSED)
    assert "connection refused" in problems[0]


def test_job_problems_names_an_expected_job_without_targets(targets: Any) -> None:
    """An expected job with no target at all is named, with a hint where to look."""
    problems = job_problems([t for t in targets if t["health"] == "up"], ["prometheus", "node-exporter"])
    assert problems == [MISSING_JOB.format(job="node-exporter")]
    assert problems[0] == ("job 'node-exporter': no scrape target at all "
                           "(is its service discovery or static config right?)")


def test_job_problems_is_empty_when_every_expected_job_is_up(targets: Any) -> None:
    """No problems when every expected job has targets and all of them are up."""
    assert job_problems([t for t in targets if t["health"] == "up"], ["prometheus", "alertmanager"]) == []


def test_job_problems_reports_a_target_never_scraped(targets: Any) -> None:
    """A target with health unknown and no lastError says it was not scraped yet."""
    pending: Any = dict(targets[0], health="unknown", lastError="")
    assert job_problems([pending], ["alertmanager"]) == [
        "job 'alertmanager': target 127.0.0.1:19093 is unknown: not scraped yet"]


def test_rule_health_problems_names_the_failing_rule_and_its_error(groups: Any) -> None:
    """A rule whose evaluation failed is reported with its name, group, file and Prometheus' error."""
    problems = rule_health_problems(groups)
    assert len(problems) == 1, problems
    broken = next(r for r in groups[0]["rules"] if r["name"] == "broken:many_to_many")
    assert problems[0] == RULE_ERROR.format(name="broken:many_to_many", group="stackcheck-example",
                                            file="rules.yml", error=broken["lastError"])
    assert problems[0].startswith("rule 'broken:many_to_many' (group 'stackcheck-example', rules.yml): ")
    assert "many-to-many matching not allowed" in problems[0]


def test_rule_health_problems_is_empty_when_every_rule_is_ok(groups: Any) -> None:
    """Healthy rules produce no problems."""
    healthy: Any = [dict(g, rules=[r for r in g["rules"] if r["health"] == "ok"]) for g in groups]
    assert rule_health_problems(healthy) == []


def test_loaded_rules_lists_recording_rules(groups: Any) -> None:
    """loaded_rules(..., "recording") maps every loaded recording rule to its labels."""
    assert loaded_rules(groups, "recording") == {"job:up:sum": {}, "broken:many_to_many": {}}


def test_loaded_rules_lists_alerting_rules_with_their_labels(groups: Any) -> None:
    """loaded_rules(..., "alerting") maps every alerting rule to its labels (severity)."""
    assert loaded_rules(groups, "alerting") == {"AlwaysFiring": {"severity": "warning"},
                                                "TargetDown": {"severity": "critical"}}


def test_firing_returns_firing_alerts_of_that_name(alerts: Any) -> None:
    """firing() returns the alerts of that name in state firing."""
    found = firing(alerts, "AlwaysFiring")
    assert [a["labels"] for a in found] == [{"alertname": "AlwaysFiring", "severity": "warning"}]


def test_firing_excludes_pending_alerts(alerts: Any) -> None:
    """A pending alert (its `for` not yet elapsed) is not firing."""
    assert any(a["labels"]["alertname"] == "TargetDown" and a["state"] == "pending" for a in alerts)
    assert firing(alerts, "TargetDown") == []


# --- "has data" means now (issue 8, item 1) --------------------------------------------------------

def _recording(groups: list[RuleGroup]) -> tuple[RuleGroup, Rule]:
    found = find_rule(groups, "job:up:sum", "recording")
    assert found is not None
    return found


def test_parse_time_reads_go_rfc3339_with_nanoseconds_and_zero_time() -> None:
    """lastEvaluation / lastScrape parse to epoch seconds; Go's zero time means 'never'."""
    assert parse_time("2026-11-27T15:24:11.626183012Z") == pytest.approx(1795793051.626183)
    assert parse_time("2026-11-27T16:24:11+01:00") == pytest.approx(1795793051.0)
    assert parse_time("0001-01-01T00:00:00Z") is None
    assert parse_time("") is None


def test_recording_rule_passes_on_series_written_by_its_latest_evaluation(groups: Any) -> None:
    """A sample stamped with the latest evaluation's time passes, and the message says so."""
    group, rule = _recording(groups)
    last = parse_time(rule["lastEvaluation"])
    assert last is not None
    verdict = recording_verdict("job:up:sum", group, rule, [last - 0.001], 0, ["up"])
    assert verdict.ok and verdict.message == WRITTEN.format(n=1, at="15:24:11.626Z")


def test_recording_rule_with_only_series_from_before_its_latest_evaluation_fails(groups: Any) -> None:
    """Old series still in the TSDB (within the 5m lookback) do not count: the rule wrote nothing now."""
    group, rule = _recording(groups)
    last = parse_time(rule["lastEvaluation"])
    assert last is not None
    verdict = recording_verdict("job:up:sum", group, rule, [last - 120.0], 0, ["up_typo"])
    assert not verdict.ok
    assert verdict.message.startswith("recording rule job:up:sum (stackcheck-example): its latest evaluation "
                                      "at 15:24:11.626Z wrote no series (its newest sample is 120.0s older")
    assert "it reads up_typo" in verdict.message


def test_recording_rule_series_one_interval_old_is_not_fresh(groups: Any) -> None:
    """A sample of the evaluation before the latest (one group interval older) is not fresh."""
    group, rule = _recording(groups)
    last = parse_time(rule["lastEvaluation"])
    assert last is not None
    assert not recording_verdict("job:up:sum", group, rule, [last - group["interval"]], 0, ["up"])


def test_recording_rule_passes_when_its_expression_returns_data_now(groups: Any) -> None:
    """No fresh series yet, but the rule's own expression returns data now: pass, and say which."""
    group, rule = _recording(groups)
    verdict = recording_verdict("job:up:sum", group, rule, [], 3, ["up"])
    assert verdict.ok and verdict.message.startswith("its expression returns 3 series now")


def test_recording_rule_not_evaluated_since_a_restart_is_not_judged_on_old_series(groups: Any) -> None:
    """Right after a restart lastEvaluation is Go's zero time: old series must not make it pass."""
    group, rule = _recording(groups)
    fresh_start: Rule = {**rule, "lastEvaluation": "0001-01-01T00:00:00Z"}
    fresh_group: RuleGroup = {**group, "lastEvaluation": "0001-01-01T00:00:00Z"}
    verdict = recording_verdict("job:up:sum", fresh_group, fresh_start,
                                [parse_time(rule["lastEvaluation"]) or 0.0], 0, ["up"])
    assert not verdict.ok and "has not been evaluated yet" in verdict.message


def test_sample_times_reads_a_timestamp_query() -> None:
    """timestamp(x) answers each series' newest sample time as its value (real 2.42 capture)."""
    body: Any = load_json(PROMETHEUS, "query_timestamp_up.json")
    assert sample_times(body["data"]["result"]) == [1796115819.965]


def test_job_problems_names_an_up_target_whose_last_scrape_is_old(targets: Any) -> None:
    """health "up" from a scrape long ago is not up now: the target's loop has stalled."""
    up = [t for t in targets if t["health"] == "up"]
    last = parse_time(up[0]["lastScrape"])
    assert last is not None
    problems = job_problems(up[:1], ["alertmanager"], now=last + 60.0)
    assert problems == [STALE_TARGET.format(job="alertmanager", instance="127.0.0.1:19093", health="up",
                                            age=60.0, interval="5s")]
    assert "last scrape was 60.0s ago and it is scraped every 5s" in problems[0]


def test_job_problems_accepts_a_scrape_within_two_intervals(targets: Any) -> None:
    """A target scraped less than two intervals plus its timeout ago (capture: 5s, 5s) is fine."""
    up = [t for t in targets if t["health"] == "up"]
    last = max(parse_time(t["lastScrape"]) or 0.0 for t in up)
    assert job_problems(up, ["alertmanager", "prometheus"], now=last + 14.0) == []


def test_rule_health_problems_names_an_ok_rule_whose_group_has_stalled(groups: Any) -> None:
    """An "ok" from an evaluation many intervals ago is not ok now: the group's evaluation has stalled."""
    healthy: Any = [dict(g, rules=[r for r in g["rules"] if r["health"] == "ok"]) for g in groups]
    last = parse_time(healthy[0]["rules"][0]["lastEvaluation"])
    assert last is not None
    assert rule_health_problems(healthy, now=last + 1.0) == []
    problems = rule_health_problems(healthy, now=last + 60.0)
    assert problems[0].startswith("rule 'job:up:sum' (group 'stackcheck-example') says ok, but its last "
                                  "evaluation was 60.0s ago and its group runs every 5s")
