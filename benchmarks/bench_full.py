"""Wall time of `stackcheck verify --profile full` at time scale 20, and each alert's latency against
its bound (target: under 3 minutes; latency_s <= 1.5 x bound_s).

Usage: .venv/bin/python benchmarks/bench_full.py
Starts its own stack (port base 28000, temp state dir) and stops it afterwards.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

from harness import CLI, REPO, local_stack


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()  # --help, and no stray arguments
    with tempfile.TemporaryDirectory() as tmp, local_stack(Path(tmp) / "state", 28000) as state:
        report = Path(tmp) / "full.json"
        start = time.perf_counter()
        result = subprocess.run([*CLI, "verify", "--profile", "full", "--json", str(report), *state],
                                capture_output=True, text=True, cwd=REPO, check=False)
        wall = time.perf_counter() - start
        data = json.loads(report.read_text())
        print(f"full profile: exit {result.returncode}, wall {wall:.1f}s, {data['summary']}")
        for check in data["checks"]:
            if check.get("latency_s") is not None:
                ratio = check["latency_s"] / check["bound_s"]
                print(f"  {check['id']:<50} latency {check['latency_s']:6.2f}s  bound "
                      f"{check['bound_s']:6.2f}s  ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
