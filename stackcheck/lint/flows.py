"""The network flows the stack and ``stackcheck verify`` need: the table ``lint.netpol`` proves.

Every shipped namespace denies all ingress and egress by default, so each flow below must be admitted
by the rendered NetworkPolicies at both ends (:mod:`stackcheck.lint.netpol` checks it). The table is
data: a new workload adds its rows here, as the smoke exporter (Deployment ``stackcheck`` in
``monitoring``, which reads the components and is scraped by Prometheus) does::

    SMOKE = Pods("monitoring", "stackcheck")
    Flow(SMOKE, PROMETHEUS, "http", "smoke reads Prometheus"),
    Flow(PROMETHEUS, SMOKE, "metrics", "job stackcheck"),

A pod endpoint is found in each rendering by namespace and ``app.kubernetes.io/name``; its port is a
container-port name or number of the destination pod. ``targets`` lists the renderings that need the
flow (``manifests`` is the whole stack, the kind and production overlays by their paths); a needed
flow whose pod is missing from a rendering is a failure, not a skip.

Addresses that are not pods stand for a range every such address lies in. The node network is where
the API server, the kubelets and host-network pods (node-exporter) live, and where the API server's
service and pod proxy connects from: 172.18.0.0/16, the subnet Docker gives kind's ``kind`` network on
a host that has only ``docker0`` (the policies admit all of Docker's default pool, 172.16.0.0/12). A
cluster elsewhere sets ``STACKCHECK_NODE_NETWORK`` to its own range, after changing the policies'
CIDR (manifests/README.md, "Network policies").
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

#: Renderings lint checks (the ids of ``lint.render[...]``).
ALL = frozenset({"manifests", "overlays/kind", "overlays/production"})
#: Renderings that ship the probe (the production overlay leaves it out).
WITH_PROBE = frozenset({"manifests", "overlays/kind"})
#: Renderings whose Alertmanager delivers to the real receivers (the kind overlay uses the sink).
REAL_RECEIVERS = frozenset({"manifests", "overlays/production"})
KIND = frozenset({"overlays/kind"})

NODE_NETWORK_ENV = "STACKCHECK_NODE_NETWORK"
#: kind's node network (see the module docstring).
DEFAULT_NODE_NETWORK = "172.18.0.0/16"
#: kind's pod subnet (its default ``networking.podSubnet``): where a pod's address lies, for ipBlocks.
POD_NETWORK = "10.244.0.0/16"


@dataclass(frozen=True)
class Pods:
    """The pods of the workload labelled ``app.kubernetes.io/name: <name>`` in ``namespace``."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ClusterPods:
    """Pods the cluster runs and the stack does not ship (CoreDNS): their labels and ports as given."""

    namespace: str
    labels: tuple[tuple[str, str], ...]
    ports: tuple[tuple[str, int, str], ...]  # (name, number, protocol)
    title: str

    def __str__(self) -> str:
        return self.title


@dataclass(frozen=True)
class Addresses:
    """Addresses that are not pods, standing for the range ``cidr`` (or the env override)."""

    title: str
    cidr: str
    env: str | None = None

    @property
    def network(self) -> str:
        return (os.environ.get(self.env) or self.cidr).strip() if self.env else self.cidr

    def __str__(self) -> str:
        return f"{self.title} ({self.network})"


Endpoint = Pods | ClusterPods | Addresses


@dataclass(frozen=True)
class Flow:
    """``source`` opens a connection to ``dest`` on ``port`` (a container-port name or number)."""

    source: Endpoint
    dest: Endpoint
    port: str | int
    why: str
    protocol: str = "TCP"
    targets: frozenset[str] = field(default=ALL)


# The stack's pods in monitoring.
PROMETHEUS = Pods("monitoring", "prometheus")
ALERTMANAGER = Pods("monitoring", "alertmanager")
GRAFANA = Pods("monitoring", "grafana")
LOKI = Pods("monitoring", "loki")
ALLOY = Pods("monitoring", "alloy")
KUBE_STATE_METRICS = Pods("monitoring", "kube-state-metrics")
BLACKBOX = Pods("monitoring", "blackbox-exporter")
SINK = Pods("monitoring", "stackcheck-sink")
SMOKE = Pods("monitoring", "stackcheck")
# The cluster's DNS, which every pod that resolves a Service name reaches.
KUBE_DNS = ClusterPods(
    "kube-system",
    (("k8s-app", "kube-dns"),),
    (("dns", 53, "UDP"), ("dns-tcp", 53, "TCP")),
    "kube-system/kube-dns (cluster DNS)",
)
# The stack's pods in its other namespaces.
NODE_EXPORTER = Pods("monitoring-agents", "node-exporter")
JAEGER = Pods("tracing", "jaeger")
PROBE = Pods("phase5", "phase5-backend")
NODES = Addresses("kubelets", DEFAULT_NODE_NETWORK, NODE_NETWORK_ENV)
API_SERVER = Addresses("API server", DEFAULT_NODE_NETWORK, NODE_NETWORK_ENV)
#: The API server's service and pod proxy connects from its node's address, not from a pod.
API_SERVER_PROXY = Addresses("API server proxy", DEFAULT_NODE_NETWORK, NODE_NETWORK_ENV)
#: A documentation range (RFC 5737) standing for public addresses: Slack, an SMTP smarthost.
INTERNET = Addresses("internet", "203.0.113.0/24")


