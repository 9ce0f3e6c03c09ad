"""Tests of the notification sink (stackcheck/sink.py) and its client (stackcheck/clients/sink.py).

Offline and fast: the sink runs in-process on ephemeral ports; a few tests start the real
``python -m stackcheck.sink`` process to check signals, exit codes and what it logs.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests

from stackcheck.clients.sink import AlertRef, Notification, SinkClient, SinkError, SinkUnreachable
from stackcheck.errors import ExitCode, StackcheckError, Unauthorized
from stackcheck.sink import SinkServer
from tests.fakes import BodyFake

REPO = Path(__file__).resolve().parents[1]
# Real Alertmanager 0.25.0 webhook bodies, copied byte-for-byte into tests/contracts (see its README).
CAPTURE_DIR = REPO / "tests/contracts/alertmanager-0.25"
WEBHOOK_01 = (CAPTURE_DIR / "webhook_01.json").read_bytes().strip()
WEBHOOK_03 = (CAPTURE_DIR / "webhook_03.json").read_bytes().strip()

AM_HEADERS = {"Content-Type": "application/json", "User-Agent": "Alertmanager/0.25.0"}
HOOK_TOKEN = "T0000SECRET/B0000SECRET/XXXXsecretXXXXtokenXXXX"
DEADLINE_S = 10.0


def slack_body(title: str, text: str, channel: str = "#alerts-critical") -> bytes:
    """The body Alertmanager's slack notifier POSTs: its `request`/`attachment` structs
    (prometheus/alertmanager notify/slack/slack.go, read at commit 00077d70eac9; 0.25 has the same
    fields minus the later `ts`), encoded by Go's encoding/json: omitempty fields dropped, `text`,
    `fallback`, `callback_id` and `footer` always present, and <, >, & escaped as \\u003c, \\u003e, \\u0026.
    Values are what the default templates render (username "Alertmanager", color danger/good,
    fallback "<title> | <external URL>", mrkdwn_in default). Shape and key order match a body captured
    from the Debian Alertmanager 0.25.0 binary posting to a local listener."""
    request = {
        "channel": channel,
        "username": "Alertmanager",
        "attachments": [
            {
                "title": title,
                "title_link": "http://127.0.0.1:29093/#/alerts?receiver=slack-critical",
                "text": text,
                "fallback": f"{title} | http://127.0.0.1:29093/#/alerts?receiver=slack-critical",
                "callback_id": "",
                "footer": "",
                "color": "good" if title.startswith("[RESOLVED]") else "danger",
                "mrkdwn_in": ["fallback", "pretext", "text"],
            }
        ],
    }
    encoded = json.dumps(request, separators=(",", ":"))
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        encoded = encoded.replace(char, escape)
    return encoded.encode() + b"\n"  # json.Encoder.Encode appends a newline


def am_email(subject: str, text: str | None, html: str, to: str = "oncall@example.org") -> EmailMessage:
    """A message shaped like Alertmanager's email notifier sends: multipart/alternative, text/plain
    (only when `text` is configured) then text/html, both quoted-printable, RFC 2047 subject."""
    message = EmailMessage()
    message["From"] = "alertmanager@example.org"
    message["To"] = to
    message["Subject"] = subject
    if text is not None:
        message.set_content(text, cte="quoted-printable")
        message.add_alternative(html, subtype="html", cte="quoted-printable")
    else:
        message.set_content(html, subtype="html", cte="quoted-printable")
        message.make_alternative()
    return message


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "notifications.jsonl"


@pytest.fixture
def sink(store_path: Path) -> Iterator[SinkServer]:
    with SinkServer(store=store_path) as server:
        yield server


@pytest.fixture
def client(sink: SinkServer) -> SinkClient:
    return SinkClient(sink.url)


def post(sink: SinkServer, path: str, body: bytes) -> requests.Response:
    return requests.post(sink.url + path, data=body, headers=AM_HEADERS, timeout=5)


def records(sink: SinkServer, **params: Any) -> list[dict[str, Any]]:
    response = requests.get(sink.url + "/api/notifications", params=params, timeout=5)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["notifications"]
    return result


def send_mail(sink: SinkServer, message: EmailMessage, rcpts: list[str] | None = None) -> None:
    host, port = sink.smtp_address
    with smtplib.SMTP(host, port, timeout=5) as smtp:
        smtp.send_message(message, to_addrs=rcpts)


# ------------------------------------------------------------------------------------------ webhook


def test_webhook_firing_recorded(sink: SinkServer) -> None:
    """POST /webhook/<name> records kind, name, receiver, status and alerts from the labels."""
    response = post(sink, "/webhook/critical", WEBHOOK_01)
    assert response.status_code == 200
    [record] = records(sink)
    assert record["kind"] == "webhook"
    assert record["name"] == "critical"
    assert record["receiver"] == "webhook-test"
    assert record["status"] == "firing"
    assert record["alerts"] == [{"alertname": "AlwaysFiring", "status": "firing"}]


def test_webhook_resolved_recorded(sink: SinkServer) -> None:
    """A resolved webhook notification yields alerts with status resolved."""
    post(sink, "/webhook/default", WEBHOOK_03)
    [record] = records(sink)
    assert record["status"] == "resolved"
    assert record["alerts"] == [{"alertname": "StackcheckSynthetic", "status": "resolved"}]


# ------------------------------------------------------------------------------------------ slack


def test_slack_replies_ok(sink: SinkServer) -> None:
    """POST /slack/<hook> answers 200 with body `ok`, which Alertmanager requires of a Slack webhook."""
    response = post(sink, f"/slack/{HOOK_TOKEN}", slack_body("[FIRING:1] HighErrorRate", ""))
    assert (response.status_code, response.text) == (200, "ok")


def test_slack_recorded(sink: SinkServer) -> None:
    """A Slack notification records hook, channel, title, text, and the alert from the title."""
    title = "[FIRING:2] HighErrorRate (phase5 critical)"
    text = "Error ratio > 5% for <phase5-api> & friends"
    post(sink, f"/slack/{HOOK_TOKEN}", slack_body(title, text))
    [record] = records(sink)
    assert record["kind"] == "slack"
    assert record["hook"] == HOOK_TOKEN
    assert record["channel"] == "#alerts-critical"
    assert (record["title"], record["text"]) == (title, text)
    assert record["alerts"] == [{"alertname": "HighErrorRate", "status": "firing"}]


def test_slack_resolved_title(sink: SinkServer) -> None:
    """`[RESOLVED] Name` in the title gives status resolved."""
    post(sink, "/slack/x", slack_body("[RESOLVED] HighLatency", ""))
    assert records(sink)[0]["alerts"] == [{"alertname": "HighLatency", "status": "resolved"}]


def test_slack_text_alert_lines_added_and_deduped(sink: SinkServer) -> None:
    """`alertname=<Name>` and `Alert: <Name>` lines in the text add alerts, without duplicates."""
    text = "alertname=HighErrorRate severity=critical\nAlert: PodCrashLooping\nalertname=HighErrorRate\n"
    post(sink, "/slack/x", slack_body("[FIRING:3] HighErrorRate", text))
    assert records(sink)[0]["alerts"] == [
        {"alertname": "HighErrorRate", "status": "firing"},
        {"alertname": "PodCrashLooping", "status": "firing"},
    ]


def test_slack_alert_summary_line_not_taken_as_name(sink: SinkServer) -> None:
    """`Alert: <a sentence>` (a summary, as in common Slack templates) is not mistaken for a name."""
    post(sink, "/slack/x", slack_body("[FIRING:1] DiskFull", "*Alert:* Disk almost full on node-1"))
    assert [a["alertname"] for a in records(sink)[0]["alerts"]] == ["DiskFull"]


# ------------------------------------------------------------------------------------------ email


def test_email_plain_session_without_tls_or_auth(sink: SinkServer) -> None:
    """The SMTP port speaks plain ESMTP: no STARTTLS or AUTH offered, mail accepted without login."""
    host, port = sink.smtp_address
    with smtplib.SMTP(host, port, timeout=5) as smtp:
        smtp.ehlo("localhost")
        assert not smtp.has_extn("starttls")
        assert not smtp.has_extn("auth")
        refused = smtp.sendmail("am@example.org", ["a@example.org"], b"Subject: [FIRING:1] X\r\n\r\nbody\r\n")
    assert refused == {}
    assert records(sink)[0]["to"] == ["a@example.org"]


def test_email_multipart_quoted_printable(sink: SinkServer) -> None:
    """A multipart/alternative quoted-printable mail records envelope recipients, the decoded subject,
    the text/plain part and the alerts from subject and body."""
    subject = "[FIRING:2] HighErrorRate — phase5 (critical)"  # non-ASCII: sent RFC 2047 encoded
    text = "Alert: HighErrorRate\nalertname=AuditLogFailures severity=critical " + "x" * 90 + "\n"
    html = "<html><body><p>alertname = ShouldNotBeUsed</p></body></html>"
    message = am_email(subject, text, html)
    assert "=3D" in message.as_string() and "=?utf-8?" in message.as_string()  # really QP + RFC 2047
    send_mail(sink, message, rcpts=["oncall@example.org", "lead@example.org"])
    [record] = records(sink)
    assert record["kind"] == "email"
    assert record["mail_from"] == "alertmanager@example.org"
    assert record["to"] == ["oncall@example.org", "lead@example.org"]
    assert record["subject"] == subject
    assert record["text"] == text.strip()
    assert record["alerts"] == [
        {"alertname": "HighErrorRate", "status": "firing"},
        {"alertname": "AuditLogFailures", "status": "firing"},
    ]


def test_email_html_only_is_stripped(sink: SinkServer) -> None:
    """With only an html part (Alertmanager's default), the text is the html without tags and styles,
    and `alertname = X` label lines from the default template are picked up."""
    html = (
        "<html><head><title>t</title><style>.x{color:red}</style></head><body><table><tr><td>"
        "<strong>Labels</strong><br />alertname = DiskFull<br />severity = critical<br />"
        "</td></tr></table></body></html>"
    )
    send_mail(sink, am_email("[RESOLVED] DiskFull node-1", None, html))
    [record] = records(sink)
    assert record["text"] == "Labels\nalertname = DiskFull\nseverity = critical"
    assert record["alerts"] == [{"alertname": "DiskFull", "status": "resolved"}]


# ------------------------------------------------------------------------------------------ records


def test_ids_increase_and_received_at_is_unix_time(sink: SinkServer) -> None:
    """Every record gets an increasing integer id and a received_at in unix seconds."""
    before = time.time()
    post(sink, "/webhook/a", WEBHOOK_01)
    send_mail(sink, am_email("[FIRING:1] A", "x", "<p>x</p>"))
    post(sink, "/slack/x", slack_body("[FIRING:1] B", ""))
    got = records(sink)
    assert [r["id"] for r in got] == [1, 2, 3]
    assert all(before <= r["received_at"] <= time.time() for r in got)


def test_filter_by_kind(sink: SinkServer) -> None:
    """`kind=` keeps only that integration's records."""
    post(sink, "/webhook/a", WEBHOOK_01)
    post(sink, "/slack/x", slack_body("[FIRING:1] B", ""))
    assert [r["kind"] for r in records(sink, kind="slack")] == ["slack"]


def test_filter_by_channel(sink: SinkServer) -> None:
    """`channel=` matches the Slack channel, with or without the leading `#`."""
    post(sink, "/slack/x", slack_body("[FIRING:1] A", "", channel="#alerts-critical"))
    post(sink, "/slack/x", slack_body("[FIRING:1] B", "", channel="#alerts-warning"))
    assert [r["title"] for r in records(sink, channel="#alerts-warning")] == ["[FIRING:1] B"]
    assert [r["title"] for r in records(sink, channel="alerts-critical")] == ["[FIRING:1] A"]


def test_filter_by_recipient(sink: SinkServer) -> None:
    """`to=` matches any envelope recipient of an email, case-insensitively."""
    send_mail(sink, am_email("[FIRING:1] A", "x", "<p/>"), rcpts=["oncall@example.org"])
    send_mail(sink, am_email("[FIRING:1] B", "x", "<p/>"), rcpts=["dba@example.org", "lead@example.org"])
    assert [r["subject"] for r in records(sink, to="Lead@Example.org")] == ["[FIRING:1] B"]


def test_filter_by_alertname(sink: SinkServer) -> None:
    """`alertname=` keeps records that name that alert, whatever the integration."""
    post(sink, "/webhook/a", WEBHOOK_01)
    post(sink, "/webhook/b", WEBHOOK_03)
    post(sink, "/slack/x", slack_body("[FIRING:1] AlwaysFiring", ""))
    assert [r["kind"] for r in records(sink, alertname="AlwaysFiring")] == ["webhook", "slack"]


def test_since_returns_only_newer(sink: SinkServer) -> None:
    """`since=<id>` returns only records with a greater id."""
    for _ in range(3):
        post(sink, "/webhook/a", WEBHOOK_01)
    assert [r["id"] for r in records(sink, since=1)] == [2, 3]
    assert records(sink, since=3) == []


def test_store_appends_json_lines(sink: SinkServer, store_path: Path) -> None:
    """Each record is appended to --store as one JSON line as soon as it is received."""
    post(sink, "/webhook/a", WEBHOOK_01)
    post(sink, "/slack/x", slack_body("[FIRING:1] B", ""))
    lines = store_path.read_text().splitlines()
    assert [json.loads(line) for line in lines] == records(sink)


def test_store_reloaded_and_ids_continue(store_path: Path) -> None:
    """A restarted sink serves the stored records and continues their ids."""
    with SinkServer(store=store_path) as first:
        post(first, "/webhook/a", WEBHOOK_01)
        post(first, "/webhook/b", WEBHOOK_03)
        before = records(first)
    with SinkServer(store=store_path) as second:
        assert records(second) == before
        post(second, "/webhook/c", WEBHOOK_01)
        assert [r["id"] for r in records(second)] == [1, 2, 3]


def test_store_skips_torn_line(store_path: Path) -> None:
    """A half-written last line (a crash mid-write) is skipped, not fatal."""
    store_path.write_text('{"id": 4, "kind": "webhook", "received_at": 1.0, "alerts": []}\n{"id": 5, "ki')
    with SinkServer(store=store_path) as server:
        post(server, "/webhook/a", WEBHOOK_01)
        assert [r["id"] for r in records(server)] == [4, 5]


# ------------------------------------------------------------------------------------------ HTTP


def test_healthz(sink: SinkServer) -> None:
    """GET /healthz answers 200 `ok`."""
    response = requests.get(sink.url + "/healthz", timeout=5)
    assert (response.status_code, response.text) == (200, "ok")


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/nope"), ("POST", "/nope"), ("POST", "/slack/"), ("POST", "/webhook/")]
)
def test_unknown_path_404(sink: SinkServer, method: str, path: str) -> None:
    """Unknown paths (and receiver paths without a name) answer 404."""
    response = requests.request(method, sink.url + path, data=b"{}", timeout=5)
    assert response.status_code == 404


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"alerts": "x"}', b"\xff\xfe"])
def test_bad_json_400(sink: SinkServer, body: bytes) -> None:
    """A body that is not a JSON object of the expected shape answers 400 and records nothing."""
    assert post(sink, "/webhook/a", body).status_code == 400
    assert records(sink) == []


