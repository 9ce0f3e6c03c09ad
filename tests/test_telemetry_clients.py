"""The Jaeger and Grafana clients and their judging functions, on real upstream bodies (Loki: test_loki.py).

No Jaeger or Grafana runs here. The doubles in tests/fakes.py serve upstream fixture files
(tests/contracts/{loki,jaeger,grafana,otlp}/) and bodies quoted verbatim in shared/contracts/*.md; inputs
that no upstream body covers are built by hand in a test and say so in its docstring.
"""
from __future__ import annotations

import inspect
import json
import re
import socket
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from stackcheck.budgets import MARGIN_S
from stackcheck.checks import grafana as g
from stackcheck.checks import telemetry as t
from stackcheck.clients.grafana import GrafanaClient, QueryResult
from stackcheck.clients.http import Credentials, Http
from stackcheck.clients.jaeger import JaegerClient, Span, same_trace_id, spans_from_otlp, spans_from_ui
from stackcheck.clients.loki import LokiClient
from stackcheck.errors import ApiError, StackcheckError, Unauthorized, Unreachable
from stackcheck.expectations import Expectations
from stackcheck.manifests import Manifests
from stackcheck.probe import ProbeConfig, Ticker, build_span
from stackcheck.targets.base import SIGNAL_SOURCES
from stackcheck.timescale import parse_duration
from tests.fakes import (  # noqa: F401
    CONTRACTS,
    GRAFANA_DS_QUERY_DOC,
    GRAFANA_DS_QUERY_ERROR,
    GRAFANA_DS_QUERY_NOT_FOUND,
    GRAFANA_DS_QUERY_SDK,
    JAEGER_FIXTURE_TRACE_ID,
    JAEGER_OLD_SEARCH_REFUSED,
    PLAIN,
    BodyFake,
    Reply,
    grafana_fake_fixture,
    jaeger_fake_fixture,
    jaeger_routes,
)
from tests.lokifake import loki_fake_fixture  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = Manifests.find(str(ROOT / "manifests"))



def loki(url: str, **kwargs: Any) -> LokiClient:
    return LokiClient(Http("loki", url, **kwargs))


def jaeger(url: str, **kwargs: Any) -> JaegerClient:
    return JaegerClient(Http("jaeger", url, **kwargs))


def grafana(url: str, **kwargs: Any) -> GrafanaClient:
    return GrafanaClient(Http("grafana", url, **kwargs))


def fixture_json(relative: str) -> Any:
    return json.loads(Reply.file(relative).body)


@pytest.fixture
def closed_url() -> Iterator[str]:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield f"http://127.0.0.1:{port}"


# --- Jaeger ---------------------------------------------------------------------------------------

def test_jaeger_ready_is_true_when_the_query_api_answers(jaeger_fake: BodyFake) -> None:
    """ready() asks the query API (/api/v3/services): v2's health port is not the query port."""
    assert jaeger(jaeger_fake.url).ready() is True
    assert jaeger_fake.requests[-1].path == "/api/v3/services"


def test_jaeger_services_lists_names(jaeger_fake: BodyFake) -> None:
    """services() reads the api_v3 snapshot {"services": [...]}."""
    assert jaeger(jaeger_fake.url).services() == ["foo"]


def test_jaeger_trace_resolves_services_tags_and_microseconds(jaeger_fake: BodyFake) -> None:
    """trace() reads UI JSON: service from processes, tags by key, startTime in microseconds."""
    spans = jaeger(jaeger_fake.url).trace(JAEGER_FIXTURE_TRACE_ID)
    assert spans is not None and len(spans) == 2
    span = spans[0]
    assert (span.trace_id, span.span_id, span.name, span.service) == (
        JAEGER_FIXTURE_TRACE_ID, "e127af99e3b3e074", "okey-dokey-0", "telemetrygen")
    assert span.start_s == pytest.approx(1706678909.209712)
    assert span.tags["peer.service"] == "telemetrygen-client"
    assert span.tags["span.kind"] == "server"


def test_jaeger_trace_not_stored_yet_is_none(jaeger_fake: BodyFake) -> None:
    """404 "trace not found" (jaeger.md §1) means not stored yet: None, not an error."""
    assert jaeger(jaeger_fake.url).trace("0123456789abcdef0123456789abcdef") is None


def test_jaeger_trace_server_error_is_an_api_error(jaeger_fake: BodyFake) -> None:
    """Any other failure of /api/traces/{id} is an ApiError naming the URL and status."""
    jaeger_fake.force_status(500)
    with pytest.raises(ApiError, match=re.escape(jaeger_fake.url) + r"/api/traces/abc answered HTTP 500"):
        jaeger(jaeger_fake.url).trace("abc")


