"""The conformance suite runs through the stackcheck pytest plugin (registered via pytest11).

This file adds the clients of the logs, traces and dashboards half, and parametrizes the Grafana checks
by the datasources and dashboards that manifests/ provisions.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stackcheck.clients.grafana import GrafanaClient
from stackcheck.clients.http import Http
from stackcheck.clients.jaeger import JaegerClient
from stackcheck.clients.loki import LokiClient
from stackcheck.errors import UsageError
from stackcheck.manifests import Manifests, load_yaml
from stackcheck.plugin import component_http
from stackcheck.targets.base import Target


@pytest.fixture(scope="session")
def loki(stackcheck_target: Target) -> LokiClient:
    """Client of the target's Loki (skips the check when the target has none)."""
    return LokiClient(component_http(stackcheck_target, "loki"))


@pytest.fixture(scope="session")
def jaeger(stackcheck_target: Target) -> JaegerClient:
    """Client of the target's Jaeger query service (skips the check when the target has none)."""
    return JaegerClient(component_http(stackcheck_target, "jaeger"))


@pytest.fixture(scope="session")
def grafana(stackcheck_target: Target) -> GrafanaClient:
    """Client of the target's Grafana (skips the check when the target has none)."""
    return GrafanaClient(component_http(stackcheck_target, "grafana"))


@pytest.fixture(scope="session")
def probe_http(stackcheck_target: Target) -> Http:
    """HTTP session to the target's probe, for the canaries (skips the check when the target has none)."""
    return component_http(stackcheck_target, "probe")


def provisioned_datasources(manifests: Manifests) -> list[dict[str, Any]]:
    """The datasources of ``config/grafana/datasources.yml``."""
    doc = load_yaml(manifests.grafana_datasources_yml) or {}
    return [dict(ds) for ds in doc.get("datasources") or []]


def provisioned_dashboards(manifests: Manifests) -> list[tuple[Path, dict[str, Any]]]:
    """The dashboard files of ``config/grafana/dashboards/``, parsed."""
    found = []
    for path in sorted((manifests.config_dir / "grafana" / "dashboards").glob("*.json")):
        try:
            found.append((path, json.loads(path.read_text(encoding="utf-8"))))
        except ValueError as exc:
            raise UsageError(f"{path}: not valid JSON ({exc}); fix the dashboard file") from exc
    return found


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One check per provisioned datasource uid and per provisioned dashboard uid."""
    wanted = {"grafana_datasource", "grafana_dashboard"} & set(metafunc.fixturenames)
    if not wanted:
        return
    try:
        manifests = Manifests.find(metafunc.config.getoption("stackcheck_manifests"))
        if "grafana_datasource" in wanted:
            sources = provisioned_datasources(manifests)
            metafunc.parametrize("grafana_datasource", sources, ids=[str(ds.get("uid")) for ds in sources])
        if "grafana_dashboard" in wanted:
            boards = provisioned_dashboards(manifests)
            metafunc.parametrize("grafana_dashboard", boards, ids=[str(d.get("uid")) for _, d in boards])
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from exc
