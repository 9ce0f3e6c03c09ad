"""Loki's and Alloy's promises: 744h retention really in force, storage on the PVC, the port every
client uses, and a collector that pushes to that port with the labels the checks select on."""

from __future__ import annotations

import json
import re

from stackcheck.dashboards import iter_targets, loki_stream_selector, target_datasource
from stackcheck.lint.promises.common import (
    config_promise,
    listen_promise,
    on_pvc,
    reaches,
    workload_promise,
)
from stackcheck.lint.promises.model import Promise, Verdict, promise, same_duration, shown
from stackcheck.lint.promises.stack import Stack, Workload, dig
from stackcheck.local.services.loki import LOKI_PATH_KEYS

LOKI = "loki/loki.yaml"
ALLOY = "alloy/config.alloy"
#: DESIGN.md: "retention 744h (31 days) really in force".
RETENTION = "744h"
#: Retention works only on a 24h index period (Loki docs, operations/storage/retention.md).
INDEX_PERIOD = "24h"
#: Loki's -target values that run the compactor (the component that applies retention).
COMPACTOR_TARGETS = frozenset({"all", "compactor", "backend"})
#: Labels Loki adds itself (service_name, detected_level): no collector has to attach them.
LOKI_ADDED_LABELS = frozenset({"service_name", "detected_level"})
PUSH_PATH = "/loki/api/v1/push"
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|//[^\n]*|/\*.*?\*/', re.DOTALL)
_LABEL = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")


@promise("loki.retention_in_force", needs_objects=False)
def retention_in_force(stack: Stack) -> Verdict:
    """Loki deletes logs after 744h: compactor retention enabled, delete_request_store set, 24h index
    period"""
    doc, where = stack.yaml(LOKI), stack.rel(LOKI)
    relied = f"DESIGN.md promises {RETENTION} (31 days) of logs, really in force"
    problems = []
    enabled = dig(doc, "compactor.retention_enabled")
    if enabled is not True:
        problems.append(
            f"{where}: compactor.retention_enabled is {shown(enabled)}: without it the compactor only "
            f"compacts and Loki keeps every log forever; {relied}; set compactor.retention_enabled: true"
        )
    store = dig(doc, "compactor.delete_request_store")
    if not store:
        problems.append(
            f"{where}: compactor.delete_request_store is {shown(store)}: Loki refuses to start with "
            f"retention enabled and no delete-request store; {relied}; set "
            "compactor.delete_request_store: filesystem (the object_store of schema_config)"
        )
    stores = sorted(
        {str(c.get("object_store")) for c in dig(doc, "schema_config.configs") or [] if isinstance(c, dict)}
    )
    if store and stores and store not in stores:
        problems.append(
            f"{where}: compactor.delete_request_store is {store!r}, but the chunks are in {stores} "
            f"(schema_config object_store): Loki has no {store} client configured and does not start; "
            f"set compactor.delete_request_store: {stores[0]}"
        )
    period = dig(doc, "limits_config.retention_period")
    if not same_duration(period, RETENTION):
        written = "unset (0s: keep forever)" if period is None else repr(period)
        problems.append(
            f"{where}: limits_config.retention_period is {written}; {relied}; set "
            f"limits_config.retention_period: {RETENTION}"
        )
    for entry in dig(doc, "limits_config.retention_stream") or []:
        problems.append(
            f"{where}: limits_config.retention_stream {entry.get('selector')!r} keeps those streams "
            f"{entry.get('period')} instead of {RETENTION}; {relied}; remove the override"
        )
    for i, config in enumerate(dig(doc, "schema_config.configs") or []):
        index = dig(config, "index.period")
        if not same_duration(index, INDEX_PERIOD):
            problems.append(
                f"{where}: schema_config.configs[{i}].index.period is {index!r}: retention applies "
                f"only to a {INDEX_PERIOD} index period; set index.period: {INDEX_PERIOD}"
            )
    return Verdict(
        f"retention_period {period}, compactor retention_enabled, delete_request_store {store}", problems
    )


@promise("loki.single_tenant", needs_objects=False)
def single_tenant(stack: Stack) -> Verdict:
    """Loki runs single-tenant (auth_enabled: false), as Grafana, Alloy and the log checks send no
    X-Scope-OrgID"""
    value = stack.yaml(LOKI).get("auth_enabled", True)
    problems = (
        []
        if value is False
        else [
            (
                f"{stack.rel(LOKI)}: auth_enabled is {shown(value)} (Loki's default is true): every push and "
                "query without "
                "an X-Scope-OrgID header gets 401 'no org id', and the Grafana datasource, Alloy and the "
                "log checks "
                "send none; set auth_enabled: false"
            )
        ]
    )
    return Verdict("auth_enabled: false", problems)


