"""The kubernetes target against the Kubernetes API double (tests/kubefake.py).

Each test states one requirement. Failures must be stackcheck errors whose message names the thing
(the file, context, namespace or server) and the fix, and carries no credential.
"""
from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackcheck.clients.http import Http
from stackcheck.errors import Unauthorized, Unreachable, UsageError
from stackcheck.secrets import scrub
from stackcheck.targets.kubernetes import KubeAccess, kubernetes_target
from tests.kubefake import CONTEXT, KubeFake, kube_of

TOKEN = "kube-token-5b1e0c7d9a"
CANARY = "canary-token-do-not-print-7f3a9c2e"


@pytest.fixture
def fake() -> Iterator[KubeFake]:
    """The API double with the kind overlay's labels (phase5 and monitoring allow faults)."""
    with KubeFake(TOKEN, allow_faults=("phase5", "monitoring")) as double:
        yield double


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment without KUBECONFIG and with an empty HOME, so the user's ~/.kube is never read."""
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home)}


@pytest.fixture
def kubeconfig(fake: KubeFake, tmp_path: Path) -> Path:
    return fake.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def closed_url() -> str:
    """A loopback URL where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


# -- finding the configuration --------------------------------------------------------------------------

def test_missing_kubeconfig_is_a_usage_error_naming_the_path(tmp_path: Path, env: dict[str, str]) -> None:
    """--kubeconfig naming a file that does not exist is a usage error (exit 2) naming the path."""
    missing = tmp_path / "nope" / "config"
    with pytest.raises(UsageError, match="does not exist") as caught:
        kubernetes_target(None, str(missing), environ=env)
    assert str(missing) in str(caught.value)
    assert caught.value.exit_code == 2


def test_no_kubeconfig_anywhere_says_how_to_give_one(env: dict[str, str]) -> None:
    """With no --kubeconfig, no KUBECONFIG, no ~/.kube/config and no pod, the error says what to pass."""
    with pytest.raises(UsageError, match=r"pass --kubeconfig PATH or set KUBECONFIG") as caught:
        kubernetes_target(None, None, environ=env)
    assert str(Path(env["HOME"]) / ".kube" / "config") in str(caught.value)


def test_kubeconfig_env_is_honoured_and_missing_entries_skipped(fake: KubeFake, kubeconfig: Path,
                                                               tmp_path: Path, env: dict[str, str]) -> None:
    """KUBECONFIG is honoured like kubectl does: a list, whose missing files are skipped."""
    env["KUBECONFIG"] = f"{tmp_path / 'absent'}:{kubeconfig}"
    target = kubernetes_target(None, None, environ=env)
    assert target.url("prometheus", ).startswith(fake.url)  # type: ignore[union-attr]


def test_kubeconfig_env_with_no_existing_file_names_them(tmp_path: Path, env: dict[str, str]) -> None:
    """A KUBECONFIG whose files all are missing is a usage error naming them."""
    env["KUBECONFIG"] = f"{tmp_path / 'a'}:{tmp_path / 'b'}"
    with pytest.raises(UsageError, match=r"\$KUBECONFIG") as caught:
        kubernetes_target(None, None, environ=env)
    assert str(tmp_path / "a") in str(caught.value) and str(tmp_path / "b") in str(caught.value)


def test_default_kubeconfig_in_home_is_used(fake: KubeFake, env: dict[str, str]) -> None:
    """Without --kubeconfig or KUBECONFIG, ~/.kube/config is used."""
    (Path(env["HOME"]) / ".kube").mkdir()
    fake.write_kubeconfig(Path(env["HOME"]) / ".kube" / "config")
    assert kube_of(kubernetes_target(None, None, environ=env)).context == CONTEXT


def test_unknown_context_is_a_usage_error_naming_it(kubeconfig: Path, env: dict[str, str]) -> None:
    """--context naming a context the kubeconfig lacks is a usage error naming it and the ones it has."""
    with pytest.raises(UsageError, match=r"context 'staging' is not in kubeconfig") as caught:
        kubernetes_target("staging", str(kubeconfig), environ=env)
    assert CONTEXT in str(caught.value) and str(kubeconfig) in str(caught.value)


def test_context_option_picks_that_context(fake: KubeFake, tmp_path: Path, env: dict[str, str]) -> None:
    """--context selects a context other than the current one; the description names it."""
    path = fake.write_kubeconfig(tmp_path / "config", others=("prod-eu",))
    target = kubernetes_target("prod-eu", str(path), environ=env)
    assert kube_of(target).context == "prod-eu"
    assert "context prod-eu" in target.description


# -- reaching the API server ------------------------------------------------------------------------

def test_server_down_is_unreachable_naming_the_server(fake: KubeFake, tmp_path: Path, closed_url: str,
                                                      env: dict[str, str]) -> None:
    """An API server that refuses connections is Unreachable (exit 3), naming its URL and context."""
    path = fake.write_kubeconfig(tmp_path / "config", server=closed_url)
    with pytest.raises(Unreachable, match="is unreachable") as caught:
        kubernetes_target(None, str(path), environ=env)
    assert closed_url in str(caught.value) and CONTEXT in str(caught.value)
    assert caught.value.exit_code == 3


def test_rejected_token_is_unauthorized_without_the_token(fake: KubeFake, tmp_path: Path,
                                                         env: dict[str, str]) -> None:
    """A 401 is Unauthorized (exit 3), says to refresh credentials, and never shows the token."""
    path = fake.write_kubeconfig(tmp_path / "config", token=CANARY)
    with pytest.raises(Unauthorized, match="refresh them") as caught:
        kubernetes_target(None, str(path), environ=env)
    assert CANARY not in str(caught.value)
    assert fake.url in str(caught.value)
    assert CANARY not in scrub(f"Authorization: Bearer {CANARY}")  # registered: every report masks it


def test_forbidden_is_unauthorized_naming_the_permission(fake: KubeFake, kubeconfig: Path,
                                                         env: dict[str, str]) -> None:
    """A 403 is Unauthorized, naming what was refused and that RBAC must grant it."""
    fake.forbid.add(("get", "namespaces"))
    with pytest.raises(Unauthorized, match=r"read namespace monitoring .*HTTP 403.*RBAC"):
        kubernetes_target(None, str(kubeconfig), environ=env)


def test_missing_namespace_is_a_usage_error_naming_it(kubeconfig: Path, env: dict[str, str]) -> None:
    """A --namespace that does not exist in the cluster is a usage error naming it and the context."""
    with pytest.raises(UsageError, match=rf"namespace observability does not exist in context {CONTEXT}"):
        kubernetes_target(None, str(kubeconfig), "observability", environ=env)


# -- endpoints ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("component", "path"), [
    ("prometheus", "/api/v1/namespaces/monitoring/services/http:prometheus:9090/proxy"),
    ("alertmanager", "/api/v1/namespaces/monitoring/services/http:alertmanager:9093/proxy"),
    ("grafana", "/api/v1/namespaces/monitoring/services/http:grafana:3000/proxy"),
    ("loki", "/api/v1/namespaces/monitoring/services/http:loki:3100/proxy"),
    ("jaeger", "/api/v1/namespaces/tracing/services/http:jaeger-query:16686/proxy"),
    ("probe", "/api/v1/namespaces/phase5/services/http:phase5-backend:8080/proxy"),
])
def test_endpoint_is_the_api_server_service_proxy(fake: KubeFake, kubeconfig: Path, env: dict[str, str],
                                                  component: str, path: str) -> None:
    """Each component is reached through {server}/api/v1/namespaces/{ns}/services/http:{name}:{port}/proxy."""
    assert kubernetes_target(None, str(kubeconfig), environ=env).url(component) == fake.url + path


def test_sink_endpoint_only_when_its_service_exists(tmp_path: Path, env: dict[str, str]) -> None:
    """The sink is an endpoint when the stackcheck-sink Service exists, else missing with the reason."""
    with KubeFake(TOKEN) as bare, KubeFake(TOKEN, with_sink=True) as with_sink:
        without = kubernetes_target(None, str(bare.write_kubeconfig(tmp_path / "a")), environ=env)
        present = kubernetes_target(None, str(with_sink.write_kubeconfig(tmp_path / "b")), environ=env)
    assert without.url("sink") is None and "stackcheck-sink" in without.why_missing("sink")
    proxy = "/api/v1/namespaces/monitoring/services/http:stackcheck-sink:8080/proxy"
    assert present.url("sink") == with_sink.url + proxy


def test_session_carries_the_kubeconfig_token_through_the_proxy(fake: KubeFake, kubeconfig: Path,
                                                                env: dict[str, str]) -> None:
    """Http works unchanged on a proxy URL given the target's session: the token reaches the API server."""
    target = kubernetes_target(None, str(kubeconfig), environ=env)
    http = Http("prometheus", target.url("prometheus") or "", session=kube_of(target).session())
    assert http.request("GET", "/-/ready").status_code == 200
    seen = fake.calls("GET", "/services/http:prometheus:9090/proxy/-/ready")
    assert [r.headers.get("Authorization") for r in seen] == [f"Bearer {TOKEN}"]


