"""What deploy would apply: an overlay rendered with lint's own renderer, in apply order.

lint and deploy render through the same function (:func:`stackcheck.lint.render.render_python`),
so what lint passed is exactly what deploy sends.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackcheck.errors import UsageError
from stackcheck.kube.apply import STAGE_ONE, Ref, order_key
from stackcheck.lint.render import RenderError, find_kustomization, render_python
from stackcheck.manifests import Manifests
from stackcheck.targets.kubernetes import ALLOW_FAULTS_LABEL

#: Default wait per overlay, in seconds: kind pulls a dozen images on a CI runner; production
#: clusters may need to provision volumes and scale nodes.
DEFAULT_TIMEOUT_S = {"kind": 300.0, "production": 600.0}
FALLBACK_TIMEOUT_S = 300.0
#: On each workload's pod template: a hash of the ConfigMaps and Secrets it mounts (of those the overlay
#: renders). The configs are mounted with subPath or read once, so a changed config reaches the pods only
#: through a rollout; a changed hash is that rollout, an unchanged one changes nothing.
CONFIG_HASH_ANNOTATION = "stackcheck.dev/config-hash"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


@dataclass
class Plan:
    """The rendered overlay."""

    overlay: str
    directory: Path
    objects: list[dict[str, Any]]

    @property
    def refs(self) -> list[Ref]:
        return [Ref.of(o) for o in self.objects]

    @property
    def namespaces(self) -> list[str]:
        """Every namespace the objects live in or create, sorted."""
        names = {Ref.of(o).namespace for o in self.objects} | {
            Ref.of(o).name for o in self.objects if o.get("kind") == "Namespace"}
        return sorted(n for n in names if n)

    @property
    def disposable(self) -> list[str]:
        """Namespaces the overlay marks ``stackcheck.dev/allow-faults: "true"``."""
        return sorted(Ref.of(o).name for o in self.objects if o.get("kind") == "Namespace"
                      and ((o.get("metadata") or {}).get("labels") or {}).get(ALLOW_FAULTS_LABEL) == "true")

    def stages(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Namespaces, CRDs and cluster RBAC first; then the rest, each in kind order."""
        first = [o for o in self.objects if o.get("kind") in STAGE_ONE]
        rest = [o for o in self.objects if o.get("kind") not in STAGE_ONE]
        return first, rest

    @property
    def default_timeout_s(self) -> float:
        return DEFAULT_TIMEOUT_S.get(self.overlay, FALLBACK_TIMEOUT_S)


def overlay_dir(overlay: str, manifests: Manifests) -> tuple[str, Path]:
    """``kind``/``production`` → manifests/overlays/<name>; anything else is a directory."""
    if overlay in DEFAULT_TIMEOUT_S:
        return overlay, manifests.root / "overlays" / overlay
    path = Path(overlay).expanduser()
    if not path.is_dir() or find_kustomization(path) is None:
        raise UsageError(f"--overlay {overlay}: not kind, production or a directory with a "
                         f"kustomization.yaml")
    return path.name, path


def render(overlay: str, manifests: Manifests) -> Plan:
    """Render the overlay; a render error is a usage error naming the file (run `stackcheck lint`)."""
    name, directory = overlay_dir(overlay, manifests)
    try:
        rendered = render_python(directory)
    except RenderError as exc:
        raise UsageError(f"cannot render {directory}: {exc}; `stackcheck lint` shows every problem") from exc
    objects = sorted((o.body for o in rendered), key=lambda b: order_key(Ref.of(b)))
    annotate_config_hashes(objects)
    return Plan(name, directory, objects)


def _referenced(pod: dict[str, Any]) -> set[tuple[str, str]]:
    """("ConfigMap"|"Secret", name) of everything a pod spec mounts or reads."""
    found: set[tuple[str, str]] = set()
    for volume in pod.get("volumes") or []:
        if "configMap" in volume:
            found.add(("ConfigMap", str(volume["configMap"].get("name"))))
        if "secret" in volume:
            found.add(("Secret", str(volume["secret"].get("secretName"))))
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "configMap" in source:
                found.add(("ConfigMap", str(source["configMap"].get("name"))))
            if "secret" in source:
                found.add(("Secret", str(source["secret"].get("name"))))
    for container in (pod.get("containers") or []) + (pod.get("initContainers") or []):
        for env in container.get("envFrom") or []:
            for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if key in env:
                    found.add((kind, str(env[key].get("name"))))
        for env in container.get("env") or []:
            for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                ref = (env.get("valueFrom") or {}).get(key)
                if ref:
                    found.add((kind, str(ref.get("name"))))
    return found


def annotate_config_hashes(objects: list[dict[str, Any]]) -> None:
    """Put :data:`CONFIG_HASH_ANNOTATION` on each workload that mounts rendered ConfigMaps or Secrets."""
    data = {(o["kind"], Ref.of(o).namespace, Ref.of(o).name): {k: o.get(k) for k in ("data", "binaryData")}
            for o in objects if o.get("kind") in ("ConfigMap", "Secret")}
    for obj in objects:
        if obj.get("kind") not in WORKLOAD_KINDS:
            continue
        template = (obj.get("spec") or {}).get("template") or {}
        ns = Ref.of(obj).namespace
        used = sorted((k, n) for k, n in _referenced(template.get("spec") or {}) if (k, ns, n) in data)
        if not used:
            continue
        digest = hashlib.sha256(json.dumps([[k, n, data[(k, ns, n)]] for k, n in used],
                                           sort_keys=True).encode())
        meta = template.setdefault("metadata", {})
        meta["annotations"] = {**(meta.get("annotations") or {}),
                               CONFIG_HASH_ANNOTATION: digest.hexdigest()[:16]}


def is_kind_context(context: str) -> bool:
    """kind names its contexts ``kind-<cluster>``."""
    return context.startswith("kind-")
