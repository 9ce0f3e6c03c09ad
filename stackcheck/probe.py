"""The synthetic Phase 5 workload: metrics, JSON logs, OTLP spans and fault switches.

Standard library only: the same file runs locally and, unchanged, in a stock ``python:3.x-slim``
container mounted from a ConfigMap, so it writes the Prometheus exposition format and OTLP/HTTP JSON
itself. The contract (metric names, labels, HTTP API) is in docs/architecture.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, ClassVar, TextIO
from urllib.parse import parse_qs, urlsplit

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0)
TASK_OPERATIONS = ("create", "update", "complete", "delete")
OUTCOMES = ("success", "failure")
MAX_BODY = 1 << 20

JsonObject = dict[str, Any]
FaultValue = bool | int | float
LabelKey = tuple[tuple[str, str], ...]


# --------------------------------------------------------------------------- logging
class JsonLog:
    """One JSON object per line on stdout, flushed at once so Loki sees it while the pod lives."""

    def __init__(self, service: str, stream: TextIO | None = None) -> None:
        self.service = service
        self._stream = stream
        self._lock = threading.Lock()

    def info(self, msg: str, **fields: Any) -> None:
        self.write("info", msg, **fields)

    def error(self, msg: str, **fields: Any) -> None:
        """Error-level lines are what the dashboards' error-log panels select."""
        self.write("error", msg, **fields)

    def write(self, level: str, msg: str, **fields: Any) -> None:
        record: JsonObject = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": level,
            "service": self.service,
            "msg": msg,
        }
        for key, value in fields.items():
            record.setdefault(key, value)
        stream = self._stream or sys.stdout  # resolved late so redirected stdout is honoured
        with self._lock:
            stream.write(json.dumps(record) + "\n")
            stream.flush()


# --------------------------------------------------------------------------- metrics
@dataclass
class _Histogram:
    counts: list[int]
    total: float = 0.0
    count: int = 0


class _Family:
    """One metric family; series are keyed by sorted label pairs so label order never matters."""

    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.name, self.kind, self.help = name, kind, help_text
        self.values: dict[LabelKey, float] = {}
        self.histograms: dict[LabelKey, _Histogram] = {}


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _format_labels(key: LabelKey) -> str:
    if not key:
        return ""
    return "{" + ",".join(f'{name}="{_escape_label(value)}"' for name, value in key) + "}"


class MetricsRegistry:
    """A minimal thread-safe registry that renders text exposition format 0.0.4."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._families: dict[str, _Family] = {}

    def declare(self, name: str, kind: str, help_text: str) -> None:
        self._families[name] = _Family(name, kind, help_text)

    def touch(self, name: str, labels: Mapping[str, str]) -> None:
        """Create a zero series, so ratios over rate() are defined before the first event."""
        family, key = self._families[name], tuple(sorted(labels.items()))
        with self._lock:
            if family.kind == "histogram":
                family.histograms.setdefault(key, _Histogram([0] * len(BUCKETS)))
            else:
                family.values.setdefault(key, 0.0)

    def inc(self, name: str, labels: Mapping[str, str], amount: float = 1.0) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            values = self._families[name].values
            values[key] = values.get(key, 0.0) + amount

    def set(self, name: str, labels: Mapping[str, str], value: float) -> None:
        with self._lock:
            self._families[name].values[tuple(sorted(labels.items()))] = value

    def observe(self, name: str, labels: Mapping[str, str], value: float) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            hist = self._families[name].histograms.setdefault(key, _Histogram([0] * len(BUCKETS)))
            for i, bound in enumerate(BUCKETS):
                if value <= bound:
                    hist.counts[i] += 1
            hist.total += value
            hist.count += 1

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for family in self._families.values():
                help_text = family.help.replace("\\", "\\\\").replace("\n", "\\n")
                lines += [f"# HELP {family.name} {help_text}", f"# TYPE {family.name} {family.kind}"]
                if family.kind == "histogram":
                    lines += _render_histograms(family)
                else:
                    lines += [f"{family.name}{_format_labels(key)} {_format_value(value)}"
                              for key, value in family.values.items()]
        return "\n".join(lines) + "\n"


def _render_histograms(family: _Family) -> list[str]:
    lines: list[str] = []
    for key, hist in family.histograms.items():
        bounds = [(repr(b), n) for b, n in zip(BUCKETS, hist.counts)] + [("+Inf", hist.count)]
        lines += [f"{family.name}_bucket{_format_labels(key + (('le', le),))} {n}" for le, n in bounds]
        lines.append(f"{family.name}_sum{_format_labels(key)} {_format_value(hist.total)}")
        lines.append(f"{family.name}_count{_format_labels(key)} {hist.count}")
    return lines


# --------------------------------------------------------------------------- faults
class ProbeError(Exception):
    """An error the HTTP layer turns into ``{"error": ...}`` with ``status``."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


