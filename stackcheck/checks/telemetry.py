"""Judge logs (Loki), traces (Jaeger) and dashboards (Grafana), and the budgets those waits use.

Pure functions: they take what a client returned and say what is wrong, in a message that names what was
looked for and what was seen (``None`` when all is well). The suites poll them with :mod:`stackcheck.wait`.

Budgets. Prometheus' intervals do not govern these paths, so each budget is built from the delays of the
pipeline itself, written down below as named constants with their source, plus :data:`MARGIN_S`.
``tests/test_telemetry_clients.py`` fails when a constant no longer matches the probe or manifests/.

>>> log_freshness_problem([], selector="{app}", now_s=100.0, max_age_s=17.0, lookback_s=60)
'no log line for {app} in Loki in the last 60s; is the collector (Alloy) shipping the phase5 pods?'
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stackcheck.budgets import MARGIN_S
from stackcheck.clients.grafana import DatasourceHealth, Frame, Health, QueryResult
from stackcheck.clients.jaeger import Span, same_trace_id
from stackcheck.clients.loki import Stream
from stackcheck.promql import metric_names

# --- pipeline delays and budgets ------------------------------------------------------------------

#: Grafana Alloy's ``loki.write`` ``batch_wait`` default ("1s"): the longest a line waits in Alloy before it
#: is pushed. ``manifests/config/alloy/config.alloy`` keeps the default. Promtail's ``batchwait`` is 1s too.
ALLOY_BATCH_WAIT_S = 1.0
#: The probe logs a "traffic summary" line every 10 s (``stackcheck.probe.Ticker``'s ``summary_every``), so
#: a healthy phase5 namespace never goes longer than this without a new line.
PROBE_LOG_PERIOD_S = 10.0
#: OpenTelemetry Collector batch processor's default ``timeout`` (200ms): the longest a span waits in
#: Jaeger v2 before it is written. ``manifests/config/jaeger/config.yaml`` uses ``batch:`` with defaults.
OTEL_BATCH_TIMEOUT_S = 0.2
#: A Loki ingester answers 503 for 15 s after it is otherwise up (``-ingester.min-ready-duration``,
#: loki.md §5); Grafana's Loki health check fails meanwhile. The longest start-up delay of the three.
LOKI_MIN_READY_S = 15.0
#: How far back ``traces.fresh`` looks. The probe sends a span only when asked (``POST /trace``, the
#: full-profile canary) while a real Phase 5 backend sends them all the time; 15 minutes is the freshness
#: promised for a scheduled smoke run, not a pipeline delay (that is :func:`trace_delivery_s`).
TRACE_FRESH_WINDOW_S = 15 * 60.0
#: How far back ``logs.fresh`` looks for *any* line, so a stale stream reports its age (Loki's default range).
LOG_LOOKBACK_S = 3600.0
#: Query windows reach this far past our own clock, and start this far before it: lines are stamped by the
#: cluster's clock (Alloy, the container runtime), which may differ a little from the machine running
#: stackcheck; NTP-synchronised hosts differ by far less. Loki's ``end`` is exclusive.
CLOCK_SLACK_S = 60.0
#: The attribute the probe puts on its spans (``stackcheck.probe.build_span``); Jaeger shows it as a tag.
RUN_ID_ATTRIBUTE = "stackcheck.run_id"
#: Streams of the Phase 5 workload. ``namespace`` is attached by Alloy (config.alloy relabels
#: ``__meta_kubernetes_namespace``) and by Promtail's Kubernetes config alike, so the checks do not depend
#: on which collector runs; the probe's Deployment lives in namespace phase5.
PHASE5_LOG_SELECTOR = '{namespace="phase5"}'
#: The service name of the probe's spans and of the Phase 5 backend.
PHASE5_SERVICE = "phase5-backend"


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


def datasource_settle_s() -> float:
    """A datasource of a freshly started stack passes its health check: Loki's ready delay plus the margin."""
    return LOKI_MIN_READY_S + MARGIN_S


# --- logs -----------------------------------------------------------------------------------------

LOG_NONE = ("no log line for {selector} in Loki in the last {lookback:.0f}s; "
            "is the collector (Alloy) shipping the phase5 pods?")
LOG_STALE = ("the newest log line for {selector} in Loki is {age} old (limit {limit:.0f}s: "
             "one probe summary period + delivery); newest: {line}")
