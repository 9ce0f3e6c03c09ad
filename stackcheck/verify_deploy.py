"""``verify --deploy [--destroy-after]`` (``pytest suites/ --stackcheck-deploy``): one command for a CI gate.

The suite stands up what it checks, as Chainsaw's test lifecycle does: before any check runs, deploy
the overlay and wait for it; then the checks; then, with ``--stackcheck-destroy-after``, destroy.
A failed deploy (a conflict, a workload that never gets ready) is an ``error`` entry ``deploy`` in
the same report (terminal, JSON, JUnit), and no check runs against a stack that is not there. A
failed destroy is an ``error`` entry ``destroy``. Only the kubernetes target can be deployed.

A pytest plugin of its own, loaded by :mod:`stackcheck.plugin` (``pytest_plugins``), so the
verify plugin itself stays unchanged but for that line.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import pytest
from rich.console import Console

from stackcheck.errors import ExitCode, StackcheckError, UsageError
from stackcheck.report import CheckResult

_deployed_key = pytest.StashKey[bool]()


def _console() -> Console:
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def _record(config: pytest.Config, check_id: str, started: float, message: str) -> None:
    from stackcheck.plugin import _report_key

    config.stash[_report_key].checks.append(CheckResult(
        id=check_id, component="manifests", status="error", duration_s=time.monotonic() - started,
        message=message))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Deploy before the verify plugin resolves the target (its hook runs after this one). A failed deploy
    replaces the checks by one ``error`` entry ``deploy``, as a failed preflight does."""
    from stackcheck.plugin import _abort, settings

    resolved = settings(config)
    run, kube = resolved.run, resolved.kubernetes
    if not run.deploy or not any(i.get_closest_marker("check") for i in items):
        return
    from stackcheck.deploy.run import DeployOptions, deploy

    report = Path(tempfile.mkdtemp(prefix="stackcheck-deploy-")) / "deploy.json"
    try:
        if resolved.target.target != "kubernetes":
            raise UsageError("--deploy deploys to a cluster: use it with --target kubernetes")
        code = deploy(DeployOptions(
            overlay=run.overlay, context=kube.context, kubeconfig=kube.kubeconfig,
            manifests=resolved.target.manifests, timeout_s=run.deploy_timeout, allow_faults=run.allow_faults,
            json_path=str(report)), _console())
        config.stash[_deployed_key] = True
        if code != ExitCode.OK:
            raise StackcheckError(f"the deploy did not get ready, so no check ran against the stack: "
                                  f"{_not_ready(report)}; fix what the objects above say (or give them more "
                                  "time with --deploy-timeout), then run again")
    except StackcheckError as exc:
        config.stash[_deployed_key] = _deployed_key in config.stash
        _abort(session, config, items, [("deploy", "manifests", exc)])


def _not_ready(report: Path) -> str:
    """"N object(s) not ready: <object>: <first reason>; …" from deploy's JSON."""
    try:
        entries = json.loads(report.read_text())["not_ready"]
    except (OSError, ValueError, KeyError):
        return "the stack did not become ready (see the objects above)"
    parts = []
    for entry in entries:
        reasons = [d.strip() for d in entry.get("details") or [] if "not scheduled" in d or "waiting:" in d
                   or d.strip().startswith("claim ")]
        parts.append(f"{entry['object']} {entry['status']}" + (f" ({reasons[0]})" if reasons else ""))
    return f"{len(entries)} object(s) not ready: " + "; ".join(parts)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After the checks, before the report is written: destroy when asked."""
    from stackcheck.plugin import _exit_key, end_progress_line, settings

    config = session.config
    resolved = settings(config)
    if not (resolved.run.destroy_after and config.stash.get(_deployed_key, False)):
        return
    from stackcheck.deploy.destroy import DestroyOptions, destroy

    end_progress_line(config)  # destroy's lines start on their own line, not after "F [100%]"
    started = time.monotonic()
    try:
        code = destroy(DestroyOptions(
            overlay=resolved.run.overlay, context=resolved.kubernetes.context,
            kubeconfig=resolved.kubernetes.kubeconfig, manifests=resolved.target.manifests,
            yes=True), _console())  # --destroy-after is the consent
        if code != ExitCode.OK:
            raise StackcheckError("destroy after the checks left objects behind (listed above); run "
                                  "`stackcheck destroy` again, or delete them by hand")
    except StackcheckError as exc:
        _record(config, "destroy", started, str(exc))
        config.stash.setdefault(_exit_key, int(exc.exit_code))