def _dns(source: Pods, targets: frozenset[str] = ALL) -> list[Flow]:
    return [
        Flow(source, KUBE_DNS, 53, "resolves Service names", protocol, targets) for protocol in ("UDP", "TCP")
    ]


FLOWS: tuple[Flow, ...] = (
    # Each scrape job of config/prometheus/prometheus.yml, and the alerts.
    Flow(PROMETHEUS, PROMETHEUS, "http", "job prometheus"),
    Flow(PROMETHEUS, ALERTMANAGER, "http", "alerts, and job alertmanager"),
    Flow(PROMETHEUS, NODE_EXPORTER, "metrics", "job node-exporter (host network)"),
    Flow(PROMETHEUS, KUBE_STATE_METRICS, "http-metrics", "job kube-state-metrics"),
    Flow(PROMETHEUS, NODES, 10250, "job cadvisor (the kubelets)"),
    Flow(PROMETHEUS, PROBE, "http", "job phase5", targets=WITH_PROBE),
    Flow(PROMETHEUS, BLACKBOX, "http", "job blackbox-http"),
    Flow(PROMETHEUS, GRAFANA, "http", "job grafana"),
    Flow(PROMETHEUS, LOKI, "http", "job loki"),
    Flow(PROMETHEUS, JAEGER, "metrics", "job jaeger"),
    Flow(PROMETHEUS, API_SERVER, 6443, "Kubernetes service discovery"),
    *_dns(PROMETHEUS),
    # The URLs job blackbox-http probes.
    Flow(BLACKBOX, GRAFANA, "http", "probes /api/health"),
    Flow(BLACKBOX, LOKI, "http", "probes /ready"),
    Flow(BLACKBOX, JAEGER, "health", "probes /status"),
    Flow(BLACKBOX, PROBE, "http", "probes /healthz", targets=WITH_PROBE),
    *_dns(BLACKBOX),
    # Alertmanager to its receivers.
    Flow(ALERTMANAGER, INTERNET, 443, "Slack incoming webhooks", targets=REAL_RECEIVERS),
    Flow(ALERTMANAGER, INTERNET, 587, "email through the SMTP smarthost", targets=REAL_RECEIVERS),
    Flow(ALERTMANAGER, SINK, "http", "Slack and webhooks, to the sink", targets=KIND),
    Flow(ALERTMANAGER, SINK, "smtp", "email, to the sink", targets=KIND),
    *_dns(ALERTMANAGER),
    # Logs.
    Flow(ALLOY, LOKI, "http", "pushes logs"),
    Flow(ALLOY, API_SERVER, 6443, "pod discovery and log tailing"),
    *_dns(ALLOY),
    Flow(KUBE_STATE_METRICS, API_SERVER, 6443, "lists and watches the objects it reports"),
    # Grafana's datasources.
    Flow(GRAFANA, PROMETHEUS, "http", "datasource prometheus"),
    Flow(GRAFANA, LOKI, "http", "datasource loki"),
    Flow(GRAFANA, JAEGER, "http-query", "datasource jaeger"),
    *_dns(GRAFANA),
    # Traces.
    Flow(PROBE, JAEGER, "otlp-http", "OTLP/HTTP spans", targets=WITH_PROBE),
    Flow(PROBE, JAEGER, "otlp-grpc", "OTLP/gRPC, for a Phase 5 service that prefers it", targets=WITH_PROBE),
    *_dns(PROBE, WITH_PROBE),
    # The smoke exporter (`stackcheck serve`, in-cluster target) reads every component by Service name.
    Flow(PROMETHEUS, SMOKE, "metrics", "job stackcheck"),
    Flow(SMOKE, PROMETHEUS, "http", "smoke reads Prometheus"),
    Flow(SMOKE, ALERTMANAGER, "http", "smoke reads Alertmanager"),
    Flow(SMOKE, GRAFANA, "http", "smoke reads Grafana"),
    Flow(SMOKE, LOKI, "http", "smoke reads Loki"),
    Flow(SMOKE, JAEGER, "http-query", "smoke reads Jaeger"),
    *_dns(SMOKE),
    # What `stackcheck verify --target kubernetes` reads, through the API server's proxy.
    Flow(API_SERVER_PROXY, PROMETHEUS, "http", "verify reads Prometheus"),
    Flow(API_SERVER_PROXY, ALERTMANAGER, "http", "verify reads Alertmanager"),
    Flow(API_SERVER_PROXY, GRAFANA, "http", "verify reads Grafana"),
    Flow(API_SERVER_PROXY, LOKI, "http", "verify reads and writes Loki"),
    Flow(API_SERVER_PROXY, JAEGER, "http-query", "verify reads Jaeger"),
    Flow(API_SERVER_PROXY, SINK, "http", "verify reads the notifications", targets=KIND),
    Flow(API_SERVER_PROXY, PROBE, "http", "verify's /faults, /log, /trace (pod proxy)", targets=WITH_PROBE),
)
