"""A small Loki client: readiness, log queries over a time range, and label names.

Shapes follow ``shared/contracts/loki.md`` (Loki 3.x): ``query_range`` with a log query answers
``resultType: streams``, each value ``[<nanosecond timestamp as a string>, <line>]`` (a third element,
structured metadata, appears with ``categorize-labels`` and is ignored); ``/labels`` leaves ``data`` out
when there are none; query errors are plain text, which :class:`~stackcheck.clients.http.Http` quotes in
the :class:`~stackcheck.errors.ApiError`.

>>> loki = LokiClient(Http("loki", "http://127.0.0.1:3100"))  # doctest: +SKIP
>>> now = time.time()
>>> loki.query_range('{namespace="phase5"}', start=now - 60, end=now, limit=1)  # doctest: +SKIP
[({'namespace': 'phase5', 'app': 'phase5-backend', ...}, [(1768000000123456789, '{"ts": ...}')])]
"""
from __future__ import annotations

from typing import Any, Literal

from stackcheck.clients.http import ComponentClient, Http
from stackcheck.errors import ApiError, truncate

#: One log entry: (nanoseconds since the epoch, the line).
Entry = tuple[int, str]
#: One stream: its labels and its entries, in the order Loki returned them.
Stream = tuple[dict[str, str], list[Entry]]

_NS = 1_000_000_000


def _ns(seconds: float) -> str:
    """Loki accepts nanosecond epoch integers (loki.md §2); floats would lose the sub-second part."""
    return str(int(seconds * _NS))


class LokiClient(ComponentClient):
    """Read-only access to one Loki (single tenant unless ``tenant`` is given)."""

    def __init__(self, http: Http, *, tenant: str | None = None) -> None:
        super().__init__(http)
        # With auth_enabled (Loki's default) every request needs X-Scope-OrgID, else 401 "no org id".
        self._headers = {"X-Scope-OrgID": tenant} if tenant else {}

    def ready(self) -> bool:
        """True when ``/ready`` answers 200; a starting Loki answers 503 for about 15 s (poll it)."""
        return self.http.request("GET", "/ready", headers=self._headers).status_code == 200

    def query_range(self, logql: str, start: float, end: float, limit: int = 100,
                    direction: Literal["backward", "forward"] = "backward") -> list[Stream]:
        """Log lines matching ``logql`` between ``start`` (inclusive) and ``end`` (exclusive), in seconds.

        ``limit`` caps the entries over all streams; ``backward`` returns the newest first.
        """
        params = {"query": logql, "start": _ns(start), "end": _ns(end), "limit": str(limit),
                  "direction": direction}
        body = self.http.get_json("/loki/api/v1/query_range", params=params, headers=self._headers)
        data: dict[str, Any] = (body or {}).get("data") or {}
        if data.get("resultType") != "streams":
            raise ApiError(
                f"loki at {self.url} answered resultType {data.get('resultType')!r} for {logql!r}; "
                f"a log query returns streams (is it a metric query?): {truncate(str(body))}")
        return [(dict(item.get("stream") or {}), [(int(v[0]), str(v[1])) for v in item.get("values") or []])
                for item in data.get("result") or []]

    def labels(self) -> list[str]:
        """Label names Loki holds for the default range (6 h); ``[]`` when it has none."""
        body = self.http.get_json("/loki/api/v1/labels", headers=self._headers)
        # An empty answer is {"status":"success"} with no "data" (grafana/loki#4927).
        return [str(name) for name in (body or {}).get("data") or []]
