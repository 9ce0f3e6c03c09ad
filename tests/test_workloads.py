"""`stackcheck probe …` and `stackcheck sink …` run the workloads from the package (as the pods do)."""
from __future__ import annotations

import socket
import subprocess
import time

import requests

from tests.localstack import REPO, STACKCHECK


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*STACKCHECK, *args], capture_output=True, text=True, cwd=REPO, timeout=60,
                          check=False)


def test_probe_and_sink_take_their_own_options() -> None:
    """Every argument after the name goes to the workload: its own --help, its own usage errors (exit 2)."""
    probe, sink = _run("probe", "--help"), _run("sink", "--help")
    assert probe.returncode == 0 and "--otlp-endpoint" in probe.stdout
    assert sink.returncode == 0 and "--smtp" in sink.stdout
    bad = _run("probe", "--listen", "nowhere")
    assert bad.returncode == 2 and "HOST:PORT" in bad.stderr
    assert "probe" in _run("--help").stdout and "sink" in _run("--help").stdout


def test_stackcheck_probe_serves_metrics_and_stops_on_sigterm() -> None:
    """`stackcheck probe --listen` serves the Phase 5 metrics and exits 0 on SIGTERM, as in the pod."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([*STACKCHECK, "probe", "--listen", f"127.0.0.1:{port}"], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline, body = time.monotonic() + 30, ""
        while time.monotonic() < deadline and "http_requests_total" not in body:
            try:
                body = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except requests.RequestException:
                time.sleep(0.1)
        assert "http_requests_total" in body
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
