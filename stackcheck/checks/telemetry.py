"""Judge logs (Loki) and traces (Jaeger), and the budgets of those waits and of Grafana's (see
:mod:`stackcheck.checks.grafana` for the dashboards).

Pure functions: they take what a client returned and say what is wrong, in a message that names what was
looked for and what was seen (``None`` when all is well). The suites poll them with :mod:`stackcheck.wait`.

"Has data" means now. A log line is judged by the time it carries itself (the probe's JSON ``ts``), not
by the stamp its collector gave it when it read it: after a collector outage the backlog arrives with fresh
stamps, and must not pass as fresh. A trace is judged by its spans' start times.

Budgets. Prometheus' intervals do not govern these paths, so each budget is built from the delays of the
pipeline itself, written down below as named constants with their source, plus :data:`MARGIN_S`.
``tests/test_telemetry_clients.py`` fails when a constant no longer matches the probe or manifests/.

>>> log_freshness_problem([], selector="{app}", now_ns=100 * NS, max_age_s=17.0, limit_from=PROBE_LOG_LIMIT,
...                       lookback_s=60)
'no log line for {app} in Loki in the last 60s; is the collector (Alloy) shipping the phase5 pods?'
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from stackcheck.budgets import MARGIN_S
from stackcheck.clients.jaeger import Span, same_trace_id
from stackcheck.clients.loki import NS, Stream
from stackcheck.timescale import format_duration, parse_duration

# --- pipeline delays and budgets ------------------------------------------------------------------

#: Grafana Alloy's ``loki.write`` ``batch_wait`` default ("1s"): the longest a line waits in Alloy before it
#: is pushed. ``manifests/config/alloy/config.alloy`` keeps the default. Promtail's ``batchwait`` is 1s too.
ALLOY_BATCH_WAIT_S = 1.0
#: The probe logs a "traffic summary" line every 10 s (``stackcheck.probe.Ticker``'s ``summary_every``), so
#: a healthy phase5 namespace never goes longer than this without a new line. It sends a heartbeat span at
#: the same period when it has an OTLP endpoint (the cluster's probe and the local one next to Jaeger).
PROBE_LOG_PERIOD_S = 10.0
#: OpenTelemetry Collector batch processor's default ``timeout`` (200ms): the longest a span waits in
#: Jaeger v2 before it is written. ``manifests/config/jaeger/config.yaml`` uses ``batch:`` with defaults.
OTEL_BATCH_TIMEOUT_S = 0.2
#: Loki's ``ingester.lifecycler.min_ready_duration`` default: ``/ready`` answers 503 ``Ingester not ready``
#: this long after the ingester is otherwise up (loki.md §5). loki.yaml keeps it in the cluster.
LOKI_MIN_READY_DEFAULT_S = 15.0
#: Loki's ``frontend.scheduler_dns_lookup_period`` default: until its first lookup the query frontend has
#: no scheduler and ``/ready`` answers 503 ``Query Frontend not ready`` (loki.md §5, seen on 3.6.11 up to
#: 10.4 s after start). loki.yaml sets 1s.
LOKI_SCHEDULER_LOOKUP_DEFAULT_S = 10.0
#: How far back ``traces.fresh`` looks to say how old the newest trace is, when none is fresh.
TRACE_LOOKBACK_S = 15 * 60.0
#: How far back ``logs.fresh`` looks for *any* line, so a stale stream reports its age (Loki's default range).
LOG_LOOKBACK_S = 3600.0
#: Query windows reach this far past our own clock, and start this far before it: lines are stamped by the
#: cluster's clock (Alloy, the container runtime), which may differ a little from the machine running
#: stackcheck; NTP-synchronised hosts differ by far less. Loki's ``end`` is exclusive.
CLOCK_SLACK_S = 60.0
#: How many of the newest entries (by Loki's stamp) ``logs.fresh`` reads to find the newest by the lines'
#: own time: a backlog read in one go carries stamps in reading order, not in writing order.
LOG_FRESH_SAMPLE = 50
#: The attribute the probe puts on its spans (``stackcheck.probe.build_span``); Jaeger shows it as a tag.
RUN_ID_ATTRIBUTE = "stackcheck.run_id"
#: Streams of the Phase 5 workload. ``namespace`` is attached by Alloy (config.alloy relabels
#: ``__meta_kubernetes_namespace``) and by Promtail's Kubernetes config alike, so the checks do not depend
#: on which collector runs; the probe's Deployment lives in namespace phase5.
PHASE5_LOG_SELECTOR = '{namespace="phase5"}'
#: The service name of the probe's spans and of the Phase 5 backend.
PHASE5_SERVICE = "phase5-backend"


#: Where :func:`log_fresh_s` and :func:`trace_fresh_s`, the limits of a stack the probe feeds, come from;
#: the stale messages quote them, or another limit's origin (see :mod:`stackcheck.expectations`).
PROBE_LOG_LIMIT = "one probe summary period + delivery"
PROBE_TRACE_LIMIT = "one probe heartbeat period + delivery"


def limit_text(seconds: float) -> str:
    """An age limit as written in an expectations file, exact (unlike :func:`age_text`, which rounds).

    >>> [limit_text(s) for s in (17, 15.2, 90, 300, 900, 5400)]
    ['17s', '15.2s', '1m30s', '5m', '15m', '1h30m']
    """
    return format_duration(seconds) if seconds >= 60 else f"{seconds:g}s"


def log_delivery_s() -> float:
    """A line written to stdout is queryable in Loki: one batch_wait for the batch it joins, one more if a
    push is in flight, then Loki serves it from the ingester at once; plus the margin."""
    return 2 * ALLOY_BATCH_WAIT_S + MARGIN_S


def log_fresh_s() -> float:
    """The newest phase5 line in Loki is at most this old: one summary period plus its delivery."""
    return PROBE_LOG_PERIOD_S + log_delivery_s()


def trace_delivery_s() -> float:
    """A span accepted by Jaeger's OTLP receiver is readable by id: one batch timeout plus the margin."""
    return OTEL_BATCH_TIMEOUT_S + MARGIN_S


