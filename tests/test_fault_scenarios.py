"""The scenario table: one per reference alert, and honest reasons where one cannot run."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from stackcheck.faults import local, notfired
from stackcheck.faults.scenarios import SCENARIOS
from stackcheck.inventory import ALERTS
from stackcheck.targets.base import Target
from tests.fakes import CONTRACTS

CAPTURED = CONTRACTS / "prometheus-2.42"


def _local(tmp_path: Path) -> Target:
    return Target(name="local", description="", endpoints={"probe": "http://127.0.0.1:9"}, state_dir=tmp_path)


def test_every_reference_alert_has_a_scenario() -> None:
    """The 13 reference alerts and Watchdog each have a scenario, and nothing else does."""
    assert set(SCENARIOS) == set(ALERTS)


@pytest.mark.parametrize("alert", ["HighCPUUsage", "HighMemoryUsage", "PodRestartingTooOften",
                                   "DeploymentReplicaMismatch", "HPAMaxedOut"])
def test_kubernetes_only_alerts_say_why_they_skip_locally(alert: str, tmp_path: Path) -> None:
    """On the local target, alerts needing cAdvisor or Kubernetes objects are unsupported, with the reason."""
    reason = SCENARIOS[alert].unsupported(_local(tmp_path))
    assert reason is not None and "Kubernetes" in reason


def test_disk_fault_without_root_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without root the tmpfs cannot be mounted, and DiskSpaceLow says that instead of failing."""
    local.tmpfs_unavailable.cache_clear()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    try:
        assert SCENARIOS["DiskSpaceLow"].unsupported(_local(tmp_path)) \
            == "mounting the fault tmpfs needs root"
    finally:
        local.tmpfs_unavailable.cache_clear()


def test_disk_fault_labels_pick_its_own_mountpoint(tmp_path: Path) -> None:
    """DiskSpaceLow is matched on the fault's tmpfs mountpoint, not on any full disk of the machine."""
    labels = SCENARIOS["DiskSpaceLow"].alert_labels(_local(tmp_path))
    assert labels == {"mountpoint": str(tmp_path / "faults" / "disk")}


def _captured_rule(name: str) -> dict[str, Any]:
    """An alerting rule as the real Prometheus 2.42 answered /api/v1/rules (contracts' capture)."""
    body = json.loads((CAPTURED / "rules.json").read_text())
    return next(r for g in body["data"]["groups"] for r in g["rules"] if r["name"] == name)


def test_an_alert_left_pending_says_since_when_its_value_and_expression_in_words() -> None:
    """TargetDown, pending in the capture, did not fire: the message gives its state, since when, the value
    it matched of its expression and its for:, not a dump of its labels."""
    text = notfired.message("TargetDown", 194, _captured_rule("TargetDown"), {"job": "down-target"}, {})
    assert text == ("TargetDown did not fire within 194s of the fault: Prometheus shows it pending since "
                    "15:23:56Z, value 0 of `up == 0`; it fires once that has held for 3600s")


def test_an_alert_that_kept_resetting_says_how_often_it_went_pending() -> None:
    """An expression hovering around its threshold: each pending episode the wait saw in /api/v1/alerts
    counts, and the message says the alert was reset each time before its for: had passed."""
    pending_seen: dict[str, str] = {}
    for value, at in (("9.3e-01", "13:00:01"), ("8.1e-01", "13:01:31"), ("8.6e-01", "13:02:45")):
        notfired.seen_pending([{"labels": {"alertname": "HighCPUUsage"}, "state": "pending",
                                "activeAt": f"2026-12-01T{at}.5Z", "value": value}], pending_seen)
    rule = {**_captured_rule("TargetDown"), "name": "HighCPUUsage", "state": "inactive", "alerts": [],
            "query": "phase5:cpu_usage:ratio > 0.8", "duration": 120}
    text = notfired.message("HighCPUUsage", 194, rule, {}, pending_seen)
    assert "Prometheus shows it inactive: `phase5:cpu_usage:ratio > 0.8` matched no series" in text
    assert ("went pending 3 time(s) and was reset 3 time(s), each time `phase5:cpu_usage:ratio > 0.8` "
            "stopped matching before 120s had passed (values matched: 0.93, 0.81, 0.86)") in text


def test_an_alert_that_never_went_pending_says_so() -> None:
    """No pending episode at all: the expression never matched during the wait (a threshold too high)."""
    rule = {**_captured_rule("TargetDown"), "state": "inactive", "alerts": []}
    text = notfired.message("TargetDown", 60, rule, {}, {})
    assert text.endswith("matched no series at its last evaluation (15:24:11Z); it never went pending during "
                         "the wait"), text


def test_pending_episodes_are_read_from_the_alerts_api_as_captured() -> None:
    """seen_pending keeps the pending alerts of /api/v1/alerts (the capture has one firing, one pending)."""
    alerts = json.loads((CAPTURED / "alerts.json").read_text())["data"]["alerts"]
    pending_seen: dict[str, str] = {}
    notfired.seen_pending(alerts, pending_seen)
    assert pending_seen == {"2026-11-27T15:23:56.625047497Z": "0e+00"}
