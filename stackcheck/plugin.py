"""The stackcheck pytest plugin: options, the target and its preflight, profiles, the report, exit codes.

Registered through the ``pytest11`` entry point, so ``pytest suites/ --stackcheck-target=local`` and
``stackcheck verify --target local`` run the same checks the same way. Each check is a test marked
``@pytest.mark.check("<id>", component="<component>")``; fault checks are also marked ``full``. The
fixtures the checks take are in :mod:`stackcheck.fixtures`.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.markup import escape

from stackcheck import preflight
from stackcheck.clients.http import Credentials, Http
from stackcheck.errors import ExitCode, StackcheckError, Unreachable, UsageError, user_message
from stackcheck.local.state import resolve_state_dir
from stackcheck.manifests import Manifests
from stackcheck.report import CheckResult, Report
from stackcheck.secretfiles import read_secret_file
from stackcheck.secrets import scrub
from stackcheck.settings import VERIFY_TOPICS, VerifySettings, add_pytest_options, verify_settings
from stackcheck.targets.base import Target

_report_key = pytest.StashKey[Report]()
_settings_key = pytest.StashKey[VerifySettings]()
#: Plugins of their own: the checks' fixtures (stackcheck/fixtures.py), and verify --deploy /
#: --destroy-after (stackcheck/verify_deploy.py).
pytest_plugins = ["stackcheck.fixtures", "stackcheck.verify_deploy"]

_target_key = pytest.StashKey[Target]()
_exit_key = pytest.StashKey[int]()
_aborted_key = pytest.StashKey[bool]()  # the checks were replaced by failure entries (e.g. a failed --deploy)
_durations_key = pytest.StashKey[dict[str, float]]()
_collect_errors_key = pytest.StashKey[list[tuple[str, str]]]()
#: Each check's verdict by (node id, phase), as the report counts it, for pytest's own counts.
_status_key = pytest.StashKey[dict[tuple[str, str], str]]()
#: The components whose preflight entry says they did not answer (their checks point to it).
_unanswered_key = pytest.StashKey[set[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """The options of :mod:`stackcheck.settings`, spelled ``--stackcheck-<option>``."""
    group = parser.getgroup("stackcheck", "stackcheck: verify an observability stack")
    add_pytest_options(group, VERIFY_TOPICS)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """Resolve the options (flag, then STACKCHECK_* environment, then default) before anything runs.

    A bad value is one line naming its source and exit 2, not pytest's usage text and exit 4.
    """
    try:
        config.stash[_settings_key] = verify_settings(config.getoption)
    except UsageError as exc:
        if config.getoption("help", False):
            return None  # --help still shows the options
        _say(f"[red]{escape(user_message(exc))}[/red]")
        return int(exc.exit_code)
    return None


def settings(config: pytest.Config) -> VerifySettings:
    """This run's resolved settings (resolved again here when pytest_cmdline_main did not run, as under
    pytester)."""
    if _settings_key not in config.stash:
        try:
            config.stash[_settings_key] = verify_settings(config.getoption)
        except UsageError as exc:
            raise pytest.UsageError(str(exc)) from exc
    return config.stash[_settings_key]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "check(id, component): a stackcheck check with its stable id")
    config.addinivalue_line("markers", "full: needs the full profile (faults or canaries)")
    resolved = settings(config)
    config.stash[_report_key] = Report(target=resolved.target.target, profile=resolved.run.profile,
                                       time_scale=1.0)
    if threading.current_thread() is threading.main_thread():
        # SIGTERM cleans up like Ctrl-C: fixtures' finally blocks clear every injected fault.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    config.stash[_durations_key] = {}
    config.stash[_collect_errors_key] = []
    config.stash[_status_key] = {}


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, pytest.CollectReport,
                                                                         pytest.CollectReport]:
    """Remember why a suite file could not be collected (e.g. a manifests file it reads is missing)."""
    report = yield
    if report.failed and _collect_errors_key in collector.config.stash:
        collector.config.stash[_collect_errors_key].append(preflight.collect_error(report))
    return report


def _target_name(config: pytest.Config) -> str:
    return settings(config).target.target


def build_target(config: pytest.Config) -> Target:
    """Resolve the target from options and environment (no network yet), with its expectations."""
    from stackcheck.expectations import Expectations
    target = _build_target(settings(config))
    # Disposable targets (the local runtime, a kind namespace) run stackcheck's probe; production does not.
    target.expectations = Expectations.load(settings(config).target.expectations,
                                            with_probe=target.disposable)
    if target.expectations.jobs is not None:
        target.expected_jobs = list(target.expectations.jobs)
    return target


def _build_target(resolved: VerifySettings) -> Target:
    name, kube = resolved.target.target, resolved.kubernetes
    if name == "local":
        from stackcheck.targets.local import local_target
        return local_target(resolve_state_dir(resolved.local.state_dir))
    if name == "urls":
        from stackcheck.targets.urls import urls_target
        given = resolved.credentials
        credentials = Credentials(
            bearer_token=read_secret_file(given.bearer_token_file, "bearer token")
            if given.bearer_token_file else None,
            basic_user=given.basic_auth_user,
            basic_password=read_secret_file(given.basic_auth_password_file, "basic-auth password")
            if given.basic_auth_password_file else None,
        )
        return urls_target(resolved.endpoints.urls(), credentials)
    if name == "incluster":
        from stackcheck.targets.incluster import incluster_target
        return incluster_target(Manifests.find(resolved.target.manifests), kube.namespace or "monitoring",
                                overrides=resolved.endpoints.urls())
    from stackcheck.targets.kubernetes import DEFAULT_NAMESPACE, kubernetes_target
    return kubernetes_target(
        context=kube.context,
        kubeconfig=kube.kubeconfig,  # else KUBECONFIG, ~/.kube/config
        namespace=kube.namespace or DEFAULT_NAMESPACE,
        manifests=Manifests.find(resolved.target.manifests),
    )


def _is_active(config: pytest.Config, items: list[pytest.Item]) -> bool:
    """A stackcheck run: it has checks, or ``--stackcheck-target`` was given on the command line (as
    ``stackcheck verify`` does), so that an empty selection is reported too. The environment does not
    count: a STACKCHECK_TARGET left exported must not turn the project's own tests into a verify run."""
    return (any(item.get_closest_marker("check") for item in items)
            or config.getoption("stackcheck_target") is not None)


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected, so preflight entries are never deselected
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Drop full-profile checks from a smoke run, then resolve the target and check it answers.

    When it does not, the run's checks are replaced by one ``error`` entry per component that did not
    answer (or by one for the usage error), so the table, the JSON, JUnit and the STACKCHECK line all
    say why, and the exit code is the documented one.
    """
    if not _is_active(config, items) or config.stash.get(_aborted_key, False):
        return
    report = config.stash[_report_key]
    items.sort(key=lambda i: bool(i.get_closest_marker("full")))  # read-only checks before any fault
    deselected = [i for i in items if i.get_closest_marker("full")] if report.profile == "smoke" else []
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [i for i in items if not i.get_closest_marker("full")]
    if not items and not config.stash[_collect_errors_key]:
        why = ("only full-profile checks match the selection; add --profile full" if deselected
               else "no check matches the selection (-k/-m); check the expression")
        _abort(session, config, items, [("preflight.selection", "manifests", UsageError(why))])
        return
    try:
        target = build_target(config)
        config.stash[_target_key] = target
        report.target, report.time_scale = target.name, target.time_scale
        _say(f"stackcheck: {escape(target.description)}")  # before anything changes (DESIGN: Safety)
        if report.profile == "full" and not target.disposable and not settings(config).run.allow_faults:
            raise UsageError(
                f"the full profile injects faults, and target {target.name} is not known to be disposable; "
                "use the local runtime or a CI namespace, or pass --allow-faults if you are sure"
            )
        failures, fatal = preflight.ask_all(target, component_http)
    except StackcheckError as exc:
        failures, fatal = [("preflight.config", "manifests", exc)], True
    failures += [(f"preflight.collect[{where}]", "manifests",
                  UsageError(f"{where} cannot be collected: {why}"))
                 for where, why in config.stash[_collect_errors_key]]
    if failures and (fatal or config.stash[_collect_errors_key]):
        _abort(session, config, items, failures)
    elif failures:  # Prometheus answers: the checks run, after one entry per component that does not
        items[:0] = preflight.failure_items(session, failures)
        config.stash[_unanswered_key] = preflight.unanswered(failures)


def _abort(session: pytest.Session, config: pytest.Config, items: list[pytest.Item],
           failures: list[preflight.Failure]) -> None:
    """Replace every check by one failing entry per reason, and say each on stderr at once."""
    for _, _, exc in failures:
        _say(f"[red]{escape(user_message(exc))}[/red]")
    config.stash[_exit_key] = max(int(exc.exit_code) for _, _, exc in failures)
    config.stash[_aborted_key] = True
    items[:] = preflight.failure_items(session, failures)
    preflight.quiet_pytest(session)


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    """Count each check as the report does, so that pytest's own lines (``pytest suites/``) never
    contradict the STACKCHECK line: a check that raised rather than asserted is an error, not a failure.

    A run that is only preflight entries shows no progress letter (the table says it in words); entries
    before the checks get their ``E``, so the progress line reaches 100%.
    """
    if preflight.is_failure_report(report):
        return ("error", "", "") if config.stash.get(_aborted_key, False) else ("error", "E", "ERROR")
    if config.stash.get(_status_key, {}).get((report.nodeid, report.when)) == "error" and report.failed:
        return "error", "E", "ERROR"
    return None


def end_progress_line(config: pytest.Config) -> None:
    """End pytest's progress line (``F [100%]``) before output of our own that follows it."""
    if config.pluginmanager.get_plugin("terminalreporter") is None:
        return
    writer = config.get_terminal_writer()
    if writer.width_of_current_line:
        writer.line()
        writer.flush()


