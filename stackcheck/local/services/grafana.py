"""The local Grafana: the manifests' datasources with local URLs, their dashboards read in place, an admin
password file kept in the state dir."""
from __future__ import annotations

import copy
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stackcheck.local.ports import LOOPBACK, Ports, url
from stackcheck.local.service import Service
from stackcheck.local.services.common import CannotRunLocally, config_dir, dump, load
from stackcheck.local.state import GRAFANA_ADMIN_USER, GRAFANA_PASSWORD_FILE
from stackcheck.manifests import Manifests
from stackcheck.timescale import parse_duration

#: Where the Grafana Deployment mounts ``config/grafana/dashboards/`` (see dashboards.yml).
GRAFANA_CLUSTER_DASHBOARDS = "/var/lib/grafana/dashboards"


def _datasource_urls(ports_base: int) -> dict[str, str]:
    """Datasource type → its local URL (the uids are kept: dashboards and links refer to them)."""
    ports = Ports(ports_base)
    return {"prometheus": url(ports.prometheus), "loki": url(ports.loki),
            "jaeger": url(ports.jaeger_query)}


def grafana_datasources(manifests: Manifests, ports: Ports, factor: float) -> dict[str, Any]:
    """datasources.yml with local URLs; uids, links and ``$$`` escapes unchanged.

    Prometheus' ``timeInterval`` (= the scrape interval) is scaled like the local Prometheus' interval,
    so ``$__rate_interval`` covers as many scrapes as in the cluster.
    """
    doc = copy.deepcopy(load(manifests.grafana_datasources_yml))
    urls = _datasource_urls(ports.base)
    for source in doc.get("datasources") or []:
        kind = str(source.get("type"))
        if kind in urls:
            source["url"] = urls[kind]
        json_data = source.get("jsonData") or {}
        if kind == "prometheus" and json_data.get("timeInterval"):
            interval_s = parse_duration(str(json_data["timeInterval"])) / factor
            json_data["timeInterval"] = grafana_interval(interval_s)
    return doc


def grafana_interval(seconds: float) -> str:
    """One-unit interval Grafana parses everywhere (``750ms``, ``15s``), not a compound like ``1s500ms``."""
    ms = max(1, round(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def grafana_dashboard_providers(manifests: Manifests) -> dict[str, Any]:
    """dashboards.yml reading the dashboard JSON straight from manifests (the same files, not a copy)."""
    doc = copy.deepcopy(load(manifests.config_dir / "grafana" / "dashboards.yml"))
    boards = (manifests.config_dir / "grafana" / "dashboards").resolve()
    mount = Path(GRAFANA_CLUSTER_DASHBOARDS)
    for provider in doc.get("providers") or []:
        options = provider.setdefault("options", {})
        given = Path(str(options.get("path") or mount))
        options["path"] = str(boards / given.relative_to(mount) if given == mount or mount in given.parents
                              else boards)
    return doc


def grafana_password(state_dir: Path) -> Path:
    """The admin password file (0600), created with a random password unless it exists.

    It is kept across runs: Grafana sets the admin password only when it creates its database, so a new
    password would not match the kept one in ``data/grafana``.
    """
    path = state_dir / GRAFANA_PASSWORD_FILE
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.is_file() or not path.read_text().strip():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(24))
    path.chmod(0o600)
    return path


def grafana_ini(ports: Ports, state_dir: Path, provisioning: Path, password_file: Path) -> str:
    """grafana.ini for the local Grafana: loopback, paths under the state dir, nothing phoned home.

    The admin password is read by Grafana itself from the file (``$__file{}``): the ``GF_*__FILE``
    variables of the cluster Deployment are resolved by the container image's entrypoint script, not by
    the grafana binary, and would be ignored here. Anonymous users get Viewer (dashboards, queries);
    listing datasources needs an org Admin, so verify logs in with the password file.
    """
    if "}" in str(password_file):
        raise CannotRunLocally(f"{password_file}: Grafana's $__file{{}} cannot read a path containing '}}'")
    data = state_dir / "data" / "grafana"
    sections: dict[str, dict[str, str]] = {
        "paths": {"data": str(data), "logs": str(state_dir / "logs" / "grafana"),
                  "plugins": str(data / "plugins"), "provisioning": str(provisioning)},
        "server": {"protocol": "http", "http_addr": LOOPBACK, "http_port": str(ports.grafana),
                   "domain": LOOPBACK, "root_url": f"{url(ports.grafana)}/"},
        "security": {"admin_user": GRAFANA_ADMIN_USER, "admin_password": f"$__file{{{password_file}}}",
                     "disable_gravatar": "true"},
        "users": {"allow_sign_up": "false"},
        "auth.anonymous": {"enabled": "true", "org_name": "Main Org.", "org_role": "Viewer"},
        "analytics": {"reporting_enabled": "false", "check_for_updates": "false",
                      "check_for_plugin_updates": "false", "feedback_links_enabled": "false"},
        "news": {"news_feed_enabled": "false"},
        "plugins": {"preinstall_disabled": "true"},
        "snapshots": {"external_enabled": "false"},
        "log": {"mode": "console"},
    }
    lines = ["; Generated by stackcheck for the local runtime (stackcheck/local/services/grafana.py)."]
    for name, values in sections.items():
        lines += ["", f"[{name}]", *(f"{k} = {v}" for k, v in values.items())]
    return "\n".join(lines) + "\n"


def grafana_home(binary: Path) -> Path | None:
    """Grafana's home (``conf/defaults.ini``, ``public/``): ``$GF_PATHS_HOME``, beside the binary, or
    where the packages put it."""
    resolved = binary.resolve()
    candidates = [Path(os.environ["GF_PATHS_HOME"])] if os.environ.get("GF_PATHS_HOME") else []
    for b in dict.fromkeys((resolved, binary)):
        candidates += [b.parent.parent, b.parent.parent / "share" / "grafana"]
    candidates += [Path("/usr/share/grafana"), Path("/usr/local/share/grafana"),
                   Path("/opt/homebrew/share/grafana")]
    return next((c for c in candidates if (c / "conf" / "defaults.ini").is_file()), None)


def plan(manifests: Manifests, ports: Ports, state_dir: Path, binary: Path, *, factor: float,
         running: Sequence[str]) -> Service:
    """Grafana with the manifests' datasources (local URLs) and dashboards; ready on ``/api/health``."""
    home = grafana_home(binary)
    if home is None:
        raise CannotRunLocally(f"grafana found at {binary}, but not its home directory (the one holding "
                               "conf/defaults.ini); set GF_PATHS_HOME to it")
    root = config_dir(state_dir, "grafana")
    provisioning = root / "provisioning"
    for sub in ("datasources", "dashboards", "plugins", "alerting", "notifiers"):
        (provisioning / sub).mkdir(parents=True, exist_ok=True)  # Grafana logs an error for a missing one
    dump(grafana_datasources(manifests, ports, factor), provisioning / "datasources" / "datasources.yml")
    dump(grafana_dashboard_providers(manifests), provisioning / "dashboards" / "dashboards.yml")
    (state_dir / "data" / "grafana").mkdir(parents=True, exist_ok=True)
    ini = root / "grafana.ini"
    ini.write_text(grafana_ini(ports, state_dir, provisioning, grafana_password(state_dir)))
    # `grafana server` since Grafana 10; `grafana-server` is the older (now deprecated) entry point.
    command = [] if binary.name.startswith("grafana-server") else ["server"]
    return Service("grafana", [str(binary), *command, "--homepath", str(home), "--config", str(ini)],
                   f"{url(ports.grafana)}/api/health", url(ports.grafana))
