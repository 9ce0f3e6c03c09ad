"""Checks several components share: the config file a process reads is the one in config/, the ports it
declares are the ports it listens on, its data lives on a PVC, a URL reaches a listener."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

from stackcheck.lint.promises.model import Promise, Verdict, promise, sentence
from stackcheck.lint.promises.stack import Mounted, Stack, Target, Workload, config_rel, volume_kind

#: Stands for the rendering(s) a message is about; :func:`merge_renderings` fills it in.
RENDERING = "[@rendering@]"


def merge_renderings(found: list[tuple[str, str]]) -> list[str]:
    """``(message with RENDERING, rendering)`` pairs → one message per text, naming every rendering
    it holds for (``[manifests, overlays/kind]``), in first-seen order."""
    grouped: dict[str, list[str]] = {}
    for message, rendering in found:
        grouped.setdefault(message, []).append(rendering)
    return [m.replace(RENDERING, f"[{', '.join(r)}]") for m, r in grouped.items()]


#: A check of one workload's container: the stack and that workload.
WorkloadCheck = Callable[[Stack, Workload], Verdict]
#: What a probe promise says where the manifests ship no probe (the production overlay runs the real
#: application instead).
NO_PROBE = Verdict("no probe in these manifests (production overlay)")


def missing_workload(app: str, relied: str) -> Verdict:
    return Verdict("", [f"the manifests have no workload labelled app.kubernetes.io/name={app}; {relied}"])


def workload_promise(
    name: str, app: str, relied: str, *, optional: str | None = None, title: str | None = None
) -> Callable[[WorkloadCheck], Promise]:
    """Decorator: a promise checked on the workload labelled ``app`` (title: the check's docstring). A
    stack without that workload breaks it, saying what ``relied`` on it."""
    return _on_workload(name, app, lambda: missing_workload(app, relied), optional=optional, title=title)


def probe_promise(name: str) -> Callable[[WorkloadCheck], Promise]:
    """Decorator: a promise checked on the probe's workload; manifests without the probe keep it
    (:data:`NO_PROBE`)."""
    return _on_workload(name, "phase5-backend", lambda: NO_PROBE)


def _on_workload(
    name: str,
    app: str,
    absent: Callable[[], Verdict],
    *,
    optional: str | None = None,
    title: str | None = None,
) -> Callable[[WorkloadCheck], Promise]:
    def wrap(check: WorkloadCheck) -> Promise:
        def run(stack: Stack) -> Verdict:
            w = stack.workload(app)
            return absent() if w is None else check(stack, w)

        return promise(name, optional=optional, title=title or sentence(check, name))(run)

    return wrap


def file_in_container(stack: Stack, w: Workload, path: str, rel: str, how: str) -> list[str]:
    """The file ``path`` in the container is ConfigMap data generated from ``config/<rel>``."""
    where = stack.at(w)
    found = stack.path(rel)
    if not found.is_file():
        return [f"{stack.rel(rel)} is missing; {where} reads it as {path} ({how})"]
    mounted = w.mount(path)
    if mounted is None:
        return [
            (
                f"{where}: {how} reads {path}, but no volumeMount holds that path; mount the ConfigMap "
                f"generated from {stack.rel(rel)} there"
            )
        ]
    mount, volume = mounted
    if "configMap" not in volume:
        return [
            (
                f"{where}: {how} reads {path}, which is on {volume_kind(volume)} "
                f"(volume {mount.get('name')}), "
                f"not on the ConfigMap generated from {stack.rel(rel)}; mount that ConfigMap there"
            )
        ]
    name = str(volume["configMap"].get("name"))
    key = str(mount.get("subPath") or PurePosixPath(path).relative_to(str(mount["mountPath"])))
    cm = stack.find("ConfigMap", name, w.namespace)
    if cm is None:
        return [
            (
                f"{where}: volume {mount.get('name')} mounts ConfigMap {w.namespace}/{name}, which the "
                f"manifests do not generate; generate it from {stack.rel(rel)} in config/kustomization.yaml"
            )
        ]
    data = (cm.body.get("data") or {}).get(key)
    fix = f"list {stack.rel(rel)} in that ConfigMap's generator (config/kustomization.yaml)"
    if data is None:
        return [
            (
                f"{where}: {how} reads {path}, but ConfigMap {name} (mounted at {mount['mountPath']}) has no "
                f"key {key!r}, so the file does not exist; {fix}"
            )
        ]
    if data != stack.text(rel):
        return [
            (
                f"{where}: {how} reads {path} = ConfigMap {name} key {key!r}, which holds another file than "
                f"{stack.rel(rel)}; {fix}"
            )
        ]
    return []


def config_promise(
    name: str,
    app: str,
    rel: str,
    flags: tuple[str, ...],
    *,
    shown: str | None = None,
    positional: str | None = None,
    optional: str | None = None,
) -> Promise:
    """``<name>.config_mounted``: the process of ``app`` (``shown`` in the title) reads ``config/<rel>``
    (see :func:`config_read`)."""
    verb = "runs" if positional else "reads"
    return workload_promise(
        f"{name}.config_mounted",
        app,
        f"it should run with {config_rel(rel)}",
        optional=optional,
        title=f"the {shown or app} container {verb} {config_rel(rel)}",
    )(lambda stack, w: config_read(stack, w, rel, flags, positional))


def config_read(
    stack: Stack, w: Workload, rel: str, flags: tuple[str, ...], positional: str | None = None
) -> Verdict:
    """The process's config-file flag (or the argument after ``positional``) names the ConfigMap of
    ``config/<rel>``."""
    used = next((f for f in flags if w.flag(f) is not None), None)
    path = w.flag(used) if used else None
    if path is None and positional is not None:
        argv = w.argv
        path = argv[argv.index(positional) + 1] if positional in argv[:-1] else None
    if path is None:
        return Verdict(
            "",
            [
                (
                    f"{stack.at(w)}: no {' / '.join(flags) or positional} in its command line, so it "
                    f"does not read {stack.rel(rel)}; pass the mounted path of that file"
                )
            ],
        )
    how = used or f"{positional} <file>"
    return Verdict(f"{w.where} reads {path} = {stack.rel(rel)}", file_in_container(stack, w, path, rel, how))


def on_pvc(stack: Stack, w: Workload, path: str, key: str, relied: str) -> list[str]:
    """``path`` (set by ``key``) lies on a persistent volume of the workload, not on an emptyDir or the
    (read-only) image filesystem."""
    mounted = w.mount(path)
    mount, volume = mounted or ({}, {})
    if volume.get("volumeClaimTemplate"):
        return []
    claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
    if claim is not None:
        if stack.find("PersistentVolumeClaim", str(claim), w.namespace) is None:
            return [
                (
                    f"{key} = {path}: {stack.at(w)} mounts PVC {claim} there, which the manifests do not "
                    f"define; {relied}; add the PersistentVolumeClaim"
                )
            ]
        return []
    held = (
        "no volume there (the root filesystem is read-only and not kept)"
        if mounted is None
        else f"{volume_kind(volume)} (volume {mount.get('name')}) at {mount.get('mountPath')}, which is lost "
        "on restart"
    )
    return [f"{key} = {path}: {stack.at(w)} mounts {held}; {relied}; put it under the PVC's mountPath"]


def not_a_secret(mounted: Mounted | None) -> str:
    """What holds a file that should come from a Secret, when no Secret volume does (:meth:`Workload.mount`
    of its path): ``no volume`` or ``volume <name>, not a Secret``."""
    return "no volume" if mounted is None else f"volume {mounted[0].get('name')}, not a Secret"


def flag_on_pvc(stack: Stack, w: Workload, flag: str, workdir: str, relied: str) -> tuple[str, list[str]]:
    """The path a storage flag sets (default ``data/``, relative to the image's ``workdir``) and what keeps
    it off the workload's PVC (:func:`on_pvc`)."""
    path = w.flag(flag) or "data/"
    return path, on_pvc(stack, w, path if path.startswith("/") else f"{workdir}/{path}", flag, relied)


def listen_ports(stack: Stack, w: Workload) -> Verdict:
    """Every declared container port (what Services, probes and NetworkPolicies reach) is a port the
    process listens on, on an address other pods reach; probes name declared ports."""
    known = stack.listeners(w)
    listeners = known or []
    problems = []
    for name, number in sorted(w.ports.items()) if known is not None else []:
        here = [li for li in listeners if li.port == number]
        if not here:
            said = ", ".join(f"{li.source} = {li.port}" for li in listeners) or "no listener configured"
            problems.append(
                f"{stack.at(w)}: container port {name} ({number}) is not where the process "
                f"listens ({said}); its Service, probes and NetworkPolicies reach port {number}; "
                "make the container port and the listener agree"
            )
        elif not any(li.reachable for li in here):
            problems.append(
                f"{here[0].source}: listens on {here[0].host}:{number}, loopback only, so the "
                f"container port {name} of {stack.at(w)} is unreachable from its Service; listen "
                f"on 0.0.0.0:{number}"
            )
    for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = w.container.get(kind) or {}
        for handler in ("httpGet", "tcpSocket", "grpc"):
            ref = (probe.get(handler) or {}).get("port")
            if ref is not None and w.port_number(ref) is None:
                problems.append(
                    f"{stack.at(w)}: {kind}.{handler}.port {ref!r} is no declared container port "
                    f"(it has {sorted(w.ports)}); the kubelet's probe fails; name a declared port"
                )
    for service in stack.of_kind("Service"):
        if stack.selected(service) != w:
            continue
        for entry in (service.body.get("spec") or {}).get("ports") or []:
            _, port = stack.resolve_service_port(service, entry)
            if port is None:
                problems.append(
                    f"{stack.at(service)}: port {entry.get('name')} targets "
                    f"{entry.get('targetPort')!r}, which {w.where} does not declare; "
                    "name one of its container ports"
                )
    ports = ", ".join(f"{n} {p}" for n, p in sorted(w.ports.items()))
    return Verdict(f"{w.where} listens on {ports}", problems)


def reaches(
    stack: Stack,
    url: str,
    namespace: str,
    where: str,
    key: str,
    app: str,
    port_source: str = "",
    path: str | None = None,
) -> tuple[Target | None, list[str]]:
    """``url`` (set at ``where`` ``key``) reaches a container of ``app`` on a port its process listens on,
    and (when given) has the path ``path``."""
    target = stack.resolve_url(url, namespace)
    if isinstance(target, str):
        return None, [f"{where}: {key} = {url}: {target}; point it at the {app} Service"]
    problems = []
    if target.workload is None or target.workload.app != app:
        got = target.workload.where if target.workload else "nothing"
        problems.append(f"{where}: {key} = {url} reaches {got}, not {app}; point it at the {app} Service")
    elif target.container_port is not None:
        listeners = stack.listeners(target.workload)
        if listeners is not None and not any(
            li.port == target.container_port and li.reachable for li in listeners
        ):
            said = ", ".join(f"{li.source} = {li.host}:{li.port}" for li in listeners)
            problems.append(
                f"{where}: {key} = {url} reaches container port {target.container_port} of "
                f"{target.workload.where}, where {app} does not listen ({said}){port_source}; "
                "make them agree"
            )
    if path is not None and target.path.rstrip("/") != path.rstrip("/"):
        problems.append(
            f"{where}: {key} = {url}: path {target.path!r}, {app} serves this at {path!r}; use {path}"
        )
    return target, problems


def listen_promise(
    app: str, name: str, optional: str | None = None, *, shown: str | None = None, title: str | None = None
) -> Promise:
    """``<name>.listen_ports`` for the workload ``app`` (``shown`` in the title, unless ``title`` says more;
    see :func:`listen_ports`)."""
    return workload_promise(
        f"{name}.listen_ports",
        app,
        "its Service, probes and scrape job need it",
        optional=optional,
        title=title or f"{shown or app} listens on the ports its container, Service and probes use",
    )(listen_ports)
