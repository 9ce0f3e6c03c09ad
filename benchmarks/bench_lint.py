"""Wall time of `stackcheck lint` on the repository's manifests (target: < 5 s).

Usage: .venv/bin/python benchmarks/bench_lint.py [--runs 5] [--manifests DIR]
Runs the installed console script N times (after one warm-up run that fills the page cache) and
prints min/median/max, plus the renderer lint used (kubectl kustomize or stackcheck's own).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness import REPO, run_ok, spread, timed_runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--manifests", default=str(REPO / "manifests"))
    args = parser.parse_args()
    cli = [str(Path(sys.executable).with_name("stackcheck")), "lint", "--manifests", args.manifests]
    warm = run_ok(cli, "lint")
    renderer = "kubectl kustomize" if "rendered with kubectl" in warm.stdout else "stackcheck's renderer"
    times = timed_runs(cli, args.runs, "lint")
    print(f"stackcheck lint ({renderer}), {args.runs} runs: {spread(times)} (target < 5 s)")


if __name__ == "__main__":
    main()
