"""Settings declared once (stackcheck/settings.py): precedence flag > STACKCHECK_* > default, the source of
each value, and bad values that name their source and exit 2 in both front ends (stackcheck, pytest)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from stackcheck import settings
from stackcheck.cli import build_parser
from stackcheck.errors import ExitCode, UsageError
from stackcheck.settings import LocalSettings, RunSettings, ServeSettings, TargetSettings

REPO = Path(__file__).resolve().parent.parent
STACKCHECK = Path(sys.executable).parent / "stackcheck"
UP_FLAGS = {"time_scale": "--time-scale", "port_base": "--port-base", "ready_timeout": "--ready-timeout",
            "state_dir": "--state-dir"}


def _args(argv: list[str], environ: dict[str, str]) -> dict[str, object]:
    """The resolved options of a command line, against the given environment only."""
    return vars(build_parser(environ).parse_args(argv))


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """The real command, with only ``env`` of the STACKCHECK_* variables, from this checkout."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("STACKCHECK_")}
    clean.update(env, PYTHONPATH=str(REPO), COLUMNS="300", NO_COLOR="1")
    clean.pop("KUBERNETES_SERVICE_HOST", None)
    return subprocess.run(args, env=clean, capture_output=True, text=True, timeout=60, cwd=REPO, check=False)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- precedence -----------------------------------------------------------------------------------

def test_the_flag_wins_over_the_environment() -> None:
    """--time-scale 20 with STACKCHECK_TIME_SCALE=5 set: 20, from --time-scale."""
    local = settings.resolve(LocalSettings, {"time_scale": "20"}, UP_FLAGS, {"STACKCHECK_TIME_SCALE": "5"})
    assert (local.time_scale, local.sources["time_scale"]) == (20.0, "--time-scale")


def test_the_environment_wins_over_the_default() -> None:
    """No flag, STACKCHECK_PORT_BASE=31000: 31000, from the variable."""
    local = settings.resolve(LocalSettings, {}, UP_FLAGS, {"STACKCHECK_PORT_BASE": "31000"})
    assert (local.port_base, local.sources["port_base"]) == (31000, "STACKCHECK_PORT_BASE")


def test_the_default_applies_when_neither_is_given() -> None:
    """No flag, no variable: the field's default, from "default"."""
    local = settings.resolve(LocalSettings, {}, UP_FLAGS, {})
    assert (local.ready_timeout, local.sources["ready_timeout"]) == (30.0, "default")


def test_an_empty_variable_counts_as_unset() -> None:
    """STACKCHECK_PROFILE= (exported empty) leaves the default, as an unset variable does."""
    run = settings.resolve(RunSettings, {}, {"profile": "--profile"}, {"STACKCHECK_PROFILE": ""})
    assert (run.profile, run.sources["profile"]) == ("smoke", "default")


def test_the_command_line_parser_resolves_in_the_same_order() -> None:
    """`stackcheck verify --profile full` with STACKCHECK_PROFILE=smoke and STACKCHECK_TARGET=urls."""
    args = _args(["verify", "--profile", "full"],
                 {"STACKCHECK_PROFILE": "smoke", "STACKCHECK_TARGET": "urls"})
    assert (args["profile"], args["target"]) == ("full", "urls")
    sources = args["sources"]
    assert isinstance(sources, dict)
    assert (sources["profile"], sources["target"]) == ("--profile", "STACKCHECK_TARGET")


def test_a_switch_is_read_from_the_environment() -> None:
    """STACKCHECK_ALLOW_FAULTS=1 turns --allow-faults on; the flag absent is not "off from the flag"."""
    run = settings.resolve(RunSettings, {"allow_faults": None}, {"allow_faults": "--allow-faults"},
                           {"STACKCHECK_ALLOW_FAULTS": "1"})
    assert (run.allow_faults, run.sources["allow_faults"]) == (True, "STACKCHECK_ALLOW_FAULTS")


def test_verify_forwards_flags_but_leaves_the_environment_to_the_plugin() -> None:
    """verify passes its given flags to pytest under the plugin's names; values from the environment are
    not passed (the plugin reads the same environment in the same order); target and profile always are."""
    args = build_parser({"STACKCHECK_EXPECTATIONS": "e.yml", "STACKCHECK_TARGET": "urls"}).parse_args(
        ["verify", "--prometheus-url", "http://p:9090", "--allow-faults"])
    assert settings.pytest_argv(args) == ["--stackcheck-target", "urls", "--prometheus-url", "http://p:9090",
                                          "--stackcheck-profile", "smoke", "--stackcheck-allow-faults"]


