"""A small Prometheus client: readiness, instant queries, targets, rules and alerts.

Queries and targets go through ``prometheus-api-client``; rules and alerts (which it lacks) through the
same session. Shapes follow the real 2.42 capture in ``shared/contracts/prometheus.md``.

>>> prom = PrometheusClient(Http("prometheus", "http://127.0.0.1:29090"))  # doctest: +SKIP
>>> prom.query('up{job="prometheus"}')[0]["value"][1]  # doctest: +SKIP
'1'
"""
from __future__ import annotations

from typing import Any, TypedDict, cast

from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from urllib3.util.retry import Retry

from stackcheck.clients.http import ComponentClient, Http
from stackcheck.errors import ApiError, truncate


class Target(TypedDict, total=False):
    """One entry of ``activeTargets``; ``lastError`` is ``""`` when healthy."""

    scrapePool: str
    scrapeUrl: str
    labels: dict[str, str]
    health: str
    lastError: str
    #: RFC 3339; Go's zero time until the first scrape. Judged against ``scrapeInterval`` ("15s").
    lastScrape: str
    scrapeInterval: str
    scrapeTimeout: str


class Rule(TypedDict, total=False):
    """One rule of ``/api/v1/rules``; ``lastError`` is omitted when empty."""

    name: str
    query: str
    type: str
    health: str
    lastError: str
    state: str
    duration: float
    labels: dict[str, str]
    annotations: dict[str, str]
    alerts: list[dict[str, Any]]
    #: Wall-clock start of the rule's latest evaluation (RFC 3339; Go's zero time before the first).
    lastEvaluation: str


class RuleGroup(TypedDict, total=False):
    """A rule group: ``name``, ``file``, ``interval`` (seconds), ``rules`` and ``lastEvaluation``."""

    name: str
    file: str
    interval: float
    rules: list[Rule]
    lastEvaluation: str


class PrometheusClient(ComponentClient):
    """Read-only access to one Prometheus server."""

    def __init__(self, http: Http) -> None:
        super().__init__(http)
        self._api = PrometheusConnect(
            url=http.base_url, session=http.session, timeout=int(http.timeout) or 1,
            headers=dict(http.session.headers),
            # PrometheusConnect otherwise mounts a 3-retry, 0+2+4 s back-off adapter on our shared session:
            # a 500 became "unreachable (RetryError)" after 6 s, and a down Prometheus took 6 s to report.
            retry=Retry(total=0, read=False),
        )

    def ready(self) -> bool:
        """True when ``/-/ready`` answers 200 (WAL replay finished)."""
        return self.http.request("GET", "/-/ready").status_code == 200

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Evaluate ``expr`` now; returns the vector result (possibly empty)."""
        with self.http.translating():
            try:
                result = self._api.custom_query(expr)
            except PrometheusApiClientException as exc:
                raise ApiError(f"prometheus at {self.url} rejected query {expr!r}: "
                               f"{truncate(str(exc))}") from exc
        return cast(list[dict[str, Any]], result)

    def now(self) -> float:
        """Prometheus' own clock (``time()``), so freshness is judged without trusting ours."""
        body = self.http.get_json("/api/v1/query", params={"query": "time()"})
        return float(body["data"]["result"][1])

    def started_at(self) -> str:
        """When this Prometheus process started (``runtimeinfo.startTime``, RFC 3339): samples older than
        that were written by an earlier process over the same TSDB."""
        body = self.http.get_json("/api/v1/status/runtimeinfo")
        return str(body["data"]["startTime"])

    def targets(self, scrape_pool: str | None = None) -> list[Target]:
        """Active scrape targets, all of them or one scrape pool's (``scrapePool``, Prometheus >= 2.42)."""
        with self.http.translating():
            try:
                data = self._api.get_targets(state="active", scrape_pool=scrape_pool)
            except PrometheusApiClientException as exc:
                raise ApiError(f"prometheus at {self.url} /api/v1/targets failed: "
                               f"{truncate(str(exc))}") from exc
        return cast(list[Target], data.get("activeTargets", []))

    def rule_groups(self, kind: str | None = None) -> list[RuleGroup]:
        """Every loaded rule group with its rules' health and alert states; ``kind`` "alert" or "record"
        asks Prometheus for those rules only (``type=``), so a check reads no more than it needs."""
        body = self.http.get_json("/api/v1/rules", params={"type": kind} if kind else None)
        return cast(list[RuleGroup], body["data"]["groups"])

    def alerts(self) -> list[dict[str, Any]]:
        """Active alerts, pending and firing (filter on ``state``)."""
        body = self.http.get_json("/api/v1/alerts")
        return cast(list[dict[str, Any]], body["data"]["alerts"])

    def alertmanagers(self) -> list[str]:
        """URLs of the Alertmanagers this Prometheus has discovered."""
        body = self.http.get_json("/api/v1/alertmanagers")
        return [am["url"] for am in body["data"]["activeAlertmanagers"]]
