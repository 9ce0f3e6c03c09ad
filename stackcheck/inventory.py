"""The acceptance list from the reference design (DESIGN.md): what the shipped stack must contain."""
from __future__ import annotations

#: The 13 reference recording rules, each with the labels its output keeps (names from DESIGN.md, labels
#: from the rule authors); tests/test_dashboards.py checks the rule files and dashboards against it.
RECORDING_RULES: dict[str, frozenset[str]] = {
    "phase5:http_requests:rate5m": frozenset({"service"}),
    "phase5:http_errors:rate5m": frozenset({"service"}),
    "phase5:http_request_duration:p50": frozenset({"service"}),
    "phase5:http_request_duration:p95": frozenset({"service"}),
    "phase5:http_request_duration:p99": frozenset({"service"}),
    "phase5:cpu_usage:ratio": frozenset({"namespace", "pod", "container"}),
    "phase5:memory_usage:ratio": frozenset({"namespace", "pod", "container"}),
    "phase5:database_connections:ratio": frozenset({"service", "pool"}),
    "phase5:task_operations:rate5m": frozenset({"service", "operation"}),
    "phase5:reminder_delivery:rate5m": frozenset({"service", "outcome"}),
    "phase5:audit_log_writes:rate5m": frozenset({"service", "outcome"}),
    "phase5:websocket_connections:current": frozenset({"service"}),
    "phase5:kafka_consumer_lag:sum": frozenset({"service", "consumer_group", "topic"}),
}

#: The 13 reference alerts and Watchdog, with the severity each must carry.
ALERTS = {
    "HighErrorRate": "critical",
    "PodDown": "critical",
    "DatabaseConnectionPoolExhausted": "critical",
    "AuditLogFailures": "critical",
    "HighResponseTime": "warning",
    "HighCPUUsage": "warning",
    "HighMemoryUsage": "warning",
    "KafkaConsumerLag": "warning",
    "DiskSpaceLow": "warning",
    "PodRestartingTooOften": "warning",
    "DeploymentReplicaMismatch": "warning",
    "HPAMaxedOut": "warning",
    "ReminderDeliveryFailures": "warning",
    "Watchdog": "none",
}
