"""What the API server answered, as stackcheck errors with the documented exit codes.

Every error body of the API server is a ``Status`` object (``kind: Status``, ``status: Failure``,
``message``, ``reason``, ``details``, ``code``; ``contracts/kubernetes.md``). Two consequences:

- the message we print quotes the server's own ``message``, truncated, never our guess;
- an answer that arrives through the service or pod proxy (``…/services/<ref>/proxy/…``) can come
  from the API server (no endpoints, pod without an IP, unknown Service) or from the component
  behind it. :func:`proxy_failure` tells them apart by the body: only the API server sends a
  ``Status``. Grafana answering 503 ``{"database": "failing"}`` is Grafana's verdict; the API
  server answering 503 ``no endpoints available for service "grafana"`` is not.

Mapping: 401 and 403 → :class:`~stackcheck.errors.Unauthorized` (exit 3); no answer →
:class:`~stackcheck.errors.Unreachable` (exit 3); anything else → :class:`~stackcheck.errors.ApiError`
(exit 1). No token is ever part of a message (``secrets.scrub`` masks any that slips in).
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Required, TypedDict, cast

from stackcheck.errors import ApiError, Unauthorized, Unreachable, truncate


class StatusCause(TypedDict, total=False):
    """One ``details.causes[]`` entry: the cause type is serialised as ``reason``."""

    reason: str
    message: str
    field: str


class Status(TypedDict, total=False):
    """A ``Status`` body (apimachinery ``metav1.Status``); :func:`parse_status` checks kind and apiVersion."""

    kind: Required[str]
    apiVersion: Required[str]
    status: str
    message: str
    reason: str
    details: dict[str, Any]
    code: int


def parse_status(body: str | bytes | None) -> Status | None:
    """The ``Status`` object in ``body``, or None when the body is not one."""
    if not body:
        return None
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(doc, dict) and doc.get("kind") == "Status" and doc.get("apiVersion") == "v1":
        return cast(Status, doc)
    return None


def status_message(body: str) -> str:
    """The ``message`` of a Kubernetes ``Status`` body, or the body itself when it is not one."""
    found = parse_status(body)
    return str(found.get("message", "")) if found is not None else body


class ProxyError(Unreachable):
    """The API server's proxy answered for the component: it could not reach it (exit 3).

    ``reason`` and ``server_message`` are the API server's own words (``ServiceUnavailable``,
    ``no endpoints available for service "prometheus"``).
    """

    def __init__(self, message: str, *, status: int, reason: str, server_message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.server_message = server_message


class ProxyUnauthorized(ProxyError, Unauthorized):
    """The API server refused the proxied request itself (401/403 for the kubeconfig's user)."""


_PROXY_PATH = re.compile(r"/api/v1/namespaces/(?P<ns>[^/]+)/(?P<kind>services|pods)/(?P<ref>[^/]+)/proxy")

#: The fix for each API-server proxy answer (contracts a1–a8, b1–b3).
_PROXY_HINTS = (
    ("no endpoints available", ("no pod behind the Service is ready: check `{pods}` "
                               "and the pods' events (stackcheck deploy prints them when a wait fails)")),
    ("no service port", "the Service has no such port: compare manifests/ with the deployed Service"),
    ("address not allowed",
     "the pod has no IP yet (it is Pending): check `{pods} -o wide`"),
    ("not found",
     "the object does not exist: deploy the stack first (stackcheck deploy) or pass --namespace"),
    ("error trying to reach service", ("the API server could not dial the pod: a NetworkPolicy in {ns} may "
                                      "drop traffic from the API server's address; allow it")),
)


def plain_kubectl(args: str) -> str:
    """A kubectl command line for the current context (when the cluster's own is not known)."""
    return f"kubectl {args}"


def proxy_failure(component: str, url: str, status_code: int, body: str | bytes,
                  kubectl: Callable[[str], str] = plain_kubectl) -> ProxyError | None:
    """A :class:`ProxyError` when a proxied call was answered by the API server itself, else None.

    ``kubectl`` spells the command lines of the fix for the cluster that answered
    (:meth:`~stackcheck.kube.access.KubeAccess.kubectl`).

    >>> body = '{"kind":"Status","apiVersion":"v1","status":"Failure","message":"no endpoints available for service \\\\"prometheus\\\\"","reason":"ServiceUnavailable","code":503}'
    >>> str(proxy_failure("prometheus", "https://k/api/v1/namespaces/monitoring/services/http:prometheus:9090/proxy/-/ready", 503, body)).split(";")[0]
    'the Kubernetes API server could not reach prometheus through its service proxy (HTTP 503 ServiceUnavailable: no endpoints available for service "prometheus")'
    """  # noqa: E501 (a doctest's lines are verbatim)
    match = _PROXY_PATH.search(url)
    if match is None or status_code < 400:
        return None
    found = parse_status(body)
    if found is None or found.get("status") != "Failure":
        return None
    message = str(found.get("message", ""))
    reason = str(found.get("reason", "")) or f"HTTP {status_code}"
    kind = "service proxy" if match["kind"] == "services" else "pod proxy"
    if status_code in (401, 403):
        text = (f"the Kubernetes API server refused the request to {component} through its {kind} "
                f"(HTTP {status_code} {reason}: {truncate(message)}); the kubeconfig's credentials are "
                "missing, expired or lack RBAC for services/proxy: refresh them or grant the permission")
        return ProxyUnauthorized(text, status=status_code, reason=reason, server_message=message)
    hint = next((h for key, h in _PROXY_HINTS if key in message), "check the Service and its pods")
    fix = hint.format(ns=match["ns"], pods=kubectl(f"-n {match['ns']} get pods"))
    text = (f"the Kubernetes API server could not reach {component} through its {kind} "
            f"(HTTP {status_code} {reason}: {truncate(message)}); {fix}")
    return ProxyError(text, status=status_code, reason=reason, server_message=message)


def api_error(server: str, context: str, what: str, status: int, body: str,
              reason: str | None = None) -> Exception:
    """The stackcheck error for an API server answer of ``status`` while doing ``what``."""
    message = status_message(body) if body else ""
    if not message and reason:
        message = str(reason).splitlines()[0]
    if status == 0:
        return Unreachable(
            f"TLS with the Kubernetes API server {server} failed while trying to {what} "
            f"({truncate(message)}); check the kubeconfig's certificate-authority for context {context}")
    if status == 401:
        return Unauthorized(
            f"the Kubernetes API server {server} rejected the credentials of context {context} "
            f"(HTTP 401 Unauthorized) while trying to {what}: they are missing or expired; refresh them "
            f"(log in again or re-export the kubeconfig), then check with "
            f"`kubectl --context {context} get namespaces`")
    if status == 403:
        anonymous = "system:anonymous" in message
        fix = ("the request carried no credentials the server accepted: give the kubeconfig user a token or "
               "client certificate" if anonymous
               else "grant that permission (RBAC) or use a context that has it")
        return Unauthorized(
            f"the Kubernetes API server {server} does not allow context {context} to {what} "
            f"(HTTP 403 Forbidden: {truncate(message)}); {fix}")
    return ApiError(
        f"the Kubernetes API server {server} answered HTTP {status} when asked to {what}: "
        f"{truncate(message)}")
