"""One factor shrinks every timer of the stack: durations, PromQL windows, scrape, rule and route timers."""
from __future__ import annotations

import copy

import pytest

from stackcheck.timescale import (
    format_duration,
    parse_duration,
    scale_alertmanager_config,
    scale_duration,
    scale_expr,
    scale_prometheus_config,
    scale_rules,
)

# --- durations ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "seconds"), [("1h30m", 5400.0), ("750ms", 0.75), ("0s", 0.0), ("0", 0.0),
                                               ("1d", 86400.0), ("1m30s500ms", 90.5)])
def test_parse_duration_reads_prometheus_durations(text: str, seconds: float) -> None:
    """parse_duration reads every unit Prometheus and Alertmanager accept, in seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["1h30m", "750ms", "15s", "4h", "2m500ms"])
def test_format_duration_round_trips_canonical_durations(text: str) -> None:
    """A canonical duration survives parse → format unchanged."""
    assert format_duration(parse_duration(text)) == text


def test_format_duration_round_trips_zero() -> None:
    """0s survives parse → format unchanged (zero is not rounded up to 1ms)."""
    assert format_duration(parse_duration("0s")) == "0s"


def test_zero_duration_stays_zero_when_scaled() -> None:
    """0s divided by any factor is still 0s (e.g. `for: 0s`)."""
    assert scale_duration("0s", 20) == "0s"


def test_format_duration_never_returns_less_than_one_millisecond() -> None:
    """A scaled duration is at least 1ms, so no timer becomes zero by rounding."""
    assert scale_duration("1ms", 20) == "1ms"


def test_bad_duration_names_the_value_and_an_example() -> None:
    """A malformed duration is rejected with the value and the expected form."""
    with pytest.raises(ValueError, match=r"not a duration: '5' \(expected e\.g\. 30s, 5m, 1h30m\)"):
        parse_duration("5")


# --- PromQL ---------------------------------------------------------------------------------------

def test_scale_expr_scales_range_windows() -> None:
    """A range selector [5m] shrinks by the factor."""
    assert scale_expr("rate(http_requests_total[5m]) > 0", 20) == "rate(http_requests_total[15s]) > 0"


def test_scale_expr_scales_subquery_range_and_step() -> None:
    """Both parts of a subquery [30m:1m] shrink; an empty step stays empty."""
    assert scale_expr("max_over_time(x[30m:1m])", 20) == "max_over_time(x[1m30s:3s])"
    assert scale_expr("max_over_time(x[30m:])", 20) == "max_over_time(x[1m30s:])"


def test_scale_expr_scales_offsets() -> None:
    """`offset 5m` shrinks by the factor."""
    assert scale_expr("rate(x[5m] offset 5m)", 20) == "rate(x[15s] offset 15s)"


def test_scale_expr_leaves_label_regexes_alone() -> None:
    """Character classes inside label matchers are not windows: `{a=~"x[0-9]"}` is unchanged."""
    expr = 'rate(x{a=~"x[0-9]", b=~"[a-z]+"}[5m])'
    assert scale_expr(expr, 20) == 'rate(x{a=~"x[0-9]", b=~"[a-z]+"}[15s])'


def test_scale_expr_with_factor_one_is_identity() -> None:
    """Factor 1 returns the expression unchanged, byte for byte."""
    expr = "sum(rate(x[90s] offset 1d)) / max_over_time(y[1h:30s])"
    assert scale_expr(expr, 1) == expr


# --- prometheus.yml -------------------------------------------------------------------------------

def test_scale_prometheus_config_scales_global_and_job_intervals() -> None:
    """Global and per-job scrape/evaluation intervals and timeouts shrink by the factor."""
    config = {"global": {"scrape_interval": "15s", "evaluation_interval": "30s", "scrape_timeout": "10s"},
              "scrape_configs": [{"job_name": "a", "scrape_interval": "1m", "scrape_timeout": "20s"}]}
    out = scale_prometheus_config(config, 10)
    assert out["global"] == {"scrape_interval": "1s500ms", "evaluation_interval": "3s",
                             "scrape_timeout": "1s"}
    assert out["scrape_configs"][0] == {"job_name": "a", "scrape_interval": "6s", "scrape_timeout": "2s"}


def test_scale_prometheus_config_keeps_scrape_timeout_within_interval() -> None:
    """A job whose interval is shorter than the inherited timeout gets timeout = interval (as Prometheus)."""
    config = {"global": {"scrape_interval": "1m", "scrape_timeout": "10s"},
              "scrape_configs": [{"job_name": "fast", "scrape_interval": "5s"},
                                 {"job_name": "slow-timeout", "scrape_timeout": "2m"}]}
    out = scale_prometheus_config(config, 20)
    for job in out["scrape_configs"]:
        interval = parse_duration(job.get("scrape_interval", out["global"]["scrape_interval"]))
        timeout = parse_duration(job.get("scrape_timeout", out["global"]["scrape_timeout"]))
        assert timeout <= interval, (
            f"job {job['job_name']}: scrape_timeout {timeout}s > scrape_interval {interval}s")
    assert out["scrape_configs"][0]["scrape_timeout"] == "250ms"


def test_scale_prometheus_config_scales_prometheus_defaults() -> None:
    """Intervals left at Prometheus' defaults (1m, 1m, 10s) are written out and scaled too."""
    out = scale_prometheus_config({"scrape_configs": []}, 20)
    assert out["global"] == {"scrape_interval": "3s", "evaluation_interval": "3s", "scrape_timeout": "500ms"}


