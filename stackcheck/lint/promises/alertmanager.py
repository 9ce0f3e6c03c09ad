"""Alertmanager's promises: every secret read from a file the StatefulSet mounts from a Secret, critical
alerts to Slack and email at once, warnings to Slack after 30 s, notification state on the PVC."""

from __future__ import annotations

import base64
from typing import Any

import yaml

from stackcheck.lint.k8s import target_name
from stackcheck.lint.promises.common import (
    RENDERING,
    config_promise,
    flag_on_pvc,
    listen_promise,
    merge_renderings,
    not_a_secret,
    reaches,
    workload_promise,
)
from stackcheck.lint.promises.model import Promise, Verdict, promise, same_duration
from stackcheck.lint.promises.stack import Stack, Workload
from stackcheck.routing import route

ALERTMANAGER = "alertmanager/alertmanager.yml"
#: Keys that hold a credential when written inline (each has a ``*_file`` twin or credentials_file).
SECRET_KEYS = frozenset(
    {
        "slack_api_url",
        "smtp_auth_password",
        "smtp_auth_secret",
        "auth_password",
        "auth_secret",
        "credentials",
        "password",
        "bearer_token",
        "routing_key",
        "service_key",
        "api_key",
        "opsgenie_api_key",
        "victorops_api_key",
        "wechat_api_secret",
        "api_secret",
        "bot_token",
        "token",
        "user_key",
        "webhook_url",
    }
)
#: DESIGN.md: "critical → Slack + email at once; warning → Slack (30 s group_wait)".
CRITICAL_WAIT, WARNING_WAIT = "0s", "30s"


