"""Every stackcheck option, declared once, as dataclasses by topic, and resolved in one written order.

Each field of a topic below is one option. Its name gives all of its spellings::

    time_scale  →  --time-scale (stackcheck)  --stackcheck-time-scale (pytest)  STACKCHECK_TIME_SCALE

(the endpoint URLs keep ``--prometheus-url`` in pytest too, and ``-n`` is short for ``--namespace``).
The ``stackcheck`` parsers and the pytest plugin's ``pytest_addoption`` are both generated from these
fields, and this module is the only one that reads ``STACKCHECK_*`` options from the environment.

Resolution order, the same for every option and both front ends (as pytest-timeout's):

1. the command line (the flag, when given),
2. the environment (``STACKCHECK_<OPTION>``, when set and not empty),
3. the field's default.

The result is a value *and* where it came from (the flag's name, the variable's name or
``"default"``). A value that does not parse is a :class:`~stackcheck.errors.UsageError` (exit 2)
that names its source, as ``Invalid timeout {timeout} from {where}`` does::

    STACKCHECK_TARGET='foo' is not valid: expected one of local, kubernetes, urls, incluster
"""
from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from stackcheck.components import COMPONENTS
from stackcheck.errors import UsageError
from stackcheck.option_values import boolean, duration, manifests_dir, one_of, port, positive_number, text

ENV_PREFIX = "STACKCHECK_"
DEFAULT = "default"
TARGETS = ("local", "kubernetes", "urls", "incluster")
PROFILES = ("smoke", "full")


# --- the declarations ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Spec:
    """How one field is given: its parser, help text, and its spellings where they are not derived."""

    help: str
    parse: Callable[[str], Any] = text
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    switch: bool = False  # a flag without a value (--allow-faults); the environment says 1/0
    short: str | None = None
    pytest_flag: str | None = None  # "" = pytest owns it already (--junit-xml): not added by the plugin
    default_from: Callable[[Mapping[str, str]], Any] | None = None  # a default that depends on the machine


def option(default: Any, help: str, parse: Callable[[str], Any] = text, *, metavar: str | None = None,
           choices: tuple[str, ...] = (), switch: bool = False, short: str | None = None,
           pytest_flag: str | None = None, default_from: Callable[[Mapping[str, str]], Any] | None = None
           ) -> Any:
    """A dataclass field that is an option (``default_from``: a default read from the environment)."""
    spec = Spec(help, one_of(*choices) if choices else (boolean if switch else parse), metavar, choices,
                switch, short, pytest_flag, default_from)
    return field(default=default, metadata={"option": spec})


def _local_or_incluster(environ: Mapping[str, str]) -> str:
    # in a pod (the kubelet sets KUBERNETES_SERVICE_HOST) there is no local stack: check the cluster's
    return "incluster" if environ.get("KUBERNETES_SERVICE_HOST") else "local"


@dataclass(frozen=True)
class Topic:
    """Base of the topics: ``sources`` says where each field's value came from."""

    sources: dict[str, str] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class TargetSettings(Topic):
    """Which stack is checked, and against which manifests."""

    target: str = option("local", "local (stackcheck up), kubernetes (through the API server), urls, or "
                               "incluster (in a pod: Services by cluster DNS name); default local, "
                               "incluster in a pod", choices=TARGETS, default_from=_local_or_incluster)
    manifests: str | None = option(None, "manifests directory (default: the repository's manifests/)",
                                   manifests_dir, metavar="DIR")
    expectations: str | None = option(None, "YAML file: which jobs must be up, which namespaces must have "
                                            "fresh logs, which services must have traces (default: the "
                                            "Phase 5 namespaces and every job)", metavar="FILE")


def _url(component: str) -> Any:
    required = "; required" if component == "prometheus" else ""
    return option(None, f"{component} base URL (target urls{required}; overrides incluster's)",
                  metavar="URL", pytest_flag=f"--{component}-url")


