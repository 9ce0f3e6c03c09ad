"""Judge Prometheus targets, rules and alerts."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from stackcheck.checks.freshness import parse_time
from stackcheck.clients.prometheus import RuleGroup, Target
from stackcheck.timescale import parse_duration

MISSING_JOB = "job {job!r}: no scrape target at all (is its service discovery or static config right?)"
DOWN_TARGET = "job {job!r}: target {instance} is {health}: {error}"
STALE_TARGET = ("job {job!r}: target {instance} says {health}, but its last scrape was {age:.1f}s ago and it "
                "is scraped every {interval}; its scrape loop has stalled (Prometheus overloaded, or a "
                "stuck scrape)")
RULE_ERROR = "rule {name!r} (group {group!r}, {file}): {error}"
STALE_RULE = ("rule {name!r} (group {group!r}) says ok, but its last evaluation was {age:.1f}s ago and its "
              "group runs every {interval:g}s; the group's evaluation has stalled (Prometheus overloaded?)")


def job_problems(targets: Iterable[Target], expected_jobs: Iterable[str],
                 now: float | None = None) -> list[str]:
    """Expected jobs without any target, every target that is not up (with its lastError), and, given
    Prometheus' clock ``now``, every target whose "up" comes from a scrape older than two intervals plus
    its timeout (health is that of the last scrape, however long ago it was)."""
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
            elif now is not None and (stale := _scrape_age(target, now)) is not None:
                problems.append(STALE_TARGET.format(
                    job=job, instance=target.get("labels", {}).get("instance", target.get("scrapeUrl")),
                    health=target.get("health"), age=stale, interval=target.get("scrapeInterval")))
    return problems


#: One small instant query answers "which jobs have targets, how many of them are down, and how many have
#: not been scraped by this Prometheus yet": up to three series per job instead of every target's JSON
#: (about 520 bytes per target from /api/v1/targets). ``started`` is the process' start (epoch seconds):
#: after a restart over the same TSDB, the last process' ``up`` samples still answer for five minutes.
UP_BY_JOB = ('label_replace(count by (job) (up), "up_state", "total", "", "") or '
             'label_replace(count by (job) (up == 0), "up_state", "down", "", "") or '
             'label_replace(count by (job) (timestamp(up) < {started:.3f}), "up_state", "old", "", "")')
DOWN_TARGETS = "job {job!r}: {down} of {total} targets down"


def up_by_job(started_at: str) -> str:
    """:data:`UP_BY_JOB` for a Prometheus that started at ``started_at`` (``runtimeinfo.startTime``).

    >>> up_by_job("2026-11-27T15:23:45.5Z").endswith('(timestamp(up) < 1795793025.500), "up_state", "old", "", "")')
    True
    """  # noqa: E501 (a doctest's lines are verbatim)
    return UP_BY_JOB.format(started=parse_time(started_at) or 0.0)


OLD_TARGETS = ("job {job!r}: {old} of {total} targets not scraped since Prometheus started (their last "
               "sample is from before its restart)")
#: Jobs with an "up" sample older than ``limit`` seconds: a stalled scrape loop is suspected, and those
#: jobs' targets are then judged on their own interval and timeout (:func:`job_problems` with ``now``).
STALE_JOBS = "count by (job) (time() - timestamp(up) > {limit:g})"


def up_problems(series: Iterable[dict[str, Any]],
                expected_jobs: Iterable[str]) -> tuple[list[str], list[str]]:
    """From :data:`UP_BY_JOB`'s result: (problems, jobs with down or not yet scraped targets).

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
    old = sorted(job for job, c in counts.items() if c.get("old") and job not in down)
    problems += [OLD_TARGETS.format(job=job, old=counts[job]["old"], total=counts[job].get("total", 0))
                 for job in old]
    return problems, sorted(down + old)


def _scrape_age(target: Target, now: float) -> float | None:
    """How long ago the target was last scraped, when that is longer than it should be; else None."""
    last = parse_time(target.get("lastScrape"))
    try:
        interval = parse_duration(target.get("scrapeInterval") or "1m")
        timeout = parse_duration(target.get("scrapeTimeout") or "10s")
    except ValueError:
        return None
    if last is None or now - last <= 2 * interval + timeout:
        return None
    return now - last


def rule_health_problems(groups: Iterable[RuleGroup], now: float | None = None) -> list[str]:
    """Every rule whose last evaluation failed (or has not happened yet), with its error; given
    Prometheus' clock ``now``, also every rule whose "ok" comes from an evaluation older than two of its
    group's intervals (the group has stalled, so "ok" says nothing about the rule today)."""
    problems = []
    for group in groups:
        interval = float(group.get("interval") or 0) or 60.0
        for rule in group.get("rules", []):
            if rule.get("health") != "ok":
                problems.append(RULE_ERROR.format(
                    name=rule.get("name"), group=group.get("name"), file=group.get("file"),
                    error=rule.get("lastError") or f"health is {rule.get('health', 'unknown')!r} (not "
                                                   f"evaluated yet)",
                ))
                continue
            last = parse_time(rule.get("lastEvaluation"))
            if now is not None and last is not None and now - last > 2 * interval:
                problems.append(STALE_RULE.format(name=rule.get("name"), group=group.get("name"),
                                                  age=now - last, interval=interval))
    return problems


def loaded_rules(groups: Iterable[RuleGroup], kind: str) -> dict[str, dict[str, str]]:
    """Loaded rules of one kind ("recording" or "alerting") → their labels."""
    return {rule["name"]: dict(rule.get("labels") or {}) for group in groups
            for rule in group.get("rules", []) if rule.get("type") == kind}


def firing(alerts: Iterable[dict[str, Any]], alertname: str) -> list[dict[str, Any]]:
    """Alerts named ``alertname`` in state firing."""
    return [a for a in alerts
            if a.get("state") == "firing" and a.get("labels", {}).get("alertname") == alertname]
