"""Find the cluster the way kubectl does, and load it into a :class:`KubeAccess`.

``--kubeconfig`` comes first, then ``$KUBECONFIG`` (a ``:``-separated list), then
``~/.kube/config``, and last the pod's service account when stackcheck runs in a pod. A missing
kubeconfig or an unknown context is a :class:`UsageError` (exit 2) naming the file or context and
the fix. The tokens it loads are registered with :mod:`stackcheck.secrets`, so no message shows one.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from urllib3.util.retry import Retry

from stackcheck.errors import UsageError, truncate
from stackcheck.kube.access import KubeAccess
from stackcheck.manifests import load_yaml
from stackcheck.secrets import register

#: Where Prometheus, Alertmanager, Grafana and Loki run unless ``--namespace`` says otherwise.
DEFAULT_NAMESPACE = "monitoring"
IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
IN_CLUSTER_CONTEXT = "in-cluster"


def _in_cluster(env: Mapping[str, str]) -> bool:
    return bool(env.get("KUBERNETES_SERVICE_HOST")) and IN_CLUSTER_TOKEN.is_file()


def kubeconfig_files(kubeconfig: str | None, env: Mapping[str, str]) -> list[Path] | None:
    """The kubeconfig files to merge (kubectl's order), or None for the in-cluster service account."""
    if kubeconfig:
        path = Path(kubeconfig).expanduser()
        if not path.is_file():
            raise UsageError(
                f"kubeconfig {path} (from --kubeconfig) does not exist; pass the path of a kubeconfig "
                "file, or leave --kubeconfig out to use $KUBECONFIG or ~/.kube/config")
        return [path]
    listed = env.get("KUBECONFIG")
    if listed:
        paths = [Path(p).expanduser() for p in listed.split(os.pathsep) if p]
        existing = [p for p in paths if p.is_file()]
        if existing:
            return existing
        raise UsageError(
            f"no file named in $KUBECONFIG exists ({', '.join(map(str, paths))}); fix KUBECONFIG or "
            "pass --kubeconfig PATH")
    default = Path(env.get("HOME", "~")).expanduser() / ".kube" / "config"
    if default.is_file():
        return [default]
    if _in_cluster(env):
        return None
    raise UsageError(
        f"no kubeconfig: {default} does not exist, $KUBECONFIG is not set and stackcheck is not "
        "running in a pod; pass --kubeconfig PATH or set KUBECONFIG")


def _contexts(files: list[Path]) -> tuple[list[str], str | None]:
    """Context names of the merged files, and the current context (the first file that sets one)."""
    names: list[str] = []
    current: str | None = None
    for path in files:
        doc = load_yaml(path)
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise UsageError(f"kubeconfig {path} is not a YAML mapping; fix the file")
        for entry in doc.get("contexts") or []:
            name = str((entry or {}).get("name", ""))
            if name and name not in names:
                names.append(name)
        if current is None and doc.get("current-context"):
            current = str(doc["current-context"])
    return names, current


def load_access(context: str | None, kubeconfig: str | None, namespace: str = DEFAULT_NAMESPACE, *,
                environ: Mapping[str, str] | None = None) -> KubeAccess:
    """Load the kubeconfig (or in-cluster config) into a fresh client configuration."""
    from kubernetes import client
    from kubernetes import config as kube_config
    from kubernetes.config.config_exception import ConfigException

    config: Any = kube_config  # the package's loaders carry no annotations
    env = os.environ if environ is None else environ
    cfg = client.Configuration()
    files = kubeconfig_files(kubeconfig, env)
    if files is None:
        if context:
            raise UsageError(
                f"--context {context} needs a kubeconfig, and there is none (in a pod, stackcheck uses "
                "its service account); pass --kubeconfig PATH or leave --context out")
        try:
            config.load_incluster_config(client_configuration=cfg)
        except ConfigException as exc:
            raise UsageError(f"cannot use the pod's service account: {truncate(str(exc))}") from exc
        resolved = IN_CLUSTER_CONTEXT
    else:
        joined = os.pathsep.join(str(p) for p in files)
        names, current = _contexts(files)
        resolved = context or current or ""
        if not resolved:
            raise UsageError(
                f"kubeconfig {joined} sets no current-context; pass --context NAME "
                f"(it has: {', '.join(names) or 'no contexts'})")
        if resolved not in names:
            raise UsageError(
                f"context {resolved!r} is not in kubeconfig {joined} (it has: {', '.join(names) or 'none'}); "
                "pass one of them with --context (see `kubectl config get-contexts`)")
        try:
            # persist_config=False: never write refreshed tokens back into the user's file.
            config.load_kube_config(config_file=joined, context=resolved, client_configuration=cfg,
                                    persist_config=False)
        except (ConfigException, OSError, ValueError, yaml.YAMLError) as exc:
            raise UsageError(
                f"cannot use context {resolved!r} of kubeconfig {joined}: {truncate(str(exc))}; fix the "
                "kubeconfig or pick another --context") from exc
    for value in list(cfg.api_key.values()):
        register(value)
        register(str(value).split(" ", 1)[-1])
    # No hidden retries: a refused connection is reported at once, like every other client here.
    cfg.retries = Retry(total=0, read=False)
    default = Path(env.get("HOME", "~")).expanduser() / ".kube" / "config"
    named = None if files is None or files == [default] else os.pathsep.join(str(p) for p in files)
    return KubeAccess(cfg, resolved, namespace, kubeconfig=named, in_cluster=files is None)