def test_proxy_without_the_session_is_unauthorized(kubeconfig: Path, env: dict[str, str]) -> None:
    """A plain session is anonymous, and the real API server answers 403 for system:anonymous (contracts c1),
    not 401: the reason component_http must use kube.session()."""
    target = kubernetes_target(None, str(kubeconfig), environ=env)
    with pytest.raises(Unauthorized,
                       match='API server refused the request to prometheus .*HTTP 403 Forbidden: .*'
                                           'User "system:anonymous" cannot get resource "services/proxy"'):
        Http("prometheus", target.url("prometheus") or "").request("GET", "/-/ready")


# -- safety -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("labelled", "disposable"), [
    ((), False),
    (("phase5",), False),
    (("monitoring",), False),
    (("phase5", "monitoring"), True),
])
def test_disposable_only_when_both_namespaces_allow_faults(
        tmp_path: Path, env: dict[str, str], labelled: tuple[str, ...], disposable: bool) -> None:
    """The target is disposable only if phase5 and monitoring both carry stackcheck.dev/allow-faults=true."""
    with KubeFake(TOKEN, allow_faults=labelled) as double:
        target = kubernetes_target(None, str(double.write_kubeconfig(tmp_path / "config")), environ=env)
    assert target.disposable is disposable


def test_allow_faults_label_must_be_true(fake: KubeFake, kubeconfig: Path, env: dict[str, str]) -> None:
    """A label value other than "true" does not make the target disposable."""
    ns = fake.objects[("namespaces", "", "phase5")]
    ns["metadata"]["labels"]["stackcheck.dev/allow-faults"] = "false"
    assert kubernetes_target(None, str(kubeconfig), environ=env).disposable is False


