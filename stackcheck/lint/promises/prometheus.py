"""Prometheus' promises: the 15 s scrape interval, the jobs others name, rule files where the glob finds
them, TSDB on the PVC, discovery that finds real Services, and probe pods the phase5 job keeps."""

from __future__ import annotations

import fnmatch
import re
from pathlib import PurePosixPath
from typing import Any

from stackcheck.lint.k8s import target_name
from stackcheck.lint.promises.common import (
    RENDERING,
    config_promise,
    flag_on_pvc,
    listen_promise,
    merge_renderings,
    probe_promise,
    workload_promise,
)
from stackcheck.lint.promises.model import Promise, Verdict, promise, same_duration
from stackcheck.lint.promises.stack import Stack, Workload
from stackcheck.local.configs import LOCAL_JOB_GAPS, local_scrape_targets
from stackcheck.local.ports import Ports
from stackcheck.local.services import scrape_targets
from stackcheck.timescale import parse_duration

PROMETHEUS = "prometheus/prometheus.yml"
#: DESIGN.md: "Kubernetes service discovery, 15 s scrape interval".
SCRAPE_INTERVAL = "15s"
_JOB = re.compile(r'\bjob\s*(?:=|!=)\s*"([^"]+)"')
_SD_SOURCES = ["__meta_kubernetes_service_name", "__meta_kubernetes_endpointslice_port_name"]


def _where(stack: Stack) -> str:
    return stack.rel(PROMETHEUS)


@promise("prometheus.scrape_interval_15s", needs_objects=False)
def scrape_interval(stack: Stack) -> Verdict:
    """prometheus.yml scrapes every 15s (global scrape_interval)"""
    given = (stack.ctx.prometheus.get("global") or {}).get("scrape_interval")
    ok = same_duration(given, SCRAPE_INTERVAL)
    problems = (
        []
        if ok
        else [
            (
                f"{_where(stack)}: global.scrape_interval is {given!r} (unset means 1m): DESIGN.md promises "
                f"{SCRAPE_INTERVAL}, the rules' windows, the Grafana datasource's timeInterval and "
                "verify's wait "
                f"budgets are sized for it; set global.scrape_interval: {SCRAPE_INTERVAL}"
            )
        ]
    )
    problems += [
        f"{_where(stack)}: job {j.get('job_name')!r} sets scrape_interval {j['scrape_interval']!r}, "
        f"not {SCRAPE_INTERVAL}; remove it"
        for j in _jobs(stack)
        if "scrape_interval" in j and not same_duration(j["scrape_interval"], SCRAPE_INTERVAL)
    ]
    return Verdict(f"scrape_interval {given}", problems)


def _jobs(stack: Stack) -> list[dict[str, Any]]:
    return [j for j in stack.ctx.prometheus.get("scrape_configs") or [] if isinstance(j, dict)]


@promise("prometheus.jobs_relied_on", needs_objects=False)
def jobs_relied_on(stack: Stack) -> Verdict:
    """every scrape job that the rules, dashboards and the local runtime name exists in prometheus.yml,
    once"""
    names = [str(j.get("job_name")) for j in _jobs(stack)]
    wanted: dict[str, str] = {}
    for rule in stack.ctx.rules:
        for job in _JOB.findall(rule.expr):
            wanted.setdefault(job, f"{stack.ctx.rel(rule.file)} {rule.kind} {rule.name}")
    local = {**local_scrape_targets(Ports()), **scrape_targets(Ports().base, ("loki", "grafana", "jaeger"))}
    for job in [*local, *LOCAL_JOB_GAPS]:
        wanted.setdefault(
            job, "the local runtime (stackcheck/local/configs.py, services/) and verify's targets.up"
        )
    problems = [
        f"{_where(stack)}: no scrape job {job!r}, which {who} relies on; add it or keep its job_name"
        for job, who in sorted(wanted.items())
        if job not in names
    ]
    problems += [
        f"{_where(stack)}: job_name {n!r} is used {names.count(n)} times; job names must be unique"
        for n in sorted({n for n in names if names.count(n) > 1})
    ]
    return Verdict(f"{len(names)} jobs: {', '.join(names)}", problems)