def _say(text: str) -> None:
    Console(file=sys.stderr, highlight=False, soft_wrap=True).print(text)


def pytest_report_header(config: pytest.Config) -> list[str]:
    report = config.stash[_report_key]
    return [f"stackcheck: target {report.target}, profile {report.profile}"]


def session_target(config: pytest.Config) -> Target:
    """The run's target: the one preflight asked, or (under pytester, or with no check collected) built
    now."""
    if _target_key not in config.stash:
        config.stash[_target_key] = build_target(config)
    return config.stash[_target_key]


def require_answered(config: pytest.Config, component: str) -> None:
    """A check that needs a component preflight found not answering is an error that points to that
    entry, instead of the same server error in full in each of its rows. The verdict and the exit code
    stay those of the entry (exit 3)."""
    if component in config.stash.get(_unanswered_key, set()):
        raise Unreachable(preflight.DEPENDS.format(c=component))


def component_http(target: Target, component: str) -> Http:
    """An HTTP session for one component of the target; skips the check when the target lacks it."""
    url = target.url(component)
    if url is None:
        pytest.skip(target.why_missing(component))
    credentials = target.component_credentials.get(component, target.credentials)
    if target.kube is None:
        return Http(component, url, credentials=credentials)
    # The kubeconfig's auth for the proxy, and fixes that name its cluster.
    return Http(component, url, credentials=credentials, session=target.kube.session(),
                kubectl=target.kube.kubectl)


