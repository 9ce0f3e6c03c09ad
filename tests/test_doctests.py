"""The examples in stackcheck's docstrings run and say what the code does (``doctest``)."""
from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import stackcheck

MODULES = sorted(m.name for m in pkgutil.walk_packages(stackcheck.__path__, "stackcheck."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name: str) -> None:
    """Every example of the module gives the output its docstring shows."""
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed (see above)"
