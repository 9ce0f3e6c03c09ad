"""Validate rendered objects strictly against the Kubernetes OpenAPI schemas (``kubernetes-validate``).

Strict mode rejects unknown fields, the typo class a cluster would only reveal at apply time (or
never: ``kubectl apply`` drops some unknown fields with a warning). Each object is checked against
every version of :data:`KUBERNETES_VERSIONS`; identical objects of several renderings are checked once.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Iterable
from typing import Any

from stackcheck.errors import UsageError

#: The Kubernetes versions manifests/ must validate against (kubernetes-validate bundles 1.25 to 1.37).
KUBERNETES_VERSIONS = ("1.32", "1.33")
_UNEXPECTED = re.compile(r"^Additional properties are not allowed \((.*) (?:was|were) unexpected\)$")
_cache: dict[str, list[str]] = {}
_cache_lock = threading.Lock()


def _kubernetes_validate() -> Any:
    try:
        import kubernetes_validate
        from kubernetes_validate import utils
    except ImportError as exc:
        raise UsageError(
            "kubernetes-validate is not installed; install stackcheck's lint extra: "
            "pip install 'stackcheck[lint]'"
        ) from exc
    # kubernetes-validate re-reads its 1.4 MB definitions file for every object (~17 ms each, >2 s for
    # the stack); the files never change while we run, so read each once.
    if not hasattr(utils.schema_contents, "cache_info"):
        utils.schema_contents = functools.cache(utils.schema_contents)
        utils.all_versions = functools.cache(utils.all_versions)
    bundled = {utils.major_minor(v) for v in utils.all_versions()}
    missing = [v for v in KUBERNETES_VERSIONS if v not in bundled]
    if missing:
        raise UsageError(
            f"kubernetes-validate {kubernetes_validate.__version__} has no schemas for Kubernetes "
            f"{', '.join(missing)}; pip install -U kubernetes-validate"
        )
    return kubernetes_validate


def ensure_available() -> None:
    """Fail with a usage error now, not inside a worker, when kubernetes-validate or a version is missing."""
    _kubernetes_validate()


def schema_problems(body: dict[str, Any], versions: Iterable[str] = KUBERNETES_VERSIONS) -> list[str]:
    """What keeps ``body`` from validating strictly, each problem once with the versions it affects.

    >>> schema_problems({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "dta": {}})
    ["unknown field 'dta' (Kubernetes 1.32, 1.33)"]
    """
    versions = tuple(versions)
    key = json.dumps([body, versions], sort_keys=True, default=str)
    with _cache_lock:
        if key in _cache:
            return list(_cache[key])
    kv = _kubernetes_validate()
    found: dict[str, list[str]] = {}
    for version in versions:
        try:
            kv.validate(body, version, strict=True)
        except kv.ValidationError as exc:
            found.setdefault(_describe(list(exc.path), str(exc.message)), []).append(version)
        except kv.SchemaNotFoundError:
            found.setdefault(
                f"no schema for apiVersion {body.get('apiVersion')} kind {body.get('kind')}: "
                "check apiVersion and kind",
                [],
            ).append(version)
    problems = [f"{text} (Kubernetes {', '.join(vs)})" for text, vs in found.items()]
    with _cache_lock:
        _cache[key] = problems
    return list(problems)


def _describe(path: list[Any], message: str) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    unexpected = _UNEXPECTED.match(message)
    if unexpected:
        fields = unexpected.group(1)
        text = f"unknown field {fields}" if "," not in fields else f"unknown fields {fields}"
        return f"{where}: {text}" if where else text
    return f"{where}: {message}" if where else message
