"""The local Jaeger v2: its config.yaml from manifests/ with every listener on loopback, Badger under the
state dir."""
from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stackcheck.local.ports import LOOPBACK, Ports, addr, url
from stackcheck.local.service import Service
from stackcheck.local.services.common import SOURCES, CannotRunLocally, config_dir, dump, load
from stackcheck.manifests import Manifests


def jaeger_config(manifests: Manifests, ports: Ports, data_dir: Path) -> dict[str, Any]:
    """Jaeger v2's config.yaml with every listener on loopback and Badger under ``data_dir``.

    Storage stays Badger with ``ephemeral: false`` as in the cluster (each backend in its own directory,
    so traces survive a local restart and the TTL is the cluster's). Endpoints that are omitted default
    to ``localhost:<fixed port>`` (OTLP, healthcheckv2, the collector's metrics) or all interfaces
    (jaeger_query), so every one is set explicitly, including the ones the production file leaves out.
    """
    config = copy.deepcopy(load(manifests.config_dir / SOURCES["jaeger"][0]))
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
    prometheus = {"host": LOOPBACK, "port": ports.jaeger_metrics}
    metrics["readers"] = [{"pull": {"exporter": {"prometheus": prometheus}}}]
    _check_loopback(config)
    return config


def _check_loopback(config: dict[str, Any]) -> None:
    """Fail on a receiver or extension listener left off loopback (a fork's zipkin, zpages, …)."""
    extensions = {k: v for k, v in (config.get("extensions") or {}).items() if k != "jaeger_storage"}
    sections = [("receivers", config.get("receivers") or {}), ("extensions", extensions)]
    for section, components in sections:
        for where, endpoint in _endpoints(components, section):
            if "://" not in endpoint and not endpoint.startswith(f"{LOOPBACK}:"):
                raise CannotRunLocally(f"{where} listens on {endpoint!r}, which the local runtime cannot "
                                       "move to loopback")


def _endpoints(node: Any, where: str) -> list[tuple[str, str]]:
    if isinstance(node, dict):
        found = [(f"{where}.{k}", str(v)) for k, v in node.items() if k == "endpoint" and isinstance(v, str)]
        for k, v in node.items():
            found += _endpoints(v, f"{where}.{k}")
        return found
    return []


def plan(manifests: Manifests, ports: Ports, state_dir: Path, binary: Path, *, factor: float,
         running: Sequence[str]) -> Service:
    """Jaeger v2 all-in-one; ready when the query API lists services (so storage is open too)."""
    data = state_dir / "data" / "jaeger"
    data.mkdir(parents=True, exist_ok=True)
    path = dump(jaeger_config(manifests, ports, data),
                 config_dir(state_dir, "jaeger") / "config.yaml")
    return Service("jaeger", [str(binary), "--config", str(path)],
                   f"{url(ports.jaeger_query)}/api/services", url(ports.jaeger_query))
