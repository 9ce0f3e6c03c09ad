"""The ``kubernetes`` target: a stack in a cluster, reached through the API server's service proxy.

Every endpoint is ``{server}/api/v1/namespaces/{ns}/services/{scheme}:{name}:{port}/proxy``, the way
kube-prometheus' e2e tests reach Prometheus. No port-forward process is needed, and :class:`Http`
works unchanged with the session that :meth:`KubeAccess.session` makes: it carries the kubeconfig's
bearer token (or client certificate) and trusts its CA.

The configuration is found the way kubectl finds it. ``--kubeconfig`` comes first, then
``$KUBECONFIG`` (a ``:``-separated list), then ``~/.kube/config``, and last the pod's service
account when stackcheck runs in a pod. Errors map to exit codes:

- a missing kubeconfig or an unknown context is a :class:`UsageError` (exit 2) naming the file or
  context and the fix;
- an API server that does not answer is :class:`Unreachable` (exit 3) naming its URL;
- an answer of 401 or 403 is :class:`Unauthorized` (exit 3). No token or key is ever printed.

>>> target = kubernetes_target(context="kind-stackcheck", kubeconfig=None)    # doctest: +SKIP
>>> target.url("prometheus")                                                 # doctest: +SKIP
'https://127.0.0.1:6443/api/v1/namespaces/monitoring/services/http:prometheus:9090/proxy'
"""
from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import requests
import urllib3
import yaml
from urllib3.util.retry import Retry

from stackcheck.errors import ApiError, Unauthorized, Unreachable, UsageError, truncate
from stackcheck.manifests import Manifests, load_yaml
from stackcheck.secrets import register, safe_url
from stackcheck.targets.base import Target

#: Where Prometheus, Alertmanager, Grafana and Loki run unless ``--namespace`` says otherwise.
DEFAULT_NAMESPACE = "monitoring"
#: The probe's namespace, where the fault driver acts.
PROBE_NAMESPACE = "phase5"
#: The label the kind overlay sets on namespaces that may receive faults (manifests/README.md).
ALLOW_FAULTS_LABEL = "stackcheck.dev/allow-faults"
#: component → (Service name, port name). The namespace and port number come from that Service's
#: file under manifests/, so a fork of the manifests (``--manifests``) is followed.
COMPONENT_SERVICES = {
    "prometheus": ("prometheus", "http"),
    "alertmanager": ("alertmanager", "http"),
    "grafana": ("grafana", "http"),
    "loki": ("loki", "http"),
    "jaeger": ("jaeger-query", "http-query"),
    "probe": ("phase5-backend", "http"),
}
#: The notification sink `stackcheck deploy` runs on kind. It is not part of manifests/, so the
#: target looks for its Service in the cluster.
SINK_SERVICE = "stackcheck-sink"
#: Per API call. A cluster that takes longer than this to answer is reported as unreachable.
API_TIMEOUT_S = 10.0
IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
IN_CLUSTER_CONTEXT = "in-cluster"


class _KubeAuth(requests.auth.AuthBase):
    """Adds the kubeconfig's ``Authorization`` header to each request, refreshing it when needed.

    Exec plugins and service-account tokens expire. ``get_api_key_with_prefix`` runs the client's
    refresh hook, so a long fault campaign keeps working.
    """

    def __init__(self, configuration: Any) -> None:
        self._configuration = configuration

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        value = self._configuration.get_api_key_with_prefix("BearerToken")
        if value:
            register(value)
            request.headers["Authorization"] = value
        return request


