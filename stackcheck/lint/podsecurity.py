"""The Pod Security "restricted" profile, checked on pod templates before admission would reject them.

Nothing here has a cluster, so a pod that admission would refuse (or, in a lenient namespace, a pod
that quietly runs privileged) shows up only here. The checks follow the Pod Security Standards'
restricted level, tightened where manifests/README.md asks for more (a non-zero ``runAsUser``).

Exceptions are per application *and* per rule: node-exporter may use the host's namespaces, paths and
ports, and nothing else, so a privileged container there still fails.

>>> [str(v) for v in violations({"kind": "Pod", "spec": {"hostPID": True, "containers": []}})]
['hostPID: true']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Apps allowed to fall short of "restricted", and the rules they may break (manifests/README.md,
#: "Pod Security exceptions"): node-exporter reports the node, so it needs the host's view.
POD_SECURITY_EXCEPTIONS: dict[str, frozenset[str]] = {
    "node-exporter": frozenset({"hostNetwork", "hostPID", "hostPath", "hostPort"}),
}
#: Volume types the restricted level allows.
RESTRICTED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
#: Sysctls the baseline/restricted levels allow.
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
WORKLOAD_KINDS = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController"}
)


@dataclass(frozen=True)
class Violation:
    """One way a pod template falls short of "restricted": the rule, and where (``container x`` or pod)."""

    rule: str
    text: str
    container: str | None = None

    def __str__(self) -> str:
        return f"container {self.container}: {self.text}" if self.container else self.text


def pod_template(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template (``metadata`` + ``spec``) of a workload, CronJob or Pod; None for other kinds."""
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind == "Pod":
        return obj
    if kind == "CronJob":
        return dict(((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {})
    if kind in WORKLOAD_KINDS:
        return dict(spec.get("template") or {})
    return None


def violations(obj: dict[str, Any]) -> list[Violation]:
    """Every rule of "restricted" the pod template of ``obj`` breaks (empty when it has none)."""
    template = pod_template(obj)
    if template is None:
        return []
    spec = template.get("spec") or {}
    pod_sc = spec.get("securityContext") or {}
    found = [Violation(k, f"{k}: true") for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if "hostPath" in kinds:
            found.append(Violation("hostPath", f"volume {volume.get('name')} is hostPath"))
        elif kinds - RESTRICTED_VOLUME_TYPES:
            found.append(
                Violation("volumeType", f"volume {volume.get('name')} is {', '.join(sorted(kinds))}")
            )
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            found.append(Violation("sysctls", f"unsafe sysctl {sysctl.get('name')}"))
    containers = [
        *(spec.get("initContainers") or []),
        *(spec.get("containers") or []),
        *(spec.get("ephemeralContainers") or []),
    ]
    for container in containers:
        found += _container_violations(container, pod_sc)
    return found


def _container_violations(c: dict[str, Any], pod_sc: dict[str, Any]) -> list[Violation]:
    sc = c.get("securityContext") or {}
    name = str(c.get("name", "?"))
    found: list[Violation] = []

    def add(rule: str, text: str) -> None:
        found.append(Violation(rule, text, name))

    if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
        add("runAsNonRoot", "runAsNonRoot not true")
    if sc.get("runAsUser", pod_sc.get("runAsUser")) in (0, None):
        add("runAsUser", "runAsUser unset or 0")
    if sc.get("allowPrivilegeEscalation") is not False:
        add("allowPrivilegeEscalation", "allowPrivilegeEscalation not false")
    if sc.get("privileged"):
        add("privileged", "privileged")
    caps = sc.get("capabilities") or {}
    if "ALL" not in (caps.get("drop") or []):
        add("capabilities", "capabilities not dropped (drop: [ALL])")
    if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
        add("capabilities", f"adds capabilities {caps['add']}")
    seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
    if seccomp not in ("RuntimeDefault", "Localhost"):
        add("seccompProfile", "seccompProfile not RuntimeDefault")
    if sc.get("procMount") not in (None, "Default"):
        add("procMount", f"procMount {sc['procMount']}")
    if (sc.get("windowsOptions") or pod_sc.get("windowsOptions") or {}).get("hostProcess"):
        add("hostProcess", "windowsOptions.hostProcess")
    if (sc.get("appArmorProfile") or pod_sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
        add("appArmor", "appArmorProfile Unconfined")
    if any("hostPort" in p for p in c.get("ports") or []):
        add("hostPort", "hostPort")
    return found


def restricted_violations(obj: dict[str, Any]) -> list[str]:
    """The violations of ``obj`` as text, with no exception applied (what admission would refuse)."""
    return [str(v) for v in violations(obj)]


def app_name(obj: dict[str, Any]) -> str:
    """``app.kubernetes.io/name`` of the pod template, else of the object."""
    template = pod_template(obj) or {}
    for meta in (template.get("metadata") or {}, obj.get("metadata") or {}):
        name = (meta.get("labels") or {}).get("app.kubernetes.io/name")
        if name:
            return str(name)
    return ""


def unexcused_violations(obj: dict[str, Any]) -> list[Violation]:
    """The violations left once the documented exception of the object's app (if any) is applied."""
    allowed = POD_SECURITY_EXCEPTIONS.get(app_name(obj), frozenset())
    return [v for v in violations(obj) if v.rule not in allowed]
