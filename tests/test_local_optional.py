"""Loki, Jaeger, Alloy and Grafana on the local runtime: the configs generated from manifests/config.

No Loki, Grafana, Jaeger or Alloy binary exists on the machines these tests run on, so the binaries are
empty executable files and nothing is started: the tests read what would be run. They check that the
generated configs parse, listen only on 127.0.0.1, keep every path under the state dir, and keep what
the manifests say (datasource uids, Loki's retention, Badger's TTL); that the Grafana admin password
stays in its 0600 file; and that absent binaries are skipped with their install hint.
"""
from __future__ import annotations

import configparser
import re
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackcheck.binaries import OPTIONAL
from stackcheck.local import services as optional
from stackcheck.local import state
from stackcheck.local.ports import Ports
from stackcheck.local.service import Service
from stackcheck.local.services import alloy, grafana, loki, optional_services
from stackcheck.manifests import BUNDLED_MANIFESTS, Manifests

BASE = 29000
FACTOR = 20.0
PORTS = Ports(BASE)
MANIFESTS = Manifests(BUNDLED_MANIFESTS)
KEYS = ("loki", "jaeger", "alloy", "grafana")
#: A host:port that listens on every interface, or on a name that may resolve to one, or a bare :port.
WILDCARD = re.compile(r"(0\.0\.0\.0|\[::\]|localhost):\d+|(?<![\w\].]):\d{2,5}\b")


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Fake binaries; grafana sits in a home with conf/defaults.ini, as in Grafana's tarball."""
    monkeypatch.delenv("GF_PATHS_HOME", raising=False)
    home = tmp_path / "grafana-v12"
    (home / "conf").mkdir(parents=True)
    (home / "conf" / "defaults.ini").write_text("; upstream defaults\n")
    bins = {key: _executable(tmp_path / "bin" / key) for key in ("loki", "jaeger", "alloy")}
    bins["grafana"] = _executable(home / "bin" / "grafana")
    return bins


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def started(found: dict[str, Path], state_dir: Path) -> dict[str, Service]:
    services, skipped = optional_services(MANIFESTS, BASE, state_dir, found, FACTOR)
    assert skipped == {}
    return {s.name: s for s in services}


def _config(service: Service) -> Path:
    """The generated config file a service's command line names."""
    for i, arg in enumerate(service.argv):
        if arg.startswith("-config.file="):
            return Path(arg.split("=", 1)[1])
        if arg in ("--config", "run"):
            return Path(service.argv[i + 1])
    raise AssertionError(f"no config file in {service.argv}")


def _yaml(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict), f"{path} is not a YAML mapping"
    return doc


def _strings(node: Any, key: str = "") -> list[tuple[str, str]]:
    """Every (key, string value) in a parsed document."""
    if isinstance(node, dict):
        return [kv for k, v in node.items() for kv in _strings(v, str(k))]
    if isinstance(node, list):
        return [kv for v in node for kv in _strings(v, key)]
    return [(key, node)] if isinstance(node, str) else []


def _under(path: str, root: Path) -> bool:
    return Path(path).resolve().is_relative_to(root.resolve())


# --------------------------------------------------------------------------- all services

def test_every_found_binary_runs_in_start_order_with_loopback_endpoints(started: dict[str, Service]) -> None:
    """Stores start before what feeds or reads them; endpoints and ready URLs are the documented ports."""
    assert list(started) == list(KEYS)
    assert {name: (s.endpoint, s.ready_url) for name, s in started.items()} == {
        "loki": ("http://127.0.0.1:29310", "http://127.0.0.1:29310/ready"),
        "jaeger": ("http://127.0.0.1:29686", "http://127.0.0.1:29686/api/services"),
        "alloy": ("http://127.0.0.1:29345", "http://127.0.0.1:29345/-/ready"),
        "grafana": ("http://127.0.0.1:29300", "http://127.0.0.1:29300/api/health"),
    }