def trace_fresh_s() -> float:
    """The newest phase5-backend trace started at most this long ago: one heartbeat period plus delivery."""
    return PROBE_LOG_PERIOD_S + trace_delivery_s()


def loki_ready_delay_s(loki_config: Mapping[str, Any]) -> float:
    """How long a freshly started Loki answers 503 on ``/ready``: the later of its ingester's
    ``min_ready_duration`` and its query frontend's first scheduler lookup, as ``loki_config`` sets them."""
    ingester = ((loki_config.get("ingester") or {}).get("lifecycler") or {}).get("min_ready_duration")
    lookup = (loki_config.get("frontend") or {}).get("scheduler_dns_lookup_period")
    return max(parse_duration(str(ingester)) if ingester else LOKI_MIN_READY_DEFAULT_S,
               parse_duration(str(lookup)) if lookup else LOKI_SCHEDULER_LOOKUP_DEFAULT_S)


def datasource_settle_s(loki_config: Mapping[str, Any]) -> float:
    """A datasource of a freshly started stack passes its health check: Loki's ready delay (the longest
    start-up delay of the three stores) plus the margin."""
    return loki_ready_delay_s(loki_config) + MARGIN_S


# --- logs -----------------------------------------------------------------------------------------

#: What to look at when no line arrives: the cluster's collector (a local stack passes its own hint).
CLUSTER_SHIPPER_HINT = "is the collector (Alloy) shipping the phase5 pods?"
LOG_NONE = "no log line for {selector} in Loki in the last {lookback:.0f}s; {hint}"
LOG_STALE = ("the newest log line for {selector} in Loki is {age} old by {clock} (limit {limit}: "
             "{limit_from}){stamped}; newest: {line}")
LOG_NO_COLLECTOR = "nothing ships the probe's logs to Loki: {why}. Loki: {seen}"
CANARY_LOG_MISSING = ("log canary of run {run_id} not found in Loki within {waited:.0f}s: "
                      "no line of {selector} carries run_id {run_id} and message {message!r}; {seen}")
CANARY_LOG_LATE = ("log canary of run {run_id} reached Loki {latency:.1f}s after the probe wrote it "
                   "(its ts {ts}); the bound is {bound:.1f}s (two batch_waits + margin)")


def line_time_ns(line: str) -> int | None:
    """The time a JSON line carries in its ``ts`` field (the probe writes RFC 3339 UTC, milliseconds),
    in nanoseconds; None when the line is not JSON or has no readable ``ts``.

    >>> line_time_ns('{"ts": "2026-12-01T07:29:08.218Z", "msg": "x"}')
    1796110148218000000
    """
    try:
        record = json.loads(line)
    except ValueError:
        return None
    stamp = record.get("ts") if isinstance(record, dict) else None
    if not isinstance(stamp, str):
        return None
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - datetime(1970, 1, 1, tzinfo=UTC)
    # Integer arithmetic: a float of seconds since 1970 loses the nanosecond digits.
    return (delta.days * 86_400 + delta.seconds) * NS + delta.microseconds * 1_000