def test_jaeger_find_traces_reads_otlp_and_sends_the_window(jaeger_fake: BodyFake) -> None:
    """find_traces() uses api_v3 search with an RFC 3339 window and returns its OTLP spans."""
    spans = jaeger(jaeger_fake.url).find_traces("foo", 900, limit=1, now=1700000000.0)
    assert [(s.trace_id, s.span_id, s.name, s.service) for s in spans] == [
        ("00000000000000000000000000000001", "0000000000000002", "foobar", None)]
    params = jaeger_fake.params()
    assert params["query.serviceName"] == ["foo"] and params["query.searchDepth"] == ["1"]
    low, high = (datetime.fromisoformat(params[k][0]) for k in ("query.startTimeMin", "query.startTimeMax"))
    assert (low.timestamp(), high.timestamp()) == (1700000000.0 - 900, 1700000000.0)


def test_jaeger_find_traces_without_match_is_empty(jaeger_fake: BodyFake) -> None:
    """api_v3 answers a search without match with 404 "No traces found" (jaeger.md §7); that is []."""
    body = '{"error": {"httpCode": 404, "message": "No traces found"}}\n'
    jaeger_fake.serve("GET", "/api/v3/traces",
                      Reply.quoted(body, "jaeger.md §7 (derived from code)", 404, PLAIN))
    assert jaeger(jaeger_fake.url).find_traces("phase5-backend", 900) == []


class OlderJaeger(BodyFake):
    """A Jaeger v2 older than v2.19.0: its api_v3 search knows only the snake_case parameter names."""

    def lookup(self, method: str, target: str) -> Reply | None:
        if urlsplit(target).path == "/api/v3/traces" and "query.start_time_min" not in target:
            return Reply.quoted(JAEGER_OLD_SEARCH_REFUSED, "tests/fakes.py (derived from code)", 400, PLAIN)
        return super().lookup(method, target)


@pytest.fixture
def older_jaeger() -> Iterator[OlderJaeger]:
    with OlderJaeger("jaeger", jaeger_routes()) as fake:
        yield fake
    assert not fake.unmatched


def test_jaeger_search_says_which_parameter_form_answered(jaeger_fake: BodyFake) -> None:
    """A current Jaeger answers the camelCase search at once, and the client says so."""
    client = jaeger(jaeger_fake.url)
    client.find_traces("foo", 900)
    assert len(jaeger_fake.requests) == 1
    assert client.search_form == "api_v3 search, camelCase parameters (Jaeger v2.19.0 or later)"


def test_an_older_jaeger_is_searched_with_snake_case_names(older_jaeger: OlderJaeger) -> None:
    """Jaeger before v2.19.0 answers camelCase with 400; the search is sent again with snake_case names and
    returns the spans."""
    spans = jaeger(older_jaeger.url).find_traces("foo", 900, limit=3, now=1700000000.0)
    assert [s.name for s in spans] == ["foobar"]
    params = older_jaeger.params()
    assert params["query.service_name"] == ["foo"] and params["query.num_traces"] == ["3"]
    low, high = (datetime.fromisoformat(params[k][0]) for k in ("query.start_time_min",
                                                                "query.start_time_max"))
    assert (low.timestamp(), high.timestamp()) == (1700000000.0 - 900, 1700000000.0)


def test_an_older_jaeger_is_named_with_its_own_reply(older_jaeger: OlderJaeger) -> None:
    """The client says which form answered, quoting what Jaeger said to the camelCase one."""
    client = jaeger(older_jaeger.url)
    client.find_traces("foo", 900)
    assert client.search_form == (
        "api_v3 search, snake_case parameters: Jaeger answered the camelCase ones with HTTP 400 "
        "(query.start_time_min and query.start_time_max are required), so it is older than v2.19.0")


def test_the_snake_case_form_is_kept_for_later_searches(older_jaeger: OlderJaeger) -> None:
    """Once an older Jaeger answered, later searches go out in snake_case at once (one request each)."""
    client = jaeger(older_jaeger.url)
    client.find_traces("foo", 900)
    before = len(older_jaeger.requests)
    client.find_traces("foo", 900)
    assert len(older_jaeger.requests) == before + 1 and "query.service_name" in older_jaeger.params()


def test_a_400_in_both_forms_is_an_api_error_quoting_jaeger(jaeger_fake: BodyFake) -> None:
    """A search Jaeger refuses in both forms is an ApiError quoting its reply, not an empty result."""
    jaeger_fake.serve("GET", "/api/v3/traces",
                      Reply.quoted(JAEGER_OLD_SEARCH_REFUSED, "tests/fakes.py (derived from code)", 400,
                                   PLAIN))
    with pytest.raises(ApiError, match="HTTP 400: .*are required"):
        jaeger(jaeger_fake.url).find_traces("foo", 900)


def test_trace_ids_compare_without_case_and_dropped_zeros() -> None:
    """Jaeger prints a trace id with a zero high half in 16 characters (jaeger.md §5)."""
    assert same_trace_id("00000000000000000000000000000001", "0000000000000001")
    assert same_trace_id("5B8EFFF798038103D269B633813FC60C", "5b8efff798038103d269b633813fc60c")
    assert not same_trace_id("5b8efff798038103d269b633813fc60c", "5b8efff798038103d269b633813fc60d")


