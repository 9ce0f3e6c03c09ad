"""The Kubernetes items of lint, per kustomization: render it, validate schemas, check Pod Security.

Each rendering is checked as a whole because that is what ``kubectl apply -k`` sends: an overlay's
patch can break an object that is fine in the base.
"""

from __future__ import annotations

import time

from stackcheck.errors import UsageError
from stackcheck.lint.context import Context
from stackcheck.lint.objects import KObject
from stackcheck.lint.podsecurity import (
    POD_SECURITY_EXCEPTIONS,
    app_name,
    pod_template,
    unexcused_violations,
    violations,
)
from stackcheck.lint.render import (
    KUBECTL,
    RenderError,
    UnsupportedFeature,
    attribute,
    find_kustomization,
    render_kubectl,
    render_python,
)
from stackcheck.lint.result import Item
from stackcheck.lint.schema import KUBERNETES_VERSIONS, schema_problems

PythonRender = list[KObject] | RenderError


def target_name(target: str) -> str:
    """The id suffix of a rendering: ``manifests`` for the whole stack, else the overlay path."""
    return "manifests" if target == "." else target


def python_render(ctx: Context, target: str) -> PythonRender:
    """Render with stackcheck's renderer; without kubectl, a feature it lacks is a usage error."""
    try:
        return render_python(ctx.root / target)
    except UnsupportedFeature as exc:
        if ctx.kubectl is None:
            raise UsageError(
                f"{_relative(ctx, str(exc))}: stackcheck's renderer does not implement this, and "
                f"{KUBECTL.hint} is not on PATH. Install kubectl (or point {KUBECTL.env_var} at it), or keep "
                "to the kustomize subset listed in manifests/README.md"
            ) from exc
        return exc
    except RenderError as exc:
        return exc


def render_item(ctx: Context, target: str, by_python: PythonRender) -> tuple[Item, list[KObject] | None]:
    """``lint.render[<target>]``: the objects of one kustomization, or why it does not render."""
    kfile = find_kustomization(ctx.root / target) or ctx.root / target / "kustomization.yaml"
    how = "kubectl kustomize" if ctx.kubectl else "stackcheck renderer"
    item = Item(f"lint.render[{target_name(target)}]", f"{ctx.rel(kfile)} ({how})")
    python_objects = None if isinstance(by_python, RenderError) else by_python
    if ctx.kubectl is None:
        if python_objects is None:
            item.problems.append(f"{ctx.rel(kfile)}: {_relative(ctx, str(by_python))}")
            return item, None
        objects = python_objects
    else:
        try:
            objects = attribute(render_kubectl(ctx.kubectl, ctx.root / target), python_objects, kfile)
        except RenderError as exc:
            item.problems.append(f"{ctx.rel(kfile)}: {_relative(ctx, str(exc))}")
            return item, None
        if isinstance(by_python, UnsupportedFeature):
            item.problems.append(
                f"{_relative(ctx, str(by_python))}: stackcheck's renderer does not implement "
                "this, so lint fails wherever kubectl is absent; keep to the subset in "
                "manifests/README.md"
            )
        elif python_objects is None:
            item.problems.append(
                f"{ctx.rel(kfile)}: kubectl renders it but stackcheck's renderer does not: "
                f"{_relative(ctx, str(by_python))}"
            )
        else:
            ours, theirs = {o.ref for o in python_objects}, {o.ref for o in objects}
            if ours != theirs:
                item.problems.append(
                    f"{ctx.rel(kfile)}: stackcheck's renderer and kubectl disagree: only kubectl renders "
                    f"{sorted(theirs - ours)}, only stackcheck renders {sorted(ours - theirs)}"
                )
    item.summary = f"{len(objects)} objects"
    return item, objects


def schema_item(ctx: Context, target: str, objects: list[KObject]) -> Item:
    """``lint.schema[<target>]``: every object validates strictly for every supported version."""
    versions = ", ".join(KUBERNETES_VERSIONS)
    item = Item(
        f"lint.schema[{target_name(target)}]",
        f"schemas of {target_name(target)} (Kubernetes {versions}, strict)",
    )
    for obj in objects:
        item.problems += [f"{_where(ctx, obj)}: {obj.ref}: {p}" for p in schema_problems(obj.body)]
    item.summary = f"{len(objects)} objects valid against Kubernetes {versions}"
    return item


def podsecurity_item(ctx: Context, target: str, objects: list[KObject]) -> Item:
    """``lint.podsecurity[<target>]``: pod templates meet "restricted" bar the documented exceptions,
    and only the exceptions run in a namespace that does not enforce "restricted"."""
    item = Item(
        f"lint.podsecurity[{target_name(target)}]", f"Pod Security 'restricted' of {target_name(target)}"
    )
    enforce = {
        str(o.body["metadata"]["name"]): (o.body["metadata"].get("labels") or {}).get(
            "pod-security.kubernetes.io/enforce", "privileged"
        )
        for o in objects
        if o.kind == "Namespace"
    }
    pods = [o for o in objects if pod_template(o.body) is not None]
    for obj in pods:
        where, app = f"{_where(ctx, obj)}: {obj.ref}", app_name(obj.body)
        item.problems += [f"{where}: {v}" for v in unexcused_violations(obj.body)]
        level = enforce.get(str(obj.body["metadata"].get("namespace", "")))
        if level is None:
            continue
        if app not in POD_SECURITY_EXCEPTIONS and level != "restricted":
            item.problems.append(
                f"{where}: namespace enforces {level!r}, not 'restricted'; only "
                f"{', '.join(POD_SECURITY_EXCEPTIONS)} may run in such a namespace"
            )
        excused = len(violations(obj.body)) - len(unexcused_violations(obj.body))
        if app in POD_SECURITY_EXCEPTIONS and level in ("restricted", "baseline") and excused:
            item.problems.append(
                f"{where}: namespace enforces {level!r}, which refuses this pod's "
                "documented exception; run it in a 'privileged' namespace"
            )
    exceptions = "; ".join(
        f"{app}: {', '.join(sorted(rules))}" for app, rules in POD_SECURITY_EXCEPTIONS.items()
    )
    item.summary = f"{len(pods)} pod templates meet 'restricted' (exceptions: {exceptions})"
    return item


def _where(ctx: Context, obj: KObject) -> str:
    patched = f" (patched by {', '.join(ctx.rel(p) for p in obj.patched_by)})" if obj.patched_by else ""
    return ctx.rel(obj.source) + patched


def _relative(ctx: Context, text: str) -> str:
    return text.replace(str(ctx.root) + "/", "").replace(str(ctx.root), ".")


def kubernetes_items(ctx: Context, target: str, by_python: PythonRender) -> list[Item]:
    """Render one kustomization, then check its objects' schemas and pod security (each item timed)."""
    start = time.perf_counter()
    render, objects = render_item(ctx, target, by_python)
    render.duration_s = time.perf_counter() - start
    if objects is None:
        why = "the kustomization did not render"
        return [
            render,
            Item(f"lint.schema[{target_name(target)}]", f"schemas of {target_name(target)}", skipped=why),
            Item(
                f"lint.podsecurity[{target_name(target)}]",
                f"Pod Security of {target_name(target)}",
                skipped=why,
            ),
        ]
    items = [render]
    for check in (schema_item, podsecurity_item):
        start = time.perf_counter()
        items.append(check(ctx, target, objects))
        items[-1].duration_s = time.perf_counter() - start
    return items
