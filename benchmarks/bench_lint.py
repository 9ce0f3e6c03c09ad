"""Wall time of `stackcheck lint` on the repository's manifests (target: < 5 s).

Usage: .venv/bin/python benchmarks/bench_lint.py [--runs 5] [--manifests DIR]
Runs the installed console script N times (after one warm-up run that fills the page cache) and
prints min/median/max, plus the renderer lint used (kubectl kustomize or stackcheck's own).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--manifests", default=str(REPO / "manifests"))
    args = parser.parse_args()
    cli = [str(Path(sys.executable).with_name("stackcheck")), "lint", "--manifests", args.manifests]
    warm = subprocess.run(cli, capture_output=True, text=True, cwd=REPO, check=False)
    if warm.returncode != 0:
        sys.exit(f"lint failed (exit {warm.returncode}):\n{warm.stdout}\n{warm.stderr}")
    renderer = "kubectl kustomize" if "rendered with kubectl" in warm.stdout else "stackcheck's renderer"
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        result = subprocess.run(cli, capture_output=True, text=True, cwd=REPO, check=False)
        times.append(time.perf_counter() - start)
        if result.returncode != 0:
            sys.exit(f"lint failed (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    print(
        f"stackcheck lint ({renderer}), {args.runs} runs: min {min(times):.2f}s  "
        f"median {statistics.median(times):.2f}s  max {max(times):.2f}s (target < 5 s)"
    )


if __name__ == "__main__":
    main()
