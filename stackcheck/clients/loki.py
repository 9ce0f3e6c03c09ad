"""A small Loki client: readiness, log queries over a time range, and label names.

Shapes and limits follow ``shared/contracts/loki.md`` and its real Loki 3.6.11 captures (§10):

* ``query_range`` with a log query answers ``resultType: streams``, each value
  ``[<nanosecond timestamp as a string>, <line>]`` (a third element, structured metadata, appears with
  ``categorize-labels`` and is ignored). Loki adds labels of its own to each stream: ``service_name`` and,
  without ``categorize-labels``, ``detected_level``.
* ``limit`` caps the entries over **all** streams of the answer, and Loki answers 400 above
  ``max_entries_limit_per_query`` (5000 by default), so the client never asks for more.
* ``start`` is inclusive and ``end`` exclusive, both nanosecond integers; bounds are passed as integers
  (``time.time_ns()``), never as float seconds, which lose the last digits.
* ``/labels`` leaves ``data`` out when there are none; query errors are plain text, which
  :class:`~stackcheck.clients.http.Http` quotes in the :class:`~stackcheck.errors.ApiError`.

>>> loki = LokiClient(Http("loki", "http://127.0.0.1:3100"))  # doctest: +SKIP
>>> now = time.time_ns()  # doctest: +SKIP
>>> loki.query_range('{namespace="phase5"}', start_ns=now - 60 * NS, end_ns=now + 1,
...                  limit=1)  # doctest: +SKIP
[({'namespace': 'phase5', 'app': 'phase5-backend', 'service_name': 'phase5-backend', ...},
  [(1796110148379800470, '{"ts": "2026-12-01T07:29:08.218Z", ...}')])]
"""
from __future__ import annotations

from typing import Any, Literal

from stackcheck.clients.http import ComponentClient, Http
from stackcheck.errors import ApiError, truncate

#: One log entry: (nanoseconds since the epoch, the line).
Entry = tuple[int, str]
#: One stream: its labels and its entries, in the order Loki returned them.
Stream = tuple[dict[str, str], list[Entry]]

#: Nanoseconds per second.
NS = 1_000_000_000
#: Loki's default ``limits_config.max_entries_limit_per_query``: ``limit=5001`` gets a 400 (loki.md §10).
MAX_ENTRIES_LIMIT = 5000

__all__ = ["MAX_ENTRIES_LIMIT", "NS", "Entry", "LokiClient", "Stream"]


class LokiClient(ComponentClient):
    """Read-only access to one single-tenant Loki.

    The stack runs ``auth_enabled: false`` (lint.promise[loki.single_tenant]), so no request carries
    X-Scope-OrgID; a multi-tenant Loki answers 401 "no org id", which the client reports as such.
    """

    def __init__(self, http: Http) -> None:
        super().__init__(http)

    def ready(self) -> bool:
        """True when ``/ready`` answers 200. A starting Loki answers 503 until its ingester's
        ``min_ready_duration`` has passed and its query frontend has found a scheduler (loki.md §5):
        poll it."""
        return self.http.request("GET", "/ready").status_code == 200

    def query_range(self, logql: str, *, start_ns: int, end_ns: int, limit: int = 100,
                    direction: Literal["backward", "forward"] = "backward") -> list[Stream]:
        """Log lines matching ``logql`` with ``start_ns <= timestamp < end_ns`` (Loki's ``end`` is exclusive:
        pass ``t + 1`` to include an entry stamped ``t``).

        ``limit`` caps the entries over all streams (at most :data:`MAX_ENTRIES_LIMIT`); ``backward`` returns
        the newest first.
        """
        if not (isinstance(start_ns, int) and isinstance(end_ns, int)):
            raise TypeError("start_ns and end_ns are nanosecond integers (time.time_ns()), not float seconds")
        if end_ns <= start_ns:
            raise ValueError(f"empty window: end_ns {end_ns} is not after start_ns {start_ns} "
                             "(Loki's end is exclusive)")
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        params = {"query": logql, "start": str(start_ns), "end": str(end_ns),
                  "limit": str(min(limit, MAX_ENTRIES_LIMIT)), "direction": direction}
        body = self.http.get_json("/loki/api/v1/query_range", params=params)
        data: dict[str, Any] = (body or {}).get("data") or {}
        if data.get("resultType") != "streams":
            raise ApiError(
                f"loki at {self.url} answered resultType {data.get('resultType')!r} for {logql!r}; "
                f"a log query returns streams (is it a metric query?): {truncate(str(body))}")
        return [(dict(item.get("stream") or {}), [(int(v[0]), str(v[1])) for v in item.get("values") or []])
                for item in data.get("result") or []]

    def labels(self) -> list[str]:
        """Label names Loki holds for the default range (6 h), Loki's own ``service_name`` included;
        ``[]`` when it has none."""
        body = self.http.get_json("/loki/api/v1/labels")
        # An empty answer is {"status":"success"} with no "data" (grafana/loki#4927; loki.md §10).
        return [str(name) for name in (body or {}).get("data") or []]
