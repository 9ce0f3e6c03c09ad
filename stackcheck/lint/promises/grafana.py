"""Grafana's promises: fixed datasource uids at URLs that reach their component, provisioning files and
dashboards mounted where Grafana reads them, and an admin password that is never a literal."""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any

from stackcheck.lint.promises.common import (
    file_in_container,
    listen_promise,
    not_a_secret,
    reaches,
    workload_promise,
)
from stackcheck.lint.promises.model import Promise, Verdict, promise, same_duration
from stackcheck.lint.promises.stack import Stack, Workload, dig

DATASOURCES = "grafana/datasources.yml"
PROVIDERS = "grafana/dashboards.yml"
#: DESIGN.md: "datasources Prometheus, Loki and Jaeger with fixed uids"; type → the app its URL must reach.
DATASOURCE_APPS = {"prometheus": "prometheus", "loki": "loki", "jaeger": "jaeger"}
#: jsonData keys that name another datasource by uid (links between logs, traces and metrics).
LINK_KEYS = (
    "tracesToLogsV2.datasourceUid",
    "tracesToLogs.datasourceUid",
    "tracesToMetrics.datasourceUid",
    "serviceMap.datasourceUid",
    "nodeGraph.datasourceUid",
)
PROVISIONING_DEFAULT = "/etc/grafana/provisioning"
PASSWORD_ENV = "GF_SECURITY_ADMIN_PASSWORD"


def _sources(stack: Stack) -> list[dict[str, Any]]:
    return stack.datasources()


@promise("grafana.datasource_uids", needs_objects=False)
def datasource_uids(stack: Stack) -> Verdict:
    """Grafana's Prometheus, Loki and Jaeger datasources have fixed, unique uids, and every link between them
    names one"""
    where = stack.rel(DATASOURCES)
    relied = "the dashboards, the datasource links and verify's grafana checks refer to datasources by uid"
    sources = _sources(stack)
    problems = []
    uids = [str(s["uid"]) for s in sources if s.get("uid")]
    for s in sources:
        if not s.get("uid"):
            problems.append(
                f"{where}: datasource {s.get('name')!r} has no uid, so Grafana makes a random one; "
                f"{relied}; set a fixed uid"
            )
    for uid in sorted({u for u in uids if uids.count(u) > 1}):
        problems.append(
            f"{where}: uid {uid!r} is used by {uids.count(uid)} datasources; {relied}; make it unique"
        )
    types = {str(s.get("type")) for s in sources}
    for kind in DATASOURCE_APPS:
        if kind not in types:
            problems.append(
                f"{where}: no datasource of type {kind}; DESIGN.md ships Prometheus, Loki and Jaeger "
                "datasources; add it with a fixed uid"
            )
    for s in sources:
        links = [(k, dig(s.get("jsonData"), k)) for k in LINK_KEYS]
        links += [
            (f"derivedFields[{i}].datasourceUid", f.get("datasourceUid"))
            for i, f in enumerate(dig(s.get("jsonData"), "derivedFields") or [])
            if isinstance(f, dict)
        ]
        for key, uid in links:
            if uid is not None and str(uid) not in uids:
                problems.append(
                    f"{where}: datasource {s.get('uid')!r} jsonData.{key} is {uid!r}, which no "
                    f"datasource has (uids: {', '.join(uids)}); the link opens nothing; use one of them"
                )
    types_by_uid = {str(s["uid"]): str(s.get("type")) for s in sources if s.get("uid")}
    for path in stack.ctx.dashboard_files:
        try:
            board = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue  # lint.dashboard reports it
        for uid, kind in sorted(_refs(board)):
            if uid in types_by_uid and kind != types_by_uid[uid]:
                problems.append(
                    f"{stack.ctx.rel(path)}: a datasource reference says uid {uid!r} is of type "
                    f"{kind!r}, but {where} provisions {uid!r} as {types_by_uid[uid]!r}; its queries "
                    f"go to the wrong kind of datasource (grafana.dashboard_loads); fix the type or uid"
                )
    return Verdict(f"uids {', '.join(uids)}", problems)


def _refs(node: Any) -> set[tuple[str, str]]:
    """(uid, type) of every ``"datasource": {"type", "uid"}`` reference in a dashboard."""
    found: set[tuple[str, str]] = set()
    if isinstance(node, dict):
        ref = node.get("datasource")
        if isinstance(ref, dict) and ref.get("uid") and ref.get("type"):
            found.add((str(ref["uid"]), str(ref["type"])))
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


