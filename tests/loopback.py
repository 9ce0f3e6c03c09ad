"""The life cycle every test double shares: a threaded HTTP server on 127.0.0.1:<ephemeral>."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LoopbackServer:
    """Serve ``handler`` on loopback from a daemon thread; use as a context manager."""

    def _serve(self, handler: type[BaseHTTPRequestHandler], poll_interval: float = 0.002) -> None:
        """Bind now (so ``url`` is known at once); start serving on ``__enter__``.

        A short poll interval keeps ``shutdown()``, which waits for one poll, fast in every test.
        """
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": poll_interval}, daemon=True)

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
