"""What a PromQL expression reads, from promql-parser's AST: selectors, label matchers, ``by`` labels.

Regexes over PromQL miss ``{__name__="x"}``, subqueries and nested ranges; the AST does not.

>>> sorted(metric_names('sum(rate(a_total[5m])) / on() b or vector(0)'))
['a_total', 'b']
"""

from __future__ import annotations

from typing import Any

import promql_parser

from stackcheck.promql import metric_names

__all__ = ["grouping_labels", "label_matchers", "metric_names", "selector_name", "vector_selectors"]


def selector_name(node: Any) -> str | None:
    """The metric name of a VectorSelector, from `name` or a `__name__="..."` matcher."""
    if node.name:
        return str(node.name)
    for m in node.matchers.matchers:
        if m.name == "__name__" and m.op == promql_parser.MatchOp.Equal:
            return str(m.value)
    return None


def _selectors_under(node: Any) -> list[Any]:
    """All VectorSelector nodes of an AST (those inside MatrixSelectors and subqueries too)."""
    found: list[Any] = []

    def visit(n: Any) -> None:
        if isinstance(n, promql_parser.VectorSelector):
            found.append(n)

    promql_parser.walk(node, pre_visit=visit)
    return found


def vector_selectors(expr: str) -> list[Any]:
    """All VectorSelector nodes of a PromQL expression. Raises ValueError when it does not parse."""
    return _selectors_under(promql_parser.parse(expr))


def label_matchers(expr: str) -> set[tuple[str, str]]:
    """`(metric, label)` for every label matcher in a PromQL expression (`__name__` excluded)."""
    out = set()
    for node in vector_selectors(expr):
        name = selector_name(node) or ""
        for m in node.matchers.matchers:
            if m.name != "__name__":
                out.add((name, str(m.name)))
    return out


def grouping_labels(expr: str) -> list[tuple[set[str], set[str]]]:
    """For every `by (...)` aggregation: (its labels, metric names it aggregates over)."""
    out: list[tuple[set[str], set[str]]] = []

    def visit(node: Any) -> None:
        modifier = getattr(node, "modifier", None)
        if (
            isinstance(node, promql_parser.AggregateExpr)
            and modifier is not None
            and modifier.type == promql_parser.AggModifierType.By
        ):
            inner = {selector_name(n) or "" for n in _selectors_under(node.expr)}
            out.append((set(modifier.labels), inner))

    promql_parser.walk(promql_parser.parse(expr), pre_visit=visit)
    return out
