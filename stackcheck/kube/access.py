"""``KubeAccess``: one cluster, reached with one kubeconfig context.

It holds the kubernetes API client (typed APIs for the fault driver, a ``DynamicClient`` for
deploy and destroy), the resolved context and namespace, and makes sessions for the API server's
service and pod proxies (:mod:`stackcheck.kube.session`). Every call maps failures to stackcheck
errors (:mod:`stackcheck.kube.errors`) that name what was being done.

>>> kube.session().get(kube.service_url("monitoring", "prometheus", 9090) + "/-/ready")  # doctest: +SKIP
"""
from __future__ import annotations

import atexit
import json
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import urllib3

from stackcheck.errors import Unreachable
from stackcheck.kube.errors import api_error, parse_status
from stackcheck.kube.session import KubeSession, kube_session
from stackcheck.secrets import safe_url

#: Per API call. A cluster that takes longer than this to answer is reported as unreachable.
API_TIMEOUT_S = 10.0


@dataclass
class Answer:
    """One API answer: status code, decoded JSON body and the ``Warning`` headers (as sent)."""

    status: int
    body: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


class KubeAccess:
    """Access to one cluster: the API client, the resolved context and namespace, and proxy sessions."""

    def __init__(self, configuration: Any, context: str, namespace: str, *,
                 timeout: float = API_TIMEOUT_S, kubeconfig: str | None = None,
                 in_cluster: bool = False) -> None:
        from kubernetes import client

        self.configuration = configuration
        self.context = context
        self.kubeconfig = kubeconfig  # printed in kubectl hints when it is not kubectl's default
        self.in_cluster = in_cluster
        self.namespace = namespace
        self.timeout = timeout
        self.api = client.ApiClient(configuration)
        self.api.user_agent = "stackcheck"
        self._resources: dict[tuple[str, str], Any] = {}
        #: The API server's clock minus ours, from the ``Date`` of its last raw answer (0 until one came).
        self.clock_offset_s = 0.0

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

    @cached_property
    def dynamic(self) -> Any:
        """A ``DynamicClient``; its discovery cache lives in a fresh directory (never a stale one)."""
        from kubernetes.dynamic import DynamicClient

        directory = tempfile.mkdtemp(prefix="stackcheck-discovery-")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        cache = Path(directory) / "cache.json"
        try:
            return self._guard("discover the API server's resources",
                               lambda: DynamicClient(self.api,
                                                     cache_file=str(cache)))  # type: ignore[no-untyped-call]
        except AttributeError as exc:  # the client's discovery on a body it did not expect
            raise Unreachable(f"the Kubernetes API server {self.server} answered discovery with an "
                              f"unexpected body ({exc}); is {self.server} a Kubernetes API server?") from exc

    def __repr__(self) -> str:  # never show the configuration: it holds the token
        return f"KubeAccess(context={self.context!r}, namespace={self.namespace!r}, server={self.server!r})"

    def kubectl(self, args: str) -> str:
        """A kubectl command line that reaches this cluster, whatever the user's current context:
        ``kubectl [--kubeconfig PATH] --context NAME ARGS`` (several kubeconfig files: ``KUBECONFIG=…``)."""
        if self.in_cluster:
            return f"kubectl {args}"
        prefix = ""
        where = f"--context {shlex.quote(self.context)} "
        if self.kubeconfig and os.pathsep in self.kubeconfig:
            prefix = f"KUBECONFIG={shlex.quote(self.kubeconfig)} "
        elif self.kubeconfig:
            where = f"--kubeconfig {shlex.quote(self.kubeconfig)} " + where
        return f"{prefix}kubectl {where}{args}"

    @property
    def server(self) -> str:
        """The API server's URL, safe to print."""
        return safe_url(str(self.configuration.host).rstrip("/"))

    def session(self) -> KubeSession:
        """A new session with the kubeconfig's credentials and CA, for proxy URLs."""
        return kube_session(self.configuration)

    def service_url(self, namespace: str, service: str, port: int | str, scheme: str = "http") -> str:
        """The API server's proxy to a Service port: ``…/services/{scheme}:{name}:{port}/proxy``."""
        return f"{self.server}/api/v1/namespaces/{namespace}/services/{scheme}:{service}:{port}/proxy"

    def pod_url(self, namespace: str, pod: str, port: int) -> str:
        """The API server's proxy to one pod's port: ``…/pods/{pod}:{port}/proxy``."""
        return f"{self.server}/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy"

    # -- API calls -------------------------------------------------------------------------------

    def error(self, what: str, status: int, body: str, reason: str | None = None) -> Exception:
        """The stackcheck error for an API server answer of ``status`` while doing ``what``."""
        return api_error(self.server, self.context, what, status, body, reason)

    def unreachable(self, what: str, exc: Exception) -> Unreachable:
        return Unreachable(
            f"the Kubernetes API server {self.server} (context {self.context}) is unreachable "
            f"({type(exc).__name__}) while trying to {what}; check that the cluster is running and "
            f"that the kubeconfig's server URL is right (`kubectl --context {self.context} cluster-info`)")

    def _guard(self, what: str, call: Callable[[], Any], missing_ok: bool = False) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return call()
        except ApiException as exc:
            if exc.status == 404 and missing_ok:
                return None
            raise self.error(what, exc.status or 0, _text(exc.body), exc.reason) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise self.unreachable(what, exc) from exc

    def call(self, what: str, method: Callable[..., Any], *args: Any, missing_ok: bool = False,
             **kwargs: Any) -> Any:
        """Call a kubernetes client method and return the JSON body as plain data.

        ``what`` says what was being done ("read namespace phase5"); it goes into every error.
        With ``missing_ok``, a 404 returns None. Otherwise errors become stackcheck errors.
        """
        kwargs.setdefault("_preload_content", False)
        kwargs.setdefault("_request_timeout", self.timeout)
        response = self._guard(what, lambda: method(*args, **kwargs), missing_ok)
        if response is None:
            return None
        raw = response.data
        return json.loads(raw) if raw else {}

    def request(self, what: str, method: str, path: str, *, body: Any = None,
                query: Sequence[tuple[str, str]] = (), content_type: str | None = None,
                accept: Sequence[int] = ()) -> Answer:
        """One raw API request through the DynamicClient's transport.

        Statuses in ``accept`` are returned as an :class:`Answer` (their body is usually a
        ``Status``) instead of raised: callers that must read a 409's causes or a 404 ask for them.
        """
        from kubernetes.client.exceptions import ApiException

        params: dict[str, Any] = {"query_params": list(query), "serialize": False,
                                  "_request_timeout": self.timeout}
        if content_type:
            params["content_type"] = content_type
        try:
            response = self.dynamic.request(method, path, body=body, **params)
        except ApiException as exc:
            self._keep_time(exc.headers)
            if exc.status in accept:
                return Answer(int(exc.status), dict(parse_status(_text(exc.body)) or {}),
                              _warnings(exc.headers))
            raise self.error(what, exc.status or 0, _text(exc.body), exc.reason) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise self.unreachable(what, exc) from exc
        self._keep_time(response.headers)
        raw = response.data
        return Answer(int(response.status), json.loads(raw) if raw else {}, _warnings(response.headers))

    def server_now(self) -> datetime:
        """The API server's time now (ours, corrected by its last ``Date``): the clock the cluster's own
        stamps (a container's ``startedAt``) are written on, whatever the skew of the machine we run on."""
        return datetime.now(UTC) + timedelta(seconds=self.clock_offset_s)

    def _keep_time(self, headers: Any) -> None:
        try:
            sent = parsedate_to_datetime((headers or {}).get("Date") or "")
        except (TypeError, ValueError):
            return  # no Date (RFC 9110 lets a server without a clock omit it): keep the last offset
        sent = sent if sent.tzinfo is not None else sent.replace(tzinfo=UTC)  # "-0000": UTC, zone unsaid
        self.clock_offset_s = (sent - datetime.now(UTC)).total_seconds()

    def resource(self, api_version: str, kind: str) -> Any:
        """The DynamicClient's resource for a kind (discovery), or an error naming the kind."""
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        key = (api_version, kind)
        if key in self._resources:  # the client's lazy discovery re-reads empty groups on every search
            return self._resources[key]
        prefix = "api" if "/" not in api_version else "apis"
        try:
            found = self._guard(f"discover {kind} ({api_version})",
                                lambda: self.dynamic.resources.get(prefix=prefix, api_version=api_version,
                                                                   kind=kind))
            self._resources[key] = found
            return found
        except ResourceNotFoundError as exc:
            from stackcheck.errors import UsageError

            raise UsageError(f"the Kubernetes API server {self.server} does not serve {kind} "
                             f"({api_version}); "
                             "install its CRD or use a cluster version that has it") from exc


