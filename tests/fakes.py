"""A test double for Prometheus and Alertmanager that only replays real captures.

The bodies come from ``tests/contracts/<component>-<version>/``, captured from the Debian builds of
Prometheus 2.42 and Alertmanager 0.25; ``index.json`` there names, for each file, the request that
produced it, its status and its content type. Nothing here invents a response body: the only
knobs are status codes (``force_status``, ``require_bearer``), and the optional echo of the request's
``Authorization`` header that the secret-leak canary test needs.

>>> with FakeServer("prometheus-2.42") as fake:                      # doctest: +SKIP
...     requests.get(fake.url + "/api/v1/targets?state=active").json()["status"]
'success'

Test modules import the fixtures (``from tests.fakes import prometheus_fake_fixture``) and use them
as ``prometheus_fake`` / ``alertmanager_fake``.

A request without a capture answers 404 with an empty body and is recorded in ``unmatched``; the
fixtures fail the test at teardown when that happened, so a test cannot pass on a reply nobody
captured.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from requests.structures import CaseInsensitiveDict

from tests.loopback import LoopbackServer

CONTRACTS = Path(__file__).resolve().parent / "contracts"
PROMETHEUS = "prometheus-2.42"
ALERTMANAGER = "alertmanager-0.25"
#: Alertmanager's alert filters. Every alert in the unfiltered captures (alerts.json) was active, not
#: silenced and not inhibited, so ``?active=true&silenced=false&inhibited=false`` has the same answer.
ALERTMANAGER_FILTERS = frozenset({"active", "silenced", "inhibited"})
_HTTP_METHODS = {"GET", "POST", "PUT", "DELETE"}


@dataclass(frozen=True)
class Capture:
    """One captured exchange from ``index.json``."""

    file: Path
    method: str
    path: str
    params: dict[str, list[str]]
    status: int
    content_type: str | None
    annotated: bool  # the index path carries a note such as "(before any alert arrived)"

    @property
    def body(self) -> bytes:
        return self.file.read_bytes()

    def matches(self, method: str, path: str, params: dict[str, list[str]]) -> bool:
        return (method == self.method and _same(self.path.split("/"), path.split("/"))
                and set(params) == set(self.params)
                and all(_same(self.params[k], params[k]) for k in params))


def _same(pattern: list[str], actual: list[str]) -> bool:
    """Equal, where a ``<placeholder>`` in the capture's index matches any value."""
    return len(pattern) == len(actual) and all(
        p == a or (p.startswith("<") and p.endswith(">")) for p, a in zip(pattern, actual, strict=True))


def load_captures(name: str) -> list[Capture]:
    """Every replayable exchange of one capture directory (request bodies and webhooks excluded)."""
    folder = CONTRACTS / name
    captures = []
    for entry in json.loads((folder / "index.json").read_text()):
        if entry.get("method") not in _HTTP_METHODS:
            continue
        raw = str(entry["path"])
        target = raw.split()[0]
        parts = urlsplit(target)
        captures.append(Capture(
            file=folder / entry["file"], method=entry["method"], path=parts.path,
            params=parse_qs(parts.query, keep_blank_values=True), status=int(entry["status"]),
            content_type=entry.get("content_type"), annotated=target != raw.strip(),
        ))
    return captures


def load_body(name: str, file: str) -> bytes:
    """The raw bytes of one capture file (for tests that feed a body straight to a parser)."""
    return (CONTRACTS / name / file).read_bytes()


def load_json(name: str, file: str) -> object:
    """One capture file, decoded."""
    return json.loads(load_body(name, file))


@dataclass
class Seen:
    """A request the fake received."""

    method: str
    path: str
    headers: Mapping[str, str]


