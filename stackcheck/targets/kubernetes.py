"""The ``kubernetes`` target: a stack in a cluster, reached through the API server's service proxy.

Every endpoint is ``{server}/api/v1/namespaces/{ns}/services/{scheme}:{name}:{port}/proxy``, the way
kube-prometheus' e2e tests reach Prometheus. No port-forward process is needed, and :class:`Http`
works unchanged with the session that :meth:`KubeAccess.session` makes: it carries the kubeconfig's
bearer token (or client certificate) and trusts its CA, whatever ``REQUESTS_CA_BUNDLE`` says.

Finding the cluster, the API client and error mapping live in :mod:`stackcheck.kube`; this module
only resolves the stack's endpoints and whether its namespaces are disposable.

>>> target = kubernetes_target(context="kind-stackcheck", kubeconfig=None)    # doctest: +SKIP
>>> target.url("prometheus")                                                 # doctest: +SKIP
'https://127.0.0.1:6443/api/v1/namespaces/monitoring/services/http:prometheus:9090/proxy'
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from stackcheck.errors import UsageError
from stackcheck.kube.access import KubeAccess
from stackcheck.kube.config import DEFAULT_NAMESPACE, load_access
from stackcheck.kube.errors import status_message
from stackcheck.manifests import TIME_SCALE_ANNOTATION, Manifests, load_yaml
from stackcheck.targets.base import Target

__all__ = ["DEFAULT_NAMESPACE", "KubeAccess", "kubernetes_target", "load_access", "status_message"]

#: The probe's namespace, where the fault driver acts.
PROBE_NAMESPACE = "phase5"
#: The label the kind overlay sets on namespaces that may receive faults (manifests/README.md).
ALLOW_FAULTS_LABEL = "stackcheck.dev/allow-faults"
#: component → (Service name, port name). The namespace and port number come from that Service's
#: file under manifests/, so a fork of the manifests (``--manifests``) is followed.
COMPONENT_SERVICES = {
    "prometheus": ("prometheus", "http"),
    "alertmanager": ("alertmanager", "http"),
    "grafana": ("grafana", "http"),
    "loki": ("loki", "http"),
    "jaeger": ("jaeger-query", "http-query"),
    "probe": ("phase5-backend", "http"),
}
#: The notification sink `stackcheck deploy` runs on kind. It is not part of manifests/, so the
#: target looks for its Service in the cluster.
SINK_SERVICE = "stackcheck-sink"


# -- the target ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServiceRef:
    """One Service port, as the manifests define it."""

    namespace: str
    name: str
    port: int


_SERVICE_KIND = re.compile(r"^kind:\s*Service\s*$", re.MULTILINE)


@lru_cache(maxsize=8)
def _service_docs(root: Path) -> dict[str, Any]:
    """Service name → its object, from ``root/*/*.yaml`` (parsed once per directory and process)."""
    services: dict[str, Any] = {}
    for path in sorted(root.glob("*/*.yaml")):
        if not _SERVICE_KIND.search(path.read_text(encoding="utf-8")):
            continue  # parse only Service files: YAML parsing is the slow part of building the target
        doc = load_yaml(path)
        if isinstance(doc, dict) and doc.get("kind") == "Service":
            services[str((doc.get("metadata") or {}).get("name"))] = doc
    return services


def manifest_services(manifests: Manifests, namespace: str = DEFAULT_NAMESPACE) -> dict[str, ServiceRef]:
    """component → its Service port, read from the Service files under manifests/.

    Services that the manifests put in ``monitoring`` are looked up in ``namespace`` instead.
    """
    services = _service_docs(manifests.root)
    found: dict[str, ServiceRef] = {}
    for component, (name, port_name) in COMPONENT_SERVICES.items():
        doc = services.get(name)
        if doc is None:
            continue
        ports = [p for p in (doc.get("spec") or {}).get("ports") or [] if p.get("name") == port_name]
        if not ports:
            continue
        ns = str((doc.get("metadata") or {}).get("namespace", DEFAULT_NAMESPACE))
        where = namespace if ns == DEFAULT_NAMESPACE else ns
        found[component] = ServiceRef(where, name, int(ports[0]["port"]))
    return found