def test_scale_prometheus_config_does_not_modify_its_input() -> None:
    """The production config dict is left untouched (a scaled copy is returned)."""
    config = {"global": {"scrape_interval": "15s"},
              "scrape_configs": [{"job_name": "a", "scrape_interval": "5s"}]}
    before = copy.deepcopy(config)
    scale_prometheus_config(config, 20)
    assert config == before


def test_scale_prometheus_config_with_factor_one_is_identity() -> None:
    """Factor 1 leaves a config with explicit, canonical timers unchanged."""
    config = {"global": {"scrape_interval": "15s", "evaluation_interval": "15s", "scrape_timeout": "10s"},
              "scrape_configs": [{"job_name": "a", "scrape_interval": "30s", "scrape_timeout": "5s"}]}
    assert scale_prometheus_config(config, 1) == config


# --- rules ----------------------------------------------------------------------------------------

RULES = {"groups": [{"name": "g", "interval": "1m", "rules": [
    {"record": "job:x:rate5m", "expr": "sum by (job) (rate(x[5m]))"},
    {"alert": "HighErrorRate", "expr": "job:x:rate5m > 0.05", "for": "5m", "keep_firing_for": "10m",
     "labels": {"severity": "critical"}},
]}]}


def test_scale_rules_scales_for_and_keep_firing_for() -> None:
    """An alert's `for` and `keep_firing_for` shrink by the factor."""
    alert = scale_rules(RULES, 20)["groups"][0]["rules"][1]
    assert (alert["for"], alert["keep_firing_for"]) == ("15s", "30s")


def test_scale_rules_scales_group_interval_and_windows() -> None:
    """A group's `interval` and the windows inside each rule's expr shrink by the factor."""
    group = scale_rules(RULES, 20)["groups"][0]
    assert group["interval"] == "3s"
    assert group["rules"][0]["expr"] == "sum by (job) (rate(x[15s]))"


def test_scale_rules_keeps_names_labels_and_input() -> None:
    """Names and labels are kept and the input document is not modified."""
    before = copy.deepcopy(RULES)
    alert = scale_rules(RULES, 20)["groups"][0]["rules"][1]
    assert alert["alert"] == "HighErrorRate" and alert["labels"] == {"severity": "critical"}
    assert RULES == before


def test_scale_rules_with_factor_one_is_identity() -> None:
    """Factor 1 leaves a rule file unchanged."""
    assert scale_rules(RULES, 1) == RULES


# --- alertmanager.yml -----------------------------------------------------------------------------

AM = {"global": {"resolve_timeout": "5m"},
      "route": {"receiver": "default", "group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h",
                "routes": [{"receiver": "critical", "group_wait": "10s", "routes": [
                    {"receiver": "db", "group_interval": "1m", "repeat_interval": "1h"}]}]},
      "receivers": [{"name": "default"}, {"name": "critical"}, {"name": "db"}]}


def test_scale_alertmanager_config_scales_nested_route_timers() -> None:
    """group_wait, group_interval and repeat_interval shrink on every route, at any depth."""
    root = scale_alertmanager_config(AM, 10)["route"]
    assert (root["group_wait"], root["group_interval"], root["repeat_interval"]) == ("3s", "30s", "24m")
    child = root["routes"][0]
    assert child["group_wait"] == "1s"
    grandchild = child["routes"][0]
    assert (grandchild["group_interval"], grandchild["repeat_interval"]) == ("6s", "6m")
    assert "group_wait" not in grandchild, "a child must keep inheriting the (scaled) parent timer"


def test_scale_alertmanager_config_scales_resolve_timeout() -> None:
    """global.resolve_timeout shrinks by the factor."""
    assert scale_alertmanager_config(AM, 10)["global"]["resolve_timeout"] == "30s"


def test_scale_alertmanager_config_writes_out_scaled_defaults() -> None:
    """Timers left at Alertmanager's defaults (30s, 5m, 4h) are written on the root and scaled."""
    config = {"route": {"receiver": "default"}, "receivers": [{"name": "default"}]}
    out = scale_alertmanager_config(config, 10)
    route = out["route"]
    assert (route["group_wait"], route["group_interval"], route["repeat_interval"]) == ("3s", "30s", "24m")


def test_scale_alertmanager_config_with_factor_one_is_identity() -> None:
    """Factor 1 leaves a config with explicit timers unchanged, and the input is never modified."""
    before = copy.deepcopy(AM)
    assert scale_alertmanager_config(AM, 1) == AM
    assert AM == before