def test_no_generated_config_or_command_line_listens_beyond_loopback(started: dict[str, Service],
                                                                     state_dir: Path) -> None:
    """Nothing binds 0.0.0.0, [::] or localhost: every listener is 127.0.0.1 on the stack's own ports."""
    files = optional.generated_configs(state_dir)
    assert {f.name for f in files} >= {"loki.yaml", "config.yaml", "config.alloy", "grafana.ini",
                                       "datasources.yml", "dashboards.yml"}
    for path in files:
        hits = [m.group(0) for line in path.read_text().splitlines() for m in WILDCARD.finditer(line.strip())]
        assert not hits, f"{path} listens on {hits}"
        if path.suffix in (".yaml", ".yml"):
            hosts = [(k, v) for k, v in _strings(_yaml(path)) if v in ("0.0.0.0", "::", "[::]", "localhost",
                                                                       "")
                     and k in ("host", "http_listen_address", "grpc_listen_address", "instance_addr")]
            assert not hosts, f"{path} binds {hosts}"
    for service in started.values():
        assert not [a for a in service.argv if WILDCARD.search(a)], service.argv


def _all_ports(base: int) -> set[int]:
    return set(Ports(base).all().values()) | set(Ports(base).of(KEYS).values())


@pytest.mark.parametrize("stride", [600, 1000])
def test_optional_ports_collide_neither_with_the_core_nor_with_a_neighbouring_stack(stride: int) -> None:
    """Distinct from the core services' ports, and from those of stacks 600 (tests) or 1000 apart."""
    ours = PORTS.of(KEYS)
    assert len(set(ours.values())) == len(ours)
    assert not set(ours.values()) & set(Ports(BASE).all().values())
    assert all(BASE <= port < BASE + 1000 for port in ours.values())
    assert not _all_ports(BASE) & _all_ports(BASE + stride)
    assert not _all_ports(BASE) & _all_ports(BASE + 2 * stride)
    assert (PORTS.grafana, PORTS.loki, PORTS.jaeger_query, PORTS.otlp_http) == (29300, 29310, 29686, 29318)


def test_absent_binaries_are_skipped_with_their_install_hint(state_dir: Path) -> None:
    """With no binary found nothing runs, and each optional component says how to install it."""
    services, skipped = optional_services(MANIFESTS, BASE, state_dir, {}, FACTOR)
    assert services == []
    assert skipped == {b.key: f"{b.key} binary not found; {b.hint}" for b in OPTIONAL}
    assert set(skipped) == set(KEYS)
    assert "https://github.com/grafana/loki/releases" in skipped["loki"]
    assert "https://github.com/grafana/alloy/releases" in skipped["alloy"]


def test_a_service_that_is_no_longer_installed_leaves_no_stale_config(found: dict[str, Path],
                                                                     state_dir: Path) -> None:
    """Configs are regenerated each time, so the runtime's fingerprint sees only what will run."""
    optional_services(MANIFESTS, BASE, state_dir, found, FACTOR)
    optional_services(MANIFESTS, BASE, state_dir, {"loki": found["loki"]}, FACTOR)
    assert [p.name for p in optional.generated_configs(state_dir)] == ["loki.yaml"]


def test_a_manifests_copy_without_a_component_config_skips_it(found: dict[str, Path], tmp_path: Path) -> None:
    """A fork without config/loki/loki.yaml runs no Loki (and so no Alloy) and says why."""
    fork = tmp_path / "manifests"
    shutil.copytree(BUNDLED_MANIFESTS / "config", fork / "config")
    (fork / "config" / "loki" / "loki.yaml").unlink()
    services, skipped = optional_services(Manifests(fork), BASE, tmp_path / "state", found, FACTOR)
    assert [s.name for s in services] == ["jaeger", "grafana"]
    assert "config/loki/loki.yaml is missing" in skipped["loki"]
    assert "Loki does not run locally" in skipped["alloy"]


def test_local_scrape_targets_and_health_urls_cover_only_what_runs() -> None:
    """The loki/grafana/jaeger scrape jobs and blackbox URLs point at the local listeners that exist."""
    assert optional.scrape_targets(BASE, ["loki", "grafana", "jaeger"]) == {
        "loki": ["127.0.0.1:29310"], "grafana": ["127.0.0.1:29300"], "jaeger": ["127.0.0.1:29888"]}
    assert optional.scrape_targets(BASE, ["loki"]) == {"loki": ["127.0.0.1:29310"]}
    assert optional.health_urls(BASE, ["jaeger", "grafana"]) == [
        "http://127.0.0.1:29300/api/health", "http://127.0.0.1:29133/status"]
    assert optional.otlp_http_url(BASE) == "http://127.0.0.1:29318"


