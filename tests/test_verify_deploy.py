"""`verify --deploy [--destroy-after]`: the suite stands up what it checks, and a failed deploy is an error
entry in the same report. Run as a user would (the CLI, in a subprocess) against the Kubernetes double."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.deployfake import cluster

STACKCHECK = Path(sys.executable).parent / "stackcheck"


def _verify(tmp_path: Path, kubeconfig: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    report = tmp_path / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STACKCHECK_") and k != "KUBECONFIG"}
    env.update(HOME=str(tmp_path / "home"), COLUMNS="200", NO_COLOR="1",
               PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    proc = subprocess.run([str(STACKCHECK), "verify", "--target", "kubernetes", "--kubeconfig",
                           str(kubeconfig),
                           "--deploy", "--deploy-timeout", "2s", "--json", str(report), *extra],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    return proc.returncode, json.loads(report.read_text()), proc.stdout + proc.stderr


def test_a_failed_deploy_is_an_error_entry_in_the_report(tmp_path: Path) -> None:
    """With no node nothing gets ready: exit 1, and the report holds one error entry `deploy` naming them."""
    for c in cluster(tmp_path):
        code, report, out = _verify(tmp_path, c.kubeconfig)
        assert code == 1, out
        (entry,) = report["checks"]
        assert entry["id"] == "deploy" and entry["status"] == "error"
        assert "StatefulSet monitoring/prometheus InProgress (pod prometheus-0 Pending: not scheduled " \
               "(Unschedulable): no nodes available to schedule pods)" in entry["message"]
        assert ("deployments", "monitoring", "grafana") in c.fake.objects  # it did deploy


def test_destroy_after_removes_what_deploy_made(tmp_path: Path) -> None:
    """--destroy-after destroys the deployed stack even when the deploy failed."""
    for c in cluster(tmp_path):
        _verify(tmp_path, c.kubeconfig, "--destroy-after")
        assert c.stack_objects() == {}


def test_a_failed_deploy_says_what_failed_and_the_fix_without_a_class_name(tmp_path: Path) -> None:
    """The line verify prints for a failed deploy names what failed and the fix, with no class name."""
    for c in cluster(tmp_path):
        _, _, out = _verify(tmp_path, c.kubeconfig)
        assert "the deploy did not get ready, so no check ran against the stack" in out, out
        assert "--deploy-timeout" in out and "then run again" in out, out
        assert "StackcheckError" not in out, out
