"""The metric families of ``stackcheck serve``, kept in their own registry.

Following the Prometheus advice on batch jobs, the exporter reports *when* the last run and the last
successful run happened (``*_timestamp_seconds``) rather than pushing events, so an alert can tell
"failing" from "not running at all" (StackcheckSmokeFailing and StackcheckSmokeStale in
``manifests/config/prometheus/rules/meta.rules.yml``).

>>> m = SmokeMetrics(interval_s=300)
>>> m.record(Round(exit_code=0, duration_s=1.5, finished_at=10.0, checks=[
...     {"id": "targets.up", "component": "prometheus", "status": "passed"}]))
>>> b"stackcheck_check_passed{check=\\"targets.up\\",component=\\"prometheus\\"} 1.0" in m.exposition()
True
"""
from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

STATUSES = ("passed", "failed", "skipped", "error")
#: The check id a round gets when it produced no verdicts at all (e.g. Prometheus unreachable at start).
RUN_CHECK = "run"


@dataclass
class Round:
    """The outcome of one smoke run."""

    exit_code: int
    duration_s: float
    finished_at: float
    checks: Sequence[Mapping[str, Any]] = field(default_factory=list)
    #: The JSON report as verify wrote it (None when verify wrote none), served on ``/report``.
    report: dict[str, Any] | None = None
    #: Why the round produced no report (the child's last stderr lines), when it did not.
    error: str = ""

    @property
    def succeeded(self) -> bool:
        """Exit 0: every check passed or was skipped."""
        return self.exit_code == 0


#: name → help of the unlabelled gauges. They appear only once they have a value: a last-run timestamp of
#: 0 before the first run would read as "stale for 56 years" and fire StackcheckSmokeStale at start.
SCALARS = {
    "stackcheck_run_duration_seconds": "Wall time of the last smoke run",
    "stackcheck_last_run_timestamp_seconds": "When the last smoke run finished (Unix time)",
    "stackcheck_last_success_timestamp_seconds": "When the last smoke run without a failed or errored check "
                                                 "finished (Unix time)",
    "stackcheck_last_run_exit_code": "Exit code of the last smoke run (0 ok, 1 a check failed, 2 usage or "
                                     "configuration, 3 unreachable or unauthorised, 4 interrupted)",
    "stackcheck_interval_seconds": "Configured time between the starts of two smoke runs",
}


class _Scalars(Collector):
    """Unlabelled gauges that are exported only once set."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def collect(self) -> Any:
        for name, text in SCALARS.items():
            if name in self.values:
                yield GaugeMetricFamily(name, text, value=self.values[name])


class SmokeMetrics:
    """The exporter's gauges; :meth:`record` replaces the per-check series with those of a new round."""

    def __init__(self, interval_s: float) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        self._streaks: dict[tuple[str, str], int] = {}
        labels = ("check", "component")
        self.passed = Gauge("stackcheck_check_passed", "1 if the check passed on the last smoke run, 0 if it "
                            "failed or errored (skipped checks have no series)", labels,
                            registry=self.registry)
        self.streak = Gauge("stackcheck_check_consecutive_failures", "Smoke runs in a row on which the check "
                            "failed or errored (0 once it passes)", labels, registry=self.registry)
        self.checks = Gauge("stackcheck_checks", "Checks of the last smoke run by status", ("status",),
                            registry=self.registry)
        self.scalars = _Scalars()
        self.registry.register(self.scalars)
        self.scalars.values["stackcheck_interval_seconds"] = interval_s
        for status in STATUSES:
            self.checks.labels(status).set(0)

    def record(self, done: Round) -> None:
        """Publish one round: per-check verdicts, counts by status, duration and timestamps."""
        verdicts = {(str(c["id"]), str(c.get("component", "prometheus"))): str(c["status"])
                    for c in done.checks}
        if not verdicts and not done.succeeded:
            # No verdict at all (preflight failed, bad configuration): every check known so far is
            # failing, and the round itself is reported, so the failure alert fires even on a first run.
            verdicts = {key: "error" for key in self._streaks}
            verdicts[(RUN_CHECK, "prometheus")] = "error"
        with self._lock:
            self.passed.clear()
            self.streak.clear()
            streaks: dict[tuple[str, str], int] = {}
            for key, status in verdicts.items():
                if status == "skipped":
                    continue
                ok = status == "passed"
                streaks[key] = 0 if ok else self._streaks.get(key, 0) + 1
                self.passed.labels(*key).set(1 if ok else 0)
                self.streak.labels(*key).set(streaks[key])
            self._streaks = streaks
            for status in STATUSES:
                self.checks.labels(status).set(sum(1 for s in verdicts.values() if s == status))
            values = self.scalars.values
            values["stackcheck_run_duration_seconds"] = done.duration_s
            values["stackcheck_last_run_timestamp_seconds"] = done.finished_at
            values["stackcheck_last_run_exit_code"] = float(done.exit_code)
            if done.succeeded:
                values["stackcheck_last_success_timestamp_seconds"] = done.finished_at

    def exposition(self, accept: str = "") -> bytes:
        """Every family, in the format ``accept`` asks for (text 0.0.4 by default, or OpenMetrics)."""
        return self.negotiate(accept)[0]

    def negotiate(self, accept: str) -> tuple[bytes, str]:
        """(body, content type) for an ``Accept`` header, as prometheus-client's own exporter chooses."""
        encoder, content_type = choose_encoder(accept or "text/plain;version=0.0.4")
        with self._lock:
            return encoder(self.registry), content_type
