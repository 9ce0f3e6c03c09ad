"""The proxy session trusts the kubeconfig's CA whatever REQUESTS_CA_BUNDLE says; no token leaks.

A real TLS server on 127.0.0.1 with a throwaway CA (made with the openssl CLI) stands in for the API
server here: the point is the TLS trust, which no plain-HTTP double can show.
"""
from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import certifi
import pytest
import requests

from stackcheck.errors import ApiError
from stackcheck.kube.config import load_access
from stackcheck.targets.kubernetes import kubernetes_target

CANARY = "canary-kubeconfig-token-51c0ffee"
pytestmark = pytest.mark.skipif(shutil.which("openssl") is None,
                                reason="needs the openssl CLI to make a test CA")


def _pki(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it."""
    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=stackcheck-test-ca")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    (directory / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "san.cnf")
    return directory / "ca.crt", directory / "server.crt", directory / "server.key"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if "/proxy/" in self.path:  # what the API server says for a Service without endpoints (a1)
            code, body = 503, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                               "message": 'no endpoints available for service "prometheus"',
                               "reason": "ServiceUnavailable", "code": 503}
        else:  # a misbehaving server that echoes the credentials it got
            code, body = 500, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                               "message": f"internal error for {self.headers.get('Authorization')}",
                               "code": 500}
        payload = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(https URL, CA file) of a TLS server whose certificate only that CA trusts."""
    ca, cert, key = _pki(tmp_path_factory.mktemp("pki"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", ca
    server.shutdown()
    server.server_close()


def _kubeconfig(path: Path, server: str, ca: Path, token: str = "t0ken-for-tls") -> Path:
    import yaml

    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "tls",
        "clusters": [{"name": "tls", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": "tls", "user": {"token": token}}],
        "contexts": [{"name": "tls", "context": {"cluster": "tls", "user": "tls"}}]}))
    return path


PROXY = "/api/v1/namespaces/monitoring/services/http:prometheus:9090/proxy/-/ready"


def test_plain_requests_lets_requests_ca_bundle_override_the_ca(tls_server: tuple[str, Path],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The bug this guards against: with REQUESTS_CA_BUNDLE set, a plain session ignores session.verify."""
    url, ca = tls_server
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    session = requests.Session()
    session.verify = str(ca)
    with pytest.raises(requests.exceptions.SSLError):
        session.get(url + PROXY, timeout=5)


def test_proxy_session_trusts_the_kubeconfig_ca_despite_requests_ca_bundle(
        tls_server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """KubeAccess.session() verifies with the kubeconfig's CA even when REQUESTS_CA_BUNDLE names another."""
    url, ca = tls_server
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())
    kube = load_access(None, str(_kubeconfig(tmp_path / "config", url, ca)), environ={"HOME": str(tmp_path)})
    answer = kube.session().get(url + PROXY, timeout=5)
    assert answer.status_code == 503 and "no endpoints available" in answer.text


def test_proxy_error_is_reported_as_what_the_api_server_said(
        tls_server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through Http, the API server's 503 is a ProxyError quoting "no endpoints available", not "not
    ready"."""
    from stackcheck.clients.http import Http
    from stackcheck.kube.errors import ProxyError

    url, ca = tls_server
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    kube = load_access(None, str(_kubeconfig(tmp_path / "config", url, ca)), environ={"HOME": str(tmp_path)})
    http = Http("prometheus", url + PROXY.rsplit("/-/", 1)[0], session=kube.session())
    with pytest.raises(ProxyError, match=r'HTTP 503 ServiceUnavailable: no endpoints available for service '
                                         r'"prometheus"') as caught:
        http.request("GET", "/-/ready")
    assert caught.value.exit_code == 3


def test_a_token_echoed_by_the_server_is_scrubbed_from_the_error(tls_server: tuple[str, Path],
                                                                 tmp_path: Path) -> None:
    """Canary: the server echoes the kubeconfig's token in its error; the message shows *** instead.
    Fails if the token is not registered with stackcheck.secrets or truncate() stops scrubbing."""
    url, ca = tls_server
    config = _kubeconfig(tmp_path / "config", url, ca, token=CANARY)
    with pytest.raises(ApiError) as caught:
        kubernetes_target(None, str(config), environ={"HOME": str(tmp_path)})
    text = str(caught.value)
    assert "internal error for ***" in text  # the server did echo it: the mask is what hid it
    assert CANARY not in text
