"""``stackcheck up``, ``status`` and ``down``: the stack as local processes on loopback.

``up`` is idempotent (a running stack with the same settings is left alone), polls readiness against a
budget, and on Ctrl-C or a failed start stops whatever it had started, so no process is left behind.
"""
from __future__ import annotations

import hashlib
import json
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from stackcheck import binaries
from stackcheck.errors import Interrupted, Unreachable, UsageError
from stackcheck.local import configs, processes
from stackcheck.local import services as optional
from stackcheck.local.ports import Ports, addr, url
from stackcheck.local.processes import Proc
from stackcheck.local.restart import DEFAULT_READY_BUDGET_S, READY_POLL_S, is_ready
from stackcheck.local.service import Service
from stackcheck.local.state import LocalState, clear
from stackcheck.manifests import Manifests
from stackcheck.wait import until

PROBE_FILE = Path(__file__).resolve().parent.parent / "probe.py"
PROBE_SERVICE = "phase5-backend"
CANARY_SERVICE = "phase5-canary"
#: Prometheus waits this long before re-sending an alert Alertmanager did not get (default 1m, which
#: would delay the first notification by a minute when discovery is slower than the first evaluation).
RESEND_DELAY = "1s"


@dataclass(frozen=True)
class UpOptions:
    """Settings of ``stackcheck up``."""

    manifests: Manifests
    state_dir: Path
    time_scale: float = 1.0
    port_base: int = 29000
    ready_budget_s: float = DEFAULT_READY_BUDGET_S


def plan(options: UpOptions) -> tuple[list[Service], LocalState]:
    """Write the generated configs and return the services to start and the state to save."""
    if options.time_scale <= 0:
        raise UsageError(f"--time-scale must be positive, got {options.time_scale:g}")
    bins = binaries.require(binaries.REQUIRED)
    _check_rules(options.manifests)
    if not options.manifests.blackbox_yml.is_file():
        raise UsageError(f"{options.manifests.blackbox_yml} is missing; blackbox-exporter needs its config")
    ports = Ports(options.port_base)
    state_dir, factor = options.state_dir, options.time_scale
    cfg, data = state_dir / "config", state_dir / "data"
    found = {key: path for key, path in binaries.optional().items() if isinstance(path, Path)}
    extra, optional_skipped = optional.optional_services(options.manifests, options.port_base, state_dir,
                                                         found, factor)
    running_extra = [s.name for s in extra]
    prom_cfg, skipped = configs.prometheus_config(
        options.manifests, ports, factor, cfg / "rules",
        extra_targets=optional.scrape_targets(options.port_base, running_extra),
        extra_health=optional.health_urls(options.port_base, running_extra),
        gaps={job: why for job, why in optional_skipped.items() if job in configs.LOCAL_JOB_GAPS})
    skipped.update(optional_skipped)
    configs.write_rules(options.manifests, factor, cfg / "rules")
    prom_yml = configs.dump(prom_cfg, cfg / "prometheus.yml")
    am_yml = configs.dump(configs.alertmanager_config(options.manifests, ports, factor, cfg / "secrets"),
                          cfg / "alertmanager.yml")
    # The probe sends its spans to the local Jaeger when one runs.
    otlp = ["--otlp-endpoint", optional.otlp_http_url(options.port_base)] if "jaeger" in running_extra else []
    py = sys.executable
    services = [
        Service("sink", [py, "-m", "stackcheck.sink", "--http", addr(ports.sink_http), "--smtp",
                         addr(ports.sink_smtp), "--store", str(data / "notifications.jsonl")],
                f"{url(ports.sink_http)}/healthz", url(ports.sink_http)),
        Service("probe", [py, str(PROBE_FILE), "--listen", addr(ports.probe),
                          "--service", PROBE_SERVICE, *otlp],
                f"{url(ports.probe)}/healthz", url(ports.probe)),
        Service("probe_canary", [py, str(PROBE_FILE), "--listen", addr(ports.probe_canary),
                                 "--service", CANARY_SERVICE],
                f"{url(ports.probe_canary)}/healthz", url(ports.probe_canary)),
        Service("node-exporter", [str(bins["node-exporter"]),
                                  f"--web.listen-address={addr(ports.node_exporter)}"],
                f"{url(ports.node_exporter)}/metrics", url(ports.node_exporter)),
        Service("blackbox-exporter", [str(bins["blackbox-exporter"]),
                                      f"--config.file={options.manifests.blackbox_yml}",
                                      f"--web.listen-address={addr(ports.blackbox)}"],
                f"{url(ports.blackbox)}/metrics", url(ports.blackbox)),
        Service("alertmanager", [str(bins["alertmanager"]), f"--config.file={am_yml}",
                                 f"--storage.path={data / 'alertmanager'}",
                                 f"--web.listen-address={addr(ports.alertmanager)}",
                                 f"--web.external-url={url(ports.alertmanager)}",
                                 "--cluster.listen-address="],
                f"{url(ports.alertmanager)}/-/ready", url(ports.alertmanager)),
        # --storage.tsdb.retention.time is deprecated in Prometheus 3.x in favour of the config file's
        # storage.tsdb.retention, which 2.42 (the Debian package run here) does not read; both accept the
        # flag, and one prometheus.yml serves both, so the flag stays until 2.x is no longer run.
        Service("prometheus", [str(bins["prometheus"]), f"--config.file={prom_yml}",
                               f"--storage.tsdb.path={data / 'prometheus'}",
                               "--storage.tsdb.retention.time=1d",
                               f"--web.listen-address={addr(ports.prometheus)}",
                               f"--web.external-url={url(ports.prometheus)}",
                               f"--rules.alert.resend-delay={RESEND_DELAY}"],
                f"{url(ports.prometheus)}/-/ready", url(ports.prometheus)),
        *extra,
    ]
    endpoints = {s.name: s.endpoint for s in services}
    endpoints["sink_smtp"] = addr(ports.sink_smtp)
    digest = hashlib.sha256(json.dumps(
        [[s.argv for s in services], prom_yml.read_text(), am_yml.read_text(),
         sorted(p.read_text() for p in (cfg / "rules").glob("*.yml")),
         hashlib.sha256(PROBE_FILE.read_bytes()).hexdigest(),
         [p.read_text() for p in optional.generated_configs(state_dir)]],
    ).encode()).hexdigest()
    state = LocalState(
        manifests=str(options.manifests.root), time_scale=factor, port_base=options.port_base,
        fingerprint=digest, started_at=time.time(), endpoints=endpoints, processes=[],
        scrape_jobs=[str(j["job_name"]) for j in prom_cfg["scrape_configs"]], skipped=skipped,
    )
    return services, state