# --- Grafana --------------------------------------------------------------------------------------

def test_grafana_health_reads_database(grafana_fake: BodyFake) -> None:
    """health() returns the /api/health body; its database is ok."""
    body = grafana(grafana_fake.url).health()
    assert body == {"commit": "087143285", "database": "ok", "version": "5.1.3"}
    assert g.grafana_health_problem(body) is None


def test_grafana_datasources_is_the_array(grafana_fake: BodyFake) -> None:
    """datasources() returns the bare array with uid, name and type."""
    [ds] = grafana(grafana_fake.url).datasources()
    assert (ds["uid"], ds["name"], ds["type"]) == ("kLtEtcRGk", "test_datasource", "graphite")


def test_grafana_datasource_health_ok(grafana_fake: BodyFake) -> None:
    """datasource_health() calls /api/datasources/uid/<uid>/health; status OK passes."""
    body = grafana(grafana_fake.url).datasource_health("prometheus")
    assert grafana_fake.requests[-1].path == "/api/datasources/uid/prometheus/health"
    assert body["status"] == "OK" and g.datasource_health_problem("prometheus", body) is None


def test_grafana_datasource_health_error_verdict_is_returned(grafana_fake: BodyFake) -> None:
    """An ERROR verdict comes with HTTP 400 and is returned, not raised; the judge quotes it.

    Body built from grafana.md §5's payload shape and Loki's error message template (derived from code):
    no captured ERROR body exists.
    """
    body = json.dumps({"status": "ERROR",
                       "message": "There was an error returned querying the Loki API.: EOF"})
    grafana_fake.serve("GET", "/api/datasources/uid/<uid>/health", Reply.quoted(body, "grafana.md §5", 400))
    verdict = grafana(grafana_fake.url).datasource_health("loki")
    assert g.datasource_health_problem("loki", verdict) == (
        "datasource loki health check says ERROR: There was an error returned querying the Loki API.: EOF")


def test_grafana_datasource_health_400_without_verdict_is_an_api_error(grafana_fake: BodyFake) -> None:
    """A 400 that is not a health verdict (e.g. an invalid uid) is an ApiError quoting Grafana."""
    grafana_fake.serve("GET", "/api/datasources/uid/<uid>/health",
                       Reply.quoted(GRAFANA_DS_QUERY_NOT_FOUND, "grafana.md §6 envelope", 400))
    with pytest.raises(ApiError, match="HTTP 400.*Data source not found"):
        grafana(grafana_fake.url).datasource_health("x")


def test_grafana_search_lists_dashboards_only(grafana_fake: BodyFake) -> None:
    """search_dashboards() asks for type=dash-db and returns uid, title and folder."""
    [hit] = grafana(grafana_fake.url).search_dashboards()
    assert grafana_fake.params() == {"type": ["dash-db"]}
    assert (hit["uid"], hit["title"], hit["folderUid"]) == ("cIBgcSjkk", "Production Overview", "000000163")


def test_grafana_dashboard_by_uid(grafana_fake: BodyFake) -> None:
    """dashboard() returns {"dashboard", "meta"}."""
    body = grafana(grafana_fake.url).dashboard("cIBgcSjkk")
    assert body is not None and body["dashboard"]["title"] == "Production Overview"
    assert body["meta"]["folderUid"] == "l3KqBxCMz"


def test_grafana_unknown_dashboard_is_none(grafana_fake: BodyFake) -> None:
    """404 (grafana.md §3 lists the status; no body is quoted, so none is served) is None."""
    grafana_fake.serve("GET", "/api/dashboards/uid/<uid>",
                       Reply.quoted("", "grafana.md §3 (status only)", 404))
    assert grafana(grafana_fake.url).dashboard("stackcheck-system-overview") is None


def test_grafana_query_returns_frames_and_sends_the_panel_query(grafana_fake: BodyFake) -> None:
    """query() posts one query (refId, datasource uid, expr, instant/range, interval) and returns its
    frames."""
    result = grafana(grafana_fake.url).query("prometheus", "sum(up)", instant=True, start=1700000000.0,
                                             end="now", interval_ms=15000, extra={"legendFormat": "x"})
    assert g.frame_rows(result.frames) == 6 and result.error is None
    sent = json.loads(grafana_fake.bodies[-1])
    assert sent == {"queries": [{"legendFormat": "x", "refId": "A", "datasource": {"uid": "prometheus"},
                                 "expr": "sum(up)", "instant": True, "range": False, "intervalMs": 15000,
                                 "maxDataPoints": 1000}], "from": "1700000000000", "to": "now"}


def test_grafana_query_reads_status_and_several_frames(grafana_fake: BodyFake) -> None:
    """The SDK-pinned serialisation: a status per refId and two frames."""
    grafana_fake.serve("POST", "/api/ds/query", Reply.quoted(GRAFANA_DS_QUERY_SDK, "grafana.md §6"))
    result = grafana(grafana_fake.url).query("x", "y")
    assert (result.status, len(result.frames), g.frame_rows(result.frames)) == (202, 2, 3)


