"""The local stack's loopback ports: one table, every port an offset from one base.

Grafana, Loki, OTLP HTTP and the Jaeger query port are the documented ones (docs/architecture.md); the
others sit beside them or mirror the cluster port (13133 → +133, 8888 → +888). Stacks whose bases differ
by 600 (tests/localstack.py) or 1000 (benchmarks) share no port.

>>> Ports(29000).prometheus
29090
>>> url(Ports(29000).loki)
'http://127.0.0.1:29310'
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"

#: Every port of the local stack: name → (the service that binds it, offset from the base).
TABLE: dict[str, tuple[str, int]] = {
    "prometheus": ("prometheus", 90),
    "alertmanager": ("alertmanager", 93),
    "node_exporter": ("node-exporter", 100),
    "blackbox": ("blackbox", 115),
    "jaeger_health_grpc": ("jaeger", 132),  # healthcheckv2's gRPC side, when the config enables it (13132)
    "jaeger_health": ("jaeger", 133),  # healthcheckv2 (13133 in the cluster)
    "grafana": ("grafana", 300),
    "loki": ("loki", 310),
    "loki_grpc": ("loki", 311),
    "loki_memberlist": ("loki", 312),  # only bound if memberlist ever starts (the rings are in memory)
    "otlp_grpc": ("jaeger", 317),
    "otlp_http": ("jaeger", 318),
    "alloy": ("alloy", 345),
    "probe": ("probe", 400),
    "probe_canary": ("probe", 401),  # a second probe, so PodDown can kill one without stopping the rest
    "sink_http": ("sink", 500),
    "sink_smtp": ("sink", 525),
    "jaeger_query_grpc": ("jaeger", 685),
    "jaeger_query": ("jaeger", 686),
    "jaeger_metrics": ("jaeger", 888),  # the collector's own Prometheus metrics (8888 in the cluster)
}

#: The services that run only when their binary is installed (local/services/).
OPTIONAL = ("loki", "jaeger", "alloy", "grafana")


class _Port:
    """``Ports(base).<name>``: the base plus the name's offset in :data:`TABLE`."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Ports | None, owner: type | None = None) -> int:
        assert obj is not None, "read a port from a Ports instance"
        return obj.base + TABLE[self.name][1]


@dataclass(frozen=True)
class Ports:
    """Loopback ports of the local stack, all offsets from one base."""

    base: int = 29000

    prometheus = _Port()
    alertmanager = _Port()
    node_exporter = _Port()
    blackbox = _Port()
    probe = _Port()
    probe_canary = _Port()
    sink_http = _Port()
    sink_smtp = _Port()
    grafana = _Port()
    loki = _Port()
    loki_grpc = _Port()
    loki_memberlist = _Port()
    otlp_grpc = _Port()
    otlp_http = _Port()
    alloy = _Port()
    jaeger_health = _Port()
    jaeger_health_grpc = _Port()
    jaeger_query_grpc = _Port()
    jaeger_query = _Port()
    jaeger_metrics = _Port()

    def all(self) -> dict[str, int]:
        """Every port of the services that always run, by name, for the free-port check."""
        return {name: self.base + offset for name, (service, offset) in TABLE.items()
                if service not in OPTIONAL}

    def of(self, services: Iterable[str]) -> dict[str, int]:
        """Every port the named services listen on, for the runtime's free-port check."""
        wanted = set(services)
        return {name: self.base + offset for name, (service, offset) in TABLE.items() if service in wanted}


def addr(port: int) -> str:
    return f"{LOOPBACK}:{port}"


def url(port: int) -> str:
    return f"http://{LOOPBACK}:{port}"
