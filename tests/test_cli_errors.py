"""Expected failures of the `stackcheck` command: one clear line, the documented exit code, no traceback.

Runs the installed console script. The commands are independent, so the module starts them all at once
and each test judges one of them (a down Prometheus takes seconds to report; see test_clients).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stackcheck.errors import ExitCode
from tests.fakes import ALERTMANAGER, CONTRACTS, PROMETHEUS, FakeServer

STACKCHECK = Path(sys.executable).parent / "stackcheck"


@dataclass(frozen=True)
class Ran:
    """One finished command."""

    argv: list[str]
    code: int
    stdout: str
    stderr: str

    @property
    def err(self) -> str:
        """stderr with rich's line wrapping undone."""
        return " ".join(self.stderr.split())

    def __str__(self) -> str:
        return f"$ {' '.join(self.argv)}\n-> exit {self.code}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _manifests(root: Path) -> Path:
    """A manifests directory holding the configs of the real Prometheus/Alertmanager captures."""
    (root / "config" / "prometheus").mkdir(parents=True)
    (root / "config" / "alertmanager").mkdir(parents=True)
    for name in ("prometheus.yml", "rules.yml"):
        shutil.copy(CONTRACTS / PROMETHEUS / name, root / "config" / "prometheus" / name)
    shutil.copy(CONTRACTS / ALERTMANAGER / "alertmanager.yml", root / "config" / "alertmanager")
    return root