class KubeAccess:
    """Access to one cluster: the kubernetes API client, the resolved context and namespace, and
    ``requests`` sessions that carry the same credentials (for the service and pod proxies).

    >>> kube.session().get(kube.service_url("monitoring", "prometheus", 9090) + "/-/ready")  # doctest: +SKIP
    """

    def __init__(self, configuration: Any, context: str, namespace: str, *,
                 timeout: float = API_TIMEOUT_S) -> None:
        from kubernetes import client

        self.configuration = configuration
        self.context = context
        self.namespace = namespace
        self.timeout = timeout
        self.api = client.ApiClient(configuration)

    # The generated API modules take a second or more each to import, so each is loaded on first use.
    @cached_property
    def core(self) -> Any:
        """``CoreV1Api``: namespaces, services, pods."""
        from kubernetes.client import CoreV1Api
        return CoreV1Api(self.api)

    @cached_property
    def apps(self) -> Any:
        """``AppsV1Api``: deployments."""
        from kubernetes.client import AppsV1Api
        return AppsV1Api(self.api)

    @cached_property
    def autoscaling(self) -> Any:
        """``AutoscalingV2Api``: horizontal pod autoscalers."""
        from kubernetes.client import AutoscalingV2Api
        return AutoscalingV2Api(self.api)

    def __repr__(self) -> str:  # never show the configuration: it holds the token
        return f"KubeAccess(context={self.context!r}, namespace={self.namespace!r}, server={self.server!r})"

    @property
    def server(self) -> str:
        """The API server's URL, safe to print."""
        return safe_url(str(self.configuration.host).rstrip("/"))

    def session(self) -> requests.Session:
        """A new ``requests`` session with the kubeconfig's credentials and CA, for proxy URLs."""
        cfg = self.configuration
        session = requests.Session()
        session.auth = _KubeAuth(cfg)
        session.verify = cfg.ssl_ca_cert if (cfg.verify_ssl and cfg.ssl_ca_cert) else bool(cfg.verify_ssl)
        if cfg.cert_file and cfg.key_file:
            session.cert = (cfg.cert_file, cfg.key_file)
        if cfg.proxy:
            session.proxies = {"http": cfg.proxy, "https": cfg.proxy}
        return session

    def service_url(self, namespace: str, service: str, port: int | str, scheme: str = "http") -> str:
        """The API server's proxy to a Service port: ``…/services/{scheme}:{name}:{port}/proxy``."""
        return f"{self.server}/api/v1/namespaces/{namespace}/services/{scheme}:{service}:{port}/proxy"

    def pod_url(self, namespace: str, pod: str, port: int) -> str:
        """The API server's proxy to one pod's port: ``…/pods/{pod}:{port}/proxy``."""
        return f"{self.server}/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy"

    # -- API calls -------------------------------------------------------------------------------

    def call(self, what: str, method: Callable[..., Any], *args: Any, missing_ok: bool = False,
             **kwargs: Any) -> Any:
        """Call a kubernetes client method and return the JSON body as plain data.

        ``what`` says what was being done ("read namespace phase5"); it goes into every error.
        With ``missing_ok``, a 404 returns None. Otherwise errors become stackcheck errors.
        """
        from kubernetes.client.exceptions import ApiException

        kwargs.setdefault("_preload_content", False)
        kwargs.setdefault("_request_timeout", self.timeout)
        try:
            response = method(*args, **kwargs)
        except ApiException as exc:
            if exc.status == 404 and missing_ok:
                return None
            raise self.error(what, exc.status or 0, exc.body or "", exc.reason) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise Unreachable(
                f"the Kubernetes API server {self.server} (context {self.context}) is unreachable "
                f"({type(exc).__name__}) while trying to {what}; check that the cluster is running and "
                f"that the kubeconfig's server URL is right (`kubectl --context {self.context} cluster-info`)"
            ) from exc
        raw = response.data
        return json.loads(raw) if raw else {}

    def error(self, what: str, status: int, body: str, reason: str | None = None) -> Exception:
        """The stackcheck error for an API server answer of ``status`` while doing ``what``."""
        message = status_message(body) if body else ""
        if not message and reason:
            message = str(reason).splitlines()[0]
        if status == 0:
            return Unreachable(
                f"TLS with the Kubernetes API server {self.server} failed while trying to {what} "
                f"({truncate(message)}); check the kubeconfig's certificate-authority for context "
                f"{self.context}")
        if status == 401:
            return Unauthorized(
                f"the Kubernetes API server {self.server} rejected the credentials of context {self.context} "
                f"(HTTP 401 Unauthorized) while trying to {what}: they are missing or expired; refresh them "
                f"(log in again or re-export the kubeconfig), then check with "
                f"`kubectl --context {self.context} get namespaces`")
        if status == 403:
            return Unauthorized(
                f"the Kubernetes API server {self.server} does not allow context {self.context} to {what} "
                f"(HTTP 403 Forbidden: {truncate(message)}); grant that permission (RBAC) or use a context "
                "that has it")
        return ApiError(
            f"the Kubernetes API server {self.server} answered HTTP {status} when asked to {what}: "
            f"{truncate(message)}")


def status_message(body: str) -> str:
    """The ``message`` of a Kubernetes ``Status`` body, or the body itself when it is not one."""
    try:
        doc = json.loads(body)
    except ValueError:
        return body
    if isinstance(doc, dict) and doc.get("kind") == "Status":
        return str(doc.get("message", ""))
    return body


# -- finding the configuration -----------------------------------------------------------------------

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
    return KubeAccess(cfg, resolved, namespace)


# -- the target ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ServiceRef:
    """One Service port, as the manifests define it."""

    namespace: str
    name: str
    port: int


_SERVICE_KIND = re.compile(r"^kind:\s*Service\s*$", re.MULTILINE)


@lru_cache(maxsize=8)
def _service_docs(root: Path) -> dict[str, Any]:
    """Service name → its object, from ``root/*/*.yaml`` (parsed once per directory and process)."""
    services: dict[str, Any] = {}
    for path in sorted(root.glob("*/*.yaml")):
        if not _SERVICE_KIND.search(path.read_text(encoding="utf-8")):
            continue  # parse only Service files: YAML parsing is the slow part of building the target
        doc = load_yaml(path)
        if isinstance(doc, dict) and doc.get("kind") == "Service":
            services[str((doc.get("metadata") or {}).get("name"))] = doc
    return services


