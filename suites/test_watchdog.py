"""The Watchdog (dead man's switch) fires, reaches Alertmanager and is delivered to its receiver."""
from __future__ import annotations

import time
from typing import Any

import pytest

from stackcheck.budgets import MARGIN_S, Budgets
from stackcheck.checks.prometheus import firing
from stackcheck.clients.alertmanager import AlertmanagerClient
from stackcheck.clients.prometheus import PrometheusClient
from stackcheck.grouping import resend_interval_s
from stackcheck.routing import route
from stackcheck.timescale import parse_duration
from stackcheck.wait import eventually, until

WATCHDOG = {"alertname": "Watchdog", "severity": "none"}


@pytest.mark.check("watchdog.firing", component="prometheus")
def test_watchdog_is_firing_in_prometheus(prometheus: PrometheusClient, budgets: Budgets) -> None:
    """Prometheus evaluates the Watchdog and it is firing, proving the rule pipeline runs."""
    alerts = until(lambda: firing(prometheus.alerts(), "Watchdog"), budgets.firing_s(0))
    assert alerts, (f"Watchdog is not firing in Prometheus after {budgets.firing_s(0):.0f}s (check "
                    f"meta.rules.yml)")


@pytest.mark.check("watchdog.active_in_alertmanager", component="alertmanager")
def test_watchdog_is_active_in_alertmanager_for_its_receiver(
    alertmanager: AlertmanagerClient, alertmanager_config: dict[str, Any], budgets: Budgets,
) -> None:
    """Alertmanager holds the Watchdog as active and routes it to the dead-man receiver."""
    expected = {m.receiver for m in route(alertmanager_config, WATCHDOG)}

    def missing() -> set[str]:
        got = {r["name"] for a in alertmanager.alerts() if a["labels"].get("alertname") == "Watchdog"
               for r in a.get("receivers", [])}
        return expected - got

    left = eventually(missing, budgets.firing_s(0) + budgets.resend_delay_s)
    assert not left, f"Watchdog is not active in Alertmanager for receiver(s) {', '.join(sorted(left))}"


@pytest.mark.check("watchdog.delivered", component="alertmanager")
def test_watchdog_is_delivered_to_the_deadman_receiver(
    sink: Any, alertmanager_config: dict[str, Any], budgets: Budgets,
) -> None:
    """A Watchdog notification reached the dead-man receiver recently (within one repeat interval)."""
    matches = route(alertmanager_config, WATCHDOG)
    receivers = {m.receiver for m in matches}
    repeat = resend_interval_s(matches)
    group_wait = max(parse_duration(m.group_wait) for m in matches)
    fresh_since = time.time() - repeat - MARGIN_S

    def delivered() -> list[Any]:
        return [n for n in sink.notifications(alertname="Watchdog")
                if n.received_at >= fresh_since and _receiver_of(n) in receivers]

    budget = budgets.delivery_s(0, group_wait)
    found = until(delivered, budget)
    assert found, (f"no Watchdog notification reached {', '.join(sorted(receivers))} at the sink in the last "
                   f"{repeat:.0f}s (waited {budget:.0f}s); check the route and the receiver's URL")


def _receiver_of(notification: Any) -> str:
    """The Alertmanager receiver a sink record came from: webhook name or Slack hook path."""
    return str(getattr(notification, "receiver",
                       None) or notification.raw.get("name") or notification.raw.get("hook"))
