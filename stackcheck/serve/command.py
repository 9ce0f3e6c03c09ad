"""The ``serve`` sub-command: its options, and the loop that runs until SIGTERM/SIGINT.

>>> stackcheck serve --target incluster --interval 5m --listen 0.0.0.0:9464    # doctest: +SKIP
"""
from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from rich.console import Console
from rich.markup import escape

from stackcheck.errors import ExitCode, UsageError
from stackcheck.secrets import scrub
from stackcheck.serve.metrics import Round, SmokeMetrics
from stackcheck.serve.rounds import run_round
from stackcheck.serve.server import ExporterServer, Schedule, Scheduler
from stackcheck.wait import until_set

#: A round may take at least this long before it is stopped, whatever the interval (a failing smoke run
#: waits out its budgets, which on production timers approach a minute per check).
MIN_DEADLINE_S = 300.0


def add_serve_parser(sub: argparse._SubParsersAction,  # type: ignore[type-arg]
                     target_options: Callable[[argparse.ArgumentParser], argparse._ArgumentGroup]) -> None:
    """Add ``serve`` with verify's target options (``target_options`` builds them)."""
    parser = sub.add_parser(
        "serve", help="run the smoke profile every --interval and export the verdicts on /metrics",
        description="Run `verify --profile smoke` on a schedule (never a fault) and serve /metrics "
                    "(stackcheck_check_passed, stackcheck_checks, ...), /healthz and /report (the last "
                    "report as JSON).")
    group = target_options(parser)
    parser.set_defaults(target_group=group)
    from stackcheck.settings import ServeSettings, add_arguments
    add_arguments(parser, ServeSettings)  # --interval, --listen, --round-timeout


def parse_listen(text: str, where: str = "--listen") -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``PORT``; the host defaults to 127.0.0.1 (loopback only).

    >>> parse_listen(":9464"), parse_listen("0.0.0.0:80"), parse_listen("9464")
    (('127.0.0.1', 9464), ('0.0.0.0', 80), ('127.0.0.1', 9464))
    """
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        given = f"{where}={text!r}" if where.startswith("STACKCHECK_") else f"{where} {text!r}"
        raise UsageError(f"{given}: expected [HOST]:PORT with a port 0-65535, e.g. 127.0.0.1:9464")
    return host, number


def target_args(args: argparse.Namespace) -> list[str]:
    """The target options given on this command line, written back as options for the child ``verify``
    (what came from the environment, the child reads from the same environment)."""
    out: list[str] = []
    sources = getattr(args, "sources", {})
    for action in args.target_group._group_actions:
        value = getattr(args, action.dest, None)
        if value is None or value is False or not sources.get(action.dest, "-").startswith("-"):
            continue
        flag = action.option_strings[-1]
        out += [flag] if value is True else [flag, str(value)]
    return out


def serve(args: argparse.Namespace, console: Console) -> int:
    """Serve until SIGTERM/SIGINT; exit 0 after a clean stop."""
    interval = float(args.interval)  # resolved by stackcheck.settings: a duration above 0, in seconds
    deadline = float(args.round_timeout) if args.round_timeout else max(interval, MIN_DEADLINE_S)
    where = getattr(args, "sources", {}).get("listen", "--listen")
    host, port = parse_listen(str(args.listen), "--listen" if where == "default" else where)
    child_args = target_args(args)
    metrics = SmokeMetrics(interval)

    def one_round(stop: threading.Event) -> Round:
        return run_round(child_args, deadline, stop)

    def report(done: Round) -> None:
        s = (done.report or {}).get("summary") or {}
        line = (f"smoke run: exit {done.exit_code} in {done.duration_s:.1f}s - {s.get('passed', 0)} passed, "
                f"{s.get('failed', 0)} failed, {s.get('skipped', 0)} skipped, {s.get('errors', 0)} errors")
        console.print(escape(line + (f"; {done.error}" if done.error else "")))

    scheduler = Scheduler(Schedule(interval, deadline), one_round, metrics, on_round=report)
    try:
        server = ExporterServer((host, port), scheduler)
    except OSError as exc:
        raise UsageError(f"--listen {host}:{port}: cannot listen there ({exc.strerror}); pick a free port "
                         "or another address") from exc
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous: dict[int, Any] = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    against = escape(scrub(" ".join(child_args)))
    console.print(f"stackcheck serve: smoke every {interval:g}s ({against}); /metrics, /healthz and /report "
                  f"on http://{host}:{server.port}")
    threading.Thread(target=server.serve_forever, args=(0.2,), name="http", daemon=True).start()
    scheduler.start()
    try:
        until_set(stopping)  # SIGTERM/SIGINT set it
    finally:
        console.print("stackcheck serve: stopping")
        scheduler.stop.set()
        scheduler.join(timeout=20)
        server.shutdown()
        server.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return int(ExitCode.OK)
