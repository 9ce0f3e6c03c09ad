"""Tests of the synthetic Phase 5 probe (stackcheck/probe.py): exposition, faults, logs, traces, exit codes.

Most tests run the probe in-process on an ephemeral port and drive the traffic simulator's ``tick``
directly (seeded, so deterministic); exit behaviour is tested on a real subprocess.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from stackcheck.probe import (
    FAULT_SPECS,
    MAX_BODY,
    METRICS_CONTENT_TYPE,
    JsonLog,
    Probe,
    ProbeConfig,
    ProbeServer,
    otlp_traces_url,
    parse_args,
)

PROBE_PY = Path(__file__).resolve().parents[1] / "stackcheck" / "probe.py"
PYTHON = [sys.executable, "-S"]  # no site-packages: the probe must run on a stock python image
SERVICE = "phase5-backend"
LE_VALUES = ["0.1", "0.5", "1.0", "2.0", "5.0", "+Inf"]
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never route loopback via a proxy

Labels = dict[str, str]
Sample = tuple[str, Labels, float]


# --------------------------------------------------------------------------- helpers
_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
_SAMPLE_RE = re.compile(rf"^({_NAME})(?:\{{((?:{_LABEL},)*{_LABEL})?\}})? (\S+)$")
_VALUE_RE = re.compile(r"^(?:[+-]?Inf|NaN|[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)$")


def parse_exposition(text: str) -> list[Sample]:
    """A strict parser for text format 0.0.4: every sample belongs to a family declared by HELP+TYPE."""
    assert text.endswith("\n")
    types: dict[str, str] = {}
    helped: set[str] = set()
    samples: list[Sample] = []
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split(" ")[2])
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram"), line
            assert name in helped and name not in types, line
            types[name] = kind
        else:
            match = _SAMPLE_RE.match(line)
            assert match, f"not a valid sample line: {line!r}"
            assert _VALUE_RE.match(match.group(len(match.groups()))), line
            name = match.group(1)
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            assert name in types or types.get(family) == "histogram", f"undeclared: {line!r}"
            labels = {
                k: v.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
                for k, v in re.findall(_LABEL, match.group(2) or "")
            }
            samples.append((name, labels, float(match.group(len(match.groups())))))
    return samples


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(v for n, lbl, v in samples if n == name and labels.items() <= lbl.items())


def series(samples: list[Sample], name: str) -> list[Labels]:
    return [lbl for n, lbl, _ in samples if n == name]


def call(method: str, url: str, body: Any = None, raw: bytes | None = None) -> tuple[int, str, bytes]:
    """One HTTP call; returns status, content type and body, also for 4xx/5xx."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with OPENER.open(request, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def make_probe(**overrides: Any) -> Probe:
    config = ProbeConfig(host="127.0.0.1", port=0, service=SERVICE, rate=20, pool_max=20, seed=7)
    config = ProbeConfig(**{**config.__dict__, **overrides})
    return Probe(config, log=JsonLog(config.service, stream=io.StringIO()), exit_func=_no_exit)


def _no_exit(code: int) -> None:
    raise AssertionError(f"in-process probe tried to exit({code})")


class Running:
    """An in-process probe served on 127.0.0.1:<ephemeral>."""

    def __init__(self, probe: Probe) -> None:
        self.probe = probe
        self.server = ProbeServer(("127.0.0.1", 0), probe)
        self.url = f"http://127.0.0.1:{self.server.port}"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def scrape(self) -> list[Sample]:
        status, _, body = call("GET", self.url + "/metrics")
        assert status == 200
        return parse_exposition(body.decode())

    def faults(self, method: str, body: Any = None, query: str = "") -> tuple[int, Any]:
        status, _, raw = call(method, f"{self.url}/faults{query}", body)
        return status, json.loads(raw)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.probe.stop()


@pytest.fixture
def probe() -> Iterator[Running]:
    running = Running(make_probe())
    yield running
    running.close()


