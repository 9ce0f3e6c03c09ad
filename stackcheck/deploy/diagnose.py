"""Why an object is not ready, in the cluster's own words.

For each object a wait left behind, :func:`diagnose` prints:

- its status (kstatus) and its last conditions;
- its pods: the scheduler's reason (``PodScheduled=False Unschedulable: no nodes available to
  schedule pods``) and each container's waiting reason (``ImagePullBackOff``);
- its PersistentVolumeClaims (from the volume claim templates and the pods' volumes), their phase
  and StorageClass;
- a restarted container's last exit (``lastState.terminated``: exit code, reason, finishedAt) and the
  ``kubectl logs --previous`` command that shows that run's output (without ``--previous`` while
  the container is down before its restart: then the ended run is the current container);
- the newest events about all of these, in one timeline, oldest first, from both event APIs
  (core/v1 and events.k8s.io/v1, merged and de-duplicated; one whose message a waiting reason above
  already quotes is left out), so "timed out waiting for the condition" is never all a user gets; a
  Deployment's include its ReplicaSets' (``FailedCreate`` is the ReplicaSet's event, not the
  Deployment's);
- when the API server's words say PodSecurity refused the pods, the fix: the pod's securityContext
  or the namespace's ``pod-security.kubernetes.io/enforce`` label.
"""
from __future__ import annotations

import re
from typing import Any

from rich.console import Console
from rich.markup import escape

from stackcheck.deploy.admission import event_stamp
from stackcheck.deploy.crashloop import last_exit
from stackcheck.deploy.wait import Tracked, short
from stackcheck.errors import StackcheckError
from stackcheck.kube.access import KubeAccess
from stackcheck.kube.apply import Ref, podsecurity_fix, read
from stackcheck.kube.status import PODSECURITY_LEVEL, condition, waiting_reasons

NEWEST_EVENTS = 3
Json = dict[str, Any]


def events_by_object(kube: KubeAccess,
                     namespace: str) -> dict[tuple[str, str], list[tuple[str, str, str, str]]]:
    """(kind, name) → [(when, type, reason, message)], newest first, from both event APIs."""
    found: dict[tuple[str, str], set[tuple[str, str, str, str]]] = {}
    sources = ((f"/api/v1/namespaces/{namespace}/events", "involvedObject", "message"),
               (f"/apis/events.k8s.io/v1/namespaces/{namespace}/events", "regarding", "note"))
    for path, about, text in sources:
        try:
            items = kube.request(f"list events in {namespace}", "GET", path,
                                 accept=(404,)).body.get("items") or []
        except StackcheckError:
            continue  # events are evidence, not a requirement: RBAC may deny them
        for event in items:
            ref = event.get(about) or {}
            key = (str(ref.get("kind")), str(ref.get("name")))
            found.setdefault(key, set()).add((event_stamp(event), str(event.get("type", "")),
                                              str(event.get("reason", "")), str(event.get(text, ""))))
    out: dict[tuple[str, str], list[tuple[str, str, str, str]]] = {}
    for key, entries in found.items():
        newest: dict[tuple[str, str], tuple[str, str, str, str]] = {}
        for entry in sorted(entries, reverse=True):
            newest.setdefault((entry[2], _gist(entry[3])), entry)  # one line per reason+gist, its newest
        out[key] = sorted(newest.values(), reverse=True)
    return out


_COMBINED = "(combined from similar events): "
_GENERATED_POD = re.compile(r'pods "[^"]+"')


def _gist(message: str) -> str:
    """A message without what differs between a controller's retries: the generated pod name, and the
    recorder's "(combined from similar events)" prefix (contracts j7)."""
    return _GENERATED_POD.sub('pods "…"', message.removeprefix(_COMBINED))


def claims_of(item: Tracked) -> list[str]:
    """PVC names a workload uses: its volume claim templates' claims and its pods' claims."""
    names: list[str] = []
    live = item.live or {}
    spec = live.get("spec") or {}
    replicas = int(spec.get("replicas", 1) or 1)
    for template in spec.get("volumeClaimTemplates") or []:
        names += [f"{template['metadata']['name']}-{item.ref.name}-{i}" for i in range(replicas)]
    for pod in item.pods:
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                names.append(str(claim))
    if item.ref.kind == "PersistentVolumeClaim":
        names.append(item.ref.name)
    return list(dict.fromkeys(names))


Events = dict[tuple[str, str], list[tuple[str, str, str, str]]]


def replicasets_of(item: Tracked, events: Events) -> list[str]:
    """A Deployment's ReplicaSets that have events: ``<deployment>-<pod-template-hash>``."""
    if item.ref.kind != "Deployment":
        return []
    own = re.compile(re.escape(item.ref.name) + r"-[a-z0-9]+")
    return sorted(name for kind, name in events if kind == "ReplicaSet" and own.fullmatch(name))


