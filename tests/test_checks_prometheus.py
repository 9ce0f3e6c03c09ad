"""Judging Prometheus' targets, rules and alerts, on bodies captured from a real Prometheus 2.42."""
from __future__ import annotations

from typing import Any

import pytest

from stackcheck.checks.prometheus import (
    DOWN_TARGET,
    MISSING_JOB,
    RULE_ERROR,
    firing,
    job_problems,
    loaded_rules,
    rule_health_problems,
)
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
