"""The acceptance list from the reference design (DESIGN.md): what the shipped stack must contain."""
from __future__ import annotations

RECORDING_RULES = (
    "phase5:http_requests:rate5m",
    "phase5:http_errors:rate5m",
    "phase5:http_request_duration:p50",
    "phase5:http_request_duration:p95",
    "phase5:http_request_duration:p99",
    "phase5:cpu_usage:ratio",
    "phase5:memory_usage:ratio",
    "phase5:database_connections:ratio",
    "phase5:task_operations:rate5m",
    "phase5:reminder_delivery:rate5m",
    "phase5:audit_log_writes:rate5m",
    "phase5:websocket_connections:current",
    "phase5:kafka_consumer_lag:sum",
)

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
