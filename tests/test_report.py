"""The JSON report (schema stackcheck.report/v1, DESIGN.md), the verdict line and the rich table."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from stackcheck.report import SCHEMA, CheckResult, Report

STARTED = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def report(*checks: CheckResult) -> Report:
    return Report(target="local", profile="smoke", time_scale=20.0, started_at=STARTED,
                  finished_at=STARTED + 12.3456, checks=list(checks))


PASSED = CheckResult(id="targets.up", component="prometheus", status="passed", duration_s=0.12345)
FIRED = CheckResult(id="alerts.fires[HighErrorRate]", component="prometheus", status="passed", duration_s=4.2,
                    latency_s=3.14159, bound_s=20.0)
FAILED = CheckResult(id="rules.healthy", component="prometheus", status="failed", duration_s=1.0,
                     message="rule 'x' (group 'g', f.yml): boom")
SKIPPED = CheckResult(id="loki.query", component="loki", status="skipped", duration_s=0.0,
                      message="loki binary not found")
ERROR = CheckResult(id="alertmanager.receivers", component="alertmanager", status="error", duration_s=0.5,
                    message="alertmanager is unreachable at http://127.0.0.1:29093 (ConnectionError)")


def test_json_report_has_the_v1_schema_and_top_level_fields() -> None:
    """to_json() carries schema stackcheck.report/v1 and exactly the documented top-level fields."""
    out = report(PASSED).to_json()
    assert out["schema"] == SCHEMA == "stackcheck.report/v1"
    assert set(out) == {"schema", "target", "profile", "time_scale", "started_at", "duration_s", "summary",
                        "interrupted", "checks"}
    assert (out["target"], out["profile"], out["time_scale"]) == ("local", "smoke", 20.0)


def test_json_report_times_are_utc_iso_and_seconds() -> None:
    """started_at is an ISO-8601 UTC timestamp; duration_s is seconds rounded to milliseconds."""
    out = report().to_json()
    assert out["started_at"] == "2023-11-14T22:13:20Z"
    assert out["duration_s"] == 12.346


def test_json_report_summary_counts_each_status() -> None:
    """summary has passed, failed, skipped and errors counts."""
    out = report(PASSED, FIRED, FAILED, SKIPPED, ERROR).to_json()
    assert out["summary"] == {"passed": 2, "failed": 1, "skipped": 1, "errors": 1}


def test_json_check_has_the_documented_fields() -> None:
    """Each check has id, component, status, duration_s and message, and nothing else when no latency."""
    check = report(FAILED).to_json()["checks"][0]
    assert check == {"id": "rules.healthy", "component": "prometheus", "status": "failed", "duration_s": 1.0,
                     "message": "rule 'x' (group 'g', f.yml): boom"}


def test_json_check_has_latency_and_bound_only_when_set() -> None:
    """latency_s and bound_s appear (rounded to ms) only on latency checks."""
    checks = report(PASSED, FIRED).to_json()["checks"]
    assert "latency_s" not in checks[0] and "bound_s" not in checks[0]
    assert (checks[1]["latency_s"], checks[1]["bound_s"]) == (3.142, 20.0)
    assert checks[0]["duration_s"] == 0.123


def test_json_report_is_written_as_a_file(tmp_path: Path) -> None:
    """write_json() creates parent directories and writes the same document as to_json()."""
    path = tmp_path / "out" / "report.json"
    rep = report(PASSED, FAILED)
    rep.write_json(path)
    assert json.loads(path.read_text()) == rep.to_json()


def test_verdict_line_says_ok_when_nothing_failed() -> None:
    """The verdict line is OK when no check failed or errored (skips are fine)."""
    assert report(PASSED, SKIPPED).verdict_line() == (
        "STACKCHECK OK - 1 passed, 0 failed, 1 skipped, 0 errors in 12.3s")


@pytest.mark.parametrize("bad", [FAILED, ERROR], ids=["failed", "error"])
def test_verdict_line_says_failed_on_a_failure_or_error(bad: CheckResult) -> None:
    """The verdict line is FAILED when any check failed or errored."""
    assert report(PASSED, bad).verdict_line().startswith("STACKCHECK FAILED - 1 passed, ")


def test_an_interrupted_run_is_never_ok() -> None:
    """Stopped by Ctrl-C, the checks that finished passed, but the run did not: the verdict line, the table's
    note and the JSON say INTERRUPTED."""
    stopped = report(PASSED, SKIPPED)
    stopped.interrupted = True
    assert stopped.verdict_line() == (
        "STACKCHECK INTERRUPTED - 1 passed, 0 failed, 1 skipped, 0 errors in 12.3s")
    assert stopped.to_json()["interrupted"] is True
    out = io.StringIO()
    stopped.print_table(Console(file=out, width=160))
    assert "Interrupted (Ctrl-C or SIGTERM): the checks above ran, the others did not" in out.getvalue()


def test_table_shows_each_check_with_verdict_and_latency_against_bound() -> None:
    """The table has one row per check with its verdict, id, latency / bound and message, then the verdict."""
    out = io.StringIO()
    report(FIRED, FAILED).print_table(Console(file=out, width=200))
    text = out.getvalue()
    assert "stackcheck: target local, profile smoke, time scale 20" in text
    assert "alerts.fires[HighErrorRate]" in text and "3.1s / 20.0s" in text
    assert "rule 'x' (group 'g', f.yml): boom" in text
    assert text.rstrip().endswith("STACKCHECK FAILED - 1 passed, 1 failed, 0 skipped, 0 errors in 12.3s")


# --- readable at any width (issue 8, item 8) ------------------------------------------------------

DOWN = ("scrape targets not healthy:\njob 'node-exporter': target 127.0.0.1:29100 is down: Get "
        "\"http://127.0.0.1:29100/metrics\": dial tcp 127.0.0.1:29100: connect: connection refused")
LONG_IDS = [
    CheckResult(id="targets.up", component="prometheus", status="failed", duration_s=4.1, message=DOWN),
    CheckResult(id="rules.recording_returns_data[phase5:http_request_duration:p99]", component="prometheus",
                status="passed", duration_s=0.02,
                message="2 series written by its latest evaluation at 09:03:13Z"),
    CheckResult(id="rules.recording_returns_data[phase5:cpu_usage:ratio]", component="prometheus",
                status="skipped", duration_s=0.0,
                message="phase5:cpu_usage:ratio reads container_cpu_usage_seconds_total: needs cAdvisor "
                        "container metrics; the local runtime has no kubelet"),
    CheckResult(id="alerts.delivered[DatabaseConnectionPoolExhausted]", component="alertmanager",
                status="error", duration_s=3.0, latency_s=1.25, bound_s=2.0,
                message="DatabaseConnectionPoolExhausted (firing) did not reach slack #alerts-database "
                        "within 9s; it reached email oncall@stackcheck.example, slack #alerts-critical"),
]


def _printed(width: int) -> str:
    out = io.StringIO()
    report(*LONG_IDS).print_table(Console(width=width, file=out))
    return out.getvalue()


@pytest.mark.parametrize("width", [80, 100])
def test_every_verdict_is_whole_at_terminal_widths(width: int) -> None:
    """At 80 and 100 columns each check's verdict word is printed whole on its line, never shrunk."""
    lines = _printed(width).splitlines()
    assert all(len(line) <= width for line in lines)
    assert "…" not in "\n".join(lines)
    for check in LONG_IDS:
        (line,) = [ln for ln in lines if check.id in ln and not ln.lstrip().startswith(check.status.upper())]
        assert line.split()[0] == check.status, line


