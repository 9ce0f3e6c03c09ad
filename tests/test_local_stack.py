"""The local slice end to end, on the real Prometheus and Alertmanager binaries.

A healthy stack passes the smoke profile; broken stacks are reported as broken with the documented exit
code; `down` and Ctrl-C leave no process behind.
"""
from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.localstack import (
    REPO,
    STACKCHECK,
    Stack,
    copy_manifests,
    free_port_base,
    kill,
    needs_binaries,
    processes_under,
    running_stack,
)

pytestmark = [needs_binaries, pytest.mark.binaries]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A healthy local stack at time scale 20 on private ports."""
    yield from running_stack(tmp_path_factory.mktemp("healthy"))


def test_smoke_profile_passes_on_a_healthy_stack_and_writes_the_json_report(stack: Stack,
                                                                            tmp_path: Path) -> None:
    """`verify --profile smoke --json` passes every check and the report follows stackcheck.report/v1."""
    report_path = tmp_path / "r.json"
    result = stack.run("verify", "--target", "local", "--profile", "smoke", "--json", str(report_path))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    assert report["schema"] == "stackcheck.report/v1"
    assert {"target", "profile", "time_scale", "started_at", "duration_s", "summary", "checks"} <= set(report)
    assert report["target"] == "local" and report["profile"] == "smoke" and report["time_scale"] == 20
    assert report["summary"]["failed"] == 0 and report["summary"]["errors"] == 0
    ids = {c["id"] for c in report["checks"]}
    assert {"targets.up", "rules.healthy", "watchdog.firing", "watchdog.active_in_alertmanager",
            "watchdog.delivered", "alerts.loaded[HighErrorRate]"} <= ids
    for check in report["checks"]:
        assert check["component"] in ("prometheus", "alertmanager", "loki", "jaeger", "grafana", "manifests",
                                      "probe")
        assert check["status"] in ("passed", "skipped"), check
    assert "STACKCHECK OK" in result.stdout


def test_skipped_checks_say_why(stack: Stack, tmp_path: Path) -> None:
    """Checks the local runtime cannot support are skipped with the reason, never hidden."""
    report_path = tmp_path / "r.json"
    stack.run("verify", "-k", "cpu_usage", "--json", str(report_path))
    (check,) = json.loads(report_path.read_text())["checks"]
    assert check["status"] == "skipped" and "cAdvisor" in check["message"]


def test_up_is_idempotent(stack: Stack) -> None:
    """A second `up` with the same settings leaves the running processes alone."""
    before = stack.pids()
    result = stack.run("up")
    assert result.returncode == 0 and "already up" in result.stdout
    assert stack.pids() == before


def test_status_lists_every_service_as_running(stack: Stack) -> None:
    """`status` exits 0 and names every service."""
    result = stack.run("status")
    assert result.returncode == 0, result.stdout
    for name in ("prometheus", "alertmanager", "node-exporter", "blackbox-exporter", "probe", "sink"):
        assert name in result.stdout


def test_pytest_on_suites_does_the_same_as_verify(stack: Stack, tmp_path: Path) -> None:
    """`pytest suites/ --stackcheck-target=local` runs the same checks with the same exit code."""
    report_path = tmp_path / "r.json"
    result = subprocess.run(
        [STACKCHECK[0], "-m", "pytest", "suites/", "--stackcheck-target=local", "-p", "no:cacheprovider",
         f"--stackcheck-state-dir={stack.state_dir}", f"--stackcheck-manifests={stack.manifests}",
         f"--stackcheck-json={report_path}", "-q"],
        capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(report_path.read_text())["summary"]["failed"] == 0


def _broken_stack(tmp: Path, port_base: int, seed: str) -> Stack:
    manifests = copy_manifests(tmp / "manifests")
    if seed == "missing-metric":
        path = manifests / "config/prometheus/rules/recording.rules.yml"
        doc = yaml.safe_load(path.read_text())
        for group in doc["groups"]:
            for rule in group["rules"]:
                if rule.get("record") == "phase5:websocket_connections:current":
                    rule["expr"] = "sum by (service) (phase5_websocket_connections_typo)"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return Stack(tmp / "state", manifests, port_base)


def test_recording_rule_reading_a_missing_metric_fails_and_names_the_rule(tmp_path: Path) -> None:
    """A recording rule whose metric does not exist makes its check fail (exit 1) and names the rule."""
    broken = _broken_stack(tmp_path, free_port_base(), "missing-metric")
    broken.up()
    try:
        report_path = tmp_path / "r.json"
        result = broken.run("verify", "-k", "recording", "--json", str(report_path))
        assert result.returncode == 1, result.stdout + result.stderr
        failed = [c for c in json.loads(report_path.read_text())["checks"] if c["status"] == "failed"]
        assert [c["id"] for c in failed] == [
            "rules.recording_returns_data[phase5:websocket_connections:current]"]
        assert "phase5:websocket_connections:current" in failed[0]["message"]
        assert "phase5_websocket_connections_typo" in failed[0]["message"]
    finally:
        broken.down()


def test_targets_up_waits_for_this_prometheus_scrapes_after_a_restart(tmp_path: Path) -> None:
    """After `down` and `up` over the same state, the last process' `up` samples still answer from the
    TSDB; targets.up waits for the new process' own scrapes (about 5 s after it is ready) and passes."""
    restarted = _broken_stack(tmp_path, free_port_base(), "none")
    restarted.up()
    try:
        first = restarted.run("verify", "-k", "every_scrape_job")  # the TSDB now holds "up" samples
        assert first.returncode == 0, first.stdout + first.stderr
        restarted.down()
        restarted.up()
        result = restarted.run("verify", "-k", "every_scrape_job")
        assert result.returncode == 0, result.stdout + result.stderr
    finally:
        restarted.down()


