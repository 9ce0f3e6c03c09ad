"""``lint.promise[<name>]``: what each shipped config promises its consumers, checked where it is written.

Syntax checks (promtool, amtool, schemas) pass a Loki that keeps nothing for 31 days, a Grafana
datasource pointing at a port nobody listens on, or an Alertmanager reading a secret from a file no
volume provides. Each promise here is one value that a component, a check of ``verify`` or another file
relies on. It is read in the file that sets it and followed into the files that rely on it (the
rendered Kubernetes objects, the other configs, the local runtime and the checks). A broken promise
fails with one message naming the file, the key, the value found, who relies on it and the fix.

The promises live in one module per component (:mod:`.loki`, :mod:`.jaeger`, :mod:`.grafana`,
:mod:`.prometheus`, :mod:`.exporters`, :mod:`.alertmanager`, :mod:`.verify`) and share
:class:`~.stack.Stack`, which follows values through the rendered objects. A promise is a check function
under ``@promise`` (``@workload_promise`` / ``@probe_promise`` when it reads one workload, which then has
one answer for manifests without it), and its docstring is the title lint prints; the promises every
component makes alike (``<name>.config_mounted``, ``<name>.listen_ports``) are rows of
:func:`~.common.config_promise` and :func:`~.common.listen_promise`. They are pure Python on
already-parsed files: the whole stage renders each kustomization once more with stackcheck's renderer
(~50 ms each) and adds little to lint.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from stackcheck.lint.context import Context
from stackcheck.lint.objects import KObject
from stackcheck.lint.promises import alertmanager, exporters, grafana, jaeger, loki, prometheus, verify
from stackcheck.lint.promises.model import Promise
from stackcheck.lint.promises.shapes import shape_problems
from stackcheck.lint.promises.stack import Stack
from stackcheck.lint.render import RenderError, render_python
from stackcheck.lint.result import Item

#: Every promise, in the order lint prints them.
PROMISES: tuple[Promise, ...] = (
    *loki.PROMISES,
    *jaeger.PROMISES,
    *grafana.PROMISES,
    *prometheus.PROMISES,
    *exporters.PROMISES,
    *alertmanager.PROMISES,
    *verify.PROMISES,
)


def load_stack(ctx: Context) -> Stack:
    """Render every kustomization lint renders (a failed one is None: lint.render[...] says why)."""
    renderings: dict[str, list[KObject] | None] = {}
    for target in ctx.render_targets:
        try:
            renderings[target] = render_python(ctx.root / target)
        except RenderError:
            renderings[target] = None
    return Stack(ctx, renderings)


def promise_items(ctx: Context, promises: tuple[Promise, ...] = PROMISES) -> list[Item]:
    """One item per promise: passed with what was found, failed with each broken link, or skipped."""
    stack = load_stack(ctx)
    items = []
    for promise in promises:
        start = time.perf_counter()
        item = Item(f"lint.promise[{promise.name}]", f"promise {promise.name}: {promise.title}")
        if promise.optional and not stack.path(promise.optional).is_file():
            item.skipped = (
                f"{stack.rel(promise.optional)} is absent: this stack runs another log collector "
                "(DESIGN.md: the checks do not depend on it)"
            )
        elif promise.needs_objects and stack.objects is None:
            item.skipped = "the manifests did not render (lint.render[manifests] says why)"
        else:
            try:
                verdict = promise.check(stack)
            except Exception as exc:  # noqa: BLE001 - a bug in one promise must not hide the others
                shapes = shape_problems(stack)
                if shapes:  # a section of the wrong type: say which, not "a bug in lint"
                    item.problems = shapes
                else:
                    item.error = f"{type(exc).__name__}: {exc}"
            else:
                item.summary, item.problems = verdict.summary, list(verdict.problems)
        item.duration_s = time.perf_counter() - start
        items.append(item)
    return items


def promise_tasks(ctx: Context) -> list[tuple[str, Callable[[], list[Item]]]]:
    """The runner's task for this stage (one task: the renderings are shared by every promise)."""
    return [("lint.promise", lambda: promise_items(ctx))]