def _namespace_metadata(kube: KubeAccess, name: str) -> dict[str, Any] | None:
    body = kube.call(f"read namespace {name}", kube.core.read_namespace, name, missing_ok=True)
    return None if body is None else dict(body.get("metadata") or {})


def recorded_time_scale(metadata: Mapping[str, Any]) -> float | None:
    """The factor the kind overlay recorded on the namespace (``stackcheck.dev/time-scale``), if any."""
    text = (metadata.get("annotations") or {}).get(TIME_SCALE_ANNOTATION)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"namespace annotation {TIME_SCALE_ANNOTATION}={text!r} is not a factor > 0; "
                         "re-apply manifests/overlays/kind")
    return value


def _sink(kube: KubeAccess) -> str | None:
    body = kube.call(f"read service {kube.namespace}/{SINK_SERVICE}", kube.core.read_namespaced_service,
                     SINK_SERVICE, kube.namespace, missing_ok=True)
    if body is None:
        return None
    ports = (body.get("spec") or {}).get("ports") or []
    named = [p for p in ports if p.get("name") == "http"] or ports
    return kube.service_url(kube.namespace, SINK_SERVICE, int(named[0]["port"])) if named else None


def kubernetes_target(context: str | None, kubeconfig: str | None, namespace: str = DEFAULT_NAMESPACE, *,
                      manifests: Manifests | None = None, time_scale: float | None = None,
                      environ: Mapping[str, str] | None = None) -> Target:
    """Resolve the cluster, check the stack's namespace exists, and build the target.

    Args:
        context: kubeconfig context (None: the kubeconfig's current-context).
        kubeconfig: kubeconfig path (None: ``$KUBECONFIG``, ``~/.kube/config``, then in-cluster).
        namespace: where Prometheus, Alertmanager, Grafana and Loki run (default ``monitoring``).
        manifests: where the Service files are read from (default: the repository's manifests/).
        time_scale: the stack's time scale; None reads the namespace annotation the kind overlay sets
            (``stackcheck.dev/time-scale``), else 1.
        environ: the environment to read KUBECONFIG/HOME from (tests pass their own).
    """
    kube = load_access(context, kubeconfig, namespace, environ=environ)
    found = manifests or Manifests.find()
    meta = {ns: _namespace_metadata(kube, ns) for ns in (namespace, PROBE_NAMESPACE)}
    labels = {ns: None if m is None else dict(m.get("labels") or {}) for ns, m in meta.items()}
    if meta[namespace] is None:
        raise UsageError(
            f"namespace {namespace} does not exist in context {kube.context} (API server {kube.server}); "
            "deploy the stack first (stackcheck deploy) or pass --namespace where it runs")
    disposable = all((labels[ns] or {}).get(ALLOW_FAULTS_LABEL) == "true" for ns in labels)
    scale = time_scale if time_scale is not None else (recorded_time_scale(meta[namespace] or {}) or 1.0)
    refs = manifest_services(found, namespace)
    endpoints = {c: kube.service_url(r.namespace, r.name, r.port) for c, r in refs.items()}
    missing = {c: f"no Service {COMPONENT_SERVICES[c][0]} with port {COMPONENT_SERVICES[c][1]!r} in "
                  f"{found.root}" for c in COMPONENT_SERVICES if c not in refs}
    sink = _sink(kube)
    if sink:
        endpoints["sink"] = sink
    else:
        missing["sink"] = (f"no Service {SINK_SERVICE} in namespace {namespace}: delivery is checked at "
                           "stackcheck's sink, which `stackcheck deploy` runs on kind")
    faults = (f"faults allowed (namespaces {' and '.join(labels)} carry {ALLOW_FAULTS_LABEL}=true)"
              if disposable else f"not disposable (namespaces {' and '.join(labels)} do not both carry "
                                 f"{ALLOW_FAULTS_LABEL}=true)")
    return Target(
        name="kubernetes",
        description=f"kubernetes context {kube.context} (API server {kube.server}), namespace {namespace}; "
                    f"{faults}; time scale {scale:g}",
        endpoints=endpoints,
        time_scale=scale,
        expected_jobs=None,
        missing_sources={},
        missing_components=missing,
        disposable=disposable,
        kube=kube,
    )
