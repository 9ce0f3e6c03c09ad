"""Secrets never appear in output, logs, JUnit or JSON (DESIGN.md, Safety).

The canaries put a secret where it would really leak, then look for it in what stackcheck prints:

* a server error body that echoes the request's ``Authorization`` header (401 and 500), which the error
  message quotes: a bearer token, Basic credentials (their base64 form decodes to the password), and the
  password of a URL's userinfo, which requests sends as Basic auth;
* the JSON report, the rich table and the JUnit XML of a real pytest run through the plugin.

Each canary is marked ``secret_canary``; ``test_every_secret_canary_fails_without_scrubbing`` runs every
such test under tests/ with :func:`~stackcheck.secrets.scrub` replaced by the identity
(``tests/scrub_removed.py``) and requires each one to fail, so none can pass by never seeing the secret.
A canary elsewhere (the kubeconfig token's, with the kubernetes target's tests) joins by taking the mark.
"""
from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from stackcheck.clients.alertmanager import AlertmanagerClient
from stackcheck.clients.http import Credentials, Http
from stackcheck.clients.prometheus import PrometheusClient
from stackcheck.errors import StackcheckError
from stackcheck.report import CheckResult, Report
from stackcheck.secretfiles import read_secret_file
from stackcheck.secrets import MASK, register, safe_url, scrub
from stackcheck.targets.base import Target
from tests.fakes import PROMETHEUS, FakeServer, Seen, alertmanager_fake_fixture, prometheus_fake_fixture  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
canary_mark = pytest.mark.secret_canary


@pytest.fixture
def canary() -> str:
    """A unique token, registered as a secret the way Credentials registers it."""
    token = f"canary-{uuid.uuid4().hex}"
    register(token)
    return token


def assert_hidden(token: str, text: str, where: str) -> None:
    """Neither the token nor its random half appears in ``text``."""
    __tracebackhide__ = True
    for piece in (token, token[-16:]):
        assert piece not in text, f"the canary token leaked into {where}: {text!r}"


def error_of(call: Callable[[], Any]) -> StackcheckError:
    with pytest.raises(StackcheckError) as caught:
        call()
    return caught.value


def prom(fake: FakeServer, token: str) -> PrometheusClient:
    return PrometheusClient(Http("prometheus", fake.url, credentials=Credentials(bearer_token=token)))


def am(fake: FakeServer, token: str) -> AlertmanagerClient:
    return AlertmanagerClient(Http("alertmanager", fake.url, credentials=Credentials(bearer_token=token)))


PROM_CALLS = {"rule_groups": lambda c: c.rule_groups(), "alerts": lambda c: c.alerts(),
              "query": lambda c: c.query("up"), "targets": lambda c: c.targets()}
AM_CALLS = {"alerts": lambda c: c.alerts(), "receivers": lambda c: c.receivers(),
            "status": lambda c: c.status()}




# --- the canary through the clients ---------------------------------------------------------------

@canary_mark
@pytest.mark.parametrize("call", [
    "rule_groups", "alerts", "query", "targets"])
def test_token_is_not_in_the_error_of_a_prometheus_401(call: str, canary: str,
                                                       prometheus_fake: FakeServer) -> None:
    """A 401 whose body echoes the bearer token gives an error message that quotes the body, without the
    token."""
    prometheus_fake.force_status(401, echo_authorization=True)
    message = str(error_of(lambda: PROM_CALLS[call](prom(prometheus_fake, canary))))
    assert_hidden(canary, message, "the message")
    assert f"It said: Bearer {MASK}" in message


@canary_mark
@pytest.mark.parametrize("call", list(PROM_CALLS))
def test_token_is_not_in_the_error_of_a_prometheus_500(call: str, canary: str,
                                                       prometheus_fake: FakeServer) -> None:
    """A 500 whose body echoes the bearer token gives an error message without the token."""
    prometheus_fake.force_status(500, echo_authorization=True)
    message = str(error_of(lambda: PROM_CALLS[call](prom(prometheus_fake, canary))))
    assert_hidden(canary, message, "the message")


