"""Pure helpers over Grafana dashboard JSON: walk panels and targets, find template variables.

The one dashboard walker: ``stackcheck lint``, the live checks (checks/grafana.py) and
``tests/test_dashboards.py`` read dashboards through it, so all three see the same panels and variables.

>>> [p["id"] for p in iter_panels({"panels": [{"id": 1, "panels": [{"id": 2}]}]})]
[1, 2]
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

#: A template variable: ``${name}``, ``${name:format}`` (formats may chain, ``${__from:date:iso}``),
#: ``$name`` or the deprecated ``[[name]]``; the name is whichever group matched.
VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)\]\]")
#: Grafana's built-in interval variables, as durations so that ``[$__rate_interval]`` still parses.
SAMPLE_VALUES = {
    "__rate_interval": "1m",
    "__interval": "30s",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
    "__interval_ms": "30000",
}
#: A ``label_values(<selector>, <label>)`` template variable query.
LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.+),\s*(?P<label>\w+)\s*\)\s*$")


def substitute_variables(expr: str, values: Mapping[str, str] | None = None) -> str:
    """Replace Grafana variables (`$x`, `${x}`, `${x:regex}`, `[[x]]`) by sample values.

    Built-in interval variables become durations so that `[$__rate_interval]` still parses;
    any other variable becomes `values[name]` or the string `sample`.

    >>> substitute_variables('rate(x{service=~"$service"}[$__rate_interval])')
    'rate(x{service=~"sample"}[1m])'
    """
    table = {**SAMPLE_VALUES, **(values or {})}

    def repl(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g is not None)
        return table.get(name, "sample")

    return VARIABLE.sub(repl, expr)


def iter_panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield every panel of a dashboard, including those nested in (collapsed) row panels.

    Rows themselves are yielded too; callers that want only data panels skip `type == "row"`.
    """
    stack = list(reversed(dashboard.get("panels") or []))
    while stack:
        panel = stack.pop()
        yield panel
        stack.extend(reversed(panel.get("panels") or []))


def iter_targets(dashboard: Mapping[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Yield `(panel, target)` for every query target of every panel of a dashboard."""
    for panel in iter_panels(dashboard):
        for target in panel.get("targets", []):
            yield panel, target


def target_datasource(panel: Mapping[str, Any], target: Mapping[str, Any]) -> dict[str, Any]:
    """The datasource reference a target uses: its own, else its panel's (`{}` if neither has one)."""
    ds = target.get("datasource") or panel.get("datasource") or {}
    return ds if isinstance(ds, dict) else {"uid": ds}


def variable_query(variable: Mapping[str, Any]) -> str:
    """The query string of a dashboard template variable (`query` is a string or an object)."""
    q = variable.get("query", "")
    return str(q.get("query", "") if isinstance(q, dict) else q)


def loki_stream_selector(expr: str) -> str:
    """The `{...}` stream selector at the start of a LogQL query (a metric query's inner one too)."""
    match = re.search(r"\{[^{}]*\}", expr)
    if match is None:
        raise ValueError(f"no stream selector in LogQL {expr!r}")
    return match.group(0)
