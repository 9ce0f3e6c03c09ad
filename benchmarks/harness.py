"""What the benchmarks share: the CLI they run, a local stack of their own, and timed runs of a command.

The benchmarks run as scripts (``.venv/bin/python benchmarks/bench_smoke.py``), so this module is found
next to them on ``sys.path``.
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: The CLI of this checkout, run by the interpreter that runs the benchmark.
CLI = [sys.executable, "-m", "stackcheck.cli"]


@contextmanager
def local_stack(state_dir: Path, port_base: int) -> Iterator[list[str]]:
    """`stackcheck up` at time scale 20 on ``port_base`` with its state in ``state_dir``; yields the
    ``--state-dir`` arguments for the commands run against it, and stops the stack afterwards, even when
    the benchmark fails or is interrupted."""
    state = ["--state-dir", str(state_dir)]
    try:
        run_ok([*CLI, "up", "--time-scale", "20", "--port-base", str(port_base), *state], "stackcheck up")
        yield state
    finally:
        subprocess.run([*CLI, "down", *state], capture_output=True, cwd=REPO, check=False)


def run_ok(command: list[str], what: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in the repository; exit naming ``what``, with its output, when it fails."""
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)
    if result.returncode != 0:
        sys.exit(f"{what} failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def timed_runs(command: list[str], runs: int, what: str) -> list[float]:
    """The wall time of each of ``runs`` runs of ``command`` (:func:`run_ok`)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run_ok(command, what)
        times.append(time.perf_counter() - started)
    return times


def spread(times: list[float]) -> str:
    """``min 1.20s  median 1.31s  max 1.52s``."""
    return f"min {min(times):.2f}s  median {statistics.median(times):.2f}s  max {max(times):.2f}s"