@dataclass(frozen=True)
class LogLine:
    """One entry of a Loki answer, with its stream's labels and the time the line carries, if any."""

    labels: dict[str, str]
    ts_ns: int  # Loki's stamp: when the collector read the line, unless it stamps from the line
    line: str
    own_ns: int | None = None  # the line's own ``ts``

    @property
    def when_ns(self) -> int:
        """The time the line was written: its own ``ts``, else Loki's stamp."""
        return self.own_ns if self.own_ns is not None else self.ts_ns


def log_lines(streams: Iterable[Stream]) -> list[LogLine]:
    """Every entry of every stream, newest first by the time each line carries."""
    lines = [LogLine(labels, ts, line, line_time_ns(line))
             for labels, entries in streams for ts, line in entries]
    return sorted(lines, key=lambda entry: entry.when_ns, reverse=True)


def age_text(seconds: float) -> str:
    """A readable age: seconds below 2 minutes, then minutes, hours, days.

    >>> [age_text(s) for s in (42, 600, 7300, 9e6)]
    ['42s', '10m', '2h', '104d']
    """
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def _short(text: str, limit: int = 160) -> str:
    text = text.strip()
    return repr(text if len(text) <= limit else text[:limit] + "…")


def log_freshness_problem(streams: Iterable[Stream], *, selector: str, now_ns: int, max_age_s: float,
                          limit_from: str, lookback_s: float, hint: str = CLUSTER_SHIPPER_HINT) -> str | None:
    """None when the newest line, by the time it carries, is at most ``max_age_s`` old at ``now_ns``.
    ``limit_from`` says where that limit came from (:data:`PROBE_LOG_LIMIT`, an expectations file, …).

    A line Loki stamped recently but that says it was written long ago (a backlog shipped after an outage)
    is stale, and the message gives both times.
    """
    lines = log_lines(streams)
    if not lines:
        return LOG_NONE.format(selector=selector, lookback=lookback_s, hint=hint)
    newest = lines[0]
    age = (now_ns - newest.when_ns) / NS
    if age <= max_age_s:
        return None
    stamped = ""
    if newest.own_ns is not None and (now_ns - newest.ts_ns) / NS <= max_age_s:
        stamped = (f"; Loki stamped it only {age_text((now_ns - newest.ts_ns) / NS)} ago: a backlog shipped "
                   "late, not a live stream")
    clock = "its own ts" if newest.own_ns is not None else "Loki's stamp (the line carries no ts)"
    return LOG_STALE.format(selector=selector, age=age_text(age), clock=clock, limit=limit_text(max_age_s),
                            limit_from=limit_from, stamped=stamped, line=_short(newest.line))


def shipped_recently(streams: Iterable[Stream], *, now_ns: int, within_s: float) -> bool:
    """Whether Loki stamped any entry in the last ``within_s``: something ships lines now, be they fresh
    or a backlog (a collector the target does not know of, e.g. a Promtail started by hand)."""
    return any((now_ns - entry.ts_ns) / NS <= within_s for entry in log_lines(streams))


def no_collector_problem(streams: Iterable[Stream], *, why: str, selector: str, now_ns: int,
                         lookback_s: float) -> str:
    """The verdict when the target knows no collector runs (``why``), with what Loki holds anyway."""
    return LOG_NO_COLLECTOR.format(why=why, seen=newest_line_summary(streams, selector=selector,
                                                                     now_ns=now_ns, lookback_s=lookback_s))


def newest_line_summary(streams: Iterable[Stream], *, selector: str, now_ns: int,
                        lookback_s: float | None = None) -> str:
    """Context for a failed check: how old the newest line of ``selector`` is, if there is one."""
    lines = log_lines(streams)
    if not lines:
        window = f" in the last {lookback_s:.0f}s" if lookback_s is not None else " in that window either"
        return f"it holds no line of {selector}{window}"
    age = (now_ns - lines[0].when_ns) / NS
    return f"the newest line of {selector} is {age_text(age)} old: {_short(lines[0].line)}"


