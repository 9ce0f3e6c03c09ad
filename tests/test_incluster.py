"""The incluster target (stackcheck in a pod) and the expectations file."""
from __future__ import annotations

from pathlib import Path

import pytest

from stackcheck.errors import UsageError
from stackcheck.expectations import Expectations
from stackcheck.manifests import Manifests
from stackcheck.secrets import scrub
from stackcheck.targets.incluster import component_credentials, in_a_pod, incluster_target


def test_components_are_reached_by_service_dns_name_without_the_api_server(tmp_path: Path) -> None:
    """Each component is http://<service>.<namespace>.svc:<port> from the manifests' Service files; no URL
    goes through an API-server proxy, and the target carries no Kubernetes client."""
    target = incluster_target(Manifests.find(), credentials_dir=tmp_path, environ={})
    assert target.url("prometheus") == "http://prometheus.monitoring.svc:9090"
    assert target.url("alertmanager") == "http://alertmanager.monitoring.svc:9093"
    assert target.url("grafana") == "http://grafana.monitoring.svc:3000"
    assert target.url("loki") == "http://loki.monitoring.svc:3100"
    assert target.url("jaeger") == "http://jaeger-query.tracing.svc:16686"
    assert target.kube is None and not target.disposable
    assert all("/proxy" not in url for url in target.endpoints.values())
    assert target.url("sink") is None and "sink" in target.why_missing("sink")


def test_namespace_and_explicit_urls_are_followed(tmp_path: Path) -> None:
    """--namespace moves the monitoring Services; --<component>-url replaces one endpoint."""
    target = incluster_target(Manifests.find(), "observability", credentials_dir=tmp_path, environ={},
                              overrides={"grafana": "https://grafana.example/", "loki": None})
    assert target.url("prometheus") == "http://prometheus.observability.svc:9090"
    assert target.url("jaeger") == "http://jaeger-query.tracing.svc:16686"  # not in monitoring
    assert target.url("grafana") == "https://grafana.example"
    with pytest.raises(UsageError, match="--grafana-url"):
        incluster_target(Manifests.find(), credentials_dir=tmp_path, environ={},
                         overrides={"grafana": "ftp://x"})


def test_credentials_come_from_mounted_files_and_are_never_printed(tmp_path: Path) -> None:
    """<component>-token is a bearer token, -username/-password basic auth; values are registered secrets."""
    (tmp_path / "grafana-token").write_text("glsa_incluster_token_1234\n")
    (tmp_path / "loki-username").write_text("reader")
    (tmp_path / "loki-password").write_text("loki-pass-5678")
    found = component_credentials(tmp_path)
    assert found["grafana"].bearer_token == "glsa_incluster_token_1234"
    assert (found["loki"].basic_user, found["loki"].basic_password) == ("reader", "loki-pass-5678")
    target = incluster_target(Manifests.find(), credentials_dir=tmp_path, environ={})
    assert target.component_credentials == found
    text = f"{target.description} {found} token glsa_incluster_token_1234 pw loki-pass-5678"
    assert "glsa_incluster_token_1234" not in scrub(text) and "loki-pass-5678" not in scrub(text)


def test_a_username_without_a_password_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "grafana-username").write_text("viewer")
    with pytest.raises(UsageError, match="grafana-password"):
        component_credentials(tmp_path)


def test_a_pod_is_recognised_by_the_kubelet_environment() -> None:
    """KUBERNETES_SERVICE_HOST, set in every pod, marks stackcheck as running in a cluster."""
    assert in_a_pod({"KUBERNETES_SERVICE_HOST": "10.96.0.1"}) and not in_a_pod({})


def test_verify_defaults_to_the_incluster_target_in_a_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a pod (and without STACKCHECK_TARGET) verify and serve use --target incluster by default."""
    from stackcheck.cli import build_parser
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.delenv("STACKCHECK_TARGET", raising=False)
    assert build_parser().parse_args(["verify"]).target == "incluster"
    assert build_parser().parse_args(["serve"]).target == "incluster"


# --------------------------------------------------------------------------- expectations


def test_default_expectations_are_the_phase5_namespace_and_service() -> None:
    """Without a file: logs of namespace phase5, traces of phase5-backend, every scrape job."""
    found = Expectations.load(None)
    assert found.log_namespaces == ("phase5",) and found.trace_services == ("phase5-backend",)
    assert found.jobs is None


def test_expectations_file_sets_jobs_namespaces_services_and_ages(tmp_path: Path) -> None:
    """Every key of the documented format is read."""
    path = tmp_path / "expect.yml"
    path.write_text("jobs: [prometheus, phase5]\nlogs: {namespaces: [shop, shop-workers], max_age: 10m}\n"
                    "traces: {services: [checkout], window: 1h}\n")
    found = Expectations.load(str(path))
    assert found.jobs == ("prometheus", "phase5")
    assert found.log_namespaces == ("shop", "shop-workers") and found.log_max_age_s == 600
    assert found.trace_services == ("checkout",) and found.trace_window_s == 3600
    assert found.log_selector("shop") == '{namespace="shop"}'


@pytest.mark.parametrize("text, message", [
    ("jobz: [a]", "unknown key"),
    ("logs: {namespaces: []}", "non-empty list"),
    ("logs: {max_age: soon}", "not a positive duration"),
    ("traces: [a]", "must be a mapping"),
    ("- a", "expected a mapping"),
])
def test_a_bad_expectations_file_is_a_usage_error_naming_the_key(tmp_path: Path, text: str,
                                                                 message: str) -> None:
    path = tmp_path / "expect.yml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        Expectations.load(str(path))


def test_a_missing_expectations_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        Expectations.load(str(tmp_path / "nope.yml"))


def test_the_readme_documents_the_expectations_format() -> None:
    """README.md's "Expectations file" section shows every key the parser accepts."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("### Expectations file", 1)[-1].split("\n## ", 1)[0]
    for key in ("jobs:", "logs:", "namespaces:", "max_age:", "traces:", "services:", "window:"):
        assert key in section, f"README's Expectations file section lacks {key}"


def test_without_the_probe_the_default_log_age_is_the_production_one() -> None:
    """Production (no probe): logs may be 5 minutes old by default; where the probe runs, 17 s."""
    assert Expectations.load(None, with_probe=False).log_max_age_s == 300
    assert Expectations.load(None, with_probe=True).log_max_age_s == 17
