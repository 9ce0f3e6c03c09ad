"""One HTTP session per component, with credentials, a timeout and error mapping.

Every component client goes through :class:`Http`, so connection errors, 401/403 and bad bodies become
:mod:`stackcheck.errors` exceptions that name the URL, and no ``requests`` exception leaks out.
"""
from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import requests

from stackcheck.errors import ApiError, Unauthorized, Unreachable, truncate
from stackcheck.kube.errors import plain_kubectl, proxy_failure
from stackcheck.secrets import register, safe_url

DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Credentials:
    """How to authenticate to a component. Values are secrets: never print them."""

    bearer_token: str | None = None
    basic_user: str | None = None
    basic_password: str | None = None

    def __post_init__(self) -> None:
        register(self.bearer_token)
        register(self.basic_password)
        if self.basic_password:
            register_basic(self.basic_user or "", self.basic_password)

    def __repr__(self) -> str:  # never show the values, even in a traceback
        kinds = [k for k, v in (("bearer", self.bearer_token), ("basic", self.basic_user)) if v]
        return f"Credentials({', '.join(kinds) or 'none'})"


def register_basic(user: str, password: str) -> None:
    """Register the ``Authorization: Basic`` value of a user and password too: a server that echoes the
    request's headers shows that base64 form, which decodes to the password."""
    register(base64.b64encode(f"{user}:{password}".encode()).decode())


class Http:
    """A ``requests`` session bound to one component's base URL.

    >>> Http("prometheus", "http://127.0.0.1:29090").get_json("/api/v1/status/buildinfo")  # doctest: +SKIP
    """

    def __init__(
        self,
        component: str,
        base_url: str,
        *,
        credentials: Credentials | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        session: requests.Session | None = None,
        kubectl: Callable[[str], str] = plain_kubectl,
    ) -> None:
        self.component = component
        #: How a fix's kubectl command line reaches the cluster behind an API-server proxy URL.
        self.kubectl = kubectl
        self.base_url = base_url.rstrip("/")
        # A password in the URL's userinfo is a secret too: requests sends it as Basic auth.
        userinfo = urlsplit(self.base_url)
        if userinfo.password:
            register(unquote(userinfo.password))
            register(userinfo.password)
            register_basic(unquote(userinfo.username or ""), unquote(userinfo.password))
        self.timeout = timeout
        self.session = session or requests.Session()
        creds = credentials or Credentials()
        if creds.bearer_token:
            self.session.headers["Authorization"] = f"Bearer {creds.bearer_token}"
        elif creds.basic_user is not None:
            self.session.auth = (creds.basic_user, creds.basic_password or "")
        # Also for requests sent by libraries through this session (prometheus-api-client's query/targets).
        self.session.hooks["response"].append(lambda response, *args, **kwargs: self.check_auth(response))

    @property
    def display_url(self) -> str:
        """The base URL, safe to print."""
        return safe_url(self.base_url)

    @contextmanager
    def translating(self) -> Iterator[None]:
        """Turn ``requests`` transport errors raised inside the block into :class:`Unreachable`."""
        try:
            yield
        except requests.Timeout as exc:
            raise Unreachable(
                f"{self.component} at {self.display_url} did not answer within {self.timeout:g}s; "
                "is it overloaded or down?"
            ) from exc
        except requests.RequestException as exc:
            raise Unreachable(
                f"{self.component} is unreachable at {self.display_url} ({type(exc).__name__}); "
                "check that it is running and the URL is right"
            ) from exc

    def check_auth(self, response: requests.Response) -> requests.Response:
        """Raise :class:`Unauthorized` on 401/403, naming the component, the fix and the server's own reason
        (scrubbed of every registered secret, and cut).

        Through the API server's service proxy, an error answered by the API server itself (a
        ``Status`` body: no endpoints, unknown Service, 401/403 of the kubeconfig's user) is raised as
        a :class:`~stackcheck.kube.errors.ProxyError` quoting the server, so no check mistakes it for
        the component's own answer.
        """
        failure = proxy_failure(self.component, response.url or "", response.status_code, response.content,
                                self.kubectl)
        if failure is not None:
            raise failure
        if response.status_code in (401, 403):
            reason = truncate(response.text)
            raise Unauthorized(
                f"{self.component} at {self.display_url} refused the request "
                f"(HTTP {response.status_code}); check the credentials (expired or wrong token?)"
                + (f". It said: {reason}" if reason else "")
            )
        return response

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send a request; map transport failures and 401/403 to stackcheck errors."""
        kwargs.setdefault("timeout", self.timeout)
        with self.translating():
            response = self.session.request(method, self.base_url + path, **kwargs)
        return self.check_auth(response)

    def get_json(self, path: str, **kwargs: Any) -> Any:
        """GET a JSON body; a non-2xx status or non-JSON body is an :class:`ApiError`."""
        return self.json_of(self.request("GET", path, **kwargs))

    def json_of(self, response: requests.Response) -> Any:
        """Decode a JSON response, or raise an :class:`ApiError` naming the URL and status."""
        where = f"{self.component} {safe_url(response.url)}"
        if not response.ok:
            raise ApiError(f"{where} answered HTTP {response.status_code}: {truncate(response.text)}")
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(f"{where} did not answer JSON: {truncate(response.text)}") from exc


class ComponentClient:
    """Base of the component clients: one :class:`Http` session and a URL that is safe to print."""

    def __init__(self, http: Http) -> None:
        self.http = http

    @property
    def url(self) -> str:
        """Base URL, safe to print."""
        return self.http.display_url
