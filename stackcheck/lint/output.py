"""How lint reports: promtool-style lines on the console, the verify JSON report, JUnit XML.

Console: ``Checking <thing>`` then ``  SUCCESS: ...`` or one ``  FAILED: <file>: <object>: <problem>``
per problem, and the ``STACKCHECK OK|FAILED - ...`` line monitors parse, as verify prints it.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from stackcheck.lint.result import Item
from stackcheck.report import Report
from stackcheck.secrets import scrub

_INDENT = "      "


def print_items(items: list[Item], console: Console) -> None:
    """One block per item, in check order."""
    for item in items:
        console.print(f"Checking {escape(item.title)}", soft_wrap=True)
        if item.status == "passed":
            console.print(f"  [green]SUCCESS[/]: {escape(item.summary)}", soft_wrap=True)
        elif item.status == "skipped":
            console.print(f"  [yellow]SKIPPED[/]: {escape(str(item.skipped))}", soft_wrap=True)
        elif item.status == "error":
            console.print(
                f"  [magenta]ERROR[/]: {escape(scrub(str(item.error)))} (a bug in stackcheck lint)",
                soft_wrap=True,
            )
        for problem in item.problems:
            first, *rest = scrub(problem).splitlines() or [""]
            console.print(f"  [red]FAILED[/]: {escape(first)}", soft_wrap=True)
            for line in rest:
                console.print(escape(_INDENT + line), soft_wrap=True)
        console.print()


def print_verdict(report: Report, console: Console) -> None:
    line = report.verdict_line()
    console.print(f"[bold {'green' if ' OK ' in line else 'red'}]{escape(line)}[/]", soft_wrap=True)


def write_junit(items: list[Item], report: Report, path: Path) -> None:
    """A JUnit XML file: one testcase per item, classname = the check kind (``lint.schema``)."""
    summary = report.summary()
    suite = ET.Element(
        "testsuite",
        {
            "name": "stackcheck lint",
            "tests": str(len(items)),
            "failures": str(summary["failed"]),
            "errors": str(summary["errors"]),
            "skipped": str(summary["skipped"]),
            "time": f"{report.duration_s:.3f}",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(report.started_at)),
        },
    )
    for item in items:
        case = ET.SubElement(
            suite,
            "testcase",
            {"classname": item.id.split("[", 1)[0], "name": item.id, "time": f"{item.duration_s:.3f}"},
        )
        message = scrub(item.message)
        if item.status in ("failed", "error"):
            tag = "failure" if item.status == "failed" else "error"
            ET.SubElement(case, tag, {"message": message.splitlines()[0] if message else tag}).text = message
        elif item.status == "skipped":
            ET.SubElement(case, "skipped", {"message": message})
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
