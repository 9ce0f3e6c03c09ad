"""promtool's verdicts: ``check rules`` per rule file, ``check config``, ``test rules`` per test file.

Debian's promtool 2.42 is built without Kubernetes service discovery and refuses a
``credentials_file`` that does not exist here (manifests/config/README.md), so ``check config``
runs on a copy in which each ``kubernetes_sd_configs`` becomes a static placeholder target and every
credentials file points at an existing empty file. Relabel rules (``__meta_kubernetes_*`` included),
every other key and the rule files are still checked as written.
"""

from __future__ import annotations

import copy
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from stackcheck.lint.context import Context
from stackcheck.lint.result import Item
from stackcheck.lint.tools import run

#: The target a Kubernetes SD block becomes in the checked copy (port 9, "discard": never scraped).
PLACEHOLDER_TARGETS = [{"targets": ["127.0.0.1:9"]}]
CREDENTIAL_KEYS = frozenset({"credentials_file", "bearer_token_file", "password_file"})


def check_rules_item(ctx: Context, path: Path) -> Item:
    """``lint.promtool.rules[<file>]``: ``promtool check rules`` (syntax, PromQL, duplicates)."""
    item = Item(f"lint.promtool.rules[{path.name}]", f"{ctx.rel(path)} (promtool check rules)")
    ran = run([ctx.promtool, "check", "rules", ctx.rel(path)], cwd=ctx.root)
    if not ran.ok:
        item.problems.append(f"{ctx.rel(path)}: promtool check rules:\n{ran.message()}")
    found = re.search(r"(\d+) rules? found", ran.stdout)
    item.summary = found.group(0) if found else "valid"
    return item


def checkable_copy(config: dict[str, Any], rules_base: Path, credentials: Path) -> dict[str, Any]:
    """prometheus.yml as Debian's promtool can check it (see the module docstring).

    >>> checkable_copy({"scrape_configs": [{"job_name": "x", "kubernetes_sd_configs": [{"role": "pod"}]}]},
    ...                Path("/r"), Path("/t"))["scrape_configs"]
    [{'job_name': 'x', 'static_configs': [{'targets': ['127.0.0.1:9']}]}]
    """
    out = copy.deepcopy(config)
    alerting = out.get("alerting") or {}
    for job in [*(out.get("scrape_configs") or []), *(alerting.get("alertmanagers") or [])]:
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["static_configs"] = [*(job.get("static_configs") or []), *copy.deepcopy(PLACEHOLDER_TARGETS)]
    _repoint_credentials(out, credentials)
    if out.get("rule_files"):
        out["rule_files"] = [
            str(p) if Path(str(p)).is_absolute() else str(rules_base / str(p)) for p in out["rule_files"]
        ]
    return out


def _repoint_credentials(node: Any, credentials: Path) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in CREDENTIAL_KEYS and isinstance(value, str):
                node[key] = str(credentials)
            else:
                _repoint_credentials(value, credentials)
    elif isinstance(node, list):
        for value in node:
            _repoint_credentials(value, credentials)


def check_config_item(ctx: Context) -> Item:
    """``lint.promtool.config``: ``promtool check config`` on the checkable copy of prometheus.yml."""
    path = ctx.manifests.prometheus_yml
    item = Item(
        "lint.promtool.config", f"{ctx.rel(path)} (promtool check config, Kubernetes SD → static copy)"
    )
    with tempfile.TemporaryDirectory(prefix="stackcheck-lint-") as tmp:
        credentials = Path(tmp) / "credentials"
        credentials.write_text("placeholder")
        copy_path = Path(tmp) / path.name
        config = checkable_copy(ctx.prometheus, path.parent, credentials)
        copy_path.write_text(yaml.safe_dump(config, sort_keys=False))
        ran = run([ctx.promtool, "check", "config", copy_path], cwd=ctx.root)
        message = ran.message({str(copy_path): ctx.rel(path), str(path.parent) + "/": ""})
    if not ran.ok:
        item.problems.append(f"{ctx.rel(path)}: promtool check config:\n{message}")
    found = re.search(r"(\d+) rule files? found", ran.stdout)
    item.summary = f"valid{f', {found.group(0)}' if found else ''}"
    return item


def rule_tests_item(ctx: Context, path: Path) -> Item:
    """``lint.promtool.tests[<file>]``: ``promtool test rules`` (alerts and recording rules on fixtures)."""
    item = Item(f"lint.promtool.tests[{path.name}]", f"{ctx.rel(path)} (promtool test rules)")
    ran = run([ctx.promtool, "test", "rules", ctx.rel(path)], cwd=ctx.root)
    if not ran.ok:
        item.problems.append(f"{ctx.rel(path)}: promtool test rules:\n{ran.message()}")
    item.summary = "unit tests pass"
    return item
