"""The conformance suite runs through the stackcheck pytest plugin (registered via pytest11).

The plugin gives the checks their fixtures (:mod:`stackcheck.fixtures`: the target and a client per
component); this file parametrizes the Grafana checks by the datasources and dashboards that
manifests/ provisions.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stackcheck.errors import UsageError
from stackcheck.fixtures import manifests_of
from stackcheck.manifests import Manifests, load_yaml


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
        manifests = manifests_of(metafunc.config)  # --stackcheck-manifests, else STACKCHECK_MANIFESTS
        if "grafana_datasource" in wanted:
            sources = provisioned_datasources(manifests)
            metafunc.parametrize("grafana_datasource", sources, ids=[str(ds.get("uid")) for ds in sources])
        if "grafana_dashboard" in wanted:
            boards = provisioned_dashboards(manifests)
            metafunc.parametrize("grafana_dashboard", boards, ids=[str(d.get("uid")) for _, d in boards])
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from exc
