"""Notification sink: the receiving end of Alertmanager's Slack, webhook and email integrations.

Alertmanager's *real* integrations are pointed here (Slack ``api_url`` → ``/slack/<hook>``, webhook ``url``
→ ``/webhook/<name>``, ``smarthost`` → the SMTP port with ``require_tls: false``), so a check can prove
which alert reached which channel by querying ``GET /api/notifications``. It is a receiver, not a
stand-in for a stack component.

Run as ``python -m stackcheck.sink --http HOST:PORT --smtp HOST:PORT [--store FILE]``. Exit codes:
0 after SIGTERM/SIGINT, 2 for bad arguments or an unusable store, 3 when an address cannot be bound.
"""

from __future__ import annotations

import argparse
import asyncio
import email
import email.policy
import json
import logging
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage, MIMEPart
from html.parser import HTMLParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import IO, Any, Self
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.smtp import SMTP

__all__ = [
    "BindError",
    "NotificationStore",
    "QueryError",
    "SinkServer",
    "alerts_from_text",
    "main",
    "parse_address",
    "parse_email",
    "parse_slack",
    "parse_webhook",
]

Record = dict[str, Any]

log = logging.getLogger("stackcheck.sink")

MAX_BODY_BYTES = 10 * 1024 * 1024
"""Alertmanager payloads are a few KiB; anything this big is a mistake, not a notification."""

SMTP_HOSTNAME = "stackcheck-sink"
"""Fixed EHLO name: aiosmtpd otherwise calls socket.getfqdn(), which can stall on a broken resolver."""

QUERY_FILTERS = frozenset({"kind", "since", "channel", "to", "alertname"})

_NAME = r"[A-Za-z_:][A-Za-z0-9_:]*"
_TITLE_RE = re.compile(rf"^\s*\[(FIRING|RESOLVED)(?::\d+)?\]\s*({_NAME})?", re.IGNORECASE)
# `alertname=X`, `alertname = X` (default email template) or `alertname="X"` (label sets) anywhere in a line.
_LABEL_RE = re.compile(rf"\balertname\s*=\s*\"?({_NAME})")
# A whole line `Alert: X` (optionally bulleted / Slack-bold); a summary sentence after `Alert:` does not
# match.
_ALERT_LINE_RE = re.compile(rf"^\s*(?:[-*•]\s*)?\*?Alert:\*?\s*({_NAME})\s*$", re.MULTILINE)


class BindError(Exception):
    """An address given on the command line could not be listened on (exit 3)."""

    def __init__(self, what: str, address: tuple[str, int], cause: OSError) -> None:
        reason = cause.strerror or str(cause)
        super().__init__(f"cannot listen for {what} on {format_address(address)}: {reason}")
        self.address = address


class QueryError(ValueError):
    """A bad ``/api/notifications`` query; the message is returned to the caller with a 400."""


# --------------------------------------------------------------------------------------------- alerts


def alert_ref(alertname: str, status: str) -> dict[str, str]:
    """The one shape every record uses, so checks need not care which integration delivered."""
    return {"alertname": alertname, "status": status}


def dedupe(alerts: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """Keep the first of each (alertname, status), preserving order: checks ask "did X arrive"."""
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, str]] = []
    for alert in alerts:
        key = (alert["alertname"], alert["status"])
        if key not in seen:
            seen.add(key)
            out.append(alert)
    return out


def alerts_from_text(title: str, body: str) -> list[dict[str, str]]:
    """Alerts named by a Slack title / email subject ``[FIRING:2] Name ...`` plus ``alertname=Name`` /
    ``Alert: Name`` lines in the body.

    The bracket gives the status for all of them (a notification is either firing or resolved); without
    a bracket the status defaults to ``firing`` because Alertmanager only sends resolved ones on request.
    """
    match = _TITLE_RE.match(title)
    status = match.group(1).lower() if match else "firing"
    names = [match.group(2)] if match and match.group(2) else []
    for line in body.splitlines():
        names.extend(_LABEL_RE.findall(line))
    names.extend(_ALERT_LINE_RE.findall(body))
    return dedupe(alert_ref(name, status) for name in names)


# --------------------------------------------------------------------------------------------- parsing


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def parse_webhook(name: str, body: Mapping[str, Any]) -> Record:
    """Record for an Alertmanager webhook v4 payload; alerts come from the labels, not from text."""
    raw_alerts = body.get("alerts")
    if raw_alerts is not None and not isinstance(raw_alerts, list):
        raise TypeError("'alerts' must be a list")
    alerts = []
    for item in raw_alerts or []:
        labels = item.get("labels") if isinstance(item, dict) else None
        alertname = labels.get("alertname") if isinstance(labels, dict) else None
        if isinstance(alertname, str):
            status = item.get("status")
            alerts.append(alert_ref(alertname, status if status in ("firing", "resolved") else "firing"))
    return {
        "kind": "webhook",
        "name": name,
        "receiver": _str_or_none(body.get("receiver")),
        "status": _str_or_none(body.get("status")),
        "alerts": dedupe(alerts),
    }


