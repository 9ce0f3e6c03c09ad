"""Faults on the local runtime: the probe's switches, killing a probe instance, filling a tmpfs.

Each injection checks that it took and fails loudly otherwise (a fault that silently does not apply turns
every verdict after it into a lie): switches are read back from the probe, a killed process must be gone,
a filled disk must report itself almost full.
"""
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
from stackcheck.errors import ApiError, UsageError
from stackcheck.local import processes
from stackcheck.local.restart import restart
from stackcheck.local.state import LocalState
from stackcheck.wait import until

#: Size of the tmpfs the DiskSpaceLow fault fills (small: it lives in RAM).
DISK_TMPFS_SIZE = "4m"
#: The share of the tmpfs the fill writes, and the least the disk must then report used (DiskSpaceLow
#: fires below 10% free).
DISK_FILL_RATIO = 0.97
DISK_CONFIRM_RATIO = 0.90
#: How long a SIGKILLed process may take to be gone (the kernel reaps it at once; this is scheduling slack).
KILL_CONFIRM_S = 5.0
#: Pause between checks that a killed process is gone: a SIGKILLed process dies in milliseconds.
KILL_POLL_S = 0.05


def set_switches(probe_url: str, run_id: str, switches: dict[str, Any]) -> None:
    """POST fault switches to a probe (``0``/``false`` turns a switch off) and read them back; a switch that
    did not take is a :class:`~stackcheck.clients.probe.FaultNotApplied` naming it."""
    ProbeClient(Http("probe", probe_url)).set_faults(run_id, switches)


def kill_service(state_dir: Path, name: str) -> None:
    """SIGKILL one process of the local stack (a pod that disappears), and check that it is gone."""
    state = LocalState.require(state_dir)
    found = [proc for proc in state.processes if proc.name == name]
    if not found:
        raise UsageError(f"the local stack in {state_dir} has no process {name!r} to kill")
    for proc in found:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        until(functools.partial(_gone, proc), KILL_CONFIRM_S, interval_s=KILL_POLL_S)
        if processes.alive(proc):
            raise ApiError(f"{name} (pid {proc.pid}) still runs {KILL_CONFIRM_S:g}s after SIGKILL; the "
                           "PodDown fault did not take (is the pid owned by another user?)")


def _gone(proc: processes.Proc) -> bool:
    return not processes.alive(proc)


def restart_service(state_dir: Path, name: str) -> None:
    """Bring a killed process back with its recorded command."""
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
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_TMPFS_SIZE}", "stackcheck-fault",
                        str(mount)], check=True, capture_output=True)
    usage = shutil.disk_usage(mount)
    try:
        with open(mount / "fill", "wb") as out:
            out.write(b"\0" * int(usage.total * DISK_FILL_RATIO))
    except OSError as exc:
        raise ApiError(f"filling {mount} for DiskSpaceLow failed: {exc.strerror}") from exc
    after = shutil.disk_usage(mount)
    if not os.path.ismount(mount) or after.used < DISK_CONFIRM_RATIO * after.total:
        raise ApiError(f"the DiskSpaceLow fault did not take: {mount} reports {after.used} of {after.total} "
                       f"bytes used (want at least {DISK_CONFIRM_RATIO:.0%}); is it the tmpfs stackcheck "
                       "mounted?")


def clear_disk(state_dir: Path) -> None:
    """Unmount the tmpfs (idempotent)."""
    mount = disk_mount(state_dir)
    if os.path.ismount(mount):
        subprocess.run(["umount", str(mount)], check=False, capture_output=True)
    if mount.exists() and not os.path.ismount(mount):
        shutil.rmtree(mount, ignore_errors=True)