@dataclass
class Runs:
    """The finished commands by name, and what the tests need to judge them."""

    ran: dict[str, Ran]
    closed_url: str
    token: str
    json_report: Path

    def __getitem__(self, name: str) -> Ran:
        return self.ran[name]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """Every command of this module, run concurrently."""
    base = tmp_path_factory.mktemp("cli")
    manifests = str(_manifests(base / "manifests"))
    bare_path = base / "bare-path"  # PATH with only a python: no Prometheus binaries
    bare_path.mkdir()
    (bare_path / "python").symlink_to(sys.executable)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKCHECK_")}
    env.update(COLUMNS="300", NO_COLOR="1")
    closed = f"http://127.0.0.1:{_closed_port()}"
    token = f"canary-{uuid.uuid4().hex}"
    token_file, json_report = base / "token", base / "report.json"
    token_file.write_text(token + "\n")
    with FakeServer(PROMETHEUS) as fake:
        fake.require_bearer("not-the-canary", echo_authorization=True)  # 401 whose body echoes the token
        commands: dict[str, tuple[list[str], dict[str, str]]] = {
            # First: the slowest (it waits out PrometheusConnect's retry back-off, see test_clients).
            "urls-closed-port": (
                ["verify", "--target", "urls", "--manifests", manifests, "--prometheus-url", closed], env),
            "kubernetes": (["verify", "--target", "kubernetes", "--manifests", manifests],
                           {**{k: v for k, v in env.items() if k != "KUBECONFIG"}, "HOME": str(base)}),
            "local-empty": (["verify", "--target", "local", "--manifests", manifests], env),
            "urls-without-prometheus": (["verify", "--target", "urls", "--manifests", manifests], env),
            "urls-unauthorized": (
                ["verify", "--target", "urls", "--manifests", manifests, "--prometheus-url", fake.url,
                 "--bearer-token-file", str(token_file), "--json", str(json_report)], env),
            "bad-time-scale": (["up", "--time-scale", "abc", "--manifests", manifests], env),
            "no-binaries": (["up", "--manifests", manifests], {**env, "PATH": str(bare_path)}),
            "status": (["status"], env),
            "down": (["down"], env),
            "deploy": (["deploy"],
                       {**{k: v for k, v in env.items() if k != "KUBECONFIG"}, "HOME": str(base)}),
        }
        started = {}
        try:
            for name, (args, cmd_env) in commands.items():
                argv = [str(STACKCHECK), *args]
                if args[0] != "deploy":
                    argv += ["--state-dir", str(base / "state" / name)]
                proc = subprocess.Popen(argv, env=cmd_env, cwd=base, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
                if name != "urls-closed-port":  # yield the CPU to the slow one; run while it sleeps
                    os.setpriority(os.PRIO_PROCESS, proc.pid, 5)
                started[name] = (argv, proc)
            done = {}
            for name, (argv, proc) in started.items():
                out, err = proc.communicate(timeout=60)
                done[name] = Ran(argv, proc.returncode, out, err)
        finally:
            for _, proc in started.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    yield Runs(done, closed, token, json_report)


@pytest.mark.parametrize("name", ["kubernetes", "local-empty", "urls-without-prometheus", "urls-closed-port",
                                  "urls-unauthorized", "bad-time-scale", "no-binaries", "status", "down",
                                  "deploy"])
def test_expected_failures_print_no_traceback(runs: Runs, name: str) -> None:
    """No expected failure prints a Python traceback."""
    assert "Traceback" not in runs[name].stderr, str(runs[name])


def test_verify_kubernetes_without_a_kubeconfig_says_how_to_give_one(runs: Runs) -> None:
    """`verify --target kubernetes` without any kubeconfig says to pass --kubeconfig or set KUBECONFIG."""
    ran = runs["kubernetes"]
    assert "UsageError: no kubeconfig:" in ran.err, str(ran)
    assert "pass --kubeconfig PATH or set KUBECONFIG" in " ".join(ran.err.split()), str(ran)


def test_verify_kubernetes_exits_2(runs: Runs) -> None:
    """`verify --target kubernetes` is a usage error: exit 2."""
    assert runs["kubernetes"].code == ExitCode.USAGE, str(runs["kubernetes"])


def test_verify_local_without_a_stack_says_run_up(runs: Runs) -> None:
    """`verify --target local` with an empty state dir tells to start the stack with `stackcheck up`."""
    ran = runs["local-empty"]
    assert "Unreachable: no local stack is running (nothing in " in ran.err, str(ran)
    assert "start one with `stackcheck up`" in ran.err, str(ran)


def test_verify_local_without_a_stack_exits_3(runs: Runs) -> None:
    """`verify --target local` with an empty state dir exits 3 (unreachable)."""
    assert runs["local-empty"].code == ExitCode.UNREACHABLE, str(runs["local-empty"])


def test_verify_urls_without_prometheus_url_names_the_option(runs: Runs) -> None:
    """`verify --target urls` without --prometheus-url names the missing option and its variable."""
    ran = runs["urls-without-prometheus"]
    assert ("UsageError: --target urls needs at least --prometheus-url (or STACKCHECK_PROMETHEUS_URL)"
            in ran.err), str(ran)


def test_verify_urls_without_prometheus_url_exits_2(runs: Runs) -> None:
    """`verify --target urls` without --prometheus-url is a usage error: exit 2."""
    assert runs["urls-without-prometheus"].code == ExitCode.USAGE, str(runs["urls-without-prometheus"])


def test_verify_urls_with_nothing_listening_names_the_url(runs: Runs) -> None:
    """`verify --target urls` against a closed port says Prometheus is unreachable at that URL."""
    ran, url = runs["urls-closed-port"], runs.closed_url
    assert (f"Unreachable: prometheus is unreachable at {url} (GET /-/ready: Failed to establish a new "
            "connection: [Errno 111] Connection refused); check that it is running and the URL is right"
            ) in ran.err, str(ran)


def test_verify_urls_with_nothing_listening_exits_3(runs: Runs) -> None:
    """`verify --target urls` against a closed port exits 3."""
    assert runs["urls-closed-port"].code == ExitCode.UNREACHABLE, str(runs["urls-closed-port"])


def test_verify_urls_with_a_refused_token_exits_3_naming_the_credentials(runs: Runs) -> None:
    """A Prometheus answering 401 ends `verify --target urls` with exit 3 and a hint about credentials."""
    ran = runs["urls-unauthorized"]
    assert ran.code == ExitCode.UNREACHABLE, str(ran)
    assert "refused the request (HTTP 401: Bearer ***); check the credentials (expired or wrong token?)" in (
        ran.err), str(ran)


def test_verify_output_and_json_report_do_not_contain_the_token(runs: Runs) -> None:
    """The bearer token read from --bearer-token-file appears neither on stdout/stderr nor in --json."""
    ran = runs["urls-unauthorized"]
    assert runs.json_report.is_file(), f"--json {runs.json_report} was not written\n{ran}"
    outputs = {"stdout": ran.stdout, "stderr": ran.stderr, "--json": runs.json_report.read_text()}
    for where, text in outputs.items():
        assert runs.token not in text and runs.token[-16:] not in text, f"the token leaked into {where}"


def test_up_with_a_bad_time_scale_is_a_usage_error(runs: Runs) -> None:
    """`up --time-scale abc` exits 2 naming the option and the bad value."""
    ran = runs["bad-time-scale"]
    assert ran.code == ExitCode.USAGE, str(ran)
    assert "UsageError: --time-scale 'abc' is not valid: expected a number above 0" in ran.err, str(ran)


def test_up_without_binaries_says_how_to_install_them(runs: Runs) -> None:
    """`up` without the Prometheus binaries exits 2 and gives the apt-get command."""
    ran = runs["no-binaries"]
    assert ran.code == ExitCode.USAGE, str(ran)
    assert "UsageError: not found on PATH: the Prometheus server (prometheus)" in ran.err, str(ran)
    assert ("Install with: sudo apt-get install prometheus prometheus-alertmanager "
            "prometheus-blackbox-exporter prometheus-node-exporter") in ran.err, str(ran)


def test_status_without_a_stack_exits_3(runs: Runs) -> None:
    """`status` with no stack exits 3 and tells to run `stackcheck up`."""
    ran = runs["status"]
    assert ran.code == ExitCode.UNREACHABLE, str(ran)
    assert "start one with `stackcheck up`" in ran.err, str(ran)


def test_down_without_a_stack_is_a_no_op(runs: Runs) -> None:
    """`down` with no stack exits 0 and says there is nothing to stop."""
    ran = runs["down"]
    assert ran.code == ExitCode.OK, str(ran)
    assert "nothing to stop" in ran.stdout, str(ran)


def test_deploy_without_a_kubeconfig_says_how_to_give_one(runs: Runs) -> None:
    """`deploy` with no kubeconfig anywhere exits 2 saying to pass --kubeconfig or set KUBECONFIG."""
    ran = runs["deploy"]
    assert ran.code == ExitCode.USAGE, str(ran)
    assert "UsageError: no kubeconfig:" in ran.err, str(ran)
    assert "pass --kubeconfig PATH or set KUBECONFIG" in " ".join(ran.err.split()), str(ran)


def test_an_error_of_no_documented_kind_shows_no_class_name() -> None:
    """A failure that is not one of the README's kinds (exit 1: a deploy that did not get ready) is its
    message alone: `StackcheckError:` tells a user nothing."""
    from stackcheck.errors import ApiError, StackcheckError, user_message

    assert user_message(StackcheckError("the deploy did not get ready")) == "the deploy did not get ready"
    assert user_message(ApiError("grafana answered 500")) == "grafana answered 500"


def test_a_documented_kind_leads_its_line_even_from_a_subclass() -> None:
    """UsageError, Unreachable and Unauthorized (README's exit codes 2 and 3) lead the line, also when a
    subclass (the proxy's ProxyError) is raised, so scripts can match them."""
    from stackcheck.errors import UsageError, user_message
    from stackcheck.kube.errors import ProxyError

    assert user_message(UsageError("bad --target")) == "UsageError: bad --target"
    proxied = ProxyError("no endpoints", status=503, reason="ServiceUnavailable", server_message="x")
    assert user_message(proxied) == "Unreachable: no endpoints"
