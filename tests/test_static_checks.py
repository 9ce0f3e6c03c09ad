"""The static checks hold: ruff (its default rules plus E501, at pyproject's line length) and mypy
(strict, over stackcheck/, suites/ and tests/, as pyproject's ``[tool.mypy]`` says) find nothing.

CI (.ci/run) runs only pytest, so these tests are how it runs the two tools. A failure names the files
and prints the tool's own findings; fix the code, not the configuration. The tools come from the venv
that runs pytest (``pip install -e '.[dev]'``). mypy keeps its incremental cache in .mypy_cache/
(git-ignored): a clean clone checks everything once (about 30 s of CPU), later runs only what changed.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = REPO / "pyproject.toml"
#: The file of a finding: ``stackcheck/wait.py:76:111: E501 ...`` (ruff), ``tests/x.py:3: error: ...`` (mypy).
FINDING = re.compile(r"^([^\s:][^:]*):\d+:", re.MULTILINE)


def tool(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.is_file() else shutil.which(name)
    assert found, f"{name} not installed: pip install -e '.[dev]'"
    return found


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


def flagged_files(output: str) -> list[str]:
    """The files named by ``path:line:...`` findings, as both tools print them."""
    return sorted(set(FINDING.findall(output)))


def ruff(cwd: Path) -> subprocess.CompletedProcess[str]:
    return run([tool("ruff"), "check", "--no-fix", "--output-format", "concise", "."], cwd)


def mypy(cwd: Path) -> subprocess.CompletedProcess[str]:
    # No file arguments: the paths are pyproject's `files`, as for a developer who runs `mypy`.
    return run([tool("mypy")], cwd)


def test_ruff_finds_nothing() -> None:
    result = ruff(REPO)
    found, code = result.stdout + result.stderr, result.returncode
    assert code == 0, (f"`ruff check .` found problems in {', '.join(flagged_files(found))} "
                       f"(long lines: wrap them; the rest: `ruff check --fix`):\n{found}")
    assert "All checks passed" in result.stdout, found


def test_mypy_strict_finds_nothing() -> None:
    result = mypy(REPO)
    found, code = result.stdout + result.stderr, result.returncode
    assert code == 0, (f"mypy (strict, pyproject [tool.mypy]) found errors in "
                       f"{', '.join(flagged_files(found))}:\n{found}")
    assert "Success: no issues found" in result.stdout, found


def test_ruff_flags_a_line_over_the_configured_length(tmp_path: Path) -> None:
    length = tomllib.loads(PYPROJECT.read_text())["tool"]["ruff"]["line-length"]
    shutil.copy(PYPROJECT, tmp_path / "pyproject.toml")
    (tmp_path / "long.py").write_text(f"X = {'1' * (length - 4)}\nY = {'1' * (length - 3)}\n")
    result = ruff(tmp_path)
    assert result.returncode == 1, f"ruff passed a line of {length + 1} characters:\n{result.stdout}"
    assert f"long.py:2:{length + 1}: E501" in result.stdout, result.stdout
    assert "long.py:1:" not in result.stdout, result.stdout


def test_mypy_is_strict_over_stackcheck_suites_and_tests(tmp_path: Path) -> None:
    shutil.copy(PYPROJECT, tmp_path / "pyproject.toml")
    untyped = "def double(x):\n    return 2 * x\n"
    for path in ("stackcheck/__init__.py", "suites/test_x.py", "tests/__init__.py", "tests/test_y.py"):
        (tmp_path / path).parent.mkdir(exist_ok=True)
        (tmp_path / path).write_text("" if path == "tests/__init__.py" else untyped)
    result = mypy(tmp_path)
    flagged = flagged_files(result.stdout)
    assert result.returncode == 1, f"mypy passed untyped functions:\n{result.stdout}{result.stderr}"
    assert flagged == ["stackcheck/__init__.py", "suites/test_x.py", "tests/test_y.py"], result.stdout
    assert "[no-untyped-def]" in result.stdout, result.stdout