# --- results --------------------------------------------------------------------------------------

def _check_id(item: pytest.Item) -> tuple[str, str]:
    marker = item.get_closest_marker("check")
    assert marker is not None
    base = str(marker.args[0])
    callspec = getattr(item, "callspec", None)
    return (f"{base}[{callspec.id}]" if callspec else base), str(marker.kwargs.get("component", "prometheus"))


def _message(call: pytest.CallInfo[None]) -> str:
    if call.excinfo is None:
        return ""
    exc = call.excinfo.value
    if isinstance(exc, pytest.skip.Exception):
        return str(exc.msg)
    if isinstance(exc, AssertionError):
        text = str(exc).split("\nassert ", 1)[0]
        return text.strip()
    if isinstance(exc, StackcheckError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not item.get_closest_marker("check"):
        return
    config = item.config
    durations = config.stash[_durations_key]
    durations[item.nodeid] = durations.get(item.nodeid, 0.0) + report.duration
    if call.excinfo is not None and isinstance(call.excinfo.value, StackcheckError):
        report.longrepr = scrub(str(call.excinfo.value))
        if isinstance(call.excinfo.value, Unreachable):
            config.stash[_exit_key] = int(ExitCode.UNREACHABLE)
    elif report.failed and report.longrepr is not None:
        report.longrepr = scrub(str(report.longrepr))
    status: str | None = None
    if report.when == "setup" and report.outcome != "passed":
        status = "skipped" if report.skipped else "error"
    elif report.when == "call":
        status = report.outcome
        if report.failed and call.excinfo is not None and not isinstance(call.excinfo.value, AssertionError):
            status = "error"
    elif report.when == "teardown" and report.failed:
        status = "error"
    if status is None:
        return
    config.stash[_status_key][(item.nodeid, report.when)] = status
    check_id, component = _check_id(item)
    props = dict(item.user_properties)
    config.stash[_report_key].checks.append(CheckResult(
        id=check_id, component=component, status=status,  # type: ignore[arg-type]
        duration_s=durations[item.nodeid], message=_message(call) or str(props.get("message", "")),
        latency_s=_float(props.get("latency_s")), bound_s=_float(props.get("bound_s")),
    ))


def _float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    report = config.stash[_report_key]
    if report.interrupted:
        # Our verdict line and note say it; pytest's "!!! KeyboardInterrupt !!!" banner with the line of
        # threading.py that was waiting would only add noise (it prints after this hook).
        terminalreporter._report_keyboardinterrupt = lambda: None
    if report.checks or report.interrupted:
        # Not a terminal (CI logs): 160 columns keep check ids whole instead of rich's default 80,
        # unless COLUMNS says otherwise (rich reads it).
        width = None if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit() else 160
        report.print_table(Console(file=sys.stdout, highlight=False, width=width))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the JSON report and turn pytest's exit status into stackcheck's documented codes."""
    config = session.config
    report = config.stash[_report_key]
    report.finished_at = report.finished_at or time.time()
    # Ctrl-C or SIGTERM (pytest's INTERRUPTED: the plugin itself never calls pytest.exit): the verdict
    # says so, never OK for the checks that happened to finish first.
    report.interrupted = int(exitstatus) == int(pytest.ExitCode.INTERRUPTED)
    path = settings(config).run.json
    if path and (report.checks or _exit_key in config.stash):
        report.write_json(Path(path))
    if not report.checks and _exit_key not in config.stash:
        return  # not a stackcheck run (e.g. the project's own tests)
    if _exit_key in config.stash and not report.interrupted:
        session.exitstatus = config.stash[_exit_key]
        return
    session.exitstatus = {
        pytest.ExitCode.OK: ExitCode.OK,
        pytest.ExitCode.TESTS_FAILED: ExitCode.CHECK_FAILED,
        pytest.ExitCode.INTERRUPTED: ExitCode.INTERRUPTED,
        pytest.ExitCode.INTERNAL_ERROR: ExitCode.CHECK_FAILED,
        pytest.ExitCode.USAGE_ERROR: ExitCode.USAGE,
        pytest.ExitCode.NO_TESTS_COLLECTED: ExitCode.USAGE,
    }.get(pytest.ExitCode(int(exitstatus)), ExitCode.CHECK_FAILED)
