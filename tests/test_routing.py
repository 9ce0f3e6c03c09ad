"""route() walks an Alertmanager route tree the way Alertmanager does (amtool is the authority)."""
from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackcheck.manifests import BUNDLED_MANIFESTS
from stackcheck.routing import Match, channels, route
from stackcheck.timescale import parse_duration

AMTOOL = shutil.which("amtool")
needs_amtool = pytest.mark.skipif(
    AMTOOL is None, reason="amtool not on PATH (Debian: apt-get install prometheus-alertmanager)")
Ran = subprocess.CompletedProcess[str]
REPO_AM = BUNDLED_MANIFESTS / "config" / "alertmanager" / "alertmanager.yml"
REPO_ROUTE_TESTS = BUNDLED_MANIFESTS / "config" / "alertmanager" / "routes.test.yml"

INLINE = yaml.safe_load("""
route:
  receiver: default
  group_wait: 30s
  group_interval: 5m
  routes:
    - receiver: critical-slack
      matchers: ['severity="critical"']
      continue: true
    - receiver: critical-email
      matchers: ['severity="critical"']
    - receiver: team-not-prod
      matchers: ['env!="prod"', 'team=~"db|infra"']
      group_wait: 10s
      routes:
        - receiver: team-db
          matchers: ['team="db"']
          group_interval: 1m
    - receiver: legacy-match
      match: {component: probe}
    - receiver: legacy-match-re
      match_re: {service: "phase5-.*"}
    - receiver: not-watchdog-warning
      matchers: ['alertname!~"Watchdog|Info.*"', 'severity="warning"']
receivers:
  - name: default
  - name: critical-slack
    slack_configs: [{channel: "#alerts-critical", api_url: "http://127.0.0.1:1/slack"}]
  - name: critical-email
    email_configs: [{to: oncall@example.com, from: am@example.com, smarthost: "127.0.0.1:25"}]
  - name: team-not-prod
  - name: team-db
    webhook_configs: [{url: "http://127.0.0.1:1/hook"}]
  - name: legacy-match
  - name: legacy-match-re
  - name: not-watchdog-warning
""")

#: (case id, alert labels, expected receivers in order)
INLINE_CASES = [
    ("continue-reaches-both-critical-receivers", {"severity": "critical"},
     ["critical-slack", "critical-email"]),
    ("first-match-without-continue-stops", {"severity": "critical", "component": "probe"},
     ["critical-slack", "critical-email"]),
    ("not-equal-and-regex-match", {"team": "infra", "env": "staging"}, ["team-not-prod"]),
    ("not-equal-matches-absent-label", {"team": "infra"}, ["team-not-prod"]),
    ("not-equal-excludes", {"team": "infra", "env": "prod"}, ["default"]),
    ("regex-is-anchored", {"team": "dbx", "env": "staging"}, ["default"]),
    ("child-route", {"team": "db", "env": "staging"}, ["team-db"]),
    ("legacy-match", {"component": "probe"}, ["legacy-match"]),
    ("legacy-match-re", {"service": "phase5-backend"}, ["legacy-match-re"]),
    ("legacy-match-re-is-anchored", {"service": "x-phase5-backend"}, ["default"]),
    ("negative-regex-match", {"alertname": "HighErrorRate", "severity": "warning"}, ["not-watchdog-warning"]),
    ("negative-regex-excludes", {"alertname": "Watchdog", "severity": "warning"}, ["default"]),
    ("negative-regex-is-anchored", {"alertname": "InfoDisk", "severity": "warning"}, ["default"]),
    ("nothing-matches", {"alertname": "X"}, ["default"]),
]


inline_cases = pytest.mark.parametrize(("labels", "expected"), [c[1:] for c in INLINE_CASES],
                                      ids=[c[0] for c in INLINE_CASES])


def receivers(config: dict[str, Any], labels: dict[str, str]) -> list[str]:
    return [m.receiver for m in route(config, labels)]


