"""The ``incluster`` target: stackcheck running in a pod, talking to the Services by cluster DNS name.

``stackcheck serve`` in ``manifests/smoke/`` uses it. Each component is
``http://{service}.{namespace}.svc:{port}``, the Service and port read from the Service files under
manifests/ (the same table as the kubernetes target, so a fork of the manifests is followed). Nothing
goes through the API server: the pod needs no API access, no token and no proxy, and the smoke
Deployment's NetworkPolicy allows egress to the monitoring components and DNS only.

Credentials come from mounted files, one directory holding ``<component>-token`` (a bearer token) or
``<component>-username`` and ``<component>-password`` (basic auth), e.g. a Secret mounted at
``/etc/stackcheck/credentials``; a component without files is called without credentials.

>>> target = incluster_target(Manifests.find())                      # doctest: +SKIP
>>> target.url("prometheus")                                           # doctest: +SKIP
'http://prometheus.monitoring.svc:9090'
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from stackcheck.clients.http import Credentials
from stackcheck.errors import UsageError
from stackcheck.manifests import Manifests
from stackcheck.secretfiles import read_secret_file
from stackcheck.settings import from_environment
from stackcheck.targets.base import Target
from stackcheck.targets.kubernetes import COMPONENT_SERVICES, DEFAULT_NAMESPACE, manifest_services

#: Where the smoke Deployment mounts the optional Secret stackcheck-credentials.
DEFAULT_CREDENTIALS_DIR = Path("/etc/stackcheck/credentials")
#: Appended to ``{service}.{namespace}``; the pod's resolv.conf search list completes it.
SERVICE_DOMAIN = "svc"


def in_a_pod(environ: Mapping[str, str] | None = None) -> bool:
    """True when the kubelet set the API server's address in the environment, as in every pod."""
    return bool((os.environ if environ is None else environ).get("KUBERNETES_SERVICE_HOST"))


def component_credentials(directory: Path) -> dict[str, Credentials]:
    """component → credentials read from ``<component>-token`` / ``-username`` + ``-password`` files."""
    found: dict[str, Credentials] = {}
    if not directory.is_dir():
        return found
    for component in (*COMPONENT_SERVICES, "sink"):
        token, user, password = (directory / f"{component}-{k}" for k in ("token", "username", "password"))
        if token.is_file():
            found[component] = Credentials(bearer_token=read_secret_file(str(token), f"{component} token"))
        elif user.is_file():
            if not password.is_file():
                raise UsageError(f"{user} is there but {password.name} is not; add the password to the "
                                 f"credentials Secret or remove {user.name}")
            found[component] = Credentials(
                basic_user=read_secret_file(str(user), f"{component} username"),
                basic_password=read_secret_file(str(password), f"{component} password"))
    return found


def incluster_target(manifests: Manifests, namespace: str = DEFAULT_NAMESPACE, *,
                     overrides: Mapping[str, str | None] | None = None,
                     credentials_dir: Path | None = None,
                     environ: Mapping[str, str] | None = None) -> Target:
    """Build the target from the manifests' Service files; ``overrides`` (``--<component>-url``) win."""
    env = os.environ if environ is None else environ
    directory = credentials_dir or Path(from_environment("credentials_dir", env) or DEFAULT_CREDENTIALS_DIR)
    refs = manifest_services(manifests, namespace)
    endpoints = {c: f"http://{r.name}.{r.namespace}.{SERVICE_DOMAIN}:{r.port}" for c, r in refs.items()}
    for component, url in (overrides or {}).items():
        if url:
            if not url.startswith(("http://", "https://")):
                raise UsageError(f"--{component}-url must start with http:// or https://, got {url!r}")
            endpoints[component] = url.rstrip("/")
    missing = {c: f"no Service {COMPONENT_SERVICES[c][0]} with port {COMPONENT_SERVICES[c][1]!r} in "
                  f"{manifests.root}" for c in COMPONENT_SERVICES if c not in endpoints}
    if "sink" not in endpoints:
        missing["sink"] = ("delivery is checked at stackcheck's sink, which production does not run; the "
                           "Watchdog's delivery is proven by the dead man's switch receiving it")
    per_component = component_credentials(directory)
    where = "" if not in_a_pod(env) else " from this pod"
    return Target(
        name="incluster",
        description=f"in-cluster{where}: Services by DNS name in namespace {namespace} "
                    f"({', '.join(sorted(endpoints))}); credentials from {directory}"
                    f"{' (' + ', '.join(sorted(per_component)) + ')' if per_component else ' (none found)'}; "
                    "not disposable",
        endpoints=endpoints,
        component_credentials=per_component,
        expected_jobs=None,
        missing_components=missing,
        disposable=False,
    )