def test_down_target_fails_naming_the_job_and_its_error(tmp_path: Path) -> None:
    """A scrape target that is down fails targets.up, naming the job and Prometheus' lastError."""
    broken = _broken_stack(tmp_path, free_port_base(), "none")
    broken.up()
    try:
        kill(broken.pids()["node-exporter"])
        report_path = tmp_path / "r.json"
        result = broken.run("verify", "-k", "targets", "--json", str(report_path))
        assert result.returncode == 1, result.stdout + result.stderr
        (check,) = json.loads(report_path.read_text())["checks"]
        assert check["status"] == "failed"
        assert "job 'node-exporter'" in check["message"] and "connection refused" in check["message"]
        narrow = broken.run("verify", "-k", "targets", columns=80)  # an 80-column terminal
        assert narrow.returncode == 1, narrow.stdout + narrow.stderr
        ours = narrow.stdout.split("stackcheck: target local", 1)[1].split("STACKCHECK FAILED", 1)[0]
        assert all(len(line) <= 80 for line in ours.splitlines()), ours  # pytest's own lines aside
        words = " ".join(ours.replace("│", " ").split())
        assert f"failed {check['duration_s']:.2f}s targets.up" in words or "failed" in ours.split(), ours
        assert " ".join(check["message"].split()) in words, ours
    finally:
        broken.down()


def test_prometheus_stopped_exits_3_naming_the_url(tmp_path: Path) -> None:
    """With Prometheus and Alertmanager stopped, verify exits 3; the JSON report holds one error entry per
    stopped component with the OS's reason, and the STACKCHECK line says FAILED."""
    broken = _broken_stack(tmp_path, free_port_base(), "none")
    broken.up()
    try:
        kill(broken.pids()["prometheus"])
        kill(broken.pids()["alertmanager"])
        report_path = tmp_path / "r.json"
        result = broken.run("verify", "--json", str(report_path))
        assert result.returncode == 3, result.stdout + result.stderr
        assert f"http://127.0.0.1:{broken.port_base + 90}" in result.stderr + result.stdout
        assert "Traceback" not in result.stderr
        assert "STACKCHECK FAILED - 0 passed, 0 failed, 0 skipped, 2 errors" in result.stdout
        entries = {c["id"]: c for c in json.loads(report_path.read_text())["checks"]}
        assert set(entries) == {"preflight.reachable[prometheus]", "preflight.reachable[alertmanager]"}
        for component, entry in zip(("prometheus", "alertmanager"), entries.values(), strict=True):
            assert entry["status"] == "error" and entry["component"] == component
            assert "Connection refused" in entry["message"]
    finally:
        broken.down()


