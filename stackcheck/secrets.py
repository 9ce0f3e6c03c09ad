"""Keep secrets out of output, logs and reports.

Credentials are read from files or the environment, registered here, and every message that leaves
stackcheck (terminal, JSON, JUnit) passes through :func:`scrub`. URLs are printed without userinfo.

>>> register("s3cr3t-token")
>>> scrub("Authorization: Bearer s3cr3t-token")
'Authorization: Bearer ***'
"""
from __future__ import annotations

import threading
from urllib.parse import urlsplit, urlunsplit

_lock = threading.Lock()
_secrets: set[str] = set()

MASK = "***"
#: Values shorter than this are not registered: masking "a" everywhere would garble every report.
MIN_SECRET_LEN = 4


def register(value: str | None) -> None:
    """Remember a secret value so that :func:`scrub` masks it wherever it appears."""
    if value and len(value.strip()) >= MIN_SECRET_LEN:
        with _lock:
            _secrets.add(value.strip())


def scrub(text: str) -> str:
    """Mask every registered secret in ``text`` (longest first, so overlapping values stay hidden)."""
    with _lock:
        values = sorted(_secrets, key=len, reverse=True)
    for value in values:
        text = text.replace(value, MASK)
    return text


def safe_url(url: str) -> str:
    """Return ``url`` without userinfo, so it can be printed: ``https://u:p@h/`` → ``https://h/``."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal: urlsplit dropped the brackets
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))