@workload_promise("loki.compactor_runs", "loki", "retention needs a running compactor")
def compactor_runs(stack: Stack, w: Workload) -> Verdict:
    """the Loki process runs the compactor (the part that applies retention), once"""
    target = w.flag("-target", "--target") or "all"
    replicas = (w.obj.body.get("spec") or {}).get("replicas", 1)
    problems = []
    if not COMPACTOR_TARGETS & set(target.split(",")):
        problems.append(
            f"{stack.at(w)}: -target={target} runs no compactor, so retention "
            f"({stack.rel(LOKI)} compactor.retention_enabled) is never applied; use -target=all"
        )
    if replicas != 1:
        problems.append(
            f"{stack.at(w)}: replicas {replicas}: the compactor must be a singleton on its "
            "ReadWriteOnce PVC; keep replicas: 1"
        )
    return Verdict(f"-target={target}, replicas {replicas}", problems)


@workload_promise("loki.storage_on_pvc", "loki", "its data belongs on a PVC")
def storage_on_pvc(stack: Stack, w: Workload) -> Verdict:
    """every Loki path (path_prefix, chunks, rules, compactor) is on the PVC"""
    relied = "chunks, index and retention markers must survive a restart (DESIGN.md: PVC)"
    found = list(_paths(stack.yaml(LOKI), ""))
    problems = [p for key, path in found for p in on_pvc(stack, w, path, f"{stack.rel(LOKI)} {key}", relied)]
    return Verdict(f"{len(found)} paths on the PVC", problems)


def _paths(node: object, prefix: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            dotted = f"{prefix}.{key}" if prefix else str(key)
            if key in LOKI_PATH_KEYS and isinstance(value, str) and value.startswith("/"):
                found.append((dotted, value))
            else:
                found += _paths(value, dotted)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, f"{prefix}[{i}]")
    return found


# --------------------------------------------------------------------------- Alloy


def alloy_text(stack: Stack) -> str:
    """config.alloy without ``//`` and ``/* */`` comments (strings, and the ``//`` of URLs, kept)."""
    return _TOKEN.sub(lambda m: m.group(0) if m.group(0).startswith('"') else "", stack.text(ALLOY))


@promise("alloy.loki_push_url", optional=ALLOY)
def loki_push_url(stack: Stack) -> Verdict:
    """Alloy's loki.write pushes to Loki's Service, on the port Loki listens on"""
    where = stack.rel(ALLOY)
    w = stack.workload("alloy")
    block = re.search(r'loki\.write\s+"[^"]*"\s*\{(.*)', alloy_text(stack), re.DOTALL)
    urls = re.findall(r'\burl\s*=\s*"([^"]+)"', block.group(1)) if block else []
    if not urls:
        return Verdict(
            "",
            [
                (
                    f"{where}: no loki.write endpoint url: nothing ships pod logs to Loki, so "
                    "logs.fresh and logs.canary fail; add loki.write with the Loki Service's push URL"
                )
            ],
        )
    problems = []
    for url in urls:
        problems += reaches(
            stack,
            url,
            w.namespace if w else "monitoring",
            where,
            "loki.write endpoint url",
            "loki",
            path=PUSH_PATH,
        )[1]
    return Verdict(f"pushes to {', '.join(urls)}", problems)


_COMPONENT = re.compile(r'\b([a-z_]+(?:\.[a-z_]+)+)\s+"([^"]+)"\s*\{')


def alloy_components(text: str) -> dict[str, str]:
    """``loki.process.pod_logs`` → its block's body (top-level components of config.alloy)."""
    found: dict[str, str] = {}
    pos = 0
    while (match := _COMPONENT.search(text, pos)) is not None:
        depth, end = 1, match.end()
        while end < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        found[f"{match.group(1)}.{match.group(2)}"] = text[match.end() : end - 1]
        pos = end
    return found