def test_down_leaves_no_process(tmp_path: Path) -> None:
    """After `stackcheck down`, no process of the stack is left."""
    stack = _broken_stack(tmp_path, free_port_base(), "none")
    stack.up()
    pids = stack.pids()
    assert processes_under(stack.state_dir)
    result = stack.run("down")
    assert result.returncode == 0
    assert processes_under(stack.state_dir) == []
    assert not (stack.state_dir / "state.json").exists()
    for pid in pids.values():
        assert not Path(f"/proc/{pid}/cmdline").exists() or pid not in processes_under(stack.state_dir)


def test_ctrl_c_during_up_leaves_no_process_and_exits_4(tmp_path: Path) -> None:
    """SIGINT while `up` waits for readiness stops every started process and exits 4."""
    stack = _broken_stack(tmp_path, free_port_base(), "none")
    argv = [*STACKCHECK, "up", "--manifests", str(stack.manifests), "--state-dir", str(stack.state_dir),
            "--port-base", str(stack.port_base)]
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not set(processes_under(stack.state_dir)) - {proc.pid} and time.monotonic() < deadline:
        time.sleep(0.01)  # poll until the first child process exists, then interrupt
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    leftovers = processes_under(stack.state_dir)
    for pid in leftovers:
        kill(pid)  # keep a failure from leaking processes into later tests
    assert proc.returncode == 4, err
    assert leftovers == []
    assert not (stack.state_dir / "state.json").exists()


def test_up_with_an_unparsable_rule_exits_2_naming_the_file_and_starts_nothing(tmp_path: Path) -> None:
    """A rule that does not parse stops `up` before any process starts, naming the user's file and line."""
    stack = _broken_stack(tmp_path, free_port_base(), "none")
    path = stack.manifests / "config/prometheus/rules/alerts.rules.yml"
    path.write_text(path.read_text().replace("phase5:http_requests:rate5m > 0.05",
                                             "(phase5:http_requests:rate5m", 1))
    result = stack.run("up")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{path}:" in result.stderr and "HighErrorRate" in result.stderr
    assert processes_under(stack.state_dir) == []


def _edit_rule(manifests: Path, record: str, expr: str) -> None:
    path = manifests / "config/prometheus/rules/recording.rules.yml"
    doc = yaml.safe_load(path.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            if rule.get("record") == record:
                rule["expr"] = expr
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_recording_rule_broken_after_a_restart_fails_though_its_old_series_remain(tmp_path: Path) -> None:
    """Up, verify, break a rule, up again (Prometheus restarts on the same TSDB): the rule's series from
    before the restart are still inside the 5m lookback, and the check fails anyway, naming the rule and
    the metric it reads."""
    stack = _broken_stack(tmp_path, free_port_base(), "none")
    stack.up()
    try:
        report_path = tmp_path / "r.json"
        result = stack.run("verify", "-k", "recording and http_requests", "--json", str(report_path))
        assert result.returncode == 0, result.stdout + result.stderr
        _edit_rule(stack.manifests, "phase5:http_requests:rate5m",
                   "sum by (service) (rate(phase5_http_requests_typo_total[5m]))")
        stack.up()  # settings changed: the stack restarts, Prometheus on the same data dir
        result = stack.run("verify", "-k", "recording and http_requests", "--json", str(report_path))
        assert result.returncode == 1, result.stdout + result.stderr
        (check,) = [c for c in json.loads(report_path.read_text())["checks"]
                    if c["id"] == "rules.recording_returns_data[phase5:http_requests:rate5m]"]
        assert check["status"] == "failed", check
        assert "phase5_http_requests_typo_total" in check["message"]
        assert "latest evaluation" in check["message"]
    finally:
        stack.down()