@promise("grafana.datasource_urls")
def datasource_urls(stack: Stack) -> Verdict:
    """every Grafana datasource URL reaches its component's Service, on the port the component listens on"""
    w = stack.workload("grafana")
    namespace = w.namespace if w else "monitoring"
    problems = []
    shown = []
    for s in _sources(stack):
        app = DATASOURCE_APPS.get(str(s.get("type")))
        if app is None or not s.get("url"):
            continue
        shown.append(f"{s.get('uid')} {s.get('url')}")
        problems += reaches(
            stack, str(s["url"]), namespace, stack.rel(DATASOURCES), f"datasource {s.get('uid')!r} url", app
        )[1]
    return Verdict(", ".join(shown), problems)


@workload_promise(
    "grafana.admin_password_from_secret", "grafana", "its admin password must come from a Secret"
)
def admin_password(stack: Stack, w: Workload) -> Verdict:
    """Grafana's admin password comes from a Secret, never a literal"""
    where, relied = stack.at(w), "DESIGN.md: admin password generated into a Secret, never a literal"
    literal, from_file = w.env(PASSWORD_ENV), w.env(PASSWORD_ENV + "__FILE")
    problems = []
    if literal is not None and "valueFrom" not in literal:
        problems.append(
            f"{where}: env {PASSWORD_ENV} is a literal value; {relied}; remove it and set "
            f"{PASSWORD_ENV}__FILE to the mounted Secret file (or valueFrom.secretKeyRef)"
        )
    elif literal is not None and "secretKeyRef" not in literal["valueFrom"]:
        problems.append(
            f"{where}: env {PASSWORD_ENV} comes from {sorted(literal['valueFrom'])}, not a Secret; "
            f"{relied}; use valueFrom.secretKeyRef"
        )
    if literal is not None and from_file is not None:
        problems.append(
            f"{where}: both {PASSWORD_ENV} and {PASSWORD_ENV}__FILE are set (the image's entrypoint "
            f"refuses that); keep only {PASSWORD_ENV}__FILE"
        )
    if from_file is not None:
        path = str(from_file.get("value", ""))
        mounted = w.mount(path)
        if mounted is None or "secret" not in mounted[1]:
            problems.append(
                f"{where}: {PASSWORD_ENV}__FILE = {path} is on {not_a_secret(mounted)}; {relied}; mount the "
                "grafana-admin Secret there"
            )
        if w.container.get("command"):
            problems.append(
                f"{where}: command is overridden, so the image's /run.sh never turns "
                f"{PASSWORD_ENV}__FILE into the password; remove command"
            )
    if literal is None and from_file is None:
        problems.append(
            f"{where}: neither {PASSWORD_ENV}__FILE nor {PASSWORD_ENV} from a Secret is set, so the "
            "admin password is Grafana's default 'admin'; set "
            f"{PASSWORD_ENV}__FILE to the mounted grafana-admin Secret"
        )
    how = "__FILE " + str((from_file or {}).get("value")) if from_file else "secretKeyRef"
    return Verdict(f"{PASSWORD_ENV}{how}", problems)


@workload_promise("grafana.provisioning_mounted", "grafana", "it provisions the datasources and dashboards")
def provisioning_mounted(stack: Stack, w: Workload) -> Verdict:
    """Grafana reads datasources.yml and dashboards.yml from its provisioning directories"""
    env = w.env("GF_PATHS_PROVISIONING") or {}
    base = PurePosixPath(str(env.get("value") or PROVISIONING_DEFAULT))
    problems = []
    for rel, sub in ((DATASOURCES, "datasources"), (PROVIDERS, "dashboards")):
        path = str(base / sub / PurePosixPath(rel).name)
        problems += file_in_container(stack, w, path, rel, f"Grafana's provisioning directory {base / sub}")
    return Verdict(f"{base}/datasources and {base}/dashboards hold config/grafana's files", problems)


@workload_promise("grafana.dashboards_provisioned", "grafana", "it serves the dashboards")
def dashboards_provisioned(stack: Stack, w: Workload) -> Verdict:
    """every dashboard JSON of config/grafana/dashboards/ is mounted where dashboards.yml tells Grafana to
    look"""
    providers = [p for p in stack.yaml(PROVIDERS).get("providers") or [] if isinstance(p, dict)]
    paths = [str(dig(p, "options.path")) for p in providers if p.get("type", "file") == "file"]
    problems = []
    if not paths:
        problems.append(
            f"{stack.rel(PROVIDERS)}: no file provider with options.path, so Grafana loads no "
            "dashboard (grafana.dashboard_loads fails); add one"
        )
    for path in paths:
        for board in stack.ctx.dashboard_files:
            rel = f"grafana/dashboards/{board.name}"
            problems += file_in_container(
                stack, w, f"{path}/{board.name}", rel, f"{stack.rel(PROVIDERS)} options.path"
            )
    return Verdict(f"{len(stack.ctx.dashboard_files)} dashboards under {', '.join(paths)}", problems)