def amtool_all(config_file: Path, cases: dict[str, tuple[dict[str, str], list[str] | None]],
               ) -> dict[str, Ran]:
    """`amtool config routes test` for every case at once (optionally with --verify.receivers), by id."""
    def run(case: tuple[dict[str, str], list[str] | None]) -> Ran:
        labels, expected = case
        verify = [f"--verify.receivers={','.join(expected)}"] if expected is not None else []
        args = [f'{name}="{value}"' for name, value in labels.items()]
        return subprocess.run([str(AMTOOL), "config", "routes", "test", f"--config.file={config_file}",
                               *verify, *args], capture_output=True, text=True, check=False, timeout=60)

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(zip(cases, pool.map(run, cases.values()), strict=True))


# --- the inline tree ------------------------------------------------------------------------------

@inline_cases
def test_route_returns_the_receivers_alertmanager_would(labels: dict[str, str], expected: list[str]) -> None:
    """route() honours continue, matchers (=, !=, =~, !~), match and match_re, anchored like Alertmanager."""
    assert receivers(INLINE, labels) == expected


def test_route_inherits_group_wait_from_the_parent_route() -> None:
    """A route without group_wait uses its parent's; a child overrides only what it sets."""
    assert route(INLINE, {"team": "db", "env": "staging"}) == [Match("team-db", "10s", "1m")]
    assert route(INLINE, {"component": "probe"}) == [Match("legacy-match", "30s", "5m")]


def test_route_uses_alertmanager_default_timers_when_the_root_sets_none() -> None:
    """Without timers anywhere, group_wait is Alertmanager's 30s and group_interval its 5m."""
    config = {"route": {"receiver": "r"}, "receivers": [{"name": "r"}]}
    assert route(config, {"alertname": "X"}) == [Match("r", "30s", "5m")]


def test_channels_lists_slack_channels_email_recipients_and_webhooks() -> None:
    """channels() names where a receiver delivers."""
    assert channels(INLINE, "critical-slack") == {"slack": ["#alerts-critical"], "email": [], "webhook": []}
    assert channels(INLINE, "critical-email")["email"] == ["oncall@example.com"]
    assert channels(INLINE, "team-db")["webhook"] == ["team-db"]
    assert channels(INLINE, "no-such-receiver") == {"slack": [], "email": [], "webhook": []}


def test_route_reads_several_matchers_in_one_entry() -> None:
    """`['severity="critical", team="db"']` and `['{team="infra"}']` are read as Alertmanager reads them."""
    config = yaml.safe_load("""
route:
  receiver: default
  routes:
    - {receiver: both, matchers: ['severity="critical", team="db"']}
    - {receiver: braces, matchers: ['{team="infra"}']}
receivers: [{name: default}, {name: both}, {name: braces}]
""")
    assert receivers(config, {"severity": "critical", "team": "db"}) == ["both"]
    assert receivers(config, {"team": "infra"}) == ["braces"]
    assert receivers(config, {"severity": "critical"}) == ["default"]


@pytest.fixture(scope="module")
def amtool_on_inline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Ran]:
    """amtool's answer for every inline case, by case id."""
    config_file = tmp_path_factory.mktemp("amtool") / "alertmanager.yml"
    config_file.write_text(yaml.safe_dump(INLINE))
    return amtool_all(config_file, {case_id: (labels, None) for case_id, labels, _ in INLINE_CASES})


@needs_amtool
@pytest.mark.parametrize("case", INLINE_CASES, ids=[c[0] for c in INLINE_CASES])
def test_inline_table_agrees_with_amtool(case: tuple[str, dict[str, str], list[str]],
                                         amtool_on_inline: dict[str, Ran]) -> None:
    """The inline expectations are what amtool config routes test resolves (so they test real behaviour)."""
    case_id, labels, expected = case
    result = amtool_on_inline[case_id]
    assert result.returncode == 0, f"amtool failed for {labels}: {result.stderr}"
    assert result.stdout.strip().split(",") == expected


# --- the repository's alertmanager.yml and its route table ----------------------------------------

