"""A ``requests`` session for the API server's proxies that trusts exactly what the kubeconfig says.

``requests`` lets ``REQUESTS_CA_BUNDLE`` and ``CURL_CA_BUNDLE`` replace a session's ``verify``: in
``Session.merge_environment_settings`` a request whose ``verify`` is ``True`` or unset gets the
environment's bundle when ``trust_env`` is on. A corporate CI image that sets the variable then
fails every proxied call with ``SSLError``, while the kubernetes client (urllib3, which ignores the
variable) works. :class:`KubeSession` pins ``verify`` to the kubeconfig's CA (or certifi's bundle,
which is what the kubernetes client uses when the kubeconfig names none), so the two agree.
``trust_env`` stays on: proxies from ``HTTPS_PROXY``/``NO_PROXY`` are still honoured, as kubectl does.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from requests.sessions import _Settings

from stackcheck.secrets import register


class KubeSession(requests.Session):
    """A session whose ``verify`` the environment cannot override."""

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> _Settings:
        if verify is None or verify is True:
            verify = self.verify  # the kubeconfig's choice, never REQUESTS_CA_BUNDLE's
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        settings["verify"] = verify
        return settings


class KubeAuth(requests.auth.AuthBase):
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
            register(str(value).split(" ", 1)[-1])
            request.headers["Authorization"] = value
        return request


def kube_session(configuration: Any) -> KubeSession:
    """A new session with the configuration's credentials, CA and proxy."""
    import certifi

    cfg = configuration
    session = KubeSession()
    session.auth = KubeAuth(cfg)
    session.verify = (cfg.ssl_ca_cert or certifi.where()) if cfg.verify_ssl else False
    if cfg.cert_file and cfg.key_file:
        session.cert = (cfg.cert_file, cfg.key_file)
    if cfg.proxy:
        session.proxies = {"http": cfg.proxy, "https": cfg.proxy}
    return session
