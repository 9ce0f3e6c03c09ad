"""Helpers to run a real local stack (Debian's Prometheus and Alertmanager) from the tests.

Each stack gets its own state dir and a free port base, so tests never touch a user's running stack. Bases
stay below 32768, where Linux starts handing out ephemeral client ports that could collide with ours.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stackcheck.local.ports import Ports

REPO = Path(__file__).resolve().parent.parent
STACKCHECK = [sys.executable, "-m", "stackcheck.cli"]
NEEDED = ("prometheus", "prometheus-alertmanager", "prometheus-node-exporter", "prometheus-blackbox-exporter")
TIME_SCALE = "20"

needs_binaries = pytest.mark.skipif(
    any(shutil.which(b) is None for b in NEEDED),
    reason="needs Debian's prometheus, prometheus-alertmanager, prometheus-node-exporter and "
           "prometheus-blackbox-exporter (scripts/setup.sh installs them)",
)


@dataclass
class Stack:
    """A local stack started by `stackcheck up` for one test module."""

    state_dir: Path
    manifests: Path
    port_base: int

    def run(self, *args: str, timeout: float = 120, columns: int = 200) -> subprocess.CompletedProcess[str]:
        """Run a stackcheck command against this stack, its output ``columns`` wide (rich reads COLUMNS)."""
        argv = [*STACKCHECK, *args]
        if args[0] in ("up", "verify"):
            argv += ["--manifests", str(self.manifests)]
        argv += ["--state-dir", str(self.state_dir)]
        if args[0] == "up":
            argv += ["--port-base", str(self.port_base), "--time-scale", TIME_SCALE]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=REPO, check=False,
                              env={**os.environ, "COLUMNS": str(columns)})

    def state(self) -> dict[str, object]:
        return dict(json.loads((self.state_dir / "state.json").read_text()))

    def pids(self) -> dict[str, int]:
        return {p["name"]: p["pid"] for p in self.state()["processes"]}  # type: ignore[attr-defined]

    def up(self) -> None:
        result = self.run("up")
        assert result.returncode == 0, f"stackcheck up failed:\n{result.stdout}\n{result.stderr}"

    def down(self) -> None:
        self.run("down")


def running_stack(base: Path) -> Iterator[Stack]:
    """A local stack under ``base`` on private ports, for a module-scoped fixture: up, yield, then down
    and kill whatever still runs under its state dir."""
    started = Stack(base / "state", copy_manifests(base / "manifests"), port_base=free_port_base())
    started.up()
    yield started
    started.down()
    for pid in processes_under(started.state_dir):
        kill(pid)


def free_port_base() -> int:
    """A port base whose every port is free now, picked at random so concurrent test runs rarely meet."""
    candidates = list(range(10_200, 31_800, 600))
    random.shuffle(candidates)
    for base in candidates:
        if all(_free(port) for port in Ports(base).all().values()):
            return base
    raise RuntimeError("no free port base between 10200 and 32400 on 127.0.0.1")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def copy_manifests(dest: Path) -> Path:
    """A private copy of the repository's manifests, for seeding defects."""
    shutil.copytree(REPO / "manifests", dest)
    return dest


def processes_under(path: Path) -> list[int]:
    """Pids of running processes whose command line mentions ``path`` (leftover detection)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if str(path) in cmdline and state != "Z":
            found.append(int(proc.name))
    return found


def kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
