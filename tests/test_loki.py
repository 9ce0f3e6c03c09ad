"""The Loki client and the log checks' judging, on a double built from real Loki 3.6.11 captures.

The double (tests/lokifake.py) serves the captures of tests/contracts/loki/real-3.6.11/ and cuts their
streams as the real Loki does (``limit`` over all streams, ``end`` exclusive, 400 above 5000). Entries a
test adds keep a captured stream's real labels; only their lines and stamps are the test's.
"""
from __future__ import annotations

import io
import json
import re
import time
from typing import TypedDict

import pytest

from stackcheck.checks import telemetry as t
from stackcheck.clients.http import Http
from stackcheck.clients.loki import MAX_ENTRIES_LIMIT, NS, LokiClient, Stream
from stackcheck.errors import ApiError
from stackcheck.expectations import Expectations
from stackcheck.probe import JsonLog, Probe, ProbeConfig
from tests.fakes import PLAIN, Reply
from tests.lokifake import (  # noqa: F401
    END_BEFORE_START,
    NOT_READY_SCHEDULER,
    REAL,
    LokiFake,
    loki_fake_fixture,
    real_body,
)

#: Stamps of the captured entries, newest first (streams.json): backend 2, canary 3.
BACKEND_NEWEST_NS = 1796110148379800470
CANARY_NEWEST_NS = 1796110148379831877
CANARY_OLDEST_NS = 1796110128331971037
#: The ``ts`` the newest captured line carries ("2026-12-01T07:29:08.279Z"), 100 ms before Loki's stamp.
CANARY_NEWEST_TS_NS = 1796110148279000000


class Window(TypedDict):
    """query_range's time window, to pass as ``**WIDE``."""

    start_ns: int
    end_ns: int


WIDE: Window = {"start_ns": 1796110000 * NS, "end_ns": 1796111000 * NS}


def loki(fake: LokiFake) -> LokiClient:
    return LokiClient(Http("loki", fake.url))


def captured_streams() -> list[Stream]:
    """streams.json, as the client parses it."""
    return [(item["stream"], [(int(ts), line) for ts, line in item["values"]])
            for item in real_body("streams.json")["data"]["result"]]


# --- the client against Loki's real answers --------------------------------------------------------

def test_ready_is_true_on_the_captured_200(loki_fake: LokiFake) -> None:
    """ready() is True when /ready answers 200 ``ready\\n`` (ready.txt)."""
    assert loki(loki_fake).ready() is True


def test_ready_is_false_while_the_frontend_has_no_scheduler(loki_fake: LokiFake) -> None:
    """The real 503 of a query frontend before its first scheduler lookup (loki.md §5) is not ready."""
    loki_fake.serve("GET", "/ready", Reply.quoted(NOT_READY_SCHEDULER, "loki.md §5 [REAL]", 503, PLAIN))
    assert loki(loki_fake).ready() is False


def test_streams_carry_the_labels_loki_adds(loki_fake: LokiFake) -> None:
    """Real streams carry Loki's service_name and detected_level beside the collector's labels."""
    streams = loki(loki_fake).query_range('{namespace="phase5"}', **WIDE)
    assert [(labels["app"], labels["service_name"], labels["detected_level"]) for labels, _ in streams] == [
        ("phase5-backend", "phase5-backend", "info"), ("phase5-canary", "phase5-canary", "info")]


def test_limit_caps_entries_over_all_streams(loki_fake: LokiFake) -> None:
    """limit=1 backward returns the one newest entry of all streams, not one per stream."""
    streams = loki(loki_fake).query_range('{namespace="phase5"}', **WIDE, limit=1)
    assert [(labels["app"], entries) for labels, entries in streams] == [
        ("phase5-canary", [(CANARY_NEWEST_NS, streams[0][1][0][1])])]


def test_limit_above_loki_maximum_is_capped_not_refused(loki_fake: LokiFake) -> None:
    """A limit over 5000 would get Loki's 400; the client asks for 5000."""
    loki(loki_fake).query_range('{namespace="phase5"}', **WIDE, limit=100_000)
    assert loki_fake.params()["limit"] == [str(MAX_ENTRIES_LIMIT)] == ["5000"]


