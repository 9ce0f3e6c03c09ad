"""What a production stack must show, from a file: jobs up, namespaces with fresh logs, services with traces.

The defaults describe the Phase 5 system the stack ships for (namespace ``phase5``, service
``phase5-backend``, every scrape job of prometheus.yml), with the freshness the probe guarantees. A real
application logs and traces at its own pace and may run elsewhere, so ``--expectations FILE`` says::

    # stackcheck expectations (all keys optional)
    jobs: [prometheus, alertmanager, node-exporter, phase5]   # default: every job of prometheus.yml
    logs:
      namespaces: [phase5, phase5-agents]                     # default: [phase5]
      max_age: 5m                                             # default: 5m; 17 s where the probe runs
    traces:
      services: [phase5-backend]                              # default: [phase5-backend]
      window: 15m                                             # default: 15m; 15 s where the probe runs

>>> Expectations.parse({"logs": {"namespaces": ["a"], "max_age": "5m"}}, "x.yml").log_max_age_s
300.0
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackcheck.checks.telemetry import (
    PHASE5_SERVICE,
    PROBE_LOG_LIMIT,
    PROBE_TRACE_LIMIT,
    TRACE_LOOKBACK_S,
    log_fresh_s,
    trace_fresh_s,
)
from stackcheck.errors import UsageError
from stackcheck.manifests import load_yaml
from stackcheck.timescale import parse_duration

#: The probe's namespace, and in production the Phase 5 application's.
PHASE5_NAMESPACES = ("phase5",)
#: logs.fresh's default age limit on a stack without stackcheck's probe (production): a real application
#: logs at its own pace, so the probe's 10 s summary cadence would be the wrong promise to hold it to.
PRODUCTION_LOG_MAX_AGE_S = 300.0
#: traces.fresh's default window on a stack without the probe: a real service may trace rarely.
PRODUCTION_TRACE_WINDOW_S = TRACE_LOOKBACK_S
#: Where those two defaults come from, as the stale messages say it.
PRODUCTION_LOG_LIMIT = ("the default without stackcheck's probe, which logs.max_age in --expectations "
                        "overrides")
PRODUCTION_TRACE_LIMIT = ("the default without stackcheck's probe, which traces.window in --expectations "
                          "overrides")
_KEYS = {"jobs": None, "logs": {"namespaces", "max_age"}, "traces": {"services", "window"}}


@dataclass(frozen=True)
class Expectations:
    """Which jobs must be up (None: every job), which namespaces log, which services trace."""

    jobs: tuple[str, ...] | None = None
    log_namespaces: tuple[str, ...] = PHASE5_NAMESPACES
    log_max_age_s: float = field(default_factory=log_fresh_s)
    #: Where ``log_max_age_s`` came from, for logs.fresh's message (``logs.max_age in prod.yml``).
    log_max_age_from: str = PROBE_LOG_LIMIT
    trace_services: tuple[str, ...] = (PHASE5_SERVICE,)
    trace_window_s: float = field(default_factory=trace_fresh_s)
    #: Where ``trace_window_s`` came from, for traces.fresh's message.
    trace_window_from: str = PROBE_TRACE_LIMIT
    source: str = "defaults (Phase 5)"

    @classmethod
    def defaults(cls, *, with_probe: bool = True) -> Expectations:
        """Phase 5 defaults; without the probe (production) fresh logs may be up to 5 minutes old, and
        traces 15 minutes."""
        if with_probe:
            return cls()
        return cls(log_max_age_s=PRODUCTION_LOG_MAX_AGE_S, log_max_age_from=PRODUCTION_LOG_LIMIT,
                   trace_window_s=PRODUCTION_TRACE_WINDOW_S, trace_window_from=PRODUCTION_TRACE_LIMIT,
                   source="defaults (Phase 5, production)")

    @classmethod
    def load(cls, path: str | Path | None, *, with_probe: bool = True) -> Expectations:
        """The file's expectations, or the defaults without a file; a bad file is a usage error.

        ``with_probe`` says whether stackcheck's probe feeds the stack (local runtime, kind): its cadence
        then sets the default log age; otherwise :data:`PRODUCTION_LOG_MAX_AGE_S` does.
        """
        if not path:
            return cls.defaults(with_probe=with_probe)
        file = Path(path).expanduser()
        if not file.is_file():
            raise UsageError(f"expectations file {file} does not exist; fix --expectations "
                             "(the format is in README.md, 'Expectations file')")
        return cls.parse(load_yaml(file) or {}, str(file), with_probe=with_probe)

    @classmethod
    def parse(cls, doc: Any, source: str, *, with_probe: bool = True) -> Expectations:
        if not isinstance(doc, dict):
            raise UsageError(f"{source}: expected a mapping with jobs, logs and traces")
        unknown = sorted(set(doc) - set(_KEYS))
        if unknown:
            raise UsageError(f"{source}: unknown key(s) {', '.join(unknown)}; expected jobs, logs, traces")
        logs, traces = _section(doc, "logs", source), _section(doc, "traces", source)
        defaults = cls.defaults(with_probe=with_probe)
        return cls(
            jobs=_names(doc["jobs"], f"{source}: jobs") if "jobs" in doc else None,
            log_namespaces=_names(logs.get("namespaces", list(defaults.log_namespaces)),
                                  f"{source}: logs.namespaces"),
            log_max_age_s=_duration(logs.get("max_age"), defaults.log_max_age_s, f"{source}: logs.max_age"),
            log_max_age_from=(f"logs.max_age in {source}" if "max_age" in logs
                              else defaults.log_max_age_from),
            trace_services=_names(traces.get("services", list(defaults.trace_services)),
                                  f"{source}: traces.services"),
            trace_window_s=_duration(traces.get("window"), defaults.trace_window_s,
                                     f"{source}: traces.window"),
            trace_window_from=(f"traces.window in {source}" if "window" in traces
                               else defaults.trace_window_from),
            source=source,
        )

    def log_selector(self, namespace: str) -> str:
        """The LogQL stream selector of one namespace (Alloy and Promtail both attach ``namespace``)."""
        return '{namespace="' + namespace.replace("\\", "\\\\").replace('"', '\\"') + '"}'


def _section(doc: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    value = doc.get(key) or {}
    if not isinstance(value, dict):
        raise UsageError(f"{source}: {key} must be a mapping ({', '.join(sorted(_KEYS[key] or ()))})")
    unknown = sorted(set(value) - set(_KEYS[key] or ()))
    if unknown:
        raise UsageError(f"{source}: unknown key(s) {key}.{', '.join(unknown)}; expected "
                         f"{', '.join(sorted(_KEYS[key] or ()))}")
    return value


def _names(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise UsageError(f"{where} must be a non-empty list of names")
    return tuple(value)


def _duration(value: Any, default: float, where: str) -> float:
    if value is None:
        return default
    try:
        seconds = parse_duration(str(value))
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        raise UsageError(f"{where}: {value!r} is not a positive duration (e.g. 30s, 5m, 1h)")
    return seconds
