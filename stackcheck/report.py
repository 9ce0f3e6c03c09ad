"""The verdicts of one verify run: the rich table, the one-line summary and the JSON report.

JSON schema ``stackcheck.report/v1`` (DESIGN.md): additions allowed, renames not.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table

from stackcheck.secrets import scrub

SCHEMA = "stackcheck.report/v1"
Status = Literal["passed", "failed", "skipped", "error"]
#: Below this many columns for the message, the table drops it and lists the messages under the table.
MESSAGE_MIN_WIDTH = 40
_VERDICT_WIDTH, _TIME_WIDTH, _LATENCY_WIDTH = len("skipped"), len("123.45s"), len("latency / bound")
_STYLE = {"passed": "green", "failed": "red", "skipped": "yellow", "error": "magenta"}


@dataclass
class CheckResult:
    """One check's verdict."""

    id: str
    component: str
    status: Status
    duration_s: float
    message: str = ""
    latency_s: float | None = None
    bound_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "component": self.component, "status": self.status,
                               "duration_s": round(self.duration_s, 3), "message": scrub(self.message)}
        if self.latency_s is not None:
            out["latency_s"] = round(self.latency_s, 3)
        if self.bound_s is not None:
            out["bound_s"] = round(self.bound_s, 3)
        return out


INTERRUPTED_NOTE = ("Interrupted (Ctrl-C or SIGTERM): the checks above ran, the others did not; whatever "
                    "this run injected was cleared on the way out (`stackcheck cleanup` reverts any "
                    "leftover)")


@dataclass
class Report:
    """All verdicts of a run plus its settings."""

    target: str
    profile: str
    time_scale: float
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    checks: list[CheckResult] = field(default_factory=list)
    #: Stopped by Ctrl-C or SIGTERM: the checks not listed never ran, so the run proves nothing as a whole.
    interrupted: bool = False

    def summary(self) -> dict[str, int]:
        counts = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
        for check in self.checks:
            counts["errors" if check.status == "error" else check.status] += 1
        return counts

    @property
    def duration_s(self) -> float:
        return (self.finished_at or time.time()) - self.started_at

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "target": self.target,
            "profile": self.profile,
            "time_scale": self.time_scale,
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at)),
            "duration_s": round(self.duration_s, 3),
            "summary": self.summary(),
            "interrupted": self.interrupted,
            "checks": [c.to_json() for c in self.checks],
        }

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    def verdict_line(self) -> str:
        """One line a monitor can parse, such as
        ``STACKCHECK OK - 5 passed, 0 failed, 1 skipped, 0 errors in 2.1s``."""
        s = self.summary()
        word = "INTERRUPTED" if self.interrupted else "OK" if s["failed"] == 0 and s["errors"] == 0 \
            else "FAILED"
        return (f"STACKCHECK {word} - {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped, "
                f"{s['errors']} errors in {self.duration_s:.1f}s")

    def print_table(self, console: Console) -> None:
        """One row per check: verdict, id, duration, latency against bound, and the message.

        When the message column would be narrower than :data:`MESSAGE_MIN_WIDTH` (an 80-column terminal,
        or long check ids), a list replaces the table: one line per check without its message, then every
        message that is not a pass, word-wrapped at the full width, as pytest prints its failures after
        the progress line. Verdicts never wrap or shrink.
        """
        with_latency = any(c.latency_s is not None and c.bound_s for c in self.checks)
        fixed = _VERDICT_WIDTH + max([len(c.id) for c in self.checks] + [5]) + _TIME_WIDTH + \
            (_LATENCY_WIDTH if with_latency else 0)
        columns = 4 + (1 if with_latency else 0)
        wide = console.width - fixed - 3 * columns - 1 >= MESSAGE_MIN_WIDTH
        title = f"stackcheck: target {self.target}, profile {self.profile}, time scale {self.time_scale:g}"
        if wide:
            table = Table(title=title, title_justify="left")
        else:
            console.print(f"[bold]{escape(title)}[/]", overflow="fold")
            table = Table.grid(padding=(0, 1))
        table.add_column("verdict", no_wrap=True, min_width=_VERDICT_WIDTH)
        table.add_column("time", justify="right", no_wrap=True, min_width=_TIME_WIDTH)
        table.add_column("check", overflow="fold")
        if wide and with_latency:
            table.add_column("latency / bound", justify="right", no_wrap=True)
        if wide:
            table.add_column("message", overflow="fold", ratio=1)
        for c in self.checks:
            latency = (f"{c.latency_s:.1f}s / {c.bound_s:.1f}s"
                       if c.latency_s is not None and c.bound_s else "")
            row = [f"[{_STYLE[c.status]}]{c.status}[/]", f"{c.duration_s:.2f}s", escape(c.id)]
            if wide:
                row += [latency, escape(scrub(c.message))] if with_latency else [escape(scrub(c.message))]
            elif latency:
                row[2] += f"  latency {latency}"  # a list line: latency against bound after the id
            table.add_row(*row)
        console.print(table)
        if not wide:
            self._print_messages(console)
        style = "green" if self.verdict_line().startswith("STACKCHECK OK") else "red"
        console.print(f"[bold {style}]{self.verdict_line()}[/]", soft_wrap=True)
        if self.interrupted:
            console.print(INTERRUPTED_NOTE, soft_wrap=True)

    def _print_messages(self, console: Console) -> None:
        """The narrow layout's list: each failure and error with its message, then each skip reason once,
        under the ids of the checks it skipped; passes say nothing."""
        for c in self.checks:
            if c.status in ("failed", "error") and c.message:
                self._print_entry(console, c.status, [c.id], c.message)
        skipped: dict[str, list[str]] = {}
        for c in self.checks:
            if c.status == "skipped" and c.message:
                skipped.setdefault(c.message, []).append(c.id)
        for message, ids in skipped.items():
            self._print_entry(console, "skipped", ids, message)

    @staticmethod
    def _print_entry(console: Console, status: str, ids: list[str], message: str) -> None:
        heading = f"\n[bold {_STYLE[status]}]{status.upper()}[/] {escape(', '.join(ids))}"
        console.print(heading, overflow="fold")
        console.print(Padding(escape(scrub(message)), (0, 0, 0, 2)), overflow="fold")
