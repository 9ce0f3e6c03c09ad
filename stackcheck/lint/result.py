"""One lint item's verdict, printed promtool-style and turned into a report check.

An item is one thing checked (a rendering, a rule file, a route test); it passes, or it carries
problems, each written ``<file>: <object>: <problem>`` so the reader knows what to open and fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stackcheck.report import CheckResult, Status


@dataclass
class Item:
    """The verdict of one lint item.

    ``title`` completes "Checking <title>"; ``summary`` is the SUCCESS text; ``problems`` make it fail;
    ``skipped`` says why it did not run; ``error`` is a bug in lint itself (an unexpected exception).
    """

    id: str
    title: str
    summary: str = ""
    problems: list[str] = field(default_factory=list)
    skipped: str | None = None
    error: str | None = None
    duration_s: float = 0.0

    @property
    def status(self) -> Status:
        if self.error is not None:
            return "error"
        if self.problems:
            return "failed"
        return "skipped" if self.skipped is not None else "passed"

    @property
    def message(self) -> str:
        if self.error is not None:
            return self.error
        if self.problems:
            return "\n".join(self.problems)
        return self.skipped if self.skipped is not None else self.summary

    def to_check(self) -> CheckResult:
        return CheckResult(
            id=self.id,
            component="manifests",
            status=self.status,
            duration_s=self.duration_s,
            message=self.message,
        )