def _check_rules(manifests: Manifests) -> None:
    """Reject a broken rule file before anything starts, naming the user's file and line (not our copy)."""
    promtool = binaries.PROMTOOL.find()
    files = [str(p) for p in manifests.rule_files()]
    if promtool is None or not files:
        return
    ran = subprocess.run([str(promtool), "check", "rules", *files],
                         capture_output=True, text=True, check=False)
    if ran.returncode != 0:
        problems = [line.strip() for line in (ran.stdout + ran.stderr).splitlines() if "FAILED" in line
                    or ": " in line and "SUCCESS" not in line and "Checking" not in line]
        raise UsageError("promtool check rules failed on the manifests; fix them and retry:\n"
                         + "\n".join(problems[:10]))


def running(state: LocalState) -> dict[str, bool]:
    """Whether each recorded process still runs."""
    return {p.name: processes.alive(p) for p in state.processes}


def up(options: UpOptions, console: Console) -> LocalState:
    """Start the local stack, or leave an identical running one alone."""
    services, planned = plan(options)
    current = LocalState.load(options.state_dir)
    if current is not None:
        alive = running(current)
        if current.fingerprint == planned.fingerprint and all(alive.values()):
            console.print(f"Local stack already up (state {options.state_dir}); nothing to do.")
            return current
        console.print("Settings changed or a process died; restarting the local stack.")
        stop_all(current.processes, console)
        clear(options.state_dir)
    _check_ports_free({**Ports(options.port_base).all(),
                       **Ports(options.port_base).of(s.name for s in services)})
    # A new Alertmanager starts with no notification log. The last process' log holds the episodes it
    # sent, and the same alert firing again (the next run's fault) would not be notified before
    # repeat_interval: the full profile would wait for it in vain.
    (options.state_dir / "data" / "alertmanager" / "nflog").unlink(missing_ok=True)
    console.print(f"Starting the local stack: manifests {options.manifests.root}, "
                  f"time scale {options.time_scale:g}, state dir {options.state_dir}")
    started: list[Proc] = []
    try:
        for service in services:
            log = options.state_dir / "logs" / f"{service.name}.log"
            # Hold Ctrl-C until the new process is recorded, so the cleanup below always knows it.
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            try:
                started.append(processes.start(service.name, service.argv, log, append=False))
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        _wait_ready(services, started, options.ready_budget_s, console)
    except BaseException as exc:
        stop_all(started, console)
        if isinstance(exc, KeyboardInterrupt):
            raise Interrupted("interrupted during `stackcheck up`; "
                              "every started process was stopped") from exc
        raise
    planned.processes = started
    planned.started_at = time.time()
    planned.save(options.state_dir)
    for name, reason in planned.skipped.items():
        console.print(f"  [yellow]-[/yellow] {name:<18} skipped: {escape(reason)}")
    console.print("[green]Local stack is up.[/green] Next: [bold]stackcheck verify[/bold]")
    return planned