def test_the_double_refuses_limits_over_5000_as_loki_does(loki_fake: LokiFake) -> None:
    """Loki's own 400 text for limit=5001 (loki.md §10), quoted by the ApiError."""
    http = Http("loki", loki_fake.url)
    with pytest.raises(ApiError, match=re.escape("(5001 > 5000)")):
        http.get_json("/loki/api/v1/query_range", params={"query": "{a=\"b\"}", "limit": "5001",
                                                          "start": "1", "end": "2"})


def test_bounds_are_sent_as_exact_nanosecond_integers(loki_fake: LokiFake) -> None:
    """start/end go out digit for digit as given: no float seconds in between to round them."""
    loki(loki_fake).query_range('{namespace="phase5"}', start_ns=CANARY_OLDEST_NS,
                                end_ns=CANARY_NEWEST_NS + 1)
    params = loki_fake.params()
    assert (params["start"], params["end"]) == ([str(CANARY_OLDEST_NS)], [str(CANARY_NEWEST_NS + 1)])


def test_float_seconds_are_refused() -> None:
    """Float seconds lose the last digits of a nanosecond stamp (1796110148.379831877 * 1e9 is not exact)."""
    assert int(1796110148.379831877 * 1e9) != CANARY_NEWEST_NS
    with pytest.raises(TypeError, match="nanosecond integers"):
        LokiClient(Http("loki", "http://127.0.0.1:9")).query_range("{}", start_ns=0,
                                                                   end_ns=1.5)  # type: ignore[arg-type]


def test_end_is_exclusive(loki_fake: LokiFake) -> None:
    """An entry stamped exactly at end is not returned; end + 1 includes it."""
    client = loki(loki_fake)
    before = client.query_range('{namespace="phase5"}', start_ns=CANARY_OLDEST_NS, end_ns=CANARY_NEWEST_NS)
    upto = client.query_range('{namespace="phase5"}', start_ns=CANARY_OLDEST_NS, end_ns=CANARY_NEWEST_NS + 1)
    assert CANARY_NEWEST_NS not in {ts for _, entries in before for ts, _ in entries}
    assert CANARY_NEWEST_NS in {ts for _, entries in upto for ts, _ in entries}


def test_start_is_inclusive(loki_fake: LokiFake) -> None:
    """An entry stamped exactly at start is returned."""
    streams = loki(loki_fake).query_range('{namespace="phase5"}', start_ns=CANARY_OLDEST_NS,
                                          end_ns=CANARY_OLDEST_NS + 1)
    assert [ts for _, entries in streams for ts, _ in entries] == [CANARY_OLDEST_NS]


def test_an_empty_window_is_refused_before_loki_is_asked(loki_fake: LokiFake) -> None:
    """end == start would get Loki's 400 (end is exclusive); the client says so without asking."""
    with pytest.raises(ValueError, match="empty window"):
        loki(loki_fake).query_range("{}", start_ns=5, end_ns=5)
    assert loki_fake.requests == []


def test_loki_refuses_end_before_start_in_its_own_words(loki_fake: LokiFake) -> None:
    """What the client now avoids: Loki's real 400 for such a window."""
    http = Http("loki", loki_fake.url)
    with pytest.raises(ApiError, match=re.escape(END_BEFORE_START)):
        http.get_json("/loki/api/v1/query_range", params={"query": "{}", "start": "5", "end": "5"})


def test_structured_metadata_of_categorized_answers_is_ignored(loki_fake: LokiFake) -> None:
    """With categorize-labels each value is a 3-tuple (streams_categorized.json); the third is dropped."""
    loki_fake.serve("GET", "/loki/api/v1/query_range", Reply.file(f"{REAL}/streams_categorized.json"))
    streams = loki(loki_fake).query_range("{}", **WIDE)
    assert streams[0][1][0][0] == BACKEND_NEWEST_NS and streams[0][1][0][1].startswith('{"ts": ')
    assert "detected_level" not in streams[0][0]


