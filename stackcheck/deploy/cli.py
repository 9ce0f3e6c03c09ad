"""The ``deploy`` and ``destroy`` subcommands' options, built here so cli.py only hooks them in."""
from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from stackcheck import settings

#: The options deploy and destroy share with the other commands, by topic (see stackcheck.settings).
Options = list[tuple[type[settings.Topic], tuple[str, ...] | None]]
CLUSTER_OPTIONS: Options = [
    (settings.RunSettings, ("overlay",)), (settings.KubernetesSettings, ("context", "kubeconfig")),
    (settings.TargetSettings, ("manifests",)), (settings.DeploySettings, ("timeout",))]
DEPLOY_OPTIONS: Options = [*CLUSTER_OPTIONS, (settings.RunSettings, ("json", "allow_faults"))]
DESTROY_OPTIONS = CLUSTER_OPTIONS


def _add(parser: argparse.ArgumentParser, options: Options) -> None:
    for topic, only in options:
        settings.add_arguments(parser, topic, only)


def add_parsers(sub: Any) -> None:
    """Add ``deploy`` and ``destroy`` to the ``stackcheck`` subparsers."""
    deploy = sub.add_parser("deploy", help="server-side apply an overlay, wait until it is ready, explain "
                                           "what is not")
    _add(deploy, DEPLOY_OPTIONS)
    deploy.add_argument("--dry-run", choices=("server",), default=None,
                        help="server: apply with dryRun=All, print the change table, change nothing")
    deploy.add_argument("--no-wait", action="store_true", help="return after applying, without waiting")
    deploy.add_argument("--force-conflicts", action="store_true",
                        help="take over fields another field manager owns (never done without this)")
    deploy.add_argument("--prune", action=argparse.BooleanOptionalAction, default=True,
                        help="delete inventory members that left the manifests (default: --prune)")
    deploy.add_argument("--secret-file", action="append", default=[], metavar="SECRET/KEY=PATH",
                        help="value for a missing Secret's key, e.g. alertmanager-secrets/smtp-password=./pw "
                             "(read from the file, never printed)")

    destroy = sub.add_parser("destroy", help="delete exactly what deploy recorded, and wait until it is gone")
    _add(destroy, DESTROY_OPTIONS)
    destroy.add_argument("--yes", action="store_true",
                         help="do not ask on a context that is not a kind cluster")
    destroy.add_argument("--keep-pvcs", action="store_true",
                         help="keep the StatefulSets' claims (and the namespaces holding them)")


def run(args: argparse.Namespace, console: Console) -> int:
    """Dispatch ``deploy``/``destroy``."""
    if args.command == "deploy":
        from stackcheck.deploy.run import DeployOptions, deploy

        return deploy(DeployOptions(
            overlay=args.overlay, context=args.context, kubeconfig=args.kubeconfig, manifests=args.manifests,
            dry_run=args.dry_run == "server", wait=not args.no_wait, timeout_s=args.timeout,
            force_conflicts=args.force_conflicts, prune=args.prune, json_path=args.json,
            allow_faults=args.allow_faults, secret_files=list(args.secret_file)), console)
    from stackcheck.deploy.destroy import DEFAULT_TIMEOUT_S, DestroyOptions, destroy

    return destroy(DestroyOptions(overlay=args.overlay, context=args.context, kubeconfig=args.kubeconfig,
                                  manifests=args.manifests, yes=args.yes, keep_pvcs=args.keep_pvcs,
                                  timeout_s=args.timeout or DEFAULT_TIMEOUT_S), console)
