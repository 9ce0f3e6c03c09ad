"""Which Alertmanager timer an alert's first notification waits for, on the real route trees."""
from __future__ import annotations

from typing import Any

import pytest
import yaml

from stackcheck.budgets import Budgets
from stackcheck.grouping import (
    GROUP_CLEANUP_S,
    RESOLVED_RETENTION_S,
    first_notification_wait,
    lingering_group_wait,
)
from stackcheck.manifests import BUNDLED_MANIFESTS
from stackcheck.routing import route

PRODUCTION = BUNDLED_MANIFESTS / "config" / "alertmanager" / "alertmanager.yml"
KIND = BUNDLED_MANIFESTS / "overlays" / "kind" / "generated" / "alertmanager.yml"

DB = {"alertname": "DatabaseConnectionPoolExhausted", "severity": "critical", "component": "database",
      "service": "phase5-backend", "pool": "primary"}
SLOW = {"alertname": "HighResponseTime", "severity": "warning", "component": "backend",
        "service": "phase5-backend"}
NOW = 1_000_000.0


@pytest.fixture(scope="module")
def production() -> dict[str, Any]:
    return dict(yaml.safe_load(PRODUCTION.read_text()))


def test_an_alert_alone_waits_group_wait(production: dict[str, Any]) -> None:
    """Nothing else in its groups: the critical DB alert waits group_wait, 0s on both of its routes."""
    wait = first_notification_wait(production, DB, [], arrived_at=NOW)
    assert (wait.timer, wait.seconds, wait.because) == ("group_wait", 0.0, "")


def test_an_alert_joining_a_group_that_notified_waits_group_interval(production: dict[str, Any]) -> None:
    """Another pool's DB alert, in Alertmanager for a minute, shares the group (alertname, service,
    component): this one waits the routes' group_interval (5m), and the reason names the other alert."""
    other = {**DB, "pool": "replica"}
    wait = first_notification_wait(production, DB, [(other, NOW - 60)], arrived_at=NOW)
    assert (wait.timer, wait.seconds) == ("group_interval", 300.0)
    assert wait.describe() == ('group_interval 300s (DatabaseConnectionPoolExhausted{pool="replica"} of the '
                               'same group on receiver critical notified first)')


def test_an_alert_of_another_name_never_shares_a_group(production: dict[str, Any]) -> None:
    """group_by has alertname: HighErrorRate of the same service and channel does not delay the DB alert."""
    other = {**DB, "alertname": "HighErrorRate", "component": "backend"}
    other.pop("pool")
    assert first_notification_wait(production, DB, [(other, NOW - 60)], arrived_at=NOW).timer == "group_wait"


def test_a_group_still_in_its_group_wait_has_not_notified(production: dict[str, Any]) -> None:
    """A warning group waits 30s: an alert that joined 10s ago has not notified, one of 40s ago has."""
    other = {**SLOW, "instance": "b"}
    early = first_notification_wait(production, SLOW, [(other, NOW - 10)], arrived_at=NOW)
    assert (early.timer, early.seconds) == ("group_wait", 30.0)
    late = first_notification_wait(production, SLOW, [(other, NOW - 40)], arrived_at=NOW)
    assert (late.timer, late.seconds) == ("group_interval", 300.0)


def test_group_keys_follow_the_routes_group_by(production: dict[str, Any]) -> None:
    """Two PodDown alerts of different pods share a group on both routes; the key ignores `pod`."""
    a = {"alertname": "PodDown", "severity": "critical", "component": "infrastructure", "pod": "a"}
    b = {**a, "pod": "b"}
    keys = [(m.group_key(a), m.group_key(b)) for m in route(production, a)]
    assert len(keys) == 2 and all(ka == kb for ka, kb in keys)
    assert [m.group_by for m in route(production, a)] == [("alertname", "service", "component")] * 2


def test_the_kind_tree_is_time_scaled_and_gives_the_kind_group_interval() -> None:
    """The kind overlay's tree (time scale 10): a late joiner of a critical group waits 30s, which is the
    ~20s late delivery seen on a real cluster in the concurrent campaign."""
    kind = dict(yaml.safe_load(KIND.read_text()))
    wait = first_notification_wait(kind, DB, [({**DB, "pool": "replica"}, NOW - 5)], arrived_at=NOW)
    assert (wait.timer, wait.seconds) == ("group_interval", 30.0)


def test_the_bound_adds_the_timer_that_applies() -> None:
    """bound = scrape + evaluation + for + (group_wait or group_interval)."""
    budgets = Budgets(scrape_s=0.75, evaluation_s=0.75, scrape_timeout_s=0.5)
    assert budgets.notify_bound_s(3.0, 0.0) == 4.5
    assert budgets.notify_bound_s(3.0, 15.0) == 19.5


def test_an_alert_resolved_minutes_ago_still_holds_its_group_open(production: dict[str, Any]) -> None:
    """Prometheus re-sends a resolved alert for 15 minutes, so Alertmanager keeps its group: the same
    alert firing again 5 minutes after its last notification waits group_interval, and says why."""
    matches = route(production, DB)
    wait = lingering_group_wait("DatabaseConnectionPoolExhausted", matches, NOW - 300, arrived_at=NOW)
    assert wait is not None and (wait.timer, wait.seconds) == ("group_interval", 300.0)
    assert wait.describe() == (
        "group_interval 300s (its group was still open: an earlier DatabaseConnectionPoolExhausted was "
        "notified 300s before, and Prometheus re-sends a resolved alert for 15 minutes, so Alertmanager "
        "keeps its group)")


def test_a_group_is_gone_after_the_resolved_retention_interval_and_clean_up(
        production: dict[str, Any]) -> None:
    """After 15 minutes + group_interval + Alertmanager's 30s clean-up, the group is gone: group_wait."""
    matches = route(production, DB)
    gone = NOW - (RESOLVED_RETENTION_S + 300 + GROUP_CLEANUP_S)
    assert lingering_group_wait("DatabaseConnectionPoolExhausted", matches, gone, arrived_at=NOW) is None
    assert lingering_group_wait("DatabaseConnectionPoolExhausted", matches, None, arrived_at=NOW) is None