class Receiver:
    """A tiny OTLP/HTTP collector stand-in that records each POST."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((self.path, self.headers["Content-Type"], body))
                reply = b'{"partialSuccess":{}}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


class Subprocess:
    """The probe as a real process; the start-up log line tells the bound port."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([*PYTHON, str(PROBE_PY), "--listen", "127.0.0.1:0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout
        first = json.loads(self.stdout.readline())
        assert first["msg"] == "probe started"
        self.url = "http://" + first["listen"]

    def wait(self) -> tuple[int, list[dict[str, Any]]]:
        out, _ = self.proc.communicate(timeout=5)
        return self.proc.returncode, [json.loads(line) for line in out.splitlines()]


# --------------------------------------------------------------------------- exposition
def test_first_scrape_parses_and_has_every_metric_and_label_set(probe: Running) -> None:
    """Before any traffic, every family and label combination the rules divide by already exists."""
    s = probe.scrape()
    for method, path, ok in [("GET", "/api/tasks", "200"), ("POST", "/api/tasks", "201"),
                             ("GET", "/api/reminders", "200")]:
        for status in (ok, "500"):
            want = {"method": method, "route": path, "status": status, "service": SERVICE}
            assert want in series(s, "http_requests_total")
            assert [lbl["le"] for lbl in series(s, "http_request_duration_seconds_bucket")
                    if lbl.items() >= want.items()] == LE_VALUES
            assert want in series(s, "http_request_duration_seconds_sum")
            assert want in series(s, "http_request_duration_seconds_count")
    for op in ("create", "update", "complete", "delete"):
        assert {"service": SERVICE, "operation": op} in series(s, "phase5_task_operations_total")
    for outcome in ("success", "failure"):
        assert {"service": SERVICE, "outcome": outcome} in series(s, "phase5_reminder_deliveries_total")
        assert {"service": SERVICE, "outcome": outcome} in series(s, "phase5_audit_log_writes_total")
    assert series(s, "phase5_websocket_connections") == [{"service": SERVICE}]
    pool = {"service": SERVICE, "pool": "primary"}
    assert series(s, "phase5_db_pool_connections_in_use") == [pool]
    assert series(s, "phase5_db_pool_connections_max") == [pool]
    kafka = {"service": SERVICE, "topic": "task-events", "partition": "0", "consumer_group": "phase5-agents"}
    assert series(s, "phase5_kafka_consumer_lag") == [kafka]
    faults = {lbl["fault"] for lbl in series(s, "phase5_probe_fault_active")}
    assert faults == set(FAULT_SPECS)
    assert value(s, "phase5_probe_fault_active") == 0


def test_metrics_content_type_is_exposition_0_0_4(probe: Running) -> None:
    """Prometheus 3 fails a scrape whose Content-Type it does not recognise."""
    status, content_type, _ = call("GET", probe.url + "/metrics")
    assert (status, content_type) == (200, METRICS_CONTENT_TYPE)


def test_label_values_are_escaped() -> None:
    """Quotes, backslashes and newlines in label values survive a strict parse unchanged."""
    weird = 'we"ird\\svc\nname'
    running = Running(make_probe(service=weird))
    try:
        assert {"service": weird} in series(running.scrape(), "phase5_websocket_connections")
    finally:
        running.close()


def test_histogram_buckets_are_cumulative_and_match_count(probe: Running) -> None:
    """Bucket counts never decrease with le, and +Inf equals _count."""
    probe.probe.traffic.tick(5)
    s = probe.scrape()
    for lbl in series(s, "http_request_duration_seconds_count"):
        buckets = [value(s, "http_request_duration_seconds_bucket", **lbl, le=le) for le in LE_VALUES]
        assert buckets == sorted(buckets)
        assert buckets[-1] == value(s, "http_request_duration_seconds_count", **lbl)


def test_healthy_traffic_is_fast_and_error_free(probe: Running) -> None:
    """Without faults, p95 < 0.5 s and no request fails, so no alert fires by itself."""
    probe.probe.traffic.tick(50)
    s = probe.scrape()
    total = value(s, "http_request_duration_seconds_count")
    assert total == 1000 == value(s, "http_requests_total")
    assert value(s, "http_request_duration_seconds_bucket", le="0.5") / total >= 0.95
    assert value(s, "http_requests_total", status="500") == 0


