"""PodSecurity admission for kubefake: a small, honest subset of the Pod Security Standards.

Built from the real 1.36 captures (``shared/contracts/kubernetes.md`` j1–j8, rows 21 and 22 of its
"Where a naive double goes wrong") and from answers of the same server checked by hand (noted
"by hand" below). What the double does:

- the policy comes from the namespace's labels ``pod-security.kubernetes.io/{enforce,warn,audit}``
  and their ``-version`` (default ``latest``); an absent ``warn`` label takes the ``enforce`` level
  (by hand: a namespace labelled only ``enforce=restricted`` warns on a violating Deployment);
- a Pod whose spec violates ``enforce`` is refused with j1's 403 ``Forbidden`` Status, before the
  name check (a violating Pod under an existing name is 403, not 409); a Pod that passes
  ``enforce`` but violates ``warn`` is created with a ``Warning`` header (by hand);
- a workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob) is never refused; each
  create, patch or apply whose pod template violates ``warn`` answers with j4's ``Warning`` header,
  even an apply that changes nothing (by hand);
- the controllers (:mod:`tests.kubefake_controllers`) then fail to create the pods of a template
  that violates ``enforce``: see :func:`refusal`;
- ``audit`` has no visible effect on a response, so it is parsed and ignored.

Checks modelled (the ones the shipped manifests and the tests can reach), in the server's order
(baseline checks by id, then restricted checks by id; a restricted check replaces the baseline one it
supersedes): baseline ``non-default capabilities``, ``host namespaces``, ``hostPath volumes``,
``hostPort``, ``privileged``; restricted ``allowPrivilegeEscalation != false``, ``unrestricted
capabilities``, ``restricted volume types``, ``runAsNonRoot != true``, ``seccompProfile``. The
wording of each, singular and plural, is the server's (j1, j4, j5 and by hand).

- a Namespace update that makes ``enforce`` stricter answers with the server's warnings about the
  pods already there that the new level refuses, grouped by their violations (by hand):
  ``existing pods in namespace "x" violate the new PodSecurity enforce level "restricted:latest"``,
  then ``a1 (and 2 other pods): allowPrivilegeEscalation != false, …`` (:func:`namespace_warnings`).

Not modelled: AppArmor, procMount, SELinux, sysctls, Windows host process, ``runAsUser=0``, a
``Unconfined`` seccomp profile, per-version differences (every version is judged by ``latest``'s
rules), exemptions, and which pod updates are re-evaluated (a Pod is evaluated on create only).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]
LABEL = "pod-security.kubernetes.io/"
LEVELS = ("privileged", "baseline", "restricted")
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"})
#: Capabilities baseline allows in ``capabilities.add`` (the container runtimes' defaults).
BASELINE_CAPABILITIES = frozenset({"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL",
                                   "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID",
                                   "SYS_CHROOT"})
RESTRICTED_VOLUME_TYPES = frozenset({"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                                     "persistentVolumeClaim", "projected", "secret"})


@dataclass(frozen=True)
class Level:
    """One mode's level and version: ``restricted:latest``."""

    level: str
    version: str = "latest"

    def __str__(self) -> str:
        return f"{self.level}:{self.version}"


@dataclass(frozen=True)
class Policy:
    enforce: Level
    warn: Level
    audit: Level


def policy(namespace: Json | None) -> Policy:
    """The namespace's PodSecurity policy from its labels (privileged when unlabelled)."""
    labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}

    def mode(name: str, default: Level) -> Level:
        level = labels.get(LABEL + name)
        if level not in LEVELS:
            return default
        return Level(level, labels.get(f"{LABEL}{name}-version", "latest"))

    enforce = mode("enforce", Level("privileged"))
    return Policy(enforce, mode("warn", enforce), mode("audit", enforce))


