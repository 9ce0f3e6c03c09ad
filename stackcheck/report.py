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
from rich.table import Table

from stackcheck.secrets import scrub

SCHEMA = "stackcheck.report/v1"
Status = Literal["passed", "failed", "skipped", "error"]
COMPONENTS = ("prometheus", "alertmanager", "loki", "jaeger", "grafana", "manifests", "probe")
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


@dataclass
class Report:
    """All verdicts of a run plus its settings."""

    target: str
    profile: str
    time_scale: float
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    checks: list[CheckResult] = field(default_factory=list)

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
            "checks": [c.to_json() for c in self.checks],
        }

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")

    def verdict_line(self) -> str:
        """One line a monitor can parse: ``STACKCHECK OK - 5 passed, 0 failed, 1 skipped, 0 errors in 2.1s``."""
        s = self.summary()
        word = "OK" if s["failed"] == 0 and s["errors"] == 0 else "FAILED"
        return (f"STACKCHECK {word} - {s['passed']} passed, {s['failed']} failed, {s['skipped']} skipped, "
                f"{s['errors']} errors in {self.duration_s:.1f}s")

    def print_table(self, console: Console) -> None:
        """One row per check: verdict, id, duration, latency against bound, and the message."""
        table = Table(title=f"stackcheck: target {self.target}, profile {self.profile}, "
                            f"time scale {self.time_scale:g}", show_lines=False)
        table.add_column("verdict", no_wrap=True)
        table.add_column("check", no_wrap=True)
        table.add_column("time", justify="right", no_wrap=True)
        table.add_column("latency / bound", justify="right", no_wrap=True)
        table.add_column("message", overflow="fold")
        for c in self.checks:
            latency = f"{c.latency_s:.1f}s / {c.bound_s:.1f}s" if c.latency_s is not None and c.bound_s else ""
            table.add_row(f"[{_STYLE[c.status]}]{c.status}[/]", escape(c.id), f"{c.duration_s:.2f}s", latency,
                          escape(scrub(c.message)))
        console.print(table)
        style = "green" if "OK" in self.verdict_line() else "red"
        console.print(f"[bold {style}]{self.verdict_line()}[/]")
