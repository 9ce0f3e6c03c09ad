"""``stackcheck probe …`` and ``stackcheck sink …``: the in-cluster workloads, run from the stackcheck image.

The probe (:mod:`stackcheck.probe`) and the notification sink (:mod:`stackcheck.sink`) keep their own
command lines; these sub-commands hand every argument after their name to them unchanged, so
``stackcheck probe --help`` shows the probe's own options. The image ships both with their
dependencies (aiosmtpd included), so nothing is fetched when a pod starts.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence

WORKLOADS = {
    "probe": "run the synthetic Phase 5 workload (metrics, JSON logs, OTLP spans, fault switches)",
    "sink": "run the notification sink (Slack/webhook over HTTP, email over SMTP) that CI delivers to",
}


def add_workload_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """List ``probe`` and ``sink`` in ``stackcheck --help``; their arguments are parsed by the workload."""
    for name, text in WORKLOADS.items():
        parser = sub.add_parser(name, help=text, add_help=False,
                                description=f"{text}. Options: `stackcheck {name} --help`.")
        parser.add_argument("workload_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def is_workload(argv: Sequence[str]) -> bool:
    """True when the command line asks for a workload (dispatched before stackcheck's own parser)."""
    return bool(argv) and argv[0] in WORKLOADS


def run_workload(name: str, argv: Sequence[str]) -> int:
    """Run the probe or the sink in this process until SIGTERM/SIGINT; returns its exit code."""
    if name == "probe":
        from stackcheck import probe
        return probe.main(list(argv))
    from stackcheck import sink
    return sink.main(list(argv))
