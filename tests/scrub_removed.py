"""A pytest plugin for the secret meta-test only: it removes scrubbing, as a regression would.

Loaded with ``-p tests.scrub_removed`` (also through ``PYTEST_ADDOPTS``, so that pytest runs started by a
test inherit it), it replaces :func:`stackcheck.secrets.scrub` with the identity, in ``stackcheck.secrets``
and in every stackcheck module that imported it by name. Every secret canary must then fail;
``tests/test_secrets.py::test_every_secret_canary_fails_without_scrubbing`` checks that they do.
"""
from __future__ import annotations

import importlib
import pkgutil

import stackcheck
from stackcheck import secrets

_original = secrets.scrub


def _identity(text: str) -> str:
    return text


secrets.scrub = _identity
for _info in pkgutil.walk_packages(stackcheck.__path__, "stackcheck."):
    try:
        _module = importlib.import_module(_info.name)
    except Exception:  # noqa: BLE001, S112 - a module that cannot import here holds no reference either
        continue
    if getattr(_module, "scrub", None) is _original:
        _module.scrub = _identity  # type: ignore[attr-defined]
