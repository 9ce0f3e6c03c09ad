"""The ``deploy`` and ``destroy`` subcommands' options, built here so cli.py only hooks them in."""
from __future__ import annotations

import argparse
import os
import re
from typing import Any

from rich.console import Console

ENV_PREFIX = "STACKCHECK_"
_DURATION = re.compile(r"^(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m)?(?:(?P<s>\d+(?:\.\d+)?)s?)?$")


def duration(text: str) -> float:
    """``30s``, ``5m``, ``1m30s``, ``1h`` or plain seconds → seconds.

    >>> duration("1m30s")
    90.0
    """
    match = _DURATION.match(text.strip())
    if not text.strip() or match is None or not any(match.groupdict().values()):
        raise argparse.ArgumentTypeError(f"--timeout expects a duration such as 30s, 5m or 1m30s, got "
                                         f"{text!r}")
    parts = {k: float(v) for k, v in match.groupdict().items() if v}
    value = parts.get("h", 0) * 3600 + parts.get("m", 0) * 60 + parts.get("s", 0)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"--timeout must be above 0, got {text!r}")
    return value


def _env(option: str, default: Any = None) -> Any:
    return os.environ.get(ENV_PREFIX + option.upper().replace("-", "_"), default)


def _cluster(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overlay", default=_env("overlay", "kind"), metavar="kind|production|DIR",
                        help="what to deploy: manifests/overlays/kind (default), .../production, or a "
                             "directory with a kustomization.yaml")
    parser.add_argument("--context", metavar="NAME", default=_env("context"),
                        help="kubeconfig context (default: the current-context)")
    parser.add_argument("--kubeconfig", metavar="PATH", default=_env("kubeconfig"),
                        help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    parser.add_argument("--manifests", metavar="DIR", default=_env("manifests"),
                        help="manifests directory (default: the repository's manifests/)")


def add_parsers(sub: Any) -> None:
    """Add ``deploy`` and ``destroy`` to the ``stackcheck`` subparsers."""
    deploy = sub.add_parser("deploy",
                            help="server-side apply an overlay, wait until it is ready, explain what is not")
    _cluster(deploy)
    deploy.add_argument("--dry-run", choices=("server",), default=None,
                        help="server: apply with dryRun=All, print the change table, change nothing")
    deploy.add_argument("--no-wait", action="store_true", help="return after applying, without waiting")
    deploy.add_argument("--timeout", type=duration, default=_env("timeout"), metavar="D",
                        help="wait budget, e.g. 30s or 5m (default: 5m for kind, 10m for production)")
    deploy.add_argument("--force-conflicts", action="store_true",
                        help="take over fields another field manager owns (never done without this)")
    deploy.add_argument("--prune", action=argparse.BooleanOptionalAction, default=True,
                        help="delete inventory members that left the manifests (default: --prune)")
    deploy.add_argument("--json", metavar="PATH", default=_env("json"),
                        help="write stackcheck.deploy/v1 JSON")
    deploy.add_argument("--allow-faults", action="store_true",
                        help="allow an overlay that marks namespaces disposable on a context "
                             "that is not kind")
    deploy.add_argument("--secret-file", action="append", default=[], metavar="SECRET/KEY=PATH",
                        help="value for a missing Secret's key, e.g. alertmanager-secrets/smtp-password=./pw "
                             "(read from the file, never printed)")

    destroy = sub.add_parser("destroy", help="delete exactly what deploy recorded, and wait until it is gone")
    _cluster(destroy)
    destroy.add_argument("--yes", action="store_true",
                         help="do not ask on a context that is not a kind cluster")
    destroy.add_argument("--keep-pvcs", action="store_true",
                         help="keep the StatefulSets' claims (and the namespaces holding them)")
    destroy.add_argument("--timeout", type=duration, default=None, metavar="D",
                         help="how long to wait for the objects to be gone (default 5m)")


def run(args: argparse.Namespace, console: Console) -> int:
    """Dispatch ``deploy``/``destroy``."""
    if args.command == "deploy":
        from stackcheck.deploy.run import DeployOptions, deploy

        timeout = args.timeout if isinstance(args.timeout,
                                             float) or args.timeout is None else duration(args.timeout)
        return deploy(DeployOptions(
            overlay=args.overlay, context=args.context, kubeconfig=args.kubeconfig, manifests=args.manifests,
            dry_run=args.dry_run == "server", wait=not args.no_wait, timeout_s=timeout,
            force_conflicts=args.force_conflicts, prune=args.prune, json_path=args.json,
            allow_faults=args.allow_faults, secret_files=list(args.secret_file)), console)
    from stackcheck.deploy.destroy import DEFAULT_TIMEOUT_S, DestroyOptions, destroy

    return destroy(DestroyOptions(overlay=args.overlay, context=args.context, kubeconfig=args.kubeconfig,
                                  manifests=args.manifests, yes=args.yes, keep_pvcs=args.keep_pvcs,
                                  timeout_s=args.timeout or DEFAULT_TIMEOUT_S), console)
