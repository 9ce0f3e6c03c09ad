"""Read PromQL with ``promql-parser`` (the Rust parser Prometheus' grammar is ported to), not regexes.

>>> sorted(metric_names('sum(rate(http_requests_total[5m])) / on() group_left up'))
['http_requests_total', 'up']
"""
from __future__ import annotations

import promql_parser


def parse(expr: str) -> promql_parser.Expr:
    """Parse ``expr``; a syntax error raises ``ValueError`` with the parser's message."""
    return promql_parser.parse(expr)


def metric_names(expr: str) -> set[str]:
    """Every metric name a PromQL expression reads (selectors by ``__name__`` included)."""
    names: set[str] = set()

    def visit(node: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            for matcher in node.matchers.matchers:
                if matcher.name == "__name__" and matcher.op == promql_parser.MatchOp.Equal:
                    names.add(matcher.value)

    promql_parser.walk(parse(expr), pre_visit=visit)
    return names
