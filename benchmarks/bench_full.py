"""Wall time of `stackcheck verify --profile full` at time scale 20, and each alert's latency against
its bound (target: under 3 minutes; latency_s <= 1.5 x bound_s).

Usage: .venv/bin/python benchmarks/bench_full.py
Starts its own stack (port base 28000, temp state dir) and stops it afterwards.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        state = ["--state-dir", str(Path(tmp) / "state")]
        cli = [sys.executable, "-m", "stackcheck.cli"]
        subprocess.run([*cli, "up", "--time-scale", "20", "--port-base", "28000", *state], check=True,
                       capture_output=True, cwd=REPO)
        try:
            report = Path(tmp) / "full.json"
            start = time.perf_counter()
            result = subprocess.run([*cli, "verify", "--profile", "full", "--json", str(report), *state],
                                    capture_output=True, text=True, cwd=REPO, check=False)
            wall = time.perf_counter() - start
            data = json.loads(report.read_text())
            print(f"full profile: exit {result.returncode}, wall {wall:.1f}s, {data['summary']}")
            for check in data["checks"]:
                if check.get("latency_s") is not None:
                    ratio = check["latency_s"] / check["bound_s"]
                    print(f"  {check['id']:<50} latency {check['latency_s']:6.2f}s  bound "
                          f"{check['bound_s']:6.2f}s  ratio {ratio:.2f}")
        finally:
            subprocess.run([*cli, "down", *state], capture_output=True, cwd=REPO, check=False)


if __name__ == "__main__":
    main()
