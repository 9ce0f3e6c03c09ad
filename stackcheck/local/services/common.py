"""What every optional service's plan shares: where its configs go, how it is skipped, YAML in and out."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from stackcheck.manifests import load_yaml

#: Generated configs of the optional services live here (under the state dir's ``config/``); it is
#: rewritten on every ``up``, so a service that stopped being installed leaves no stale file behind.
CONFIG_SUBDIR = "optional"

#: The manifests files each service is generated from (Alloy's local config is generated from scratch).
SOURCES: dict[str, tuple[Path, ...]] = {
    "loki": (Path("loki") / "loki.yaml",),
    "jaeger": (Path("jaeger") / "config.yaml",),
    "grafana": (Path("grafana") / "datasources.yml", Path("grafana") / "dashboards.yml"),
}


class CannotRunLocally(Exception):
    """The manifests ask for something the local runtime cannot honour; the service is skipped with this."""


def config_dir(state_dir: Path, key: str) -> Path:
    """Where one service's generated configs go."""
    return state_dir / "config" / CONFIG_SUBDIR / key


def load(path: Path) -> dict[str, Any]:
    doc = load_yaml(path)
    return doc if isinstance(doc, dict) else {}


def dump(doc: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