def is_canary_line(line: str, run_id: str, message: str) -> bool:
    """The probe's JSON line for this run: ``run_id`` and ``msg`` as posted (substrings if not JSON)."""
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if isinstance(record, dict):
        return record.get("run_id") == run_id and record.get("msg") == message
    return run_id in line and message in line


def find_canary(streams: Iterable[Stream], run_id: str, message: str) -> LogLine | None:
    """The canary line of ``run_id``, if Loki returned it."""
    return next((entry for entry in log_lines(streams) if is_canary_line(entry.line, run_id, message)), None)


def log_canary_problem(streams: Iterable[Stream], *, run_id: str, message: str, selector: str,
                       waited_s: float) -> str | None:
    """None when a line is the canary of ``run_id``; else what was seen instead."""
    lines = log_lines(streams)
    if any(is_canary_line(entry.line, run_id, message) for entry in lines):
        return None
    seen = (f"saw {len(lines)} other line(s), newest: {_short(lines[0].line)}" if lines
            else "the query returned no line at all")
    return CANARY_LOG_MISSING.format(run_id=run_id, waited=waited_s, selector=selector, message=message,
                                     seen=seen)


def canary_latency_problem(canary: LogLine, *, run_id: str, found_ns: int, bound_s: float) -> str | None:
    """None when the canary was readable within ``bound_s`` of the time it carries; else how late it was."""
    latency = (found_ns - canary.when_ns) / NS
    if latency <= bound_s:
        return None
    ts = json.loads(canary.line).get("ts") if canary.own_ns is not None else "none: Loki's stamp used"
    return CANARY_LOG_LATE.format(run_id=run_id, latency=latency, ts=ts, bound=bound_s)


# --- traces ---------------------------------------------------------------------------------------

SERVICE_UNKNOWN = "Jaeger does not list service {service!r}; it lists {services}"
TRACE_STALE = "Jaeger has no trace of {service!r} that started in the last {limit} ({limit_from}); {newest}"
CANARY_TRACE_MISSING = ("trace {trace_id} of run {run_id} is not in Jaeger after {waited:.0f}s "
                        "(GET /api/traces/{trace_id} still answers 404)")
CANARY_TRACE_WRONG = ("trace {trace_id} of run {run_id} is in Jaeger, but no span of service {service!r} "
                      "carries {attribute}={run_id}; saw {seen}")


def trace_freshness_problem(services: Sequence[str], spans: Sequence[Span], *, service: str, now_s: float,
                            max_age_s: float, limit_from: str, lookback_s: float) -> str | None:
    """None when ``service`` is listed and one of its ``spans`` started at most ``max_age_s`` before
    ``now_s``, by the span's own start time (not by what the search window let through). ``limit_from``
    says where that limit came from (:data:`PROBE_TRACE_LIMIT`, an expectations file, …).

    ``spans`` come from a search over the last ``lookback_s``; when none is fresh, the newest one's age is
    reported.
    """
    if service not in services:
        return SERVICE_UNKNOWN.format(service=service, services=sorted(services) or "no service at all")
    starts = [span.start_s for span in spans if span.service in (service, None) and span.start_s is not None]
    if starts and now_s - max(starts) <= max_age_s:
        return None
    newest = (f"the newest started {age_text(now_s - max(starts))} ago" if starts
              else f"none at all in the last {age_text(lookback_s)}")
    return TRACE_STALE.format(service=service, limit=limit_text(max_age_s), limit_from=limit_from,
                              newest=newest)


def trace_canary_problem(spans: Sequence[Span] | None, *, trace_id: str, run_id: str, service: str,
                         waited_s: float, attribute: str = RUN_ID_ATTRIBUTE) -> str | None:
    """None when the trace holds a span of ``service`` tagged ``attribute=run_id``; else what was seen."""
    if spans is None:
        return CANARY_TRACE_MISSING.format(trace_id=trace_id, run_id=run_id, waited=waited_s)
    for span in spans:
        if (same_trace_id(span.trace_id, trace_id) and span.service == service
                and str(span.tags.get(attribute)) == run_id):
            return None
    seen = "; ".join(f"span {s.span_id} {s.name!r} of {s.service!r} with "
                     f"{attribute}={s.tags.get(attribute)!r}" for s in spans[:5]) or "no span at all"
    return CANARY_TRACE_WRONG.format(trace_id=trace_id, run_id=run_id, service=service, attribute=attribute,
                                     seen=seen)