# --------------------------------------------------------------------------- Loki

def test_loki_listens_on_loopback_and_keeps_every_path_under_the_state_dir(started: dict[str, Service],
                                                                          state_dir: Path) -> None:
    """HTTP/gRPC on 127.0.0.1:base+310/311, rings in memory, every directory under data/loki."""
    service = started["loki"]
    assert service.argv[-1] == "-target=all"
    config = _yaml(_config(service))
    assert config["server"] == {**_yaml(MANIFESTS.config_dir / "loki" / "loki.yaml")["server"],
                                "http_listen_address": "127.0.0.1", "http_listen_port": 29310,
                                "grpc_listen_address": "127.0.0.1", "grpc_listen_port": 29311}
    common = config["common"]
    assert (common["instance_addr"], common["replication_factor"], common["ring"]["kvstore"]) == (
        "127.0.0.1", 1, {"store": "inmemory"})
    assert config["memberlist"] == {"bind_addr": ["127.0.0.1"], "bind_port": 29312}
    assert common["path_prefix"] == str(state_dir / "data" / "loki")
    paths = [(k, v) for k, v in _strings(config) if v.startswith("/")]
    assert {k for k, _ in paths} >= {"path_prefix", "chunks_directory", "rules_directory",
                                     "working_directory"}
    outside = [(k, v) for k, v in paths if not _under(v, state_dir / "data" / "loki")]
    assert not outside, f"Loki paths outside the state dir: {outside}"


def test_loki_keeps_the_manifests_retention_and_schema(started: dict[str, Service]) -> None:
    """744h retention stays in force locally: limits, compactor (but its directory) and schema as written."""
    original = _yaml(MANIFESTS.config_dir / "loki" / "loki.yaml")
    local = _yaml(_config(started["loki"]))
    assert local["limits_config"] == original["limits_config"]
    assert local["limits_config"]["retention_period"] == "744h"
    without_dir = {k: v for k, v in local["compactor"].items() if k != "working_directory"}
    assert without_dir == {k: v for k, v in original["compactor"].items() if k != "working_directory"}
    assert without_dir["retention_enabled"] is True and without_dir["delete_request_store"] == "filesystem"
    assert local["schema_config"] == original["schema_config"]
    assert local["auth_enabled"] is False and local["analytics"] == {"reporting_enabled": False}


def test_loki_paths_outside_the_production_prefix_are_moved_too(tmp_path: Path) -> None:
    """A fork's directory outside path_prefix still ends up under the state dir, not on the host."""
    fork = tmp_path / "manifests"
    shutil.copytree(BUNDLED_MANIFESTS / "config", fork / "config")
    loki_yaml = fork / "config" / "loki" / "loki.yaml"
    doc = _yaml(loki_yaml)
    doc["storage_config"] = {"tsdb_shipper": {"active_index_directory": "/data/index",
                                              "cache_location": "/data/c"}}
    loki_yaml.write_text(yaml.safe_dump(doc))
    data = tmp_path / "state" / "data" / "loki"
    config = loki.loki_config(Manifests(fork), PORTS, data)
    assert config["storage_config"]["tsdb_shipper"] == {
        "active_index_directory": str(data / "elsewhere" / "data" / "index"),
        "cache_location": str(data / "elsewhere" / "data" / "c")}


# --------------------------------------------------------------------------- Jaeger

def test_jaeger_listens_only_on_loopback_ports_of_the_stack(started: dict[str, Service]) -> None:
    """OTLP gRPC/HTTP, query HTTP/gRPC, health and metrics all on 127.0.0.1 at their offsets."""
    service = started["jaeger"]
    config = _yaml(_config(service))
    protocols = config["receivers"]["otlp"]["protocols"]
    extensions = config["extensions"]
    assert {
        "otlp grpc": protocols["grpc"]["endpoint"],
        "otlp http": protocols["http"]["endpoint"],
        "query http": extensions["jaeger_query"]["http"]["endpoint"],
        "query grpc": extensions["jaeger_query"]["grpc"]["endpoint"],
        "health": extensions["healthcheckv2"]["http"]["endpoint"],
    } == {"otlp grpc": "127.0.0.1:29317", "otlp http": "127.0.0.1:29318", "query http": "127.0.0.1:29686",
          "query grpc": "127.0.0.1:29685", "health": "127.0.0.1:29133"}
    assert config["service"]["telemetry"]["metrics"]["readers"] == [
        {"pull": {"exporter": {"prometheus": {"host": "127.0.0.1", "port": 29888}}}}]