@dataclass
class FakeServer(LoopbackServer):
    """A ThreadingHTTPServer on 127.0.0.1:0 replaying one capture directory."""

    name: str
    lenient_params: frozenset[str] = frozenset()
    captures: list[Capture] = field(init=False)
    requests: list[Seen] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    _status: int | None = None
    _echo_auth: bool = False
    _bearer: str | None = None
    _preferred: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.captures = load_captures(self.name)
        self._serve(self._handler())

    # --- knobs ------------------------------------------------------------------------------------

    def force_status(self, status: int, *, echo_authorization: bool = False) -> None:
        """Answer every request with ``status`` and an empty body (or the request's Authorization)."""
        self._status, self._echo_auth = status, echo_authorization

    def require_bearer(self, token: str, *, echo_authorization: bool = False) -> None:
        """Answer 401 unless the request carries ``Authorization: Bearer <token>``."""
        self._bearer, self._echo_auth = token, echo_authorization

    def prefer(self, file: str) -> None:
        """Serve capture ``file`` for its request instead of the default (e.g. ``alerts_silenced.json``).

        Only for requests without ``lenient_params``: a filtered request would get an unfiltered body.
        """
        if not any(c.file.name == file for c in self.captures):
            raise ValueError(f"{file} is not a replayable capture of {self.name}")
        self._preferred.add(file)

    # --- life cycle -------------------------------------------------------------------------------


    # --- serving ----------------------------------------------------------------------------------

    def lookup(self, method: str, target: str) -> Capture | None:
        """The capture answering ``method target``: preferred first, then un-annotated, then the first."""
        parts = urlsplit(target)
        params = parse_qs(parts.query, keep_blank_values=True)
        params = {k: v for k, v in params.items() if k not in self.lenient_params}
        found = [c for c in self.captures if c.matches(method, parts.path, params)]
        found.sort(key=lambda c: (c.file.name not in self._preferred, c.annotated))
        return found[0] if found else None

    def _answer(self, method: str, target: str, headers: Mapping[str, str]) -> tuple[int, str | None, bytes]:
        self.requests.append(Seen(method, target, headers))
        auth = headers.get("Authorization", "")
        echo = auth.encode() if self._echo_auth else b""
        if self._status is not None:
            return self._status, "text/plain; charset=utf-8", echo
        if self._bearer is not None and auth != f"Bearer {self._bearer}":
            return 401, "text/plain; charset=utf-8", echo
        capture = self.lookup(method, target)
        if capture is None:
            self.unmatched.append(f"{method} {target}")
            return 404, None, b""
        return capture.status, capture.content_type, capture.body

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                status, content_type, body = fake._answer(self.command, self.path,
                                                          CaseInsensitiveDict(self.headers.items()))
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: object) -> None:  # keep test output clean
                pass

        return Handler


def _serve(name: str, lenient: frozenset[str] = frozenset()) -> Iterator[FakeServer]:
    with FakeServer(name, lenient_params=lenient) as fake:
        yield fake
    assert not fake.unmatched, (
        f"the {name} fake has no capture for {fake.unmatched}; add a real capture to "
        f"tests/contracts/{name}/ (and index.json) or fix the request")


@pytest.fixture(name="prometheus_fake")
def prometheus_fake_fixture() -> Iterator[FakeServer]:
    """A Prometheus 2.42 double replaying tests/contracts/prometheus-2.42."""
    yield from _serve(PROMETHEUS)


@pytest.fixture(name="alertmanager_fake")
def alertmanager_fake_fixture() -> Iterator[FakeServer]:
    """An Alertmanager 0.25 double replaying tests/contracts/alertmanager-0.25."""
    yield from _serve(ALERTMANAGER, ALERTMANAGER_FILTERS)


# --- Jaeger and Grafana: upstream bodies, not captures ---------------------------------------------
#
# No Jaeger or Grafana binary runs on our machines, so nothing of theirs was captured (the Loki double is
# built from real Loki 3.6.11 captures: tests/lokifake.py). These doubles
# serve only (a) upstream fixture files copied byte-for-byte into tests/contracts/{jaeger,grafana}/
# (provenance in tests/contracts/README.md) and (b) bodies quoted verbatim in the workspace's
# shared/contracts/<component>.md, copied below with their section. Where a quoted body had to be changed
# to parse, the change is spelled out next to it. A request no route answers gets 404 and fails the test.

#: jaeger.md §1, the 404 body pinned by http_handler_test.go (verbatim; served as text/plain).
JAEGER_TRACE_NOT_FOUND = r'''{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":404,"msg":"trace not found"}]}
'''  # noqa: E501 (verbatim body)