def test_grafana_query_reads_a_prometheus_range_result(grafana_fake: BodyFake) -> None:
    """Prometheus range results: one frame per series, labels on the value field (promlib golden)."""
    golden = Reply.file("grafana/promlib_range_simple.result.golden.jsonc")
    body = b'{"results": {"A": ' + golden.body + b"}}"
    grafana_fake.serve("POST", "/api/ds/query", Reply(200, body, "application/json", golden.source))
    result = grafana(grafana_fake.url).query("prometheus", "prometheus_http_requests_total")
    assert [f["schema"]["fields"][1]["labels"]["code"] for f in result.frames] == ["200", "400"]
    assert g.frame_rows(result.frames) == 5


def test_grafana_query_error_per_ref_id_is_returned_and_judged(grafana_fake: BodyFake) -> None:
    """A failing query answers 400 with the error under its refId; it is returned and judged as an error."""
    grafana_fake.serve("POST", "/api/ds/query", Reply.quoted(GRAFANA_DS_QUERY_ERROR, "grafana.md §6", 400))
    result = grafana(grafana_fake.url).query("loki", '{a=b}')
    assert result.status == 400 and result.frames == []
    query = g.PanelQuery("Agent logs", "A", "loki", "loki", '{a=b}', False, {})
    assert g.query_problem(query, '{a=b}', result) == (
        "panel 'Agent logs' query A failed: parse error at line 1, col 12: syntax error: unexpected "
        "IDENTIFIER, expecting STRING (query: {a=b})")


def test_grafana_query_request_error_is_an_api_error(grafana_fake: BodyFake) -> None:
    """A request-level error (unknown datasource, 404) has no results: ApiError quoting Grafana's message."""
    grafana_fake.serve("POST", "/api/ds/query",
                       Reply.quoted(GRAFANA_DS_QUERY_NOT_FOUND, "grafana.md §6", 404))
    with pytest.raises(ApiError, match=r"/api/ds/query answered HTTP 404: .*Data source not found"):
        grafana(grafana_fake.url).query("not-found", "up")


# --- every client: unreachable and unauthorized ---------------------------------------------------

CALLS: dict[str, tuple[str, Callable[[str, Any], Any]]] = {
    "loki.ready": ("loki", lambda url, kw: loki(url, **kw).ready()),
    "loki.query_range": ("loki", lambda url, kw: loki(url, **kw).query_range("{}", start_ns=0, end_ns=1)),
    "loki.labels": ("loki", lambda url, kw: loki(url, **kw).labels()),
    "jaeger.ready": ("jaeger", lambda url, kw: jaeger(url, **kw).ready()),
    "jaeger.services": ("jaeger", lambda url, kw: jaeger(url, **kw).services()),
    "jaeger.trace": ("jaeger", lambda url, kw: jaeger(url, **kw).trace(JAEGER_FIXTURE_TRACE_ID)),
    "jaeger.find_traces": ("jaeger", lambda url, kw: jaeger(url, **kw).find_traces("foo", 60)),
    "grafana.health": ("grafana", lambda url, kw: grafana(url, **kw).health()),
    "grafana.datasources": ("grafana", lambda url, kw: grafana(url, **kw).datasources()),
    "grafana.datasource_health": ("grafana", lambda url, kw: grafana(url, **kw).datasource_health("loki")),
    "grafana.search_dashboards": ("grafana", lambda url, kw: grafana(url, **kw).search_dashboards()),
    "grafana.dashboard": ("grafana", lambda url, kw: grafana(url, **kw).dashboard("cIBgcSjkk")),
    "grafana.query": ("grafana", lambda url, kw: grafana(url, **kw).query("prometheus", "up")),
}


@pytest.mark.parametrize("call", list(CALLS))
def test_unreachable_component_names_its_url(call: str, closed_url: str) -> None:
    """Connection refused is Unreachable (exit 3), naming the component and its URL; nothing else leaks."""
    component, run = CALLS[call]
    with pytest.raises(Unreachable, match=f"{component} is unreachable at {re.escape(closed_url)}"):
        run(closed_url, {})


@pytest.mark.parametrize("call", list(CALLS))
def test_unauthorized_component_names_the_credentials(call: str, request: pytest.FixtureRequest) -> None:
    """401 is Unauthorized naming the URL; the right bearer token gets through."""
    component, run = CALLS[call]
    fake: BodyFake = request.getfixturevalue(f"{component}_fake")
    fake.require_bearer("right-token")
    with pytest.raises(Unauthorized, match=re.escape(fake.url) + r" refused the request \(HTTP 401\)"):
        run(fake.url, {"credentials": Credentials(bearer_token="wrong-token")})
    try:
        run(fake.url, {"credentials": Credentials(bearer_token="right-token")})
    except StackcheckError as exc:  # e.g. the fake's 404 of an unknown trace id is not an auth failure
        raise AssertionError(f"{call} failed with the right token: {exc}") from exc