@canary_mark
@pytest.mark.parametrize("call", list(AM_CALLS))
def test_token_is_not_in_the_error_of_an_alertmanager_401(call: str, canary: str,
                                                          alertmanager_fake: FakeServer) -> None:
    """A 401 whose body echoes the bearer token gives an error message without the token."""
    alertmanager_fake.force_status(401, echo_authorization=True)
    assert_hidden(canary, str(error_of(lambda: AM_CALLS[call](am(alertmanager_fake, canary)))), "the message")


@canary_mark
@pytest.mark.parametrize("call", list(AM_CALLS))
def test_token_is_not_in_the_error_of_an_alertmanager_500(call: str, canary: str,
                                                          alertmanager_fake: FakeServer) -> None:
    """A 500 whose body echoes the bearer token gives an error message without the token."""
    alertmanager_fake.force_status(500, echo_authorization=True)
    assert_hidden(canary, str(error_of(lambda: AM_CALLS[call](am(alertmanager_fake, canary)))), "the message")


def basic(user: str, password: str) -> str:
    """The ``Authorization: Basic`` value requests sends for ``user``/``password``."""
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@canary_mark
@pytest.mark.parametrize("status", [401, 500])
def test_basic_credentials_are_not_in_the_error_of_an_echoing_server(status: int,
                                                                     prometheus_fake: FakeServer) -> None:
    """Basic credentials echoed back as ``Basic <base64>`` in an error body: neither the password nor its
    base64 form (which decodes to it) is in the message."""
    password = f"pw-{uuid.uuid4().hex}"
    prometheus_fake.force_status(status, echo_authorization=True)
    http = Http("prometheus", prometheus_fake.url,
                credentials=Credentials(basic_user="bob", basic_password=password))
    message = str(error_of(lambda: PrometheusClient(http).query("up")))
    assert "Basic " in message, f"the canary did not reach the message: {message!r}"
    assert_hidden(password, message, "the message")
    assert basic("bob",
                 password) not in message, f"the base64 credentials leaked into the message: {message!r}"


@canary_mark
@pytest.mark.parametrize("status", [401, 500])
def test_url_userinfo_is_not_in_the_error_of_an_echoing_server(status: int,
                                                               prometheus_fake: FakeServer) -> None:
    """A URL with user:password@ (requests sends it as Basic auth) against a server that echoes the header:
    the message shows neither the password, nor its base64 form, nor the userinfo."""
    password = f"urlpw-{uuid.uuid4().hex}"
    prometheus_fake.force_status(status, echo_authorization=True)
    url = prometheus_fake.url.replace("http://", f"http://alice:{password}@")
    message = str(error_of(lambda: PrometheusClient(Http("prometheus", url)).query("up")))
    assert "Basic " in message, f"the canary did not reach the message: {message!r}"
    assert_hidden(password, message, "the message")
    assert basic("alice",
                 password) not in message, f"the base64 userinfo leaked into the message: {message!r}"
    assert "alice:" not in message


@canary_mark
def test_long_token_cut_by_truncation_is_still_hidden(alertmanager_fake: FakeServer) -> None:
    """A long token (e.g. a service-account JWT) cut at the 256-character limit leaks no part of itself.

    Cutting before masking leaves a prefix that scrub() can no longer recognise, in the message and in
    every report built from it.
    """
    token = "canary-" + uuid.uuid4().hex * 10
    register(token)
    alertmanager_fake.force_status(500, echo_authorization=True)
    message = str(error_of(lambda: am(alertmanager_fake, token).receivers()))
    report = Report(target="urls", profile="smoke", time_scale=1.0)
    report.checks.append(CheckResult(id="x", component="alertmanager", status="error", duration_s=0,
                                     message=message))
    for where, text in (("the message", message), ("the JSON report", json.dumps(report.to_json()))):
        assert token[:40] not in text, f"the first 40 characters of the token leaked into {where}: {text!r}"


