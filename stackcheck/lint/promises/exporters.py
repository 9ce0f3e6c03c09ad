"""The exporters' promises: blackbox-exporter reads its config, defines every module prometheus.yml asks
for and is reached through its Service, every URL it probes reaches its component on the path of that
component's readiness probe; kube-state-metrics and node-exporter listen where their Services point."""

from __future__ import annotations

from typing import Any

from stackcheck.lint.promises.common import config_promise, listen_promise, reaches
from stackcheck.lint.promises.model import Promise, Verdict, promise
from stackcheck.lint.promises.stack import Stack, Target

PROMETHEUS = "prometheus/prometheus.yml"
BLACKBOX = "blackbox/blackbox.yml"


def _where(stack: Stack) -> str:
    return stack.rel(PROMETHEUS)


def _jobs(stack: Stack) -> list[dict[str, Any]]:
    return [j for j in stack.ctx.prometheus.get("scrape_configs") or [] if isinstance(j, dict)]


def _probe_jobs(stack: Stack) -> list[dict[str, Any]]:
    return [j for j in _jobs(stack) if j.get("metrics_path") == "/probe"]


@promise("blackbox.modules_exist", needs_objects=False)
def modules_exist(stack: Stack) -> Verdict:
    """every blackbox module prometheus.yml asks for is defined in blackbox.yml"""
    modules = stack.yaml(BLACKBOX).get("modules") or {}
    problems, used = [], []
    for job in _probe_jobs(stack):
        for module in (job.get("params") or {}).get("module") or []:
            used.append(str(module))
            if module not in modules:
                problems.append(
                    f"{_where(stack)}: job {job.get('job_name')!r} probes with module {module!r}, which "
                    f"{stack.rel(BLACKBOX)} does not define (it has {sorted(modules)}); every probe "
                    "fails with 'Unknown module'; define it or use one of those"
                )
    return Verdict(f"modules {', '.join(used) or 'none'} defined", problems)


@promise("blackbox.probe_targets")
def probe_targets(stack: Stack) -> Verdict:
    """the blackbox job goes through the blackbox-exporter Service, and every URL it probes reaches its
    component"""
    problems, urls = [], []
    for job in _probe_jobs(stack):
        label = f"job {job.get('job_name')!r}"
        for rule in job.get("relabel_configs") or []:
            if rule.get("target_label") == "__address__" and not rule.get("source_labels"):
                address = str(rule.get("replacement", ""))
                problems += reaches(
                    stack,
                    f"http://{address}",
                    "monitoring",
                    _where(stack),
                    f"{label} __address__ replacement",
                    "blackbox-exporter",
                )[1]
        for group in job.get("static_configs") or []:
            for url in group.get("targets") or []:
                urls.append(str(url))
                target = stack.resolve_url(str(url), "monitoring")
                if isinstance(target, str):
                    problems.append(f"{_where(stack)}: {label} probes {url}: {target}; fix the URL")
                elif target.workload is not None:
                    problems += reaches(
                        stack, str(url), "monitoring", _where(stack), f"{label} target", target.workload.app
                    )[1]
                    problems += _health_path(stack, label, str(url), target)
    return Verdict(f"{len(urls)} URLs reach their components", problems)


def _health_path(stack: Stack, label: str, url: str, target: Target) -> list[str]:
    """A probed URL on the port of the container's readinessProbe must ask the same path: the one the
    component answers health on (a 404 there makes probe_success 0 for a healthy component)."""
    w = target.workload
    probe = (w.container.get("readinessProbe") or {}).get("httpGet") if w else None
    if w is None or not probe or w.port_number(probe.get("port")) != target.container_port:
        return []
    path = str(probe.get("path", "/"))
    if target.path.rstrip("/") == path.rstrip("/"):
        return []
    return [
        (
            f"{_where(stack)}: {label} probes {url}, but {stack.at(w)} answers health on {path} of that port "
            f"(its readinessProbe); probe_success stays 0; probe {path}"
        )
    ]


PROMISES: tuple[Promise, ...] = (
    config_promise("blackbox", "blackbox-exporter", BLACKBOX, ("--config.file",)),
    listen_promise("blackbox-exporter", "blackbox"),
    modules_exist,
    probe_targets,
    listen_promise("kube-state-metrics", "kube_state_metrics"),
    listen_promise("node-exporter", "node_exporter"),
)
