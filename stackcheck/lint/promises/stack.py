"""The rendered stack as the promises read it: workloads, their mounts and ports, Services, URLs.

A config file can be valid and still promise something its consumers do not get: a port nothing
listens on, a path on an emptyDir instead of the PVC, a URL naming a Service that does not exist.
These helpers follow such a value through the rendered objects (Service → targetPort → container
port → the process's own listener) so that each promise can say where the chain breaks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from stackcheck.lint.context import Context
from stackcheck.lint.objects import KObject
from stackcheck.manifests import load_yaml

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
#: The documented default listener of each component (used when its config does not set one).
DEFAULT_LISTEN = {"prometheus": 9090, "alertmanager": 9093, "blackbox-exporter": 9115, "grafana": 3000}


#: What holds a path in a container: its (volumeMount, volume).
Mounted = tuple[dict[str, Any], dict[str, Any]]


def config_rel(rel: str) -> str:
    """How messages name a file of config/: ``config/<rel>``."""
    return f"config/{rel}"


@dataclass(frozen=True)
class Workload:
    """One container of a Deployment/StatefulSet/DaemonSet (the first, the app's own)."""

    obj: KObject

    @property
    def app(self) -> str:
        return self.obj.app

    @property
    def namespace(self) -> str:
        return str((self.obj.body.get("metadata") or {}).get("namespace", ""))

    @property
    def pod(self) -> dict[str, Any]:
        return dict(((self.obj.body.get("spec") or {}).get("template") or {}).get("spec") or {})

    @property
    def pod_labels(self) -> dict[str, str]:
        meta = ((self.obj.body.get("spec") or {}).get("template") or {}).get("metadata") or {}
        return {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}

    @property
    def pod_annotations(self) -> dict[str, str]:
        meta = ((self.obj.body.get("spec") or {}).get("template") or {}).get("metadata") or {}
        return {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}

    @property
    def container(self) -> dict[str, Any]:
        containers = self.pod.get("containers") or [{}]
        return dict(containers[0])

    @property
    def where(self) -> str:
        """How messages name it: ``<Kind>/<ns>/<name> container <c>``."""
        return f"{self.obj.ref} container {self.container.get('name', '?')}"

    @property
    def argv(self) -> list[str]:
        return [str(a) for a in [*(self.container.get("command") or []), *(self.container.get("args") or [])]]

    def flag(self, *names: str) -> str | None:
        """The value of ``--name=value`` / ``-name=value`` / ``--name value`` in the command line."""
        argv = self.argv
        for i, arg in enumerate(argv):
            for name in names:
                if arg.startswith(name + "="):
                    return arg.split("=", 1)[1]
                if arg == name and i + 1 < len(argv):
                    return argv[i + 1]
        return None

    def env(self, name: str) -> dict[str, Any] | None:
        return next((dict(e) for e in self.container.get("env") or [] if e.get("name") == name), None)

    @property
    def ports(self) -> dict[str, int]:
        """Declared container ports, by name (unnamed ones by their number)."""
        return {
            str(p.get("name") or p.get("containerPort")): int(p["containerPort"])
            for p in self.container.get("ports") or []
            if "containerPort" in p
        }

    def port_number(self, ref: Any) -> int | None:
        """A named or numbered port reference → the container port number (None: not declared)."""
        if isinstance(ref, int):
            return ref
        return self.ports.get(str(ref))

    def claim_templates(self) -> set[str]:
        spec = self.obj.body.get("spec") or {}
        return {str((t.get("metadata") or {}).get("name")) for t in spec.get("volumeClaimTemplates") or []}

    def mount(self, path: str) -> Mounted | None:
        """The (volumeMount, volume) that holds ``path`` in the container (longest mountPath wins)."""
        target = PurePosixPath(path)
        best: dict[str, Any] | None = None
        for m in self.container.get("volumeMounts") or []:
            mp = PurePosixPath(str(m.get("mountPath", "")))
            holds = target == mp or (not m.get("subPath") and mp in target.parents)
            if holds and (best is None or len(str(mp)) > len(str(best["mountPath"]))):
                best = dict(m)
        if best is None:
            return None
        volumes = {str(v.get("name")): dict(v) for v in self.pod.get("volumes") or []}
        volume = volumes.get(str(best.get("name")))
        if volume is None and str(best.get("name")) in self.claim_templates():
            volume = {"name": best["name"], "volumeClaimTemplate": True}
        return best, volume or {"name": best.get("name")}


def volume_kind(volume: dict[str, Any]) -> str:
    """``configMap <name>``, ``secret <name>``, ``PVC <name>``, ``emptyDir`` …, as messages say it."""
    if volume.get("volumeClaimTemplate"):
        return f"PVC (volumeClaimTemplate {volume['name']})"
    if "persistentVolumeClaim" in volume:
        return f"PVC {volume['persistentVolumeClaim'].get('claimName')}"
    if "configMap" in volume:
        return f"ConfigMap {volume['configMap'].get('name')}"
    if "secret" in volume:
        return f"Secret {volume['secret'].get('secretName')}"
    kinds = [k for k in volume if k != "name"]
    return kinds[0] if kinds else "no volume"


@dataclass(frozen=True)
class Listener:
    """A port the process itself listens on, and the file/key (or flag) that says so."""

    port: int
    host: str
    source: str

    @property
    def reachable(self) -> bool:
        return self.host not in LOOPBACK_HOSTS


def host_port(address: str) -> tuple[str, int] | None:
    """``0.0.0.0:4317`` / ``:9090`` / ``$(HOST_IP):9100`` → (host, port)."""
    match = re.fullmatch(r"(.*):(\d+)", address.strip())
    return (match.group(1), int(match.group(2))) if match else None


@dataclass(frozen=True)
class Target:
    """Where a URL leads: the Service port, then the workload container port it targets."""

    service: KObject
    port: int
    workload: Workload | None
    container_port: int | None
    path: str


class Stack:
    """Parsed config files and the base rendering, shared (read-only) by every promise."""

    def __init__(self, ctx: Context, renderings: dict[str, list[KObject] | None]) -> None:
        self.ctx = ctx
        self.renderings = renderings
        self.objects = renderings.get(".")
        self._yaml: dict[str, dict[str, Any]] = {}

    # -- config files ------------------------------------------------------------------------

    def path(self, rel: str) -> Path:
        return self.ctx.config / rel

    def rel(self, rel: str) -> str:
        return config_rel(rel)

    def yaml(self, rel: str) -> dict[str, Any]:
        """A config file as a mapping ({} when missing; Context.load already refused malformed YAML)."""
        if rel not in self._yaml:
            path = self.path(rel)
            doc = load_yaml(path) if path.is_file() else None
            self._yaml[rel] = doc if isinstance(doc, dict) else {}
        return self._yaml[rel]

    def datasources(self) -> list[dict[str, Any]]:
        """The provisioned Grafana datasources (entries that are mappings)."""
        doc = self.ctx.datasources if isinstance(self.ctx.datasources, dict) else {}
        entries = doc.get("datasources")
        return [d for d in entries if isinstance(d, dict)] if isinstance(entries, list) else []

    def text(self, rel: str) -> str:
        path = self.path(rel)
        return path.read_text(encoding="utf-8") if path.is_file() else ""

    def at(self, w: Workload | KObject) -> str:
        """``<file relative to manifests/> (<Kind>/<ns>/<name>[ container <c>])``."""
        obj = w.obj if isinstance(w, Workload) else w
        return f"{self.ctx.rel(obj.source)} ({w.where if isinstance(w, Workload) else obj.ref})"

    # -- objects -----------------------------------------------------------------------------

    def of_kind(self, kind: str, objects: list[KObject] | None = None) -> list[KObject]:
        return [o for o in (self.objects if objects is None else objects) or [] if o.kind == kind]

    def find(
        self, kind: str, name: str, namespace: str | None = None, objects: list[KObject] | None = None
    ) -> KObject | None:
        for obj in self.of_kind(kind, objects):
            meta = obj.body.get("metadata") or {}
            if meta.get("name") == name and (namespace is None or meta.get("namespace") == namespace):
                return obj
        return None

    def workload(self, app: str) -> Workload | None:
        """The workload whose ``app.kubernetes.io/name`` is ``app``."""
        for kind in WORKLOAD_KINDS:
            for obj in self.of_kind(kind):
                if obj.app == app:
                    return Workload(obj)
        return None

    def workloads(self) -> list[Workload]:
        return [Workload(o) for kind in WORKLOAD_KINDS for o in self.of_kind(kind)]

    def selected(self, service: KObject) -> Workload | None:
        """The workload whose pods the Service selects (same namespace, labels ⊇ selector)."""
        spec = service.body.get("spec") or {}
        selector = {str(k): str(v) for k, v in (spec.get("selector") or {}).items()}
        namespace = (service.body.get("metadata") or {}).get("namespace")
        for w in self.workloads():
            if selector and w.namespace == namespace and selector.items() <= w.pod_labels.items():
                return w
        return None

    def service_port(
        self, service: KObject, port: int | None = None, name: str | None = None
    ) -> dict[str, Any] | None:
        for p in (service.body.get("spec") or {}).get("ports") or []:
            if (port is not None and p.get("port") == port) or (name is not None and p.get("name") == name):
                return dict(p)
        return None

    def resolve_service_port(
        self, service: KObject, entry: dict[str, Any]
    ) -> tuple[Workload | None, int | None]:
        """A Service port → (the selected workload, the container port its targetPort names)."""
        workload = self.selected(service)
        if workload is None:
            return None, None
        return workload, workload.port_number(entry.get("targetPort", entry.get("port")))

    def resolve_url(self, url: str, namespace: str) -> Target | str:
        """Follow an in-cluster URL (``http://<svc>.<ns>.svc:<port>/path``) to the container port it
        reaches; a string says where the chain breaks."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        labels = host.split(".")
        if len(labels) >= 2 and labels[1] != "svc":
            name, ns = labels[0], labels[1]
        else:
            name, ns = labels[0], namespace
        port = parts.port or (443 if parts.scheme == "https" else 80)
        service = self.find("Service", name, ns)
        if service is None:
            return f"no Service {ns}/{name} in the manifests"
        entry = self.service_port(service, port=port)
        if entry is None:
            ports = [p.get("port") for p in (service.body.get("spec") or {}).get("ports") or []]
            return f"Service {ns}/{name} ({self.ctx.rel(service.source)}) has no port {port} (it has {ports})"
        workload, container_port = self.resolve_service_port(service, entry)
        if workload is None:
            return f"Service {ns}/{name} selects no workload of the manifests"
        if container_port is None:
            return (
                f"Service {ns}/{name} port {port} targets {entry.get('targetPort')!r}, which "
                f"{workload.where} does not declare"
            )
        return Target(service, port, workload, container_port, parts.path or "/")

    # -- what each process listens on ----------------------------------------------------------

    def listeners(self, w: Workload) -> list[Listener] | None:
        """Ports the process listens on, from its own config or flags; None when lint cannot know."""
        app, src = w.app, self.ctx.rel(w.obj.source)
        if app in ("prometheus", "alertmanager", "blackbox-exporter", "node-exporter"):
            given = w.flag("--web.listen-address")
            found = host_port(given) if given is not None else ("", DEFAULT_LISTEN.get(app, 0))
            return [Listener(found[1], found[0], f"{src} --web.listen-address")] if found else []
        if app == "kube-state-metrics":
            return [
                Listener(int(w.flag("--port") or 8080), "", f"{src} --port"),
                Listener(int(w.flag("--telemetry-port") or 8081), "", f"{src} --telemetry-port"),
            ]
        if app == "grafana":
            env = w.env("GF_SERVER_HTTP_PORT") or {}
            return [
                Listener(int(env.get("value") or 3000), "", f"{src} env GF_SERVER_HTTP_PORT (default 3000)")
            ]
        if app == "alloy":
            found = host_port(w.flag("--server.http.listen-addr") or "127.0.0.1:12345")
            return [Listener(found[1], found[0], f"{src} --server.http.listen-addr")] if found else []
        if app == "phase5-backend":
            found = host_port(w.flag("--listen") or "")
            return [Listener(found[1], found[0], f"{src} --listen")] if found else []
        if app == "stackcheck-sink":
            return [
                Listener(found[1], found[0], f"{src} {flag}")
                for flag in ("--http", "--smtp")
                if (found := host_port(w.flag(flag) or ""))
            ]
        if app == "loki":
            server = self.yaml("loki/loki.yaml").get("server") or {}
            where = self.rel("loki/loki.yaml")
            return [
                Listener(
                    int(server.get("http_listen_port", 3100)),
                    str(server.get("http_listen_address", "")),
                    f"{where} server.http_listen_port",
                ),
                Listener(
                    int(server.get("grpc_listen_port", 9095)),
                    str(server.get("grpc_listen_address", "")),
                    f"{where} server.grpc_listen_port",
                ),
            ]
        if app == "jaeger":
            return [
                Listener(port, host, f"{self.rel('jaeger/config.yaml')} {key}")
                for key, (host, port) in jaeger_endpoints(self.yaml("jaeger/config.yaml")).items()
            ]
        return None


#: Jaeger v2 / OTel collector listeners and their defaults when the endpoint is not set (localhost).
JAEGER_DEFAULTS = {
    "receivers.otlp.protocols.grpc.endpoint": ("localhost", 4317),
    "receivers.otlp.protocols.http.endpoint": ("localhost", 4318),
    "extensions.jaeger_query.http.endpoint": ("", 16686),
    "extensions.jaeger_query.grpc.endpoint": ("", 16685),
    "extensions.healthcheckv2.http.endpoint": ("localhost", 13133),
}


def dig(doc: Any, dotted: str) -> Any:
    """``dig(d, "a.b.c")`` → ``d["a"]["b"]["c"]``, or None when any step is missing."""
    node = doc
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def jaeger_endpoints(config: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """Every listener of a Jaeger v2 config: key → (host, port); only protocols/extensions configured."""
    found: dict[str, tuple[str, int]] = {}
    protocols = dig(config, "receivers.otlp.protocols") or {}
    extensions = config.get("extensions") or {}
    for key, default in JAEGER_DEFAULTS.items():
        section = key.split(".")
        if section[0] == "receivers" and section[3] not in protocols:
            continue
        if section[0] == "extensions" and section[1] not in extensions:
            continue
        value = dig(config, key)
        found[key] = host_port(str(value)) or default if value else default
    readers = dig(config, "service.telemetry.metrics.readers") or []
    for i, reader in enumerate(readers if isinstance(readers, list) else []):
        prom = dig(reader, "pull.exporter.prometheus")
        if isinstance(prom, dict) and "port" in prom:
            found[f"service.telemetry.metrics.readers[{i}].pull.exporter.prometheus.port"] = (
                str(prom.get("host", "localhost")),
                int(prom["port"]),
            )
    return found
