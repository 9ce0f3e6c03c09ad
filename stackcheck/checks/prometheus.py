"""Judge Prometheus targets, rules and alerts."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from stackcheck.clients.prometheus import RuleGroup, Target

MISSING_JOB = "job {job!r}: no scrape target at all (is its service discovery or static config right?)"
DOWN_TARGET = "job {job!r}: target {instance} is {health}: {error}"
RULE_ERROR = "rule {name!r} (group {group!r}, {file}): {error}"
RULE_NOT_LOADED = "rule {name!r} is not loaded by Prometheus (check rule_files and the rule file)"


def job_problems(targets: Iterable[Target], expected_jobs: Iterable[str]) -> list[str]:
    """Expected jobs without any target, and every target that is not up, with its lastError."""
    by_job: dict[str, list[Target]] = defaultdict(list)
    for target in targets:
        by_job[target.get("scrapePool") or target.get("labels", {}).get("job", "?")].append(target)
    problems = [MISSING_JOB.format(job=job) for job in expected_jobs if not by_job.get(job)]
    for job in sorted(by_job):
        for target in by_job[job]:
            if target.get("health") != "up":
                problems.append(DOWN_TARGET.format(
                    job=job, instance=target.get("labels", {}).get("instance", target.get("scrapeUrl")),
                    health=target.get("health", "unknown"),
                    error=target.get("lastError") or "not scraped yet",
                ))
    return problems


#: One small instant query answers "which jobs have targets, and how many of them are down": two series
#: per job instead of every target's JSON (about 520 bytes per target from /api/v1/targets).
UP_BY_JOB = ('label_replace(count by (job) (up), "up_state", "total", "", "") or '
             'label_replace(count by (job) (up == 0), "up_state", "down", "", "")')
DOWN_TARGETS = "job {job!r}: {down} of {total} targets down"


def up_problems(series: Iterable[dict[str, Any]], expected_jobs: Iterable[str]) -> tuple[list[str], list[str]]:
    """From :data:`UP_BY_JOB`'s result: (problems, jobs with down targets).

    >>> rows = [{"metric": {"job": "a", "up_state": "total"}, "value": [0, "3"]},
    ...         {"metric": {"job": "a", "up_state": "down"}, "value": [0, "1"]}]
    >>> up_problems(rows, ["a", "b"])
    (["job 'b': no scrape target at all (is its service discovery or static config right?)", \
"job 'a': 1 of 3 targets down"], ['a'])
    """
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for row in series:
        metric = row.get("metric", {})
        counts[str(metric.get("job", "?"))][str(metric.get("up_state"))] = int(float(row["value"][1]))
    problems = [MISSING_JOB.format(job=job) for job in expected_jobs if not counts.get(job, {}).get("total")]
    down = sorted(job for job, c in counts.items() if c.get("down"))
    problems += [DOWN_TARGETS.format(job=job, down=counts[job]["down"], total=counts[job].get("total", 0))
                 for job in down]
    return problems, down


def rule_health_problems(groups: Iterable[RuleGroup]) -> list[str]:
    """Every rule whose last evaluation failed (or has not happened yet), with its error."""
    problems = []
    for group in groups:
        for rule in group.get("rules", []):
            if rule.get("health") != "ok":
                problems.append(RULE_ERROR.format(
                    name=rule.get("name"), group=group.get("name"), file=group.get("file"),
                    error=rule.get("lastError") or f"health is {rule.get('health', 'unknown')!r} (not evaluated yet)",
                ))
    return problems


def loaded_rules(groups: Iterable[RuleGroup], kind: str) -> dict[str, dict[str, str]]:
    """Loaded rules of one kind ("recording" or "alerting") → their labels."""
    return {rule["name"]: dict(rule.get("labels") or {}) for group in groups
            for rule in group.get("rules", []) if rule.get("type") == kind}


def firing(alerts: Iterable[dict[str, Any]], alertname: str) -> list[dict[str, Any]]:
    """Alerts named ``alertname`` in state firing."""
    return [a for a in alerts if a.get("state") == "firing" and a.get("labels", {}).get("alertname") == alertname]