# --- the canary through the report ----------------------------------------------------------------

@pytest.fixture
def leaky_report(canary: str, alertmanager_fake: FakeServer) -> Report:
    """A report whose failed check carries the raw message of an error that echoed the token."""
    alertmanager_fake.force_status(500, echo_authorization=True)
    exc = error_of(lambda: am(alertmanager_fake, canary).receivers())
    message = f"{exc}; Authorization: Bearer {canary}"  # whatever the error says, plus the token itself
    report = Report(target="urls", profile="smoke", time_scale=1.0, started_at=1_700_000_000.0,
                    finished_at=1_700_000_002.0)
    report.checks.append(CheckResult(id="alertmanager.receivers", component="alertmanager", status="error",
                                     duration_s=0.1, message=message))
    return report


@canary_mark
def test_token_is_not_in_the_json_report(leaky_report: Report, canary: str) -> None:
    """Report.to_json() masks the token in check messages, and shows the mask instead."""
    text = json.dumps(leaky_report.to_json())
    assert_hidden(canary, text, "the JSON report")
    assert MASK in leaky_report.to_json()["checks"][0]["message"]


@canary_mark
def test_token_is_not_in_the_written_json_file(leaky_report: Report, canary: str, tmp_path: Path) -> None:
    """The file written by --json does not contain the token."""
    path = tmp_path / "report.json"
    leaky_report.write_json(path)
    assert_hidden(canary, path.read_text(), str(path))


def test_token_is_not_in_the_verdict_line(leaky_report: Report, canary: str) -> None:
    """The one-line verdict does not contain the token."""
    line = leaky_report.verdict_line()
    assert line == "STACKCHECK FAILED - 0 passed, 0 failed, 0 skipped, 1 errors in 2.0s"
    assert_hidden(canary, line, "the verdict line")


@canary_mark
def test_token_is_not_in_the_rich_table(leaky_report: Report, canary: str) -> None:
    """The terminal table masks the token in the message column."""
    out = io.StringIO()
    leaky_report.print_table(Console(file=out, width=200))
    text = out.getvalue()
    assert "alertmanager.receivers" in text
    assert_hidden(canary, text, "the rich table")
    assert_hidden(canary, "".join(text.split()), "the rich table (joined across folded lines)")


# --- scrub, safe_url, Credentials -----------------------------------------------------------------

@canary_mark
def test_scrub_masks_every_registered_secret(canary: str) -> None:
    """scrub() replaces each occurrence of a registered secret with ***."""
    assert scrub(f"a {canary} b {canary}") == f"a {MASK} b {MASK}"


@canary_mark
def test_scrub_masks_the_longer_of_overlapping_secrets() -> None:
    """When one secret contains another, the longer is masked whole (no tail is left visible)."""
    short = f"ov-{uuid.uuid4().hex[:8]}"
    long = short + "-and-more-secret"
    register(short)
    register(long)
    assert scrub(f"x {long} y") == f"x {MASK} y"


def test_short_values_are_not_registered() -> None:
    """Values under 4 characters are not secrets to mask (masking 'a' would garble reports)."""
    register("ab")
    assert scrub("a cab") == "a cab"


@pytest.mark.parametrize(("url", "safe"), [
    ("https://user:pass@prom.example.com:9090/x?y=1", "https://prom.example.com:9090/x?y=1"),
    ("http://token@127.0.0.1:29090", "http://127.0.0.1:29090"),
    ("http://127.0.0.1:29090/api", "http://127.0.0.1:29090/api"),
])
def test_safe_url_strips_userinfo(url: str, safe: str) -> None:
    """safe_url() drops user and password and keeps scheme, host, port, path and query."""
    assert safe_url(url) == safe