#: An api_v3 search sent with camelCase names to a Jaeger older than v2.19.0. Derived from code (jaeger.md §7
#: gives the envelope ``{"error": {"httpCode", "message"}}`` written by http.Error): the old gateway read only
#: ``query.start_time_min``/``query.start_time_max``, so it saw no range and answered
#: ``fmt.Errorf("query.start_time_min and query.start_time_max are required")`` with 400 (jaegertracing/jaeger
#: v1.5x ``cmd/query/app/apiv3/http_gateway.go`` ``findTraces``/``tryHandleError``). The same body, byte for
#: byte, is what open-telemetry/opentelemetry-ebpf-instrumentation's Jaeger test client expects from it.
JAEGER_OLD_SEARCH_REFUSED = ('{"error":{"httpCode":400,"message":"query.start_time_min and '
                             'query.start_time_max are required"}}\n')

#: grafana.md §1, doc example of /api/health (verbatim body, HTTP status line dropped).
GRAFANA_HEALTH_DOC = r'''{
  "commit": "087143285",
  "database": "ok",
  "version": "5.1.3"
}
'''

#: grafana.md §2, doc example of /api/search (verbatim, NOT valid JSON: see GRAFANA_SEARCH).
GRAFANA_SEARCH_DOC = r'''[
  {
    "id":1,
    "uid": "cIBgcSjkk",
    "orgId": 1,
    "title":"Production Overview",
    "url": "/d/cIBgcSjkk/production-overview",
    "type":"dash-db",
    "tags":[prod],
    "isStarred":true,
    "folderId": 2,
    "folderUid": "000000163",
    "folderTitle": "Folder",
    "folderUrl": "/dashboards/f/000000163/folder",
    "uri":"db/production-overview" // deprecated in Grafana v5.0
  }
]
'''

#: grafana.md §3, doc example of /api/dashboards/uid/<uid> (verbatim, NOT valid JSON: see GRAFANA_DASHBOARD).
GRAFANA_DASHBOARD_DOC = r'''{
  "dashboard": {
    "id": 1,
    "uid": "cIBgcSjkk",
    "title": "Production Overview",
    "tags": [ "templated" ],
    "timezone": "browser",
    "schemaVersion": 16,
    "version": 0
  },
  "meta": {
    "isStarred": false,
    "url": "/d/cIBgcSjkk/production-overview",
    "folderId": 2,
    "folderUid": "l3KqBxCMz",
    "slug": "production-overview" //deprecated in Grafana v5.0
  }
}
'''

#: grafana.md §4, doc example of /api/datasources/uid/<uid> (verbatim).
GRAFANA_DATASOURCE_DOC = r'''{
  "id": 1,
  "uid": "kLtEtcRGk",
  "orgId": 1,
  "name": "test_datasource",
  "type": "graphite",
  "typeLogoUrl": "",
  "access": "proxy",
  "url": "http://mydatasource.com",
  "password": "",
  "user": "",
  "database": "",
  "basicAuth": false,
  "basicAuthUser": "",
  "basicAuthPassword": "",
  "withCredentials": false,
  "isDefault": false,
  "jsonData": {
    "graphiteType": "default",
    "graphiteVersion": "1.1"
  },
  "secureJsonFields": {},
  "version": 1,
  "readOnly": false
}
'''

#: grafana.md §5, doc example of /api/datasources/uid/<uid>/health (verbatim, CloudWatch).
GRAFANA_DATASOURCE_HEALTH_DOC = r'''{
  "message": "1. Successfully queried the CloudWatch metrics API.\n2. Successfully queried the CloudWatch logs API.",
  "status": "OK"
}
'''  # noqa: E501 (verbatim body)

#: grafana.md §6, doc response example of /api/ds/query (verbatim).
GRAFANA_DS_QUERY_DOC = r'''{
  "results": {
    "A": {
      "frames": [
        {
          "schema": {
            "refId": "A",
            "fields": [
              {
                "name": "time",
                "type": "time",
                "typeInfo": {
                  "frame": "time.Time"
                }
              },
              {
                "name": "A-series",
                "type": "number",
                "typeInfo": {
                  "frame": "int64",
                  "nullable": true
                }
              }
            ]
          },
          "data": {
            "values": [
              [1644488152084, 1644488212084, 1644488272084, 1644488332084, 1644488392084, 1644488452084],
              [1, 20, 90, 30, 5, 0]
            ]
          }
        }
      ]
    }
  }
}
'''

