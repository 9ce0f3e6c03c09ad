"""The components ``verify`` checks: the one table every list of components is derived from.

A component is something a target can have an endpoint for (``--<component>-url``), that preflight asks
whether it answers, and that checks are filed under. Adding one here gives it its URL option, its
preflight question and its place in the report.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Component:
    """One component, and what preflight asks it (``GET <url><ready_path>``) to see that it is up."""

    name: str
    ready_path: str


#: Prometheus must be *ready* (WAL replayed) for any check to run; the others only have to answer:
#: their own checks judge readiness, in their own words.
TABLE = (
    Component("prometheus", "/-/ready"),
    Component("alertmanager", "/-/ready"),
    Component("grafana", "/api/health"),
    Component("loki", "/ready"),
    Component("jaeger", "/"),
    Component("sink", "/healthz"),
    Component("probe", "/healthz"),
)
COMPONENTS = tuple(c.name for c in TABLE)
