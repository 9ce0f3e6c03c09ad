"""The ``stackcheck`` command: a thin front end over the local runtime, lint and the pytest suite.

The options are declared once, in :mod:`stackcheck.settings`; each command takes the topics listed in
``COMMAND_OPTIONS``. Every option can also be set in the environment as ``STACKCHECK_<OPTION>``
(``--time-scale`` → ``STACKCHECK_TIME_SCALE``): the command line wins, then the environment, then the
default, and a bad value names the flag or the variable and exits 2. ``verify`` forwards to the pytest
plugin, which owns the same options. Expected failures print one line and exit with the documented
code (see :mod:`stackcheck.errors`); only bugs print a traceback.
"""
from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.markup import escape

from stackcheck import __version__, settings
from stackcheck.deploy.cli import DEPLOY_OPTIONS, DESTROY_OPTIONS
from stackcheck.errors import ExitCode, StackcheckError, UsageError, user_message

SUITES_DIR = Path(settings.from_environment("suites") or Path(__file__).resolve().parent.parent / "suites")
#: The options each command takes (topic, and its fields when it takes only some), from stackcheck.settings.
COMMAND_OPTIONS: dict[str, list[tuple[type[settings.Topic], tuple[str, ...] | None]]] = {
    "up": [(settings.TargetSettings, ("manifests",)),
           (settings.LocalSettings, ("state_dir", "time_scale", "port_base", "ready_timeout"))],
    "down": [(settings.LocalSettings, ("state_dir",))],
    "status": [(settings.LocalSettings, ("state_dir",))],
    "verify": [(topic, None) for topic in settings.VERIFY_TOPICS if topic is not settings.LocalSettings]
    + [(settings.LocalSettings, ("state_dir",))],
    "serve": [(settings.ServeSettings, None)],
    "cleanup": [(settings.LocalSettings, ("state_dir",)), (settings.TargetSettings, ("target",)),
                (settings.KubernetesSettings, None)],
    "lint": [(settings.TargetSettings, ("manifests",)), (settings.RunSettings, ("json", "junit_xml"))],
    "deploy": DEPLOY_OPTIONS,
    "destroy": DESTROY_OPTIONS,
}
#: The target options that ``serve`` shares with ``verify`` and passes on to each round.
_TARGET_GROUP = [(topic, None) for topic in (settings.TargetSettings, settings.EndpointSettings,
                                             settings.CredentialSettings, settings.KubernetesSettings)] + [
    (settings.LocalSettings, ("state_dir",))]
_CLEANUP_TARGETS = ("local", "kubernetes")


def _target_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """Which stack to check and how to reach it: shared by ``verify`` and ``serve``."""
    group = parser.add_argument_group("target")
    for topic, only in _TARGET_GROUP:
        settings.add_arguments(group, topic, only)
    return group


def _add(parser: argparse._ActionsContainer, command: str) -> None:
    for topic, only in COMMAND_OPTIONS[command]:
        if command in ("verify", "serve") and (topic, only) in _TARGET_GROUP:
            continue  # added by _target_options
        settings.add_arguments(parser, topic, only)


class _Parser(argparse.ArgumentParser):
    """``parse_args`` also resolves the options (see :func:`resolve`), against ``environ``."""

    environ: Mapping[str, str] | None = None

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: None = None) -> argparse.Namespace:
        return resolve(super().parse_args(args, namespace), self.environ)


