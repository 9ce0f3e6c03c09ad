"""Jaeger v2's promises: OTLP in on 4317/4318, the query API on 16686, Badger on the PVC, and a probe
that sends its spans to that OTLP port."""

from __future__ import annotations

from stackcheck.lint.promises.common import (
    config_promise,
    listen_promise,
    on_pvc,
    probe_promise,
    reaches,
    workload_promise,
)
from stackcheck.lint.promises.model import Promise, Verdict, promise, shown
from stackcheck.lint.promises.stack import Stack, Workload, dig, jaeger_endpoints

JAEGER = "jaeger/config.yaml"
#: DESIGN.md: "OTLP gRPC 4317 and HTTP 4318, query UI/API 16686".
OTLP_PORTS = {"grpc": 4317, "http": 4318}
QUERY_PORT = 16686
#: Services the probe and Grafana/verify reach Jaeger by (manifests/jaeger/*-service.yaml).
COLLECTOR_SERVICE = "http://jaeger-collector.tracing.svc"
OTLP_TRACES_PATH = "/v1/traces"


def _through(stack: Stack, service: str, port: int) -> list[str]:
    """Service ``tracing/<service>`` port ``port`` reaches a port Jaeger listens on."""
    found = stack.find("Service", service, "tracing")
    if found is None:
        return [
            (
                f"manifests: no Service tracing/{service}; the probe, Grafana and verify reach Jaeger by it; "
                "add it"
            )
        ]
    url = f"http://{service}.tracing.svc:{port}"
    return reaches(stack, url, "tracing", stack.at(found), f"port {port}", "jaeger")[1]


@promise("jaeger.otlp_receivers")
def otlp_receivers(stack: Stack) -> Verdict:
    """Jaeger receives OTLP gRPC on 4317 and HTTP on 4318, in its traces pipeline, reachable through Service
    jaeger-collector"""
    doc, where = stack.yaml(JAEGER), stack.rel(JAEGER)
    endpoints = jaeger_endpoints(doc)
    problems = []
    receivers = dig(doc, "service.pipelines.traces.receivers") or []
    if "otlp" not in receivers:
        problems.append(
            f"{where}: service.pipelines.traces.receivers is {receivers!r}, without otlp: spans "
            "the probe sends are dropped (traces.fresh, traces.canary); add otlp"
        )
    for proto, port in OTLP_PORTS.items():
        key = f"receivers.otlp.protocols.{proto}.endpoint"
        host_port = endpoints.get(key)
        if host_port is None:
            problems.append(
                f"{where}: {key} is not configured: DESIGN.md promises OTLP {proto} on {port}; "
                f"add receivers.otlp.protocols.{proto}.endpoint: 0.0.0.0:{port}"
            )
            continue
        host, found = host_port
        if found != port or host in ("localhost", "127.0.0.1", "::1"):
            problems.append(
                f"{where}: {key} is {host}:{found}: DESIGN.md promises OTLP {proto} on "
                f"0.0.0.0:{port} (Service jaeger-collector, the probe's --otlp-endpoint); set "
                f"{key}: 0.0.0.0:{port}"
            )
        if stack.objects is not None:
            problems += _through(stack, "jaeger-collector", port)
    return Verdict("OTLP gRPC 4317, HTTP 4318 via Service jaeger-collector", problems)


@promise("jaeger.query_on_16686")
def query_on_16686(stack: Stack) -> Verdict:
    """Jaeger's query UI/API listens on 16686, reachable through Service jaeger-query"""
    doc, where = stack.yaml(JAEGER), stack.rel(JAEGER)
    problems = []
    if "jaeger_query" not in (dig(doc, "service.extensions") or []):
        problems.append(
            f"{where}: service.extensions lacks jaeger_query, so nothing serves the query API "
            "(Grafana's Jaeger datasource, traces checks); add it"
        )
    host_port = jaeger_endpoints(doc).get("extensions.jaeger_query.http.endpoint")
    if host_port is None or host_port[1] != QUERY_PORT or host_port[0] in ("localhost", "127.0.0.1"):
        written = "not configured" if host_port is None else f"{host_port[0]}:{host_port[1]}"
        problems.append(
            f"{where}: extensions.jaeger_query.http.endpoint is {written}: DESIGN.md promises the "
            f"query UI/API on {QUERY_PORT} (Grafana's datasource, verify's jaeger endpoint); set "
            f"it to 0.0.0.0:{QUERY_PORT}"
        )
    problems += _through(stack, "jaeger-query", QUERY_PORT)
    return Verdict(f"query API on {QUERY_PORT} via Service jaeger-query", problems)