def test_every_option_has_one_variable_and_one_declaration() -> None:
    """No two fields of the topics share a name, so no variable means two things."""
    topics = [*settings.VERIFY_TOPICS, ServeSettings, settings.DeploySettings]
    names = [name for topic in topics for name, _ in settings.specs(topic)]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


# --- each source's message ------------------------------------------------------------------------

@pytest.mark.parametrize(("topic", "name", "bad", "expected"), [
    (TargetSettings, "target", "foo", "expected one of local, kubernetes, urls, incluster"),
    (LocalSettings, "time_scale", "abc", "expected a number above 0, e.g. 20"),
    (ServeSettings, "interval", "soon", "expected a duration above 0 such as 30s, 5m or 1h30m"),
])
def test_a_bad_variable_is_named_with_its_value_and_the_fix(topic: type[settings.Topic], name: str, bad: str,
                                                            expected: str) -> None:
    """A bad STACKCHECK_<OPTION> (a choice, a number, a duration) names the variable, the value, what is
    expected and the fix, and is a usage error (exit 2)."""
    variable = settings.variable(name)
    with pytest.raises(UsageError) as caught:
        settings.resolve(topic, {}, {name: settings.flag(name)}, {variable: bad})
    assert str(caught.value) == f"{variable}={bad!r} is not valid: {expected}; fix or unset {variable}"
    assert caught.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(("topic", "name", "bad", "expected"), [
    (TargetSettings, "target", "foo", "expected one of local, kubernetes, urls, incluster"),
    (LocalSettings, "port_base", "http", "expected a port number 1-65535"),
    (RunSettings, "deploy_timeout", "0s", "expected a duration above 0"),
])
def test_a_bad_flag_is_named_even_when_the_variable_is_good(topic: type[settings.Topic], name: str, bad: str,
                                                            expected: str) -> None:
    """A bad flag value is blamed on the flag, not on a (good) variable set beside it."""
    flag, variable = settings.flag(name), settings.variable(name)
    good = {"target": "local", "port_base": "29000", "deploy_timeout": "5m"}[name]
    with pytest.raises(UsageError, match=f"^{flag} {bad!r} is not valid: {expected}") as caught:
        settings.resolve(topic, {name: bad}, {name: flag}, {variable: good})
    assert variable not in str(caught.value)


# --- the two bugs of issue 10, through the real commands ------------------------------------------

def test_a_bad_target_variable_makes_verify_exit_2_naming_it() -> None:
    """`STACKCHECK_TARGET=foo stackcheck verify`: exit 2 naming the variable and the allowed values, not
    pytest's usage text and exit 4; it fails before any component is asked."""
    ran = _run([str(STACKCHECK), "verify"], STACKCHECK_TARGET="foo")
    assert ran.returncode == ExitCode.USAGE, ran
    assert ("UsageError: STACKCHECK_TARGET='foo' is not valid: expected one of local, kubernetes, urls, "
            "incluster") in _one_line(ran.stderr), ran
    assert "Traceback" not in ran.stderr and "usage:" not in ran.stderr + ran.stdout, ran


def test_a_bad_time_scale_variable_is_blamed_on_the_variable() -> None:
    """`STACKCHECK_TIME_SCALE=abc stackcheck up` names STACKCHECK_TIME_SCALE, not --time-scale; exit 2
    before anything starts."""
    ran = _run([str(STACKCHECK), "up"], STACKCHECK_TIME_SCALE="abc")
    assert ran.returncode == ExitCode.USAGE, ran
    assert "UsageError: STACKCHECK_TIME_SCALE='abc' is not valid" in _one_line(ran.stderr), ran
    assert "--time-scale" not in ran.stderr and "Traceback" not in ran.stderr, ran


def test_a_bad_target_flag_makes_verify_exit_2_naming_the_flag() -> None:
    """`stackcheck verify --target foo` names --target."""
    ran = _run([str(STACKCHECK), "verify", "--target", "foo"])
    assert ran.returncode == ExitCode.USAGE, ran
    assert "UsageError: --target 'foo' is not valid: expected one of local" in _one_line(ran.stderr), ran


def test_pytest_with_a_bad_target_option_exits_2_naming_it() -> None:
    """`pytest suites/ --stackcheck-target=foo` exits 2 with one line naming the option (not 4)."""
    ran = _run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "suites/",
                "--stackcheck-target=foo"])
    assert ran.returncode == ExitCode.USAGE, ran
    assert "UsageError: --stackcheck-target 'foo' is not valid: expected one of local, kubernetes, urls, " \
           "incluster" in _one_line(ran.stderr), ran
    assert "Traceback" not in ran.stderr, ran


