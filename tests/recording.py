"""A recording reverse proxy: forwards every request to a real server and remembers its method and path.

Put in front of the real local Prometheus, Alertmanager and sink, it shows exactly which calls a run made,
e.g. that the smoke profile sends nothing but reads.

>>> with RecordingProxy("http://127.0.0.1:29090") as proxy:        # doctest: +SKIP
...     requests.get(proxy.url + "/-/ready"); proxy.seen
[('GET', '/-/ready')]
"""
from __future__ import annotations

from http.server import BaseHTTPRequestHandler

import requests

from tests.loopback import LoopbackServer

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


class RecordingProxy(LoopbackServer):
    """Forward to ``upstream``; ``seen`` lists (method, path with query) in arrival order."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.seen: list[tuple[str, str]] = []
        self._session = requests.Session()
        self._serve(self._handler())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                proxy.seen.append((self.command, self.path))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                try:
                    answer = proxy._session.request(self.command, proxy.upstream + self.path, data=body,
                                                    headers=headers, timeout=30, allow_redirects=False)
                except requests.RequestException:
                    self.send_response(502)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _forward

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