def _prometheus(stack: Stack, objects: list[Any] | None = None) -> Workload | None:
    for kind in ("StatefulSet", "Deployment"):
        for obj in stack.of_kind(kind, objects):
            if obj.app == "prometheus":
                return Workload(obj)
    return None


@promise("prometheus.rule_files_mounted")
def rule_files_mounted(stack: Stack) -> Verdict:
    """prometheus.yml's rule_files globs find, in the container, exactly the rule files lint and promtool
    check, in every rendering"""
    patterns = [str(p) for p in stack.ctx.prometheus.get("rule_files") or []]
    expected = sorted(p.name for p in stack.ctx.rule_files)
    found: list[tuple[str, str]] = []
    for target, objects in stack.renderings.items():
        w = _prometheus(stack, objects)
        if w is None or objects is None:
            continue
        base = PurePosixPath(w.flag("--config.file") or "/etc/prometheus/prometheus.yml").parent
        seen: set[str] = set()
        for pattern in patterns:
            full = base / pattern
            mounted = w.mount(str(full.parent))
            if mounted is None or "configMap" not in mounted[1]:
                message = (
                    f"{_where(stack)}: rule_files {pattern!r} is {full} in {stack.at(w)} {RENDERING}, where "
                    f"no ConfigMap is mounted; mount prometheus-rules at {full.parent}"
                )
                found.append((message, target_name(target)))
                continue
            name = str(mounted[1]["configMap"].get("name"))
            cm = stack.find("ConfigMap", name, w.namespace, objects)
            keys = sorted((cm.body.get("data") or {}) if cm else [])
            seen |= {k for k in keys if fnmatch.fnmatch(k, full.name)}
        if sorted(seen) != expected:
            message = (
                f"{_where(stack)}: rule_files {patterns} load {sorted(seen)} in {stack.at(w)} {RENDERING}, "
                f"but config/prometheus/rules has {expected} (what lint and promtool check); list every "
                "rule file in the prometheus-rules ConfigMap generator (config/kustomization.yaml and the "
                "kind overlay's)"
            )
            found.append((message, target_name(target)))
    return Verdict(f"{', '.join(expected)} loaded in every rendering", merge_renderings(found))


@workload_promise("prometheus.tsdb_on_pvc", "prometheus", "its TSDB belongs on a PVC")
def tsdb_on_pvc(stack: Stack, w: Workload) -> Verdict:
    """Prometheus keeps its TSDB on the PVC, with an explicit retention"""
    path, problems = flag_on_pvc(stack, w, "--storage.tsdb.path", "/prometheus",
                                 "DESIGN.md: Prometheus with a PVC (series survive a restart)")
    retention = w.flag("--storage.tsdb.retention.time")
    if retention is None:
        problems.append(
            f"{stack.at(w)}: no --storage.tsdb.retention.time; Prometheus 2.42 reads retention only "
            "from this flag (3.x deprecates it, but must read the same config); set it, e.g. 15d"
        )
    else:
        try:
            parse_duration(retention)
        except ValueError:
            problems.append(
                f"{stack.at(w)}: --storage.tsdb.retention.time={retention} is not a duration; use e.g. 15d"
            )
    size = w.flag("--storage.tsdb.retention.size")
    claim = _claim_bytes(w, path if path.startswith("/") else f"/prometheus/{path}")
    if size is not None and claim is not None:
        wanted = _prometheus_bytes(size)
        if wanted is None:
            problems.append(
                f"{stack.at(w)}: --storage.tsdb.retention.size={size} is not a size; use e.g. 8GB"
            )
        elif wanted >= claim:
            problems.append(
                f"{stack.at(w)}: --storage.tsdb.retention.size={size} is not below the PVC's "
                f"{claim / 2**30:g}Gi: the disk fills (and Prometheus stops writing) before size retention "
                "deletes anything; keep it at about 80% of the PVC"
            )
    return Verdict(f"--storage.tsdb.path={path} on the PVC, retention {retention}", problems)


