"""Everything the lint checks read, loaded once before they run in parallel.

Loading first turns every malformed YAML file into one usage error (exit 2, naming file:line) before
any check starts, and gives the checks parsed, read-only data instead of each re-reading files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackcheck.binaries import AMTOOL, PROMTOOL, require
from stackcheck.errors import UsageError
from stackcheck.lint.render import KUBECTL, find_kustomization, load_documents
from stackcheck.manifests import Manifests, RuleDef, load_yaml

#: Kustomizations lint renders, relative to the manifests directory (the whole stack, then overlays).
RENDER_TARGETS = (".", "overlays/kind", "overlays/production")


@dataclass(frozen=True)
class Context:
    """Parsed configuration and located tools for one lint run."""

    manifests: Manifests
    promtool: Path
    amtool: Path
    kubectl: Path | None
    prometheus: dict[str, Any]
    rules: tuple[RuleDef, ...]
    rule_files: tuple[Path, ...]
    test_files: tuple[Path, ...]
    alertmanager: dict[str, Any]
    route_tests: Any
    datasources: Any
    dashboard_files: tuple[Path, ...]
    render_targets: tuple[str, ...]

    @property
    def root(self) -> Path:
        return self.manifests.root

    @property
    def config(self) -> Path:
        return self.manifests.config_dir

    @property
    def route_tests_path(self) -> Path:
        return self.manifests.routes_test_yml

    @property
    def datasources_path(self) -> Path:
        return self.manifests.grafana_datasources_yml

    def rel(self, path: Path) -> str:
        """``path`` relative to the manifests directory (how every message names a file)."""
        try:
            return str(path.resolve().relative_to(self.root))
        except ValueError:
            return str(path)

    @classmethod
    def load(cls, option: str | None) -> Context:
        """Locate manifests and tools, and parse every YAML file lint reads (usage errors surface here)."""
        manifests = Manifests.find(option)
        root = manifests.root
        if find_kustomization(root) is None:
            raise UsageError(
                f"{root} has no kustomization.yaml; point --manifests at a copy of the "
                "repository's manifests/"
            )
        tools = require([PROMTOOL, AMTOOL])
        config = manifests.config_dir
        for path in sorted([*config.rglob("*.yml"), *config.rglob("*.yaml")]):
            load_documents(path)  # malformed YAML anywhere under config/ is a usage error
        rule_files = tuple(manifests.rule_files())
        optional = {
            name: load_yaml(config / rel) if (config / rel).is_file() else None
            for name, rel in (
                ("routes", "alertmanager/routes.test.yml"),
                ("datasources", "grafana/datasources.yml"),
            )
        }
        return cls(
            manifests=manifests,
            promtool=tools["promtool"],
            amtool=tools["amtool"],
            kubectl=KUBECTL.find(),
            prometheus=manifests.prometheus_config(),
            rules=tuple(manifests.rules()),
            rule_files=rule_files,
            test_files=tuple(sorted((config / "prometheus" / "tests").glob("*.test.yml"))),
            alertmanager=manifests.alertmanager_config(),
            route_tests=optional["routes"],
            datasources=optional["datasources"],
            dashboard_files=tuple(sorted((config / "grafana" / "dashboards").glob("*.json"))),
            render_targets=tuple(t for t in RENDER_TARGETS if find_kustomization(root / t) is not None),
        )
