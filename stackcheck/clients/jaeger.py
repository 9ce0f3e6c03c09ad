"""A small Jaeger (v2) query client: readiness, services, one trace by id, and a trace search.

Which API for what (``shared/contracts/jaeger.md``):

* services and search use the stable ``/api/v3/*`` (OTLP JSON). The internal ``/api/services`` and
  ``/api/traces?service=`` were removed after v2.20.0 (§0), so they are not used.
* one trace by id uses ``/api/traces/{id}`` (UI JSON), which stays. A ``404`` there means "not stored
  (yet)", not an error.
* readiness is ``GET /api/v3/services``: v2's health endpoint (``:13133/status``) is on another port than
  the query API, which is the one a target gives us.
* the api_v3 search takes camelCase parameters (``query.serviceName``) only from v2.19.0 on (PR #8625);
  every version with api_v3 takes the snake_case names (``query.service_name``), which are deprecated
  aliases since. The client sends camelCase first; an older Jaeger answers that with 400
  ``query.start_time_min and query.start_time_max are required`` (it saw no time range), and the client
  retries with snake_case and keeps that form. :attr:`JaegerClient.search_form` says which form answered.

>>> jaeger = JaegerClient(Http("jaeger", "http://127.0.0.1:16686"))  # doctest: +SKIP
>>> jaeger.services()  # doctest: +SKIP
['jaeger', 'phase5-backend']
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import requests

from stackcheck.clients.http import ComponentClient, Http
from stackcheck.errors import truncate


@dataclass(frozen=True)
class Span:
    """One span, from either of Jaeger's JSON forms.

    ``trace_id`` is lower-case hex as Jaeger wrote it (16 characters when the high half is zero: compare
    with :func:`same_trace_id`). ``service`` is resolved from the process (UI JSON) or the resource (OTLP).
    """

    trace_id: str
    span_id: str
    name: str
    service: str | None
    start_s: float | None
    tags: dict[str, object] = field(default_factory=dict)


def same_trace_id(a: str, b: str) -> bool:
    """Equal trace ids, ignoring case and the leading zeros Jaeger drops (jaeger.md §5).

    >>> same_trace_id("0000000000000000ABCDEF0123456789", "abcdef0123456789")
    True
    """
    return a.lower().lstrip("0") == b.lower().lstrip("0")


def _rfc3339(seconds: float) -> str:
    """api_v3 takes times as RFC 3339 with fractional seconds (jaeger.md §7)."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _otlp_value(value: dict[str, Any]) -> object:
    for key in ("stringValue", "intValue", "doubleValue", "boolValue"):
        if key in value:
            return value[key]
    return value


def spans_from_otlp(resource_spans: Iterable[dict[str, Any]]) -> list[Span]:
    """Spans of an OTLP ``resourceSpans`` list (api_v3 answers and OTLP requests share the form)."""
    found = []
    for rs in resource_spans:
        resource = {a["key"]: _otlp_value(a.get("value") or {})
                    for a in (rs.get("resource") or {}).get("attributes") or []}
        for scope in rs.get("scopeSpans") or []:
            for span in scope.get("spans") or []:
                start = span.get("startTimeUnixNano")
                found.append(Span(
                    trace_id=str(span.get("traceId", "")).lower(),
                    span_id=str(span.get("spanId", "")).lower(),
                    name=str(span.get("name", "")),
                    service=str(resource["service.name"]) if "service.name" in resource else None,
                    start_s=int(start) / 1e9 if start is not None else None,
                    tags={a["key"]: _otlp_value(a.get("value") or {}) for a in span.get("attributes") or []},
                ))
    return found


def spans_from_ui(trace: dict[str, Any]) -> list[Span]:
    """Spans of one UI-JSON trace (an element of ``data``); times there are microseconds."""
    processes = trace.get("processes") or {}
    return [Span(
        trace_id=str(span.get("traceID", "")), span_id=str(span.get("spanID", "")),
        name=str(span.get("operationName", "")),
        service=(processes.get(span.get("processID")) or {}).get("serviceName"),
        start_s=span["startTime"] / 1e6 if "startTime" in span else None,
        tags={t["key"]: t.get("value") for t in span.get("tags") or []},
    ) for span in trace.get("spans") or []]


#: api_v3 search parameters, camelCase (v2.19.0+) and the snake_case names every api_v3 version accepts
#: (``query.num_traces`` is the oldest name of the search depth; later versions keep it as an alias).
CAMEL_CASE = {"service": "query.serviceName", "min": "query.startTimeMin", "max": "query.startTimeMax",
              "depth": "query.searchDepth"}
SNAKE_CASE = {"service": "query.service_name", "min": "query.start_time_min", "max": "query.start_time_max",
              "depth": "query.num_traces"}


class JaegerClient(ComponentClient):
    """Read-only access to one Jaeger query service (port 16686)."""

    def __init__(self, http: Http) -> None:
        super().__init__(http)
        self._names = CAMEL_CASE
        #: Which api_v3 parameter form this Jaeger answered, and why (for messages and the report).
        self.search_form = "api_v3 search, camelCase parameters (Jaeger v2.19.0 or later)"

    def ready(self) -> bool:
        """True when the query API answers ``/api/v3/services`` with 200."""
        return self.http.request("GET", "/api/v3/services").status_code == 200

    def services(self) -> list[str]:
        """Service names that have stored spans (v2 lists itself as ``jaeger``)."""
        body = self.http.get_json("/api/v3/services")
        return [str(s) for s in (body or {}).get("services") or []]

    def trace(self, trace_id: str) -> list[Span] | None:
        """The spans of one trace, or None while Jaeger answers 404 (not stored yet)."""
        response = self.http.request("GET", f"/api/traces/{trace_id}")
        if response.status_code == 404:
            return None
        body = self.http.json_of(response)
        return [span for trace in (body or {}).get("data") or [] for span in spans_from_ui(trace)]

    def find_traces(self, service: str, lookback_s: float, *, limit: int = 20,
                    now: float | None = None) -> list[Span]:
        """Spans of up to ``limit`` traces of ``service`` that started in the last ``lookback_s`` seconds.

        No match is ``404 No traces found`` since the api_v3 search exists; it returns ``[]``.
        """
        end = datetime.now(UTC).timestamp() if now is None else now
        values = {"service": service, "min": _rfc3339(end - lookback_s), "max": _rfc3339(end),
                  "depth": str(limit)}
        response = self._search(values)
        if response.status_code == 400 and self._names is CAMEL_CASE:
            refused = _error_message(response)
            older = self._search(values, SNAKE_CASE)
            if older.status_code != 400:  # the old names worked: remember them for every later search
                self._names = SNAKE_CASE
                self.search_form = ("api_v3 search, snake_case parameters: Jaeger answered the camelCase "
                                    f"ones with HTTP 400 ({refused}), so it is older than v2.19.0")
            response = older
        if response.status_code == 404:
            return []
        body = self.http.json_of(response)
        result = cast(dict[str, Any], (body or {}).get("result") or {})
        return spans_from_otlp(result.get("resourceSpans") or [])

    def _search(self, values: dict[str, str], names: dict[str, str] | None = None) -> requests.Response:
        names = names or self._names
        return self.http.request("GET", "/api/v3/traces", params={names[k]: v for k, v in values.items()})


def _error_message(response: requests.Response) -> str:
    """The ``message`` of an api_v3 error body ``{"error": {"httpCode": 400, "message": ...}}``
    (jaeger.md §7), else the body itself, scrubbed and cut."""
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text
    return truncate(str(message))
