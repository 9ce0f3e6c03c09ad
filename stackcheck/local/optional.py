"""Loki, Jaeger, Alloy and Grafana on the local runtime, when their binaries are installed.

Each one runs from the same file in ``manifests/config`` as in the cluster. Only what cannot hold on one
machine changes: every listener moves to a loopback port derived from ``--port-base`` (two stacks with
different bases never collide, and nothing is reachable from the network), every filesystem path moves
under the state dir, and service URLs become the local ones. Retention, schema, pipelines, uids and
dashboards stay as written. What is absent is reported as skipped, with the install hint.

Alloy is the exception: the cluster config discovers pods through the Kubernetes API, which does not exist
here, so a small config is generated that tails the probe's log files with the labels the cluster
config attaches (``namespace``, ``app``), so the same LogQL finds the lines.

Used by ``runtime.plan()``::

    found = {k: p for k, p in binaries.optional().items() if isinstance(p, Path)}
    services, skipped = optional_services(manifests, 29000, state_dir, found, factor=20)
    # services: loki, jaeger, alloy, grafana (those found); skipped: key -> why (install hint)
"""
from __future__ import annotations

import copy
import json
import os
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stackcheck.binaries import OPTIONAL
from stackcheck.local.configs import LOOPBACK, Ports, addr, url
from stackcheck.local.service import Service
from stackcheck.manifests import Manifests, load_yaml
from stackcheck.timescale import parse_duration

#: Start order: the stores first, then what feeds or reads them.
ORDER = ("loki", "jaeger", "alloy", "grafana")
#: Generated configs of this module live here (under the state dir's ``config/``); it is rewritten on
#: every ``up``, so a service that stopped being installed leaves no stale file behind.
CONFIG_SUBDIR = "optional"
#: Grafana's admin password: generated once, kept (Grafana applies it on first run only), mode 0600.
GRAFANA_PASSWORD_FILE = Path("config") / "secrets" / "grafana-admin-password"
GRAFANA_ADMIN_USER = "admin"
#: Where the Grafana Deployment mounts ``config/grafana/dashboards/`` (see dashboards.yml).
GRAFANA_CLUSTER_DASHBOARDS = "/var/lib/grafana/dashboards"
#: Loki's ingester waits this long after it is ready before ``/ready`` says so (default 15s, which is
#: there for rolling updates of a ring; one local instance has none, and 15s is half the ready budget).
LOKI_MIN_READY = "1s"
#: The query frontend's first scheduler lookup is the other start-up delay (``/ready``: "Query Frontend not
#: ready: ... connected to is 0", 10 s by default, loki.md §5). The local Loki looks every second, for the
#: querier's worker too, at an explicit scheduler address: the in-process scheduler on its own gRPC port.
#: The address matters: with the scheduler *ring* (what single-binary Loki uses without one), a frontend
#: that connects before the scheduler's first ring check (3 s) waits forever for its INIT answer and every
#: query hangs (seen on a real 3.6.11). Without the ring the scheduler accepts frontends from the start;
#: ready in about 2 s, and queries answer at once.
LOKI_SCHEDULER_LOOKUP = "1s"
#: Log files the runtime writes (``logs/<service>.log``) → the Loki labels Alloy attaches to their lines.
#: ``namespace``/``app`` are what the cluster's Alloy attaches to the probe Deployment's pod logs.
PROBE_LOGS = (
    ("probe", {"namespace": "phase5", "app": "phase5-backend", "container": "probe",
               "job": "phase5/probe"}),
    ("probe_canary", {"namespace": "phase5", "app": "phase5-canary", "container": "probe",
                      "job": "phase5/probe"}),
)


