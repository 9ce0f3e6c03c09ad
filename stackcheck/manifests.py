"""Find and load the stack's configuration files under ``manifests/`` (the single source of truth).

The local runtime, ``lint`` and ``verify`` all read these files through :class:`Manifests`; nothing
keeps a second copy of a rule, route or dashboard.
"""
from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from stackcheck.errors import UsageError

#: Where a git checkout keeps the manifests, relative to this package.
BUNDLED_MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"
#: The stack Namespace's annotation that records the time scale its configs were generated with: the
#: kind overlay writes it, verify reads it back.
TIME_SCALE_ANNOTATION = "stackcheck.dev/time-scale"


def resolve_manifests_dir(option: str | None) -> Path:
    """The directory given (the resolved ``--manifests``: flag, then ``STACKCHECK_MANIFESTS``, see
    :mod:`stackcheck.settings`), else the checkout's ``manifests/``. This module reads no environment."""
    if option:
        path = Path(option).expanduser().resolve()
        if not (path / "config").is_dir():
            raise UsageError(
                f"{path} is not a stackcheck manifests directory: it has no config/ folder; point "
                "--manifests (or STACKCHECK_MANIFESTS) at a copy of the repository's manifests/"
            )
        return path
    if (BUNDLED_MANIFESTS / "config").is_dir():
        return BUNDLED_MANIFESTS
    raise UsageError("no manifests found; pass --manifests DIR or set STACKCHECK_MANIFESTS")


def load_yaml(path: Path) -> Any:
    """Load one YAML document; a syntax error names the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise UsageError(f"{where}: malformed YAML ({problem}); fix the file") from exc


@dataclass(frozen=True)
class RuleDef:
    """One rule as written in a rule file."""

    name: str
    kind: str  # "record" | "alert"
    expr: str
    group: str
    file: Path
    labels: dict[str, str]
    annotations: dict[str, str]
    for_: str | None


@dataclass(frozen=True)
class Manifests:
    """Paths to, and parsed views of, the configuration files of one manifests directory."""

    root: Path

    @classmethod
    def find(cls, option: str | None = None) -> Manifests:
        """Resolve the directory (see :func:`resolve_manifests_dir`) and check the core files exist."""
        found = cls(resolve_manifests_dir(option))
        for path in (found.prometheus_yml, found.alertmanager_yml):
            if not path.is_file():
                raise UsageError(f"{path} is missing; every manifests directory needs it")
        return found

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def prometheus_yml(self) -> Path:
        return self.config_dir / "prometheus" / "prometheus.yml"

    @property
    def alertmanager_yml(self) -> Path:
        return self.config_dir / "alertmanager" / "alertmanager.yml"

    @property
    def routes_test_yml(self) -> Path:
        """The route-test table: each alert's labels, receivers and channels (lint and the full profile)."""
        return self.config_dir / "alertmanager" / "routes.test.yml"

    @property
    def grafana_datasources_yml(self) -> Path:
        return self.config_dir / "grafana" / "datasources.yml"

    @property
    def blackbox_yml(self) -> Path:
        return self.config_dir / "blackbox" / "blackbox.yml"

    def prometheus_config(self) -> dict[str, Any]:
        """prometheus.yml as a dict (a non-mapping document is a usage error)."""
        return _mapping(load_yaml(self.prometheus_yml), self.prometheus_yml)

    def alertmanager_config(self) -> dict[str, Any]:
        """alertmanager.yml as a dict."""
        return _mapping(load_yaml(self.alertmanager_yml), self.alertmanager_yml)

    def rule_files(self) -> list[Path]:
        """The rule files prometheus.yml loads (its ``rule_files`` globs, relative to it)."""
        base = self.prometheus_yml.parent
        files: list[Path] = []
        for pattern in self.prometheus_config().get("rule_files") or []:
            files += sorted(Path(p) for p in glob.glob(str(base / pattern)))
        return files

    def rules(self) -> list[RuleDef]:
        """Every rule of every rule file, in file order."""
        found: list[RuleDef] = []
        for path in self.rule_files():
            doc = _mapping(load_yaml(path), path)
            for group in doc.get("groups") or []:
                for rule in group.get("rules") or []:
                    kind = "record" if "record" in rule else "alert"
                    found.append(RuleDef(
                        name=str(rule.get(kind)), kind=kind, expr=str(rule.get("expr", "")),
                        group=str(group.get("name")), file=path,
                        labels=dict(rule.get("labels") or {}),
                        annotations=dict(rule.get("annotations") or {}),
                        for_=rule.get("for"),
                    ))
        return found

    def scrape_jobs(self) -> list[str]:
        """job_name of every scrape config, in file order."""
        return [str(job["job_name"]) for job in self.prometheus_config().get("scrape_configs") or []]


def _mapping(doc: Any, path: Path) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: expected a YAML mapping at the top level, found {type(doc).__name__}")
    return doc
