"""stackcheck: deploy an observability stack and prove that it really works.

PYTEST_DONT_REWRITE: ``stackcheck verify`` imports the package before pytest loads its plugin, so
pytest could not rewrite it anyway and would print a warning on every run; nothing here needs rewriting.
"""
from __future__ import annotations

__version__ = "0.1.0"
