"""``stackcheck serve``: the metrics it exports, its endpoints, and that its rounds are read-only smoke runs.

The unit tests drive the metrics and the HTTP server with hand-made rounds; the ``binaries`` tests run the
real thing against the real local stack (Debian Prometheus and Alertmanager): the exported verdicts follow
Alertmanager going down and coming back, and a smoke run sends nothing but reads.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from stackcheck.cli import build_parser
from stackcheck.errors import UsageError
from stackcheck.faults.local import kill_service
from stackcheck.local import processes
from stackcheck.local.state import LocalState
from stackcheck.serve.command import parse_listen, target_args
from stackcheck.serve.metrics import Round, SmokeMetrics
from stackcheck.serve.rounds import smoke_command
from stackcheck.serve.server import ExporterServer, Schedule, Scheduler
from tests.fakes import BodyFake, grafana_routes, jaeger_routes
from tests.localstack import (
    REPO,
    STACKCHECK,
    Stack,
    needs_binaries,
    running_stack,
)
from tests.lokifake import LokiFake
from tests.recording import RecordingProxy


def check(check_id: str, status: str, component: str = "prometheus") -> dict[str, str]:
    return {"id": check_id, "component": component, "status": status}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(name, sorted labels) → value of every sample of an exposition."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


# --------------------------------------------------------------------------- metrics


def _target_args_of(argv: list[str]) -> list[str]:
    """The child's target options for a ``stackcheck`` command line (what serve passes on)."""
    return target_args(build_parser().parse_args(argv))


def test_check_passed_is_one_for_passed_and_zero_for_failed_or_error_checks() -> None:
    """stackcheck_check_passed{check,component} is 1 for a passed check, 0 for failed/error; skipped has
    none."""
    metrics = SmokeMetrics(300)
    metrics.record(Round(1, 2.0, 1000.0, [check("targets.up", "passed"),
                                          check("logs.fresh", "failed", "loki"),
                                          check("watchdog.delivered", "error", "alertmanager"),
                                          check("traces.fresh", "skipped", "jaeger")]))
    text = metrics.exposition().decode()
    assert value(text, "stackcheck_check_passed", check="targets.up", component="prometheus") == 1
    assert value(text, "stackcheck_check_passed", check="logs.fresh", component="loki") == 0
    assert value(text, "stackcheck_check_passed", check="watchdog.delivered", component="alertmanager") == 0
    assert value(text, "stackcheck_check_passed", check="traces.fresh", component="jaeger") is None
    for status, count in (("passed", 1), ("failed", 1), ("error", 1), ("skipped", 1)):
        assert value(text, "stackcheck_checks", status=status) == count


def test_consecutive_failures_count_runs_in_a_row_and_reset_on_a_pass() -> None:
    """The failure streak of a check grows by one per failing run and drops to 0 when it passes."""
    metrics = SmokeMetrics(300)
    for expected, status in ((1, "failed"), (2, "error"), (0, "passed"), (1, "failed")):
        metrics.record(Round(1, 1.0, 1.0, [check("rules.healthy", status)]))
        text = metrics.exposition().decode()
        assert value(text, "stackcheck_check_consecutive_failures", check="rules.healthy",
                     component="prometheus") == expected


def test_timestamps_appear_after_the_first_run_and_success_only_on_success() -> None:
    """No run timestamp before the first run (it would read as stale); last success moves only on exit 0."""
    metrics = SmokeMetrics(300)
    before = metrics.exposition().decode()
    assert value(before, "stackcheck_last_run_timestamp_seconds") is None
    assert value(before, "stackcheck_interval_seconds") == 300
    metrics.record(Round(0, 3.5, 1000.0, [check("targets.up", "passed")]))
    metrics.record(Round(1, 4.0, 1300.0, [check("targets.up", "failed")]))
    text = metrics.exposition().decode()
    assert value(text, "stackcheck_last_run_timestamp_seconds") == 1300
    assert value(text, "stackcheck_last_success_timestamp_seconds") == 1000
    assert value(text, "stackcheck_run_duration_seconds") == 4.0
    assert value(text, "stackcheck_last_run_exit_code") == 1


