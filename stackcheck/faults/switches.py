"""The probe's fault switches: which values make each of the six probe-driven alerts fire, and "off".

One table for both drivers: the local one posts them to the local probes, the Kubernetes one to every
probe pod through the API server's proxy.
"""
from __future__ import annotations

Switches = dict[str, bool | int | float]

#: Alert → the probe switches (``POST /faults``) that make it fire.
PROBE_SWITCHES: dict[str, Switches] = {
    "HighErrorRate": {"error_rate": 0.5},
    "HighResponseTime": {"latency_s": 2.0},
    "DatabaseConnectionPoolExhausted": {"db_pool_saturation": True},
    "AuditLogFailures": {"audit_failures": True},
    "ReminderDeliveryFailures": {"reminder_failure_rate": 0.5},
    "KafkaConsumerLag": {"consumer_lag": 5000},
}


def switches_off(switches: Switches) -> Switches:
    """The same switches turned off: false for a flag, 0 for a rate or amount."""
    return {key: (False if isinstance(value, bool) else 0) for key, value in switches.items()}