@workload_promise("jaeger.badger_on_pvc", "jaeger", "traces belong on a PVC")
def badger_on_pvc(stack: Stack, w: Workload) -> Verdict:
    """Jaeger stores traces in persistent Badger directories on the jaeger-data PVC"""
    doc, where = stack.yaml(JAEGER), stack.rel(JAEGER)
    backends = dig(doc, "extensions.jaeger_storage.backends") or {}
    problems = []
    used = {
        "extensions.jaeger_query.storage.traces": dig(doc, "extensions.jaeger_query.storage.traces"),
        "exporters.jaeger_storage_exporter.trace_storage": dig(
            doc, "exporters.jaeger_storage_exporter.trace_storage"
        ),
    }
    for key, name in used.items():
        if name not in backends:
            problems.append(
                f"{where}: {key} is {name!r}, not a backend of extensions.jaeger_storage.backends "
                f"({sorted(backends)}); name the Badger backend"
            )
    relied = "DESIGN.md: Badger storage on a PVC (traces survive a restart)"
    for name in sorted({n for n in used.values() if n in backends}):
        badger = (backends.get(name) or {}).get("badger")
        if not isinstance(badger, dict):
            problems.append(f"{where}: extensions.jaeger_storage.backends.{name} is not badger; {relied}")
            continue
        if badger.get("ephemeral") is not False:
            problems.append(
                f"{where}: backends.{name}.badger.ephemeral is {shown(badger.get('ephemeral'))} "
                f"(default true: in memory, lost on restart); {relied}; set ephemeral: false"
            )
        for kind in ("keys", "values"):
            path = dig(badger, f"directories.{kind}")
            if not path:
                problems.append(
                    f"{where}: backends.{name}.badger.directories.{kind} is not set; {relied}; "
                    "set it under the PVC's mountPath"
                )
                continue
            problems += on_pvc(
                stack, w, str(path), f"{where} backends.{name}.badger.directories.{kind}", relied
            )
    return Verdict(f"Badger backend(s) {', '.join(sorted(backends))} on the PVC", problems)


@probe_promise("probe.otlp_endpoint")
def probe_otlp_endpoint(stack: Stack, w: Workload) -> Verdict:
    """the probe sends spans to Jaeger's OTLP HTTP receiver (/v1/traces)"""
    url = w.flag("--otlp-endpoint")
    if url is None:
        return Verdict(
            "",
            [
                (
                    f"{stack.at(w)}: no --otlp-endpoint, so the probe sends no spans and "
                    f"traces.fresh fails; pass {COLLECTOR_SERVICE}:{OTLP_PORTS['http']}{OTLP_TRACES_PATH}"
                )
            ],
        )
    target, problems = reaches(
        stack, url, w.namespace, stack.at(w), "--otlp-endpoint", "jaeger", path=OTLP_TRACES_PATH
    )
    http = jaeger_endpoints(stack.yaml(JAEGER)).get("receivers.otlp.protocols.http.endpoint")
    if target is not None and http is not None and target.container_port != http[1]:
        problems.append(
            f"{stack.at(w)}: --otlp-endpoint {url} reaches Jaeger's port {target.container_port}, "
            f"but the OTLP HTTP receiver is on {http[1]} ({stack.rel(JAEGER)} "
            "receivers.otlp.protocols.http.endpoint); point it at the otlp-http port"
        )
    return Verdict(f"--otlp-endpoint {url}", problems)


@probe_promise("probe.service_name")
def probe_service_name(stack: Stack, w: Workload) -> Verdict:
    """the probe's --service is the service traces.fresh looks for and its pods' app label (the Loki label
    Grafana's trace-to-logs link selects on)"""
    # Imported here: stackcheck.checks pulls in the HTTP clients (~0.1 s), which the rest of lint never needs.
    from stackcheck.checks.telemetry import PHASE5_SERVICE

    given = w.flag("--service")
    problems = []
    if given != PHASE5_SERVICE:
        problems.append(
            f"{stack.at(w)}: --service is {given!r}; traces.fresh and traces.canary look for service "
            f"{PHASE5_SERVICE!r} (stackcheck/checks/telemetry.py PHASE5_SERVICE); pass "
            f"--service {PHASE5_SERVICE}"
        )
    label = w.pod_labels.get("app.kubernetes.io/name")
    if given is not None and label != given:
        problems.append(
            f"{stack.at(w)}: --service {given} differs from the pods' app.kubernetes.io/name {label!r}, "
            "which "
            "Alloy attaches as the Loki label app and Grafana's Jaeger datasource (tracesToLogsV2 "
            "service.name → app) selects on; the trace-to-logs link finds no line; make them equal"
        )
    return Verdict(f"--service {given} = app label {label}", problems)


PROMISES: tuple[Promise, ...] = (
    config_promise("jaeger", "jaeger", JAEGER, ("--config",), shown="Jaeger"),
    listen_promise(
        "jaeger",
        "jaeger",
        title="Jaeger listens (config.yaml endpoints) on every port its container declares",
    ),
    otlp_receivers,
    query_on_16686,
    badger_on_pvc,
    probe_otlp_endpoint,
    probe_service_name,
)
