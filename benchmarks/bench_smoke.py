"""Wall time of `stackcheck verify --profile smoke` on a healthy, warm local stack (target: < 5 s).

Usage: .venv/bin/python benchmarks/bench_smoke.py [--runs 5]
Starts its own stack (time scale 20, port base 27000, a temp state dir), warms it with one verify,
then times N runs and prints min/median/max. Stops the stack afterwards.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from harness import CLI, local_stack, spread, timed_runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, local_stack(Path(tmp) / "state", 27000) as state:
        timed_runs([*CLI, "verify", *state], 1, "the warm-up verify")
        times = timed_runs([*CLI, "verify", *state], args.runs, "verify")
        print(f"smoke profile, {args.runs} runs: {spread(times)} (target < 5 s)")


if __name__ == "__main__":
    main()
