"""Loki, Jaeger, Alloy and Grafana on the local runtime, when their binaries are installed.

One module per service (loki, jaeger, alloy, grafana), each the ``plan`` for its :class:`Service`: the
config it writes and the command that runs it. Their ports are in :mod:`stackcheck.local.ports`.

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

import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from stackcheck.binaries import OPTIONAL
from stackcheck.local.ports import Ports, addr, url
from stackcheck.local.service import Service
from stackcheck.local.services import alloy, grafana, jaeger, loki
from stackcheck.local.services.common import CONFIG_SUBDIR, SOURCES, CannotRunLocally
from stackcheck.manifests import Manifests

Plan = Callable[..., Service]

#: Start order (the stores first, then what feeds or reads them) and each service's plan.
PLANS: dict[str, Plan] = {"loki": loki.plan, "jaeger": jaeger.plan, "alloy": alloy.plan,
                          "grafana": grafana.plan}
ORDER = tuple(PLANS)

def otlp_http_url(ports_base: int) -> str:
    """What the probe's ``--otlp-endpoint`` is when Jaeger runs (the probe appends ``/v1/traces``)."""
    return url(Ports(ports_base).otlp_http)


def scrape_targets(ports_base: int, running: Iterable[str]) -> dict[str, list[str]]:
    """Static targets for the prometheus.yml jobs ``loki``, ``grafana`` and ``jaeger``, for what runs."""
    ports = Ports(ports_base)
    every = {"loki": [addr(ports.loki)], "grafana": [addr(ports.grafana)],
             "jaeger": [addr(ports.jaeger_metrics)]}
    return {job: targets for job, targets in every.items() if job in set(running)}


def health_urls(ports_base: int, running: Iterable[str]) -> list[str]:
    """Local counterparts of the blackbox-http job's Grafana, Loki and Jaeger URLs, for what runs."""
    ports = Ports(ports_base)
    every = {"grafana": f"{url(ports.grafana)}/api/health", "loki": f"{url(ports.loki)}/ready",
             "jaeger": f"{url(ports.jaeger_health)}/status"}
    wanted = set(running)
    return [u for name, u in every.items() if name in wanted]


def generated_configs(state_dir: Path) -> list[Path]:
    """The files :func:`optional_services` wrote (no secrets), for the runtime's fingerprint."""
    root = state_dir / "config" / CONFIG_SUBDIR
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []


def optional_services(manifests: Manifests, ports_base: int, state_dir: Path, found: dict[str, Path],
                      factor: float) -> tuple[list[Service], dict[str, str]]:
    """Write the configs of every optional service whose binary was found; return them and the skips.

    ``found`` holds the binaries that exist (key → path); every other key of ``binaries.OPTIONAL`` is
    skipped with its install hint. ``factor`` is the time scale: Grafana's Prometheus datasource gets the
    scaled scrape interval, as the local Prometheus does. Nothing else here has a timer the checks wait on.
    """
    ports = Ports(ports_base)
    shutil.rmtree(state_dir / "config" / CONFIG_SUBDIR, ignore_errors=True)
    skipped = {b.key: f"{b.key} binary not found; {b.hint}" for b in OPTIONAL if b.key not in found}
    services: list[Service] = []
    for key in (k for k in ORDER if k in found):
        try:
            services.append(_plan(key, manifests, ports, state_dir, found[key], factor,
                                  running=[s.name for s in services]))
        except CannotRunLocally as exc:
            skipped[key] = str(exc)
    return services, skipped


def _plan(key: str, manifests: Manifests, ports: Ports, state_dir: Path, binary: Path, factor: float,
          running: Sequence[str]) -> Service:
    """One service's config and command line, once the manifests files it is generated from exist."""
    missing = [rel for rel in SOURCES.get(key, ()) if not (manifests.config_dir / rel).is_file()]
    if missing:
        raise CannotRunLocally(f"{key} is installed, but {manifests.config_dir / missing[0]} is missing, "
                               "so it has no config to run")
    return PLANS[key](manifests, ports, state_dir, binary, factor=factor, running=running)