@dataclass(frozen=True)
class EndpointSettings(Topic):
    """Base URLs of the components, for target urls (None: the target has no such component).

    One field per entry of :data:`stackcheck.components.COMPONENTS`, written out so that mypy knows
    them; tests/test_settings.py checks that the two match."""

    prometheus_url: str | None = _url("prometheus")
    alertmanager_url: str | None = _url("alertmanager")
    grafana_url: str | None = _url("grafana")
    loki_url: str | None = _url("loki")
    jaeger_url: str | None = _url("jaeger")
    sink_url: str | None = _url("sink")
    probe_url: str | None = _url("probe")

    def urls(self) -> dict[str, str | None]:
        return {c: getattr(self, f"{c}_url") for c in COMPONENTS}


@dataclass(frozen=True)
class CredentialSettings(Topic):
    """Credentials for target urls: always files, so that no secret is on a command line or in ps."""

    bearer_token_file: str | None = option(None, "file with a bearer token for every URL (target urls)",
                                           metavar="PATH")
    basic_auth_user: str | None = option(None, "basic-auth user name (target urls)", metavar="USER")
    basic_auth_password_file: str | None = option(None, "file with the basic-auth password (target urls)",
                                                  metavar="PATH")


@dataclass(frozen=True)
class KubernetesSettings(Topic):
    """kubectl's vocabulary for reaching a cluster (target kubernetes, cleanup, deploy)."""

    context: str | None = option(None, "kubeconfig context (default: the current-context)", metavar="NAME")
    kubeconfig: str | None = option(None, "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then the "
                                          "pod's service account)", metavar="PATH")
    namespace: str | None = option(None, "namespace of Prometheus, Alertmanager, Grafana and Loki (default "
                                         "monitoring)", metavar="NS", short="-n")


@dataclass(frozen=True)
class RunSettings(Topic):
    """What one verify run does and what it writes."""

    profile: str = option("smoke", "smoke: read-only checks (default, safe anywhere); full: adds canaries "
                                   "and faults", choices=PROFILES)
    json: str | None = option(None, "write the JSON report here", metavar="PATH")
    junit_xml: str | None = option(None, "write JUnit XML here", metavar="PATH", pytest_flag="")
    allow_faults: bool = option(False, "allow faults on a target not known to be disposable (off: a "
                                       "production stack is never faulted by accident)", switch=True)
    deploy: bool = option(False, "stackcheck deploy (and wait) before the checks", switch=True)
    destroy_after: bool = option(False, "with --deploy: stackcheck destroy afterwards", switch=True)
    overlay: str = option("kind", "what to deploy (verify: with --deploy): manifests/overlays/kind (default: "
                                  "a disposable cluster), .../production, or a directory with a "
                                  "kustomization.yaml", metavar="kind|production|DIR")
    deploy_timeout: float | None = option(None, "wait budget for --deploy, e.g. 5m (default: the overlay's)",
                                          duration, metavar="D")


@dataclass(frozen=True)
class LocalSettings(Topic):
    """The local runtime (`stackcheck up`)."""

    state_dir: str | None = option(None, "local runtime state (default: ~/.local/state/stackcheck)",
                                   metavar="DIR")
    time_scale: float = option(1.0, "divide every interval, for and group timer by N (default 1: the "
                                    "production values)", positive_number, metavar="N")
    port_base: int = option(29000, "ports are offsets from this base (default 29000, clear of common "
                                   "services; Prometheus on base+90)", port, metavar="P")
    ready_timeout: float = option(30.0, "seconds to wait for readiness (default 30: a cold start on a "
                                        "busy machine takes a few seconds)", positive_number, metavar="S")


@dataclass(frozen=True)
class ServeSettings(Topic):
    """The smoke exporter (`stackcheck serve`)."""

    interval: float = option(300.0, "time between the starts of two smoke runs (default 5m; 30s, 5m, 1h)",
                             duration, metavar="DURATION")
    listen: str = option("127.0.0.1:9464", "where to serve /metrics (default 127.0.0.1:9464, loopback "
                                           "only; host defaults to 127.0.0.1)", metavar="[HOST]:PORT")
    round_timeout: float | None = option(None, "stop a smoke run that takes longer (default: the interval, "
                                               "at least 300s)", duration, metavar="DURATION")