def _once(message: str, said: str) -> str | None:
    """An event's message, unless the lines above already quote it: None when all of it is there, its
    first clause when its error chain is (``Failed to pull image "X": <chain>`` after a waiting reason
    ``Back-off pulling image "X": ErrImagePull: <chain>``, as the real kubelet writes both)."""
    if message in said:
        return None
    first = short(message)  # up to the first quoted name; the chain follows after '": '
    chain = message[len(first) + 2:]
    if first != message and len(chain) > 37 and chain in said:
        return f"{first} (the error quoted above)"
    return message


def _crashed(kube: KubeAccess, pod: Json) -> list[str]:
    """How each restarted container last ended (``lastState.terminated``) and how to read that run's log."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    out = []
    for entry in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        ended = last_exit(entry)
        if not ended or not int(entry.get("restartCount") or 0):
            continue
        name, restarts = entry.get("name"), entry.get("restartCount")
        logs = kube.kubectl(f"-n {meta.get('namespace')} logs {meta.get('name')} -c {name}")
        out.append(f"    container {name} last terminated: {ended}, restarted {restarts} times")
        if (entry.get("state") or {}).get("terminated"):
            # Down, not yet restarted: the run that ended is the current container. --previous would
            # ask for the one before it, which the kubelet has removed (seen on the real kubelet).
            out.append(f"      its log: {logs}  (after its next restart: add --previous)")
        else:
            out.append(f"      its log: {logs} --previous")
    return out


def lines_for(kube: KubeAccess, item: Tracked, events: dict[tuple[str, str], list[tuple[str, str, str, str]]]
              ) -> list[str]:
    """The diagnosis of one object, one line each."""
    out = [f"{item.ref}: {item.result.status}: {item.result.message}"]
    conditions = ((item.live or {}).get("status") or {}).get("conditions") or []
    for entry in conditions[-4:]:
        out.append(f"  condition {entry.get('type')}={entry.get('status')} {entry.get('reason', '')}: "
                   f"{entry.get('message', '')}".rstrip(": "))
    related = [(item.ref.kind, item.ref.name)] + [("ReplicaSet", rs) for rs in replicasets_of(item, events)]
    for pod in item.pods:
        name = str((pod.get("metadata") or {}).get("name"))
        related.append(("Pod", name))
        phase = (pod.get("status") or {}).get("phase")
        scheduled = condition(pod, "PodScheduled")
        if scheduled is not None and scheduled.get("status") == "False":
            out.append(f"  pod {name} {phase}: not scheduled ({scheduled.get('reason')}): "
                       f"{scheduled.get('message')}")
        else:
            out.append(f"  pod {name} {phase}")
        for container, reason, message in waiting_reasons(pod):
            out.append(f"    container {container} waiting: {reason}{': ' + message if message else ''}")
        out += _crashed(kube, pod)
    for claim in claims_of(item):
        related.append(("PersistentVolumeClaim", claim))
        pvc = read(kube, Ref("", "PersistentVolumeClaim", item.ref.namespace, claim))
        if pvc is None:
            out.append(f"  claim {claim}: not created yet")
            continue
        storage_class = (pvc.get("spec") or {}).get("storageClassName")
        out.append(f"  claim {claim}: {(pvc.get('status') or {}).get('phase')}, StorageClass "
                   f"{storage_class or '(none set, and no default StorageClass took it)'}")
    timeline = sorted((entry, kind, name) for kind, name in dict.fromkeys(related)
                      for entry in events.get((kind, name), [])[:NEWEST_EVENTS])
    said = "\n".join(out)
    shown = 0
    for (when, kind_of, reason, message), kind, name in timeline:  # one timeline, oldest first
        told = _once(message, said)
        if told is None:
            continue  # the kubelet's message is already quoted above (a container's waiting reason)
        out.append(f"  event {when} {kind} {name}: {kind_of} {reason}: {told}")
        shown += 1
    if not timeline:
        out.append("  no events recorded for it")
    refused = PODSECURITY_LEVEL.search("\n".join(out))
    if refused is not None:
        out.append(f"  fix: {podsecurity_fix(item.ref.namespace, refused['level'])}")
    return out


def diagnose(kube: KubeAccess, items: list[Tracked], console: Console) -> list[dict[str, Any]]:
    """Print the diagnosis of every object that is not Current; returns it as data (for --json)."""
    pending = [i for i in items if i.result.status != "Current"]
    cache: dict[str, dict[tuple[str, str], list[tuple[str, str, str, str]]]] = {}
    report = []
    for item in pending:
        ns = item.ref.namespace
        if ns not in cache:
            cache[ns] = events_by_object(kube, ns) if ns else {}
        lines = lines_for(kube, item, cache[ns])
        for line in lines:
            console.print(escape(line), soft_wrap=True)  # unwrapped: the kubectl commands stay pasteable
        report.append({"object": str(item.ref), "status": item.result.status, "details": lines[1:]})
    return report