def test_description_names_context_server_and_namespace(fake: KubeFake, kubeconfig: Path,
                                                        env: dict[str, str]) -> None:
    """The description (printed before anything changes) names the resolved context, server and namespace."""
    text = kubernetes_target(None, str(kubeconfig), environ=env).description
    assert f"context {CONTEXT}" in text and fake.url in text and "namespace monitoring" in text
    assert "faults allowed" in text


def test_no_credential_in_repr_or_description(kubeconfig: Path, env: dict[str, str]) -> None:
    """Neither the target's repr, its description nor KubeAccess's repr contains the token."""
    target = kubernetes_target(None, str(kubeconfig), environ=env)
    assert isinstance(target.kube, KubeAccess)
    for text in (repr(target), target.description, repr(target.kube), str(target.kube)):
        assert TOKEN not in text


def test_grafana_health_through_a_proxy_without_endpoints_is_not_a_database_verdict(
        fake: KubeFake, kubeconfig: Path, env: dict[str, str]) -> None:
    """The API server's 503 for a Grafana without endpoints is the API server's answer (a ProxyError quoting
    it), never read as Grafana's own 503 {"database": "failing"}."""
    from stackcheck.clients.grafana import GrafanaClient
    from stackcheck.kube.errors import ProxyError

    fake.endpoints.discard(("monitoring", "grafana"))
    target = kubernetes_target(None, str(kubeconfig), environ=env)
    grafana = GrafanaClient(Http("grafana", target.url("grafana") or "", session=kube_of(target).session()))
    with pytest.raises(ProxyError, match=r'no endpoints available for service "grafana"') as caught:
        grafana.health()
    assert "database" not in str(caught.value)


def test_grafana_own_503_is_still_its_database_verdict(fake: KubeFake, kubeconfig: Path,
                                                       env: dict[str, str]) -> None:
    """Grafana's own 503 body (its database failing) still reaches the check as Grafana's verdict."""
    from stackcheck.clients.grafana import GrafanaClient

    fake.service_handler = lambda method, ref, rest: (503, "application/json", b'{"database": "failing"}')
    target = kubernetes_target(None, str(kubeconfig), environ=env)
    grafana = GrafanaClient(Http("grafana", target.url("grafana") or "", session=kube_of(target).session()))
    assert grafana.health() == {"database": "failing"}


def test_preflight_quotes_the_api_server_when_prometheus_has_no_endpoints(
        fake: KubeFake, kubeconfig: Path, env: dict[str, str]) -> None:
    """verify's preflight reports the API server's own "no endpoints available" through the service proxy,
    not a raw body read as Prometheus' readiness answer."""
    from stackcheck import preflight

    fake.endpoints.discard(("monitoring", "prometheus"))
    target = kubernetes_target(None, str(kubeconfig), environ=env)
    http = Http("prometheus", target.url("prometheus") or "", session=kube_of(target).session())
    problem = preflight.ask(http, "prometheus")
    assert problem is not None
    assert 'service proxy (HTTP 503 ServiceUnavailable: no endpoints available for service "prometheus")' \
        in problem.message
    assert "is not ready" not in problem.message


def test_proxy_fix_names_the_cluster_that_answered(fake: KubeFake, kubeconfig: Path,
                                                   env: dict[str, str]) -> None:
    """The fix's kubectl line reaches the cluster verify read (its kubeconfig and context), not whatever
    context kubectl happens to be on."""
    from stackcheck import preflight
    from stackcheck.plugin import component_http

    fake.endpoints.discard(("monitoring", "prometheus"))
    target = kubernetes_target(None, str(kubeconfig), environ=env)
    problem = preflight.ask(component_http(target, "prometheus"), "prometheus")
    assert problem is not None
    fix = f"`kubectl --kubeconfig {kubeconfig} --context {CONTEXT} -n monitoring get pods`"
    assert fix in problem.message