#: grafana.md §6, exact serialisation pinned by the plugin SDK's backend/json_test.go (verbatim).
GRAFANA_DS_QUERY_SDK = r'''{"results":{"A":{"status":202,"frames":[{"schema":{"name":"simple","fields":[{"name":"time","type":"time","typeInfo":{"frame":"time.Time"}},{"name":"valid","type":"boolean","typeInfo":{"frame":"bool"}}]},"data":{"values":[[1577934240000,1577934300000],[true,false]]}},{"schema":{"name":"other","fields":[{"name":"value","type":"number","typeInfo":{"frame":"float64"}}]},"data":{"values":[[1]]}}]}}}
'''  # noqa: E501 (verbatim body)

#: grafana.md §6, per-refId error body (verbatim; a Grafana Labs client-test stub, status 400).
GRAFANA_DS_QUERY_ERROR = r'''{"results":{"A":{"error":"parse error at line 1, col 12: syntax error: unexpected IDENTIFIER, expecting STRING","errorSource":"downstream","status":400}}}
'''  # noqa: E501 (verbatim body)

#: grafana.md §6, request-level error table: a query naming an unknown datasource uid (verbatim, 404).
GRAFANA_DS_QUERY_NOT_FOUND = r'''{"message":"Data source not found","traceID":""}'''

#: The §2 doc example made valid JSON, and nothing else: ``prod`` quoted, the ``//`` comment dropped.
GRAFANA_SEARCH = (GRAFANA_SEARCH_DOC.replace("[prod]", '["prod"]')
                  .replace(" // deprecated in Grafana v5.0", ""))
#: The §3 doc example without its ``//deprecated in Grafana v5.0`` comment, which makes it invalid JSON.
GRAFANA_DASHBOARD = GRAFANA_DASHBOARD_DOC.replace(" //deprecated in Grafana v5.0", "")
#: ``/api/datasources`` is a bare array of these objects (§4); its own doc example lacks a comma.
GRAFANA_DATASOURCES = "[" + GRAFANA_DATASOURCE_DOC + "]"

JSON = "application/json"
PLAIN = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Reply:
    """One answer of an upstream-body double, and where its body comes from."""

    status: int
    body: bytes
    content_type: str | None
    source: str

    @classmethod
    def file(cls, relative: str, status: int = 200, content_type: str = JSON) -> Reply:
        """A fixture file of tests/contracts/, as stored; ``.jsonc`` comment lines are dropped."""
        path = CONTRACTS / relative
        body = path.read_bytes()
        if path.suffix == ".jsonc":
            body = b"".join(line for line in body.splitlines(keepends=True) if not line.startswith(b"//"))
        return cls(status, body, content_type, f"tests/contracts/{relative}")

    @classmethod
    def quoted(cls, text: str, source: str, status: int = 200, content_type: str | None = JSON) -> Reply:
        """A body quoted in a contract page."""
        return cls(status, text.encode(), content_type, source)


@dataclass
class BodyFake(LoopbackServer):
    """A loopback server answering ``(method, path)`` with upstream bodies; ``<x>`` matches any segment.

    >>> with BodyFake("jaeger", jaeger_routes()) as fake:                 # doctest: +SKIP
    ...     requests.get(fake.url + "/api/v3/services").json()
    {'services': ['foo']}

    Knobs as in :class:`FakeServer`: ``force_status`` and ``require_bearer``; ``serve`` swaps one route's
    reply for another upstream body (e.g. the 404 of a search without match).
    """

    name: str
    routes: dict[tuple[str, str], Reply]
    requests: list[Seen] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    _status: int | None = None
    _bearer: str | None = None

    def __post_init__(self) -> None:
        self._serve(self._handler())

    def force_status(self, status: int) -> None:
        """Answer every request with ``status`` and an empty body."""
        self._status = status

    def require_bearer(self, token: str) -> None:
        """Answer 401 unless the request carries ``Authorization: Bearer <token>``."""
        self._bearer = token

    def serve(self, method: str, path: str, reply: Reply) -> None:
        """Answer ``method path`` with ``reply`` from now on."""
        self.routes[(method, path)] = reply

    def params(self, index: int = -1) -> dict[str, list[str]]:
        """Query parameters of a received request (the last by default)."""
        return parse_qs(urlsplit(self.requests[index].path).query, keep_blank_values=True)


    def lookup(self, method: str, target: str) -> Reply | None:
        """The reply for ``method target``: an exact path first, then a ``<placeholder>`` pattern."""
        path = urlsplit(target).path
        if (method, path) in self.routes:
            return self.routes[(method, path)]
        for (m, pattern), reply in self.routes.items():
            if m == method and _same(pattern.split("/"), path.split("/")):
                return reply
        return None

    def _admit(self, method: str, target: str, headers: Mapping[str, str],
               body: bytes) -> tuple[int, str | None, bytes] | None:
        """Record the request; the answer when a forced status or a wrong bearer token decides it."""
        self.requests.append(Seen(method, target, headers))
        self.bodies.append(body)
        if self._status is not None:
            return self._status, PLAIN, b""
        if self._bearer is not None and headers.get("Authorization", "") != f"Bearer {self._bearer}":
            return 401, PLAIN, b""
        return None

    def _answer(self, method: str, target: str, headers: Mapping[str, str],
                body: bytes) -> tuple[int, str | None, bytes]:
        decided = self._admit(method, target, headers, body)
        if decided is not None:
            return decided
        reply = self.lookup(method, target)
        if reply is None:
            self.unmatched.append(f"{method} {target}")
            return 404, None, b""
        return reply.status, reply.content_type, reply.body

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, content_type, reply = fake._answer(self.command, self.path,
                                                           CaseInsensitiveDict(self.headers.items()), body)
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