def test_seeded_traffic_is_deterministic() -> None:
    """Two probes with the same seed produce the same exposition after the same ticks."""
    a, b = make_probe(), make_probe()
    for p in (a, b):
        p.traffic.tick(3.7)
    assert a.render_metrics() == b.render_metrics()


def test_background_ticker_generates_traffic() -> None:
    """start() drives the simulator in real time."""
    p = make_probe(tick_interval=0.01, rate=1000)
    p.start()
    try:
        deadline = time.monotonic() + 5
        while value(parse_exposition(p.render_metrics()), "http_requests_total") == 0:
            assert time.monotonic() < deadline, "no traffic within 5 s"
            time.sleep(0.01)
    finally:
        p.stop()


# --------------------------------------------------------------------------- fault effects on metrics
def test_error_rate_fault_raises_500_share(probe: Running) -> None:
    """error_rate=0.5 makes about half of the requests 500s."""
    assert probe.faults("POST", {"error_rate": 0.5}) == (200, {"faults": {"error_rate": 0.5}, "run_ids": {}})
    probe.probe.traffic.tick(100)
    s = probe.scrape()
    share = value(s, "http_requests_total", status="500") / value(s, "http_requests_total")
    assert 0.4 < share < 0.6


def test_latency_fault_moves_histogram_above_one_second(probe: Running) -> None:
    """latency_s=1.5 puts every new observation above the le=1.0 bucket."""
    probe.faults("POST", {"latency_s": 1.5})
    probe.probe.traffic.tick(10)
    s = probe.scrape()
    assert value(s, "http_request_duration_seconds_count") == 200
    assert value(s, "http_request_duration_seconds_bucket", le="1.0") == 0
    assert value(s, "http_request_duration_seconds_bucket", le="2.0") == 200


def test_db_pool_saturation_makes_in_use_equal_max(probe: Running) -> None:
    """The saturation shows on the very next scrape and stays after ticks; clearing restores headroom."""
    pool = {"service": SERVICE, "pool": "primary"}
    before = probe.scrape()
    assert value(before, "phase5_db_pool_connections_in_use", **pool) <= 0.4 * 20
    probe.faults("POST", {"db_pool_saturation": True})
    assert value(probe.scrape(), "phase5_db_pool_connections_in_use", **pool) == 20
    probe.probe.traffic.tick(1)
    s = probe.scrape()
    assert value(s, "phase5_db_pool_connections_in_use", **pool) == 20
    assert value(s, "phase5_db_pool_connections_max", **pool) == 20
    probe.faults("DELETE")
    assert value(probe.scrape(), "phase5_db_pool_connections_in_use", **pool) < 20


def test_audit_failures_fail_every_audit_write(probe: Running) -> None:
    """While audit_failures is on, audit writes only count as failures."""
    probe.probe.traffic.tick(5)
    before = probe.scrape()
    assert value(before, "phase5_audit_log_writes_total", outcome="failure") == 0
    probe.faults("POST", {"audit_failures": True})
    probe.probe.traffic.tick(5)
    after = probe.scrape()
    assert value(after, "phase5_audit_log_writes_total", outcome="success") == \
        value(before, "phase5_audit_log_writes_total", outcome="success")
    assert value(after, "phase5_audit_log_writes_total", outcome="failure") > 0


def test_reminder_failure_rate_fails_reminders(probe: Running) -> None:
    """reminder_failure_rate=1 fails every reminder delivery; healthy traffic fails none."""
    probe.probe.traffic.tick(4)
    assert value(probe.scrape(), "phase5_reminder_deliveries_total", outcome="failure") == 0
    probe.faults("POST", {"reminder_failure_rate": 1.0})
    probe.probe.traffic.tick(4)
    s = probe.scrape()
    assert value(s, "phase5_reminder_deliveries_total", outcome="failure") == 20
    assert value(s, "phase5_reminder_deliveries_total", outcome="success") == 20


