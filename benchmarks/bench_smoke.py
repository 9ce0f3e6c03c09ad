"""Wall time of `stackcheck verify --profile smoke` on a healthy, warm local stack (target: < 5 s).

Usage: .venv/bin/python benchmarks/bench_smoke.py [--runs 5]
Starts its own stack (time scale 20, port base 27000, a temp state dir), warms it with one verify,
then times N runs and prints min/median/max. Stops the stack afterwards.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = ["--state-dir", str(Path(tmp) / "state")]
        cli = [sys.executable, "-m", "stackcheck.cli"]
        subprocess.run([*cli, "up", "--time-scale", "20", "--port-base", "27000", *state], check=True,
                       capture_output=True, cwd=REPO)
        try:
            subprocess.run([*cli, "verify", *state], check=True, capture_output=True, cwd=REPO)  # warm-up
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                result = subprocess.run([*cli, "verify", *state], capture_output=True, text=True, cwd=REPO,
                                        check=False)
                times.append(time.perf_counter() - start)
                if result.returncode != 0:
                    sys.exit(f"verify failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
            print(f"smoke profile, {args.runs} runs: min {min(times):.2f}s  median "
                  f"{statistics.median(times):.2f}s  max {max(times):.2f}s (target < 5 s)")
        finally:
            subprocess.run([*cli, "down", *state], capture_output=True, cwd=REPO, check=False)


if __name__ == "__main__":
    main()
