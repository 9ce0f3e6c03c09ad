"""The shape of the config files the promises read: a section of the wrong type (``server: x``) makes a
promise impossible to follow, and lint says which section instead of blaming itself."""

from __future__ import annotations

from stackcheck.lint.promises.stack import Stack
from stackcheck.manifests import load_yaml

#: The sections each promise reads, and their type: a config where one has another type cannot be followed.
SHAPES: dict[str, dict[str, type]] = {
    "loki/loki.yaml": {
        "server": dict,
        "common": dict,
        "compactor": dict,
        "limits_config": dict,
        "schema_config": dict,
    },
    "jaeger/config.yaml": {"receivers": dict, "extensions": dict, "service": dict, "exporters": dict},
    "grafana/datasources.yml": {"datasources": list},
    "grafana/dashboards.yml": {"providers": list},
    "blackbox/blackbox.yml": {"modules": dict},
    "alertmanager/alertmanager.yml": {"global": dict, "route": dict, "receivers": list},
    "prometheus/prometheus.yml": {
        "global": dict,
        "scrape_configs": list,
        "alerting": dict,
        "rule_files": list,
    },
}


def shape_problems(stack: Stack) -> list[str]:
    """Sections of a config file whose type is not the one its component reads (see SHAPES)."""
    found = []
    for rel, sections in SHAPES.items():
        raw = load_yaml(stack.path(rel)) if stack.path(rel).is_file() else None
        if raw is not None and not isinstance(raw, dict):
            found.append(f"{stack.rel(rel)}: a {type(raw).__name__}, not a mapping; fix the file")
        doc = stack.yaml(rel)
        for key, kind in sections.items():
            value = doc.get(key)
            if value is not None and not isinstance(value, kind):
                found.append(
                    f"{stack.rel(rel)}: {key} is a {type(value).__name__}, not a "
                    f"{'mapping' if kind is dict else 'list'}; the component cannot read it; fix the file"
                )
    return found