@dataclass(frozen=True)
class OptionalPorts:
    """Loopback ports of the optional services, offsets from the port base (docs/architecture.md).

    Grafana, Loki, OTLP HTTP and the Jaeger query port are the documented ones; the others sit beside
    them or mirror the cluster port (13133 → +133, 8888 → +888). Stacks whose bases differ by 600
    (tests/localstack.py) or 1000 (benchmarks) share no port.
    """

    base: int = 29000

    @property
    def grafana(self) -> int:
        return self.base + 300

    @property
    def loki(self) -> int:
        return self.base + 310

    @property
    def loki_grpc(self) -> int:
        return self.base + 311

    @property
    def loki_memberlist(self) -> int:
        """Only bound if memberlist ever starts (it should not, the rings are in memory)."""
        return self.base + 312

    @property
    def otlp_grpc(self) -> int:
        return self.base + 317

    @property
    def otlp_http(self) -> int:
        return self.base + 318

    @property
    def alloy(self) -> int:
        return self.base + 345

    @property
    def jaeger_health(self) -> int:
        """healthcheckv2 (13133 in the cluster)."""
        return self.base + 133

    @property
    def jaeger_health_grpc(self) -> int:
        """healthcheckv2's gRPC side, only when the config enables it (13132 in the cluster)."""
        return self.base + 132

    @property
    def jaeger_query_grpc(self) -> int:
        return self.base + 685

    @property
    def jaeger_query(self) -> int:
        return self.base + 686

    @property
    def jaeger_metrics(self) -> int:
        """The collector's own Prometheus metrics (8888 in the cluster)."""
        return self.base + 888

    def of(self, services: Iterable[str]) -> dict[str, int]:
        """Every port the named services listen on, for the runtime's free-port check."""
        by_service = {
            "loki": ("loki", "loki_grpc", "loki_memberlist"),
            "jaeger": ("otlp_grpc", "otlp_http", "jaeger_health", "jaeger_health_grpc", "jaeger_query_grpc",
                       "jaeger_query", "jaeger_metrics"),
            "alloy": ("alloy",),
            "grafana": ("grafana",),
        }
        return {name: getattr(self, name) for service in services for name in by_service.get(service, ())}


def otlp_http_url(ports_base: int) -> str:
    """What the probe's ``--otlp-endpoint`` is when Jaeger runs (the probe appends ``/v1/traces``)."""
    return url(OptionalPorts(ports_base).otlp_http)


def scrape_targets(ports_base: int, running: Iterable[str]) -> dict[str, list[str]]:
    """Static targets for the prometheus.yml jobs ``loki``, ``grafana`` and ``jaeger``, for what runs."""
    ports = OptionalPorts(ports_base)
    every = {"loki": [addr(ports.loki)], "grafana": [addr(ports.grafana)], "jaeger": [addr(ports.jaeger_metrics)]}
    return {job: targets for job, targets in every.items() if job in set(running)}


def health_urls(ports_base: int, running: Iterable[str]) -> list[str]:
    """Local counterparts of the blackbox-http job's Grafana, Loki and Jaeger URLs, for what runs."""
    ports = OptionalPorts(ports_base)
    every = {"grafana": f"{url(ports.grafana)}/api/health", "loki": f"{url(ports.loki)}/ready",
             "jaeger": f"{url(ports.jaeger_health)}/status"}
    wanted = set(running)
    return [u for name, u in every.items() if name in wanted]


def generated_configs(state_dir: Path) -> list[Path]:
    """The files :func:`optional_services` wrote (no secrets), for the runtime's fingerprint."""
    root = state_dir / "config" / CONFIG_SUBDIR
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []


def grafana_admin(state_dir: Path) -> tuple[str, str] | None:
    """(user, password) of the local Grafana, for the local target's credentials; None before ``up``."""
    path = state_dir / GRAFANA_PASSWORD_FILE
    return (GRAFANA_ADMIN_USER, path.read_text().strip()) if path.is_file() else None


class CannotRunLocally(Exception):
    """The manifests ask for something the local runtime cannot honour; the service is skipped with this."""


