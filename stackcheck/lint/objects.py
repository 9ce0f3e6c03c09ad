"""A rendered Kubernetes object and the file it came from, so every lint message can name both.

>>> KObject({"kind": "Deployment", "metadata": {"name": "grafana", "namespace": "monitoring"}},
...         Path("grafana/grafana-deployment.yaml")).ref
'Deployment/monitoring/grafana'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def object_ref(body: dict[str, Any]) -> str:
    """``<Kind>/<namespace>/<name>``, or ``<Kind>/<name>`` for a cluster-scoped object."""
    meta = body.get("metadata") or {}
    parts = [str(body.get("kind", "?")), str(meta.get("namespace", "")), str(meta.get("name", "?"))]
    return "/".join(p for p in parts if p)


@dataclass
class KObject:
    """One object of a rendering: its body, the file that defines it and the patches applied to it.

    ``source`` is the object file, or the kustomization.yaml whose generator made it.
    """

    body: dict[str, Any]
    source: Path
    patched_by: list[Path] = field(default_factory=list)

    @property
    def ref(self) -> str:
        return object_ref(self.body)

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def app(self) -> str:
        """The ``app.kubernetes.io/name`` label (of the pod template when there is one)."""
        labels = (self.body.get("metadata") or {}).get("labels") or {}
        return str(labels.get("app.kubernetes.io/name", ""))
