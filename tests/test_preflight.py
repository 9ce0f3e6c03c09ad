"""Preflight: a stack that cannot be checked still gets a report, one error entry per component."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from stackcheck import preflight
from stackcheck.clients.http import Credentials, Http
from tests.fakes import PROMETHEUS, FakeServer

REPO = Path(__file__).resolve().parent.parent
STACKCHECK = Path(sys.executable).parent / "stackcheck"


def _closed_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_an_unreachable_component_is_named_with_the_operating_systems_words() -> None:
    """Nothing listening: the problem names the component, its URL, the path and 'Connection refused'."""
    url = _closed_url()
    problem = preflight.ask(Http("prometheus", url), "prometheus")
    assert problem is not None and not problem.unauthorised
    assert problem.message == preflight.UNREACHABLE.format(
        c="prometheus", url=url, path="/-/ready",
        reason="Failed to establish a new connection: [Errno 111] Connection refused")


def test_a_refusing_component_is_named_with_its_own_words_scrubbed() -> None:
    """A 401 quotes the server's body (here it echoes the token), with the secret masked."""
    token = "preflight-canary-3f9c1d"
    with FakeServer(PROMETHEUS) as fake:
        fake.require_bearer("another-token", echo_authorization=True)
        problem = preflight.ask(Http("prometheus", fake.url, credentials=Credentials(bearer_token=token)),
                                "prometheus")
    assert problem is not None and problem.unauthorised
    assert "refused the request (HTTP 401: Bearer ***)" in problem.message
    assert token not in problem.message


def test_a_prometheus_that_is_not_ready_is_a_problem_other_components_need_only_answer() -> None:
    """Prometheus must be ready (503 is a problem); Loki's 404 on /ready still means it answered."""
    with FakeServer(PROMETHEUS) as fake:
        fake.force_status(503)
        problem = preflight.ask(Http("prometheus", fake.url), "prometheus")
        assert problem is not None and "is not ready (GET /-/ready: HTTP 503)" in problem.message
        assert preflight.ask(Http("loki", fake.url), "loki") is None


def test_verify_with_prometheus_down_writes_an_error_entry_everywhere_and_exits_3(tmp_path: Path) -> None:
    """Prometheus unreachable: exit 3; the JSON, JUnit, table and STACKCHECK line each name it with the
    OS's reason; no pytest internals (deselected counts, the Exit banner, warnings) reach the terminal."""
    url = _closed_url()
    report, junit = tmp_path / "r.json", tmp_path / "j.xml"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("STACKCHECK_")}, "COLUMNS": "80"}
    ran = subprocess.run([str(STACKCHECK), "verify", "--target", "urls", "--prometheus-url", url,
                          "--manifests", str(REPO / "manifests"), "--json", str(report), "--junit-xml",
                          str(junit), "--state-dir", str(tmp_path / "state")],
                         capture_output=True, text=True, env=env, timeout=120, check=False)
    out = ran.stdout + ran.stderr
    assert ran.returncode == 3, out
    doc = json.loads(report.read_text())
    assert doc["summary"] == {"passed": 0, "failed": 0, "skipped": 0, "errors": 1}
    (entry,) = doc["checks"]
    assert entry["id"] == "preflight.reachable[prometheus]" and entry["component"] == "prometheus"
    assert entry["status"] == "error" and url in entry["message"] and "Connection refused" in entry["message"]
    (case,) = ET.parse(junit).getroot().iter("testcase")
    assert case.get("name") == "preflight.reachable[prometheus]"
    assert any("Connection refused" in (child.get("message") or "") for child in case)
    assert "STACKCHECK FAILED - 0 passed, 0 failed, 0 skipped, 1 errors" in ran.stdout
    assert "preflight.reachable[prometheus]" in ran.stdout
    for internal in ("deselected", "_pytest", "!!!", "Exit:", "warnings summary", "short test summary"):
        assert internal not in out, f"{internal!r} reached the terminal:\n{out}"


def test_a_component_down_beside_a_ready_prometheus_is_an_entry_and_the_checks_still_run(
        tmp_path: Path) -> None:
    """Prometheus ready (a double of the real 2.42), Alertmanager refused: the checks run, the report
    also holds preflight.reachable[alertmanager] with the OS's reason, and the exit code is 3."""
    closed = _closed_url()
    report = tmp_path / "r.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKCHECK_")}
    with FakeServer(PROMETHEUS) as fake:
        ran = subprocess.run([str(STACKCHECK), "verify", "--target", "urls", "--prometheus-url", fake.url,
                              "--alertmanager-url", closed, "--manifests", str(REPO / "manifests"),
                              "-k", "reference_alert and Watchdog", "--json", str(report),
                              "--state-dir", str(tmp_path / "state")],
                             capture_output=True, text=True, env=env, timeout=120, check=False)
    assert ran.returncode == 3, ran.stdout + ran.stderr
    checks = {c["id"]: c for c in json.loads(report.read_text())["checks"]}
    entry = checks["preflight.reachable[alertmanager]"]
    assert entry["status"] == "error" and entry["component"] == "alertmanager"
    assert closed in entry["message"] and "[Errno 111] Connection refused" in entry["message"]
    assert "alerts.loaded[Watchdog]" in checks  # the checks ran
    assert "STACKCHECK FAILED" in ran.stdout