def test_a_run_without_verdicts_marks_every_known_check_and_the_run_as_failing() -> None:
    """A run that produced no check (e.g. Prometheus unreachable at start) zeroes every check seen before and
    reports check="run", so StackcheckSmokeFailing also fires when nothing can be checked at all."""
    metrics = SmokeMetrics(300)
    metrics.record(Round(0, 1.0, 1.0, [check("targets.up", "passed")]))
    metrics.record(Round(3, 1.0, 2.0, [], error="prometheus is unreachable"))
    text = metrics.exposition().decode()
    assert value(text, "stackcheck_check_passed", check="targets.up", component="prometheus") == 0
    assert value(text, "stackcheck_check_passed", check="run", component="prometheus") == 0
    assert value(text, "stackcheck_checks", status="error") == 2


# --------------------------------------------------------------------------- command line


def test_listen_defaults_to_loopback() -> None:
    """--listen :PORT (or PORT) binds 127.0.0.1; a bad value is a usage error."""
    assert parse_listen(":9464") == ("127.0.0.1", 9464) == parse_listen("9464")
    assert parse_listen("0.0.0.0:8080") == ("0.0.0.0", 8080)
    with pytest.raises(UsageError, match="--listen"):
        parse_listen("localhost:http")


def test_rounds_are_smoke_runs_without_faults_whatever_the_options() -> None:
    """Each round is `verify --profile smoke`; the target options are passed on, never a profile or faults."""
    argv = _target_args_of(["serve", "--target", "urls", "--prometheus-url", "http://p:9090",
                                       "--expectations", "e.yml", "--interval", "1m"])
    assert argv == ["--target", "urls", "--expectations", "e.yml", "--prometheus-url", "http://p:9090"] or (
        set(argv) == {"--target", "urls", "--expectations", "e.yml", "--prometheus-url", "http://p:9090"})
    command = smoke_command(argv, Path("/tmp/r.json"))
    assert command[3:7] == ["verify", "--profile", "smoke", "--json"]
    assert "--allow-faults" not in command and "full" not in command
    with pytest.raises(ValueError):
        smoke_command(["--allow-faults"], Path("/tmp/r.json"))


def test_serve_rejects_a_bad_interval_with_exit_2() -> None:
    """--interval 0 or nonsense: one line naming the option, exit 2."""
    ran = subprocess.run([*STACKCHECK, "serve", "--interval", "soon"], capture_output=True, text=True,
                         cwd=REPO, timeout=60, check=False)
    assert ran.returncode == 2 and "--interval" in ran.stderr and "Traceback" not in ran.stderr


# --------------------------------------------------------------------------- HTTP


