"""The Prometheus and Alertmanager clients against a double that replays real 2.42 / 0.25 captures.

Every failure must surface as a stackcheck error whose message names the component's URL; no
``requests`` exception may leak.
"""
from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from urllib3.util.retry import Retry

from stackcheck.clients.alertmanager import AlertmanagerClient
from stackcheck.clients.http import Credentials, Http
from stackcheck.clients.prometheus import PrometheusClient
from stackcheck.errors import ApiError, StackcheckError, Unauthorized, Unreachable
from tests.fakes import FakeServer, alertmanager_fake_fixture, prometheus_fake_fixture  # noqa: F401


@pytest.fixture(autouse=True)
def backoffs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Retry back-off sleeps requested by urllib3 (made instant, so a retrying client stays fast)."""
    asked: list[float] = []

    def no_sleep(self: Retry) -> float:
        asked.append(1.0)
        return 0.0

    monkeypatch.setattr(Retry, "get_backoff_time", no_sleep)
    return asked


@pytest.fixture
def closed_url() -> Iterator[str]:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield f"http://127.0.0.1:{port}"


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A loopback URL that accepts connections but never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def prom(url: str, **kwargs: Any) -> PrometheusClient:
    return PrometheusClient(Http("prometheus", url, **kwargs))


def am(url: str, **kwargs: Any) -> AlertmanagerClient:
    return AlertmanagerClient(Http("alertmanager", url, **kwargs))


PROM_CALLS: dict[str, Callable[[PrometheusClient], Any]] = {
    "ready": lambda c: c.ready(), "query": lambda c: c.query("up"), "targets": lambda c: c.targets(),
    "rule_groups": lambda c: c.rule_groups(), "alerts": lambda c: c.alerts(),
    "alertmanagers": lambda c: c.alertmanagers(),
}
AM_CALLS: dict[str, Callable[[AlertmanagerClient], Any]] = {
    "ready": lambda c: c.ready(), "alerts": lambda c: c.alerts(), "receivers": lambda c: c.receivers(),
    "status": lambda c: c.status(),
}


# --- Prometheus: the happy path on real bodies ----------------------------------------------------

def test_prometheus_ready_is_true_on_200(prometheus_fake: FakeServer) -> None:
    """ready() is True when /-/ready answers 200."""
    assert prom(prometheus_fake.url).ready() is True


def test_prometheus_query_returns_the_vector(prometheus_fake: FakeServer) -> None:
    """query('up') returns one sample per series, with its labels and string value."""
    result = prom(prometheus_fake.url).query("up")
    assert {r["metric"]["job"]: r["value"][1] for r in result} == {
        "prometheus": "1", "alertmanager": "1", "down-target": "0"}


def test_prometheus_query_returns_an_empty_list_for_an_unknown_metric(prometheus_fake: FakeServer) -> None:
    """A query that matches nothing returns [] (not an error)."""
    assert prom(prometheus_fake.url).query("does_not_exist_metric") == []


def test_prometheus_targets_lists_active_targets(prometheus_fake: FakeServer) -> None:
    """targets() returns activeTargets with scrapePool, health and lastError."""
    targets = prom(prometheus_fake.url).targets()
    assert {t["scrapePool"]: t["health"] for t in targets} == {
        "alertmanager": "up", "down-target": "down", "prometheus": "up"}


def test_prometheus_rule_groups_returns_groups_with_rules(prometheus_fake: FakeServer) -> None:
    """rule_groups() returns each group with its file and its rules' health."""
    groups = prom(prometheus_fake.url).rule_groups()
    assert [(g["name"], g["file"]) for g in groups] == [("stackcheck-example", "rules.yml")]
    assert {r["name"]: r["health"] for r in groups[0]["rules"]} == {
        "job:up:sum": "ok", "broken:many_to_many": "err", "AlwaysFiring": "ok", "TargetDown": "ok"}


def test_prometheus_alerts_returns_pending_and_firing(prometheus_fake: FakeServer) -> None:
    """alerts() returns active alerts with their state."""
    alerts = prom(prometheus_fake.url).alerts()
    assert {a["labels"]["alertname"]: a["state"] for a in alerts} == {
        "AlwaysFiring": "firing", "TargetDown": "pending"}


def test_prometheus_alertmanagers_lists_discovered_urls(prometheus_fake: FakeServer) -> None:
    """alertmanagers() returns the URLs Prometheus sends alerts to."""
    assert prom(prometheus_fake.url).alertmanagers() == ["http://127.0.0.1:19093/api/v2/alerts"]


# --- Prometheus: errors ---------------------------------------------------------------------------