def _route_table() -> list[tuple[str, dict[str, str], list[str]]]:
    """Entries of routes.test.yml: (id, labels, receivers). Accepts a list or {tests: [...]}."""
    if not REPO_ROUTE_TESTS.is_file():
        return []
    doc = yaml.safe_load(REPO_ROUTE_TESTS.read_text())
    entries = doc if isinstance(doc, list) else next(
        (doc[k] for k in ("tests", "cases", "routes") if isinstance(doc, dict) and k in doc), None)
    assert isinstance(entries, list), (
        f"{REPO_ROUTE_TESTS}: expected a list of {{labels: {{...}}, receivers: [...]}} entries "
        "(or a mapping with `tests:`); fix the file or this loader")
    table = []
    for n, entry in enumerate(entries):
        labels = entry.get("labels") or entry.get("alert")
        expected = next((entry[k] for k in ("receivers", "expected_receivers", "expect", "expected")
                         if k in entry), None)
        assert isinstance(labels, dict) and expected is not None, (
            f"{REPO_ROUTE_TESTS} entry {n}: needs `labels` and `receivers`, got keys {sorted(entry)}")
        if isinstance(expected, str):
            expected = [r.strip() for r in expected.split(",")]
        name = str(entry.get("name") or labels.get("alertname") or n)
        table.append((f"{n}-{name}", {str(k): str(v) for k, v in labels.items()}, [str(r) for r in expected]))
    return table


ROUTE_TABLE = _route_table()
needs_repo_table = pytest.mark.skipif(
    not (REPO_AM.is_file() and REPO_ROUTE_TESTS.is_file()),
    reason=f"{REPO_AM.relative_to(BUNDLED_MANIFESTS.parent)} and routes.test.yml are not written yet")


@pytest.fixture(scope="module")
def repo_config() -> dict[str, Any]:
    if not REPO_AM.is_file():
        pytest.skip(f"{REPO_AM} is not written yet")
    return dict(yaml.safe_load(REPO_AM.read_text()))


def test_repo_routes_name_only_defined_receivers(repo_config: dict[str, Any]) -> None:
    """Every route of the production tree, the root included, names a receiver that is defined."""
    names = {r["name"] for r in repo_config.get("receivers") or []}

    def used(node: dict[str, Any]) -> list[str]:
        own = [str(node["receiver"])] if "receiver" in node else []
        return own + [name for child in node.get("routes") or [] for name in used(child)]

    assert repo_config["route"].get("receiver") in names
    assert set(used(repo_config["route"])) <= names, set(used(repo_config["route"])) - names


def test_repo_critical_alert_reaches_named_receivers_with_real_timers(repo_config: dict[str, Any]) -> None:
    """A critical alert resolves to defined receivers whose effective timers are valid durations."""
    found = route(repo_config, {"alertname": "HighErrorRate", "severity": "critical"})
    names = {r["name"] for r in repo_config.get("receivers") or []}
    assert found and all(m.receiver in names for m in found), found
    for match in found:
        assert parse_duration(match.group_wait) >= 0 and parse_duration(match.group_interval) > 0, match


@needs_repo_table
@pytest.mark.parametrize(("labels", "expected"), [t[1:] for t in ROUTE_TABLE] or [({}, [])],
                         ids=[t[0] for t in ROUTE_TABLE] or ["empty"])
def test_route_agrees_with_the_route_table(labels: dict[str, str], expected: list[str],
                                           repo_config: dict[str, Any]) -> None:
    """For every entry of routes.test.yml, route() returns exactly the receivers listed, in order."""
    assert receivers(repo_config, labels) == expected, (
        f"route() disagrees with routes.test.yml for {labels}; `amtool config routes test` is the authority")


@pytest.fixture(scope="module")
def amtool_on_table() -> dict[str, Ran]:
    """amtool --verify.receivers for every entry of routes.test.yml, by entry id."""
    return amtool_all(REPO_AM, {entry_id: (labels, expected) for entry_id, labels, expected in ROUTE_TABLE})


@needs_repo_table
@needs_amtool
@pytest.mark.parametrize("entry", ROUTE_TABLE or [("empty", {}, [])],
                         ids=[t[0] for t in ROUTE_TABLE] or ["empty"])
def test_route_table_is_verified_by_amtool(entry: tuple[str, dict[str, str], list[str]],
                                           amtool_on_table: dict[str, Ran]) -> None:
    """amtool config routes test --verify.receivers agrees with every entry of routes.test.yml."""
    entry_id, labels, expected = entry
    result = amtool_on_table[entry_id]
    assert result.returncode == 0, (
        f"amtool resolves {labels} to {result.stdout.strip()!r}, "
        f"routes.test.yml says {','.join(expected)!r}: {result.stderr.strip()}")
