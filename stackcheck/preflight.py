"""Before any check runs: does each component of the target answer, and in its own words, why not?

A run whose Prometheus does not answer cannot judge anything, but its report must still say why, per
component, with the server's (or the operating system's) own reason, scrubbed and truncated. This module
only asks; :mod:`stackcheck.plugin` turns each answer into an ``error`` entry of the report.

>>> words(Exception("HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded with url: /-/ready "
...                 "(Caused by NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f>: "
...                 "Failed to establish a new connection: [Errno 111] Connection refused'))"))
'Failed to establish a new connection: [Errno 111] Connection refused'
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests

from stackcheck.clients.http import Http
from stackcheck.components import TABLE
from stackcheck.errors import TEXT_ERROR_MAX_SIZE, StackcheckError, Unauthorized, Unreachable, truncate
from stackcheck.kube.errors import proxy_failure

if TYPE_CHECKING:
    from stackcheck.targets.base import Target

#: One entry of the report: its check id, its report component, and the error it stands for.
Failure = tuple[str, str, StackcheckError]

#: What each component answers when it is up (the table of stackcheck.components).
PATHS = {c.name: c.ready_path for c in TABLE}
REQUIRED = ("prometheus",)
#: The report's component for each endpoint (stackcheck.report/v1 has no "sink": it is on the delivery path).
REPORT_COMPONENT = {"sink": "alertmanager"}

#: The id of a component's entry, and what each check that needs it says instead of its own full error.
REACHABLE_ID = "preflight.reachable[{c}]"
DEPENDS = "not checked: {c} did not answer (see " + REACHABLE_ID + ")"

UNREACHABLE = ("{c} is unreachable at {url} (GET {path}: {reason}); check that it is running and the URL "
               "is right")
REFUSED = "{c} at {url} refused the request ({said}); check the credentials (expired or wrong token?)"
NOT_READY = "{c} at {url} is not ready (GET {path}: {said}); wait for its start-up, or check its log"

_OS_REASON = re.compile(r"(?:Failed to establish a new connection: )?\[Errno -?\d+\][^'\")]*")
_URLLIB3_REPR = re.compile(r"<urllib3\.[^>]*>: ")


@dataclass(frozen=True)
class Problem:
    """One component that did not answer as it should, in the server's (or the OS's) own words."""

    component: str
    message: str
    unauthorised: bool = False


def words(exc: BaseException) -> str:
    """The innermost human reason of a transport error (``[Errno 111] Connection refused``)."""
    text = str(exc)
    found = _OS_REASON.search(text)
    if found:
        return found.group(0).strip()
    return truncate(_URLLIB3_REPR.sub("", text)) or type(exc).__name__


def ask(http: Http, component: str) -> Problem | None:
    """One GET of the component's health path; None when it answered as it should."""
    path, url = PATHS[component], http.display_url
    passthrough: dict[str, Any] = {"response": [lambda response, *args, **kwargs: response]}
    try:
        # Our own hooks only: the session's auth hook would raise before we could quote the body.
        response = http.session.request("GET", http.base_url + path, timeout=http.timeout, hooks=passthrough)
    except requests.Timeout:
        return Problem(component, UNREACHABLE.format(c=component, url=url, path=path,
                                                     reason=f"no answer within {http.timeout:g}s"))
    except requests.RequestException as exc:
        return Problem(component, UNREACHABLE.format(c=component, url=url, path=path, reason=words(exc)))
    # Through the API server's proxy, an answer of the API server itself (no endpoints, unknown Service, its
    # own 401/403) says the component was never reached: quote the server, not the component.
    proxied = proxy_failure(component, response.url or "", response.status_code, response.text, http.kubectl)
    if proxied is not None:
        return Problem(component, str(proxied), unauthorised=response.status_code in (401, 403))
    body = truncate(response.text, TEXT_ERROR_MAX_SIZE // 2)
    said = f"HTTP {response.status_code}: {body}" if body else f"HTTP {response.status_code}"
    if response.status_code in (401, 403):
        return Problem(component, REFUSED.format(c=component, url=url, said=said), unauthorised=True)
    if component in REQUIRED and response.status_code != 200:
        return Problem(component, NOT_READY.format(c=component, url=url, path=path, said=said))
    return None


def ask_all(target: Target, http_of: Callable[[Target, str], Http]) -> tuple[list[Failure], bool]:
    """Ask every component of the target whether it answers; each that does not becomes an entry quoting
    its reason. Fatal (no check can run) when a :data:`REQUIRED` component does not."""
    asked = (ask(http_of(target, c), c) for c in PATHS if target.url(c) is not None)
    problems = [p for p in asked if p is not None]
    failures: list[Failure] = [
        (REACHABLE_ID.format(c=p.component), REPORT_COMPONENT.get(p.component, p.component),
         (Unauthorized if p.unauthorised else Unreachable)(p.message)) for p in problems]
    return failures, any(p.component in REQUIRED for p in problems)


def unanswered(failures: list[Failure]) -> set[str]:
    """The components (endpoint names: ``grafana``, ``sink``) that have a ``preflight.reachable`` entry."""
    found = (re.fullmatch(r"preflight\.reachable\[(.+)\]", check_id) for check_id, _, _ in failures)
    return {m.group(1) for m in found if m}


def collect_error(report: pytest.CollectReport) -> tuple[str, str]:
    """Where and why a suite file could not be collected, from its collect report (no traceback)."""
    crash = getattr(report.longrepr, "reprcrash", None)
    lines = str(getattr(crash, "message", "") or report.longrepr).strip().splitlines() or ["?"]
    return report.nodeid or "suites", re.sub(r"^(?:[\w.]+\.)?(?:UsageError|Error|Exception): ", "", lines[-1])


class PreflightFailure(pytest.Item):
    """Stands in for the whole run when the stack cannot be checked: it fails with the reason."""

    def __init__(self, *, error: StackcheckError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        raise self.error

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.name


def failure_items(session: pytest.Session, failures: list[Failure]) -> list[pytest.Item]:
    """One check item per failure (id, report component, error), in place of or before the run's checks.

    They go through pytest's own reporting, so the JSON, JUnit and the table get them like any check.
    """
    items: list[pytest.Item] = []
    for check_id, component, exc in failures:
        item = PreflightFailure.from_parent(session, name=check_id, error=exc)
        item.add_marker(pytest.mark.check(check_id, component=component))
        items.append(item)
    return items


def quiet_pytest(session: pytest.Session) -> None:
    """For a run that is only failure entries: pytest's own lines ("44 deselected in 1.5s", the short
    summary, "Interrupted: 1 error during collection") would say nothing the table and the STACKCHECK
    line do not."""
    session.testsfailed = 0  # collection errors are entries of the report now, not "Interrupted"
    session.config.option.verbose = -2
    terminal = session.config.pluginmanager.get_plugin("terminalreporter")
    if terminal is not None:
        terminal.reportchars = ""


def is_failure_report(report: pytest.TestReport) -> bool:
    """Whether a test report is one of :func:`failure_items`' entries."""
    return report.nodeid.split("::")[-1].startswith("preflight.") and report.failed
