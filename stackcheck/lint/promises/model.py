"""A promise (a named value a consumer relies on) and its verdict."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stackcheck.lint.promises.stack import Stack


@dataclass
class Verdict:
    """``summary`` says what was found when it holds; each problem names file, key, value, who relies
    on it and the fix."""

    summary: str
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Promise:
    """``name`` is the stable id (``loki.retention_in_force``); ``title`` completes "promise <name>: "."""

    name: str
    title: str
    check: Callable[[Stack], Verdict]
    needs_objects: bool = True
    #: A config file (relative to config/) whose absence skips the promise: the component is optional.
    optional: str | None = None


def promise(
    name: str, *, needs_objects: bool = True, optional: str | None = None, title: str | None = None
) -> Callable[[Callable[[Stack], Verdict]], Promise]:
    """Decorator: turn a check function into a :class:`Promise` whose title is the check's docstring (the
    sentence the promise makes, as a pytest check's docstring is), unless ``title`` is given."""

    def wrap(check: Callable[[Stack], Verdict]) -> Promise:
        return Promise(name, title or sentence(check, name), check, needs_objects, optional)

    return wrap


def sentence(check: Callable[..., Verdict], name: str) -> str:
    """The docstring of ``check`` on one line (its name where ``python -OO`` dropped docstrings)."""
    return " ".join((check.__doc__ or name).split())


def shown(value: object) -> str:
    """A config value as it is written in YAML (``false``, ``'24h'``, ``unset``), for messages."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def same_duration(given: object, wanted: str) -> bool:
    """``given`` is a duration equal to ``wanted`` (``744h`` = ``31d``); a malformed or missing one is not."""
    from stackcheck.timescale import parse_duration

    try:
        return given is not None and parse_duration(str(given)) == parse_duration(wanted)
    except ValueError:
        return False