@pytest.mark.parametrize("width", [80, 100])
def test_a_long_failure_message_is_readable_in_full_at_terminal_widths(width: int) -> None:
    """Every failure's message appears complete, its words whole and in order, on lines that use the
    width (not one fragment per line), under the id it belongs to."""
    text = _printed(width)
    flat = " ".join(text.split())
    for check in LONG_IDS:
        if check.status in ("failed", "error"):
            assert f"{check.status.upper()} {check.id} {' '.join(check.message.split())}" in flat
    wrapped = text.split(f"ERROR {LONG_IDS[3].id}", 1)[1].strip().splitlines()
    assert len(wrapped[0].strip()) >= width // 2, wrapped  # a full line, not "scrape / target / s not"


def test_a_wide_terminal_keeps_the_message_column_in_the_table() -> None:
    """Piped output (160 columns) keeps one table with the messages in it, and no list below it."""
    text = _printed(160)
    assert "┃ message" in text and "FAILED targets.up" not in text
    assert "connection refused" in text


def test_the_narrow_list_says_a_shared_skip_reason_once() -> None:
    """Checks skipped for the same reason are listed under it once, their ids together."""
    why = "grafana binary not found; install Grafana from https://grafana.com/grafana/download"
    skips = [CheckResult(id=f"grafana.dashboard_loads[board-{i}]", component="grafana", status="skipped",
                         duration_s=0.0, message=why) for i in range(3)]
    out = io.StringIO()
    report(*LONG_IDS, *skips).print_table(Console(width=80, file=out))
    text = out.getvalue()
    assert text.count("grafana binary not found") == 1
    flat = " ".join(text.split())
    assert ("SKIPPED grafana.dashboard_loads[board-0], grafana.dashboard_loads[board-1], "
            "grafana.dashboard_loads[board-2] grafana binary not found") in flat