@dataclass(frozen=True)
class FaultSpec:
    """The type and allowed range of one fault switch."""

    kind: str  # "bool", "int" or "float"
    low: float = 0
    high: float | None = None

    def describe(self) -> str:
        if self.kind == "bool":
            return "true or false"
        noun = "an integer" if self.kind == "int" else "a number"
        if self.high is None:
            return f"{noun} >= {self.low:g}"
        return f"{noun} from {self.low:g} to {self.high:g}"

    def parse(self, name: str, value: object) -> FaultValue:
        parsed = self._coerce(value)
        if parsed is None:
            raise ProbeError(f"bad value for fault {name!r}: {json.dumps(value)}; allowed: {self.describe()}")
        return parsed

    def _coerce(self, value: object) -> FaultValue | None:
        """JSON booleans are never numbers here: ``"error_rate": true`` is a mistake, not 1.0."""
        if self.kind == "bool" or isinstance(value, bool):
            return value if self.kind == "bool" and isinstance(value, bool) else None
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return None
        if (self.kind == "int" and not float(value).is_integer()) or value < self.low:
            return None
        if self.high is not None and value > self.high:
            return None
        return int(value) if self.kind == "int" else float(value)


FAULT_SPECS: dict[str, FaultSpec] = {
    "error_rate": FaultSpec("float", 0, 1),
    "latency_s": FaultSpec("float", 0, 60),
    "db_pool_saturation": FaultSpec("bool"),
    "audit_failures": FaultSpec("bool"),
    "reminder_failure_rate": FaultSpec("float", 0, 1),
    "consumer_lag": FaultSpec("int", 0),
    "crash": FaultSpec("bool"),
    "cpu_burn": FaultSpec("bool"),
    "memory_hog_mb": FaultSpec("int", 0, 4096),
}


def parse_fault_request(payload: object) -> tuple[dict[str, FaultValue], str | None]:
    """Validate a POST /faults body completely before anything changes (all or nothing)."""
    if not isinstance(payload, dict):
        raise ProbeError("body must be a JSON object")
    run_id = payload.get("run_id")
    if run_id is not None and not isinstance(run_id, str):
        raise ProbeError("bad value for 'run_id': must be a string")
    changes: dict[str, FaultValue] = {}
    for name, value in payload.items():
        if name == "run_id":
            continue
        if name not in FAULT_SPECS:
            raise ProbeError(f"unknown fault {name!r}; known: {', '.join(FAULT_SPECS)}")
        changes[name] = FAULT_SPECS[name].parse(name, value)
    return changes, run_id


class FaultState:
    """The active switches and which run set each; a zero/false value switches a fault off."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[str, FaultValue] = {}
        self._run_ids: dict[str, str] = {}

    def apply(self, changes: Mapping[str, FaultValue], run_id: str | None) -> None:
        with self._lock:
            for name, value in changes.items():
                self._run_ids.pop(name, None)
                if not value:
                    self._values.pop(name, None)
                    continue
                self._values[name] = value
                if run_id:
                    self._run_ids[name] = run_id

    def clear(self, run_id: str | None = None) -> list[str]:
        """Clear every switch, or only those ``run_id`` set, so parallel runs don't undo each other."""
        with self._lock:
            names = [n for n in self._values if run_id is None or self._run_ids.get(n) == run_id]
            for name in names:
                self._values.pop(name)
                self._run_ids.pop(name, None)
            return names

    def snapshot(self) -> dict[str, FaultValue]:
        with self._lock:
            return dict(self._values)

    def to_json(self) -> JsonObject:
        with self._lock:
            return {"faults": dict(self._values), "run_ids": dict(self._run_ids)}