def test_rejected_query_is_an_api_error_naming_the_query(prometheus_fake: FakeServer) -> None:
    """A query Prometheus rejects (400 bad_data) is an ApiError naming the query and Prometheus' reason."""
    client = prom(prometheus_fake.url)
    with pytest.raises(ApiError) as caught:
        client.query("sum(")
    message = str(caught.value)
    assert message.startswith(f"prometheus at {prometheus_fake.url} rejected query 'sum(': ")
    assert "unclosed left parenthesis" in message


def test_unknown_endpoint_is_an_api_error_naming_url_and_status(prometheus_fake: FakeServer) -> None:
    """A 404 from an endpoint is an ApiError naming component, URL, status and the server's text."""
    with pytest.raises(ApiError) as caught:
        Http("prometheus", prometheus_fake.url).get_json("/api/v1/doesnotexist")
    assert str(caught.value) == (f"prometheus {prometheus_fake.url}/api/v1/doesnotexist answered HTTP 404: "
                                 "404 page not found")


def test_non_json_body_is_an_api_error(prometheus_fake: FakeServer) -> None:
    """A 200 that is not JSON is an ApiError quoting the body."""
    with pytest.raises(ApiError) as caught:
        Http("prometheus", prometheus_fake.url).get_json("/-/ready")
    assert str(caught.value) == (f"prometheus {prometheus_fake.url}/-/ready did not answer JSON: "
                                 "Prometheus Server is Ready.")


def test_unreachable_prometheus_names_the_url(closed_url: str) -> None:
    """Nothing listening is Unreachable, naming the component, its URL and what to check."""
    with pytest.raises(Unreachable) as caught:
        prom(closed_url).ready()
    assert str(caught.value) == (f"prometheus is unreachable at {closed_url} (ConnectionError); "
                                 "check that it is running and the URL is right")


def test_silent_component_is_unreachable_naming_the_timeout(silent_url: str) -> None:
    """A component that accepts but never answers is Unreachable after the timeout, naming it."""
    with pytest.raises(Unreachable) as caught:
        am(silent_url, timeout=0.2).ready()
    assert str(caught.value) == (f"alertmanager at {silent_url} did not answer within 0.2s; "
                                 "is it overloaded or down?")


def test_unauthorized_names_the_credentials(prometheus_fake: FakeServer) -> None:
    """A 401 is Unauthorized (exit 3), naming the URL and telling to check the credentials."""
    prometheus_fake.require_bearer("the-right-token")
    with pytest.raises(Unauthorized) as caught:
        prom(prometheus_fake.url, credentials=Credentials(bearer_token="a-wrong-token")).rule_groups()
    assert str(caught.value) == (f"prometheus at {prometheus_fake.url} refused the request (HTTP 401); "
                                 "check the credentials (expired or wrong token?)")


def test_forbidden_is_unauthorized(prometheus_fake: FakeServer) -> None:
    """A 403 is Unauthorized too, with the status in the message."""
    prometheus_fake.force_status(403)
    with pytest.raises(Unauthorized, match=r"refused the request \(HTTP 403\); check the credentials"):
        prom(prometheus_fake.url).ready()


def test_bearer_token_is_sent(prometheus_fake: FakeServer) -> None:
    """With the right bearer token every call succeeds (the Authorization header is sent)."""
    prometheus_fake.require_bearer("the-right-token")
    client = prom(prometheus_fake.url, credentials=Credentials(bearer_token="the-right-token"))
    assert client.ready() and client.query("up") and client.targets() and client.rule_groups()
    assert all(r.headers.get("Authorization") == "Bearer the-right-token" for r in prometheus_fake.requests)


@pytest.mark.parametrize("call", ["query", "targets"])
def test_unauthorized_query_and_targets_are_unauthorized(prometheus_fake: FakeServer, call: str) -> None:
    """query() and targets() report 401 as Unauthorized (exit 3), like every other call."""
    prometheus_fake.require_bearer("the-right-token")
    with pytest.raises(Unauthorized, match=r"refused the request \(HTTP 401\); check the credentials"):
        PROM_CALLS[call](prom(prometheus_fake.url, credentials=Credentials(bearer_token="a-wrong-token")))


def test_prometheus_server_error_is_an_api_error_after_one_request(prometheus_fake: FakeServer) -> None:
    """A 500 is an ApiError naming the status, after exactly one request (no hidden retries)."""
    prometheus_fake.force_status(500)
    with pytest.raises(ApiError, match=r"answered HTTP 500"):
        prom(prometheus_fake.url).rule_groups()
    assert len(prometheus_fake.requests) == 1


