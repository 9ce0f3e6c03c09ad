"""stackcheck: deploy an observability stack and prove that it really works.

The public names are the ones in ``__all__`` (tests/test_exported_members.py pins them): the version,
the exception tree with its exit codes, the manifests, and what ``verify`` is pointed at. Everything else
is internal and may move between releases; the layers it lives in are in .importlinter and
docs/architecture.md. ``Target`` and ``Credentials`` load on first use: they bring requests, and the CLI
should not pay for that on ``--version``.

PYTEST_DONT_REWRITE: ``stackcheck verify`` imports the package before pytest loads its plugin, so
pytest could not rewrite it anyway and would print a warning on every run; nothing here needs rewriting.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from stackcheck.errors import (
    ApiError,
    ExitCode,
    Interrupted,
    StackcheckError,
    Unauthorized,
    Unreachable,
    UsageError,
)
from stackcheck.manifests import Manifests

if TYPE_CHECKING:
    from stackcheck.clients.http import Credentials
    from stackcheck.targets.base import Target

__version__ = "0.1.0"

__all__ = [
    "ApiError",
    "Credentials",
    "ExitCode",
    "Interrupted",
    "Manifests",
    "StackcheckError",
    "Target",
    "Unauthorized",
    "Unreachable",
    "UsageError",
    "__version__",
]

#: Public names loaded on first use, and the module each lives in.
_LAZY = {"Credentials": "stackcheck.clients.http", "Target": "stackcheck.targets.base"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'stackcheck' has no attribute {name!r}")
