"""Turn the production config files in ``manifests/`` into configs for local processes.

Only three things change: Kubernetes service discovery becomes static loopback targets, secret files
point at the sink, and every timer is divided by the time scale. Rules, routes and receivers are the
ones in ``manifests/``.
"""
from __future__ import annotations

import copy
import secrets as pysecrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from stackcheck.local.ports import Ports, addr, url
from stackcheck.manifests import Manifests, load_yaml
from stackcheck.timescale import scale_alertmanager_config, scale_prometheus_config, scale_rules


def local_scrape_targets(ports: Ports, extra: Mapping[str, list[str]] | None = None,
                         health_urls: Sequence[str] = ()) -> dict[str, list[str]]:
    """The static targets that replace each job's service discovery on the local runtime.

    ``extra`` and ``health_urls`` come from the optional services (Loki, Grafana, Jaeger) that run.
    """
    return {
        "prometheus": [addr(ports.prometheus)],
        "alertmanager": [addr(ports.alertmanager)],
        "node-exporter": [addr(ports.node_exporter)],
        "phase5": [addr(ports.probe), addr(ports.probe_canary)],
        "blackbox-http": [f"{url(ports.probe)}/healthz", f"{url(ports.alertmanager)}/-/healthy",
                          f"{url(ports.sink_http)}/healthz", *health_urls],
        **(extra or {}),
    }


#: Why a job of prometheus.yml has no local counterpart (reported as skipped, never hidden).
LOCAL_JOB_GAPS = {
    "kube-state-metrics": "kube-state-metrics needs a Kubernetes API; the local runtime has none",
    "cadvisor": "cAdvisor runs inside the kubelet; the local runtime has no kubelet",
    "grafana": "Grafana is not running locally",
    "loki": "Loki is not running locally",
    "jaeger": "Jaeger is not running locally",
    "stackcheck": "the smoke exporter runs in the cluster (manifests/smoke); locally, run `stackcheck serve` "
                  "yourself",
}


def _localise_job(job: dict[str, Any], targets: list[str], ports: Ports) -> dict[str, Any]:
    # Discovery and in-cluster credentials (service-account token, kubelet TLS) have no local meaning.
    dropped = ("authorization", "bearer_token_file", "tls_config")
    out = {k: v for k, v in job.items() if not k.endswith("_sd_configs") and k not in dropped}
    if out.get("scheme") == "https":
        del out["scheme"]
    out["static_configs"] = [{"targets": targets, "labels": {"stackcheck_runtime": "local"}}]
    relabels = []
    for rule in job.get("relabel_configs") or []:
        sources = " ".join(rule.get("source_labels") or [])
        if "__meta_kubernetes" in sources:
            continue
        rule = copy.deepcopy(rule)
        if rule.get("target_label") == "__address__" and not rule.get("source_labels"):
            rule["replacement"] = addr(ports.blackbox)  # the blackbox pattern: probe via the exporter
        relabels.append(rule)
    if relabels:
        out["relabel_configs"] = relabels
    else:
        out.pop("relabel_configs", None)
    return out


def prometheus_config(manifests: Manifests, ports: Ports, factor: float, rules_dir: Path, *,
                      extra_targets: Mapping[str, list[str]] | None = None, extra_health: Sequence[str] = (),
                      gaps: Mapping[str, str] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """The local prometheus.yml and the jobs left out (job → reason)."""
    config = scale_prometheus_config(manifests.prometheus_config(), factor)
    targets = local_scrape_targets(ports, extra_targets, extra_health)
    reasons = {**LOCAL_JOB_GAPS, **(gaps or {})}
    jobs, skipped = [], {}
    for job in config.get("scrape_configs") or []:
        name = str(job["job_name"])
        if name in targets:
            jobs.append(_localise_job(job, targets[name], ports))
        else:
            skipped[name] = reasons.get(name, f"job {name} has no local counterpart")
    config["scrape_configs"] = jobs
    config["rule_files"] = [str(rules_dir / "*.yml")]
    config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [addr(ports.alertmanager)]}]}]}
    return config, skipped