def _walk(node: Any, path: str) -> list[tuple[str, str, Any]]:
    """Every (dotted path, key, value) of a config."""
    found: list[tuple[str, str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            dotted = f"{path}.{key}" if path else str(key)
            found.append((dotted, str(key), value))
            found += _walk(value, dotted)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _walk(value, f"{path}[{i}]")
    return found


def _label(config: dict[str, Any], dotted: str) -> str:
    """``receivers[2].slack_configs[0].api_url`` → ``receiver 'critical' slack_configs[0].api_url``."""
    if dotted.startswith("receivers["):
        index = int(dotted[len("receivers[") : dotted.index("]")])
        name = (config.get("receivers") or [{}])[index].get("name")
        return f"receiver {name!r} {dotted[dotted.index(']') + 2 :]}"
    return dotted


@promise("alertmanager.secrets_from_files")
def secrets_from_files(stack: Stack) -> Verdict:
    """alertmanager.yml holds no credential: each is read from a *_file that the StatefulSet mounts from a
    Secret having that key"""
    config, where = stack.ctx.alertmanager, stack.rel(ALERTMANAGER)
    relied = "DESIGN.md: Alertmanager secrets read from files (*_file), never in git"
    problems = []
    files: list[tuple[str, str]] = []
    for dotted, key, value in _walk(config, ""):
        inline = key in SECRET_KEYS or (key == "api_url" and ".slack_configs[" in dotted)
        if inline and value not in (None, ""):
            problems.append(
                f"{where}: {_label(config, dotted)} is written inline; {relied}; use "
                f"{'credentials_file' if key == 'credentials' else key + '_file'} with a mounted Secret"
            )
        if (key.endswith("_file") or key == "credentials_file") and isinstance(value, str):
            files.append((_label(config, dotted), value))
    found: list[tuple[str, str]] = []
    for target, objects in stack.renderings.items():
        if objects is None:
            continue
        w = next((Workload(o) for o in objects if o.kind == "StatefulSet" and o.app == "alertmanager"), None)
        if w is None:
            continue
        for label, path in files:
            found += [(m, target_name(target)) for m in _secret_file(stack, w, objects, label, path, relied)]
    problems += merge_renderings(found)
    shown = ", ".join(sorted({p for _, p in files}))
    return Verdict(f"{len(files)} credentials read from {shown}", problems)


def _secret_file(
    stack: Stack, w: Workload, objects: list[Any], label: str, path: str, relied: str
) -> list[str]:
    where = f"{stack.rel(ALERTMANAGER)}: {label} = {path}"
    mounted = w.mount(path)
    if mounted is None or "secret" not in mounted[1]:
        return [
            (
                f"{where}: {stack.at(w)} {RENDERING} has {not_a_secret(mounted)} there, so the notification "
                "fails when it is "
                f"read; {relied}; mount the Secret at {path.rsplit('/', 1)[0]}"
            )
        ]
    mount, volume = mounted
    name = str(volume["secret"].get("secretName"))
    key = str(mount.get("subPath") or path[len(str(mount["mountPath"])) :].lstrip("/"))
    secret = stack.find("Secret", name, w.namespace, objects)
    if secret is None:
        return []  # created by the operator, never in git (manifests/README.md lists its keys)
    data = {**(secret.body.get("data") or {}), **(secret.body.get("stringData") or {})}
    if key not in data:
        return [
            (
                f"{where}: Secret {name} {RENDERING} ({stack.at(secret)}) has no key {key!r} "
                f"(it has {sorted(data)}); "
                "the file is missing in the pod; add the key"
            )
        ]
    if not _decoded(data[key], key in (secret.body.get("stringData") or {})).strip():
        return [f"{where}: Secret {name} {RENDERING} key {key!r} is empty; put the value in it"]
    return []


def _decoded(value: Any, plain: bool) -> str:
    if plain:
        return str(value)
    try:
        return base64.b64decode(str(value)).decode("utf-8", "replace")
    except ValueError:
        return ""


def _kinds(receiver: dict[str, Any]) -> list[str]:
    return [k for k in receiver if k != "name"]


def _severity_route(stack: Stack, severity: str, wait: str, needs: tuple[str, ...]) -> Verdict:
    config, where = stack.ctx.alertmanager, stack.rel(ALERTMANAGER)
    receivers = {str(r.get("name")): r for r in config.get("receivers") or [] if isinstance(r, dict)}
    matches = route(config, {"alertname": "Any", "severity": severity})
    channels = " + ".join(n.replace("_configs", "") for n in needs)
    good = [m for m in matches if all(receivers.get(m.receiver, {}).get(n) for n in needs)]
    relied = (
        f"DESIGN.md: {severity} → {channels} after group_wait {wait}; routes.test.yml and verify's "
        "delivery bounds assume it"
    )
    if not good:
        got = ", ".join(
            f"{m.receiver} ({', '.join(_kinds(receivers.get(m.receiver, {}))) or 'nothing'})" for m in matches
        )
        return Verdict(
            "",
            [
                (
                    f"{where}: an alert with severity={severity} reaches {got}; none delivers to "
                    f'{channels}; {relied}; route severity="{severity}" to such a receiver'
                )
            ],
        )
    first = good[0]
    if not same_duration(first.group_wait, wait):
        return Verdict(
            "",
            [
                (
                    f"{where}: the severity={severity} route to {first.receiver} has group_wait "
                    f"{first.group_wait}; {relied}; set group_wait: {wait} on that route"
                )
            ],
        )
    return Verdict(f"severity={severity} → {first.receiver} ({channels}), group_wait {first.group_wait}")


@promise("alertmanager.critical_to_slack_and_email", needs_objects=False)
def critical_route(stack: Stack) -> Verdict:
    """critical alerts reach Slack and email at once (group_wait 0s)"""
    return _severity_route(stack, "critical", CRITICAL_WAIT, ("slack_configs", "email_configs"))


@promise("alertmanager.warning_to_slack_after_30s", needs_objects=False)
def warning_route(stack: Stack) -> Verdict:
    """warning alerts reach Slack after group_wait 30s"""
    return _severity_route(stack, "warning", WARNING_WAIT, ("slack_configs",))


@workload_promise("alertmanager.data_on_pvc", "alertmanager", "its state belongs on a PVC")
def data_on_pvc(stack: Stack, w: Workload) -> Verdict:
    """Alertmanager keeps silences and the notification log on its PVC"""
    path, problems = flag_on_pvc(stack, w, "--storage.path", "/alertmanager",
                                 "a restart must not forget silences nor re-send delivered notifications")
    return Verdict(f"--storage.path={path} on the PVC", problems)


@promise("alertmanager.route_tests_match_rules", needs_objects=False)
def route_tests_match_rules(stack: Stack) -> Verdict:
    """routes.test.yml routes each alert with the severity and component labels its rule gives it"""
    rel = stack.ctx.rel(stack.ctx.route_tests_path)
    entries = (
        [e for e in stack.ctx.route_tests or [] if isinstance(e, dict)]
        if isinstance(stack.ctx.route_tests, list)
        else []
    )
    by_alert = {str(e.get("alert")): e for e in entries}
    problems, checked = [], 0
    for rule in (r for r in stack.ctx.rules if r.kind == "alert"):
        entry = by_alert.get(rule.name)
        if entry is None or not isinstance(entry.get("labels"), dict):
            continue  # lint.routes.coverage reports it
        checked += 1
        for key in ("severity", "component"):
            value = rule.labels.get(key)
            if value is None or "{{" in str(value):
                continue
            tested = entry["labels"].get(key)
            if str(tested) != str(value):
                problems.append(
                    f"{rel}: alert {rule.name}: labels {key}={tested}, but {stack.ctx.rel(rule.file)} "
                    f"gives it {key}={value}; the route test checks labels the alert never carries "
                    f"(lint.routes and the full profile's delivery checks trust it); set {key}: {value}"
                )
    return Verdict(f"{checked} route tests carry their rule's severity and component", problems)


KIND = "overlays/kind"
SINK = "stackcheck-sink"


@promise("alertmanager.kind_delivers_to_sink")
def kind_delivers_to_sink(stack: Stack) -> Verdict:
    """in the kind overlay, every SMTP, webhook and Slack address Alertmanager delivers to reaches the
    stackcheck-sink Service, on a port the sink listens on"""
    objects = stack.renderings.get(KIND)
    if objects is None:
        return Verdict(f"no {KIND} rendering (lint.render[{KIND}] says why, if it exists)")
    kind = Stack(stack.ctx, {".": objects})
    cm = kind.find("ConfigMap", "alertmanager-config", "monitoring")
    raw = ((cm.body.get("data") or {}) if cm else {}).get("alertmanager.yml")
    where = f"{KIND}/generated/alertmanager.yml"
    if raw is None:
        return Verdict(
            "",
            [
                (
                    f"{KIND}: no ConfigMap alertmanager-config key alertmanager.yml; rerun "
                    "`python -m stackcheck.overlay kind`"
                )
            ],
        )
    config = yaml.safe_load(raw) or {}
    relied = "the full profile checks every notification at the sink"
    addresses = []
    smarthost = str((config.get("global") or {}).get("smtp_smarthost", ""))
    if smarthost:
        addresses.append(("global.smtp_smarthost", f"smtp://{smarthost}"))
    for dotted, key, value in _walk(config, ""):
        if key == "url" and ".webhook_configs[" in dotted:
            addresses.append((_label(config, dotted), str(value)))
    secret = kind.find("Secret", "alertmanager-sink-secrets", "monitoring")
    slack = ((secret.body.get("data") or {}) if secret else {}).get("slack-webhook-url")
    if slack is not None:
        addresses.append(
            ("Secret alertmanager-sink-secrets key slack-webhook-url", _decoded(slack, False).strip())
        )
    problems = []
    for label, url in addresses:
        problems += [f"{p}; {relied}" for p in reaches(kind, url, "monitoring", where, label, SINK)[1]]
    return Verdict(f"{len(addresses)} addresses reach {SINK}", problems)


PROMISES: tuple[Promise, ...] = (
    config_promise("alertmanager", "alertmanager", ALERTMANAGER, ("--config.file",), shown="Alertmanager"),
    listen_promise("alertmanager", "alertmanager", shown="Alertmanager"),
    secrets_from_files,
    critical_route,
    warning_route,
    data_on_pvc,
    route_tests_match_rules,
    kind_delivers_to_sink,
)
