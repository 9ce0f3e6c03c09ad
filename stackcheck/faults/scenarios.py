"""One scenario per reference alert: how to cause it on a target, and how to undo it.

>>> SCENARIOS["HighErrorRate"].labels
{'service': 'phase5-backend'}
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from stackcheck.faults import kubernetes, local
from stackcheck.faults.switches import PROBE_SWITCHES, switches_off
from stackcheck.targets.base import Target

K8S_ONLY = "needs Kubernetes objects or cAdvisor ({what}); the local target has neither"


@dataclass(frozen=True)
class Scenario:
    """A named fault: inject and clear act through the target; ``labels`` pick out its alert."""

    alert: str
    inject: Callable[[Target, str], None]
    clear: Callable[[Target, str], None]
    labels: dict[str, str] = field(default_factory=dict)
    #: Why the scenario cannot run on a target, or None when it can.
    unsupported: Callable[[Target], str | None] = lambda target: None
    #: Labels known only once the target is known (e.g. the tmpfs mountpoint).
    labels_for: Callable[[Target], dict[str, str]] | None = None

    def alert_labels(self, target: Target) -> dict[str, str]:
        """Labels that pick out this scenario's alert among others of the same name."""
        return {**self.labels, **(self.labels_for(target) if self.labels_for else {})}


def _probe(target: Target, name: str = "probe") -> str:
    url = target.url(name)
    assert url is not None, f"target {target.name} has no {name} endpoint"
    return url


def _switch(alert: str) -> tuple[Callable[[Target, str], None], Callable[[Target, str], None]]:
    """An inject/clear pair setting the alert's probe switches on, then off (0/false)."""
    switches = PROBE_SWITCHES[alert]
    off = switches_off(switches)
    return (lambda t, run: local.set_switches(_probe(t), run, dict(switches)),
            lambda t, run: local.set_switches(_probe(t), run, off))


def _needs_local(target: Target) -> str | None:
    if target.state_dir is None:
        return f"this fault acts on the local runtime's processes; target {target.name} is not local"
    return None


def _needs_root_local(target: Target) -> str | None:
    return _needs_local(target) or local.tmpfs_unavailable()


def _k8s_only(what: str) -> Callable[[Target], str | None]:
    return lambda target: K8S_ONLY.format(what=what) if target.state_dir is not None else (
        f"needs --target kubernetes ({what})")


def _on_kubernetes(s: Scenario) -> Scenario:
    """On a kubernetes target, the fault driver's inject/clear and alert labels; elsewhere its own."""
    if s.alert not in kubernetes.K8S_FAULTS:
        return s
    k_inject, k_clear = kubernetes.K8S_FAULTS[s.alert]
    k_labels = kubernetes.K8S_ALERT_LABELS.get(s.alert, {})
    return replace(
        s,
        inject=lambda t, run: (k_inject if t.kube is not None else s.inject)(t, run),
        clear=lambda t, run: (k_clear if t.kube is not None else s.clear)(t, run),
        unsupported=lambda t: None if t.kube is not None else s.unsupported(t),
        labels_for=lambda t: dict(k_labels) if t.kube is not None else (
            s.labels_for(t) if s.labels_for else {}),
    )


def _noop(target: Target, run_id: str) -> None:
    """Watchdog needs no fault: it fires always."""


def _scenarios() -> dict[str, Scenario]:
    backend = {"service": "phase5-backend"}
    found = [
        Scenario("HighErrorRate", *_switch("HighErrorRate"), labels=backend),
        Scenario("HighResponseTime", *_switch("HighResponseTime"), labels=backend),
        Scenario("DatabaseConnectionPoolExhausted", *_switch("DatabaseConnectionPoolExhausted"),
                 labels=backend),
        Scenario("AuditLogFailures", *_switch("AuditLogFailures"), labels=backend),
        Scenario("ReminderDeliveryFailures", *_switch("ReminderDeliveryFailures"), labels=backend),
        Scenario("KafkaConsumerLag", *_switch("KafkaConsumerLag"), labels=backend),
        Scenario("PodDown",
                 lambda t, run: local.kill_service(t.state_dir, "probe_canary"),  # type: ignore[arg-type]
                 lambda t, run: local.restart_service(t.state_dir, "probe_canary"),  # type: ignore[arg-type]
                 unsupported=_needs_local),
        Scenario("DiskSpaceLow",
                 lambda t, run: local.fill_disk(t.state_dir),  # type: ignore[arg-type]
                 lambda t, run: local.clear_disk(t.state_dir),  # type: ignore[arg-type]
                 unsupported=_needs_root_local,
                 labels_for=lambda t: {"mountpoint": str(local.disk_mount(t.state_dir))}),  # type: ignore[arg-type]
        Scenario("HighCPUUsage", _noop, _noop, unsupported=_k8s_only("cAdvisor CPU and pod limits")),
        Scenario("HighMemoryUsage", _noop, _noop, unsupported=_k8s_only("cAdvisor memory and pod limits")),
        Scenario("PodRestartingTooOften", _noop, _noop, unsupported=_k8s_only("kube-state-metrics restarts")),
        Scenario("DeploymentReplicaMismatch", _noop, _noop, unsupported=_k8s_only("a Deployment")),
        Scenario("HPAMaxedOut", _noop, _noop, unsupported=_k8s_only("a HorizontalPodAutoscaler")),
        Scenario("Watchdog", _noop, _noop),
    ]
    return {s.alert: _on_kubernetes(s) for s in found}


SCENARIOS = _scenarios()
