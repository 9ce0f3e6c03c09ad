"""How the text of an option (a flag's value or a ``STACKCHECK_*`` variable) becomes its value.

Each parser raises ``ValueError`` saying what was expected; :func:`stackcheck.settings.parse` adds where
the text came from.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from stackcheck.timescale import parse_duration


def text(value: str) -> str:
    return value


def boolean(value: str) -> bool:
    """An environment switch: 1/true/yes/on or 0/false/no/off."""
    word = value.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected 1/true/yes/on or 0/false/no/off")


def positive_number(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if not number > 0 or number == float("inf"):
        raise ValueError("expected a number above 0, e.g. 20")
    return number


def port(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not 1 <= number <= 65535:
        raise ValueError("expected a port number 1-65535, e.g. 29000")
    return number


_SECONDS = re.compile(r"^\d+(?:\.\d+)?$")


def duration(value: str) -> float:
    """A Prometheus duration (``30s``, ``5m``, ``1h30m``) or plain seconds, above 0 → seconds."""
    try:
        seconds = float(value) if _SECONDS.match(value.strip()) else parse_duration(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ValueError("expected a duration above 0 such as 30s, 5m or 1h30m")
    return seconds


def manifests_dir(value: str) -> str:
    """A directory with a ``config/`` folder (checked here, so a bad one is blamed on its source)."""
    if not (Path(value).expanduser() / "config").is_dir():
        raise ValueError("is not a stackcheck manifests directory: it has no config/ folder; point it at a "
                         "copy of the repository's manifests/")
    return value


def one_of(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value
    parse.__name__ = "one_of"
    return parse
