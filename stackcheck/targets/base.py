"""What ``verify`` needs from a stack: endpoints, credentials, the time scale and what it lacks.

A target says which components it has and, for every one it lacks, why; checks that need a missing
component are skipped with that reason instead of failing or silently passing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from stackcheck.clients.http import Credentials
from stackcheck.expectations import Expectations

if TYPE_CHECKING:
    from stackcheck.kube.access import KubeAccess


#: Metric-name prefixes and the signal source that produces them, to tell why a rule has no data.
SIGNAL_SOURCES = {
    "container_": "cadvisor",
    "kube_": "kube-state-metrics",
    "node_": "node-exporter",
}


@dataclass
class Target:
    """A stack under verification."""

    name: str
    description: str
    endpoints: dict[str, str]
    credentials: Credentials = field(default_factory=Credentials)
    #: Credentials for one component only (e.g. the local Grafana's admin), instead of ``credentials``.
    component_credentials: dict[str, Credentials] = field(default_factory=dict)
    time_scale: float = 1.0
    #: Scrape jobs this target must have up; None means "every job Prometheus has".
    expected_jobs: list[str] | None = None
    #: Signal sources the target lacks (e.g. "cadvisor") → why. Rules reading them are skipped.
    missing_sources: dict[str, str] = field(default_factory=dict)
    #: Components the target lacks → why (e.g. "loki": "loki binary not found ...").
    missing_components: dict[str, str] = field(default_factory=dict)
    #: Why no log collector ships the workload's logs to Loki, when the target knows it (the local runtime
    #: without Alloy); None when one runs or the target cannot tell (a cluster's DaemonSet).
    log_collector_missing: str | None = None
    #: What to look at when no log line arrives (the collector and what it tails on this target).
    log_shipper_hint: str = "is the collector (Alloy) shipping the phase5 pods?"
    #: Fault injection is allowed without --allow-faults (the local runtime, a CI namespace).
    disposable: bool = False
    #: The local runtime's state dir (fault ledger, restarts, tmpfs mounts); None elsewhere.
    state_dir: Path | None = None
    #: Which namespaces must log, which services must trace (``--expectations FILE``; Phase 5 by default).
    expectations: Expectations = field(default_factory=Expectations)
    #: The kubernetes target's API access; None elsewhere.
    kube: KubeAccess | None = None

    def url(self, component: str) -> str | None:
        """The component's base URL, or None when the target does not have it."""
        return self.endpoints.get(component)

    def why_missing(self, component: str) -> str:
        """A reason to show when a check needs a component this target lacks."""
        return self.missing_components.get(
            component, f"no {component} endpoint for target {self.name}; pass --{component}-url")