def test_jaeger_keeps_badger_storage_under_the_state_dir_with_the_manifests_ttl(
        started: dict[str, Service], state_dir: Path) -> None:
    """Badger stays persistent (ephemeral: false) with the cluster's TTL; its directories move locally."""
    original = _yaml(MANIFESTS.config_dir / "jaeger" / "config.yaml")
    local = _yaml(_config(started["jaeger"]))
    for name, backend in local["extensions"]["jaeger_storage"]["backends"].items():
        badger = backend["badger"]
        wanted = original["extensions"]["jaeger_storage"]["backends"][name]["badger"]
        assert (badger["ephemeral"], badger["ttl"]) == (wanted["ephemeral"], wanted["ttl"])
        assert all(_under(d, state_dir / "data" / "jaeger") for d in badger["directories"].values())
    assert local["service"]["pipelines"] == original["service"]["pipelines"]
    assert local["exporters"] == original["exporters"]


def test_jaeger_with_a_listener_the_runtime_cannot_move_is_skipped(found: dict[str, Path],
                                                                   tmp_path: Path) -> None:
    """A fork's extra receiver on 0.0.0.0 is not silently exposed: Jaeger is skipped, naming it."""
    fork = tmp_path / "manifests"
    shutil.copytree(BUNDLED_MANIFESTS / "config", fork / "config")
    path = fork / "config" / "jaeger" / "config.yaml"
    doc = _yaml(path)
    doc["receivers"]["zipkin"] = {"endpoint": "0.0.0.0:9411"}
    path.write_text(yaml.safe_dump(doc))
    services, skipped = optional_services(Manifests(fork), BASE, tmp_path / "state",
                                          {"jaeger": found["jaeger"]}, FACTOR)
    assert services == []
    assert skipped["jaeger"] == ("receivers.zipkin.endpoint listens on '0.0.0.0:9411', which the local "
                                 "runtime cannot move to loopback")


# --------------------------------------------------------------------------- Alloy

def test_alloy_tails_the_probe_log_into_the_local_loki_with_the_cluster_labels(
        started: dict[str, Service], state_dir: Path) -> None:
    """probe.log reaches Loki as {namespace="phase5", app="phase5-backend"}, as pod logs do in the cluster."""
    service = started["alloy"]
    assert service.argv[1:3] == ["run", str(_config(service))]
    assert f"--server.http.listen-addr=127.0.0.1:{PORTS.alloy}" in service.argv
    storage = next(a.split("=", 1)[1] for a in service.argv if a.startswith("--storage.path="))
    assert _under(storage, state_dir)
    text = _config(service).read_text()
    probe_log = str(state_dir / "logs" / "probe.log")
    assert (f'{{"__path__" = "{probe_log}", "namespace" = "phase5", "app" = "phase5-backend", '
            '"container" = "probe", "job" = "phase5/probe"}') in text
    assert 'url = "http://127.0.0.1:29310/loki/api/v1/push"' in text
    for block in ('local.file_match "phase5"', 'loki.source.file "phase5"', 'loki.write "local"'):
        assert block in text
    assert "batch_wait" not in text  # the log checks' delivery budget assumes Alloy's default
    assert text.count("{") == text.count("}") and text.count("[") == text.count("]")


def test_local_alloy_stamps_entries_from_the_line_ts(started: dict[str, Service]) -> None:
    """As the cluster's config.alloy: the file source goes through loki.process, whose stage.json reads the
    line's ts and stage.timestamp stamps the entry with it (lines without one keep their read time)."""
    text = _config(started["alloy"]).read_text()
    assert "forward_to    = [loki.process.phase5.receiver]" in text
    process = text[text.index('loki.process "phase5" {'):text.index('loki.write "local"')]
    assert "forward_to = [loki.write.local.receiver]" in process
    assert 'expressions = { ts = "" }' in process
    for line in ('source            = "ts"', 'format            = "RFC3339Nano"',
                 'action_on_failure = "skip"'):
        assert line in process