_K8S_UNITS = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
}
#: Prometheus' size units are powers of 2 (units.Base2Bytes: 1KB = 1024 B).
_PROM_UNITS = {"B": 1, "KB": 2**10, "MB": 2**20, "GB": 2**30, "TB": 2**40, "PB": 2**50, "EB": 2**60}


def _prometheus_bytes(text: str) -> int | None:
    match = re.fullmatch(r"(\d+)(B|KB|MB|GB|TB|PB|EB)", text.strip())
    return int(match.group(1)) * _PROM_UNITS[match.group(2)] if match else None


def _claim_bytes(w: Workload, path: str) -> int | None:
    """The storage request of the volumeClaimTemplate holding ``path`` (None: not a claim template)."""
    mounted = w.mount(path)
    if mounted is None or not mounted[1].get("volumeClaimTemplate"):
        return None
    for template in (w.obj.body.get("spec") or {}).get("volumeClaimTemplates") or []:
        if (template.get("metadata") or {}).get("name") == mounted[0].get("name"):
            request = str(
                ((template.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage")
            )
            match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?", request)
            if match:
                return int(match.group(1)) * _K8S_UNITS.get(match.group(2) or "", 1)
    return None


def _endpointslice_jobs(stack: Stack) -> list[tuple[str, dict[str, Any]]]:
    alerting = stack.ctx.prometheus.get("alerting") or {}
    found = [(f"job {j.get('job_name')!r}", j) for j in _jobs(stack)]
    found += [(f"alerting.alertmanagers[{i}]", a) for i, a in enumerate(alerting.get("alertmanagers") or [])]
    return found


def _sd_problems(stack: Stack, label: str, job: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The Services an endpointslice job keeps (``svc;port`` on service and port name) must exist."""
    problems, kept = [], []
    sds = [s for s in job.get("kubernetes_sd_configs") or [] if s.get("role") == "endpointslice"]
    if not sds:
        return [], []
    namespaces = [str(n) for s in sds for n in ((s.get("namespaces") or {}).get("names") or [])]
    for rule in job.get("relabel_configs") or []:
        if rule.get("action") != "keep" or list(rule.get("source_labels") or []) != _SD_SOURCES:
            continue
        regex = str(rule.get("regex", ""))
        if ";" not in regex or any(c in regex for c in "|*+?()[]"):
            continue  # a pattern, not one Service: nothing to resolve
        name, port_name = regex.split(";", 1)
        services = [
            s
            for s in stack.of_kind("Service")
            if (s.body.get("metadata") or {}).get("name") == name
            and (not namespaces or (s.body.get("metadata") or {}).get("namespace") in namespaces)
        ]
        kept.append(f"{name}:{port_name}")
        if not services:
            problems.append(
                f"{_where(stack)}: {label} keeps Service {name} port {port_name}, but no Service {name} "
                f"is in namespaces {namespaces or 'any'}; the job has no target (targets.up fails); "
                "fix the regex or the namespaces"
            )
            continue
        entry = stack.service_port(services[0], name=port_name)
        if entry is None:
            problems.append(
                f"{_where(stack)}: {label} keeps port name {port_name!r} of Service {name} "
                f"({stack.at(services[0])}), which has no port of that name; fix one of them"
            )
            continue
        w, port = stack.resolve_service_port(services[0], entry)
        listeners = stack.listeners(w) if w is not None else None
        if (
            w is not None
            and port is not None
            and listeners is not None
            and not any(li.port == port and li.reachable for li in listeners)
        ):
            problems.append(
                f"{_where(stack)}: {label} scrapes {name}:{port_name} = container port {port} of "
                f"{w.where}, where nothing listens; make them agree"
            )
    return problems, kept


@promise("prometheus.discovery_finds_services")
def discovery_finds_services(stack: Stack) -> Verdict:
    """every endpointslice job keeps a Service port that exists, in the namespaces it watches, and reaches a
    listener"""
    problems, kept = [], []
    for label, job in _endpointslice_jobs(stack):
        if label.startswith("alerting"):
            continue
        found, names = _sd_problems(stack, label, job)
        problems += found
        kept += names
    return Verdict(f"{len(kept)} Service ports: {', '.join(kept)}", problems)


@promise("prometheus.alerting_target")
def alerting_target(stack: Stack) -> Verdict:
    """Prometheus discovers Alertmanager through its Service's http port"""
    problems, kept = [], []
    alertmanagers = [(label, j) for label, j in _endpointslice_jobs(stack) if label.startswith("alerting")]
    if not alertmanagers:
        problems.append(
            f"{_where(stack)}: no alerting.alertmanagers: alerts never leave Prometheus "
            "(alerts.delivered, watchdog.delivered fail); add the Alertmanager discovery"
        )
    for label, job in alertmanagers:
        found, names = _sd_problems(stack, label, job)
        problems += found
        kept += names
        if not names and job.get("kubernetes_sd_configs"):
            problems.append(
                f"{_where(stack)}: {label} keeps no Service (no keep rule on service and port name); "
                "keep alertmanager;http"
            )
    if kept and not any(k.startswith("alertmanager:") for k in kept):
        problems.append(
            f"{_where(stack)}: alerting keeps {kept}, not the alertmanager Service; keep alertmanager;http"
        )
    return Verdict(f"alertmanagers via {', '.join(kept)}", problems)


@probe_promise("probe.scrape_annotations")
def probe_scrape_annotations(stack: Stack, w: Workload) -> Verdict:
    """the probe's pods carry the annotations the phase5 job keeps, naming the port the probe listens on"""
    annotations, where = w.pod_annotations, stack.at(w)
    job = next((j for j in _jobs(stack) if j.get("job_name") == "phase5"), {})
    problems = []
    for rule in job.get("relabel_configs") or []:
        sources = list(rule.get("source_labels") or [])
        if rule.get("action") != "keep" or sources != ["__meta_kubernetes_namespace"]:
            continue
        if not re.fullmatch(str(rule.get("regex", "(.*)")), w.namespace):
            problems.append(
                f"{_where(stack)}: job 'phase5' keeps namespaces {rule.get('regex')!r}, not the "
                f"probe's {w.namespace!r} ({where}); widen the regex"
            )
    if annotations.get("prometheus.io/scrape") != "true":
        problems.append(
            f"{where}: pod annotation prometheus.io/scrape is {annotations.get('prometheus.io/scrape')!r}; "
            f"job 'phase5' of {_where(stack)} keeps only \"true\", so the probe is never scraped; set it"
        )
    port = annotations.get("prometheus.io/port")
    listeners = stack.listeners(w) or []
    if port is not None and (not port.isdigit() or int(port) not in w.ports.values()):
        problems.append(
            f"{where}: pod annotation prometheus.io/port {port!r} is no declared container port "
            f"({w.ports}); the phase5 job drops every target; name the metrics port"
        )
    elif port is not None and not any(li.port == int(port) for li in listeners):
        problems.append(
            f"{where}: pod annotation prometheus.io/port {port} is not where the probe listens "
            f"({', '.join(f'{li.source} = {li.port}' for li in listeners)}); make them agree"
        )
    return Verdict(f"scraped on port {port}", problems)


PROMISES: tuple[Promise, ...] = (
    config_promise("prometheus", "prometheus", PROMETHEUS, ("--config.file",), shown="Prometheus"),
    listen_promise("prometheus", "prometheus"),
    scrape_interval,
    jobs_relied_on,
    rule_files_mounted,
    tsdb_on_pvc,
    discovery_finds_services,
    alerting_target,
    probe_scrape_annotations,
    listen_promise("phase5-backend", "probe"),
)
