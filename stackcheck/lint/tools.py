"""Run promtool, amtool and kubectl as subprocesses and keep what they say about the problem.

The tools are the authority on their own formats, so lint quotes their messages rather than
re-checking what they check; only their progress lines ("Checking x", "SUCCESS") are dropped.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

#: A tool's message is cut to this many lines in a report (promtool's exp/got dumps can be long).
MAX_LINES = 40
_PROGRESS = ("Checking ", "Unit Testing:", "SUCCESS", "FAILED:", "Warning: --config.file flag overrides")


@dataclass(frozen=True)
class Ran:
    """A finished tool run."""

    code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.code == 0

    def message(self, replace: dict[str, str] | None = None) -> str:
        """The tool's own words (stdout then stderr), progress lines dropped, paths renamed, cut."""
        text = self.stdout + "\n" + self.stderr
        for old, new in (replace or {}).items():
            text = text.replace(old, new)
        lines = [
            line.rstrip()
            for line in text.splitlines()
            if line.strip() and not line.strip().startswith(_PROGRESS)
        ]
        if len(lines) > MAX_LINES:
            lines = lines[:MAX_LINES] + [f"… ({len(lines) - MAX_LINES} more lines)"]
        return "\n".join(lines) or f"exit code {self.code}, no message"


def run(argv: list[str | Path], cwd: Path, timeout_s: float = 60.0) -> Ran:
    """Run a tool to completion; a timeout becomes exit code -1 with a message saying so."""
    try:
        proc = subprocess.run(
            [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        return Ran(-1, "", f"{Path(str(argv[0])).name} did not finish within {timeout_s:g} s")
    return Ran(proc.returncode, proc.stdout, proc.stderr)
