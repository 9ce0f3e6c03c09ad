"""``stackcheck deploy`` and ``stackcheck destroy``: the stack into a cluster and out again.

    plan        render an overlay with lint's renderer; order; which overlay is disposable
    secrets     the Secrets the manifests mount but never hold: created once, never overwritten
    inventory   an ApplySet-compatible parent Secret listing every applied object with its uid
    wait        kstatus waits with a live table, budgets and fail-fast
    diagnose    for each object not ready: conditions, events, waiting reasons, claims
    run         deploy itself; destroy: the inventory, deleted in reverse and waited for
    cli         the two subcommands' options
"""
from __future__ import annotations