@pytest.mark.parametrize("query", ["since=abc", "knd=slack"])
def test_bad_query_400(sink: SinkServer, query: str) -> None:
    """A non-integer `since` or an unknown filter (a typo) answers 400 rather than a silent match."""
    response = requests.get(f"{sink.url}/api/notifications?{query}", timeout=5)
    assert response.status_code == 400
    assert "error" in response.json()


# ------------------------------------------------------------------------------------------ client


def test_client_notifications(sink: SinkServer, client: SinkClient) -> None:
    """SinkClient returns typed Notifications with channel, recipients, subject/title and AlertRefs."""
    post(sink, "/slack/x", slack_body("[FIRING:1] HighErrorRate", ""))
    send_mail(sink, am_email("[RESOLVED] DiskFull", "x", "<p/>"), rcpts=["oncall@example.org"])
    slack, mail = client.notifications()
    assert isinstance(slack, Notification)
    assert (slack.kind, slack.channel, slack.title) == ("slack", "#alerts-critical",
                                                        "[FIRING:1] HighErrorRate")
    assert slack.alerts == (AlertRef("HighErrorRate", "firing"),)
    assert (mail.kind, mail.to, mail.subject) == ("email", ("oncall@example.org",), "[RESOLVED] DiskFull")
    assert mail.alertnames == frozenset({"DiskFull"})