# --- judging traces -------------------------------------------------------------------------------

def otlp_spans() -> list[Span]:
    """The spans of the upstream OTLP input (otlp2jaeger-in.json): service telemetrygen, real start times."""
    return spans_from_otlp(fixture_json("jaeger/otlp2jaeger-in.json")["resourceSpans"])


def test_fresh_trace_of_a_listed_service_passes() -> None:
    """Service listed and a span of it started 5 s before now, by the span's own start time."""
    spans = otlp_spans()
    newest = max(s.start_s for s in spans if s.start_s is not None)
    assert t.trace_freshness_problem(["telemetrygen"], spans, service="telemetrygen", now_s=newest + 5,
                                     max_age_s=t.trace_fresh_s(), limit_from=t.PROBE_TRACE_LIMIT,
                                     lookback_s=900) is None


def test_unlisted_service_is_reported_with_what_jaeger_lists() -> None:
    """phase5-backend missing from the api_v3 services list: the message names both."""
    services = fixture_json("jaeger/apiv3_GetServices.json")["services"]
    assert t.trace_freshness_problem(services, [], service="phase5-backend", now_s=0, max_age_s=15,
                                     limit_from=t.PROBE_TRACE_LIMIT, lookback_s=900) == (
        "Jaeger does not list service 'phase5-backend'; it lists ['foo']")


def test_a_trace_that_started_long_ago_is_stale_whatever_the_store_returned() -> None:
    """A trace Jaeger still returns but that started 10 minutes ago is not fresh; its age is given."""
    spans = otlp_spans()
    newest = max(s.start_s for s in spans if s.start_s is not None)
    problem = t.trace_freshness_problem(["telemetrygen"], spans, service="telemetrygen", now_s=newest + 600,
                                        max_age_s=15.2, limit_from=t.PROBE_TRACE_LIMIT, lookback_s=900)
    assert problem == ("Jaeger has no trace of 'telemetrygen' that started in the last 15.2s (one probe "
                       "heartbeat period + delivery); the newest started 10m ago")


PRODUCTION_TRACE_LIMIT = ("the default without stackcheck's probe, which traces.window in --expectations "
                          "overrides")


@pytest.mark.parametrize("expect, limit", [
    (Expectations(), "15.2s (one probe heartbeat period + delivery)"),
    (Expectations.defaults(with_probe=False), f"15m ({PRODUCTION_TRACE_LIMIT})"),
    (Expectations.parse({"traces": {"window": "1h"}}, "prod.yml"), "1h (traces.window in prod.yml)"),
    (Expectations.parse({"traces": {"services": ["x"]}}, "prod.yml"),
     "15.2s (one probe heartbeat period + delivery)"),
], ids=["probe", "production", "file", "file-without-window"])
def test_a_stale_trace_names_the_window_that_applied_and_where_it_came_from(expect: Expectations,
                                                                            limit: str) -> None:
    """The window in traces.fresh's message is the one the expectations set, with its origin: the probe's
    heartbeat, the production default, or the file's ``traces.window``."""
    spans = otlp_spans()
    newest = max(s.start_s for s in spans if s.start_s is not None)
    problem = t.trace_freshness_problem(["telemetrygen"], spans, service="telemetrygen", now_s=newest + 7200,
                                        max_age_s=expect.trace_window_s, limit_from=expect.trace_window_from,
                                        lookback_s=7200)
    assert problem == (f"Jaeger has no trace of 'telemetrygen' that started in the last {limit}; "
                       "the newest started 2h ago")


def test_listed_service_without_any_trace_is_stale() -> None:
    """Listed but nothing in the whole lookback: stale, naming the lookback."""
    problem = t.trace_freshness_problem(["foo"], [], service="foo", now_s=0, max_age_s=15,
                                        limit_from=t.PROBE_TRACE_LIMIT, lookback_s=900)
    assert problem is not None and problem.endswith("none at all in the last 15m")


def test_spans_without_a_start_time_are_not_fresh() -> None:
    """The api_v3 FindTraces snapshot has no start time: nothing proves it is recent."""
    spans = spans_from_otlp(fixture_json("jaeger/apiv3_FindTraces.json")["result"]["resourceSpans"])
    assert t.trace_freshness_problem(["foo"], spans, service="foo", now_s=0, max_age_s=15,
                                     limit_from=t.PROBE_TRACE_LIMIT, lookback_s=900)


def ui_spans() -> list[Span]:
    return spans_from_ui(fixture_json("jaeger/otlp2jaeger-out.json")["data"][0])


