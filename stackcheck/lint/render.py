"""Render a kustomization: ``kubectl kustomize`` when kubectl is there, else stackcheck's own renderer.

lint must run where kubectl is not installed (the development machines, a plain CI runner), so this
module implements exactly the kustomize subset manifests/ uses (manifests/README.md, "Kustomize
features used"; ``tests/test_manifests_objects.py`` keeps the manifests inside it):

- ``resources``: object files (one or more YAML documents) and directories with a kustomization;
- ``configMapGenerator`` and ``secretGenerator`` (type Opaque): ``name``, ``namespace``, ``files``
  (``key=path`` allowed), ``options.disableNameSuffixHash: true`` and ``behavior`` (``create``, or
  ``replace``/``merge`` of an object the resources already hold, as kustomize does: the kind overlay
  swaps config/'s ConfigMaps for time-scaled copies this way);
- ``labels``: ``pairs`` with ``includeSelectors: false`` (metadata labels only);
- ``patches``: inline or file JSON6902 operations ``add``/``replace``/``remove`` on a ``target`` by
  kind, name and namespace;
- ``images``: ``name`` with ``newName`` and/or ``newTag`` on the containers and init containers of pod
  templates (the kind overlay runs the locally built ``stackcheck:dev``).

Anything else raises :class:`UnsupportedFeature`. The Python renderer also runs when kubectl is present:
it knows which file each object comes from, so kubectl's objects are attributed through it.

>>> objs = render_python(Path("manifests/overlays/kind"))  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import copy
import subprocess
from pathlib import Path
from typing import Any

import yaml

from stackcheck.binaries import Binary
from stackcheck.errors import TEXT_ERROR_MAX_SIZE, UsageError, truncate
from stackcheck.lint.objects import KObject, object_ref

KUBECTL = Binary(
    "kubectl", ("kubectl",), None, "kubectl (https://kubernetes.io/docs/tasks/tools/; it embeds kustomize)"
)
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "configMapGenerator",
    "secretGenerator",
    "labels",
    "patches",
    "images",
}
IMAGE_KEYS = {"name", "newName", "newTag"}
GENERATOR_KEYS = {"name", "namespace", "behavior", "files", "options"}
GENERATORS = {"configMapGenerator": "ConfigMap", "secretGenerator": "Secret"}
BEHAVIORS = {"create", "replace", "merge"}
PATCH_OPS = {"add", "replace", "remove"}
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class RenderError(Exception):
    """The kustomization cannot be rendered (missing file, patch that misses, duplicate object)."""


class UnsupportedFeature(RenderError):
    """The kustomization uses a kustomize feature outside the subset stackcheck renders itself."""


def find_kustomization(directory: Path) -> Path | None:
    """The kustomization file of a directory, under any of the names kustomize accepts."""
    for name in KUSTOMIZATION_NAMES:
        if (directory / name).is_file():
            return directory / name
    return None


def load_documents(path: Path) -> list[Any]:
    """Every non-empty YAML document of a file; malformed YAML is a usage error naming file:line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise UsageError(f"{where}: malformed YAML ({problem}); fix the file") from exc


def render_python(directory: Path) -> list[KObject]:
    """Render ``directory``'s kustomization with stackcheck's renderer (the subset above)."""
    return _build(directory.resolve(), ())


def _build(directory: Path, stack: tuple[Path, ...]) -> list[KObject]:
    kfile = find_kustomization(directory)
    if kfile is None:
        raise RenderError(f"{directory}: no kustomization.yaml")
    if directory in stack:
        raise RenderError(f"{kfile}: includes itself through {' -> '.join(map(str, stack))}")
    docs = load_documents(kfile)
    doc = docs[0] if len(docs) == 1 and isinstance(docs[0], dict) else None
    if doc is None:
        raise RenderError(f"{kfile}: expected one YAML mapping")
    unsupported = sorted(set(doc) - SUPPORTED_KEYS)
    if unsupported:
        raise UnsupportedFeature(f"{kfile}: uses {', '.join(unsupported)}")
    objects: list[KObject] = []
    for resource in doc.get("resources") or []:
        objects += _resource(kfile, str(resource), stack + (directory,))
    for key, kind in GENERATORS.items():  # kustomize runs generators after resources, before patches
        for generator in doc.get(key) or []:
            _generate(kfile, kind, generator, objects)
    for patch in doc.get("patches") or []:  # kustomize runs patches before the label transformer
        _patch(kfile, patch, objects)
    for entry in doc.get("images") or []:
        _images(kfile, entry, objects)
    for entry in doc.get("labels") or []:
        _labels(kfile, entry, objects)
    seen: dict[str, Path] = {}
    for obj in objects:
        if obj.ref in seen:
            raise RenderError(f"{kfile}: {obj.ref} is defined twice ({seen[obj.ref]} and {obj.source})")
        seen[obj.ref] = obj.source
    return objects


