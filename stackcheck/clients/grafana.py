"""A small Grafana client: health, datasources and their health, dashboards, and datasource queries.

Built on :class:`~stackcheck.clients.http.Http`, not the ``grafana-client`` package: that package sends
through its own ``niquests`` session (so our credentials, 401 mapping and secret scrubbing would not
apply), takes host/port/protocol instead of a base URL, and has no types; the calls below are a few lines
each. Shapes follow ``shared/contracts/grafana.md`` (Grafana 10-12 legacy ``/api``).

Three endpoints answer a useful JSON body with an error status, and return it instead of raising:
``/api/health`` (503 when the database fails), ``/api/datasources/uid/<uid>/health`` (400 unless OK) and
``/api/ds/query`` (400 when any query fails, with the error per refId).

>>> grafana = GrafanaClient(Http("grafana", "http://127.0.0.1:3000"))  # doctest: +SKIP
>>> grafana.query("prometheus", "sum(up)", instant=True).frames[0]["data"]["values"]  # doctest: +SKIP
[[1768000000000], [12]]
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict, cast

import requests

from stackcheck.clients.http import ComponentClient
from stackcheck.errors import ApiError, truncate
from stackcheck.secrets import safe_url


class Health(TypedDict):
    """``/api/health``: ``database`` is ``ok`` or ``failing``; ``hide_version`` omits version and commit."""

    database: str
    version: NotRequired[str]
    commit: NotRequired[str]


class Datasource(TypedDict):
    """One entry of ``/api/datasources`` (grafana.md §4: every field is always there)."""

    id: int
    uid: str
    name: str
    type: str
    url: str
    isDefault: bool
    jsonData: dict[str, Any]
    readOnly: bool


class DatasourceHealth(TypedDict):
    """``/api/datasources/uid/<uid>/health``: ``status`` is ``OK``, ``ERROR`` or ``UNKNOWN``."""

    status: str
    message: str
    details: NotRequired[dict[str, Any]]


class SearchHit(TypedDict):
    """One entry of ``/api/search``; ``folder*`` fields are absent in the root folder."""

    id: int
    uid: str
    title: str
    url: str
    type: str
    tags: list[str]
    folderUid: NotRequired[str]
    folderTitle: NotRequired[str]


class Frame(TypedDict, total=False):
    """A data frame: ``schema.fields[i]`` describes the column ``data.values[i]`` (column-major)."""

    schema: dict[str, Any]
    data: dict[str, Any]


@dataclass(frozen=True)
class QueryResult:
    """What ``/api/ds/query`` answered for one refId: frames, or an error (``status`` is optional)."""

    frames: list[Frame]
    error: str | None = None
    status: int | None = None


def _when(value: str | float) -> str:
    """``from``/``to`` are epoch milliseconds or relative times such as ``now-1h`` (grafana.md §6)."""
    return value if isinstance(value, str) else str(int(value * 1000))


class GrafanaClient(ComponentClient):
    """Read-only access to one Grafana (queries through ``/api/ds/query`` change nothing)."""

    def _json(self, response: requests.Response, also: tuple[int, ...] = ()) -> Any:
        """Decode a 2xx body, or one of the ``also`` statuses whose JSON body carries the verdict."""
        if response.status_code not in also:
            return self.http.json_of(response)
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(f"grafana {safe_url(response.url)} answered HTTP {response.status_code}, "
                           f"not JSON: {truncate(response.text)}") from exc

    def health(self) -> Health:
        """``/api/health`` (no auth needed); a failing database comes with 503 and is returned too."""
        return cast(Health, self._json(self.http.request("GET", "/api/health"), also=(503,)))

    def datasources(self) -> list[Datasource]:
        """Every datasource of the organisation."""
        return cast(list[Datasource], self.http.get_json("/api/datasources"))

    def datasource_health(self, uid: str) -> DatasourceHealth:
        """Run the datasource's own health check; an ``ERROR`` verdict (HTTP 400) is returned, not raised."""
        response = self.http.request("GET", f"/api/datasources/uid/{uid}/health")
        body = self._json(response, also=(400,))
        if response.status_code == 400 and not (isinstance(body, dict) and "status" in body):
            raise ApiError(f"grafana {safe_url(response.url)} answered HTTP 400: {truncate(response.text)}")
        return cast(DatasourceHealth, body)

    def search_dashboards(self, query: str | None = None) -> list[SearchHit]:
        """Dashboards (not folders) whose title matches ``query``, or all of them."""
        params = {"type": "dash-db", **({"query": query} if query else {})}
        return cast(list[SearchHit], self.http.get_json("/api/search", params=params))

    def dashboard(self, uid: str) -> dict[str, Any] | None:
        """``{"dashboard": ..., "meta": ...}`` of one dashboard, or None when Grafana has no such uid."""
        response = self.http.request("GET", f"/api/dashboards/uid/{uid}")
        if response.status_code == 404:
            return None
        return cast(dict[str, Any], self.http.json_of(response))

    def query(self, datasource_uid: str, expr: str, *, instant: bool = False, start: str | float = "now-5m",
              end: str | float = "now", interval_ms: int = 15_000, max_data_points: int = 1000,
              ref_id: str = "A", extra: Mapping[str, Any] | None = None) -> QueryResult:
        """Run one query through a datasource, as a panel does; ``extra`` adds panel target fields.

        ``start``/``end`` are epoch seconds or Grafana relative times. Dashboard variables must already be
        substituted (the browser does that, not the server); ``$__rate_interval`` and friends are left to
        the datasource.
        """
        query = {**(extra or {}), "refId": ref_id, "datasource": {"uid": datasource_uid}, "expr": expr,
                 "instant": instant, "range": not instant, "intervalMs": interval_ms,
                 "maxDataPoints": max_data_points}
        body = {"queries": [query], "from": _when(start), "to": _when(end)}
        response = self.http.request("POST", "/api/ds/query", json=body)
        answer = self._json(response, also=(400,))
        results = answer.get("results") if isinstance(answer, dict) else None
        if not isinstance(results, dict) or ref_id not in results:
            # A request-level error ({"message": ...}) or a body without our refId.
            raise ApiError(f"grafana {safe_url(response.url)} answered HTTP {response.status_code} without a "
                           f"result for refId {ref_id}: {truncate(response.text)}")
        result = results[ref_id]
        return QueryResult(frames=cast(list[Frame], result.get("frames") or []), error=result.get("error"),
                           status=result.get("status"))