@pytest.fixture
def exporter() -> Iterator[tuple[str, list[Round]]]:
    """An exporter whose rounds come from a list (one a second), on an ephemeral loopback port."""
    queue: list[Round] = []
    ready = threading.Event()

    def next_round(stop: threading.Event) -> Round:
        ready.wait(5)
        return queue.pop(0) if queue else Round(0, 0.1, time.time(), [check("targets.up", "passed")])

    metrics = SmokeMetrics(1)
    scheduler = Scheduler(Schedule(1, 10), next_round, metrics)
    server = ExporterServer(("127.0.0.1", 0), scheduler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    queue.append(Round(1, 0.5, time.time(), [check("rules.healthy", "failed")],
                       report={"schema": "stackcheck.report/v1", "checks": []}))
    scheduler.start()
    ready.set()
    yield f"http://127.0.0.1:{server.port}", queue
    scheduler.stop.set()
    server.shutdown()
    server.server_close()


def _until(probe: Any, budget_s: float = 5.0) -> Any:
    deadline = time.monotonic() + budget_s
    while True:
        got = probe()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_metrics_healthz_and_report_are_served(exporter: tuple[str, list[Round]]) -> None:
    """/metrics is the exposition format, /healthz says ok, /report is the last round as JSON."""
    url, _ = exporter
    report = _until(lambda: (r := requests.get(url + "/report", timeout=5)).ok and r.json())
    assert report["exit_code"] == 1 and report["report"]["schema"] == "stackcheck.report/v1"
    metrics = requests.get(url + "/metrics", timeout=5)
    assert metrics.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "stackcheck_checks" in {f.name for f in text_string_to_metric_families(metrics.text)}
    health = requests.get(url + "/healthz", timeout=5)
    assert health.status_code == 200 and health.text == "ok\n"
    assert requests.get(url + "/nope", timeout=5).status_code == 404


def test_scheduler_runs_again_every_interval(exporter: tuple[str, list[Round]]) -> None:
    """A second round follows after one interval (1 s here) and replaces the first one's verdicts."""
    url, _ = exporter
    text = _until(lambda: "targets.up" in (t := requests.get(url + "/metrics", timeout=5).text) and t, 5)
    assert text, "no second round within 5 s at a 1 s interval"
    assert value(text, "stackcheck_check_passed", check="rules.healthy", component="prometheus") is None


# --------------------------------------------------------------------------- read-only (test doubles)


WRITE_ALLOWED = {("grafana", "POST", "/api/ds/query")}  # Grafana's query API is a read sent as POST


def _writes(seen: dict[str, list[tuple[str, str]]]) -> list[str]:
    return [f"{component}: {method} {path}" for component, calls in seen.items() for method, path in calls
            if method not in ("GET", "HEAD") and (component, method, path.split("?")[0]) not in WRITE_ALLOWED]


def test_smoke_sends_no_write_to_test_doubles(tmp_path: Path) -> None:
    """A smoke run against doubles of Grafana, Loki and Jaeger (and nothing listening for Prometheus' own
    answers beyond them) sends only GET requests, plus Grafana's read-only /api/ds/query POST."""
    with BodyFake("grafana", grafana_routes()) as grafana, LokiFake() as loki, \
            BodyFake("jaeger", jaeger_routes()) as jaeger:
        from tests.fakes import FakeServer
        with FakeServer("prometheus-2.42") as prom, FakeServer("alertmanager-0.25") as am:
            ran = subprocess.run(
                [*STACKCHECK, "verify", "--target", "urls", "--profile", "smoke", "--json",
                 str(tmp_path / "r.json"),
                 "--prometheus-url", prom.url, "--alertmanager-url", am.url, "--grafana-url", grafana.url,
                 "--loki-url", loki.url, "--jaeger-url", jaeger.url],
                capture_output=True, text=True, cwd=REPO, timeout=300, check=False)
        seen = {"prometheus": [(r.method, r.path) for r in prom.requests],
                "alertmanager": [(r.method, r.path) for r in am.requests],
                "grafana": [(r.method, r.path) for r in grafana.requests],
                "loki": [(r.method, r.path) for r in loki.requests],
                "jaeger": [(r.method, r.path) for r in jaeger.requests]}
    assert json.loads((tmp_path / "r.json").read_text())["checks"], ran.stdout + ran.stderr
    assert all(seen.values()), f"a component was never asked: {seen}"
    assert not _writes(seen), f"smoke sent writes: {_writes(seen)}"


def test_write_detection_catches_a_write() -> None:
    """The filter above reports a POST to Alertmanager and a DELETE to Prometheus (it is not vacuous)."""
    assert _writes({"alertmanager": [("POST", "/api/v2/silences")], "prometheus": [("DELETE", "/x")],
                    "grafana": [("POST", "/api/ds/query")]}) == [
        "alertmanager: POST /api/v2/silences", "prometheus: DELETE /x"]


# --------------------------------------------------------------------------- the real local stack

@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from running_stack(tmp_path_factory.mktemp("serve"))


def _start_again(state_dir: Path, name: str) -> None:
    """Start a killed service with its recorded command and wait for its /-/ready (Alertmanager's URL)."""
    state = LocalState.require(state_dir)
    (old,) = [p for p in state.processes if p.name == name]
    new = processes.start(name, old.argv, Path(old.log))
    state.processes = [new if p.name == name else p for p in state.processes]
    state.save(state_dir)
    ready = _until(lambda: _answers(state.endpoints[name] + "/-/ready"), 30)
    assert ready, f"{name} did not come back; see {old.log}"


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.binaries
@needs_binaries
def test_smoke_sends_no_write_to_the_real_local_stack(stack: Stack, tmp_path: Path) -> None:
    """Through recording proxies in front of the real Prometheus, Alertmanager and sink (and the doubles of
    Grafana, Loki, Jaeger), a whole smoke run sends only reads, plus Grafana's /api/ds/query POST."""
    endpoints = stack.state()["endpoints"]
    assert isinstance(endpoints, dict)
    jobs = tmp_path / "expect.yml"
    jobs.write_text(yaml.safe_dump({"jobs": list(stack.state()["scrape_jobs"])}))  # type: ignore[call-overload]
    with RecordingProxy(endpoints["prometheus"]) as prom, RecordingProxy(endpoints["alertmanager"]) as am, \
            RecordingProxy(endpoints["sink"]) as sink, BodyFake("grafana", grafana_routes()) as grafana, \
            LokiFake() as loki, BodyFake("jaeger", jaeger_routes()) as jaeger:
        ran = subprocess.run(
            [*STACKCHECK, "verify", "--target", "urls", "--profile", "smoke", "--json",
             str(tmp_path / "r.json"),
             "--expectations", str(jobs), "--prometheus-url", prom.url, "--alertmanager-url", am.url,
             "--sink-url", sink.url, "--grafana-url", grafana.url, "--loki-url", loki.url,
             "--jaeger-url", jaeger.url], capture_output=True, text=True, cwd=REPO, timeout=300, check=False)
        seen = {"prometheus": prom.seen, "alertmanager": am.seen, "sink": sink.seen,
                "grafana": [(r.method, r.path) for r in grafana.requests],
                "loki": [(r.method, r.path) for r in loki.requests],
                "jaeger": [(r.method, r.path) for r in jaeger.requests]}
    report = json.loads((tmp_path / "r.json").read_text())
    passed = {c["id"] for c in report["checks"] if c["status"] == "passed"}
    assert {"targets.up", "rules.healthy", "watchdog.active_in_alertmanager"} <= passed, ran.stdout
    assert all(seen.values()), f"a component was never asked: {seen}"
    assert not _writes(seen), f"smoke sent writes: {_writes(seen)}"


@pytest.mark.binaries
@needs_binaries
def test_serve_follows_alertmanager_down_and_back(stack: Stack) -> None:
    """serve exposes the verdicts; with Alertmanager stopped, within one interval its checks read 0 and
    stackcheck_checks{status="failed"} rises; once it is back, they read 1 again."""
    port = _free_port()
    interval = 5.0
    proc = subprocess.Popen(
        [*STACKCHECK, "serve", "--target", "local", "--state-dir", str(stack.state_dir), "--manifests",
         str(stack.manifests), "--interval", f"{interval:g}s", "--listen", f"127.0.0.1:{port}"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "COLUMNS": "200"})
    url = f"http://127.0.0.1:{port}/metrics"

    def scrape() -> str:
        try:
            return requests.get(url, timeout=5).text
        except requests.RequestException:
            return ""

    def last_run() -> float:
        return value(scrape(), "stackcheck_last_run_timestamp_seconds") or 0.0

    def run_after(moment: float, budget: float) -> str:
        """The exposition once a round that started after ``moment`` has finished."""
        found = _until(lambda: (last_run() - (value(scrape(), "stackcheck_run_duration_seconds") or 0))
                       > moment and scrape(), budget)
        assert found, f"no smoke round started after {moment} within {budget}s"
        return str(found)

    am_checks = {"watchdog.active_in_alertmanager": "alertmanager"}
    try:
        first = run_after(0, 120)
        for name, component in am_checks.items():
            assert value(first, "stackcheck_check_passed", check=name, component=component) == 1, first
        failed_before = value(first, "stackcheck_checks", status="failed") or 0
        errors_before = value(first, "stackcheck_checks", status="error") or 0

        kill_service(stack.state_dir, "alertmanager")
        stopped = time.time()
        # The first round that starts after the stop begins within one interval; give it its run time.
        down = run_after(stopped, interval + 120)
        for name, component in am_checks.items():
            assert value(down, "stackcheck_check_passed", check=name, component=component) == 0, down
        assert (value(down, "stackcheck_checks", status="failed") or 0) > failed_before, down
        assert (value(down, "stackcheck_check_passed", check="targets.up", component="prometheus")) == 0
        assert (value(down, "stackcheck_checks", status="error") or 0) >= errors_before

        _start_again(stack.state_dir, "alertmanager")
        back_at = time.time()
        back = run_after(back_at, interval + 120)
        for name, component in am_checks.items():
            assert value(back, "stackcheck_check_passed", check=name, component=component) == 1, back
        assert value(back, "stackcheck_last_success_timestamp_seconds") is not None
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "smoke run: exit" in out