def _resource(kfile: Path, resource: str, stack: tuple[Path, ...]) -> list[KObject]:
    if "://" in resource or resource.startswith("git@"):
        raise UnsupportedFeature(f"{kfile}: remote resource {resource}")
    target = (kfile.parent / resource).resolve()
    if target.is_dir():
        return _build(target, stack)
    if not target.is_file():
        raise RenderError(f"{kfile}: resource {resource} does not exist")
    found = []
    for body in load_documents(target):
        if not isinstance(body, dict) or not body.get("kind") or not (body.get("metadata") or {}).get("name"):
            raise RenderError(
                f"{target}: a document without kind or metadata.name is not a Kubernetes object"
            )
        found.append(KObject(body, target))
    return found


def _generate(kfile: Path, kind: str, generator: dict[str, Any], objects: list[KObject]) -> None:
    """Add a generated ConfigMap/Secret, or replace/merge the one with its id, as kustomize does.

    ``replace`` keeps the old object's labels and annotations under the new ones and drops its data;
    ``merge`` also keeps the old data keys the generator does not set. The result keeps the old
    object's ``source`` and lists this kustomization in ``patched_by``, so lint names both files.
    """
    body = _generated_body(kfile, kind, generator)
    behavior = str(generator.get("behavior", "create"))
    if behavior not in BEHAVIORS:
        raise UnsupportedFeature(
            f"{kfile}: {kind} generator {generator.get('name')}: behavior {behavior!r} "
            f"(only {', '.join(sorted(BEHAVIORS))})"
        )
    if behavior == "create":
        objects.append(KObject(body, kfile))  # a clash with an existing id is reported by _build
        return
    hits = [o for o in objects if _same_id(o.body, body)]
    if len(hits) != 1:
        raise RenderError(
            f"{kfile}: {kind} generator {generator.get('name')} has behavior {behavior}, but "
            f"{object_ref(body)} is {'not among the resources' if not hits else 'defined twice'}"
        )
    old = hits[0]
    old_meta, meta = old.body.get("metadata") or {}, body["metadata"]
    for field in ("labels", "annotations"):
        merged = {**(old_meta.get(field) or {}), **(meta.get(field) or {})}
        if merged:
            meta[field] = merged
    if behavior == "merge":
        for field in ("data", "binaryData"):
            merged = {**(old.body.get(field) or {}), **(body.get(field) or {})}
            if merged:
                body[field] = merged
    old.body = body
    old.patched_by.append(kfile)