def test_consumer_lag_fault_sets_kafka_lag(probe: Running) -> None:
    """Healthy lag is 0..20; consumer_lag pins it to the given value."""
    assert value(probe.scrape(), "phase5_kafka_consumer_lag") <= 20
    probe.faults("POST", {"consumer_lag": 5000})
    probe.probe.traffic.tick(1)
    assert value(probe.scrape(), "phase5_kafka_consumer_lag", topic="task-events") == 5000


def test_fault_active_gauge_follows_switches(probe: Running) -> None:
    """phase5_probe_fault_active is 1 exactly for the switches that are on."""
    probe.faults("POST", {"error_rate": 0.2, "audit_failures": True, "latency_s": 0})
    s = probe.scrape()
    on = {lbl["fault"] for n, lbl, v in s if n == "phase5_probe_fault_active" and v == 1}
    assert on == {"error_rate", "audit_failures"}


def test_cpu_burn_starts_and_stops_a_busy_thread(probe: Running) -> None:
    """cpu_burn runs a busy loop only while it is on."""
    probe.faults("POST", {"cpu_burn": True})
    assert probe.probe.effects.cpu_burning
    probe.faults("DELETE")
    assert not probe.probe.effects.cpu_burning


def test_memory_hog_holds_and_frees_memory(probe: Running) -> None:
    """memory_hog_mb allocates that many MiB; 0 frees them."""
    probe.faults("POST", {"memory_hog_mb": 2})
    assert probe.probe.effects.memory_bytes == 2 << 20
    probe.faults("POST", {"memory_hog_mb": 0})
    assert probe.probe.effects.memory_bytes == 0


# --------------------------------------------------------------------------- fault API
def test_unknown_fault_is_rejected_with_400_naming_it(probe: Running) -> None:
    """A typo in a fault name is an error, not a silently ignored key."""
    status, body = probe.faults("POST", {"eror_rate": 0.5})
    assert status == 400
    assert body["error"].startswith("unknown fault 'eror_rate'; known: error_rate, latency_s")


@pytest.mark.parametrize(("key", "bad", "allowed"), [
    ("error_rate", 1.5, "a number from 0 to 1"),
    ("error_rate", True, "a number from 0 to 1"),
    ("latency_s", -1, "a number from 0 to 60"),
    ("db_pool_saturation", "yes", "true or false"),
    ("consumer_lag", 2.5, "an integer >= 0"),
    ("memory_hog_mb", 5000, "an integer from 0 to 4096"),
])
def test_bad_fault_value_is_rejected_naming_fault_and_range(probe: Running, key: str, bad: Any,
                                                            allowed: str) -> None:
    """A bad value gets 400 naming the fault and its allowed range, and changes nothing."""
    status, body = probe.faults("POST", {"error_rate": 0.1, key: bad})
    assert status == 400
    assert f"'{key}'" in body["error"] and body["error"].endswith(f"allowed: {allowed}")
    assert probe.faults("GET") == (200, {"faults": {}, "run_ids": {}})


def test_non_string_run_id_is_rejected(probe: Running) -> None:
    """run_id must be a string so DELETE ?run_id= can match it."""
    status, body = probe.faults("POST", {"run_id": 5, "error_rate": 0.1})
    assert status == 400 and "run_id" in body["error"]


def test_malformed_json_is_400(probe: Running) -> None:
    """A body that is not JSON gets a JSON 400."""
    status, content_type, body = call("POST", probe.url + "/faults", raw=b"{not json")
    assert (status, content_type) == (400, "application/json")
    assert "malformed JSON" in json.loads(body)["error"]


def test_unknown_path_is_404_json(probe: Running) -> None:
    """Unknown paths answer a JSON error, not an HTML page."""
    status, content_type, body = call("GET", probe.url + "/nope")
    assert (status, content_type) == (404, "application/json")
    assert "/nope" in json.loads(body)["error"]


def test_healthz_is_ok(probe: Running) -> None:
    """Liveness/readiness probes get a plain 200 ok."""
    status, _, body = call("GET", probe.url + "/healthz")
    assert (status, body.strip()) == (200, b"ok")


