"""Read a credential from a file and register it with :mod:`stackcheck.secrets` before anything prints it.

Its own module so that :mod:`stackcheck.secrets` stays at the bottom of the layers: errors scrub their
messages through it, and this reader raises errors.
"""
from __future__ import annotations

from stackcheck.errors import UsageError
from stackcheck.secrets import register


def read_secret_file(path: str, what: str) -> str:
    """Read and register a secret from a file; a missing file is a usage error naming the option."""
    try:
        with open(path, encoding="utf-8") as handle:
            value = handle.read().strip()
    except OSError as exc:
        raise UsageError(f"cannot read {what} from {path}: {exc.strerror}; check the path") from exc
    if not value:
        raise UsageError(f"{what} file {path} is empty; write the credential into it")
    register(value)
    return value