def _same_id(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Same kind, name and namespace; kustomize treats no namespace as ``default``."""
    ma, mb = a.get("metadata") or {}, b.get("metadata") or {}
    return (a.get("kind"), ma.get("name"), ma.get("namespace") or "default") == (
        b.get("kind"),
        mb.get("name"),
        mb.get("namespace") or "default",
    )


def _generated_body(kfile: Path, kind: str, generator: dict[str, Any]) -> dict[str, Any]:
    name = generator.get("name")
    extra = sorted(set(generator) - GENERATOR_KEYS)
    if extra:
        raise UnsupportedFeature(f"{kfile}: {kind} generator {name} uses {', '.join(extra)}")
    if (generator.get("options") or {}) != {"disableNameSuffixHash": True}:
        raise UnsupportedFeature(
            f"{kfile}: {kind} generator {name} needs exactly options: "
            "{disableNameSuffixHash: true} (a hash suffix is not implemented)"
        )
    data: dict[str, str] = {}
    for entry in generator.get("files") or []:
        key, _, rel = str(entry).rpartition("=")
        path = kfile.parent / rel
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise RenderError(f"{kfile}: {kind} generator {name}: cannot read {rel}: {exc.strerror}") from exc
        if kind == "Secret":
            data[key or Path(rel).name] = _kustomize_base64(raw)
            continue
        try:
            data[key or Path(rel).name] = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnsupportedFeature(f"{kfile}: {rel} is binary (binaryData is not implemented)") from exc
    metadata = {"name": name, **({"namespace": generator["namespace"]} if generator.get("namespace") else {})}
    body: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": metadata, "data": data}
    if kind == "Secret":
        body["type"] = "Opaque"
    return body


def _kustomize_base64(raw: bytes) -> str:
    """Base64 the way kustomize writes Secret data: from 70 characters on, 70-character lines, each
    ending in a newline (the API server's decoder skips them); shorter values on one line.

    >>> _kustomize_base64(b"x" * 60).count("\\n")
    2
    """
    text = base64.b64encode(raw).decode("ascii")
    if len(text) < 70:
        return text
    return "".join(text[i : i + 70] + "\n" for i in range(0, len(text), 70))


def _labels(kfile: Path, entry: dict[str, Any], objects: list[KObject]) -> None:
    if set(entry) - {"pairs", "includeSelectors"} or entry.get("includeSelectors", False) is not False:
        raise UnsupportedFeature(f"{kfile}: labels {entry} (only pairs with includeSelectors: false)")
    for obj in objects:
        meta = obj.body.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), **{str(k): str(v) for k, v in entry["pairs"].items()}}


def _images(kfile: Path, entry: dict[str, Any], objects: list[KObject]) -> None:
    """kustomize's image transformer: containers whose image is ``name`` (any tag) get the new name/tag."""
    if set(entry) - IMAGE_KEYS or "name" not in entry or not set(entry) & {"newName", "newTag"}:
        raise UnsupportedFeature(f"{kfile}: images {entry} (only name with newName and/or newTag)")
    name = str(entry["name"])
    for obj in objects:
        spec = ((obj.body.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            image = str(container.get("image", ""))
            base, tag = (image.rsplit(":", 1) + [""])[:2] if ":" in image.rsplit("/", 1)[-1] else (image, "")
            if base != name:
                continue
            new_tag = str(entry.get("newTag", tag))
            container["image"] = str(entry.get("newName", base)) + (f":{new_tag}" if new_tag else "")
            if kfile not in obj.patched_by:
                obj.patched_by.append(kfile)


def _patch(kfile: Path, patch: dict[str, Any], objects: list[KObject]) -> None:
    target = patch.get("target") or {}
    if set(patch) - {"target", "patch", "path"} or set(target) - {"kind", "name", "namespace"} or not target:
        raise UnsupportedFeature(
            f"{kfile}: patch {patch} (only JSON6902 with a target by kind/name/namespace)"
        )
    text = patch["patch"] if "patch" in patch else (kfile.parent / str(patch.get("path"))).read_text()
    ops = yaml.load(text, Loader=_Loader)
    if not isinstance(ops, list):
        raise UnsupportedFeature(f"{kfile}: patch on {target} is not a JSON6902 list of operations")
    hits = [o for o in objects if all(_target_field(o, k) == str(v) for k, v in target.items())]
    if not hits:
        raise RenderError(f"{kfile}: patch target {target} matches no object")
    for obj in hits:
        for op in ops:
            try:
                apply_operation(obj.body, op)
            except (KeyError, IndexError, ValueError, TypeError) as exc:
                raise RenderError(f"{kfile}: patch {op} on {obj.ref}: {exc}") from exc
        obj.patched_by.append(kfile)


def _target_field(obj: KObject, key: str) -> str:
    return obj.kind if key == "kind" else str((obj.body.get("metadata") or {}).get(key, ""))


def apply_operation(doc: Any, op: dict[str, Any]) -> None:
    """Apply one JSON6902 ``add``/``replace``/``remove`` operation in place (RFC 6902 semantics).

    >>> d = {"a": [1, 2]}; apply_operation(d, {"op": "add", "path": "/a/-", "value": 3}); d
    {'a': [1, 2, 3]}
    """
    kind = op.get("op")
    if kind not in PATCH_OPS:
        raise UnsupportedFeature(f"JSON6902 op {kind!r} (only {', '.join(sorted(PATCH_OPS))})")
    parts = [p.replace("~1", "/").replace("~0", "~") for p in str(op["path"]).split("/")[1:]]
    if not parts:
        raise ValueError("cannot patch the whole document")
    parent = doc
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    last = parts[-1]
    value = copy.deepcopy(op.get("value"))
    if isinstance(parent, list):
        if kind == "add":
            parent.insert(len(parent) if last == "-" else _index(last, len(parent) + 1), value)
        elif kind == "replace":
            parent[_index(last, len(parent))] = value
        else:
            del parent[_index(last, len(parent))]
    elif isinstance(parent, dict):
        if kind != "add" and last not in parent:
            raise KeyError(f"path {op['path']} does not exist")
        if kind == "remove":
            del parent[last]
        else:
            parent[last] = value
    else:
        raise TypeError(f"path {op['path']} goes through a scalar")


def _index(text: str, limit: int) -> int:
    index = int(text)
    if not 0 <= index < limit:
        raise IndexError(f"index {index} out of range")
    return index


def render_kubectl(kubectl: Path, directory: Path, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """``kubectl kustomize <directory>``'s objects; a failure raises RenderError with kubectl's message."""
    try:
        proc = subprocess.run(
            [str(kubectl), "kustomize", str(directory)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RenderError(f"kubectl kustomize {directory} took longer than {timeout_s:g} s") from exc
    if proc.returncode != 0:
        raise RenderError(f"kubectl kustomize failed: {truncate(proc.stderr, 4 * TEXT_ERROR_MAX_SIZE)}")
    return [d for d in yaml.load_all(proc.stdout, Loader=_Loader) if isinstance(d, dict)]


def attribute(bodies: list[dict[str, Any]], by_python: list[KObject] | None, fallback: Path) -> list[KObject]:
    """Wrap kubectl's objects with the source file the Python rendering found for the same object."""
    index = {o.ref: o for o in by_python or []}
    out = []
    for body in bodies:
        known = index.get(object_ref(body))
        out.append(
            KObject(body, known.source if known else fallback, list(known.patched_by) if known else [])
        )
    return out
