"""Start and stop the local stack's processes, and tell whether they still run.

Each process gets its own session (so a Ctrl-C in the terminal reaches stackcheck, which then stops
them in order) and its own log file. A pid is only signalled when its command line still matches what
stackcheck started: a recycled pid belonging to something else is never touched.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from stackcheck.wait import until

#: How often a stopping process is asked whether it has exited, and how long SIGKILL gets to end it.
EXIT_POLL_S = 0.05
KILL_GRACE_S = 5.0


@dataclass(frozen=True)
class Proc:
    """A process stackcheck started: enough to find it again from another invocation."""

    name: str
    pid: int
    argv0: str
    log: str
    argv: list[str] = field(default_factory=list)


def start(name: str, argv: list[str], log: Path, *, env: dict[str, str] | None = None,
          cwd: Path | None = None, append: bool = True) -> Proc:
    """Start ``argv`` detached from the terminal, writing output to ``log`` (appending, or afresh)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    # `up` holds SIGINT/SIGTERM while it starts a process; a child must not inherit that mask. Only
    # then is a preexec_fn needed (it is unsafe with threads, and fault threads also restart processes).
    held = signal.pthread_sigmask(signal.SIG_BLOCK, set()) & {signal.SIGINT, signal.SIGTERM}
    with open(log, "ab" if append else "wb") as out:
        popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, **(env or {})}, cwd=cwd,
            preexec_fn=_unblock_signals if held else None,  # noqa: PLW1509 - single-threaded `up` only
        )
    _children[popen.pid] = popen
    return Proc(name=name, pid=popen.pid, argv0=argv[0], log=str(log), argv=list(argv))


def _unblock_signals() -> None:
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


#: Popen objects of processes started by this interpreter, so they can be reaped (no zombies).
_children: dict[int, subprocess.Popen[bytes]] = {}


def alive(proc: Proc) -> bool:
    """True while the process runs and is still the program stackcheck started."""
    child = _children.get(proc.pid)
    if child is not None and child.poll() is not None:
        return False
    try:
        stat = Path(f"/proc/{proc.pid}/stat").read_text()
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    if state in ("Z", "X"):
        return False
    return bool(cmdline) and os.fsdecode(cmdline[0]) == proc.argv0


def exit_code(proc: Proc) -> int | None:
    """The exit status, when this interpreter started the process and it has ended."""
    child = _children.get(proc.pid)
    return None if child is None else child.poll()


def stop(proc: Proc, budget_s: float = 10.0) -> None:
    """SIGTERM the process group, wait up to ``budget_s``, then SIGKILL it."""
    if not alive(proc):
        _reap(proc)
        return
    _signal_group(proc, signal.SIGTERM)
    if not until(lambda: not alive(proc), budget_s, interval_s=EXIT_POLL_S):
        _signal_group(proc, signal.SIGKILL)
        until(lambda: not alive(proc), KILL_GRACE_S, interval_s=EXIT_POLL_S)
    _reap(proc)


def _signal_group(proc: Proc, sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(proc.pid, sig)


def _reap(proc: Proc) -> None:
    child = _children.pop(proc.pid, None)
    if child is not None:
        try:
            child.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass


#: An error line in the log formats of the stack's Go programs, in any case: go-kit logfmt
#: (``level=error``, Prometheus 2.x, Alertmanager), log/slog logfmt (``level=ERROR``, Prometheus 3.x) and
#: JSON (``"level":"error"`` / ``"level": "ERROR"``, with ``--log.format=json``).
ERROR_LINE = re.compile(r'(?:^|[\s{,])"?level"?\s*[=:]\s*"?(?:error|fatal|crit)\b', re.IGNORECASE)


def log_tail(proc: Proc, lines: int = 8) -> str:
    """Why a process did not start: its error lines (Prometheus logs the cause well before it exits),
    else the last lines of its log."""
    try:
        text = Path(proc.log).read_text(errors="replace")
    except OSError:
        return ""
    all_lines = text.rstrip().splitlines()
    errors = [line for line in all_lines if ERROR_LINE.search(line)]
    return "\n".join((errors or all_lines)[-lines:])