#: The trace id of tests/contracts/jaeger/otlp2jaeger-out.json.
JAEGER_FIXTURE_TRACE_ID = "83a9efd15c1c98a977e0711cc93ee28b"


def jaeger_routes() -> dict[tuple[str, str], Reply]:
    """Jaeger v2 query service: api_v3 services and search, one trace by id in UI JSON."""
    return {
        ("GET", "/api/v3/services"): Reply.file("jaeger/apiv3_GetServices.json"),
        ("GET", "/api/v3/traces"): Reply.file("jaeger/apiv3_FindTraces.json"),
        ("GET", f"/api/traces/{JAEGER_FIXTURE_TRACE_ID}"): Reply.file("jaeger/otlp2jaeger-out.json"),
        ("GET", "/api/traces/<id>"): Reply.quoted(JAEGER_TRACE_NOT_FOUND, "jaeger.md §1", 404, PLAIN),
    }


def grafana_routes() -> dict[tuple[str, str], Reply]:
    """Grafana legacy /api: health, datasources, dashboards, datasource queries."""
    return {
        ("GET", "/api/health"): Reply.quoted(GRAFANA_HEALTH_DOC, "grafana.md §1"),
        ("GET", "/api/datasources"): Reply.quoted(GRAFANA_DATASOURCES,
                                                  "grafana.md §4 (array of the by-uid body)"),
        ("GET", "/api/datasources/uid/<uid>/health"): Reply.quoted(GRAFANA_DATASOURCE_HEALTH_DOC,
                                                                  "grafana.md §5"),
        ("GET", "/api/search"): Reply.quoted(GRAFANA_SEARCH, "grafana.md §2 (made valid JSON)"),
        ("GET", "/api/dashboards/uid/cIBgcSjkk"): Reply.quoted(GRAFANA_DASHBOARD,
                                                              "grafana.md §3 (comment dropped)"),
        ("POST", "/api/ds/query"): Reply.quoted(GRAFANA_DS_QUERY_DOC, "grafana.md §6"),
    }


def _serve_bodies(name: str, routes: dict[tuple[str, str], Reply]) -> Iterator[BodyFake]:
    with BodyFake(name, routes) as fake:
        yield fake
    assert not fake.unmatched, (
        f"the {name} fake has no upstream body for {fake.unmatched}; add one (tests/contracts/{name}/ or a "
        f"body quoted in shared/contracts/{name}.md) or fix the request")


@pytest.fixture(name="jaeger_fake")
def jaeger_fake_fixture() -> Iterator[BodyFake]:
    """A Jaeger double serving upstream fixtures and snapshots (tests/contracts/jaeger, jaeger.md)."""
    yield from _serve_bodies("jaeger", jaeger_routes())


@pytest.fixture(name="grafana_fake")
def grafana_fake_fixture() -> Iterator[BodyFake]:
    """A Grafana double serving the bodies quoted in grafana.md (and tests/contracts/grafana)."""
    yield from _serve_bodies("grafana", grafana_routes())