def _check_ports_free(ports: dict[str, int]) -> None:
    for name, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError as exc:
                raise UsageError(
                    f"port {port} ({name}) on 127.0.0.1 is in use; stop what listens there "
                    "or choose other ports with --port-base"
                ) from exc


def _wait_ready(services: list[Service], procs: list[Proc], budget_s: float, console: Console) -> None:
    """Poll every service until ready; a process that exits or a budget that runs out is an error."""
    start = time.monotonic()
    pending = dict(zip((s.name for s in services), zip(services, procs)))
    with console.status("waiting for the stack to become ready…") as status:
        def all_ready() -> bool:
            for name, (service, proc) in list(pending.items()):
                if not processes.alive(proc):
                    raise UsageError(
                        f"{name} exited during start-up (exit code {processes.exit_code(proc)}); "
                        f"see {proc.log}. Configs under {Path(proc.log).parent.parent / 'config'} are "
                        f"generated from your manifests (`stackcheck lint` checks those). Its errors:\n"
                        f"{processes.log_tail(proc)}"
                    )
                if is_ready(service.ready_url):
                    console.print(f"  [green]✓[/green] {name:<18} {service.endpoint:<26} "
                                  f"ready in {time.monotonic() - start:.1f}s")
                    del pending[name]
            status.update(f"waiting for {', '.join(pending)} ({time.monotonic() - start:.0f}s)")
            return not pending

        if not until(all_ready, budget_s, interval_s=READY_POLL_S):
            raise Unreachable(
                f"{', '.join(pending)} not ready after {budget_s:g}s; see the logs in "
                f"{Path(procs[0].log).parent} (raise the budget with --ready-timeout)"
            )


def stop_all(procs: list[Proc], console: Console | None = None) -> None:
    """Stop processes in reverse start order (Prometheus first, the sink last)."""
    for proc in reversed(procs):
        processes.stop(proc)
        if console is not None:
            console.print(f"  stopped {proc.name}")


def down(state_dir: Path, console: Console) -> None:
    """Stop the local stack recorded in ``state_dir``; a no-op when nothing runs."""
    state = LocalState.load(state_dir)
    if state is None:
        console.print(f"No local stack recorded in {state_dir}; nothing to stop.")
        return
    stop_all(state.processes, console)
    clear(state_dir)
    console.print(f"Local stack stopped. Logs kept in {state_dir / 'logs'}.")


def status(state_dir: Path, console: Console) -> bool:
    """Print each service's state; True when all run."""
    state = LocalState.require(state_dir)
    alive = running(state)
    for proc in state.processes:
        mark = "[green]running[/green]" if alive[proc.name] else "[red]stopped[/red]"
        console.print(f"  {proc.name:<18} {mark:<22} {state.endpoints.get(proc.name, '')}  pid {proc.pid}")
    for name, reason in state.skipped.items():
        console.print(f"  {name:<18} [yellow]skipped[/yellow]  {escape(reason)}")
    console.print(f"time scale {state.time_scale:g}, manifests {state.manifests}")
    return all(alive.values())
