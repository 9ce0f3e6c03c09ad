"""Client for the notification sink (:mod:`stackcheck.sink`): which alert reached which channel.

Checks use it to read what Alertmanager delivered to the sink's Slack, webhook and SMTP endpoints. It goes
through :class:`~stackcheck.clients.http.Http` like every client, so a 401/403 (e.g. from the API server's
service proxy in front of the sink) is :class:`~stackcheck.errors.Unauthorized` (exit 3), and server text
in a message is scrubbed and cut.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict, Unpack

import requests

from stackcheck.clients.http import Http
from stackcheck.errors import ApiError, Unauthorized, Unreachable, truncate
from stackcheck.wait import until

__all__ = ["AlertRef", "Notification", "SinkClient", "SinkError", "SinkUnreachable"]


class SinkUnreachable(Unreachable, ConnectionError):
    """Nothing answered at the sink's URL; almost always the local stack is not running."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(
            f"notification sink at {url} is unreachable ({reason}); "
            "is the local stack up? run `stackcheck up`"
        )
        self.url = url


class SinkError(ApiError):
    """The sink answered, but with an error (e.g. a bad filter) or a body it does not promise."""


@dataclass(frozen=True)
class AlertRef:
    """One alert named by a notification, with the notification's status."""

    alertname: str
    status: str  # "firing" | "resolved"


@dataclass(frozen=True)
class Notification:
    """One recorded notification. ``subject`` is the email Subject or the Slack attachment title."""

    id: int
    kind: str  # "slack" | "webhook" | "email"
    received_at: float
    channel: str | None
    to: tuple[str, ...]
    subject: str | None
    alerts: tuple[AlertRef, ...]
    raw: Mapping[str, Any] = field(compare=False, repr=False)

    @property
    def title(self) -> str | None:
        """Slack wording for :attr:`subject`."""
        return self.subject

    @property
    def alertnames(self) -> frozenset[str]:
        return frozenset(alert.alertname for alert in self.alerts)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Notification:
        """Build from one ``/api/notifications`` record; unknown keys stay available in ``raw``."""
        subject = record.get("subject") if record.get("kind") == "email" else record.get("title")
        return cls(
            id=int(record["id"]),
            kind=str(record["kind"]),
            received_at=float(record["received_at"]),
            channel=record.get("channel"),
            to=tuple(record.get("to") or ()),
            subject=subject,
            alerts=tuple(AlertRef(str(a["alertname"]), str(a["status"])) for a in record.get("alerts") or ()),
            raw=record,
        )


class Filters(TypedDict, total=False):
    """What the sink's ``/api/notifications`` filters on (sink.py); ``since`` keeps ids greater than it."""

    kind: str | None
    since: int | None
    channel: str | None
    to: str | None
    alertname: str | None


class SinkClient:
    """Client for the sink's HTTP API, through :class:`~stackcheck.clients.http.Http`."""

    def __init__(self, base_url: str, *, session: requests.Session | None = None,
                 timeout: float = 5.0) -> None:
        self.http = Http("sink", base_url, session=session, timeout=timeout)
        self.base_url = self.http.base_url
        self.session = self.http.session
        self.timeout = timeout

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> requests.Response:
        try:
            return self.http.request("GET", path, params=params)
        except Unauthorized:
            raise
        except Unreachable as exc:
            raise SinkUnreachable(self.http.display_url + path, _reason(exc)) from exc

    def healthy(self) -> bool:
        """True when the sink answers ``/healthz``; never raises, so it can be polled."""
        try:
            response = self._get("/healthz")
        except Unreachable:  # also Unauthorized: not healthy for us either way
            return False
        return response.status_code == 200 and response.text.strip() == "ok"

    def notifications(self, **filters: Unpack[Filters]) -> list[Notification]:
        """Recorded notifications in id order; ``since`` keeps only ids greater than it."""
        params = {key: str(value) for key, value in filters.items() if value is not None}
        response = self._get("/api/notifications", params)
        where = f"sink {self.http.display_url}/api/notifications"
        if response.status_code != 200:
            raise SinkError(f"{where} answered HTTP {response.status_code}: {truncate(response.text)}")
        try:
            records = response.json()["notifications"]
            return [Notification.from_record(record) for record in records]
        except (ValueError, KeyError, TypeError) as exc:
            raise SinkError(f"{where} sent an unexpected body ({type(exc).__name__}: {exc}): "
                            f"{truncate(response.text)}") from exc

    def latest_id(self) -> int:
        """Highest id recorded so far (0 if none): pass it as ``since`` to see only newer ones."""
        return max((n.id for n in self.notifications()), default=0)

    def wait_for(self, *, timeout: float, interval: float = 0.5,
                 **filters: Unpack[Filters]) -> list[Notification]:
        """Poll until at least one notification matches, then return the matches.

        Raises :class:`TimeoutError` naming the filters when the deadline passes first.
        """
        found = until(lambda: self.notifications(**filters), timeout, interval_s=interval)
        if found:
            return found
        described = ", ".join(f"{k}={v}" for k, v in filters.items() if v is not None) or "any"
        raise TimeoutError(f"no notification ({described}) reached the sink within {timeout:g}s")


def _reason(exc: Unreachable) -> str:
    """``ConnectionError`` or ``timed out`` from the Http error it came from."""
    cause = exc.__cause__
    if isinstance(cause, requests.Timeout):
        return "timed out"
    return type(cause).__name__ if cause is not None else "unreachable"
