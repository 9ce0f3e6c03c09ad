"""Checks across files: rules against dashboards and route tests, alerts against their conventions.

Each file can be valid alone and the stack still wrong: a recording rule nobody reads is dead weight,
an alert without ``severity`` is routed to the default channel, an alert without a route test can
drift to the wrong receiver unnoticed.
"""

from __future__ import annotations

from stackcheck.lint.context import Context
from stackcheck.lint.dashboards import metrics_read
from stackcheck.lint.result import Item
from stackcheck.promql import metric_names

#: Every alert carries these (manifests/config/README.md, "Alerts"); Alertmanager routes on severity.
REQUIRED_LABELS = ("severity",)
REQUIRED_ANNOTATIONS = ("summary", "runbook_url")


def alert_convention_items(ctx: Context) -> list[Item]:
    """``lint.alerts[<rule file>]``: each alert has a severity label, a summary and a runbook_url."""
    items = []
    for path in ctx.rule_files:
        alerts = [r for r in ctx.rules if r.kind == "alert" and r.file == path]
        if not alerts:
            continue
        item = Item(
            f"lint.alerts[{path.name}]",
            f"alert labels and annotations of {ctx.rel(path)}",
            summary=f"{len(alerts)} alerts carry {', '.join(REQUIRED_LABELS + REQUIRED_ANNOTATIONS)}",
        )
        for rule in alerts:
            missing = [f"no {name} label" for name in REQUIRED_LABELS if not rule.labels.get(name)]
            missing += [
                f"no {name} annotation" for name in REQUIRED_ANNOTATIONS if not rule.annotations.get(name)
            ]
            item.problems += [f"{ctx.rel(path)}: alert {rule.name}: {m}" for m in missing]
        items.append(item)
    return items


def recording_rules_used_item(ctx: Context) -> Item:
    """``lint.rules.recording_used``: every recording rule is read by a dashboard or an alert."""
    recording = [r for r in ctx.rules if r.kind == "record"]
    item = Item(
        "lint.rules.recording_used",
        "every recording rule is read by a dashboard or an alert",
        summary=f"{len(recording)} recording rules in use",
    )
    used = metrics_read(ctx)
    for rule in ctx.rules:
        if rule.kind == "alert":
            try:
                used |= metric_names(rule.expr)
            except ValueError:
                continue  # promtool check rules reports it
    item.problems += [
        f"{ctx.rel(r.file)}: recording rule {r.name}: read by no dashboard panel or alert; "
        "use it or remove it"
        for r in recording
        if r.name not in used
    ]
    return item


def route_coverage_item(ctx: Context) -> Item:
    """``lint.routes.coverage``: every alert of the rule files has an entry in routes.test.yml."""
    rel = ctx.rel(ctx.route_tests_path)
    alerts = [r for r in ctx.rules if r.kind == "alert"]
    item = Item(
        "lint.routes.coverage",
        f"every alert has a route test in {rel}",
        summary=f"{len(alerts)} alerts have a route test",
    )
    entries = ctx.route_tests if isinstance(ctx.route_tests, list) else []
    tested = {str(e.get("alert")) for e in entries if isinstance(e, dict)}
    tested |= {
        str((e.get("labels") or {}).get("alertname"))
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("labels"), dict)
    }
    item.problems += [
        f"{ctx.rel(r.file)}: alert {r.name}: no entry in {rel}; add its labels and expected receivers"
        for r in alerts
        if r.name not in tested
    ]
    return item