def test_unreachable_prometheus_is_reported_without_back_off(closed_url: str, backoffs: list[float]) -> None:
    """A refused connection is reported at once: no retry back-off is requested."""
    with pytest.raises(Unreachable):
        prom(closed_url).ready()
    assert backoffs == []


# --- Alertmanager ---------------------------------------------------------------------------------

def test_alertmanager_alerts_have_labels_receivers_and_state(alertmanager_fake: FakeServer) -> None:
    """alerts() returns the active alerts with labels, receivers[].name and status.state."""
    alerts = am(alertmanager_fake.url).alerts()
    assert [(a["labels"]["alertname"], [r["name"] for r in a["receivers"]], a["status"]["state"])
            for a in alerts] == [("AlwaysFiring", ["webhook-test"], "active")]
    assert alertmanager_fake.requests[-1].path == "/api/v2/alerts?active=true&silenced=false&inhibited=false"


def test_alertmanager_alerts_with_inactive_ones_include_silenced(alertmanager_fake: FakeServer) -> None:
    """alerts(active_only=False) asks for every alert, silenced ones included, with silencedBy set."""
    alertmanager_fake.prefer("alerts_silenced.json")
    alerts = am(alertmanager_fake.url).alerts(active_only=False)
    assert [(a["status"]["state"], bool(a["status"]["silencedBy"])) for a in alerts] == [("suppressed", True)]
    assert alertmanager_fake.requests[-1].path == "/api/v2/alerts"


def test_alertmanager_receivers_lists_names(alertmanager_fake: FakeServer) -> None:
    """receivers() returns the configured receiver names."""
    assert am(alertmanager_fake.url).receivers() == ["webhook-test", "null"]


def test_alertmanager_status_carries_the_loaded_config(alertmanager_fake: FakeServer) -> None:
    """status() returns versionInfo and the loaded config's YAML."""
    status = am(alertmanager_fake.url).status()
    assert status["versionInfo"]["version"] == "0.25.0"
    assert "receiver: webhook-test" in status["config"]["original"]


def test_alertmanager_ready_is_true_on_200(alertmanager_fake: FakeServer) -> None:
    """ready() is True when /-/ready answers 200."""
    assert am(alertmanager_fake.url).ready() is True


def test_alertmanager_server_error_is_an_api_error(alertmanager_fake: FakeServer) -> None:
    """A 500 is an ApiError naming the component, the URL and the status."""
    alertmanager_fake.force_status(500)
    with pytest.raises(ApiError) as caught:
        am(alertmanager_fake.url).receivers()
    expected = f"alertmanager {alertmanager_fake.url}/api/v2/receivers answered HTTP 500"
    assert str(caught.value).startswith(expected), str(caught.value)


# --- no requests exception leaks ------------------------------------------------------------------

@pytest.mark.parametrize("failure", ["refused", 401, 500])
@pytest.mark.parametrize("call", list(PROM_CALLS))
def test_prometheus_failures_are_stackcheck_errors(call: str, failure: str | int, closed_url: str,
                                                   prometheus_fake: FakeServer) -> None:
    """Whatever goes wrong, PrometheusClient raises a stackcheck error, never a requests exception."""
    url = closed_url
    if failure != "refused":
        prometheus_fake.force_status(int(failure))
        url = prometheus_fake.url
    assert_stackcheck_error(lambda: PROM_CALLS[call](prom(url)), call, url)


@pytest.mark.parametrize("failure", ["refused", 401, 500])
@pytest.mark.parametrize("call", list(AM_CALLS))
def test_alertmanager_failures_are_stackcheck_errors(call: str, failure: str | int, closed_url: str,
                                                     alertmanager_fake: FakeServer) -> None:
    """Whatever goes wrong, AlertmanagerClient raises a stackcheck error, never a requests exception."""
    url = closed_url
    if failure != "refused":
        alertmanager_fake.force_status(int(failure))
        url = alertmanager_fake.url
    assert_stackcheck_error(lambda: AM_CALLS[call](am(url)), call, url)


def assert_stackcheck_error(call: Callable[[], Any], name: str, url: str) -> None:
    """The call raises a stackcheck error naming the URL; only ready() may answer False instead."""
    __tracebackhide__ = True
    try:
        result = call()
    except StackcheckError as exc:
        assert url in str(exc), f"{name}(): the message does not name {url}: {exc}"
    except Exception as exc:  # noqa: BLE001 - the point is to catch what leaks
        pytest.fail(f"{name}() leaked {type(exc).__module__}.{type(exc).__name__}: {exc}")
    else:
        assert name == "ready" and result is False, f"{name}() returned {result!r} instead of raising"