def test_safe_url_keeps_ipv6_brackets() -> None:
    """safe_url() keeps an IPv6 host printable as a URL: http://u:p@[::1]:9090/ → http://[::1]:9090/."""
    assert safe_url("http://u:p@[::1]:9090/") == "http://[::1]:9090/"


def test_unreachable_message_does_not_show_userinfo() -> None:
    """An error names the URL without its user and password."""
    http = Http("prometheus", "http://admin:hunter2-secret@127.0.0.1:9/")
    assert http.display_url == "http://127.0.0.1:9"
    assert "hunter2" not in http.display_url


def test_credentials_repr_hides_values(canary: str) -> None:
    """repr() of Credentials names the kinds of credential, never their values."""
    creds = Credentials(bearer_token=canary, basic_user="bob", basic_password=f"{canary}-pw")
    assert repr(creds) == "Credentials(bearer, basic)"
    assert str(Credentials()) == "Credentials(none)"
    target = Target(name="urls", description="d", endpoints={}, credentials=creds)
    assert_hidden(canary, repr(target), "repr(Target)")


@canary_mark
def test_credentials_register_their_secrets(canary: str) -> None:
    """Building Credentials registers the token and password, so scrub() masks them."""
    token = f"tok-{uuid.uuid4().hex}"
    password = f"pw-{uuid.uuid4().hex}"
    Credentials(bearer_token=token, basic_user="bob", basic_password=password)
    assert scrub(f"{token} {password}") == f"{MASK} {MASK}"


@canary_mark
def test_read_secret_file_registers_the_value(tmp_path: Path) -> None:
    """A secret read from a file is registered (trailing newline stripped)."""
    value = f"file-{uuid.uuid4().hex}"
    path = tmp_path / "token"
    path.write_text(value + "\n")
    assert read_secret_file(str(path), "bearer token") == value
    assert scrub(value) == MASK


def test_missing_secret_file_names_the_option_and_path(tmp_path: Path) -> None:
    """A missing secret file is a usage error naming what was being read and the path."""
    path = tmp_path / "nope"
    expected = f"cannot read bearer token from {path}: No such file or directory; check the path"
    with pytest.raises(StackcheckError, match=re.escape(expected)):
        read_secret_file(str(path), "bearer token")


def test_empty_secret_file_says_to_write_the_credential(tmp_path: Path) -> None:
    """An empty secret file is a usage error telling to write the credential into it."""
    path = tmp_path / "empty"
    path.write_text("\n")
    expected = f"bearer token file {path} is empty; write the credential into it"
    with pytest.raises(StackcheckError, match=re.escape(expected)):
        read_secret_file(str(path), "bearer token")


# --- the canary through a real run: JUnit XML and the JSON report ----------------------------------

LEAKY_SUITE = """
import os

import pytest


@pytest.mark.check("canary.leak", component="prometheus")
def test_a_check_whose_server_echoes_the_token(prometheus):
    prometheus.query("up")  # the server answers 500 with the request's Authorization header in the body


@pytest.mark.check("canary.assert", component="prometheus")
def test_a_check_whose_own_message_holds_the_token(prometheus):
    token = open(os.environ["CANARY_TOKEN_FILE"]).read().strip()  # a message built from raw server text
    assert False, f"the server said: Authorization: Bearer {token}"
"""


class EchoOnQuery(FakeServer):
    """Prometheus 2.42 captures, except that queries answer 500 echoing the request's Authorization."""

    def _answer(self, method: str, target: str, headers: Mapping[str, str]) -> tuple[int, str | None, bytes]:
        if target.startswith("/api/v1/query"):
            self.requests.append(Seen(method, target, headers))
            return 500, "text/plain; charset=utf-8", headers.get("Authorization", "").encode()
        return super()._answer(method, target, headers)


