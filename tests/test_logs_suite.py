"""The logs checks of suites/test_logs.py, run through the plugin against the doubles on a local target.

The local target is a state dir as ``stackcheck up`` writes it, pointing at a Prometheus 2.42 double (the
plugin's preflight) and at the Loki 3.6.11 double. Alloy is recorded as skipped, as when its binary is
absent: then nothing ships the probe's logs, and logs.fresh must say so on its first look instead of
waiting out its budget, unless another collector (a Promtail started by hand) ships lines.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stackcheck.local.state import LocalState
from tests.fakes import PROMETHEUS, FakeServer
from tests.lokifake import LokiFake

ROOT = Path(__file__).resolve().parents[1]
ALLOY_SKIPPED = ("alloy binary not found; download Grafana Alloy from "
                 "https://github.com/grafana/alloy/releases")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Path, LokiFake]]:
    """A local state dir whose Loki is the double (emptied) and whose Alloy was skipped."""
    with FakeServer(PROMETHEUS) as prometheus, LokiFake() as loki:
        loki.clear()
        LocalState(manifests=str(ROOT / "manifests"), time_scale=10.0, port_base=29000, fingerprint="f",
                   started_at=time.time(), endpoints={"prometheus": prometheus.url, "loki": loki.url},
                   processes=[], scrape_jobs=[], skipped={"alloy": ALLOY_SKIPPED}).save(tmp_path)
        yield tmp_path, loki


def verify_logs_fresh(state_dir: Path) -> dict[str, Any]:
    """Run logs.fresh through the plugin; the check's entry of the JSON report, with the exit code."""
    report = state_dir / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKCHECK_")}
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "suites/test_logs.py",
                          "-k", "fresh", "--stackcheck-target", "local", "--stackcheck-state-dir",
                          str(state_dir),
                          "--stackcheck-json", str(report)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    [check] = json.loads(report.read_text())["checks"]
    return {**check, "exit_code": ran.returncode}


def query_ranges(loki: LokiFake) -> int:
    return sum(1 for r in loki.requests if r.path.startswith("/loki/api/v1/query_range"))


def test_without_a_collector_logs_fresh_fails_at_once_naming_it(stack: tuple[Path, LokiFake]) -> None:
    """No Alloy and nothing in Loki: failed on the first look (one query, no wait), saying nothing ships
    the probe's logs, why (the missing binary) and how to install it."""
    state_dir, loki = stack
    check = verify_logs_fresh(state_dir)
    assert (check["id"], check["status"], check["exit_code"]) == ("logs.fresh", "failed", 1)
    assert check["message"].startswith("nothing ships the probe's logs to Loki: no collector runs on the "
                                       f"local stack ({ALLOY_SKIPPED})")
    assert 'Loki: it holds no line of {namespace="phase5"} in the last 3600s' in check["message"]
    assert "pods" not in check["message"]
    assert query_ranges(loki) == 1


def test_another_collector_shipping_fresh_lines_passes(stack: tuple[Path, LokiFake]) -> None:
    """No Alloy, but a fresh probe line in Loki (a Promtail started by hand ships it): passed."""
    state_dir, loki = stack
    now = time.time_ns()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 10**9)) + ".000Z"
    loki.add(0, now, json.dumps({"ts": stamp, "level": "info", "service": "phase5-backend",
                                 "msg": "traffic summary"}))
    assert verify_logs_fresh(state_dir)["status"] == "passed"


def test_old_lines_without_a_collector_fail_at_once_with_their_age(stack: tuple[Path, LokiFake]) -> None:
    """Lines written 10 minutes ago (by their ts) and stored a minute ago, and no collector: failed on the
    first look, with the newest line's age by its own ts."""
    state_dir, loki = stack
    now = time.time_ns()
    old = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 10**9 - 600)) + ".000Z"
    loki.add(0, now - 60 * 10**9, json.dumps({"ts": old, "level": "info", "service": "phase5-backend",
                                              "msg": "x"}))
    check = verify_logs_fresh(state_dir)
    assert check["status"] == "failed"
    assert "the newest line of {namespace=\"phase5\"} is 10m old" in check["message"]
    assert check["message"].startswith("nothing ships the probe's logs to Loki") and query_ranges(loki) == 1