_TIMED_CHECK = """\
from typing import Any

import pytest


@pytest.mark.check("demo.timed", component="prometheus")
def test_timed(record_property: Any) -> None:
    record_property("latency_s", 1.5)
    record_property("bound_s", 3.0)
"""


@pytest.fixture(scope="module")
def timed_junit_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """`stackcheck verify -v --junit-xml` of one check that records its latency and bound, against a
    ready Prometheus (a double of the real 2.42): pytest's own output (-v shows it) and the JUnit file."""
    import os
    import subprocess
    import sys

    from tests.fakes import PROMETHEUS, FakeServer

    tmp = tmp_path_factory.mktemp("junit")
    (tmp / "suites").mkdir()
    (tmp / "suites" / "test_timed.py").write_text(_TIMED_CHECK)
    junit = tmp / "j.xml"
    repo = Path(__file__).resolve().parent.parent
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("STACKCHECK_")},
           "STACKCHECK_SUITES": str(tmp / "suites"), "PYTHONPATH": str(repo)}
    with FakeServer(PROMETHEUS) as fake:
        ran = subprocess.run([str(Path(sys.executable).parent / "stackcheck"), "verify", "-v", "--target",
                              "urls", "--prometheus-url", fake.url, "--manifests", str(repo / "manifests"),
                              "--junit-xml", str(junit), "--state-dir", str(tmp / "state")],
                             capture_output=True, text=True, env=env, timeout=120, check=False, cwd=tmp)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return ran.stdout + ran.stderr, junit


def test_verify_junit_xml_raises_no_record_property_warning(timed_junit_run: tuple[str, Path]) -> None:
    """verify writes the xunit1 family, whose testcases have properties: pytest does not warn that
    record_property is incompatible (13 warnings in a smoke run before)."""
    out, _ = timed_junit_run
    assert "record_property is incompatible" not in out, out
    assert "warning" not in out.lower(), out


def test_verify_junit_xml_keeps_each_checks_recorded_properties(timed_junit_run: tuple[str, Path]) -> None:
    """The latency and bound a check records are <property> entries of its <testcase>."""
    import xml.etree.ElementTree as ET

    _, junit = timed_junit_run
    (case,) = ET.parse(junit).getroot().iter("testcase")
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props == {"latency_s": "1.5", "bound_s": "3.0"}, ET.tostring(case)