def test_local_loki_finds_its_scheduler_within_a_second(started: dict[str, Service]) -> None:
    """The local Loki's frontend and querier look for the scheduler every second (ready in about 2 s, not
    the 10 s default), beside the 1s min_ready_duration of its one ingester."""
    config = yaml.safe_load(_config(started["loki"]).read_text())
    assert config["frontend"]["scheduler_dns_lookup_period"] == "1s"
    assert config["frontend_worker"]["dns_lookup_duration"] == "1s"
    assert config["ingester"]["lifecycler"]["min_ready_duration"] == "1s"


def test_local_loki_names_its_scheduler_so_queries_cannot_hang(started: dict[str, Service]) -> None:
    """Frontend and querier are given the in-process scheduler's loopback gRPC address, so Loki uses no
    scheduler ring: with the ring, a frontend that connects within the first 3 s waits forever for the
    scheduler's answer, and every query hangs (real 3.6.11)."""
    config = yaml.safe_load(_config(started["loki"]).read_text())
    grpc = f"127.0.0.1:{config['server']['grpc_listen_port']}"
    assert config["frontend"]["scheduler_address"] == grpc == config["frontend_worker"]["scheduler_address"]


def test_alloy_string_escapes_quotes_and_backslashes() -> None:
    """A state dir with a quote or backslash in its name cannot break out of the Alloy string."""
    assert alloy.alloy_string('/tmp/a"b\\c') == '"/tmp/a\\"b\\\\c"'


def test_alloy_without_loki_is_skipped(found: dict[str, Path], state_dir: Path) -> None:
    """Alloy alone would have nowhere to push: it is skipped with that reason."""
    services, skipped = optional_services(MANIFESTS, BASE, state_dir, {"alloy": found["alloy"]}, FACTOR)
    assert services == []
    assert skipped["alloy"].startswith(f"alloy found at {found['alloy']}, but Loki does not run locally")


# --------------------------------------------------------------------------- Grafana

def _ini(service: Service) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(_config(service).read_text())
    return parser


def test_grafana_runs_from_its_home_with_a_generated_ini_on_loopback(started: dict[str, Service],
                                                                    found: dict[str, Path],
                                                                    state_dir: Path) -> None:
    """`grafana server --homepath <home> --config <ini>`; the ini listens on 127.0.0.1:base+300."""
    service = started["grafana"]
    home = found["grafana"].parent.parent
    assert service.argv == [str(found["grafana"]), "server", "--homepath", str(home), "--config",
                            str(_config(service))]
    ini = _ini(service)
    assert (ini["server"]["http_addr"], ini["server"]["http_port"]) == ("127.0.0.1", "29300")
    assert all(_under(ini["paths"][k], state_dir) for k in ("data", "logs", "plugins", "provisioning"))
    assert dict(ini["auth.anonymous"]) == {"enabled": "true", "org_name": "Main Org.", "org_role": "Viewer"}
    assert ini["plugins"]["preinstall_disabled"] == "true"
    assert ini["analytics"]["reporting_enabled"] == "false"


def test_the_legacy_grafana_server_binary_takes_no_subcommand(found: dict[str, Path],
                                                              state_dir: Path) -> None:
    """Older packages ship `grafana-server`, which takes --homepath/--config directly."""
    legacy = _executable(found["grafana"].parent / "grafana-server")
    services, _ = optional_services(MANIFESTS, BASE, state_dir, {"grafana": legacy}, FACTOR)
    assert services[0].argv[1] == "--homepath"


def test_grafana_datasources_keep_their_uids_and_point_at_the_local_stack(started: dict[str, Service],
                                                                         state_dir: Path) -> None:
    """Same datasources (uids, links, `$$` escapes), local URLs, Prometheus' interval at the time scale."""
    provisioning = Path(_ini(started["grafana"])["paths"]["provisioning"])
    local = _yaml(provisioning / "datasources" / "datasources.yml")
    original = _yaml(MANIFESTS.config_dir / "grafana" / "datasources.yml")
    assert [d["uid"] for d in local["datasources"]] == [d["uid"] for d in original["datasources"]]
    assert {d["uid"]: d["url"] for d in local["datasources"]} == {
        "prometheus": "http://127.0.0.1:29090", "loki": "http://127.0.0.1:29310",
        "jaeger": "http://127.0.0.1:29686"}
    by_uid = {d["uid"]: d for d in local["datasources"]}
    assert by_uid["prometheus"]["jsonData"]["timeInterval"] == "750ms"  # 15s / 20
    assert by_uid["loki"]["jsonData"]["derivedFields"][0]["url"] == "$${__value.raw}"
    for ds in local["datasources"]:
        wanted = next(d for d in original["datasources"] if d["uid"] == ds["uid"])
        same = {k: v for k, v in ds.items() if k not in ("url", "jsonData")}
        assert same == {k: v for k, v in wanted.items() if k not in ("url", "jsonData")}
    assert local.get("prune") == original.get("prune")