def test_get_faults_lists_active_switches_with_run_ids(probe: Running) -> None:
    """GET /faults shows active switches only, and which run set each; setting merges."""
    probe.faults("POST", {"run_id": "r1", "error_rate": 0.3})
    probe.faults("POST", {"audit_failures": True, "latency_s": 0})
    assert probe.faults("GET") == (200, {"faults": {"error_rate": 0.3, "audit_failures": True},
                                         "run_ids": {"error_rate": "r1"}})


def test_delete_by_run_id_clears_only_that_run(probe: Running) -> None:
    """DELETE ?run_id=a leaves switches set by other runs (or by none) in place."""
    probe.faults("POST", {"run_id": "a", "error_rate": 0.3, "consumer_lag": 100})
    probe.faults("POST", {"run_id": "b", "audit_failures": True})
    probe.faults("POST", {"latency_s": 2})
    status, body = probe.faults("DELETE", query="?run_id=a")
    assert (status, body) == (200, {"faults": {"audit_failures": True, "latency_s": 2.0},
                                    "run_ids": {"audit_failures": "b"}})


def test_delete_without_run_id_clears_all(probe: Running) -> None:
    """DELETE /faults clears every switch."""
    probe.faults("POST", {"run_id": "a", "error_rate": 0.3})
    probe.faults("POST", {"audit_failures": True})
    assert probe.faults("DELETE") == (200, {"faults": {}, "run_ids": {}})


# --------------------------------------------------------------------------- traces
def test_trace_posts_otlp_json_span() -> None:
    """POST /trace sends one OTLP/HTTP JSON span whose traceId is the one returned."""
    receiver = Receiver()
    running = Running(make_probe(otlp_endpoint=receiver.url))
    try:
        status, _, raw = call("POST", running.url + "/trace", {"run_id": "run-42"})
    finally:
        running.close()
        receiver.server.shutdown()
    assert status == 200
    trace_id = json.loads(raw)["trace_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
    [(path, content_type, body)] = receiver.requests
    assert (path, content_type) == ("/v1/traces", "application/json")
    [resource_spans] = json.loads(body)["resourceSpans"]
    service_name = {"key": "service.name", "value": {"stringValue": SERVICE}}
    assert resource_spans["resource"]["attributes"] == [service_name]
    [span] = resource_spans["scopeSpans"][0]["spans"]
    assert span["traceId"] == trace_id
    assert re.fullmatch(r"[0-9a-f]{16}", span["spanId"])
    assert span["kind"] == 2 and span["name"] == "GET /api/tasks"
    assert int(span["startTimeUnixNano"]) < int(span["endTimeUnixNano"])
    assert isinstance(span["startTimeUnixNano"], str) and isinstance(span["endTimeUnixNano"], str)
    assert {"key": "stackcheck.run_id", "value": {"stringValue": "run-42"}} in span["attributes"]


def test_trace_without_endpoint_is_409(probe: Running) -> None:
    """Without --otlp-endpoint a trace request is a conflict, not a silent success."""
    status, _, body = call("POST", probe.url + "/trace", {"run_id": "x"})
    assert status == 409
    assert json.loads(body) == {"error": "no OTLP endpoint configured; start the probe with --otlp-endpoint"}


def test_trace_send_failure_is_502() -> None:
    """An unreachable collector is reported as 502 with the cause."""
    receiver = Receiver()
    dead = receiver.url
    receiver.server.server_close()  # the port is now closed: connection refused
    running = Running(make_probe(otlp_endpoint=dead))
    try:
        status, _, body = call("POST", running.url + "/trace", {"run_id": "x"})
    finally:
        running.close()
    assert status == 502 and dead in json.loads(body)["error"]


@pytest.mark.parametrize(("given", "url"), [
    ("http://otel:4318", "http://otel:4318/v1/traces"),
    ("http://otel:4318/", "http://otel:4318/v1/traces"),
    ("http://otel:4318/v1/traces", "http://otel:4318/v1/traces"),
])
def test_otlp_endpoint_gets_v1_traces_appended(given: str, url: str) -> None:
    """A base OTLP endpoint gets the signal path, as the OTel exporter spec says."""
    assert otlp_traces_url(given) == url


def test_env_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """PROBE_* and OTEL_EXPORTER_OTLP_ENDPOINT fill in flags that were not given."""
    monkeypatch.setenv("PROBE_LISTEN", "0.0.0.0:9999")
    monkeypatch.setenv("PROBE_SERVICE", "phase5-agents")
    monkeypatch.setenv("PROBE_RATE", "3.5")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://jaeger:4318")
    config = parse_args([])
    assert (config.host, config.port, config.service, config.rate, config.otlp_endpoint) == \
        ("0.0.0.0", 9999, "phase5-agents", 3.5, "http://jaeger:4318/v1/traces")
    assert parse_args(["--rate", "7", "--listen", "127.0.0.1:1"]).rate == 7


# --------------------------------------------------------------------------- process behaviour
def test_log_writes_json_line_with_run_id_to_stdout() -> None:
    """POST /log puts one JSON line on stdout carrying the run_id (what Loki is searched for)."""
    proc = Subprocess("--rate", "0")
    status, _, body = call("POST", proc.url + "/log", {"run_id": "run-7", "message": "hello loki"})
    assert (status, json.loads(body)) == (200, {"logged": True})
    proc.proc.send_signal(signal.SIGTERM)
    _, lines = proc.wait()
    [line] = [rec for rec in lines if rec.get("run_id") == "run-7"]
    assert line["msg"] == "hello loki" and line["service"] == SERVICE and line["level"] == "info"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])


