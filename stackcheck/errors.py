"""The exceptions stackcheck raises, and the exit code each one maps to.

Every expected failure ends as one clear line that names the thing and the fix, never a traceback::

    StackcheckError                 exit 1 unless a subclass says otherwise
    ├── UsageError                  exit 2: bad option, bad manifests, missing binary
    ├── Unreachable                 exit 3: a component or the cluster cannot be reached
    │   └── Unauthorized            exit 3: it answered 401/403 (expired or wrong credentials)
    ├── ApiError                    exit 1: it answered, but not as its API promises
    └── Interrupted                 exit 4: Ctrl-C / SIGTERM; faults were still cleaned up

The user sees :func:`user_message`: the kind first only for the kinds the README's exit codes name
(``UsageError:``, ``Unreachable:``, ``Unauthorized:``, ``Interrupted:``), which scripts may match;
any other error is just its message, which says what failed and the fix (a class name like
``StackcheckError`` tells a user nothing).
"""
from __future__ import annotations

from enum import IntEnum

from stackcheck.secrets import scrub

#: Server text echoed in a message is cut to this length, so a large error page cannot flood a report.
TEXT_ERROR_MAX_SIZE = 256


class ExitCode(IntEnum):
    """The documented exit codes (README, DESIGN.md)."""

    OK = 0
    CHECK_FAILED = 1
    USAGE = 2
    UNREACHABLE = 3
    INTERRUPTED = 4


class StackcheckError(Exception):
    """Base of every error stackcheck reports without a traceback."""

    exit_code: ExitCode = ExitCode.CHECK_FAILED


class UsageError(StackcheckError):
    """The user asked for something that cannot work: a bad option, manifest or missing binary."""

    exit_code = ExitCode.USAGE


class Unreachable(StackcheckError):
    """A component, or the cluster, did not answer. The message names the URL."""

    exit_code = ExitCode.UNREACHABLE


class Unauthorized(Unreachable):
    """A component answered 401/403: credentials are missing, wrong or expired."""


class ApiError(StackcheckError):
    """A component answered, but with an error or a body its API does not promise."""


class Interrupted(StackcheckError):
    """The run was interrupted (SIGINT/SIGTERM) after cleaning up what it had changed."""

    exit_code = ExitCode.INTERRUPTED


#: The kinds a user-facing line starts with (README, "Exit codes"); a subclass shows its documented base.
DOCUMENTED_KINDS = ("UsageError", "Unauthorized", "Unreachable", "Interrupted")


def documented_kind(exc: StackcheckError) -> str | None:
    """``exc``'s kind as the README names it (its own class or a base), or None for any other."""
    return next((c.__name__ for c in type(exc).__mro__ if c.__name__ in DOCUMENTED_KINDS), None)


def user_message(exc: StackcheckError) -> str:
    """The one line a user sees for ``exc``: ``<kind>: <message>`` for a documented kind, else the
    message alone; registered secrets are masked."""
    kind, text = documented_kind(exc), scrub(str(exc))
    return f"{kind}: {text}" if kind else text


def truncate(text: str, limit: int = TEXT_ERROR_MAX_SIZE) -> str:
    """Mask registered secrets in server text, then cut it for a message, marking the cut."""
    text = scrub(text).strip()
    return text if len(text) <= limit else text[:limit] + "…"
