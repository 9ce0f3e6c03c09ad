"""The local Loki: loki.yaml from manifests/ on loopback, under the state dir, with a fast start."""
from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stackcheck.local.ports import LOOPBACK, Ports, addr, url
from stackcheck.local.service import Service
from stackcheck.local.services.common import SOURCES, config_dir, dump, load
from stackcheck.manifests import Manifests

#: Loki's ingester waits this long after it is ready before ``/ready`` says so (default 15s, which is
#: there for rolling updates of a ring; one local instance has none, and 15s is half the ready budget).
LOKI_MIN_READY = "1s"
#: The query frontend's first scheduler lookup is the other start-up delay (``/ready``: "Query Frontend not
#: ready: ... connected to is 0", 10 s by default, loki.md §5). The local Loki looks every second, for the
#: querier's worker too, at an explicit scheduler address: the in-process scheduler on its own gRPC port.
#: The address matters: with the scheduler *ring* (what single-binary Loki uses without one), a frontend
#: that connects before the scheduler's first ring check (3 s) waits forever for its INIT answer and every
#: query hangs (seen on a real 3.6.11). Without the ring the scheduler accepts frontends from the start;
#: ready in about 2 s, and queries answer at once.
LOKI_SCHEDULER_LOOKUP = "1s"

#: Keys of loki.yaml that hold filesystem paths (rebased under the state dir wherever they appear).
LOKI_PATH_KEYS = frozenset({
    "path_prefix", "chunks_directory", "rules_directory", "directory", "working_directory",
    "active_index_directory", "cache_location", "dir", "rule_path", "tokens_file_path",
})


def loki_config(manifests: Manifests, ports: Ports, data_dir: Path) -> dict[str, Any]:
    """loki.yaml with loopback listeners, every path under ``data_dir``, in-memory rings and a fast start
    (:data:`LOKI_MIN_READY`, :data:`LOKI_SCHEDULER_LOOKUP`).

    Retention (limits_config, compactor), schema and limits are kept as written: the local Loki enforces
    the same 744h as the cluster's. Rings already use the in-memory store in single-binary mode; this is
    forced so that a fork using memberlist does not gossip on the network.
    """
    config = copy.deepcopy(load(manifests.config_dir / SOURCES["loki"][0]))
    server = config.setdefault("server", {})
    server.update(http_listen_address=LOOPBACK, http_listen_port=ports.loki,
                  grpc_listen_address=LOOPBACK, grpc_listen_port=ports.loki_grpc)
    common = config.setdefault("common", {})
    old_prefix = str(common.get("path_prefix") or "")
    _rebase_paths(config, old_prefix, data_dir)
    common["path_prefix"] = str(data_dir)
    common["instance_addr"] = LOOPBACK
    common["replication_factor"] = 1
    ring = common.setdefault("ring", {})
    ring["kvstore"] = {"store": "inmemory"}
    if "instance_addr" in ring:
        ring["instance_addr"] = LOOPBACK
    memberlist = config.setdefault("memberlist", {})
    memberlist.pop("join_members", None)
    memberlist.update(bind_addr=[LOOPBACK], bind_port=ports.loki_memberlist)
    config.setdefault("ingester", {}).setdefault("lifecycler", {})["min_ready_duration"] = LOKI_MIN_READY
    scheduler = addr(ports.loki_grpc)
    config.setdefault("frontend", {}).update(scheduler_address=scheduler,
                                             scheduler_dns_lookup_period=LOKI_SCHEDULER_LOOKUP)
    config.setdefault("frontend_worker", {}).update(scheduler_address=scheduler,
                                                    dns_lookup_duration=LOKI_SCHEDULER_LOOKUP)
    return config


def _rebase_paths(node: Any, old_prefix: str, new_prefix: Path) -> None:
    """Move every path-valued key under ``new_prefix``: below ``old_prefix`` keeps its relative part."""
    if isinstance(node, list):
        for item in node:
            _rebase_paths(item, old_prefix, new_prefix)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key in LOKI_PATH_KEYS and isinstance(value, str) and value:
            node[key] = str(_rebase(value, old_prefix, new_prefix))
        else:
            _rebase_paths(value, old_prefix, new_prefix)


def _rebase(path: str, old_prefix: str, new_prefix: Path) -> Path:
    """``/var/loki/chunks`` → ``<new>/chunks``; a path outside the old prefix keeps its whole path below."""
    old = Path(old_prefix) if old_prefix else None
    given = Path(path)
    if old is not None and (given == old or old in given.parents):
        return new_prefix / given.relative_to(old)
    return new_prefix / "elsewhere" / str(given).lstrip("/")


def plan(manifests: Manifests, ports: Ports, state_dir: Path, binary: Path, *, factor: float,
         running: Sequence[str]) -> Service:
    """Loki in single-binary mode (``-target=all``), ready when ``/ready`` says so."""
    data = state_dir / "data" / "loki"
    data.mkdir(parents=True, exist_ok=True)
    path = dump(loki_config(manifests, ports, data), config_dir(state_dir, "loki") / "loki.yaml")
    return Service("loki", [str(binary), f"-config.file={path}", "-target=all"],
                   f"{url(ports.loki)}/ready", url(ports.loki))