class FaultEffects:
    """The faults that act on the process itself: a CPU busy loop and a held memory block."""

    def __init__(self) -> None:
        self._burn_stop: threading.Event | None = None
        self._hog = bytearray()
        self._lock = threading.Lock()

    @property
    def cpu_burning(self) -> bool:
        return self._burn_stop is not None

    @property
    def memory_bytes(self) -> int:
        return len(self._hog)

    def sync(self, faults: Mapping[str, FaultValue]) -> None:
        with self._lock:
            self._sync_cpu(bool(faults.get("cpu_burn")))
            self._sync_memory(int(faults.get("memory_hog_mb", 0)))

    def _sync_cpu(self, wanted: bool) -> None:
        if wanted and self._burn_stop is None:
            self._burn_stop = threading.Event()
            threading.Thread(target=_burn, args=(self._burn_stop,), name="cpu-burn", daemon=True).start()
        elif not wanted and self._burn_stop is not None:
            self._burn_stop.set()
            self._burn_stop = None

    def _sync_memory(self, megabytes: int) -> None:
        size = megabytes << 20
        if size == len(self._hog):
            return
        self._hog = bytearray()
        try:
            self._hog = bytearray(size)
        except MemoryError as exc:
            raise ProbeError(f"memory_hog_mb: cannot allocate {megabytes} MiB", status=500) from exc
        self._hog[::4096] = b"\x01" * len(range(0, size, 4096))  # touch every page: count in working set