def test_client_filters_and_latest_id(sink: SinkServer, client: SinkClient) -> None:
    """The client passes filters through, and latest_id() + since= sees only newer notifications."""
    assert client.latest_id() == 0
    post(sink, "/webhook/a", WEBHOOK_01)
    mark = client.latest_id()
    post(sink, "/webhook/b", WEBHOOK_03)
    newer = client.notifications(since=mark, kind="webhook", alertname="StackcheckSynthetic")
    assert [n.raw["name"] for n in newer] == ["b"]
    assert client.notifications(kind="email") == []


def test_client_healthy(client: SinkClient) -> None:
    """healthy() is True against a running sink."""
    assert client.healthy()


def test_client_wait_for(sink: SinkServer, client: SinkClient) -> None:
    """wait_for() returns the matches once they exist and raises TimeoutError naming the filters."""
    post(sink, "/webhook/a", WEBHOOK_01)
    assert [n.id for n in client.wait_for(timeout=1, alertname="AlwaysFiring")] == [1]
    with pytest.raises(TimeoutError, match="alertname=Nope"):
        client.wait_for(timeout=0.1, interval=0.05, alertname="Nope")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_client_unreachable_names_url() -> None:
    """With nothing listening, calls raise SinkUnreachable (a ConnectionError) naming the URL and the fix."""
    url = f"http://127.0.0.1:{_closed_port()}"
    client = SinkClient(url, timeout=2)
    with pytest.raises(SinkUnreachable) as info:
        client.notifications()
    assert isinstance(info.value, ConnectionError)
    assert url in str(info.value) and "stackcheck up" in str(info.value)
    assert not client.healthy()


