"""The scenario table: one per reference alert, and honest reasons where one cannot run."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from stackcheck.faults import local
from stackcheck.faults.scenarios import SCENARIOS
from stackcheck.inventory import ALERTS
from stackcheck.targets.base import Target


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
