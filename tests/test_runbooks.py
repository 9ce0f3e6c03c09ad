"""Every alert's runbook_url points at a section that exists in docs/runbooks.md."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml

REPO = Path(__file__).resolve().parents[1]
RULES_DIR = REPO / "manifests" / "config" / "prometheus" / "rules"
RUNBOOKS = REPO / "docs" / "runbooks.md"
RUNBOOKS_URL = "https://github.com/stackcheck/stackcheck/blob/main/docs/runbooks.md"

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces become '-'."""
    text = _LINK.sub(r"\1", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Anchors of every ATX heading outside fenced code blocks (duplicates get -1, -2, ... as on GitHub)."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    fence: str | None = None
    for line in markdown.splitlines():
        opening = _FENCE.match(line)
        if fence is not None:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(fence):
                fence = None
            continue
        if opening:
            fence = opening.group(1)
            continue
        heading = _HEADING.match(line)
        if heading:
            base = github_anchor(heading.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def _alerts() -> list[tuple[str, str, str]]:
    """(rule file, alert, runbook_url) for every alerting rule."""
    out = []
    for path in sorted(RULES_DIR.glob("*.rules.yml")):
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups") or []:
            for rule in group.get("rules") or []:
                if "alert" in rule:
                    url = str((rule.get("annotations") or {}).get("runbook_url", ""))
                    out.append((path.name, str(rule["alert"]), url))
    return out


def test_every_runbook_url_anchor_is_a_heading_in_docs_runbooks() -> None:
    alerts = _alerts()
    assert len(alerts) >= 14, (f"expected the 13 reference alerts and Watchdog in {RULES_DIR}, found "
                               f"{len(alerts)}")
    assert RUNBOOKS.is_file(), f"{RUNBOOKS.relative_to(REPO)} is missing"
    known = anchors(RUNBOOKS.read_text())
    problems = []
    for file, alert, url in alerts:
        parts = urlsplit(url)
        page = f"{parts.scheme}://{parts.netloc}{parts.path}"
        if page != RUNBOOKS_URL or not parts.fragment:
            problems.append(f"{file}: {alert} has runbook_url {url!r}, expected {RUNBOOKS_URL}#<anchor>")
        elif parts.fragment not in known and github_anchor(alert) in known:
            problems.append(f"{file}: {alert} links #{parts.fragment}, but its section `## {alert}` has the "
                            f"anchor #{github_anchor(alert)}. Hint: fix the runbook_url anchor in {file}")
        elif parts.fragment not in known:
            problems.append(f"{file}: {alert} links #{parts.fragment}, which no heading of docs/runbooks.md "
                            f"produces. Hint: add a `## {alert}` section to docs/runbooks.md")
    assert not problems, "\n".join(problems)