def test_trace_canary_found_by_id_service_and_tag() -> None:
    """The rule on a real UI-JSON trace: a span of the service carrying the tag is the canary.

    The fixture has no stackcheck.run_id tag, so the rule is shown with its peer.service tag.
    """
    assert t.trace_canary_problem(ui_spans(), trace_id=JAEGER_FIXTURE_TRACE_ID.upper(),
                                  run_id="telemetrygen-client", service="telemetrygen", waited_s=1,
                                  attribute="peer.service") is None


def test_trace_canary_not_stored_names_trace_and_run() -> None:
    """Still 404 at the end of the budget: the message names the trace id, the run id and the wait."""
    assert t.trace_canary_problem(None, trace_id="abc", run_id="stackcheck-1", service="s", waited_s=5.2) == (
        "trace abc of run stackcheck-1 is not in Jaeger after 5s (GET /api/traces/abc still answers 404)")


def test_trace_canary_without_our_tag_says_what_was_seen() -> None:
    """A stored trace whose spans lack our run id: the message shows each span's service and tag value."""
    problem = t.trace_canary_problem(ui_spans(), trace_id=JAEGER_FIXTURE_TRACE_ID, run_id="stackcheck-1",
                                     service="phase5-backend", waited_s=1)
    assert problem is not None
    assert problem.startswith(f"trace {JAEGER_FIXTURE_TRACE_ID} of run stackcheck-1 is in Jaeger, but no "
                              "span of service 'phase5-backend' carries stackcheck.run_id=stackcheck-1")
    assert "span e127af99e3b3e074 'okey-dokey-0' of 'telemetrygen' with stackcheck.run_id=None" in problem


def test_jaeger_turns_otlp_attributes_into_tags_and_service_into_process() -> None:
    """The upstream in/out pair (POST /api/transform) shows what the canary relies on: each OTLP span
    attribute becomes a tag of the same key and value, and resource service.name the process's serviceName."""
    sent = spans_from_otlp(fixture_json("jaeger/otlp2jaeger-in.json")["resourceSpans"])
    shown = ui_spans()
    assert len(sent) == len(shown)
    for before, after in zip(sent, shown, strict=True):
        assert (after.trace_id, after.span_id, after.name, after.service) == (
            before.trace_id, before.span_id, before.name, before.service)
        assert before.tags.items() <= after.tags.items()
        assert after.start_s == pytest.approx(before.start_s)


def test_the_probe_span_carries_run_id_and_service() -> None:
    """build_span's payload, read like any OTLP body, has the run id attribute and the service."""
    payload = build_span("phase5-backend", "stackcheck-1", "GET /api/tasks", "ab" * 16, "cd" * 8, 1, 2)
    [span] = spans_from_otlp(payload["resourceSpans"])
    assert (span.service, span.tags[t.RUN_ID_ATTRIBUTE]) == ("phase5-backend", "stackcheck-1")
    assert span.trace_id == "ab" * 16


def _shape(value: Any) -> Any:
    """The keys and value kinds of a JSON value (lists by their first element)."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return type(value).__name__


def _missing(ours: Any, reference: Any, where: str = "$") -> list[str]:
    """Paths where ``ours`` has a key or kind the reference example does not."""
    if isinstance(ours, dict):
        if not isinstance(reference, dict):
            return [f"{where}: object where the example has {reference}"]
        return [p for key, item in ours.items()
                for p in (_missing(item, reference[key], f"{where}.{key}") if key in reference
                          else [f"{where}.{key}: not in the example"])]
    if isinstance(ours, list):
        return _missing(ours[0], reference[0], f"{where}[0]") if ours and reference else []
    return [] if ours == reference else [f"{where}: {ours} where the example has {reference}"]


def test_the_probe_span_has_the_shape_of_the_otlp_example() -> None:
    """Every field the probe sends exists, with the same JSON kind, in the OTLP example (examples/trace.json):
    camelCase keys, hex ids as strings, 64-bit times as strings, kind as an integer."""
    reference = fixture_json("otlp/trace.json")
    payload = build_span("phase5-backend", "stackcheck-1", "GET /api/tasks", "ab" * 16, "cd" * 8,
                         1544712660000000000, 1544712661000000000)
    assert _missing(_shape(payload), _shape(reference)) == []
    span = payload["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    example = reference["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    for key in ("traceId", "spanId"):
        assert len(span[key]) == len(example[key]) and re.fullmatch(r"[0-9a-fA-F]+", span[key])
    assert span["startTimeUnixNano"].isdigit() and span["kind"] == example["kind"] == 2


# --- judging Grafana ------------------------------------------------------------------------------

def test_failing_grafana_database_is_reported() -> None:
    """database "failing" (sent with 503, grafana.md §1, derived from code) is a problem naming it."""
    assert g.grafana_health_problem({"database": "failing"}) == (
        "Grafana's /api/health says database 'failing' (want 'ok'); check its database (grafana.db, PVC)")


def load_dashboard(name: str) -> dict[str, Any]:
    return dict(json.loads((MANIFESTS.config_dir / "grafana" / "dashboards" / name).read_text()))


TYPES = {"prometheus": "prometheus", "loki": "loki", "jaeger": "jaeger"}


def test_panel_queries_of_our_dashboards_by_datasource() -> None:
    """Every target of the shipped dashboards resolves to a provisioned datasource type."""
    kinds = [q.datasource_type for name in ("system-overview.json", "agents-monitoring.json",
                                            "database-infrastructure.json")
             for q in g.panel_queries(load_dashboard(name), TYPES)]
    assert set(kinds) == {"prometheus", "loki", "jaeger"}


def test_unknown_datasource_is_flagged() -> None:
    """A target naming a datasource Grafana lacks gets an empty type, which the check reports."""
    target = {"refId": "A", "datasource": {"uid": "gone"}, "expr": "up"}
    board = {"panels": [{"title": "p", "targets": [target]}]}
    [query] = g.panel_queries(board, TYPES)
    assert query.datasource_type == "" and query.datasource_uid == "gone"


def test_dashboard_variables_become_their_all_value_and_builtins_stay() -> None:
    """$service at "All" becomes the variable's allValue (.*); $__rate_interval is left to Grafana."""
    board = load_dashboard("database-infrastructure.json")
    exprs = {q.panel: g.resolve_variables(q.expr, board) for q in g.panel_queries(board, TYPES)}
    assert exprs["Node CPU usage"] == (
        '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[$__rate_interval]))')
    assert exprs["DB connection pool use"] == 'phase5:database_connections:ratio{service=~".*"}'