def test_sigterm_exits_0() -> None:
    """SIGTERM (what Kubernetes sends) is a clean shutdown."""
    proc = Subprocess()
    proc.proc.send_signal(signal.SIGTERM)
    code, lines = proc.wait()
    assert code == 0 and lines[-1]["msg"] == "probe stopping"


def test_crash_fault_exits_1_after_replying() -> None:
    """crash=true answers the request, logs a line with the run_id, then the process exits 1."""
    proc = Subprocess()
    status, _, body = call("POST", proc.url + "/faults", {"run_id": "boom", "crash": True})
    assert status == 200 and json.loads(body)["faults"] == {"crash": True}
    code, lines = proc.wait()
    assert code == 1
    assert any(rec["run_id"] == "boom" and "crash" in rec["msg"] for rec in lines if "run_id" in rec)


@pytest.mark.parametrize(("args", "env"), [
    (["--listen", "nohost"], {}),
    (["--listen", ":80"], {}),
    (["--rate", "-1"], {}),
    (["--pool-max", "0"], {}),
    (["--otlp-endpoint", "jaeger:4318"], {}),
    (["--bogus"], {}),
    ([], {"PROBE_RATE": "fast"}),
])
def test_bad_arguments_exit_2(args: list[str], env: dict[str, str]) -> None:
    """Bad flags or env values print a message on stderr and exit 2, like any argparse tool."""
    result = subprocess.run([*PYTHON, str(PROBE_PY), *args], capture_output=True, text=True, check=False,
                            env={**os.environ, **env}, timeout=5)
    assert result.returncode == 2
    assert "error:" in result.stderr and result.stdout == ""