@promise("alloy.pipeline_reaches_loki", needs_objects=False, optional=ALLOY)
def pipeline_reaches_loki(stack: Stack) -> Verdict:
    """every Alloy log source forwards, through its stages, to a loki.write"""
    where = stack.rel(ALLOY)
    components = alloy_components(alloy_text(stack))
    edges = {
        name: re.findall(r"([\w.]+)\.receiver", m.group(1))
        for name, body in components.items()
        if (m := re.search(r"\bforward_to\s*=\s*\[([^\]]*)\]", body))
    }
    problems = [
        f"{where}: {name} forwards to {ref}.receiver, which the config does not define; logs stop there; "
        "name a defined loki.process or loki.write"
        for name, refs in sorted(edges.items())
        for ref in refs
        if ref not in components
    ]
    sources = sorted(n for n in components if n.startswith("loki.source."))
    for source in sources:
        seen, todo = {source}, [source]
        while todo:
            for ref in edges.get(todo.pop(), []):
                if ref in components and ref not in seen:
                    seen.add(ref)
                    todo.append(ref)
        if not any(n.startswith("loki.write.") for n in seen):
            problems.append(
                f"{where}: {source} reaches {sorted(seen - {source}) or 'nothing'}, no loki.write: its "
                "lines never get to Loki (logs.fresh, logs.canary); end the forward_to chain at loki.write"
            )
    if not sources:
        problems.append(
            f"{where}: no loki.source.* component: Alloy collects no log; add loki.source.kubernetes"
        )
    return Verdict(f"{', '.join(sources)} → loki.write", problems)


@promise("alloy.labels_for_checks", needs_objects=False, optional=ALLOY)
def labels_for_checks(stack: Stack) -> Verdict:
    """Alloy attaches every label the log checks, dashboards and datasource links select on"""
    # Imported here: stackcheck.checks pulls in the HTTP clients (~0.1 s), which the rest of lint never needs.
    from stackcheck.checks.telemetry import PHASE5_LOG_SELECTOR

    attached = set(re.findall(r'target_label\s*=\s*"([^"]+)"', alloy_text(stack)))
    wanted: dict[str, str] = {
        name: f"the log checks' selector {PHASE5_LOG_SELECTOR} (stackcheck/checks/telemetry.py)"
        for name in _labels(PHASE5_LOG_SELECTOR)
    }
    for path in stack.ctx.dashboard_files:
        try:
            board = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue  # lint.dashboard reports it
        for panel, target in iter_targets(board):
            if target_datasource(panel, target).get("uid") == "loki" and target.get("expr"):
                try:
                    selector = loki_stream_selector(str(target["expr"]))
                except ValueError:
                    continue
                for name in _labels(selector):
                    wanted.setdefault(name, f"{stack.ctx.rel(path)} panel {panel.get('title', '?')!r}")
    for source in stack.datasources():
        for tag in dig(source, "jsonData.tracesToLogsV2.tags") or []:
            if isinstance(tag, dict) and tag.get("value"):
                wanted.setdefault(
                    str(tag["value"]),
                    f"{stack.ctx.rel(stack.ctx.datasources_path)} {source.get('uid')} tracesToLogsV2.tags",
                )
    problems = [
        f"{stack.rel(ALLOY)}: no relabel rule sets target_label {name!r}, which {who} selects on; "
        f"those queries find no line; add a rule with target_label = {json.dumps(name)}"
        for name, who in sorted(wanted.items())
        if name not in attached | LOKI_ADDED_LABELS
    ]
    return Verdict(f"labels {', '.join(sorted(wanted))} attached", problems)


def _labels(selector: str) -> list[str]:
    return _LABEL.findall(selector.strip("{}"))


@workload_promise("alloy.env_set", "alloy", "it ships the pod logs", optional=ALLOY)
def env_set(stack: Stack, w: Workload) -> Verdict:
    """every environment variable config.alloy reads is set on the Alloy container"""
    names = sorted(set(re.findall(r'sys\.env\("([^"]+)"\)', alloy_text(stack))))
    problems = [
        f"{stack.rel(ALLOY)}: reads sys.env({json.dumps(n)}), which {stack.at(w)} does not set; "
        "set it in the container's env"
        for n in names
        if w.env(n) is None
    ]
    return Verdict(f"{', '.join(names) or 'no variables'} set", problems)


PROMISES: tuple[Promise, ...] = (
    retention_in_force,
    single_tenant,
    config_promise("loki", "loki", LOKI, ("-config.file", "--config.file"), shown="Loki"),
    compactor_runs,
    listen_promise(
        "loki",
        "loki",
        title="Loki listens (server.http_listen_port/grpc_listen_port) on the ports its container, Service "
        "and probes use",
    ),
    storage_on_pvc,
    config_promise("alloy", "alloy", ALLOY, (), shown="Alloy", positional="run", optional=ALLOY),
    loki_push_url,
    pipeline_reaches_loki,
    labels_for_checks,
    env_set,
    listen_promise("alloy", "alloy", optional=ALLOY),
)