def build_parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """The parser; ``parse_args`` returns the options resolved (flag, then ``environ`` (default: the
    process environment), then default)."""
    parser = _Parser(
        prog="stackcheck",
        description="Deploy an observability stack and prove that it works.",
        epilog="Exit codes: 0 all checks passed, 1 a check failed, 2 usage or configuration error, "
               "3 stack unreachable or not authorised, 4 interrupted. "
               "Every option is also read from STACKCHECK_<OPTION>; the command line wins over the "
               "environment.",
    )
    parser.environ = environ
    parser.add_argument("--version", action="version", version=f"stackcheck {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    _add(sub.add_parser("up", help="start the stack as local processes (no cluster needed)"), "up")
    for name, text in (("down", "stop the local stack"), ("status", "show the local stack's processes")):
        _add(sub.add_parser(name, help=text), name)

    verify = sub.add_parser("verify", help="run the conformance suite against a stack")
    _target_options(verify)
    _add(verify, "verify")
    verify.add_argument("-k", metavar="EXPR", dest="keyword", default=None, help="only checks matching EXPR")
    verify.add_argument("-v", "--verbose", action="store_true", help="show pytest's own output")

    from stackcheck.serve.command import add_serve_parser
    add_serve_parser(sub, _target_options)
    from stackcheck.workloads import add_workload_parsers
    add_workload_parsers(sub)

    cleanup = sub.add_parser("cleanup", help="revert faults a killed run left behind (found by run id)")
    _add(cleanup, "cleanup")

    lint = sub.add_parser("lint", help="check manifests/ offline: schemas, Pod Security, promtool, amtool, "
                                       "dashboards (no cluster needed)")
    _add(lint, "lint")

    from stackcheck.deploy.cli import add_parsers as add_deploy_parsers
    add_deploy_parsers(sub)  # with DEPLOY_OPTIONS and DESTROY_OPTIONS
    return parser


def resolve(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> argparse.Namespace:
    """Resolve the command's options: flag, then STACKCHECK_* environment, then default.
    A bad value raises a UsageError naming the flag or the variable."""
    topics = [topic for topic, _ in COMMAND_OPTIONS.get(args.command, [])]
    if args.command == "serve":
        topics += [topic for topic, _ in _TARGET_GROUP]
    settings.resolve_args(args, topics, environ)
    if args.command == "cleanup" and args.target not in _CLEANUP_TARGETS:
        where = args.sources["target"]
        if where == settings.DEFAULT:  # in a pod the verify default is incluster; cleanup's stays local
            args.target = "local"
        else:
            raise UsageError(f"{where} {args.target!r} is not valid for cleanup: expected one of "
                             f"{', '.join(_CLEANUP_TARGETS)}")
    return args


#: pytest's own output that verify keeps off the terminal (``-v`` shows it): the report's table and its
#: STACKCHECK line are the verdict, so pytest's stats line (``-qq``) and its summary sections
#: (``--no-summary``: failures, warnings, short test summary) would only repeat them.
QUIET = ("--tb=no", "-qq", "--no-summary")
#: The checks record their message, latency and bound per testcase (``record_property``), which the
#: xunit1 schema has (``<properties>`` in ``<testcase>``) and xunit2, pytest's default, does not: pytest
#: warns once per check, and a validating consumer would reject the file. Jenkins, GitLab and GitHub's
#: JUnit reporters read xunit1.
JUNIT_FAMILY = "xunit1"


def _verify_args(args: argparse.Namespace) -> list[str]:
    """The pytest command line that ``verify`` stands for: the plugin owns the options."""
    argv = [str(SUITES_DIR), "-p", "no:cacheprovider", *(QUIET if not args.verbose else ("--tb=short", "-v")),
            "--rootdir", str(SUITES_DIR), "-o", f"junit_family={JUNIT_FAMILY}", *settings.pytest_argv(args)]
    return argv + (["-k", args.keyword] if args.keyword else [])


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
                     time_scale=args.time_scale, port_base=args.port_base,
                     ready_budget_s=args.ready_timeout), console)
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
        err.print(f"[red]{escape(user_message(exc))}[/red]")
        code = exc.exit_code
    except KeyboardInterrupt:
        Console(stderr=True).print("[red]Interrupted[/red]")
        code = ExitCode.INTERRUPTED
    sys.exit(int(code))


if __name__ == "__main__":
    main()