def _quote(names: list[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _containers(spec: Json) -> list[Json]:
    return [c for key in ("initContainers", "containers") for c in spec.get(key) or []]


def _who(names: list[str], noun: str = "container") -> str:
    return f"{noun}{'s' if len(names) > 1 else ''} {_quote(names)}"


def _capabilities(spec: Json, allowed: frozenset[str], require_drop: bool) -> str | None:
    missing_drop, adding, bad = [], [], set()
    for c in _containers(spec):
        caps = (c.get("securityContext") or {}).get("capabilities") or {}
        if require_drop and "ALL" not in (caps.get("drop") or []):
            missing_drop.append(c["name"])
        extra = {str(a) for a in caps.get("add") or []} - allowed
        if extra:
            adding.append(c["name"])
            bad |= extra
    details = []
    if missing_drop:
        details.append(f'{_who(missing_drop)} must set securityContext.capabilities.drop=["ALL"]')
    if adding:
        details.append(f"{_who(adding)} must not include {_quote(sorted(bad))} in "
                       "securityContext.capabilities.add")
    return "; ".join(details) or None


def _host_namespaces(spec: Json) -> str | None:
    found = [f"{key}=true" for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key)]
    return ", ".join(found) or None


def _host_path(spec: Json) -> str | None:
    names = [v["name"] for v in spec.get("volumes") or [] if "hostPath" in v]
    return f"{_who(names, 'volume')}" if names else None


def _host_ports(spec: Json) -> str | None:
    names, ports = [], []
    for c in _containers(spec):
        used = [int(p["hostPort"]) for p in c.get("ports") or [] if p.get("hostPort")]
        if used:
            names.append(c["name"])
            ports += used
    if not names:
        return None
    verb = "use" if len(names) > 1 else "uses"
    return f"{_who(names)} {verb} hostPort{'s' if len(ports) > 1 else ''} {', '.join(map(str, ports))}"


def _privileged(spec: Json) -> str | None:
    names = [c["name"] for c in _containers(spec) if (c.get("securityContext") or {}).get("privileged")]
    return f"{_who(names)} must not set securityContext.privileged=true" if names else None


def _escalation(spec: Json) -> str | None:
    names = [c["name"] for c in _containers(spec)
             if (c.get("securityContext") or {}).get("allowPrivilegeEscalation") is not False]
    return f"{_who(names)} must set securityContext.allowPrivilegeEscalation=false" if names else None


def _volumes(spec: Json) -> str | None:
    names, types = [], []
    for volume in spec.get("volumes") or []:
        kind = next((k for k in volume if k != "name"), "")
        if kind and kind not in RESTRICTED_VOLUME_TYPES:
            names.append(volume["name"])
            types.append(kind)
    if not names:
        return None
    verb = "use" if len(names) > 1 else "uses"
    unique = list(dict.fromkeys(types))
    return (f"{_who(names, 'volume')} {verb} restricted volume type{'s' if len(unique) > 1 else ''} "
            f"{_quote(unique)}")


def _non_root(spec: Json) -> str | None:
    """Explicit ``false`` settings first ("pod and container "a" must not set …"); only without them
    the containers that leave it unset (as upstream's check_runAsNonRoot)."""
    pod = (spec.get("securityContext") or {}).get("runAsNonRoot")
    explicit = [c["name"] for c in _containers(spec)
                if (c.get("securityContext") or {}).get("runAsNonRoot") is False]
    implicit = [c["name"] for c in _containers(spec)
                if (c.get("securityContext") or {}).get("runAsNonRoot") is None]
    setters = (["pod"] if pod is False else []) + ([_who(explicit)] if explicit else [])
    if setters:
        return f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false"
    if pod is None and implicit:
        return f"pod or {_who(implicit)} must set securityContext.runAsNonRoot=true"
    return None


def _seccomp(spec: Json) -> str | None:
    pod = ((spec.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
    implicit = [c["name"] for c in _containers(spec)
                if not ((c.get("securityContext") or {}).get("seccompProfile") or {}).get("type")]
    if pod is None and implicit:
        return (f'pod or {_who(implicit)} must set securityContext.seccompProfile.type to "RuntimeDefault" '
                'or "Localhost"')
    return None


def _checks(level: str, spec: Json) -> list[tuple[str, str]]:
    """(check, detail) for each check of ``level`` the pod spec fails, in the server's order."""
    if level == "privileged":
        return []
    restricted = level == "restricted"
    checks: list[tuple[str, str | None]] = []  # mypy: the detail is None when the check passes
    if not restricted:
        checks.append(("non-default capabilities", _capabilities(spec, BASELINE_CAPABILITIES, False)))
    checks.append(("host namespaces", _host_namespaces(spec)))
    if not restricted:
        checks.append(("hostPath volumes", _host_path(spec)))
    checks += [("hostPort", _host_ports(spec)), ("privileged", _privileged(spec))]
    if restricted:
        checks += [("allowPrivilegeEscalation != false", _escalation(spec)),
                   ("unrestricted capabilities", _capabilities(spec, frozenset({"NET_BIND_SERVICE"}), True)),
                   ("restricted volume types", _volumes(spec)),
                   ("runAsNonRoot != true", _non_root(spec)),
                   ("seccompProfile", _seccomp(spec))]
    return [(name, detail) for name, detail in checks if detail is not None]


def violations(level: str, spec: Json) -> list[str]:
    """``check (detail)`` for each check of ``level`` the pod spec fails, in the server's order."""
    return [f"{name} ({detail})" for name, detail in _checks(level, spec)]


def pod_spec_of(obj: Json) -> Json | None:
    """The pod spec a Pod or a workload carries (a CronJob's is one level deeper)."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "Pod":
        return spec
    if obj.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return (spec.get("template") or {}).get("spec")


def forbidden_message(plural: str, name: str, level: Level, found: list[str]) -> str:
    """j1: ``pods "x" is forbidden: violates PodSecurity "restricted:latest": …``."""
    return f'{plural} "{name}" is forbidden: violates PodSecurity "{level}": {", ".join(found)}'


def warning(level: Level, found: list[str]) -> str:
    """j4's ``Warning`` header value: ``299 - "would violate PodSecurity \\"restricted:latest\\": …"``."""
    return _warning_header(f'would violate PodSecurity "{level}": {", ".join(found)}')


def admit(namespace: Json | None, obj: Json, *, creating: bool) -> tuple[str | None, list[str]]:
    """(the 403 message when refused, the ``Warning`` headers) for one write of ``obj``."""
    kind = obj.get("kind")
    spec = pod_spec_of(obj)
    if spec is None or (kind == "Pod" and not creating) or (kind != "Pod" and kind not in WORKLOAD_KINDS):
        return None, []
    rules = policy(namespace)
    name = str((obj.get("metadata") or {}).get("name", ""))
    if kind == "Pod":
        refused = violations(rules.enforce.level, spec)
        if refused:
            return forbidden_message("pods", name, rules.enforce, refused), []
    warned = violations(rules.warn.level, spec)
    return None, [warning(rules.warn, warned)] if warned else []


def refusal(namespace: Json | None, template_spec: Json, pod_name: str) -> str | None:
    """The 403 message a controller gets for a pod of this template (j6, j7), or None when allowed."""
    rules = policy(namespace)
    found = violations(rules.enforce.level, template_spec)
    return forbidden_message("pods", pod_name, rules.enforce, found) if found else None


def _warning_header(text: str) -> str:
    return '299 - "' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def namespace_warnings(old: Json | None, new: Json, pods: list[Json]) -> list[str]:
    """The Warning headers of a Namespace update whose stricter ``enforce`` the pods there fail (by hand)."""
    before, after = policy(old).enforce, policy(new).enforce
    if old is None or LEVELS.index(after.level) <= LEVELS.index(before.level):
        return []
    groups: dict[str, list[str]] = {}
    for pod in pods:
        found = _checks(after.level, pod.get("spec") or {})
        if found:
            groups.setdefault(", ".join(name for name, _ in found), []).append(pod["metadata"]["name"])
    if not groups:
        return []
    namespace = new["metadata"]["name"]
    out = [f'existing pods in namespace "{namespace}" violate the new PodSecurity enforce level "{after}"']
    for reasons, names in sorted(groups.items(), key=lambda item: min(item[1])):
        first, others = min(names), len(names) - 1
        more = f" (and {others} other pod{'s' if others > 1 else ''})" if others else ""
        out.append(f"{first}{more}: {reasons}")
    return [_warning_header(text) for text in out]