# ------------------------------------------------------------------------------------------ process


class SinkProcess:
    """`python -m stackcheck.sink` as the local runtime starts it."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stackcheck.sink", *args],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr
        self.lines: list[str] = []

    def read_until(self, needle: str) -> str:
        """Read stderr lines until one contains `needle` (deadline-bound, never a fixed sleep)."""
        deadline = time.monotonic() + DEADLINE_S
        with selectors.DefaultSelector() as selector:
            selector.register(self.stderr, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not selector.select(timeout=deadline - time.monotonic()):
                    break
                line = self.stderr.readline()
                if not line:
                    break
                self.lines.append(line)
                if needle in line:
                    return line
        raise AssertionError(f"{needle!r} not seen on stderr: {''.join(self.lines)}")

    def address(self, name: str) -> str:
        line = self.read_until("listening")
        return line.split(f"{name}=")[1].split()[0]

    def finish(self) -> tuple[int, str]:
        """Wait for exit and return (exit code, all of stderr)."""
        rest = self.proc.communicate(timeout=DEADLINE_S)[1]
        return self.proc.returncode, "".join(self.lines) + rest

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def spawn() -> Iterator[Any]:
    started: list[SinkProcess] = []

    def start(*args: str) -> SinkProcess:
        started.append(SinkProcess(*args))
        return started[-1]

    yield start
    for proc in started:
        proc.kill()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_process_stops_cleanly_on_signal(spawn: Any, tmp_path: Path, sig: signal.Signals) -> None:
    """The sink process exits 0 on SIGTERM and on SIGINT."""
    proc = spawn("--http", "127.0.0.1:0", "--smtp", "127.0.0.1:0", "--store", str(tmp_path / "n.jsonl"))
    http = proc.address("http")
    assert SinkClient(f"http://{http}").healthy()
    proc.proc.send_signal(sig)
    code, _ = proc.finish()
    assert code == 0


def test_process_port_in_use_exits_3(spawn: Any) -> None:
    """A taken port gives one clear message naming the address, and exit 3."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        code, stderr = spawn("--http", "127.0.0.1:0", "--smtp", address).finish()
    assert code == 3
    assert address in stderr and "SMTP" in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    "args", [[], ["--http", "127.0.0.1", "--smtp", "127.0.0.1:0"], ["--http", ":1", "--smtp", "127.0.0.1:0"]]
)
def test_process_bad_args_exit_2(spawn: Any, args: list[str]) -> None:
    """Missing or malformed arguments print a message on stderr and exit 2 (nothing listens)."""
    code, stderr = spawn(*args).finish()
    assert code == 2
    assert "error" in stderr