def manifest_services(manifests: Manifests, namespace: str = DEFAULT_NAMESPACE) -> dict[str, ServiceRef]:
    """component → its Service port, read from the Service files under manifests/.

    Services that the manifests put in ``monitoring`` are looked up in ``namespace`` instead.
    """
    services = _service_docs(manifests.root)
    found: dict[str, ServiceRef] = {}
    for component, (name, port_name) in COMPONENT_SERVICES.items():
        doc = services.get(name)
        if doc is None:
            continue
        ports = [p for p in (doc.get("spec") or {}).get("ports") or [] if p.get("name") == port_name]
        if not ports:
            continue
        ns = str((doc.get("metadata") or {}).get("namespace", DEFAULT_NAMESPACE))
        where = namespace if ns == DEFAULT_NAMESPACE else ns
        found[component] = ServiceRef(where, name, int(ports[0]["port"]))
    return found


TIME_SCALE_ANNOTATION = "stackcheck.dev/time-scale"


def _namespace_metadata(kube: KubeAccess, name: str) -> dict[str, Any] | None:
    body = kube.call(f"read namespace {name}", kube.core.read_namespace, name, missing_ok=True)
    return None if body is None else dict(body.get("metadata") or {})


def recorded_time_scale(metadata: Mapping[str, Any]) -> float | None:
    """The factor the kind overlay recorded on the namespace (``stackcheck.dev/time-scale``), if any."""
    text = (metadata.get("annotations") or {}).get(TIME_SCALE_ANNOTATION)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"namespace annotation {TIME_SCALE_ANNOTATION}={text!r} is not a factor > 0; "
                         "re-apply manifests/overlays/kind")
    return value


def _sink(kube: KubeAccess) -> str | None:
    body = kube.call(f"read service {kube.namespace}/{SINK_SERVICE}", kube.core.read_namespaced_service,
                     SINK_SERVICE, kube.namespace, missing_ok=True)
    if body is None:
        return None
    ports = (body.get("spec") or {}).get("ports") or []
    named = [p for p in ports if p.get("name") == "http"] or ports
    return kube.service_url(kube.namespace, SINK_SERVICE, int(named[0]["port"])) if named else None


def kubernetes_target(context: str | None, kubeconfig: str | None, namespace: str = DEFAULT_NAMESPACE, *,
                      manifests: Manifests | None = None, time_scale: float | None = None,
                      environ: Mapping[str, str] | None = None) -> Target:
    """Resolve the cluster, check the stack's namespace exists, and build the target.

    Args:
        context: kubeconfig context (None: the kubeconfig's current-context).
        kubeconfig: kubeconfig path (None: ``$KUBECONFIG``, ``~/.kube/config``, then in-cluster).
        namespace: where Prometheus, Alertmanager, Grafana and Loki run (default ``monitoring``).
        manifests: where the Service files are read from (default: the repository's manifests/).
        time_scale: the stack's time scale; None reads the namespace annotation the kind overlay sets
            (``stackcheck.dev/time-scale``), else 1.
        environ: the environment to read KUBECONFIG/HOME from (tests pass their own).
    """
    kube = load_access(context, kubeconfig, namespace, environ=environ)
    found = manifests or Manifests.find()
    meta = {ns: _namespace_metadata(kube, ns) for ns in (namespace, PROBE_NAMESPACE)}
    labels = {ns: None if m is None else dict(m.get("labels") or {}) for ns, m in meta.items()}
    if meta[namespace] is None:
        raise UsageError(
            f"namespace {namespace} does not exist in context {kube.context} (API server {kube.server}); "
            "deploy the stack first (stackcheck deploy) or pass --namespace where it runs")
    disposable = all((labels[ns] or {}).get(ALLOW_FAULTS_LABEL) == "true" for ns in labels)
    scale = time_scale if time_scale is not None else (recorded_time_scale(meta[namespace] or {}) or 1.0)
    refs = manifest_services(found, namespace)
    endpoints = {c: kube.service_url(r.namespace, r.name, r.port) for c, r in refs.items()}
    missing = {c: f"no Service {COMPONENT_SERVICES[c][0]} with port {COMPONENT_SERVICES[c][1]!r} in "
                  f"{found.root}" for c in COMPONENT_SERVICES if c not in refs}
    sink = _sink(kube)
    if sink:
        endpoints["sink"] = sink
    else:
        missing["sink"] = (f"no Service {SINK_SERVICE} in namespace {namespace}: delivery is checked at "
                           "stackcheck's sink, which `stackcheck deploy` runs on kind")
    faults = (f"faults allowed (namespaces {' and '.join(labels)} carry {ALLOW_FAULTS_LABEL}=true)"
              if disposable else f"not disposable (namespaces {' and '.join(labels)} do not both carry "
                                 f"{ALLOW_FAULTS_LABEL}=true)")
    return Target(
        name="kubernetes",
        description=f"kubernetes context {kube.context} (API server {kube.server}), namespace {namespace}; "
                    f"{faults}; time scale {scale:g}",
        endpoints=endpoints,
        time_scale=scale,
        expected_jobs=None,
        missing_sources={},
        missing_components=missing,
        disposable=disposable,
        kube=kube,
    )