@promise("grafana.scrape_interval_matches", needs_objects=False)
def scrape_interval_matches(stack: Stack) -> Verdict:
    """the Prometheus datasource's timeInterval equals prometheus.yml's scrape_interval"""
    scrape = str((stack.ctx.prometheus.get("global") or {}).get("scrape_interval", "1m"))
    problems = []
    for s in _sources(stack):
        if s.get("type") != "prometheus":
            continue
        given = dig(s.get("jsonData"), "timeInterval")
        if not same_duration(given, scrape):
            problems.append(
                f"{stack.rel(DATASOURCES)}: datasource {s.get('uid')!r} jsonData.timeInterval is "
                f"{given!r}, prometheus.yml scrapes every {scrape}: $__rate_interval then spans "
                "the wrong number of scrapes and panels show gaps or no data (and the local "
                f"runtime scales it like the scrape interval); set timeInterval: {scrape}"
            )
    return Verdict(f"timeInterval = scrape_interval = {scrape}", problems)


#: Loki's default ``limits_config.max_entries_limit_per_query`` (contracts/loki.md: 5001 answers 400).
LOKI_MAX_ENTRIES = 5000
#: Grafana's limit on a dashboard uid's length.
MAX_UID_LENGTH = 40


@promise("grafana.loki_max_lines_within_limit", needs_objects=False)
def loki_max_lines(stack: Stack) -> Verdict:
    """the Loki datasource's maxLines is within Loki's max_entries_limit_per_query"""
    limit = dig(stack.yaml("loki/loki.yaml"), "limits_config.max_entries_limit_per_query") or LOKI_MAX_ENTRIES
    problems, shown_lines = [], []
    for s in _sources(stack):
        if s.get("type") != "loki":
            continue
        lines = dig(s.get("jsonData"), "maxLines")
        shown_lines.append(f"{s.get('uid')} maxLines {lines}")
        if isinstance(lines, int) and isinstance(limit, int) and lines > limit:
            problems.append(
                f"{stack.rel(DATASOURCES)}: datasource {s.get('uid')!r} jsonData.maxLines is {lines}, above "
                f"Loki's max_entries_limit_per_query {limit} (config/loki/loki.yaml limits_config): every "
                "log panel and Explore query gets 400 'max entries limit per query exceeded'; set "
                f"maxLines <= {limit}"
            )
    return Verdict(f"{', '.join(shown_lines) or 'no Loki datasource'} <= {limit}", problems)


@promise("grafana.dashboard_uids", needs_objects=False)
def dashboard_uids(stack: Stack) -> Verdict:
    """every dashboard has a fixed, unique uid (verify's grafana.dashboard_loads[<uid>] asks Grafana by it)"""
    seen: dict[str, str] = {}
    problems = []
    for path in stack.ctx.dashboard_files:
        rel = stack.ctx.rel(path)
        try:
            board = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue  # lint.dashboard reports it
        uid = board.get("uid") if isinstance(board, dict) else None
        if not uid:
            problems.append(
                f"{rel}: no uid, so Grafana makes a random one and verify's grafana.dashboard_loads cannot "
                "find the dashboard; set a fixed uid"
            )
        elif len(str(uid)) > MAX_UID_LENGTH:
            problems.append(
                f"{rel}: uid {uid!r} is longer than Grafana's {MAX_UID_LENGTH} characters; shorten it"
            )
        elif str(uid) in seen:
            problems.append(
                f"{rel}: uid {uid!r} is also the uid of {seen[str(uid)]}; Grafana provisions only one of "
                "them; make it unique"
            )
        else:
            seen[str(uid)] = rel
    return Verdict(f"uids {', '.join(seen)}", problems)


PROMISES: tuple[Promise, ...] = (
    datasource_uids,
    datasource_urls,
    admin_password,
    provisioning_mounted,
    dashboards_provisioned,
    scrape_interval_matches,
    loki_max_lines,
    dashboard_uids,
    listen_promise("grafana", "grafana"),
)