def optional_services(manifests: Manifests, ports_base: int, state_dir: Path, found: dict[str, Path],
                      factor: float) -> tuple[list[Service], dict[str, str]]:
    """Write the configs of every optional service whose binary was found; return them and the skips.

    ``found`` holds the binaries that exist (key → path); every other key of ``binaries.OPTIONAL`` is
    skipped with its install hint. ``factor`` is the time scale: Grafana's Prometheus datasource gets the
    scaled scrape interval, as the local Prometheus does. Nothing else here has a timer the checks wait on.
    """
    ports = OptionalPorts(ports_base)
    shutil.rmtree(state_dir / "config" / CONFIG_SUBDIR, ignore_errors=True)
    skipped = {b.key: f"{b.key} binary not found; {b.hint}" for b in OPTIONAL if b.key not in found}
    services: list[Service] = []
    for key in (k for k in ORDER if k in found):
        try:
            services.append(_service(key, manifests, ports, state_dir, found[key], factor,
                                     running=[s.name for s in services]))
        except CannotRunLocally as exc:
            skipped[key] = str(exc)
    return services, skipped


def _service(key: str, manifests: Manifests, ports: OptionalPorts, state_dir: Path, binary: Path,
             factor: float, running: list[str]) -> Service:
    """Generate one service's config and its command line."""
    missing = [rel for rel in SOURCES.get(key, ()) if not (manifests.config_dir / rel).is_file()]
    if missing:
        raise CannotRunLocally(f"{key} is installed, but {manifests.config_dir / missing[0]} is missing, "
                               "so it has no config to run")
    if key == "loki":
        return loki_service(manifests, ports, state_dir, binary)
    if key == "jaeger":
        return jaeger_service(manifests, ports, state_dir, binary)
    if key == "alloy":
        if "loki" not in running:
            raise CannotRunLocally(f"alloy found at {binary}, but Loki does not run locally: "
                                   "nothing to ship the probe's logs to")
        return alloy_service(ports, state_dir, binary)
    home = grafana_home(binary)
    if home is None:
        raise CannotRunLocally(f"grafana found at {binary}, but not its home directory (the one holding "
                               "conf/defaults.ini); set GF_PATHS_HOME to it")
    return grafana_service(manifests, ports, state_dir, binary, home, factor)


#: The manifests files each service is generated from (Alloy's local config is generated from scratch).
SOURCES: dict[str, tuple[Path, ...]] = {
    "loki": (Path("loki") / "loki.yaml",),
    "jaeger": (Path("jaeger") / "config.yaml",),
    "grafana": (Path("grafana") / "datasources.yml", Path("grafana") / "dashboards.yml"),
}


def _load(path: Path) -> dict[str, Any]:
    doc = load_yaml(path)
    return doc if isinstance(doc, dict) else {}