def write_rules(manifests: Manifests, factor: float, rules_dir: Path) -> None:
    """Write time-scaled copies of every rule file the manifests' prometheus.yml loads."""
    rules_dir.mkdir(parents=True, exist_ok=True)
    for old in rules_dir.glob("*.yml"):
        old.unlink()
    for path in manifests.rule_files():
        doc = scale_rules(load_yaml(path) or {}, factor)
        (rules_dir / path.name).write_text(yaml.safe_dump(doc, sort_keys=False))


def alertmanager_config(manifests: Manifests, ports: Ports, factor: float, secrets_dir: Path,
                        ) -> dict[str, Any]:
    """The local alertmanager.yml: same routes and receivers, delivering to the sink.

    Slack URLs (read from ``*_file`` as in production) become sink URLs written into files under
    ``secrets_dir``; SMTP goes to the sink without TLS or auth; webhook URLs go to the sink with a
    generated bearer token, so the credentials path stays exercised.
    """
    config = scale_alertmanager_config(manifests.alertmanager_config(), factor)
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    deliver_to_sink(config, addr(ports.sink_smtp), url(ports.sink_http))
    glob = config["global"]
    sink_slack = f"{url(ports.sink_http)}/slack"
    if "slack_api_url_file" in glob or "slack_api_url" in glob:
        glob.pop("slack_api_url", None)
        glob["slack_api_url_file"] = str(_secret(secrets_dir, "slack-default", f"{sink_slack}/default"))
    token = pysecrets.token_hex(16)
    for receiver in config.get("receivers") or []:
        name = str(receiver.get("name"))
        for slack in receiver.get("slack_configs") or []:
            slack.pop("api_url", None)
            slack["api_url_file"] = str(_secret(secrets_dir, f"slack-{name}", f"{sink_slack}/{name}"))
        for hook in receiver.get("webhook_configs") or []:
            http_config = hook.get("http_config") or {}
            if "authorization" in http_config:
                token_file = _secret(secrets_dir, "webhook-token", token)
                http_config["authorization"] = {"type": "Bearer", "credentials_file": str(token_file)}
    return config


_SMTP_AUTH = (
    "smtp_auth_username",
    "smtp_auth_password",
    "smtp_auth_password_file",
    "smtp_auth_secret",
    "smtp_auth_secret_file",
    "smtp_auth_identity",
)
_EMAIL_AUTH = (
    "smarthost",
    "auth_username",
    "auth_password",
    "auth_password_file",
    "auth_secret",
    "auth_secret_file",
    "auth_identity",
    "tls_config",
)


def deliver_to_sink(config: dict[str, Any], smarthost: str, http_base: str) -> None:
    """Point SMTP and every webhook of an alertmanager.yml at the sink, in place.

    SMTP goes to ``smarthost`` without TLS or authentication (the sink speaks neither); each webhook
    URL becomes ``<http_base>/webhook/<receiver>`` so the sink records which receiver sent it. A
    webhook's ``http_config.authorization`` stays: the sink accepts any token, and the credentials
    path stays exercised. Slack is left to the caller (the URL comes from a file or a secret).
    """
    glob = config.setdefault("global", {})
    glob["smtp_smarthost"] = smarthost
    glob["smtp_require_tls"] = False
    for key in _SMTP_AUTH:
        glob.pop(key, None)
    for receiver in config.get("receivers") or []:
        name = str(receiver.get("name"))
        for email in receiver.get("email_configs") or []:
            for key in _EMAIL_AUTH:
                email.pop(key, None)
            email["require_tls"] = False
        for hook in receiver.get("webhook_configs") or []:
            hook.pop("url_file", None)
            hook["url"] = f"{http_base}/webhook/{name}"
            (hook.get("http_config") or {}).pop("tls_config", None)


def _secret(secrets_dir: Path, name: str, value: str) -> Path:
    path = secrets_dir / name
    path.write_text(value)
    path.chmod(0o600)
    return path


def dump(config: dict[str, Any], path: Path) -> Path:
    """Write a config as YAML."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
