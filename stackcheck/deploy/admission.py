"""Pods a StatefulSet or DaemonSet could not create because PodSecurity refused them, from its events.

A Deployment says so in a condition (``ReplicaFailure``, :func:`stackcheck.kube.status.admission_refusal`).
A StatefulSet does not: seen by hand on the real 1.36 API server, it keeps ``replicas 0`` and no
condition, and the only trace is a ``FailedCreate`` event of its own, ``Create Pod x-0 in StatefulSet x
failed error: pods "x-0" is forbidden: violates PodSecurity "restricted:latest": …``. The DaemonSet
controller writes the same event (``Error creating: pods "x-7q8h4" is forbidden: …``, seen with a node
registered). So the wait reads those events for such a workload that has no pod yet.

An event outlives its cause (events are kept for an hour): one older than the object's last write
(the newest ``managedFields`` time outside ``status``) may describe a template that has been fixed
since, and is not trusted.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from stackcheck.errors import StackcheckError
from stackcheck.kube.access import KubeAccess
from stackcheck.kube.status import FAILED, PODSECURITY_REFUSAL, Result

#: Workloads whose refused pods show only in events.
REFUSED_BY_EVENT = ("StatefulSet", "DaemonSet")
Json = dict[str, Any]


def _time(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def event_stamp(event: Json) -> str:
    """When an event (core/v1 or events.k8s.io/v1) was last seen, as the server wrote it; or ''."""
    series = event.get("series") or {}
    return str(series.get("lastObservedTime") or event.get("lastTimestamp")
               or event.get("deprecatedLastTimestamp") or event.get("eventTime")
               or (event.get("metadata") or {}).get("creationTimestamp") or "")


def last_write(live: Json) -> datetime | None:
    """When the object's spec or metadata was last written (its managedFields, status aside)."""
    times = [_time(entry.get("time")) for entry in (live.get("metadata") or {}).get("managedFields") or []
             if entry.get("subresource") != "status"]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def refused_by_admission(kube: KubeAccess, live: Json) -> Result | None:
    """``Failed`` when the newest ``FailedCreate`` event since the last write says PodSecurity refused."""
    meta = live.get("metadata") or {}
    namespace, name, kind = meta.get("namespace"), meta.get("name"), live.get("kind")
    selector = f"involvedObject.kind={kind},involvedObject.name={name},reason=FailedCreate"
    try:
        items = kube.request(f"list the events of {kind} {namespace}/{name}", "GET",
                             f"/api/v1/namespaces/{namespace}/events",
                             query=[("fieldSelector", selector)]).body.get("items") or []
    except StackcheckError:
        return None  # events are evidence, not a requirement: RBAC may deny them
    since = last_write(live)
    dated = [(when, e) for e in items if (when := _time(event_stamp(e))) is not None]
    fresh = [(when, e) for when, e in dated if since is None or when >= since]
    if not fresh:
        return None
    newest = str(max(fresh, key=lambda pair: pair[0])[1].get("message", ""))
    message = newest.removeprefix("(combined from similar events): ")  # the recorder's aggregate
    if PODSECURITY_REFUSAL not in message:
        return None
    return Result(FAILED, f"PodSecurity refused its pods (FailedCreate event): {message}", "PodSecurity")
