"""The metrics the stack produces besides recording rules: the probe's contract and the exporters'.

A dashboard or rule reading a metric nobody produces shows "No data" forever, which looks like a
broken stack. These tables are what lint accepts; a new exporter metric a panel needs goes here.
"""

from __future__ import annotations

from typing import Literal

MetricType = Literal["counter", "gauge", "histogram"]

#: The probe instrumentation contract (docs/architecture.md): metric -> (type, labels).
PROBE_CONTRACT: dict[str, tuple[MetricType, frozenset[str]]] = {
    "http_requests_total": ("counter", frozenset({"method", "route", "status", "service"})),
    "http_request_duration_seconds": ("histogram", frozenset({"method", "route", "status", "service"})),
    "phase5_task_operations_total": ("counter", frozenset({"service", "operation"})),
    "phase5_reminder_deliveries_total": ("counter", frozenset({"service", "outcome"})),
    "phase5_audit_log_writes_total": ("counter", frozenset({"service", "outcome"})),
    "phase5_websocket_connections": ("gauge", frozenset({"service"})),
    "phase5_db_pool_connections_in_use": ("gauge", frozenset({"service", "pool"})),
    "phase5_db_pool_connections_max": ("gauge", frozenset({"service", "pool"})),
    "phase5_kafka_consumer_lag": ("gauge", frozenset({"service", "topic", "partition", "consumer_group"})),
    "phase5_probe_fault_active": ("gauge", frozenset({"service", "fault"})),
}

#: Labels Prometheus adds to every scraped series.
TARGET_LABELS = frozenset({"job", "instance"})


def _series(contract: dict[str, tuple[MetricType, frozenset[str]]]) -> dict[str, set[str]]:
    """Series names and labels of a contract: a histogram exposes _bucket (with le), _sum and _count."""
    out: dict[str, set[str]] = {}
    for name, (kind, labels) in contract.items():
        full = set(labels | TARGET_LABELS)
        if kind == "histogram":
            out |= {f"{name}_bucket": full | {"le"}, f"{name}_sum": full, f"{name}_count": full}
        else:
            out[name] = full
    return out


#: Every series the probe exposes -> its labels.
PROBE_METRICS: dict[str, set[str]] = _series(PROBE_CONTRACT)

_FS = {"device", "fstype", "mountpoint"} | TARGET_LABELS
_KSM_POD = {"namespace", "pod", "container", "uid"} | TARGET_LABELS
_KSM_DEPLOY = {"namespace", "deployment"} | TARGET_LABELS
_KSM_HPA = {"namespace", "horizontalpodautoscaler"} | TARGET_LABELS
#: Metrics of node-exporter, kube-state-metrics, cAdvisor and Prometheus itself that rules and
#: dashboards may read -> their labels.
EXPORTER_METRICS: dict[str, set[str]] = {
    "node_filesystem_avail_bytes": _FS,
    "node_filesystem_size_bytes": _FS,
    "node_cpu_seconds_total": {"cpu", "mode"} | TARGET_LABELS,
    "node_memory_MemAvailable_bytes": set(TARGET_LABELS),
    "node_memory_MemTotal_bytes": set(TARGET_LABELS),
    "kube_pod_container_status_restarts_total": _KSM_POD,
    "kube_pod_container_resource_limits": _KSM_POD | {"node", "resource", "unit"},
    "kube_deployment_spec_replicas": _KSM_DEPLOY,
    "kube_deployment_status_replicas_available": _KSM_DEPLOY,
    "kube_horizontalpodautoscaler_status_current_replicas": _KSM_HPA,
    "kube_horizontalpodautoscaler_spec_max_replicas": _KSM_HPA,
    "container_cpu_usage_seconds_total": {"namespace", "pod", "container", "image", "name", "cpu"}
    | TARGET_LABELS,
    "container_memory_working_set_bytes": {"namespace", "pod", "container", "image", "name"} | TARGET_LABELS,
    "up": {"namespace", "pod", "service"} | TARGET_LABELS,
    "ALERTS": {"alertname", "alertstate", "severity", "component", "service", "namespace", "pod"}
    | TARGET_LABELS,
}


def known_metrics(recording_rules: set[str]) -> dict[str, set[str] | None]:
    """Every metric a dashboard may read -> its labels (None: labels not declared, not checked)."""
    return {**PROBE_METRICS, **EXPORTER_METRICS, **{name: None for name in recording_rules}}
