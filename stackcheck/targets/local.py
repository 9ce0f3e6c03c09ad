"""The ``local`` target: the stack started by ``stackcheck up``, found through its state dir."""
from __future__ import annotations

from pathlib import Path

from stackcheck.clients.http import Credentials
from stackcheck.local.state import LocalState, grafana_admin
from stackcheck.targets.base import Target

#: What the local runtime cannot provide, by signal source.
LOCAL_MISSING_SOURCES = {
    "cadvisor": "needs cAdvisor container metrics; the local runtime has no kubelet",
    "kube-state-metrics": "needs kube-state-metrics; the local runtime has no Kubernetes API",
}


def local_target(state_dir: Path) -> Target:
    """Build the target from ``state.json``; no running stack is an Unreachable error (exit 3)."""
    state = LocalState.require(state_dir)
    endpoints = {name: url for name, url in state.endpoints.items() if url.startswith("http")}
    missing = {name: reason for name, reason in state.skipped.items()
               if name in ("grafana", "loki", "jaeger")}
    collector = state.skipped.get("alloy")  # e.g. "alloy binary not found; download Grafana Alloy from …"
    logs = state_dir / "logs"
    # Grafana's datasource API needs an org admin; the local runtime generated that password (0600 file).
    admin = grafana_admin(state_dir) if "grafana" in endpoints else None
    per_component = {"grafana": Credentials(basic_user=admin[0], basic_password=admin[1])} if admin else {}
    return Target(
        name="local",
        description=f"local stack (state {state_dir}, manifests {state.manifests})",
        endpoints=endpoints,
        component_credentials=per_component,
        time_scale=state.time_scale,
        expected_jobs=list(state.scrape_jobs),
        missing_sources=dict(LOCAL_MISSING_SOURCES),
        missing_components=missing,
        log_collector_missing=(f"no collector runs on the local stack ({collector}); start `stackcheck up` "
                               "again once it is installed" if collector else None),
        log_shipper_hint=f"is the local Alloy tailing the probe's log files ({logs}/probe*.log)?",
        disposable=True,
        state_dir=state_dir,
    )