def _text(body: Any) -> str:
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")
    return str(body or "")


def _warnings(headers: Any) -> list[str]:
    """Every ``Warning`` header, one per header as the server sent them.

    The kubernetes client has no warning handler (client-go's ``WarningHandler`` has no Python
    counterpart), and ``DynamicClient``'s resource methods return the decoded body only. Its raw
    ``request`` hands back the urllib3 response, whose ``HTTPHeaderDict.getlist`` keeps repeated
    headers apart; an ``ApiException`` carries the same headers.
    """
    if headers is None:
        return []
    getter = getattr(headers, "getlist", None) or getattr(headers, "get_all", None)
    if getter is not None:
        return [str(v) for v in getter("Warning") or []]
    value = headers.get("Warning")
    return [str(value)] if value else []


_WARNING = re.compile(r'^\s*\d{3}\s+\S+\s+"(?P<text>(?:[^"\\]|\\.)*)"')


def warning_text(header: str) -> str:
    r"""The text of one ``Warning`` header (RFC 7234: ``299 - "text"``, quotes and backslashes escaped).

    >>> warning_text('299 - "would violate PodSecurity \\"restricted:latest\\": host namespaces"')
    'would violate PodSecurity "restricted:latest": host namespaces'
    """
    found = _WARNING.match(header)
    if found is None:
        return header.strip()
    return re.sub(r"\\(.)", r"\1", found["text"])