CANARY_LOG_MISSING = ("log canary of run {run_id} not found in Loki within {waited:.0f}s: "
                      "no line of {selector} carries run_id {run_id} and message {message!r}; {seen}")


@dataclass(frozen=True)
class LogLine:
    """One entry of a Loki answer, with its stream's labels."""

    labels: dict[str, str]
    ts_ns: int
    line: str


def log_lines(streams: Iterable[Stream]) -> list[LogLine]:
    """Every entry of every stream, newest first."""
    lines = [LogLine(labels, ts, line) for labels, entries in streams for ts, line in entries]
    return sorted(lines, key=lambda entry: entry.ts_ns, reverse=True)


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


def log_freshness_problem(streams: Iterable[Stream], *, selector: str, now_s: float, max_age_s: float,
                          lookback_s: float) -> str | None:
    """None when the newest line is at most ``max_age_s`` old at ``now_s``; else how old it is."""
    lines = log_lines(streams)
    if not lines:
        return LOG_NONE.format(selector=selector, lookback=lookback_s)
    age = now_s - lines[0].ts_ns / 1e9
    if age <= max_age_s:
        return None
    return LOG_STALE.format(selector=selector, age=age_text(age), limit=max_age_s, line=_short(lines[0].line))


def newest_line_summary(streams: Iterable[Stream], *, selector: str, now_s: float) -> str:
    """Context for a failed canary: how old the newest line of ``selector`` is, if there is one."""
    lines = log_lines(streams)
    if not lines:
        return f"Loki holds no line of {selector} in that window either"
    age = now_s - lines[0].ts_ns / 1e9
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


# --- traces ---------------------------------------------------------------------------------------

SERVICE_UNKNOWN = "Jaeger does not list service {service!r}; it lists {services}"
TRACE_STALE = ("Jaeger lists {service!r} but has no trace of it that started in the last {window:.0f}s; "
               "the probe sends spans only on POST /trace (the traces.canary check), "
               "a real backend continuously")
CANARY_TRACE_MISSING = ("trace {trace_id} of run {run_id} is not in Jaeger after {waited:.0f}s "
                        "(GET /api/traces/{trace_id} still answers 404)")
CANARY_TRACE_WRONG = ("trace {trace_id} of run {run_id} is in Jaeger, but no span of service {service!r} "
                      "carries {attribute}={run_id}; saw {seen}")


def trace_freshness_problem(services: Sequence[str], recent: Sequence[Span], *, service: str,
                            window_s: float) -> str | None:
    """None when ``service`` is listed and has a span in ``recent`` (a search over the window)."""
    if service not in services:
        return SERVICE_UNKNOWN.format(service=service, services=sorted(services) or "no service at all")
    if not any(span.service in (service, None) for span in recent):
        return TRACE_STALE.format(service=service, window=window_s)
    return None


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


# --- Grafana --------------------------------------------------------------------------------------

GRAFANA_DB = ("Grafana's /api/health says database {database!r} (want 'ok'); "
              "check its database (grafana.db, PVC)")
DATASOURCE_UNHEALTHY = "datasource {uid} health check says {status}: {message}"
PANEL_NO_DATA = "panel {panel!r} query {ref_id} returned no data: {expr}"
PANEL_ERROR = "panel {panel!r} query {ref_id} failed: {error} (query: {expr})"
PANEL_UNKNOWN_DATASOURCE = ("panel {panel!r} query {ref_id} uses datasource {datasource!r}, "
                            "which Grafana does not have")


def grafana_health_problem(body: Health) -> str | None:
    """None when Grafana's database is ok."""
    database = body.get("database")
    return None if database == "ok" else GRAFANA_DB.format(database=database)


def datasource_health_problem(uid: str, body: DatasourceHealth) -> str | None:
    """None when the datasource's health check says OK (match on ``status``, never on the message)."""
    status = body.get("status")
    if status == "OK":
        return None
    return DATASOURCE_UNHEALTHY.format(uid=uid, status=status, message=body.get("message", "(no message)"))


@dataclass(frozen=True)
class PanelQuery:
    """One query target of a dashboard panel."""

    panel: str
    ref_id: str
    datasource_uid: str
    datasource_type: str  # "" when Grafana has no datasource of that uid or name
    expr: str
    instant: bool
    target: dict[str, Any]

    def describe(self) -> str:
        return f"{self.panel!r} {self.ref_id}"


