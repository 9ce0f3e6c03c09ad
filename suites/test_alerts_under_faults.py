"""Full profile: every alert fires under a real fault, reaches its channels, and resolves afterwards.

All scenarios run at once (one campaign per session); each check waits for its own scenario's verdict.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from stackcheck.budgets import Budgets
from stackcheck.clients.alertmanager import AlertmanagerClient
from stackcheck.clients.prometheus import PrometheusClient
from stackcheck.faults.campaign import Campaign, StageResult, expectations
from stackcheck.faults.scenarios import SCENARIOS
from stackcheck.inventory import ALERTS
from stackcheck.manifests import Manifests, load_yaml
from stackcheck.targets.base import Target

pytestmark = pytest.mark.full


def _alert_of(item: pytest.Item) -> str | None:
    """The alert a selected fault check is about (so -k runs only the scenarios it needs)."""
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("alert") if callspec and item.get_closest_marker("full") else None


@pytest.fixture(scope="session")
def campaign(request: pytest.FixtureRequest, stackcheck_target: Target, prometheus: PrometheusClient,
             alertmanager: AlertmanagerClient, sink: Any, budgets: Budgets,
             alertmanager_config: dict[str, Any], manifests: Manifests) -> Iterator[Campaign]:
    """Inject every selected, supported fault at once; clear them all afterwards, even on Ctrl-C."""
    table = load_yaml(manifests.routes_test_yml) or []
    expected = expectations(table, manifests.alertmanager_config())
    selected = {_alert_of(item) for item in request.session.items} - {None}
    run = Campaign(stackcheck_target, prometheus, alertmanager, sink, budgets, alertmanager_config, expected)
    run.start([s for s in SCENARIOS.values()
               if s.alert in selected and s.unsupported(stackcheck_target) is None])
    try:
        yield run
    finally:
        run.stop()


def _verdict(result: StageResult, record_property: Any) -> None:
    __tracebackhide__ = True
    if result.latency_s is not None:
        record_property("latency_s", result.latency_s)
    if result.bound_s is not None:
        record_property("bound_s", result.bound_s)
    if result.skipped:
        pytest.skip(result.message)
    assert result.ok, result.message
    record_property("message", result.message)  # a pass says which bound applied, too


def _supported(alert: str, target: Target) -> None:
    reason = SCENARIOS[alert].unsupported(target)
    if reason:
        pytest.skip(f"{alert}: {reason}")


def _stage_check(stage: str, check: str, component: str, doc: str) -> Callable[..., None]:
    """The check that an alert's scenario passed ``stage``: each stage is its own check, one body."""

    def stage_check(alert: str, stackcheck_target: Target, campaign: Campaign, record_property: Any) -> None:
        _supported(alert, stackcheck_target)
        _verdict(campaign.result(alert, stage), record_property)

    stage_check.__doc__ = doc
    marked: Callable[..., None] = pytest.mark.check(check, component=component)(
        pytest.mark.parametrize("alert", list(ALERTS))(stage_check))
    return marked


test_alert_fires_under_its_fault = _stage_check(
    "fires", "alerts.fires", "prometheus",
    "The fault makes the alert go pending then firing in Prometheus, with its severity and component.")
test_alert_reaches_its_channels_within_its_bound = _stage_check(
    "delivered", "alerts.delivered", "alertmanager",
    "The alert reaches exactly its channels (Slack channel, email recipient) within 1.5× its bound.")
test_alert_resolves_after_the_fault_is_cleared = _stage_check(
    "resolves", "alerts.resolves", "alertmanager",
    "Once the fault is cleared the alert resolves and a resolved notification reaches its channels.")
