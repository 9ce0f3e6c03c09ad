"""Preflight: a stack that cannot be checked still gets a report, one error entry per component."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

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


@pytest.fixture(scope="module")
def alertmanager_down_verify(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The stdout of `stackcheck verify -k Watchdog` with Prometheus ready (a double of the real 2.42)
    and Alertmanager refused."""
    tmp = tmp_path_factory.mktemp("amdown")
    closed = _closed_url()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("STACKCHECK_")}, "COLUMNS": "120",
           "NO_COLOR": "1"}
    with FakeServer(PROMETHEUS) as fake:
        ran = subprocess.run([str(STACKCHECK), "verify", "--target", "urls", "--prometheus-url", fake.url,
                              "--alertmanager-url", closed, "--manifests", str(REPO / "manifests"),
                              "--state-dir", str(tmp / "state"), "-k", "Watchdog"],
                             capture_output=True, text=True, env=env, timeout=120, check=False, cwd=tmp)
    assert ran.returncode == 3, ran.stdout + ran.stderr
    return ran.stdout


def test_verify_ends_with_the_stackcheck_line_and_prints_no_pytest_stats_line(
        alertmanager_down_verify: str) -> None:
    """verify's verdict is the STACKCHECK line alone: pytest's '1 failed, … 3 errors in 0.5s' and its short
    summary would repeat it (and used to contradict it)."""
    out = alertmanager_down_verify
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[-1].startswith("STACKCHECK FAILED - 0 passed, 1 failed, 1 skipped, 3 errors"), out
    assert not [line for line in lines if re.search(r"\d+ (deselected|errors?|failed)\b", line)
                and not line.startswith("STACKCHECK")], out
    assert "short test summary" not in out, out


def test_verify_progress_reaches_100_percent_with_a_preflight_entry_before_the_checks(
        alertmanager_down_verify: str) -> None:
    """The preflight entry counts in the progress line (it stopped at [ 80%] here, at [ 95%] on a cluster)."""
    assert "[100%]" in alertmanager_down_verify.splitlines()[0], alertmanager_down_verify


_RAISES_AND_ASSERTS = """\
import pytest

from stackcheck.errors import ApiError


@pytest.mark.check("demo.raises", component="prometheus")
def test_raises() -> None:
    raise ApiError("prometheus answered HTTP 500")


@pytest.mark.check("demo.asserts", component="prometheus")
def test_asserts() -> None:
    assert False, "not as expected"
"""


def test_pytest_run_directly_counts_a_check_that_raised_as_an_error_like_the_report(tmp_path: Path) -> None:
    """`pytest` run directly keeps its stats line, but counts as the STACKCHECK line does: a check that
    raised (an ApiError in its body) is an error, one that asserted is a failure."""
    (tmp_path / "test_demo.py").write_text(_RAISES_AND_ASSERTS)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("STACKCHECK_")}, "COLUMNS": "120",
           "PYTHONPATH": str(REPO)}
    with FakeServer(PROMETHEUS) as fake:
        ran = subprocess.run([sys.executable, "-m", "pytest", str(tmp_path), "-q", "--tb=no", "-p",
                              "no:cacheprovider", "--stackcheck-target", "urls", "--prometheus-url", fake.url,
                              "--stackcheck-manifests", str(REPO / "manifests"), "--stackcheck-state-dir",
                              str(tmp_path / "state")],
                             capture_output=True, text=True, env=env, timeout=120, check=False, cwd=tmp_path)
    out = ran.stdout
    assert "STACKCHECK FAILED - 0 passed, 1 failed, 0 skipped, 1 errors" in out, out + ran.stderr
    assert re.match(r"1 failed, 1 error in ", out.strip().splitlines()[-1]), out


def test_our_output_after_the_progress_line_starts_on_a_new_line(tmp_path: Path) -> None:
    """What a hook prints after the checks (verify --destroy-after's destroy) is not glued onto pytest's
    '. [100%]': end_progress_line ends that line first."""
    (tmp_path / "conftest.py").write_text(
        "from stackcheck.plugin import end_progress_line\n\n\n"
        "def pytest_sessionfinish(session):\n"
        "    end_progress_line(session.config)\n"
        "    print('Destroying the stack', flush=True)\n")
    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("STACKCHECK_")},
           "PYTHONPATH": str(REPO)}
    ran = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=60, check=False, cwd=tmp_path)
    assert "Destroying the stack" in ran.stdout.splitlines(), ran.stdout


GrafanaDown = tuple[int, dict[str, dict[str, str]], str]


@pytest.fixture(scope="module")
def grafana_down_run(tmp_path_factory: pytest.TempPathFactory) -> GrafanaDown:
    """`verify -k grafana` with Prometheus ready (a double of the real 2.42) and Grafana refused: the exit
    code, the JSON report's checks by id, and Grafana's URL."""
    tmp = tmp_path_factory.mktemp("grafanadown")
    report, url = tmp / "r.json", _closed_url()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKCHECK_")}
    with FakeServer(PROMETHEUS) as fake:
        ran = subprocess.run([str(STACKCHECK), "verify", "--target", "urls", "--prometheus-url", fake.url,
                              "--grafana-url", url, "--manifests", str(REPO / "manifests"),
                              "-k", "grafana", "--json", str(report), "--state-dir", str(tmp / "state")],
                             capture_output=True, text=True, env=env, timeout=120, check=False, cwd=tmp)
    return ran.returncode, {c["id"]: c for c in json.loads(report.read_text())["checks"]}, url


def test_a_check_needing_a_component_that_did_not_answer_points_to_its_entry(
        grafana_down_run: GrafanaDown) -> None:
    """Each Grafana check says briefly that it was not checked and where the reason is."""
    _, checks, _ = grafana_down_run
    dependent = {i: c for i, c in checks.items() if i.startswith("grafana.")}
    assert len(dependent) >= 7, checks
    for check in dependent.values():
        assert check["message"] == preflight.DEPENDS.format(c="grafana") == \
            "not checked: grafana did not answer (see preflight.reachable[grafana])", check


def test_the_reason_a_component_did_not_answer_is_in_one_entry_only(grafana_down_run: GrafanaDown) -> None:
    """Grafana's URL and the OS's words (on a cluster: the proxy's 503 body) appear once, in
    preflight.reachable[grafana], not again in every row."""
    _, checks, url = grafana_down_run
    quoting = [i for i, c in checks.items() if url in c["message"]]
    assert quoting == ["preflight.reachable[grafana]"], checks
    assert "Connection refused" in checks["preflight.reachable[grafana]"]["message"]


def test_checks_of_a_component_that_did_not_answer_stay_errors_and_exit_3(
        grafana_down_run: GrafanaDown) -> None:
    """Pointing to the entry turns no check into a pass or a skip: they are errors, and the exit code 3."""
    code, checks, _ = grafana_down_run
    assert code == 3
    assert {c["status"] for i, c in checks.items() if i.startswith("grafana.")} == {"error"}, checks
