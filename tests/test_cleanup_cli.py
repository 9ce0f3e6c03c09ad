"""`stackcheck cleanup` from the command line: kubernetes leftovers through the API double."""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackcheck.faults import kubernetes as kf
from tests.kubefake import KubeFake
from tests.test_kubernetes_faults import HPA, RUN, TOKEN, _kept

STACKCHECK = Path(sys.executable).parent / "stackcheck"


@pytest.fixture
def fake() -> Iterator[KubeFake]:
    with KubeFake(TOKEN, allow_faults=("phase5", "monitoring")) as double:
        yield double


def test_cleanup_kubernetes_reverts_a_killed_runs_hpa_patch(fake: KubeFake, tmp_path: Path) -> None:
    """`cleanup --target kubernetes` restores what a killed run patched, prints it, and exits 0."""
    from stackcheck.targets.kubernetes import load_access
    config = fake.write_kubeconfig(tmp_path / "config")
    before = _kept(fake.objects[HPA])
    access = load_access(None, str(config))
    target = type("T", (), {"kube": access})()
    kf.K8S_FAULTS["HPAMaxedOut"][0](target, RUN)
    assert _kept(fake.objects[HPA]) != before
    result = subprocess.run([str(STACKCHECK), "cleanup", "--target", "kubernetes", "--kubeconfig",
                             str(config)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "restored HorizontalPodAutoscaler phase5/phase5-backend" in result.stdout
    assert TOKEN not in result.stdout + result.stderr
    assert _kept(fake.objects[HPA]) == before


def test_cleanup_kubernetes_without_kubeconfig_is_a_usage_error(tmp_path: Path) -> None:
    """Without any kubeconfig, cleanup exits 2 and says how to point at one."""
    result = subprocess.run([str(STACKCHECK), "cleanup", "--target", "kubernetes"], capture_output=True,
                            text=True, timeout=60, check=False,
                            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert "pass --kubeconfig PATH or set KUBECONFIG" in result.stderr.replace("\n", " ")
    assert "Traceback" not in result.stderr
