"""The ``stackcheck`` command: a thin front end over the local runtime, lint and the pytest suite.

Every option can also be set in the environment as ``STACKCHECK_<OPTION>`` (``--time-scale`` →
``STACKCHECK_TIME_SCALE``); the command line wins. Expected failures print one line and exit with the
documented code (see :mod:`stackcheck.errors`); only bugs print a traceback.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from rich.console import Console
from rich.markup import escape

from stackcheck import __version__
from stackcheck.errors import ExitCode, StackcheckError, UsageError
from stackcheck.secrets import scrub

SUITES_DIR = Path(os.environ.get("STACKCHECK_SUITES") or Path(__file__).resolve().parent.parent / "suites")
ENV_PREFIX = "STACKCHECK_"
TARGETS = ("local", "kubernetes", "urls", "incluster")


def _env_default(option: str, default: Any = None) -> Any:
    return os.environ.get(ENV_PREFIX + option.lstrip("-").upper().replace("-", "_"), default)


def _number(kind: type, option: str) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} expects a {kind.__name__}, got {text!r}") from None
    return convert


def _common(parser: argparse._ActionsContainer, *names: str) -> None:
    if "manifests" in names:
        parser.add_argument("--manifests", metavar="DIR", default=_env_default("manifests"),
                            help="manifests directory to use (default: the repository's manifests/)")
    if "state-dir" in names:
        parser.add_argument("--state-dir", metavar="DIR", default=_env_default("state-dir"),
                            help="local runtime state (default: ~/.local/state/stackcheck)")


def _kube_options(parser: argparse._ActionsContainer) -> None:
    """kubectl's vocabulary for reaching a cluster."""
    parser.add_argument("--context", metavar="NAME", default=_env_default("context"),
                        help="kubeconfig context (target kubernetes; default: the current-context)")
    parser.add_argument("--kubeconfig", metavar="PATH", default=_env_default("kubeconfig"),
                        help="kubeconfig file (target kubernetes; default: $KUBECONFIG, ~/.kube/config, "
                             "then the pod's service account)")
    parser.add_argument("-n", "--namespace", metavar="NS", default=_env_default("namespace"),
                        help="namespace of Prometheus, Alertmanager, Grafana and Loki (target kubernetes; "
                             "default monitoring)")