def parse_slack(hook: str, body: Mapping[str, Any]) -> Record:
    """Record for a Slack incoming-webhook payload as Alertmanager's slack notifier builds it.

    Alertmanager sends exactly one attachment; its ``title``/``text`` carry the rendered templates.
    A top-level ``text`` (plain Slack webhooks) is used when there is no attachment.
    """
    attachments = body.get("attachments")
    first = attachments[0] if isinstance(attachments, list) and attachments else {}
    if not isinstance(first, dict):
        raise TypeError("'attachments' must be a list of objects")
    top_text = _str_or_none(body.get("text")) or ""
    title = _str_or_none(first.get("title")) or top_text.split("\n", 1)[0]
    text = _str_or_none(first.get("text")) or top_text
    return {
        "kind": "slack",
        "hook": hook,
        "channel": _str_or_none(body.get("channel")),
        "title": title,
        "text": text,
        "alerts": alerts_from_text(title, text),
    }


class _TextExtractor(HTMLParser):
    """HTML → readable text: drops head/style/script, breaks lines at block elements."""

    SKIP = frozenset({"head", "style", "script", "title"})
    BREAK = frozenset({"br", "p", "div", "tr", "li", "table", "h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skipping += 1
        elif tag in self.BREAK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self.BREAK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Strip tags so the html-only default Alertmanager email still yields scannable lines."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def _part_text(part: MIMEPart) -> str:
    """Decoded text of one MIME part (quoted-printable/base64, any charset) without raising."""
    try:
        content = part.get_content()
        if isinstance(content, str):
            return content
    except (LookupError, ValueError, KeyError):
        pass
    payload = part.get_payload(decode=True)
    return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


def mail_text(message: EmailMessage) -> str:
    """The text/plain body if there is one, else the text/html body with tags stripped."""
    plain = message.get_body(preferencelist=("plain",))
    if plain is not None:
        return "\n".join(_part_text(plain).strip().splitlines())  # SMTP delivers CRLF
    html = message.get_body(preferencelist=("html",))
    return html_to_text(_part_text(html)) if html is not None else ""


def parse_email(mail_from: str, rcpt_tos: Sequence[str], content: bytes) -> Record:
    """Record for one SMTP transaction; recipients come from the envelope (what was delivered)."""
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # guaranteed by policy.default
    subject = " ".join(str(message.get("Subject", "")).split())  # RFC 2047 decoded, unfolded
    text = mail_text(message)
    return {
        "kind": "email",
        "mail_from": mail_from,
        "to": list(rcpt_tos),
        "subject": subject,
        "text": text,
        "alerts": alerts_from_text(subject, text),
    }


# --------------------------------------------------------------------------------------------- store


def _matches(record: Record, filters: Mapping[str, str]) -> bool:
    """One record against the non-``since`` filters; all given filters must hold."""
    if "kind" in filters and record.get("kind") != filters["kind"]:
        return False
    if "channel" in filters:
        channel = record.get("channel")
        if not isinstance(channel, str) or channel.lstrip("#") != filters["channel"].lstrip("#"):
            return False
    if "to" in filters:
        wanted = filters["to"].lower()
        if wanted not in (addr.lower() for addr in record.get("to") or []):
            return False
    names = (a.get("alertname") for a in record.get("alerts") or [])
    return "alertname" not in filters or filters["alertname"] in names


class NotificationStore:
    """Thread-safe, append-only list of records, mirrored to a JSON-lines file for debugging.

    Records are never mutated after ``add``, so readers may use them outside the lock.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._records: list[Record] = []
        self._next_id = 1
        self._file: IO[str] | None = None
        if path is not None:
            self._load(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

    def _load(self, path: Path) -> None:
        """Reload earlier records so ids keep increasing across restarts; skip torn lines."""
        if not path.exists():
            return
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                record_id = int(record["id"])
            except (ValueError, KeyError, TypeError):
                log.warning("store %s line %d is not a record; skipped", path, number)
                continue
            self._records.append(record)
            self._next_id = max(self._next_id, record_id + 1)
        self._records.sort(key=lambda r: int(r["id"]))

    def add(self, fields: Record) -> Record:
        """Stamp ``id``/``received_at``, keep it, and append it to the store file (flushed)."""
        with self._lock:
            record = {"id": self._next_id, "received_at": time.time(), **fields}
            self._next_id += 1
            self._records.append(record)
            if self._file is not None:
                self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
                self._file.flush()
        return record

    def query(self, filters: Mapping[str, str] | None = None) -> list[Record]:
        """Records in id order matching ``filters`` (keys of :data:`QUERY_FILTERS`)."""
        filters = dict(filters or {})
        unknown = set(filters) - QUERY_FILTERS
        if unknown:
            raise QueryError(f"unknown filter(s): {', '.join(sorted(unknown))}")
        since = _parse_since(filters.pop("since", None))
        with self._lock:
            records = list(self._records)
        return [r for r in records if int(r["id"]) > since and _matches(r, filters)]

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def _parse_since(value: str | None) -> int:
    if value is None or value == "":
        return 0
    try:
        return int(value)
    except ValueError:
        raise QueryError(f"'since' must be an integer id, got {value!r}") from None


def describe(record: Record) -> str:
    """The single log line per notification: never the body, the hook token or a full URL."""
    where = {
        "slack": f"channel={record.get('channel')}",
        "webhook": f"receiver={record.get('receiver')}",
        "email": f"to={','.join(record.get('to') or [])}",
    }.get(str(record.get("kind")), "")
    alerts = ",".join(f"{a['alertname']}({a['status']})" for a in record.get("alerts") or []) or "-"
    return f"received {record.get('kind')} #{record.get('id')} {where} alerts={alerts}"


# --------------------------------------------------------------------------------------------- HTTP


class _HTTPServer(ThreadingHTTPServer):
    """Carries the store to the handlers; picks IPv4/IPv6 from the host literal."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], store: NotificationStore) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.store = store
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "stackcheck-sink"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the access log: request lines contain the Slack hook token."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self._reply_text(HTTPStatus.OK, "ok")
        elif url.path == "/api/notifications":
            self._get_notifications(url.query)
        elif url.path.startswith(("/slack/", "/webhook/")):
            self._reply_json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "POST only"})
        else:
            self._reply_json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        for prefix, kind in (("/slack/", "slack"), ("/webhook/", "webhook")):
            if path.startswith(prefix) and len(path) > len(prefix):
                self._receive(kind, path[len(prefix):])
                return
        self._reply_json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def _get_notifications(self, query: str) -> None:
        filters = {key: values[-1] for key, values in parse_qs(query, keep_blank_values=True).items()}
        try:
            records = self.server.store.query(filters)
        except QueryError as exc:
            self._reply_json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        self._reply_json(HTTPStatus.OK, {"notifications": records})

    def _receive(self, kind: str, segment: str) -> None:
        body = self._read_json()
        if body is None:
            return
        try:
            fields = parse_slack(segment, body) if kind == "slack" else parse_webhook(segment, body)
        except (TypeError, ValueError) as exc:
            self._reply_json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        record = self.server.store.add(fields)
        log.info("%s", describe(record))
        if kind == "slack":
            self._reply_text(HTTPStatus.OK, "ok")  # what Slack answers; Alertmanager checks for it
        else:
            self._reply_json(HTTPStatus.OK, {"id": record["id"]})

    def _read_json(self) -> dict[str, Any] | None:
        """The request body as a JSON object, or None after replying 400/411/413."""
        length_header = self.headers.get("Content-Length")
        if length_header is None or not length_header.isdigit():
            self._reply_json(HTTPStatus.LENGTH_REQUIRED, {"error": "Content-Length required"})
            return None
        length = int(length_header)
        if length > MAX_BODY_BYTES:
            self._reply_json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "body too large"})
            self.close_connection = True
            return None
        try:
            body = json.loads(self.rfile.read(length))
        except (ValueError, UnicodeDecodeError) as exc:
            self._reply_json(HTTPStatus.BAD_REQUEST, {"error": f"invalid JSON: {exc}"})
            return None
        if not isinstance(body, dict):
            self._reply_json(HTTPStatus.BAD_REQUEST, {"error": "JSON body must be an object"})
            return None
        return body

    def _reply_text(self, status: HTTPStatus, text: str) -> None:
        self._reply(status, text.encode(), "text/plain; charset=utf-8")

    def _reply_json(self, status: HTTPStatus, payload: Any) -> None:
        self._reply(status, json.dumps(payload).encode(), "application/json")

    def _reply(self, status: HTTPStatus, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


# --------------------------------------------------------------------------------------------- SMTP


class _MailHandler:
    """aiosmtpd handler: every message is accepted and recorded (no auth, no relay)."""

    def __init__(self, store: NotificationStore) -> None:
        self.store = store

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        content = envelope.original_content or b""
        record = self.store.add(parse_email(envelope.mail_from or "", envelope.rcpt_tos, content))
        log.info("%s", describe(record))
        return "250 Message accepted for delivery"


def _smtp_protocol(handler: _MailHandler, loop: asyncio.AbstractEventLoop) -> SMTP:
    """A plain-text SMTP session: no STARTTLS offered (no tls_context) and no AUTH offered
    (``auth_require_tls`` hides it without TLS), so Alertmanager with ``require_tls: false`` just sends."""
    return SMTP(
        handler,
        hostname=SMTP_HOSTNAME,
        enable_SMTPUTF8=True,
        tls_context=None,
        require_starttls=False,
        auth_required=False,
        auth_require_tls=True,
        loop=loop,
    )


@dataclass
class _SMTPRunner:
    """An asyncio loop on its own thread serving SMTP; binding happens in the caller's thread."""

    loop: asyncio.AbstractEventLoop
    server: asyncio.Server
    thread: threading.Thread

    @classmethod
    def start(cls, address: tuple[str, int], handler: _MailHandler) -> _SMTPRunner:
        loop = asyncio.new_event_loop()
        try:
            server = loop.run_until_complete(
                loop.create_server(lambda: _smtp_protocol(handler, loop), address[0], address[1])
            )
        except OSError as exc:
            loop.close()
            raise BindError("SMTP", address, exc) from exc
        thread = threading.Thread(target=cls._run, args=(loop,), name="sink-smtp", daemon=True)
        thread.start()
        return cls(loop, server, thread)

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        loop.run_forever()
        tasks = asyncio.all_tasks(loop)  # open sessions: cancel so the loop closes quietly
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.close()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


# --------------------------------------------------------------------------------------------- server


class SinkServer:
    """HTTP + SMTP listeners sharing one store; usable in-process (port 0) or via :func:`main`."""

    def __init__(
        self,
        http: tuple[str, int] = ("127.0.0.1", 0),
        smtp: tuple[str, int] = ("127.0.0.1", 0),
        store: Path | None = None,
    ) -> None:
        self._http_requested = http
        self._smtp_requested = smtp
        self.store = NotificationStore(store)
        self._http: _HTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._smtp: _SMTPRunner | None = None

    def start(self) -> Self:
        """Bind both addresses (raising :class:`BindError`) and serve on background threads."""
        try:
            self._http = _HTTPServer(self._http_requested, self.store)
        except OSError as exc:
            raise BindError("HTTP", self._http_requested, exc) from exc
        try:
            self._smtp = _SMTPRunner.start(self._smtp_requested, _MailHandler(self.store))
        except BindError:
            self._http.server_close()
            self._http = None
            raise
        self._http_thread = threading.Thread(
            target=self._http.serve_forever, args=(0.05,), name="sink-http", daemon=True
        )
        self._http_thread.start()
        return self

    @property
    def http_address(self) -> tuple[str, int]:
        """The bound HTTP (host, port): the real port when 0 was asked for."""
        if self._http is None:
            raise RuntimeError("sink not started")
        host, port = self._http.server_address[:2]
        return str(host), int(port)

    @property
    def smtp_address(self) -> tuple[str, int]:
        """The bound SMTP (host, port)."""
        if self._smtp is None:
            raise RuntimeError("sink not started")
        return self._smtp.address

    @property
    def url(self) -> str:
        """Base URL of the HTTP API, e.g. ``http://127.0.0.1:29500``."""
        return f"http://{format_address(self.http_address)}"

    def stop(self) -> None:
        """Stop listening and close the store; safe to call twice."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None
        self.store.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------- CLI


def format_address(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``) → tuple; the host is required so the sink never listens widely by
    accident."""
    host, sep, port_text = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port_text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stackcheck.sink",
        description="Receive Alertmanager Slack/webhook/email notifications and record them.",
    )
    parser.add_argument("--http", type=parse_address, required=True, metavar="HOST:PORT")
    parser.add_argument("--smtp", type=parse_address, required=True, metavar="HOST:PORT")
    parser.add_argument("--store", type=Path, metavar="FILE", help="JSON-lines file to append records to")
    return parser


def _configure_logging() -> None:
    """Our one-line-per-notification log on stderr; aiosmtpd's own chatter stays off."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s stackcheck-sink: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    logging.getLogger("mail.log").setLevel(logging.WARNING)


def _wait_for_signal() -> None:
    """Block until SIGTERM or SIGINT; the handlers only set an event so shutdown runs here."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop.wait(1.0):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging()
    try:
        sink = SinkServer(args.http, args.smtp, args.store)
    except OSError as exc:
        print(f"stackcheck-sink: cannot use store {args.store}: {exc}", file=sys.stderr)
        return 2
    try:
        sink.start()
    except BindError as exc:
        sink.store.close()
        print(f"stackcheck-sink: {exc}", file=sys.stderr)
        return 3
    log.info(
        "listening http=%s smtp=%s store=%s",
        format_address(sink.http_address),
        format_address(sink.smtp_address),
        args.store or "-",
    )
    try:
        _wait_for_signal()
    finally:
        sink.stop()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
