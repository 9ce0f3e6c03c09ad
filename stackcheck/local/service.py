"""What the local runtime needs to know to run one process."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Service:
    """One process of the local stack: how to start it and how to tell it is ready."""

    name: str
    argv: list[str]
    ready_url: str
    endpoint: str