def test_grafana_reads_the_dashboards_from_manifests_not_a_copy(started: dict[str, Service]) -> None:
    """The dashboard provider's path is manifests/config/grafana/dashboards itself."""
    provisioning = Path(_ini(started["grafana"])["paths"]["provisioning"])
    providers = _yaml(provisioning / "dashboards" / "dashboards.yml")["providers"]
    assert [p["options"]["path"] for p in providers] == [
        str((MANIFESTS.config_dir / "grafana" / "dashboards").resolve())]
    assert sorted(Path(providers[0]["options"]["path"]).glob("*.json"))
    original = _yaml(MANIFESTS.config_dir / "grafana" / "dashboards.yml")["providers"][0]
    assert {k: v for k, v in providers[0].items() if k != "options"} == {
        k: v for k, v in original.items() if k != "options"}


def test_grafana_admin_password_stays_in_a_0600_file(started: dict[str, Service], state_dir: Path) -> None:
    """Random, mode 0600, read by Grafana through $__file{}; never in argv or any generated config."""
    path = state_dir / state.GRAFANA_PASSWORD_FILE
    password = path.read_text()
    assert len(password) >= 24
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _ini(started["grafana"])["security"]["admin_password"] == f"$__file{{{path}}}"
    for service in started.values():
        assert not [a for a in service.argv if password in a]
    for config in optional.generated_configs(state_dir):
        assert password not in config.read_text(), config
    assert state.grafana_admin(state_dir) == ("admin", password)


def test_grafana_admin_password_is_kept_across_runs(found: dict[str, Path], state_dir: Path) -> None:
    """Grafana applies admin_password only when it creates its database, so the file must not change."""
    optional_services(MANIFESTS, BASE, state_dir, found, FACTOR)
    first = (state_dir / state.GRAFANA_PASSWORD_FILE).read_text()
    optional_services(MANIFESTS, BASE, state_dir, found, FACTOR)
    assert (state_dir / state.GRAFANA_PASSWORD_FILE).read_text() == first


def test_grafana_home_comes_from_gf_paths_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A binary outside its home (e.g. a symlink in ~/bin) finds it through GF_PATHS_HOME."""
    home = tmp_path / "share" / "grafana"
    (home / "conf").mkdir(parents=True)
    (home / "conf" / "defaults.ini").write_text("")
    monkeypatch.setenv("GF_PATHS_HOME", str(home))
    assert grafana.grafana_home(_executable(tmp_path / "elsewhere" / "bin" / "grafana")) == home


@pytest.mark.skipif(Path("/usr/share/grafana/conf/defaults.ini").exists()
                    or Path("/usr/local/share/grafana/conf/defaults.ini").exists(),
                    reason="a Grafana installation on this machine would be found")
def test_grafana_without_a_home_is_skipped_saying_how_to_point_at_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No conf/defaults.ini anywhere: Grafana cannot start, so it is skipped naming GF_PATHS_HOME."""
    monkeypatch.delenv("GF_PATHS_HOME", raising=False)
    lone = _executable(tmp_path / "lone" / "grafana")
    services, skipped = optional_services(MANIFESTS, BASE, tmp_path / "state", {"grafana": lone}, FACTOR)
    assert services == []
    assert "set GF_PATHS_HOME" in skipped["grafana"]


@pytest.mark.parametrize(("seconds", "expected"),
                         [(0.75, "750ms"), (15, "15s"), (1.5, "1500ms"), (0.0001, "1ms")])
def test_grafana_intervals_have_one_unit(seconds: float, expected: str) -> None:
    """Scaled intervals are written in one unit, which every Grafana version parses."""
    assert grafana.grafana_interval(seconds) == expected
