"""The exporter: a scheduler thread that runs smoke rounds, and an HTTP server that publishes them.

Endpoints (GET):

- ``/metrics``: :class:`~stackcheck.serve.metrics.SmokeMetrics` in the text exposition format;
- ``/healthz``: 200 while the scheduler keeps to its schedule, 503 with the reason when a round is
  overdue (the liveness probe restarts a wedged exporter, never a failing stack);
- ``/report``: the last round as JSON: its exit code, times, and verify's ``stackcheck.report/v1``
  report (503 before the first round finished).
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from stackcheck.serve.metrics import Round, SmokeMetrics

RoundRunner = Callable[[threading.Event], Round]


@dataclass
class Schedule:
    """How often rounds start (start to start) and how long one may take before it is stopped."""

    interval_s: float
    deadline_s: float


class Scheduler(threading.Thread):
    """Runs a round at once, then one every ``interval_s``; a round that overran starts the next at once."""

    def __init__(self, schedule: Schedule, run: RoundRunner, metrics: SmokeMetrics,
                 on_round: Callable[[Round], None] | None = None) -> None:
        super().__init__(name="smoke-rounds", daemon=True)
        self.schedule = schedule
        self._run = run
        self.metrics = metrics
        self.stop = threading.Event()
        self.last: Round | None = None
        self.round_started: float | None = None  # monotonic; None between rounds
        self.rounds = 0
        self._on_round = on_round

    def run(self) -> None:
        while not self.stop.is_set():
            self.round_started = started = time.monotonic()
            done = self._run(self.stop)
            self.round_started = None
            if self.stop.is_set():
                break
            self.last, self.rounds = done, self.rounds + 1
            self.metrics.record(done)
            if self._on_round is not None:
                self._on_round(done)
            self.stop.wait(max(0.0, started + self.schedule.interval_s - time.monotonic()))

    def health(self) -> str | None:
        """None when healthy, else why not."""
        if not self.is_alive() and not self.stop.is_set():
            return "the scheduler thread has stopped"
        started = self.round_started
        overdue = self.schedule.deadline_s + 30.0  # the deadline stop itself takes up to ~10 s
        if started is not None and time.monotonic() - started > overdue:
            return f"the current smoke round has run for more than {overdue:g}s"
        return None


def last_round_json(done: Round | None) -> dict[str, Any] | None:
    """What ``/report`` serves."""
    if done is None:
        return None
    return {"exit_code": done.exit_code, "succeeded": done.succeeded, "duration_s": round(done.duration_s, 3),
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(done.finished_at)),
            "error": done.error, "report": done.report}


class ExporterServer(ThreadingHTTPServer):
    """``/metrics``, ``/healthz`` and ``/report`` for one scheduler."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        super().__init__(address, _Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    server: ExporterServer

    def do_GET(self) -> None:
        scheduler = self.server.scheduler
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            body, content_type = scheduler.metrics.negotiate(self.headers.get("Accept", ""))
            self._send(200, content_type, body)
        elif path == "/healthz":
            problem = scheduler.health()
            self._send(503 if problem else 200, "text/plain; charset=utf-8",
                       (problem or "ok").encode() + b"\n")
        elif path == "/report":
            last = last_round_json(scheduler.last)
            if last is None:
                self._send(503, "text/plain; charset=utf-8", b"no smoke round has finished yet\n")
            else:
                self._send(200, "application/json", json.dumps(last, indent=2).encode() + b"\n")
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics, /healthz or /report\n")

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # scrapes every 15 s would flood the log
        pass