def _target_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Which stack to check and how to reach it: shared by ``verify`` and ``serve``."""
    group = parser.add_argument_group("target")
    _common(group, "manifests", "state-dir")
    in_pod = bool(os.environ.get("KUBERNETES_SERVICE_HOST"))  # in a pod there is no local stack
    group.add_argument("--target", choices=TARGETS, default=_env_default("target", "incluster" if in_pod else "local"),
                       help="local, kubernetes (through the API server), urls, or incluster (in a pod: "
                            "Services by cluster DNS name)")
    group.add_argument("--expectations", metavar="FILE", default=_env_default("expectations"),
                       help="YAML file: which jobs must be up, which namespaces must have fresh logs, which "
                            "services must have traces (default: the Phase 5 namespaces and every job)")
    for component in ("prometheus", "alertmanager", "grafana", "loki", "jaeger", "sink", "probe"):
        group.add_argument(f"--{component}-url", metavar="URL", default=None,
                           help=f"{component} base URL (target urls"
                                f"{'; required' if component == 'prometheus' else ''})")
    group.add_argument("--bearer-token-file", metavar="PATH", default=None,
                       help="file with a bearer token for every URL (target urls)")
    group.add_argument("--basic-auth-user", metavar="USER", default=None)
    group.add_argument("--basic-auth-password-file", metavar="PATH", default=None)
    _kube_options(group)
    return group


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stackcheck",
        description="Deploy an observability stack and prove that it works.",
        epilog="Exit codes: 0 all checks passed, 1 a check failed, 2 usage or configuration error, "
               "3 stack unreachable or not authorised, 4 interrupted. "
               "Every option is also read from STACKCHECK_<OPTION>.",
    )
    parser.add_argument("--version", action="version", version=f"stackcheck {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    up = sub.add_parser("up", help="start the stack as local processes (no cluster needed)")
    _common(up, "manifests", "state-dir")
    up.add_argument("--time-scale", type=_number(float, "--time-scale"), default=_env_default("time-scale", "1"),
                    help="divide every interval, for and group timer by N (default 1: production values)")
    up.add_argument("--port-base", type=_number(int, "--port-base"), default=_env_default("port-base", "29000"),
                    help="ports are offsets from this base (default 29000; Prometheus on base+90)")
    up.add_argument("--ready-timeout", type=_number(float, "--ready-timeout"),
                    default=_env_default("ready-timeout", "30"), help="seconds to wait for readiness")

    for name, text in (("down", "stop the local stack"), ("status", "show the local stack's processes")):
        _common(sub.add_parser(name, help=text), "state-dir")

    verify = sub.add_parser("verify", help="run the conformance suite against a stack")
    _target_options(verify)
    verify.add_argument("--profile", choices=("smoke", "full"), default=_env_default("profile", "smoke"))
    verify.add_argument("--json", metavar="PATH", default=_env_default("json"), help="write the JSON report")
    verify.add_argument("--junit-xml", metavar="PATH", default=_env_default("junit-xml"), help="write JUnit XML")
    verify.add_argument("-k", metavar="EXPR", dest="keyword", default=None, help="only checks matching EXPR")
    verify.add_argument("--allow-faults", action="store_true", help="allow faults on a non-disposable target")
    verify.add_argument("--deploy", action="store_true", help="stackcheck deploy (and wait) before the checks")
    verify.add_argument("--destroy-after", action="store_true", help="with --deploy: stackcheck destroy afterwards")
    verify.add_argument("--overlay", default=None, metavar="kind|production|DIR", help="overlay for --deploy")
    verify.add_argument("--deploy-timeout", default=None, metavar="D", help="wait budget for --deploy, e.g. 5m")
    verify.add_argument("-v", "--verbose", action="store_true", help="show pytest's own output")

    from stackcheck.serve.command import add_serve_parser
    add_serve_parser(sub, _target_options)
    from stackcheck.workloads import add_workload_parsers
    add_workload_parsers(sub)

    cleanup = sub.add_parser("cleanup", help="revert faults a killed run left behind (found by run id)")
    _common(cleanup, "state-dir")
    cleanup.add_argument("--target", choices=("local", "kubernetes"), default=_env_default("target", "local"))
    _kube_options(cleanup)

    lint = sub.add_parser("lint", help="check manifests/ offline: schemas, Pod Security, promtool, amtool, "
                                       "dashboards (no cluster needed)")
    _common(lint, "manifests")
    lint.add_argument("--json", metavar="PATH", default=_env_default("json"), help="write the JSON report")
    lint.add_argument("--junit-xml", metavar="PATH", default=_env_default("junit-xml"), help="write JUnit XML")

    from stackcheck.deploy.cli import add_parsers as add_deploy_parsers
    add_deploy_parsers(sub)
    return parser


def _verify_args(args: argparse.Namespace) -> list[str]:
    """The pytest command line that ``verify`` stands for."""
    argv = [str(SUITES_DIR), f"--stackcheck-target={args.target}", f"--stackcheck-profile={args.profile}",
            "-p", "no:cacheprovider", "--tb=no" if not args.verbose else "--tb=short",
            "-q" if not args.verbose else "-v", "--rootdir", str(SUITES_DIR)]
    pairs = {"--stackcheck-json": args.json, "--junit-xml": args.junit_xml, "-k": args.keyword,
             "--stackcheck-state-dir": args.state_dir, "--stackcheck-manifests": args.manifests,
             "--stackcheck-bearer-token-file": args.bearer_token_file,
             "--stackcheck-basic-auth-user": args.basic_auth_user,
             "--stackcheck-basic-auth-password-file": args.basic_auth_password_file,
             "--stackcheck-context": args.context, "--stackcheck-kubeconfig": args.kubeconfig,
             "--stackcheck-namespace": args.namespace, "--stackcheck-expectations": args.expectations,
             "--stackcheck-overlay": args.overlay, "--stackcheck-deploy-timeout": args.deploy_timeout}
    for component in ("prometheus", "alertmanager", "grafana", "loki", "jaeger", "sink", "probe"):
        pairs[f"--{component}-url"] = getattr(args, f"{component}_url")
    for flag, value in pairs.items():
        if value:
            argv += [flag, str(value)]
    if args.allow_faults:
        argv.append("--stackcheck-allow-faults")
    argv += ["--stackcheck-deploy"] * bool(args.deploy) + ["--stackcheck-destroy-after"] * bool(args.destroy_after)
    return argv


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(argv: Sequence[str] | None, console: Console) -> int:
    """Parse and dispatch; returns the exit code."""
    from stackcheck.workloads import is_workload, run_workload

    raw = list(sys.argv[1:] if argv is None else argv)
    if is_workload(raw):  # the probe and the sink parse their own options (and --help)
        return run_workload(raw[0], raw[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage error
        return ExitCode.USAGE if exc.code else ExitCode.OK
    signal.signal(signal.SIGTERM, _raise_interrupt)  # SIGTERM cleans up like Ctrl-C
    from stackcheck.local.state import resolve_state_dir

    if args.command == "up":
        from stackcheck.local.runtime import UpOptions, up
        from stackcheck.manifests import Manifests
        up(UpOptions(manifests=Manifests.find(args.manifests), state_dir=resolve_state_dir(args.state_dir),
                     time_scale=float(args.time_scale), port_base=int(args.port_base),
                     ready_budget_s=float(args.ready_timeout)), console)
        return ExitCode.OK
    if args.command == "down":
        from stackcheck.local.runtime import down
        down(resolve_state_dir(args.state_dir), console)
        return ExitCode.OK
    if args.command == "status":
        from stackcheck.local.runtime import status
        return ExitCode.OK if status(resolve_state_dir(args.state_dir), console) else ExitCode.UNREACHABLE
    if args.command == "cleanup":
        if args.target == "kubernetes":
            from stackcheck.faults.kubernetes import revert_leftovers
            from stackcheck.targets.kubernetes import DEFAULT_NAMESPACE, load_access
            kube = load_access(args.context, args.kubeconfig, args.namespace or DEFAULT_NAMESPACE)
            console.print(f"Cleaning up leftover faults: context {kube.context}, namespace {kube.namespace}, "
                          f"server {kube.server}")
            done = revert_leftovers(kube)
        else:
            from stackcheck.faults.cleanup import cleanup_local
            state_dir = resolve_state_dir(args.state_dir)
            console.print(f"Cleaning up leftover faults of the local stack in {state_dir}")
            done = cleanup_local(state_dir)
        for line in done:
            console.print(f"  {escape(line)}")
        console.print("Nothing to clean up." if not done else f"Reverted {len(done)} leftover(s).")
        return ExitCode.OK
    if args.command == "verify":
        import pytest
        return int(pytest.main(_verify_args(args)))
    if args.command == "serve":
        from stackcheck.serve.command import serve
        return serve(args, console)
    if args.command == "lint":
        from stackcheck.lint.runner import lint
        return lint(args.manifests, args.json, args.junit_xml, console)
    if args.command in ("deploy", "destroy"):
        from stackcheck.deploy.cli import run as run_deploy
        return run_deploy(args, console)
    raise UsageError(f"`stackcheck {args.command}` is not implemented yet in this version; see README.md")


def main(argv: Sequence[str] | None = None) -> None:
    console = Console(highlight=False, soft_wrap=True)  # lines stay whole for grep and CI logs
    try:
        code = run(argv, console)
    except StackcheckError as exc:
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        err.print(f"[red]{type(exc).__name__}[/red]: {escape(scrub(str(exc)))}")
        code = exc.exit_code
    except KeyboardInterrupt:
        Console(stderr=True).print("[red]Interrupted[/red]")
        code = ExitCode.INTERRUPTED
    sys.exit(int(code))


if __name__ == "__main__":
    main()