def test_panel_without_rows_has_no_data() -> None:
    """No frames, or frames without values, is no data (hand-built: no upstream body with zero rows
    exists)."""
    query = g.PanelQuery("Request rate", "A", "prometheus", "prometheus", "x", True, {})
    empty = [QueryResult(frames=[]), QueryResult(frames=[{"schema": {"fields": []}, "data": {"values": []}}])]
    for result in empty:
        problem = g.query_problem(query, "sum(x)", result)
        assert problem == "panel 'Request rate' query A returned no data: sum(x)"


def test_panels_reading_a_source_the_target_lacks_are_named() -> None:
    """A recording rule is followed to its raw metrics, which name the missing source and its reason."""
    recording = {r.name: r.expr for r in MANIFESTS.rules() if r.kind == "record"}
    missing = {"cadvisor": "no kubelet here"}
    reasons = g.lacking_sources('phase5:cpu_usage:ratio{namespace=~".*"}', recording, SIGNAL_SOURCES, missing)
    assert reasons and all(r.endswith(": no kubelet here") for r in reasons)
    assert any("container_cpu_usage_seconds_total" in r for r in reasons)
    assert g.lacking_sources("sum(phase5:http_requests:rate5m)", recording, SIGNAL_SOURCES, missing) == []
    assert g.lacking_sources("rate(node_cpu_seconds_total[$__rate_interval])", recording, SIGNAL_SOURCES,
                             {"node-exporter": "none"}) == ["reads node_cpu_seconds_total: none"]


# --- the budgets' constants still match the probe and manifests/ ---------------------------------

def test_probe_log_period_matches_the_probe() -> None:
    """PROBE_LOG_PERIOD_S is the probe's summary period; change both together."""
    assert inspect.signature(Ticker.__init__).parameters["summary_every"].default == t.PROBE_LOG_PERIOD_S


def test_alloy_keeps_the_default_batch_wait() -> None:
    """config.alloy does not set batch_wait, so ALLOY_BATCH_WAIT_S (the default) holds."""
    text = (MANIFESTS.config_dir / "alloy" / "config.alloy").read_text()
    assert "batch_wait" not in text, (
        "config.alloy sets batch_wait: update ALLOY_BATCH_WAIT_S in checks/telemetry.py")


def test_jaeger_batch_processor_keeps_the_default_timeout() -> None:
    """Jaeger's batch processor has no timeout set, so OTEL_BATCH_TIMEOUT_S (the default) holds."""
    config = yaml.safe_load((MANIFESTS.config_dir / "jaeger" / "config.yaml").read_text())
    assert "timeout" not in (config["processors"]["batch"] or {}), (
        "jaeger config.yaml sets processors.batch.timeout: update OTEL_BATCH_TIMEOUT_S in "
        "checks/telemetry.py")


def test_selector_and_service_match_the_probe_deployment() -> None:
    """The probe runs in namespace phase5 as service phase5-backend, which the checks look for."""
    deployment = yaml.safe_load((MANIFESTS.root / "probe" / "phase5-backend-deployment.yaml").read_text())
    namespace = deployment["metadata"]["namespace"]
    assert t.PHASE5_LOG_SELECTOR == f'{{namespace="{namespace}"}}'
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]  # `stackcheck probe …`
    assert args[args.index("--service") + 1] == t.PHASE5_SERVICE == ProbeConfig().service