def _burn(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


# --------------------------------------------------------------------------- traffic
@dataclass(frozen=True)
class Route:
    method: str
    path: str
    weight: float
    ok_status: str
    operation: str | None = None


ROUTES = (
    Route("GET", "/api/tasks", 5, "200"),
    Route("POST", "/api/tasks", 2, "201", "create"),
    Route("PUT", "/api/tasks/{id}", 2, "200", "update"),
    Route("POST", "/api/tasks/{id}/complete", 1, "200", "complete"),
    Route("DELETE", "/api/tasks/{id}", 1, "200", "delete"),
    Route("GET", "/api/reminders", 2, "200"),
)


class TrafficSimulator:
    """Turns elapsed time into Phase 5 events; ``tick`` is deterministic for a seeded ``rng``."""

    def __init__(self, metrics: MetricsRegistry, faults: FaultState, service: str,
                 rate: float, pool_max: int, rng: random.Random) -> None:
        self._metrics, self._faults, self._rng = metrics, faults, rng
        self.service, self.rate, self.pool_max = service, rate, pool_max
        self._lock = threading.Lock()
        self._request_carry = self._reminder_carry = 0.0
        self._websockets = 40
        self.requests = self.errors = 0
        self._declare()
        self.update_gauges()

    def _declare(self) -> None:
        m, svc = self._metrics, {"service": self.service}
        m.declare("http_requests_total", "counter", "HTTP requests served by the Phase 5 backend.")
        m.declare("http_request_duration_seconds", "histogram", "HTTP request latency in seconds.")
        m.declare("phase5_task_operations_total", "counter", "Task operations performed.")
        m.declare("phase5_reminder_deliveries_total", "counter", "Reminder deliveries by outcome.")
        m.declare("phase5_audit_log_writes_total", "counter", "Audit log writes by outcome.")
        m.declare("phase5_websocket_connections", "gauge", "Open websocket connections.")
        m.declare("phase5_db_pool_connections_in_use", "gauge", "Database pool connections in use.")
        m.declare("phase5_db_pool_connections_max", "gauge", "Database pool size.")
        m.declare("phase5_kafka_consumer_lag", "gauge", "Messages the agents' consumer is behind.")
        for route in ROUTES:
            for status in (route.ok_status, "500"):
                labels = self._http_labels(route, status)
                m.touch("http_requests_total", labels)
                m.touch("http_request_duration_seconds", labels)
        for operation in TASK_OPERATIONS:
            m.touch("phase5_task_operations_total", {**svc, "operation": operation})
        for outcome in OUTCOMES:
            m.touch("phase5_reminder_deliveries_total", {**svc, "outcome": outcome})
            m.touch("phase5_audit_log_writes_total", {**svc, "outcome": outcome})

    def _http_labels(self, route: Route, status: str) -> dict[str, str]:
        return {"method": route.method, "route": route.path, "status": status, "service": self.service}

    def tick(self, dt: float) -> None:
        """Simulate ``dt`` seconds: ``rate * dt`` requests, a quarter as many reminders, fresh gauges."""
        faults = self._faults.snapshot()
        with self._lock:
            self._request_carry += self.rate * dt
            self._reminder_carry += self.rate * dt / 4
            for _ in range(int(self._request_carry)):
                self._request(faults)
            for _ in range(int(self._reminder_carry)):
                failed = self._rng.random() < float(faults.get("reminder_failure_rate", 0.0))
                self._count("phase5_reminder_deliveries_total", "failure" if failed else "success")
            self._request_carry %= 1
            self._reminder_carry %= 1
        self.update_gauges(faults)

    def _request(self, faults: Mapping[str, FaultValue]) -> None:
        route = self._rng.choices(ROUTES, weights=[r.weight for r in ROUTES])[0]
        failed = self._rng.random() < float(faults.get("error_rate", 0.0))
        duration = self._healthy_duration() + float(faults.get("latency_s", 0.0))
        labels = self._http_labels(route, "500" if failed else route.ok_status)
        self._metrics.inc("http_requests_total", labels)
        self._metrics.observe("http_request_duration_seconds", labels, duration)
        self.requests += 1
        self.errors += failed
        if route.operation and not failed:
            operation = {"service": self.service, "operation": route.operation}
            self._metrics.inc("phase5_task_operations_total", operation)
            audit_ok = not faults.get("audit_failures")
            self._count("phase5_audit_log_writes_total", "success" if audit_ok else "failure")

    def _healthy_duration(self) -> float:
        """Mostly 20-300 ms, never above 450 ms, so a healthy p95 stays well under 0.5 s."""
        return min(0.02 + self._rng.expovariate(1 / 0.06), 0.45)

    def _count(self, name: str, outcome: str) -> None:
        self._metrics.inc(name, {"service": self.service, "outcome": outcome})

    def update_gauges(self, faults: Mapping[str, FaultValue] | None = None) -> None:
        """Refresh the gauges; also called on fault changes so the next scrape already shows them."""
        faults = self._faults.snapshot() if faults is None else faults
        svc, pool = {"service": self.service}, {"service": self.service, "pool": "primary"}
        with self._lock:
            self._websockets = max(35, min(45, self._websockets + self._rng.choice((-1, 0, 1))))
            busy = round(self.pool_max * self._rng.uniform(0.2, 0.4))
            if faults.get("db_pool_saturation"):
                busy = self.pool_max
            lag = int(faults.get("consumer_lag", 0)) or self._rng.randint(0, 20)
        self._metrics.set("phase5_websocket_connections", svc, self._websockets)
        self._metrics.set("phase5_db_pool_connections_in_use", pool, busy)
        self._metrics.set("phase5_db_pool_connections_max", pool, self.pool_max)
        self._metrics.set("phase5_kafka_consumer_lag", {**svc, "topic": "task-events", "partition": "0",
                                                        "consumer_group": "phase5-agents"}, lag)


class Ticker:
    """Background thread driving the simulator in real time and logging a summary every ~10 s."""

    def __init__(self, traffic: TrafficSimulator, log: JsonLog, interval: float = 0.1,
                 summary_every: float = 10.0, heartbeat: Callable[[], None] | None = None) -> None:
        self._traffic, self._log = traffic, log
        self._interval, self._summary_every = interval, summary_every
        self._heartbeat = heartbeat
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        last = last_summary = time.monotonic()
        requests = errors = 0
        while not self._stop.wait(self._interval):
            now = time.monotonic()
            self._traffic.tick(now - last)
            last = now
            if now - last_summary >= self._summary_every:
                sent, failed = self._traffic.requests - requests, self._traffic.errors - errors
                self._log.info("traffic summary", requests=sent, errors=failed,
                               rps=round(sent / (now - last_summary), 2))
                if failed:
                    self._log.error("requests failed", errors=failed)
                if self._heartbeat is not None:
                    self._heartbeat()
                requests, errors, last_summary = self._traffic.requests, self._traffic.errors, now


# --------------------------------------------------------------------------- OTLP
def otlp_traces_url(endpoint: str) -> str:
    """OTEL_EXPORTER_OTLP_ENDPOINT is a base URL; the OTel spec appends the signal path."""
    return endpoint if endpoint.rstrip("/").endswith("/v1/traces") else endpoint.rstrip("/") + "/v1/traces"


def build_span(service: str, run_id: str, name: str, trace_id: str, span_id: str,
               start_ns: int, end_ns: int) -> JsonObject:
    """One server span in OTLP/JSON (hex ids, 64-bit times as strings, integer enum)."""
    def attr(key: str, value: str) -> JsonObject:
        return {"key": key, "value": {"stringValue": value}}

    method, _, route = name.partition(" ")
    span = {"traceId": trace_id, "spanId": span_id, "name": name, "kind": 2,
            "startTimeUnixNano": str(start_ns), "endTimeUnixNano": str(end_ns),
            "attributes": [attr("stackcheck.run_id", run_id), attr("http.request.method", method),
                           attr("http.route", route)]}
    return {"resourceSpans": [{"resource": {"attributes": [attr("service.name", service)]},
                               "scopeSpans": [{"scope": {"name": "stackcheck.probe"}, "spans": [span]}]}]}


class OtlpSender:
    """POSTs OTLP/HTTP JSON; proxies are ignored because the collector is always a direct peer."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url, self._timeout = url, timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def send(self, payload: JsonObject) -> None:
        request = urllib.request.Request(self.url, data=json.dumps(payload).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode(errors="replace")
            raise ProbeError(f"OTLP endpoint {self.url} answered {exc.code}: {detail}", 502) from exc
        except (OSError, ValueError) as exc:
            raise ProbeError(f"cannot send to OTLP endpoint {self.url}: {exc}"[:400], 502) from exc


# --------------------------------------------------------------------------- the probe
@dataclass(frozen=True)
class ProbeConfig:
    host: str = "127.0.0.1"
    port: int = 29400
    service: str = "phase5-backend"
    otlp_endpoint: str | None = None
    rate: float = 20.0
    pool_max: int = 20
    seed: int | None = None
    tick_interval: float = 0.1


class Probe:
    """The application behind the HTTP API: metrics, faults, traffic, logs and traces."""

    def __init__(self, config: ProbeConfig, log: JsonLog | None = None,
                 exit_func: Callable[[int], object] = os._exit) -> None:
        self.config = config
        self.log = log or JsonLog(config.service)
        self.metrics = MetricsRegistry()
        self.faults = FaultState()
        self.effects = FaultEffects()
        self.traffic = TrafficSimulator(self.metrics, self.faults, config.service, config.rate,
                                        config.pool_max, random.Random(config.seed))
        self.metrics.declare("phase5_probe_fault_active", "gauge", "1 while the probe's fault switch is on.")
        self.sender = OtlpSender(otlp_traces_url(config.otlp_endpoint)) if config.otlp_endpoint else None
        self._exit = exit_func
        self._changing = threading.Lock()  # keeps switches and their effects (threads, memory) in step
        self._ticker = Ticker(self.traffic, self.log, config.tick_interval,
                              heartbeat=self._heartbeat_trace if self.sender is not None else None)

    def start(self) -> None:
        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()
        self.effects.sync({})

    def render_metrics(self) -> str:
        active = self.faults.snapshot()
        for name in FAULT_SPECS:
            self.metrics.set("phase5_probe_fault_active", {"service": self.config.service, "fault": name},
                             1 if active.get(name) else 0)
        return self.metrics.render()

    def set_faults(self, payload: object) -> tuple[JsonObject, bool]:
        """Merge validated switches; returns the new state and whether to crash after replying."""
        changes, run_id = parse_fault_request(payload)
        with self._changing:
            self.effects.sync({**self.faults.snapshot(), **changes})  # may fail: before the state changes
            self.faults.apply(changes, run_id)
            self.traffic.update_gauges()
        self.log.info("faults set", run_id=run_id, changes=changes)
        return self.faults.to_json(), bool(changes.get("crash"))

    def clear_faults(self, run_id: str | None) -> JsonObject:
        with self._changing:
            cleared = self.faults.clear(run_id)
            self.effects.sync(self.faults.snapshot())
            self.traffic.update_gauges()
        self.log.info("faults cleared", run_id=run_id, cleared=cleared)
        return self.faults.to_json()

    def crash(self, run_id: str | None) -> None:
        self.log.info("crash fault: exiting with status 1", run_id=run_id)
        self._exit(1)

    def write_log(self, payload: object) -> None:
        body = _object(payload)
        self.log.info(_string(body, "message", "log requested"), run_id=_string(body, "run_id", ""))

    def send_trace(self, payload: object) -> str:
        if self.sender is None:
            raise ProbeError("no OTLP endpoint configured; start the probe with --otlp-endpoint", 409)
        run_id = _string(_object(payload), "run_id", "")
        # os.urandom, not the secrets module: run as a script, a sibling stackcheck/secrets.py shadows it
        trace_id, span_id = os.urandom(16).hex(), os.urandom(8).hex()
        end_ns = time.time_ns()
        self.sender.send(build_span(self.config.service, run_id, "GET /api/tasks", trace_id, span_id,
                                    end_ns - 42_000_000, end_ns))
        self.log.info("trace sent", run_id=run_id, trace_id=trace_id)
        return trace_id


    def _heartbeat_trace(self) -> None:
        """A span every summary period, so traces stay fresh on a stack nobody calls."""
        try:
            self.send_trace({"run_id": "heartbeat"})
        except Exception as exc:  # noqa: BLE001 - a tracing backend being down must not stop traffic
            self.log.error("heartbeat trace failed", error=str(exc)[:200])


def _object(payload: object) -> dict[str, object]:
    if not isinstance(payload, dict):
        raise ProbeError("body must be a JSON object")
    return payload


def _string(body: Mapping[str, object], key: str, default: str) -> str:
    value = body.get(key, default)
    if not isinstance(value, str):
        raise ProbeError(f"bad value for {key!r}: must be a string")
    return value


# --------------------------------------------------------------------------- HTTP
class ProbeHandler(BaseHTTPRequestHandler):
    """Maps the HTTP API onto ``Probe``; never sleeps, latency faults live only in the numbers."""

    server: ProbeServer
    server_version = "stackcheck-probe/1"
    ROUTES: ClassVar[dict[str, dict[str, str]]] = {
        "/metrics": {"GET": "get_metrics"},
        "/healthz": {"GET": "get_healthz"},
        "/faults": {"GET": "get_faults", "POST": "post_faults", "DELETE": "delete_faults"},
        "/log": {"POST": "post_log"},
        "/trace": {"POST": "post_trace"},
    }

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: per-request access lines would drown the JSON logs."""

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        methods = self.ROUTES.get(path)
        try:
            if methods is None:
                raise ProbeError(f"no such path {path!r}", 404)
            if method not in methods:
                raise ProbeError(f"{method} not allowed on {path}; use {', '.join(methods)}", 405)
            getattr(self, methods[method])()
        except ProbeError as exc:
            self._send_json(exc.status, {"error": str(exc)})

    @property
    def probe(self) -> Probe:
        return self.server.probe

    def get_metrics(self) -> None:
        self._send(200, self.probe.render_metrics().encode(), METRICS_CONTENT_TYPE)

    def get_healthz(self) -> None:
        self._send(200, b"ok\n", "text/plain; charset=utf-8")

    def get_faults(self) -> None:
        self._send_json(200, self.probe.faults.to_json())

    def post_faults(self) -> None:
        state, crash = self.probe.set_faults(self._read_json())
        self._send_json(200, state)
        if crash:
            self.wfile.flush()
            self.probe.crash(state["run_ids"].get("crash"))

    def delete_faults(self) -> None:
        run_ids = parse_qs(urlsplit(self.path).query).get("run_id")
        self._send_json(200, self.probe.clear_faults(run_ids[0] if run_ids else None))

    def post_log(self) -> None:
        self.probe.write_log(self._read_json())
        self._send_json(200, {"logged": True})

    def post_trace(self) -> None:
        self._send_json(200, {"trace_id": self.probe.send_trace(self._read_json())})

    def _read_json(self) -> object:
        """The request body as JSON: ``Content-Length`` bytes, or a chunked body (``kubectl create --raw``
        sends one, and the API server's pod proxy passes it on as is). Neither header is a 411: reading a
        missing body as ``{}`` once answered 200 to a fault POST that changed nothing."""
        raw = self._read_body()
        if not raw.strip():
            raw = b"{}"  # an explicit empty body (Content-Length: 0, or a lone last-chunk): defaults
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ProbeError(f"malformed JSON: {exc}") from exc

    def _read_body(self) -> bytes:
        encoding = (self.headers.get("Transfer-Encoding") or "").lower()
        if encoding:
            if [part.strip() for part in encoding.split(",")][-1] != "chunked":
                raise ProbeError(f"unsupported Transfer-Encoding {encoding!r}; "
                                 "send chunked or Content-Length", 501)
            return self._read_chunked()
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            raise ProbeError("a request body needs Content-Length or Transfer-Encoding: chunked", 411)
        if not length_header.strip().isdigit():
            raise ProbeError(f"bad Content-Length {length_header!r}")
        length = int(length_header)
        if length > MAX_BODY:
            raise ProbeError(f"body larger than {MAX_BODY} bytes", 413)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        """RFC 9112 §7.1: ``<hex size>[;ext]CRLF <data> CRLF`` … ``0 CRLF`` [trailers] ``CRLF``."""
        body = bytearray()
        while True:
            size_line = self.rfile.readline(1024)
            size_text = size_line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProbeError(f"bad chunk size {size_text[:20]!r} in a chunked body") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailer fields, up to the empty line
                    pass
                return bytes(body)
            if len(body) + size > MAX_BODY:
                raise ProbeError(f"body larger than {MAX_BODY} bytes", 413)
            chunk = self.rfile.read(size)
            if len(chunk) != size or self.rfile.read(2) != b"\r\n":
                raise ProbeError("truncated chunked body")
            body += chunk

    def _send_json(self, status: int, body: JsonObject) -> None:
        self._send(status, json.dumps(body).encode() + b"\n", "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class ProbeServer(ThreadingHTTPServer):
    """The HTTP server; bind to port 0 and read ``port`` for an ephemeral test instance."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], probe: Probe) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.probe = probe
        super().__init__(address, ProbeHandler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


# --------------------------------------------------------------------------- command line
def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT (e.g. 127.0.0.1:29400), got {value!r}")
    return host, int(port)


def _bounded(kind: Callable[[str], float], low: float, what: str) -> Callable[[str], Any]:
    def parse(value: str) -> float:
        try:
            number = kind(value)
        except ValueError:
            number = math.nan
        if not number >= low or not math.isfinite(number):
            raise argparse.ArgumentTypeError(f"expected {what} >= {low:g}, got {value!r}")
        return number
    return parse


def _endpoint(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"expected an http(s) URL, got {value!r}")
    return otlp_traces_url(value)


def parse_args(argv: list[str] | None = None) -> ProbeConfig:
    """CLI flags with PROBE_* / OTEL_* environment fallbacks; errors exit 2 via argparse."""
    env = os.environ
    parser = argparse.ArgumentParser(prog="probe.py", description="Synthetic Phase 5 workload (stackcheck).")
    parser.add_argument("--listen", type=_listen, default=env.get("PROBE_LISTEN", "127.0.0.1:29400"),
                        help="HOST:PORT to serve on (env PROBE_LISTEN; default 127.0.0.1:29400)")
    parser.add_argument("--service", default=env.get("PROBE_SERVICE", "phase5-backend"),
                        help="service label and OTLP service.name (env PROBE_SERVICE)")
    parser.add_argument("--otlp-endpoint", type=_endpoint, default=env.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
                        help="OTLP/HTTP traces URL (env OTEL_EXPORTER_OTLP_ENDPOINT; /v1/traces appended)")
    parser.add_argument("--rate", type=_bounded(float, 0, "requests per second"),
                        default=env.get("PROBE_RATE", "20"), help="simulated requests/s (env PROBE_RATE)")
    parser.add_argument("--pool-max", type=_bounded(int, 1, "an integer"), default=20, help="DB pool size")
    parser.add_argument("--seed", type=int, default=None, help="seed the simulator (reproducible traffic)")
    args = parser.parse_args(argv)
    if not args.service:
        parser.error("--service must not be empty")
    host, port = args.listen
    return ProbeConfig(host=host, port=port, service=args.service, otlp_endpoint=args.otlp_endpoint,
                       rate=float(args.rate), pool_max=int(args.pool_max), seed=args.seed)


def run(config: ProbeConfig) -> int:
    """Serve until SIGTERM/SIGINT (exit 0); the HTTP server runs on a thread so signals stay in main."""
    probe = Probe(config)
    try:
        server = ProbeServer((config.host, config.port), probe)
    except OSError as exc:
        print(f"probe: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    threading.Thread(target=server.serve_forever, args=(0.1,), name="http", daemon=True).start()
    probe.start()
    probe.log.info("probe started", listen=f"{config.host}:{server.port}", otlp_endpoint=config.otlp_endpoint,
                   rate=config.rate, pool_max=config.pool_max, pid=os.getpid())
    while not stop.wait(0.1):
        pass
    probe.log.info("probe stopping")
    server.shutdown()
    server.server_close()
    probe.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