@pytest.fixture(scope="module")
def leaky_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path,
                                                                      subprocess.CompletedProcess[str]]]:
    """``pytest`` through the stackcheck plugin (urls target, bearer token file) on a suite whose checks
    fail with the token in their error: (token, JUnit path, JSON path, the finished run)."""
    tmp_path = tmp_path_factory.mktemp("leaky")
    token = f"canary-{uuid.uuid4().hex}"
    (tmp_path / "token").write_text(token + "\n")
    (tmp_path / "test_leaky.py").write_text(LEAKY_SUITE)
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None,
                                                              [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env = {k: v for k, v in env.items() if not k.startswith("STACKCHECK_")}
    env["CANARY_TOKEN_FILE"] = str(tmp_path / "token")
    with EchoOnQuery(PROMETHEUS) as fake:
        ran = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "test_leaky.py"),
             "--stackcheck-target", "urls", "--prometheus-url", fake.url,
             "--stackcheck-bearer-token-file", str(tmp_path / "token"),
             f"--junit-xml={junit}", "--stackcheck-json", str(report)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert junit.is_file() and report.is_file(), f"the run wrote no report:\n{ran.stdout}\n{ran.stderr}"
    yield token, junit, report, ran


@canary_mark
def test_token_is_not_in_the_junit_xml_of_a_real_run(leaky_run: tuple[str, Path, Path, Any]) -> None:
    """The JUnit XML of checks that failed with the token in their error holds the mask, not the token."""
    token, junit, _, ran = leaky_run
    failures = [case.find("failure") for case in ET.parse(junit).getroot().iter("testcase")]
    assert len(failures) == 2 and all(f is not None for f in failures), ran.stdout
    assert_hidden(token, junit.read_text(), str(junit))
    assert MASK in junit.read_text()


@canary_mark
def test_token_is_not_in_the_json_report_of_a_real_run(leaky_run: tuple[str, Path, Path, Any]) -> None:
    """The --stackcheck-json report of the same run holds the mask, not the token."""
    token, _, report, _ = leaky_run
    checks = json.loads(report.read_text())["checks"]
    assert [c["status"] for c in checks] == ["error", "failed"]
    assert_hidden(token, report.read_text(), str(report))
    assert all(MASK in c["message"] for c in checks)


@canary_mark
def test_token_is_not_in_the_terminal_output_of_a_real_run(leaky_run: tuple[str, Path, Path, Any]) -> None:
    """Nor is it on stdout or stderr of that run."""
    token, _, _, ran = leaky_run
    assert_hidden(token, ran.stdout + ran.stderr, "the run's output")


# --- the canaries can fail ---------------------------------------------------------------------------

def test_every_secret_canary_fails_without_scrubbing(tmp_path: Path) -> None:
    """With scrub() replaced by the identity (tests/scrub_removed.py, also in pytest runs the canaries
    start), every secret canary under tests/ fails: none of them passes without seeing the secret."""
    junit = tmp_path / "canaries.xml"
    env = {**os.environ, "PYTEST_ADDOPTS": "-p tests.scrub_removed",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "secret_canary",
         str(ROOT / "tests"), f"--junit-xml={junit}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    passed = [f"{c.get('name')}" for c in cases
              if c.find("failure") is None and c.find("error") is None and c.find("skipped") is None]
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--collect-only", "-m",
         "secret_canary",
         str(ROOT / "tests")], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    expected = [line for line in listed.stdout.splitlines() if "::" in line]
    assert len(expected) >= 20 and len(cases) == len(expected), (
        f"{len(cases)} of {len(expected)} canaries ran without scrubbing:\n{ran.stdout[-2000:]}")
    assert passed == [], f"these canaries pass without scrubbing, so they prove nothing: {passed}"
    errored = [c.get("name") for c in cases if c.find("error") is not None]
    assert errored == [], (f"these canaries broke instead of failing on the leak: "
                           f"{errored}\n{ran.stdout[-2000:]}")