def test_metric_query_result_is_an_api_error_naming_the_query(loki_fake: LokiFake) -> None:
    """A matrix answer (matrix.json, a metric query) is not log lines: ApiError naming query and type."""
    loki_fake.serve("GET", "/loki/api/v1/query_range", Reply.file(f"{REAL}/matrix.json"))
    with pytest.raises(ApiError, match=r"resultType 'matrix' for 'rate\(\{a=\"b\"\}\[1m\]\)'.*streams"):
        loki(loki_fake).query_range('rate({a="b"}[1m])', **WIDE)


def test_query_error_is_an_api_error_quoting_loki(loki_fake: LokiFake) -> None:
    """Loki's real 400 for bad LogQL is plain text (loki.md §10); the ApiError quotes it with the URL."""
    message = "parse error at line 1, col 2: syntax error: unexpected $end, expecting IDENTIFIER or }"
    loki_fake.serve("GET", "/loki/api/v1/query_range",
                    Reply.quoted(message, "loki.md §10 [REAL]", 400, PLAIN))
    with pytest.raises(ApiError,
                       match=re.escape(f"{loki_fake.url}/loki/api/v1/query_range") + ".*400.*parse"):
        loki(loki_fake).query_range("{", **WIDE)


def test_labels_include_loki_service_name(loki_fake: LokiFake) -> None:
    """labels() returns the real list, with Loki's service_name and without detected_level."""
    assert loki(loki_fake).labels() == ["app", "container", "filename", "job", "namespace", "service_name"]


def test_labels_without_data_is_empty(loki_fake: LokiFake) -> None:
    """An empty real answer is {"status":"success"} without "data" (loki.md §10): []."""
    loki_fake.serve("GET", "/loki/api/v1/labels", Reply.quoted('{"status":"success"}', "loki.md §10 [REAL]"))
    assert loki(loki_fake).labels() == []


# --- judging freshness by the line's own time ------------------------------------------------------

def probe_line(run_id: str, message: str) -> str:
    """The exact line the probe writes for POST /log (Probe.write_log, through its JsonLog)."""
    out = io.StringIO()
    Probe(ProbeConfig(), log=JsonLog("phase5-backend", stream=out)).write_log({"run_id": run_id,
                                                                               "message": message})
    return out.getvalue().rstrip("\n")


def test_the_line_time_is_read_from_the_probe_ts_exactly() -> None:
    """The captured line's ts, 2026-12-01T07:29:08.279Z, to the nanosecond (integer arithmetic)."""
    newest = t.log_lines(captured_streams())[0]
    assert newest.own_ns == CANARY_NEWEST_TS_NS and newest.ts_ns == CANARY_NEWEST_NS


def test_the_line_the_probe_writes_carries_a_readable_ts() -> None:
    """Every probe line has a ts the checks can read, close to now."""
    own = t.line_time_ns(probe_line("stackcheck-1", "m"))
    assert own is not None and abs(own - time.time_ns()) < 5 * NS


def test_fresh_lines_pass() -> None:
    """The newest captured line was written 5 s before now: no problem."""
    assert t.log_freshness_problem(captured_streams(), selector="{}", now_ns=CANARY_NEWEST_TS_NS + 5 * NS,
                                   max_age_s=t.log_fresh_s(), limit_from=t.PROBE_LOG_LIMIT,
                                   lookback_s=3600) is None


def test_stale_lines_report_their_age_by_their_own_ts() -> None:
    """The newest line is 100 s old: the message gives its age, by which clock, the limit and the line."""
    problem = t.log_freshness_problem(captured_streams(), selector='{namespace="phase5"}',
                                      now_ns=CANARY_NEWEST_TS_NS + 100 * NS, max_age_s=17,
                                      limit_from=t.PROBE_LOG_LIMIT, lookback_s=3600)
    assert problem is not None
    assert problem.startswith('the newest log line for {namespace="phase5"} in Loki is 100s old by its own '
                              "ts (limit 17s: one probe summary period + delivery); newest: ")
    assert '"service": "phase5-canary"' in problem


