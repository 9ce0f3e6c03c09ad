"""Faults on the local runtime: the probe's switches, killing a probe instance, filling a tmpfs."""
from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from stackcheck.clients.http import Http
from stackcheck.clients.probe import ProbeClient
from stackcheck.local.state import LocalState

#: Size of the tmpfs the DiskSpaceLow fault fills (small: it lives in RAM).
DISK_TMPFS_SIZE = "4m"


def set_switches(probe_url: str, run_id: str, switches: dict[str, Any]) -> None:
    """POST fault switches to a probe (``0``/``false`` turns a switch off)."""
    ProbeClient(Http("probe", probe_url)).set_faults(run_id, switches)


def kill_service(state_dir: Path, name: str) -> None:
    """SIGKILL one process of the local stack (a pod that disappears)."""
    state = LocalState.require(state_dir)
    for proc in state.processes:
        if proc.name == name:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def restart_service(state_dir: Path, name: str) -> None:
    """Bring a killed process back with its recorded command."""
    from stackcheck.local.runtime import restart
    restart(state_dir, name)


def disk_mount(state_dir: Path) -> Path:
    return state_dir / "faults" / "disk"


@functools.cache
def tmpfs_unavailable() -> str | None:
    """Why a tmpfs cannot be mounted here (not root, or no CAP_SYS_ADMIN in a container), or None.

    Tried once for real on a throwaway directory, because only the kernel knows.
    """
    if os.geteuid() != 0:
        return "mounting the fault tmpfs needs root"
    with tempfile.TemporaryDirectory(prefix="stackcheck-mount-") as probe:
        ran = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "stackcheck-probe", probe],
                             capture_output=True, text=True, check=False)
        if ran.returncode != 0:
            return f"mounting a tmpfs is not permitted here ({ran.stderr.strip()[:120] or 'mount failed'})"
        subprocess.run(["umount", probe], capture_output=True, check=False)
    return None


def fill_disk(state_dir: Path) -> None:
    """Mount a small tmpfs and fill it to 97%, so node-exporter reports it almost full."""
    mount = disk_mount(state_dir)
    mount.mkdir(parents=True, exist_ok=True)
    if not os.path.ismount(mount):
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_TMPFS_SIZE}", "stackcheck-fault", str(mount)],
                       check=True, capture_output=True)
    usage = shutil.disk_usage(mount)
    with open(mount / "fill", "wb") as out:
        out.write(b"\0" * int(usage.total * 0.97))


def clear_disk(state_dir: Path) -> None:
    """Unmount the tmpfs (idempotent)."""
    mount = disk_mount(state_dir)
    if os.path.ismount(mount):
        subprocess.run(["umount", str(mount)], check=False, capture_output=True)
    if mount.exists() and not os.path.ismount(mount):
        shutil.rmtree(mount, ignore_errors=True)
