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
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self
from urllib.parse import parse_qs, urlsplit

import pytest

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
    headers: dict[str, str]


@dataclass
class FakeServer:
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
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits for the next poll, and tests start and stop many fakes.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.002},
                                        name=f"fake-{self.name}", daemon=True)

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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # --- serving ----------------------------------------------------------------------------------

    def lookup(self, method: str, target: str) -> Capture | None:
        """The capture answering ``method target``: preferred first, then un-annotated, then the first."""
        parts = urlsplit(target)
        params = parse_qs(parts.query, keep_blank_values=True)
        params = {k: v for k, v in params.items() if k not in self.lenient_params}
        found = [c for c in self.captures if c.matches(method, parts.path, params)]
        found.sort(key=lambda c: (c.file.name not in self._preferred, c.annotated))
        return found[0] if found else None

    def _answer(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, str | None, bytes]:
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
                status, content_type, body = fake._answer(self.command, self.path, dict(self.headers))
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