def test_pytest_with_a_bad_target_variable_exits_2_naming_it() -> None:
    """`STACKCHECK_TARGET=foo pytest suites/` names the variable too."""
    ran = _run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "suites/"], STACKCHECK_TARGET="foo")
    assert ran.returncode == ExitCode.USAGE, ran
    assert "UsageError: STACKCHECK_TARGET='foo' is not valid" in _one_line(ran.stderr), ran


def test_the_target_defaults_to_incluster_in_a_pod() -> None:
    """Without --target or STACKCHECK_TARGET, a pod (KUBERNETES_SERVICE_HOST set) defaults to incluster."""
    target = settings.resolve(TargetSettings, {}, {}, {"KUBERNETES_SERVICE_HOST": "10.96.0.1"})
    assert (target.target, target.sources["target"]) == ("incluster", "default")


def test_a_bad_manifests_variable_is_blamed_on_the_variable(tmp_path: Path) -> None:
    """STACKCHECK_MANIFESTS pointing at a directory without config/ names the variable, not --manifests."""
    with pytest.raises(UsageError, match="^STACKCHECK_MANIFESTS=.* is not a stackcheck manifests directory"):
        settings.resolve(TargetSettings, {}, {"manifests": "--manifests"},
                         {"STACKCHECK_MANIFESTS": str(tmp_path)})


def test_a_bad_listen_variable_is_blamed_on_the_variable() -> None:
    """`STACKCHECK_LISTEN=x:y stackcheck serve` names STACKCHECK_LISTEN and exits 2 before serving."""
    ran = _run([str(STACKCHECK), "serve"], STACKCHECK_LISTEN="x:y")
    assert ran.returncode == ExitCode.USAGE, ran
    assert "UsageError: STACKCHECK_LISTEN='x:y': expected [HOST]:PORT" in _one_line(ran.stderr), ran


def test_every_component_has_exactly_one_url_option() -> None:
    """EndpointSettings spells out one ``<component>_url`` per entry of the components table."""
    from stackcheck.components import COMPONENTS
    fields = [name for name, _ in settings.specs(settings.EndpointSettings)]
    assert fields == [f"{c}_url" for c in COMPONENTS]
    assert list(settings.EndpointSettings().urls()) == list(COMPONENTS)


def test_preflight_asks_every_component_and_only_those() -> None:
    from stackcheck import preflight
    from stackcheck.components import COMPONENTS
    assert list(preflight.PATHS) == list(COMPONENTS)


def test_a_command_reads_only_the_variables_of_its_own_options() -> None:
    """`stackcheck lint` takes --manifests but not --target: a bad STACKCHECK_TARGET does not fail it."""
    args = build_parser({"STACKCHECK_TARGET": "foo"}).parse_args(["lint"])
    assert args.manifests is None and "target" not in args.sources


def test_the_manifests_variable_reaches_the_manifests_through_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """STACKCHECK_MANIFESTS is resolved by settings; Manifests.find reads no environment itself."""
    from stackcheck.manifests import BUNDLED_MANIFESTS, Manifests
    monkeypatch.setenv("STACKCHECK_MANIFESTS", str(tmp_path))  # a bad directory, if it were read here
    assert Manifests.find().root == BUNDLED_MANIFESTS
    args = build_parser({"STACKCHECK_MANIFESTS": str(BUNDLED_MANIFESTS)}).parse_args(["lint"])
    assert (args.manifests, args.sources["manifests"]) == (str(BUNDLED_MANIFESTS), "STACKCHECK_MANIFESTS")


def test_the_state_dir_variable_reaches_the_state_dir_through_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stackcheck.local.state import resolve_state_dir
    monkeypatch.setenv("STACKCHECK_STATE_DIR", str(tmp_path / "ignored"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert resolve_state_dir(None) == tmp_path / "xdg" / "stackcheck"
    args = build_parser({"STACKCHECK_STATE_DIR": str(tmp_path / "given")}).parse_args(["status"])
    assert resolve_state_dir(args.state_dir) == tmp_path / "given"


def test_an_environment_only_setting_is_read_from_its_variable() -> None:
    assert settings.from_environment("suites", {"STACKCHECK_SUITES": "/opt/s"}) == "/opt/s"
    assert settings.from_environment("credentials_dir", {"STACKCHECK_CREDENTIALS_DIR": ""}) is None
    with pytest.raises(KeyError):
        settings.from_environment("not_declared", {})