def test_process_log_line_hides_hook_token(spawn: Any, tmp_path: Path) -> None:
    """One stderr line per notification names kind, channel and alerts, but never the hook token or body."""
    proc = spawn("--http", "127.0.0.1:0", "--smtp", "127.0.0.1:0", "--store", str(tmp_path / "n.jsonl"))
    http = proc.address("http")
    body = slack_body("[FIRING:1] HighErrorRate", "secret-ish body text")
    response = requests.post(f"http://{http}/slack/{HOOK_TOKEN}", data=body, headers=AM_HEADERS, timeout=5)
    assert response.text == "ok"
    line = proc.read_until("received slack")
    assert "channel=#alerts-critical" in line and "HighErrorRate(firing)" in line
    proc.proc.send_signal(signal.SIGTERM)
    code, stderr = proc.finish()
    assert code == 0
    assert "SECRET" not in stderr and "secret-ish" not in stderr


# ------------------------------------------------------------------------------------------ errors
def test_client_refused_by_a_proxy_is_unauthorized_exit_3() -> None:
    """A 401 from the API server's service proxy in front of the sink is Unauthorized (exit 3), not a
    generic error (exit 1): the client goes through Http like every other."""
    with BodyFake("sink", {}) as proxy:
        proxy.force_status(401)
        with pytest.raises(Unauthorized) as caught:
            SinkClient(proxy.url).notifications()
    assert caught.value.exit_code == ExitCode.UNREACHABLE and int(caught.value.exit_code) == 3
    assert str(caught.value).startswith(f"sink at {proxy.url} refused the request (HTTP 401)")


def test_client_error_answer_is_an_api_error_quoting_the_sink(sink: SinkServer) -> None:
    """The real sink's 400 for a bad filter is a SinkError, a StackcheckError (exit 1) quoting its body."""
    with pytest.raises(SinkError,
                       match=r"/api/notifications answered HTTP 400: .*'since' must be an integer"):
        SinkClient(sink.url).notifications(since="abc")  # type: ignore[arg-type]
    assert issubclass(SinkError, StackcheckError) and SinkError.exit_code == ExitCode.CHECK_FAILED
