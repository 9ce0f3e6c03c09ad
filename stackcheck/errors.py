"""The exceptions stackcheck raises, and the exit code each one maps to.

Every expected failure ends as one clear line that names the thing and the fix, never a traceback::

    StackcheckError                 exit 1 unless a subclass says otherwise
    ├── UsageError                  exit 2: bad option, bad manifests, missing binary
    ├── Unreachable                 exit 3: a component or the cluster cannot be reached
    │   └── Unauthorized            exit 3: it answered 401/403 (expired or wrong credentials)
    ├── ApiError                    exit 1: it answered, but not as its API promises
    └── Interrupted                 exit 4: Ctrl-C / SIGTERM; faults were still cleaned up
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


def truncate(text: str, limit: int = TEXT_ERROR_MAX_SIZE) -> str:
    """Mask registered secrets in server text, then cut it for a message, marking the cut."""
    text = scrub(text).strip()
    return text if len(text) <= limit else text[:limit] + "…"
