"""One smoke round: ``stackcheck verify --profile smoke`` in a child process, read back from its JSON report.

A child process per round keeps every round independent: pytest is not meant to run twice in one
process, a hung check is killed at the round's deadline, and memory cannot creep across rounds. The
child never gets ``--allow-faults``, and the profile is always ``smoke``, whatever the environment says.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stackcheck.errors import ExitCode
from stackcheck.secrets import scrub
from stackcheck.serve.metrics import Round
from stackcheck.wait import until

#: Lines of the child's stderr kept as the reason of a round that wrote no report.
STDERR_TAIL_LINES = 5
#: How often a round's child is asked whether it has exited.
EXIT_POLL_S = 0.1


def smoke_command(target_args: Sequence[str], report: Path) -> list[str]:
    """The child's command line: the verify sub-command, profile smoke, a JSON report, the target options.

    >>> smoke_command(["--target", "urls"], Path("/tmp/r.json"))[3:]
    ['verify', '--profile', 'smoke', '--json', '/tmp/r.json', '--target', 'urls']
    """
    if "--allow-faults" in target_args or "--profile" in target_args:
        raise ValueError("serve passes neither --profile nor --allow-faults to a round")
    return [sys.executable, "-m", "stackcheck.cli", "verify", "--profile", "smoke", "--json", str(report),
            *target_args]


def run_round(target_args: Sequence[str], deadline_s: float, stop: threading.Event | None = None) -> Round:
    """Run one smoke round and return its verdicts.

    A round that overruns ``deadline_s``, or is still running when ``stop`` is set (serve shutting down),
    gets SIGTERM (verify then exits 4 after its own clean-up), and SIGKILL if it lingers.
    """
    started = time.monotonic()
    stop = stop or threading.Event()
    with tempfile.TemporaryDirectory(prefix="stackcheck-serve-") as tmp:
        report_path = Path(tmp) / "report.json"
        env = {**os.environ, "STACKCHECK_PROFILE": "smoke", "COLUMNS": "160"}
        with subprocess.Popen(smoke_command(target_args, report_path), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env) as proc:
            reader = _Tail(proc)
            why = ""
            left = deadline_s - (time.monotonic() - started)
            if not until(lambda: proc.poll() is not None, left, interval_s=EXIT_POLL_S, stop=stop):
                why = ("serve is shutting down; the smoke run was stopped" if stop.is_set()
                       else f"the smoke run did not finish within {deadline_s:g}s and was stopped")
                _stop(proc)
            reader.join()
            code = int(ExitCode.INTERRUPTED) if why else int(proc.returncode)
            stderr = (why + "\n" if why else "") + reader.text()
        report = _load(report_path)
    duration = time.monotonic() - started
    tail = "\n".join(line for line in stderr.strip().splitlines()[-STDERR_TAIL_LINES:])
    checks = list((report or {}).get("checks") or [])
    return Round(exit_code=code, duration_s=duration, finished_at=time.time(), checks=checks, report=report,
                 error="" if checks else scrub(tail))


class _Tail(threading.Thread):
    """Drain the child's stderr (so a chatty round cannot block on a full pipe) and keep its end."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        super().__init__(daemon=True)
        self._proc = proc
        self._lines: list[str] = []
        self.start()

    def run(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._lines = (self._lines + [line.rstrip("\n")])[-50:]

    def text(self) -> str:
        return "\n".join(self._lines)


def _stop(proc: subprocess.Popen[str], grace_s: float = 10.0) -> None:
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _load(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None

