"""The fixtures the checks take: the target, one client per component, budgets, manifests, parameters.

A pytest plugin of its own, loaded by :mod:`stackcheck.plugin` (``pytest_plugins``), which keeps the
run itself: options, the target's preflight, the report and the exit codes. Every component's client
is made the same way, by :func:`component_client`, so a check that needs a component the target lacks
is skipped with the target's reason instead of failing.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from stackcheck.budgets import DEFAULT_RESEND_DELAY_S, Budgets
from stackcheck.clients.alertmanager import AlertmanagerClient
from stackcheck.clients.grafana import GrafanaClient
from stackcheck.clients.http import Http
from stackcheck.clients.jaeger import JaegerClient
from stackcheck.clients.loki import LokiClient
from stackcheck.clients.prometheus import PrometheusClient
from stackcheck.errors import UsageError
from stackcheck.inventory import ALERTS
from stackcheck.manifests import Manifests
from stackcheck.plugin import component_http, require_answered, session_target, settings
from stackcheck.targets.base import Target

if TYPE_CHECKING:
    from stackcheck.clients.sink import SinkClient

#: The local runtime's Alertmanager repeats a notification after 1 s (its config is time-scaled).
LOCAL_RESEND_DELAY_S = 1.0

C = TypeVar("C")


def component_client(component: str, make: Callable[[Http], C], name: str | None = None) -> Any:
    """A session fixture (``name``, default the component's) with ``make`` applied to the component's
    :func:`~stackcheck.plugin.component_http`: its client, or a skip when the target lacks it, or an
    error pointing to its ``preflight.reachable`` entry when it did not answer there."""

    def client(stackcheck_target: Target, request: pytest.FixtureRequest) -> C:
        require_answered(request.config, component)
        return make(component_http(stackcheck_target, component))

    client.__doc__ = f"Client of the target's {component} (skips the check when the target has none)."
    return pytest.fixture(scope="session", name=name or component)(client)


def manifests_of(config: pytest.Config) -> Manifests:
    """The manifests directory this run checks against (``--stackcheck-manifests``, resolved); a bad
    one is pytest's usage error, so collection stops with its message."""
    try:
        return Manifests.find(settings(config).target.manifests)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from exc


@pytest.fixture(scope="session")
def stackcheck_target(request: pytest.FixtureRequest) -> Target:
    """The stack under verification."""
    return session_target(request.config)


prometheus = component_client("prometheus", PrometheusClient)
alertmanager = component_client("alertmanager", AlertmanagerClient)
loki = component_client("loki", LokiClient)
jaeger = component_client("jaeger", JaegerClient)
grafana = component_client("grafana", GrafanaClient)
#: The probe's own HTTP session, for the canaries.
probe_http = component_client("probe", lambda http: http, name="probe_http")


@pytest.fixture(scope="session")
def sink(stackcheck_target: Target, request: pytest.FixtureRequest) -> SinkClient:
    """Client of the notification sink (local runtime and CI only)."""
    from stackcheck.clients.sink import SinkClient
    require_answered(request.config, "sink")
    url = stackcheck_target.url("sink")
    if url is None:
        pytest.skip("delivery is checked at stackcheck's sink, and this target has none (--sink-url)")
    kube = stackcheck_target.kube
    return SinkClient(url, session=kube.session() if kube is not None else None)


@pytest.fixture(scope="session")
def budgets(prometheus: PrometheusClient, stackcheck_target: Target) -> Budgets:
    """Wait budgets computed from the live Prometheus config."""
    text = prometheus.http.get_json("/api/v1/status/config")["data"]["yaml"]
    resend = LOCAL_RESEND_DELAY_S if stackcheck_target.name == "local" else DEFAULT_RESEND_DELAY_S
    return Budgets.from_prometheus_config(text, resend_delay_s=resend)


@pytest.fixture(scope="session")
def manifests(request: pytest.FixtureRequest) -> Manifests:
    """The manifests directory whose rules and routes the checks expect."""
    return manifests_of(request.config)


@pytest.fixture(scope="session")
def alertmanager_config(alertmanager: AlertmanagerClient) -> dict[str, Any]:
    """The config Alertmanager really loaded (``/api/v2/status``; secrets appear as ``<secret>``)."""
    import yaml
    return dict(yaml.safe_load(alertmanager.status()["config"]["original"]) or {})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize per recording rule (from the manifests) and per reference alert (inventory)."""
    if "recording_rule" in metafunc.fixturenames:
        try:
            rules = [r for r in manifests_of(metafunc.config).rules() if r.kind == "record"]
        except UsageError as exc:  # a malformed rule file
            raise pytest.UsageError(str(exc)) from exc
        metafunc.parametrize("recording_rule", rules, ids=[r.name for r in rules])
    if "alert_name" in metafunc.fixturenames:
        metafunc.parametrize("alert_name", list(ALERTS), ids=list(ALERTS))