# --------------------------------------------------------------------------- heartbeat and error logs
def test_heartbeat_sends_a_span_so_traces_stay_fresh() -> None:
    """With an OTLP endpoint, each summary period sends a heartbeat span (run_id "heartbeat")."""
    receiver = Receiver()
    probe = make_probe(otlp_endpoint=receiver.url)
    try:
        probe._heartbeat_trace()
    finally:
        receiver.server.shutdown()
    [(_, _, body)] = receiver.requests
    [span] = json.loads(body)["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert {"key": "stackcheck.run_id", "value": {"stringValue": "heartbeat"}} in span["attributes"]


def test_heartbeat_failure_is_logged_not_raised() -> None:
    """A tracing backend that is down costs one error log line, never the traffic thread."""
    stream = io.StringIO()
    config = ProbeConfig(host="127.0.0.1", port=0, service=SERVICE, rate=20, pool_max=20, seed=7,
                         otlp_endpoint="http://127.0.0.1:9")
    probe = Probe(config, log=JsonLog(SERVICE, stream=stream), exit_func=_no_exit)
    probe._heartbeat_trace()
    [line] = [json.loads(x) for x in stream.getvalue().splitlines() if "heartbeat" in x]
    assert line["level"] == "error"


def test_error_lines_carry_level_error() -> None:
    """JsonLog.error writes level "error", which the dashboards' error-log panels select."""
    stream = io.StringIO()
    JsonLog(SERVICE, stream=stream).error("requests failed", errors=3)
    record = json.loads(stream.getvalue())
    assert (record["level"], record["msg"], record["errors"]) == ("error", "requests failed", 3)


# --------------------------------------------------------------------------- request bodies
def raw_request(url: str, head: str, body: bytes = b"") -> tuple[int, dict[str, Any]]:
    """Send bytes exactly as given (what urllib would not: no Content-Length, hand-made chunks)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status_line, _, rest = reply.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


def chunked(payload: bytes, size: int = 7, trailer: str = "") -> bytes:
    """``payload`` as an RFC 9112 chunked body in ``size``-byte chunks."""
    parts = [f"{len(payload[i:i + size]):x}\r\n".encode() + payload[i:i + size] + b"\r\n"
             for i in range(0, len(payload), size)]
    return b"".join(parts) + b"0\r\n" + trailer.encode() + b"\r\n"


CHUNKED_HEAD = ("POST /faults HTTP/1.1\nHost: probe\nContent-Type: application/json\nTransfer-Encoding: "
                "chunked\n")


def test_a_chunked_fault_body_sets_the_switch(probe: Running) -> None:
    """A POST /faults with a chunked body (as kubectl create --raw sends it) sets the switch it carries."""
    status, body = raw_request(probe.url, CHUNKED_HEAD, chunked(b'{"run_id": "r1", "error_rate": 0.5}'))
    assert (status, body) == (200, {"faults": {"error_rate": 0.5}, "run_ids": {"error_rate": "r1"}})
    assert probe.faults("GET") == (200, {"faults": {"error_rate": 0.5}, "run_ids": {"error_rate": "r1"}})


def test_a_chunked_body_with_extensions_and_trailers_is_read(probe: Running) -> None:
    """Chunk extensions and trailer fields are allowed by RFC 9112 and skipped."""
    body = chunked(b'{"consumer_lag": 5000}', size=100).replace(b"\r\n", b";ext=1\r\n", 1)
    status, _ = raw_request(probe.url, CHUNKED_HEAD, body.replace(b"0\r\n\r\n", b"0\r\nX-Trailer: t\r\n\r\n"))
    assert status == 200 and probe.faults("GET")[1]["faults"] == {"consumer_lag": 5000}


def test_a_body_without_length_or_chunking_is_411_and_changes_nothing(probe: Running) -> None:
    """Neither Content-Length nor Transfer-Encoding: 411, never read as {} and answered 200."""
    status, body = raw_request(probe.url, "POST /faults HTTP/1.0\nHost: probe\n")
    assert status == 411 and "Content-Length or Transfer-Encoding: chunked" in body["error"]
    assert probe.faults("GET") == (200, {"faults": {}, "run_ids": {}})


def test_a_malformed_chunk_size_is_a_400(probe: Running) -> None:
    """A chunk size that is not hex is refused, naming it."""
    status, body = raw_request(probe.url, CHUNKED_HEAD, b"zz\r\n{}\r\n0\r\n\r\n")
    assert status == 400 and body["error"] == "bad chunk size b'zz' in a chunked body"


def test_an_oversized_chunked_body_is_a_413(probe: Running) -> None:
    """The body limit holds for chunked bodies too."""
    status, _ = raw_request(probe.url, CHUNKED_HEAD, f"{MAX_BODY + 1:x}\r\n".encode())
    assert status == 413


def test_an_explicitly_empty_body_keeps_its_defaults(probe: Running) -> None:
    """Content-Length: 0 is an empty body on purpose: POST /log writes its default line."""
    status, body = raw_request(probe.url, "POST /log HTTP/1.0\nHost: probe\nContent-Length: 0\n")
    assert (status, body) == (200, {"logged": True})