def _dump(doc: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


# --------------------------------------------------------------------------- Loki

#: Keys of loki.yaml that hold filesystem paths (rebased under the state dir wherever they appear).
LOKI_PATH_KEYS = frozenset({
    "path_prefix", "chunks_directory", "rules_directory", "directory", "working_directory",
    "active_index_directory", "cache_location", "dir", "rule_path", "tokens_file_path",
})


def loki_config(manifests: Manifests, ports: OptionalPorts, data_dir: Path) -> dict[str, Any]:
    """loki.yaml with loopback listeners, every path under ``data_dir``, in-memory rings and a fast start
    (:data:`LOKI_MIN_READY`, :data:`LOKI_SCHEDULER_LOOKUP`).

    Retention (limits_config, compactor), schema and limits are kept as written: the local Loki enforces
    the same 744h as the cluster's. Rings already use the in-memory store in single-binary mode; this is
    forced so that a fork using memberlist does not gossip on the network.
    """
    config = copy.deepcopy(_load(manifests.config_dir / SOURCES["loki"][0]))
    server = config.setdefault("server", {})
    server.update(http_listen_address=LOOPBACK, http_listen_port=ports.loki,
                  grpc_listen_address=LOOPBACK, grpc_listen_port=ports.loki_grpc)
    common = config.setdefault("common", {})
    old_prefix = str(common.get("path_prefix") or "")
    _rebase_paths(config, old_prefix, data_dir)
    common["path_prefix"] = str(data_dir)
    common["instance_addr"] = LOOPBACK
    common["replication_factor"] = 1
    ring = common.setdefault("ring", {})
    ring["kvstore"] = {"store": "inmemory"}
    if "instance_addr" in ring:
        ring["instance_addr"] = LOOPBACK
    memberlist = config.setdefault("memberlist", {})
    memberlist.pop("join_members", None)
    memberlist.update(bind_addr=[LOOPBACK], bind_port=ports.loki_memberlist)
    config.setdefault("ingester", {}).setdefault("lifecycler", {})["min_ready_duration"] = LOKI_MIN_READY
    scheduler = addr(ports.loki_grpc)
    config.setdefault("frontend", {}).update(scheduler_address=scheduler,
                                             scheduler_dns_lookup_period=LOKI_SCHEDULER_LOOKUP)
    config.setdefault("frontend_worker", {}).update(scheduler_address=scheduler,
                                                    dns_lookup_duration=LOKI_SCHEDULER_LOOKUP)
    return config


def _rebase_paths(node: Any, old_prefix: str, new_prefix: Path) -> None:
    """Move every path-valued key under ``new_prefix``: below ``old_prefix`` keeps its relative part."""
    if isinstance(node, list):
        for item in node:
            _rebase_paths(item, old_prefix, new_prefix)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key in LOKI_PATH_KEYS and isinstance(value, str) and value:
            node[key] = str(_rebase(value, old_prefix, new_prefix))
        else:
            _rebase_paths(value, old_prefix, new_prefix)


def _rebase(path: str, old_prefix: str, new_prefix: Path) -> Path:
    """``/var/loki/chunks`` → ``<new>/chunks``; a path outside the old prefix keeps its whole path below."""
    old = Path(old_prefix) if old_prefix else None
    given = Path(path)
    if old is not None and (given == old or old in given.parents):
        return new_prefix / given.relative_to(old)
    return new_prefix / "elsewhere" / str(given).lstrip("/")


def loki_service(manifests: Manifests, ports: OptionalPorts, state_dir: Path, binary: Path) -> Service:
    """Loki in single-binary mode (``-target=all``), ready when ``/ready`` says so."""
    data = state_dir / "data" / "loki"
    data.mkdir(parents=True, exist_ok=True)
    path = _dump(loki_config(manifests, ports, data), state_dir / "config" / CONFIG_SUBDIR / "loki" / "loki.yaml")
    return Service("loki", [str(binary), f"-config.file={path}", "-target=all"],
                   f"{url(ports.loki)}/ready", url(ports.loki))


# --------------------------------------------------------------------------- Jaeger

def jaeger_config(manifests: Manifests, ports: OptionalPorts, data_dir: Path) -> dict[str, Any]:
    """Jaeger v2's config.yaml with every listener on loopback and Badger under ``data_dir``.

    Storage stays Badger with ``ephemeral: false`` as in the cluster (each backend in its own directory,
    so traces survive a local restart and the TTL is the cluster's). Endpoints that are omitted default
    to ``localhost:<fixed port>`` (OTLP, healthcheckv2, the collector's metrics) or all interfaces
    (jaeger_query), so every one is set explicitly, including the ones the production file leaves out.
    """
    config = copy.deepcopy(_load(manifests.config_dir / SOURCES["jaeger"][0]))
    receivers = config.setdefault("receivers", {})
    protocols = (receivers.get("otlp") or {}).get("protocols")
    if protocols is not None:
        for proto, port in (("grpc", ports.otlp_grpc), ("http", ports.otlp_http)):
            if proto in protocols:
                protocols[proto] = {**(protocols[proto] or {}), "endpoint": addr(port)}
    extensions = config.setdefault("extensions", {})
    if "jaeger_query" in extensions:
        query = extensions["jaeger_query"] = extensions["jaeger_query"] or {}
        query["http"] = {**(query.get("http") or {}), "endpoint": addr(ports.jaeger_query)}
        query["grpc"] = {**(query.get("grpc") or {}), "endpoint": addr(ports.jaeger_query_grpc)}
    if "healthcheckv2" in extensions:
        health = extensions["healthcheckv2"] = extensions["healthcheckv2"] or {}
        health["http"] = {**(health.get("http") or {}), "endpoint": addr(ports.jaeger_health)}
        if "grpc" in health:
            health["grpc"] = {**(health.get("grpc") or {}), "endpoint": addr(ports.jaeger_health_grpc)}
    storage = (extensions.get("jaeger_storage") or {}).get("backends") or {}
    for name, backend in storage.items():
        badger = (backend or {}).get("badger")
        if isinstance(badger, dict):
            badger["directories"] = {"keys": str(data_dir / name / "keys"),
                                     "values": str(data_dir / name / "values")}
    telemetry = config.setdefault("service", {}).setdefault("telemetry", {})
    metrics = telemetry.setdefault("metrics", {})
    metrics.pop("address", None)  # the deprecated form; ignored or bound elsewhere by newer collectors
    metrics["readers"] = [{"pull": {"exporter": {"prometheus": {"host": LOOPBACK, "port": ports.jaeger_metrics}}}}]
    _check_loopback(config)
    return config


def _check_loopback(config: dict[str, Any]) -> None:
    """Fail on a receiver or extension listener left off loopback (a fork's zipkin, zpages, …)."""
    sections = [("receivers", config.get("receivers") or {}),
                ("extensions", {k: v for k, v in (config.get("extensions") or {}).items() if k != "jaeger_storage"})]
    for section, components in sections:
        for where, endpoint in _endpoints(components, section):
            if "://" not in endpoint and not endpoint.startswith(f"{LOOPBACK}:"):
                raise CannotRunLocally(f"{where} listens on {endpoint!r}, which the local runtime cannot move to loopback")


def _endpoints(node: Any, where: str) -> list[tuple[str, str]]:
    if isinstance(node, dict):
        found = [(f"{where}.{k}", str(v)) for k, v in node.items() if k == "endpoint" and isinstance(v, str)]
        for k, v in node.items():
            found += _endpoints(v, f"{where}.{k}")
        return found
    return []


def jaeger_service(manifests: Manifests, ports: OptionalPorts, state_dir: Path, binary: Path) -> Service:
    """Jaeger v2 all-in-one; ready when the query API lists services (so storage is open too)."""
    data = state_dir / "data" / "jaeger"
    data.mkdir(parents=True, exist_ok=True)
    path = _dump(jaeger_config(manifests, ports, data),
                 state_dir / "config" / CONFIG_SUBDIR / "jaeger" / "config.yaml")
    return Service("jaeger", [str(binary), "--config", str(path)],
                   f"{url(ports.jaeger_query)}/api/services", url(ports.jaeger_query))


# --------------------------------------------------------------------------- Alloy

def alloy_string(value: str) -> str:
    """An Alloy string literal (its escapes are Go's, which JSON's are a subset of)."""
    return json.dumps(value, ensure_ascii=False)


def alloy_config(ports: OptionalPorts, logs_dir: Path) -> str:
    """The local collector: tail the probes' log files and push them to the local Loki.

    The cluster's config.alloy discovers pods through the Kubernetes API (loki.source.kubernetes), which
    does not exist locally; here the pods are the files the runtime writes. They are appended to across
    runs, so a file seen for the first time is tailed from its end (``tail_from_end``) instead of pushing
    its whole history to Loki at once, which could hit Loki's ingestion limit and delay the canary;
    positions kept under ``--storage.path`` carry on from there. ``loki.write`` keeps its default
    batching, as in the cluster, so the delivery budget of the log checks holds. Entries are stamped with
    the line's own ``ts`` (``stage.json`` + ``stage.timestamp``), as the cluster's config.alloy does.
    """
    targets = []
    for name, labels in PROBE_LOGS:
        fields = {"__path__": str(logs_dir / f"{name}.log"), **labels}
        targets.append("    {" + ", ".join(f"{alloy_string(k)} = {alloy_string(v)}" for k, v in fields.items()) + "},")
    push = f"{url(ports.loki)}/loki/api/v1/push"
    return "\n".join([
        "// Generated by stackcheck for the local runtime: the probes' log files -> the local Loki.",
        "// In the cluster, manifests/config/alloy/config.alloy tails pod logs through the Kubernetes API.",
        "",
        "logging {",
        '  level  = "info"',
        '  format = "logfmt"',
        "}",
        "",
        'local.file_match "phase5" {',
        "  path_targets = [",
        *targets,
        "  ]",
        "}",
        "",
        'loki.source.file "phase5" {',
        "  targets       = local.file_match.phase5.targets",
        "  forward_to    = [loki.process.phase5.receiver]",
        "  tail_from_end = true",
        "}",
        "",
        "// As in the cluster's config.alloy: stamp each entry with the time the line carries.",
        'loki.process "phase5" {',
        "  forward_to = [loki.write.local.receiver]",
        "",
        "  stage.json {",
        '    expressions = { ts = "" }',
        "  }",
        "",
        "  stage.timestamp {",
        '    source            = "ts"',
        '    format            = "RFC3339Nano"',
        '    action_on_failure = "skip"',
        "  }",
        "}",
        "",
        'loki.write "local" {',
        "  endpoint {",
        f"    url = {alloy_string(push)}",
        "  }",
        "}",
        "",
    ])


def alloy_service(ports: OptionalPorts, state_dir: Path, binary: Path) -> Service:
    """Alloy with its UI/API on loopback (its default would be 127.0.0.1:12345, shared by every stack)."""
    storage = state_dir / "data" / "alloy"
    storage.mkdir(parents=True, exist_ok=True)
    path = state_dir / "config" / CONFIG_SUBDIR / "alloy" / "config.alloy"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(alloy_config(ports, state_dir / "logs"))
    return Service("alloy", [str(binary), "run", str(path), f"--server.http.listen-addr={addr(ports.alloy)}",
                             f"--storage.path={storage}", "--disable-reporting"],
                   f"{url(ports.alloy)}/-/ready", url(ports.alloy))


# --------------------------------------------------------------------------- Grafana

def _datasource_urls(ports_base: int) -> dict[str, str]:
    """Datasource type → its local URL (the uids are kept: dashboards and links refer to them)."""
    ports = OptionalPorts(ports_base)
    return {"prometheus": url(Ports(ports_base).prometheus), "loki": url(ports.loki),
            "jaeger": url(ports.jaeger_query)}


def grafana_datasources(manifests: Manifests, ports: OptionalPorts, factor: float) -> dict[str, Any]:
    """datasources.yml with local URLs; uids, links and ``$$`` escapes unchanged.

    Prometheus' ``timeInterval`` (= the scrape interval) is scaled like the local Prometheus' interval,
    so ``$__rate_interval`` covers as many scrapes as in the cluster.
    """
    doc = copy.deepcopy(_load(manifests.grafana_datasources_yml))
    urls = _datasource_urls(ports.base)
    for source in doc.get("datasources") or []:
        kind = str(source.get("type"))
        if kind in urls:
            source["url"] = urls[kind]
        json_data = source.get("jsonData") or {}
        if kind == "prometheus" and json_data.get("timeInterval"):
            json_data["timeInterval"] = grafana_interval(parse_duration(str(json_data["timeInterval"])) / factor)
    return doc


def grafana_interval(seconds: float) -> str:
    """One-unit interval Grafana parses everywhere (``750ms``, ``15s``), not a compound like ``1s500ms``."""
    ms = max(1, round(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def grafana_dashboard_providers(manifests: Manifests) -> dict[str, Any]:
    """dashboards.yml reading the dashboard JSON straight from manifests (the same files, not a copy)."""
    doc = copy.deepcopy(_load(manifests.config_dir / "grafana" / "dashboards.yml"))
    boards = (manifests.config_dir / "grafana" / "dashboards").resolve()
    mount = Path(GRAFANA_CLUSTER_DASHBOARDS)
    for provider in doc.get("providers") or []:
        options = provider.setdefault("options", {})
        given = Path(str(options.get("path") or mount))
        options["path"] = str(boards / given.relative_to(mount) if given == mount or mount in given.parents
                              else boards)
    return doc


def grafana_password(state_dir: Path) -> Path:
    """The admin password file (0600), created with a random password unless it exists.

    It is kept across runs: Grafana sets the admin password only when it creates its database, so a new
    password would not match the kept one in ``data/grafana``.
    """
    path = state_dir / GRAFANA_PASSWORD_FILE
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.is_file() or not path.read_text().strip():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(24))
    path.chmod(0o600)
    return path


def grafana_ini(ports: OptionalPorts, state_dir: Path, provisioning: Path, password_file: Path) -> str:
    """grafana.ini for the local Grafana: loopback, paths under the state dir, nothing phoned home.

    The admin password is read by Grafana itself from the file (``$__file{}``): the ``GF_*__FILE``
    variables of the cluster Deployment are resolved by the container image's entrypoint script, not by
    the grafana binary, and would be ignored here. Anonymous users get Viewer (dashboards, queries);
    listing datasources needs an org Admin, so verify logs in with the password file.
    """
    if "}" in str(password_file):
        raise CannotRunLocally(f"{password_file}: Grafana's $__file{{}} cannot read a path containing '}}'")
    data = state_dir / "data" / "grafana"
    sections: dict[str, dict[str, str]] = {
        "paths": {"data": str(data), "logs": str(state_dir / "logs" / "grafana"),
                  "plugins": str(data / "plugins"), "provisioning": str(provisioning)},
        "server": {"protocol": "http", "http_addr": LOOPBACK, "http_port": str(ports.grafana),
                   "domain": LOOPBACK, "root_url": f"{url(ports.grafana)}/"},
        "security": {"admin_user": GRAFANA_ADMIN_USER, "admin_password": f"$__file{{{password_file}}}",
                     "disable_gravatar": "true"},
        "users": {"allow_sign_up": "false"},
        "auth.anonymous": {"enabled": "true", "org_name": "Main Org.", "org_role": "Viewer"},
        "analytics": {"reporting_enabled": "false", "check_for_updates": "false",
                      "check_for_plugin_updates": "false", "feedback_links_enabled": "false"},
        "news": {"news_feed_enabled": "false"},
        "plugins": {"preinstall_disabled": "true"},
        "snapshots": {"external_enabled": "false"},
        "log": {"mode": "console"},
    }
    lines = ["; Generated by stackcheck for the local runtime (stackcheck/local/optional.py)."]
    for name, values in sections.items():
        lines += ["", f"[{name}]", *(f"{k} = {v}" for k, v in values.items())]
    return "\n".join(lines) + "\n"


def grafana_home(binary: Path) -> Path | None:
    """Grafana's home (``conf/defaults.ini``, ``public/``): ``$GF_PATHS_HOME``, beside the binary, or
    where the packages put it."""
    resolved = binary.resolve()
    candidates = [Path(os.environ["GF_PATHS_HOME"])] if os.environ.get("GF_PATHS_HOME") else []
    for b in dict.fromkeys((resolved, binary)):
        candidates += [b.parent.parent, b.parent.parent / "share" / "grafana"]
    candidates += [Path("/usr/share/grafana"), Path("/usr/local/share/grafana"),
                   Path("/opt/homebrew/share/grafana")]
    return next((c for c in candidates if (c / "conf" / "defaults.ini").is_file()), None)


def grafana_service(manifests: Manifests, ports: OptionalPorts, state_dir: Path, binary: Path, home: Path,
                    factor: float) -> Service:
    """Grafana with the manifests' datasources (local URLs) and dashboards; ready on ``/api/health``."""
    root = state_dir / "config" / CONFIG_SUBDIR / "grafana"
    provisioning = root / "provisioning"
    for sub in ("datasources", "dashboards", "plugins", "alerting", "notifiers"):
        (provisioning / sub).mkdir(parents=True, exist_ok=True)  # Grafana logs an error for a missing one
    _dump(grafana_datasources(manifests, ports, factor), provisioning / "datasources" / "datasources.yml")
    _dump(grafana_dashboard_providers(manifests), provisioning / "dashboards" / "dashboards.yml")
    (state_dir / "data" / "grafana").mkdir(parents=True, exist_ok=True)
    ini = root / "grafana.ini"
    ini.write_text(grafana_ini(ports, state_dir, provisioning, grafana_password(state_dir)))
    # `grafana server` since Grafana 10; `grafana-server` is the older (now deprecated) entry point.
    command = [] if binary.name.startswith("grafana-server") else ["server"]
    return Service("grafana", [str(binary), *command, "--homepath", str(home), "--config", str(ini)],
                   f"{url(ports.grafana)}/api/health", url(ports.grafana))