PRODUCTION_LOG_LIMIT = ("the default without stackcheck's probe, which logs.max_age in --expectations "
                        "overrides")


@pytest.mark.parametrize("expect, limit", [
    (Expectations(), "limit 17s: one probe summary period + delivery"),
    (Expectations.defaults(with_probe=False), f"limit 5m: {PRODUCTION_LOG_LIMIT}"),
    (Expectations.parse({"logs": {"max_age": "10m"}}, "prod.yml"), "limit 10m: logs.max_age in prod.yml"),
    (Expectations.parse({"logs": {"namespaces": ["shop"]}}, "prod.yml", with_probe=False),
     f"limit 5m: {PRODUCTION_LOG_LIMIT}"),
], ids=["probe", "production", "file", "file-without-max_age"])
def test_a_stale_line_names_the_limit_that_applied_and_where_it_came_from(expect: Expectations,
                                                                          limit: str) -> None:
    """The limit in logs.fresh's message is the one the expectations set, with its origin: the probe's
    cadence, the production default, or the file's ``logs.max_age``."""
    an_hour_later = CANARY_NEWEST_TS_NS + 3600 * NS
    problem = t.log_freshness_problem(captured_streams(), selector="{}", now_ns=an_hour_later,
                                      max_age_s=expect.log_max_age_s, limit_from=expect.log_max_age_from,
                                      lookback_s=7200)
    assert problem is not None and f" is 60m old by its own ts ({limit}); newest: " in problem


def test_a_backlog_with_fresh_stamps_is_stale() -> None:
    """Lines written 10 minutes ago but stamped by their collector just now (shipped after an outage) are
    stale, and the message says Loki's stamp is recent."""
    now = CANARY_NEWEST_TS_NS + 600 * NS
    backlog = [(labels, [(now - 1 * NS, line) for _, line in entries]) for labels,
               entries in captured_streams()]
    problem = t.log_freshness_problem(backlog, selector="{}", now_ns=now, max_age_s=17,
                                      limit_from=t.PROBE_LOG_LIMIT, lookback_s=3600)
    assert problem is not None and " is 10m old by its own ts " in problem
    assert "Loki stamped it only 1s ago: a backlog shipped late, not a live stream" in problem


def test_a_fresh_line_among_a_backlog_is_found(loki_fake: LokiFake) -> None:
    """The newest by own ts wins, even when Loki's newest stamp is an old line's (read in one go)."""
    now = CANARY_NEWEST_TS_NS + 600 * NS
    live = json.dumps({"ts": "2026-12-01T07:39:00.000Z", "level": "info", "service": "phase5-backend",
                       "msg": "traffic summary"})  # written 8 s before now, in the probe's form
    loki_fake.add(0, now - NS, live)
    loki_fake.add(1, now, captured_streams()[1][1][0][1])  # an old line, stamped last
    streams = loki(loki_fake).query_range("{}", start_ns=now - 3600 * NS, end_ns=now + 1,
                                          limit=t.LOG_FRESH_SAMPLE)
    assert t.log_freshness_problem(streams, selector="{}", now_ns=now, max_age_s=17,
                                   limit_from=t.PROBE_LOG_LIMIT, lookback_s=3600) is None


def test_a_line_without_ts_is_judged_by_loki_stamp_and_says_so() -> None:
    """A line that carries no ts (not the probe's) falls back to Loki's stamp, named in the message."""
    streams = [({"namespace": "phase5"}, [(1000 * NS, "plain text line")])]
    problem = t.log_freshness_problem(streams, selector="{}", now_ns=1100 * NS, max_age_s=17,
                                      limit_from=t.PROBE_LOG_LIMIT, lookback_s=3600)
    assert problem is not None and "100s old by Loki's stamp (the line carries no ts)" in problem