@dataclass(frozen=True)
class DeploySettings(Topic):
    """`stackcheck deploy` and `destroy` (overlay, cluster, manifests and --json: the topics above)."""

    timeout: float | None = option(None, "wait budget, e.g. 30s or 5m (default: deploy 5m for kind, 10m for "
                                         "production, as long as their images take; destroy 5m)", duration,
                                   metavar="D")


#: What `stackcheck verify` and the pytest plugin take.
VERIFY_TOPICS: tuple[type[Topic], ...] = (TargetSettings, EndpointSettings, CredentialSettings,
                                          KubernetesSettings, RunSettings, LocalSettings)


#: Settings without a flag, read from ``STACKCHECK_<NAME>`` only: where an installation keeps its files.
ENVIRONMENT_ONLY = {
    "suites": "the conformance suite that `verify` runs (default: the checkout's suites/; the image sets "
              "/opt/stackcheck/suites)",
    "credentials_dir": "incluster: the directory of <component>-token / -username / -password files "
                       "(default /etc/stackcheck/credentials, where the smoke Deployment mounts them)",
}


def from_environment(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The value of one of :data:`ENVIRONMENT_ONLY` (``suites`` → ``STACKCHECK_SUITES``), None when it
    is unset or empty."""
    if name not in ENVIRONMENT_ONLY:
        raise KeyError(f"{name} is not declared in stackcheck.settings.ENVIRONMENT_ONLY")
    return (os.environ if environ is None else environ).get(variable(name)) or None


# --- spellings ------------------------------------------------------------------------------------

def specs(topic: type[Topic], only: Iterable[str] | None = None) -> list[tuple[str, Spec]]:
    """(field name, spec) of each option of ``topic`` (``only``: just these fields, in this order)."""
    found = {f.name: f.metadata["option"] for f in dataclasses.fields(topic) if "option" in f.metadata}
    return [(name, found[name]) for name in (found if only is None else only)]


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def pytest_flag(name: str, spec: Spec) -> str:
    return spec.pytest_flag if spec.pytest_flag is not None else "--stackcheck-" + name.replace("_", "-")


def variable(name: str) -> str:
    return ENV_PREFIX + name.upper()


def pytest_dest(name: str) -> str:
    return "stackcheck_" + name


# --- resolution -----------------------------------------------------------------------------------

def parse(spec: Spec, value: str, where: str) -> Any:
    """One text → its value, or the UsageError naming where it came from."""
    try:
        return spec.parse(value)
    except ValueError as exc:
        fix = f"; fix or unset {where}" if where.startswith(ENV_PREFIX) else ""
        separator = "=" if where.startswith(ENV_PREFIX) else " "
        why = str(exc) if str(exc).startswith("is ") else f"is not valid: {exc}"
        raise UsageError(f"{where}{separator}{value!r} {why}{fix}") from None


T = TypeVar("T", bound=Topic)


def resolve(topic: type[T], given: Mapping[str, Any], flags: Mapping[str, str],
            environ: Mapping[str, str] | None = None, only: Iterable[str] | None = None) -> T:
    """The topic from the command line (``given``: field → value or None), the environment, the defaults.

    ``flags`` names each field's flag in the calling front end, for ``sources`` and for messages.
    ``only``: resolve just these fields (the options a command takes); the others keep their declared
    defaults, and their variables are not read, so a bad one cannot fail a command without the option.
    """
    env = os.environ if environ is None else environ
    only = None if only is None else tuple(only)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, spec in specs(topic, only):
        value = given.get(name)
        if value is not None and not (spec.switch and value is False):
            where = flags[name]
            values[name] = value if spec.switch else parse(spec, str(value), where)
        elif env.get(variable(name)):
            where = variable(name)
            values[name] = parse(spec, env[where], where)
        else:
            if spec.default_from is not None:
                values[name] = spec.default_from(env)
            continue
        sources[name] = where
    resolved = topic(sources={}, **values)
    resolved.sources.update({name: sources.get(name, DEFAULT) for name, _ in specs(topic, only)})
    return resolved


# --- the front ends -------------------------------------------------------------------------------

def add_arguments(parser: argparse._ActionsContainer, topic: type[Topic],
                  only: Iterable[str] | None = None) -> None:
    """Add ``topic``'s options to a ``stackcheck`` parser. Nothing is parsed or defaulted here: every
    value stays None unless given, and :func:`resolve_args` resolves them afterwards."""
    for name, spec in specs(topic, only):
        names = [spec.short, flag(name)] if spec.short else [flag(name)]
        if spec.switch:
            parser.add_argument(*names, dest=name, action="store_true", default=None, help=spec.help)
        else:
            metavar = spec.metavar or ("{" + ",".join(spec.choices) + "}" if spec.choices else None)
            parser.add_argument(*names, dest=name, metavar=metavar, default=None, help=spec.help)


def resolve_args(args: argparse.Namespace, topics: Iterable[type[Topic]],
                 environ: Mapping[str, str] | None = None) -> None:
    """Replace each option of ``topics`` present in ``args`` by its resolved value; record the sources
    in ``args.sources``."""
    sources: dict[str, str] = getattr(args, "sources", {})
    for topic in topics:
        present = [name for name, _ in specs(topic) if hasattr(args, name)]
        if not present:
            continue
        given = {name: getattr(args, name) for name in present}
        flags = {name: (spec.short + "/" if spec.short else "") + flag(name) for name, spec in specs(topic)}
        resolved = resolve(topic, given, flags, environ, only=present)
        for name in present:
            setattr(args, name, getattr(resolved, name))
            sources[name] = resolved.sources[name]
    args.sources = sources


def add_pytest_options(group: Any, topics: Iterable[type[Topic]]) -> None:
    """The plugin's ``pytest_addoption``: the same options, spelled ``--stackcheck-<option>``."""
    for topic in topics:
        for name, spec in specs(topic):
            if spec.pytest_flag == "":
                continue
            help_text = f"{spec.help} [env {variable(name)}]"
            if spec.switch:
                group.addoption(pytest_flag(name, spec), dest=pytest_dest(name), action="store_true",
                                default=None, help=help_text)
            else:
                metavar = spec.metavar or ("{" + ",".join(spec.choices) + "}" if spec.choices else None)
                group.addoption(pytest_flag(name, spec), dest=pytest_dest(name), metavar=metavar,
                                default=None, help=help_text)


@dataclass(frozen=True)
class VerifySettings:
    """Everything a verify run is configured by, resolved."""

    target: TargetSettings
    endpoints: EndpointSettings
    credentials: CredentialSettings
    kubernetes: KubernetesSettings
    run: RunSettings
    local: LocalSettings


def verify_settings(getoption: Callable[[str], Any], environ: Mapping[str, str] | None = None
                    ) -> VerifySettings:
    """Resolve the plugin's options (``getoption``: pytest's ``config.getoption``)."""
    topics = []
    for topic in VERIFY_TOPICS:
        named = specs(topic)
        given = {name: getoption(pytest_dest(name)) for name, spec in named if spec.pytest_flag != ""}
        topics.append(resolve(topic, given, {name: pytest_flag(name, spec) for name, spec in named}, environ))
    return VerifySettings(*topics)  # type: ignore[arg-type]


def pytest_argv(args: argparse.Namespace, always: Iterable[str] = ("target", "profile")) -> list[str]:
    """The pytest options for a resolved ``stackcheck verify`` command line: the options given as flags
    (the plugin resolves the environment and the defaults again itself, in the same order), those pytest
    owns (``--junit-xml``) from wherever they came, and ``always`` (the target: it makes a run with no
    check a stackcheck run too)."""
    argv: list[str] = []
    for topic in VERIFY_TOPICS:
        for name, spec in specs(topic):
            value, where = getattr(args, name, None), args.sources.get(name, DEFAULT)
            wanted = name in always or where.startswith("-") or (spec.pytest_flag == "" and where != DEFAULT)
            if not wanted or value is None or value is False:
                continue
            if spec.switch:
                argv.append(pytest_flag(name, spec))
            else:
                argv += [pytest_flag(name, spec) or flag(name), str(value)]
    return argv
