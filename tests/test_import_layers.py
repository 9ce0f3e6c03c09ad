"""The layers in .importlinter hold: `lint-imports` (import-linter) keeps every contract, and breaks on
an upward import.

docs/architecture.md draws the same layers. A failure names the importing module, the imported one and
the line; fix it by moving the shared piece down a layer, not by loosening the contract.
"""
from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "stackcheck"
CONFIG = REPO / ".importlinter"


def lint_imports() -> str:
    beside = Path(sys.executable).with_name("lint-imports")
    found = str(beside) if beside.is_file() else shutil.which("lint-imports")
    assert found, "lint-imports not installed: pip install -e '.[dev]' (import-linter)"
    return found


def run_contracts(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([lint_imports(), "--config", str(root / ".importlinter"), "--no-cache"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False)


def layered_names() -> set[str]:
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    layers = parser["importlinter:contract:layers"]["layers"]
    return {name.strip() for line in layers.splitlines() for name in line.split("|") if name.strip()}


def test_every_contract_is_kept() -> None:
    result = run_contracts(REPO)
    assert result.returncode == 0, (f"an import crosses the layers in .importlinter:\n"
                                    f"{result.stdout}{result.stderr}")
    assert "0 broken" in result.stdout


def test_every_top_level_module_has_a_layer() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    modules |= {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    missing = modules - layered_names()
    assert not missing, (f"stackcheck modules with no layer in .importlinter: {sorted(missing)}; "
                         "add each to its layer")


def test_an_upward_import_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(PACKAGE, tmp_path / "stackcheck", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(CONFIG, tmp_path / ".importlinter")
    errors = tmp_path / "stackcheck" / "errors.py"
    errors.write_text(errors.read_text() + "\nimport stackcheck.cli  # noqa: E402,F401\n")
    result = run_contracts(tmp_path)
    assert result.returncode != 0, f"lint-imports kept the layers with errors importing cli:\n{result.stdout}"
    assert "stackcheck.errors is not allowed to import stackcheck.cli" in result.stdout


@pytest.mark.parametrize("source", ["targets", "faults"])
def test_a_driver_reaching_into_the_runtime_breaks_the_contract(tmp_path: Path, source: str) -> None:
    shutil.copytree(PACKAGE, tmp_path / "stackcheck", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(CONFIG, tmp_path / ".importlinter")
    init = tmp_path / "stackcheck" / source / "__init__.py"
    init.write_text(init.read_text() + "\nimport stackcheck.local.runtime  # noqa: E402,F401\n")
    result = run_contracts(tmp_path)
    assert result.returncode != 0, f"lint-imports let {source} import the local runtime:\n{result.stdout}"
    assert f"stackcheck.{source} is not allowed to import stackcheck.local.runtime" in result.stdout