def test_no_lines_at_all_name_the_selector_window_and_hint() -> None:
    """An empty answer says which selector and window were searched, and what to look at."""
    assert t.log_freshness_problem([], selector="{a}", now_ns=0, max_age_s=17, limit_from=t.PROBE_LOG_LIMIT,
                                   lookback_s=3600,
                                   hint="is the local Alloy tailing x?") == (
        "no log line for {a} in Loki in the last 3600s; is the local Alloy tailing x?")


def test_no_collector_verdict_names_why_and_what_loki_holds() -> None:
    """With no collector known to run, the verdict says nothing ships the logs, why, and Loki's newest."""
    why = "no collector runs on the local stack (alloy binary not found; download Grafana Alloy from x)"
    problem = t.no_collector_problem([], why=why, selector='{namespace="phase5"}', now_ns=0, lookback_s=3600)
    assert problem == (f"nothing ships the probe's logs to Loki: {why}. Loki: it holds no line of "
                       '{namespace="phase5"} in the last 3600s')


def test_lines_loki_stamped_recently_were_shipped_recently() -> None:
    """Whatever their own ts, lines Loki stamped within the window show that something ships them now."""
    stamped = captured_streams()
    assert t.shipped_recently(stamped, now_ns=CANARY_NEWEST_NS + 5 * NS, within_s=17)
    assert not t.shipped_recently(stamped, now_ns=CANARY_NEWEST_NS + 60 * NS, within_s=17)
    assert not t.shipped_recently([], now_ns=0, within_s=17)


# --- the canary -------------------------------------------------------------------------------------

def test_the_canary_is_found_among_real_streams(loki_fake: LokiFake) -> None:
    """The probe's own canary line, added to a captured stream, is the canary of its run."""
    line = probe_line("stackcheck-0123456789", "stackcheck log canary stackcheck-0123456789")
    loki_fake.add(0, BACKEND_NEWEST_NS + NS, line)
    streams = loki(loki_fake).query_range("{}", **WIDE)
    assert t.log_canary_problem(streams, run_id="stackcheck-0123456789",
                                message="stackcheck log canary stackcheck-0123456789", selector="{}",
                                waited_s=1) is None


def test_a_canary_of_another_run_is_not_found() -> None:
    """A canary line of another run does not count; the message names our run and what was seen."""
    other = probe_line("stackcheck-aaaaaaaaaa", "stackcheck log canary stackcheck-aaaaaaaaaa")
    problem = t.log_canary_problem([({"namespace": "phase5"}, [(1, other)])], run_id="stackcheck-bbbbbbbbbb",
                                   message="m", selector='{x} |= "r"', waited_s=7)
    assert problem is not None
    assert problem.startswith("log canary of run stackcheck-bbbbbbbbbb not found in Loki within 7s")
    assert "saw 1 other line(s), newest: " in problem and "stackcheck-aaaaaaaaaa" in problem


def test_canary_latency_is_measured_from_the_line_ts() -> None:
    """Latency is found time minus the ts the line carries: within the bound passes, beyond it fails."""
    line = probe_line("stackcheck-1", "m")
    canary = t.find_canary([({"namespace": "phase5"}, [(time.time_ns(), line)])], "stackcheck-1", "m")
    assert canary is not None and canary.own_ns is not None
    assert t.canary_latency_problem(canary, run_id="stackcheck-1", found_ns=canary.own_ns + 2 * NS,
                                    bound_s=7) is None
    late = t.canary_latency_problem(canary, run_id="stackcheck-1", found_ns=canary.own_ns + 30 * NS,
                                    bound_s=7)
    assert late is not None and late.startswith("log canary of run stackcheck-1 reached Loki 30.0s after the "
                                                "probe wrote it")


def test_newest_line_summary_gives_context() -> None:
    """After a failed check, the newest line of the workload is reported with its age by its own ts."""
    summary = t.newest_line_summary(captured_streams(), selector="{}", now_ns=CANARY_NEWEST_TS_NS + 3 * NS)
    assert summary.startswith("the newest line of {} is 3s old: ")
