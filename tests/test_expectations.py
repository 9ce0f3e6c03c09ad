"""Where the full profile expects each alert: routes.test.yml's declared channels, else the receivers'."""
from __future__ import annotations

from typing import Any

import yaml

from stackcheck.faults.campaign import expectations
from stackcheck.manifests import Manifests
from stackcheck.routing import channels

AM: dict[str, Any] = {
    "route": {"receiver": "a"},
    "receivers": [
        {"name": "a", "slack_configs": [{"channel": "#a"}], "email_configs": [{"to": "a@x.example"}]},
        {"name": "hook", "webhook_configs": [{"url": "http://127.0.0.1:1/x"}]},
    ],
}


def test_declared_channels_win_over_the_receivers_channels() -> None:
    """A table entry's channels are what is expected, whatever the receivers say."""
    (got,) = expectations([{"alert": "X", "labels": {"severity": "critical"}, "receivers": ["a"],
                            "channels": ["#b", "b@x.example", "webhook:hook"]}], AM).values()
    assert (got.slack, got.email, got.webhook) == (frozenset({"#b"}), frozenset({"b@x.example"}),
                                                   frozenset({"hook"}))


def test_without_declared_channels_the_receivers_channels_are_expected() -> None:
    """Without a channels list, the receivers' Slack channels and recipients are expected."""
    got = expectations([{"alert": "X", "labels": {}, "receivers": ["a", "hook"]}], AM)["X"]
    assert (got.slack, got.email, got.webhook) == (frozenset({"#a"}), frozenset({"a@x.example"}),
                                                   frozenset({"hook"}))


def test_shipped_route_table_channels_agree_with_alertmanager_yml() -> None:
    """Every entry of the shipped routes.test.yml declares exactly its receivers' channels."""
    manifests = Manifests.find()
    config = manifests.alertmanager_config()
    table = yaml.safe_load(manifests.routes_test_yml.read_text())
    for entry in table:
        derived: set[str] = set()
        for receiver in entry["receivers"]:
            found = channels(config, receiver)
            derived |= set(found["slack"]) | set(found["email"]) | {f"webhook:{w}" for w in found["webhook"]}
        assert set(entry["channels"]) == derived, (
            f"routes.test.yml: {entry['alert']} declares {sorted(entry['channels'])}, but its receivers "
            f"{entry['receivers']} deliver to {sorted(derived)}; fix the table or alertmanager.yml")