def test_budgets_are_built_from_the_constants() -> None:
    """Each budget is its pipeline's delays plus the margin (numbers for the report)."""
    assert t.log_delivery_s() == 2 * t.ALLOY_BATCH_WAIT_S + MARGIN_S == 7.0
    assert t.log_fresh_s() == 17.0
    assert t.trace_delivery_s() == pytest.approx(5.2)
    assert t.trace_fresh_s() == pytest.approx(15.2)


def loki_yaml() -> dict[str, Any]:
    return dict(yaml.safe_load((MANIFESTS.config_dir / "loki" / "loki.yaml").read_text()))


def test_loki_config_does_not_shorten_the_scheduler_lookup_alone() -> None:
    """loki.yaml uses the scheduler ring (no scheduler address), so it must not shorten the frontend's
    scheduler lookup below the scheduler's 3 s ring check: on a real 3.6.11 that made /ready pass in 1.8 s
    and every query hang forever."""
    frontend = loki_yaml().get("frontend") or {}
    lookup = frontend.get("scheduler_dns_lookup_period")
    assert lookup is None or frontend.get("scheduler_address") or parse_duration(lookup) > 3, frontend


def test_loki_ready_delay_is_the_later_of_ingester_and_frontend() -> None:
    """The cluster's Loki keeps both defaults (15 s and 10 s); the local one (1s + 1s) is ready in about
    1 s."""
    assert t.loki_ready_delay_s(loki_yaml()) == 15.0
    local = {"ingester": {"lifecycler": {"min_ready_duration": "1s"}},
             "frontend": {"scheduler_dns_lookup_period": "1s"}}
    assert t.loki_ready_delay_s(local) == 1.0
    assert t.loki_ready_delay_s({}) == 15.0
    assert t.loki_ready_delay_s({"ingester": {"lifecycler": {"min_ready_duration": "1s"}}}) == 10.0


def test_datasource_settle_budget_is_loki_ready_delay_plus_margin() -> None:
    """Grafana's Loki datasource can pass its health check once Loki is ready: that delay plus the margin."""
    assert t.datasource_settle_s(loki_yaml()) == 20.0


def test_alloy_stamps_entries_from_the_line_ts() -> None:
    """config.alloy parses each line's JSON ts and stamps the entry with it (stage.json + stage.timestamp),
    keeping the read time for lines without one (action_on_failure skip), on the path to loki.write."""
    text = (MANIFESTS.config_dir / "alloy" / "config.alloy").read_text()
    assert "forward_to = [loki.process.pod_logs.receiver]" in text
    assert re.search(r'stage\.json \{\s*expressions = \{ ts = "" \}\s*\}', text)
    assert re.search(r'stage\.timestamp \{\s*source\s*= "ts"\s*format\s*= "RFC3339Nano"\s*'
                     r'action_on_failure = "skip"\s*\}', text)


# --- dashboard panels: data now, not what the store still holds ------------------------------------

def frames_at(times_ms: list[int], values: list[float | None]) -> list[Any]:
    """One frame in the shape of grafana.md §6's doc example (a time field and a number field)."""
    doc = json.loads(GRAFANA_DS_QUERY_DOC)["results"]["A"]["frames"][0]
    return [{"schema": doc["schema"], "data": {"values": [times_ms, values]}}]


PANEL = g.PanelQuery("Request rate", "A", "prometheus", "prometheus", "x", False, {})


def test_panel_with_points_in_the_recent_window_has_data() -> None:
    """The doc example's points, the window starting at its last point: data now."""
    result = QueryResult(frames=frames_at([1644488392084, 1644488452084], [5, 0]))
    assert g.query_problem(PANEL, "sum(x)", result, since_ms=1644488452084, window_s=30) is None


def test_panel_with_only_older_points_has_no_data_now() -> None:
    """Points from before the window (what the store still holds) are not data now; the message says so."""
    result = QueryResult(frames=frames_at([1644488152084, 1644488212084], [1, 20]))
    problem = g.query_problem(PANEL, "sum(x)", result, since_ms=1644488452084, window_s=30)
    assert problem == ("panel 'Request rate' query A returned no data in the last 30s (only 2 older row(s)): "
                       "sum(x)")


def test_panel_with_only_null_points_in_the_window_has_no_data() -> None:
    """A null value is no data, even at a recent time."""
    result = QueryResult(frames=frames_at([1644488452084], [None]))
    assert g.query_problem(PANEL, "sum(x)", result, since_ms=1644488452084, window_s=30) is not None


def test_fixture_copies_are_listed_in_the_readme() -> None:
    """Every upstream copy has a provenance line in tests/contracts/README.md."""
    readme = (CONTRACTS / "README.md").read_text()
    for folder in ("jaeger", "grafana", "otlp"):
        for path in sorted((CONTRACTS / folder).iterdir()):
            assert f"`{folder}/{path.name}`" in readme, f"{folder}/{path.name} has no provenance line"
    for path in sorted((CONTRACTS / "loki" / "real-3.6.11").iterdir()):
        assert f"`{path.name}`" in readme, f"loki/real-3.6.11/{path.name} is not listed in the README"
