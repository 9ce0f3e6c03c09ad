"""A Loki 3.6.11 double built from the real captures in ``tests/contracts/loki/real-3.6.11/``.

Every body it sends is a capture, or a capture's streams cut the way the real Loki cuts them
(``shared/contracts/loki.md`` §10, observed on 3.6.11):

* ``query_range`` keeps the entries with ``start <= ts < end`` (``end`` is exclusive), orders them by
  ``direction`` and keeps the first ``limit`` **over all streams** (``limit=5`` gave 2 + 3 over two streams);
  streams left without an entry are left out. The envelope and ``stats`` are the capture's.
* ``limit`` above 5000 is a 400 with Loki's own text; so is ``end`` not after ``start``.
* ``X-Loki-Response-Encoding-Flags: categorize-labels`` serves ``streams_categorized.json`` instead.
* Streams carry Loki's ``service_name`` and ``detected_level`` labels, as captured.

Tests may add entries to a captured stream (:meth:`LokiFake.add`), keeping its real labels, or drop them all
(:meth:`LokiFake.clear`): the shape stays the capture's, only the lines and stamps change.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.fakes import CONTRACTS, PLAIN, BodyFake, Reply

REAL = "loki/real-3.6.11"
#: loki.md §10: ``limit=5001`` → 400 with this text (the two numbers are the asked and the allowed limit).
LIMIT_EXCEEDED = ("max entries limit per query exceeded, "
                  "limit > max_entries_limit_per_query ({asked} > {most})")
#: loki.md §10: ``start`` after (or equal to) ``end`` → 400 with this text.
END_BEFORE_START = "end timestamp must not be before or equal to start time"
#: loki.md §5/§10, real ``/ready`` 503 bodies before 200 ``ready\n``.
NOT_READY_SCHEDULER = ("Query Frontend not ready: not ready: number of schedulers this worker is connected "
                       "to is 0\n")
NOT_READY_INGESTER = "Ingester not ready: waiting for 15s after being ready\n"
MAX_ENTRIES = 5000


def real_body(name: str) -> dict[str, Any]:
    """One real capture, decoded."""
    return dict(json.loads((CONTRACTS / REAL / name).read_bytes()))


def loki_routes() -> dict[tuple[str, str], Reply]:
    """Loki 3.6.11's readiness, label names and build info, as captured."""
    return {
        ("GET", "/ready"): Reply.file(f"{REAL}/ready.txt", content_type=PLAIN),
        ("GET", "/loki/api/v1/labels"): Reply.file(f"{REAL}/labels.json"),
        ("GET", "/loki/api/v1/status/buildinfo"): Reply.file(f"{REAL}/buildinfo.json"),
    }


@dataclass
class LokiFake(BodyFake):
    """:class:`~tests.fakes.BodyFake` for Loki whose ``query_range`` cuts the captured streams."""

    name: str = "loki"
    routes: dict[tuple[str, str], Reply] = field(default_factory=loki_routes)
    plain: dict[str, Any] = field(default_factory=lambda: real_body("streams.json"))
    categorized: dict[str, Any] = field(default_factory=lambda: real_body("streams_categorized.json"))

    def streams(self, categorized: bool = False) -> list[dict[str, Any]]:
        """The stored ``result`` items (labels and values), as Loki would hold them."""
        return list((self.categorized if categorized else self.plain)["data"]["result"])

    def add(self, stream: int, ts_ns: int, line: str) -> None:
        """Store one more entry in captured stream ``stream`` (0: phase5-backend, 1: phase5-canary)."""
        metadata = {"structuredMetadata": {"detected_level": "info"}}
        for body, extra in ((self.plain, []), (self.categorized, [metadata])):
            body["data"]["result"][stream]["values"].append([str(ts_ns), line, *extra])

    def clear(self) -> None:
        """Drop every stored entry (a Loki that holds nothing of the selector)."""
        for body in (self.plain, self.categorized):
            for item in body["data"]["result"]:
                item["values"] = []

    def _answer(self, method: str, target: str, headers: Mapping[str, str],
                body: bytes) -> tuple[int, str | None, bytes]:
        path = urlsplit(target).path
        if (method, path) != ("GET", "/loki/api/v1/query_range") or (method, path) in self.routes:
            return super()._answer(method, target, headers, body)
        decided = self._admit(method, target, headers, body)
        if decided is not None:
            return decided
        flags = headers.get("X-Loki-Response-Encoding-Flags", "")
        return self.query_range(parse_qs(urlsplit(target).query), categorized="categorize-labels" in flags)

    def query_range(self, params: dict[str, list[str]], categorized: bool) -> tuple[int, str | None, bytes]:
        """The captured streams, cut by ``start``/``end``/``limit``/``direction`` as Loki 3.6.11 cuts them."""
        limit = int(params.get("limit", ["100"])[0])
        if limit > MAX_ENTRIES:
            return 400, PLAIN, LIMIT_EXCEEDED.format(asked=limit, most=MAX_ENTRIES).encode()
        start, end = int(params["start"][0]), int(params["end"][0])
        if end <= start:
            return 400, PLAIN, END_BEFORE_START.encode()
        backward = params.get("direction", ["backward"])[0] == "backward"
        answer = copy.deepcopy(self.categorized if categorized else self.plain)
        result = answer["data"]["result"]
        entries = [(int(value[0]), index, value) for index,
                   item in enumerate(result) for value in item["values"] if start <= int(value[0]) < end]
        kept = sorted(entries, key=lambda e: e[0], reverse=backward)[:limit]
        for index, item in enumerate(result):
            item["values"] = [value for _, i, value in kept if i == index]
        answer["data"]["result"] = [item for item in result if item["values"]]
        return 200, "application/json; charset=UTF-8", json.dumps(answer, separators=(",", ":")).encode()


@pytest.fixture(name="loki_fake")
def loki_fake_fixture() -> Iterator[LokiFake]:
    """A Loki 3.6.11 double replaying tests/contracts/loki/real-3.6.11."""
    with LokiFake() as fake:
        yield fake
    assert not fake.unmatched, (
        f"the Loki fake has no capture for {fake.unmatched}; add a real capture to "
        f"tests/contracts/{REAL}/ or fix the request")