def iter_panels(dashboard: Mapping[str, Any]) -> Iterable[dict[str, Any]]:
    """Every panel, those nested in (collapsed) rows included."""
    stack = list(reversed(dashboard.get("panels") or []))
    while stack:
        panel = stack.pop()
        yield panel
        stack.extend(reversed(panel.get("panels") or []))


def panel_queries(dashboard: Mapping[str, Any], datasources: Mapping[str, str],
                  default_uid: str | None = None) -> list[PanelQuery]:
    """Every visible query target; ``datasources`` maps uid and name to type (a panel may use either)."""
    found = []
    for panel in iter_panels(dashboard):
        for target in panel.get("targets") or []:
            if target.get("hide"):
                continue
            ref = target.get("datasource") or panel.get("datasource")
            uid = str(ref.get("uid", "")) if isinstance(ref, dict) else str(ref or default_uid or "")
            kind = datasources.get(uid, "")
            found.append(PanelQuery(
                panel=str(panel.get("title", "")), ref_id=str(target.get("refId", "A")), datasource_uid=uid,
                datasource_type=kind, expr=str(target.get("expr") or ""),
                instant=bool(target.get("instant")) and not target.get("range"), target=dict(target)))
    return found


_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)\]\]")


def variable_value(variable: Mapping[str, Any]) -> str:
    """What Grafana's browser puts in place of a dashboard variable at its saved selection."""
    value = (variable.get("current") or {}).get("value")
    values = [str(v) for v in (value if isinstance(value, list) else [value] if value else [])]
    if not values or "$__all" in values:
        return str(variable.get("allValue") or ".*")
    return values[0] if len(values) == 1 else "(" + "|".join(values) + ")"


def resolve_variables(expr: str, dashboard: Mapping[str, Any]) -> str:
    """Substitute the dashboard's own variables; Grafana's ``$__…`` built-ins are left for the server.

    >>> resolve_variables('up{service=~"$service"}[$__rate_interval]',
    ...                   {"templating": {"list": [{"name": "service", "allValue": ".*",
    ...                                             "current": {"value": ["$__all"]}}]}})
    'up{service=~".*"}[$__rate_interval]'
    """
    variables = (dashboard.get("templating") or {}).get("list") or []
    table = {str(v.get("name")): variable_value(v) for v in variables}

    def replace(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g is not None)
        return table.get(name, match.group(0))

    return _VARIABLE.sub(replace, expr)


def frame_rows(frames: Iterable[Frame]) -> int:
    """Rows over all frames (columns are ``data.values``; a frame with no values has no rows)."""
    rows = 0
    for frame in frames:
        columns = (frame.get("data") or {}).get("values") or []
        rows += max((len(column) for column in columns), default=0)
    return rows


def query_problem(query: PanelQuery, expr: str, result: QueryResult) -> str | None:
    """None when the panel's query returned at least one row."""
    if result.error:
        return PANEL_ERROR.format(panel=query.panel, ref_id=query.ref_id, error=result.error, expr=expr)
    if frame_rows(result.frames) == 0:
        return PANEL_NO_DATA.format(panel=query.panel, ref_id=query.ref_id, expr=expr)
    return None


def metrics_read(expr: str, recording: Mapping[str, str]) -> set[str]:
    """Metric names ``expr`` reads, through recording rules down to raw series (``$__…`` made parseable)."""
    try:
        names = metric_names(re.sub(r"\$__\w+", "1m", expr))
    except ValueError:
        return set()
    seen: set[str] = set()
    while names:
        name = names.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in recording:
            names |= metrics_read(recording[name], {})
    return seen


def lacking_sources(expr: str, recording: Mapping[str, str], sources: Mapping[str, str],
                    missing: Mapping[str, str]) -> list[str]:
    """Why ``expr`` cannot have data on this target: one reason per signal source it reads that is missing.

    ``sources`` maps metric-name prefixes to their source (``targets.base.SIGNAL_SOURCES``), ``missing``
    sources to the reason the target lacks them.
    """
    reasons = set()
    for name in metrics_read(expr, recording):
        for prefix, source in sources.items():
            if name.startswith(prefix) and source in missing:
                reasons.add(f"reads {name}: {missing[source]}")
    return sorted(reasons)
