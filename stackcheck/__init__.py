"""stackcheck: deploy an observability stack and prove that it really works."""
from __future__ import annotations

__version__ = "0.1.0"
