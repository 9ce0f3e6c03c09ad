"""Offline checks of the Kubernetes objects and kustomizations under manifests/.

Nothing here can run a cluster, so these tests pin the properties a cluster would only reveal late
(a pod rejected by Pod Security admission, an image that drifts, a Service that selects nothing, an
overlay patch that misses its target) or never (a token mounted where none is needed, a literal
password). Each test is one property, named after it; the docstring states the requirement.

Files: every `*.yaml` under manifests/ except `config/` (application configuration, not objects) and
the `kustomization.yaml` files is one Kubernetes object, named `<component>-<kind>.yaml`.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

# Pods allowed to fall short of "restricted" (manifests/README.md), and the check admission makes:
# shared with `stackcheck lint`.
from stackcheck.lint.podsecurity import POD_SECURITY_EXCEPTIONS, restricted_violations

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "manifests"

#: The only pods that talk to the API server, so the only ones that get a service-account token.
API_CALLERS = {"prometheus", "kube-state-metrics", "alloy"}
#: Secrets the workloads mount that are created by hand, never kept in git. (The kind overlay's
#: alertmanager-sink-secrets is generated from CI-only placeholders: GENERATED_SECRETS below.)
EXTERNAL_SECRETS = {"grafana-admin", "alertmanager-secrets", "stackcheck-credentials"}
GENERATED_SECRETS = {"alertmanager-sink-secrets"}
COMMON_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/component",
                 "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by")
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet"}
SUPPORTED_KUSTOMIZE_KEYS = {"apiVersion", "kind", "resources", "configMapGenerator", "secretGenerator",
                            "labels", "patches", "images"}
GENERATOR_KEYS = ("configMapGenerator", "secretGenerator")


# --------------------------------------------------------------------------- helpers

def object_files() -> list[Path]:
    """Every object file: manifests/**/*.yaml minus config/ and kustomization.yaml."""
    return sorted(p for p in MANIFESTS.rglob("*.yaml")
                  if p.name != "kustomization.yaml" and "config" not in p.relative_to(MANIFESTS).parts)


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.cache
def _parse(path: Path) -> tuple[Any, ...]:
    return tuple(d for d in yaml.load_all(path.read_text(), Loader=_Loader) if d is not None)


def load(path: Path) -> dict[str, Any]:
    """The single object in `path` (the one-object-per-file rule is a test of its own)."""
    docs = _parse(path)
    assert len(docs) == 1, f"{path.relative_to(ROOT)}: expected one object, found {len(docs)}"
    return copy.deepcopy(docs[0])


def objects() -> list[tuple[Path, dict[str, Any]]]:
    return [(p, load(p)) for p in object_files()]


def workloads() -> list[tuple[Path, dict[str, Any]]]:
    return [(p, o) for p, o in objects() if o["kind"] in WORKLOAD_KINDS]


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj["spec"]["template"]["spec"]
    return list(spec.get("initContainers") or []) + list(spec["containers"])


def app(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["labels"]["app.kubernetes.io/name"])


def port_names(obj: dict[str, Any]) -> set[str]:
    return {p["name"] for c in containers(obj) for p in c.get("ports") or []}


def selected(spec: dict[str, Any]) -> str | None:
    """The app.kubernetes.io/name a Service selector or NetworkPolicy podSelector picks."""
    labels = spec.get("matchLabels", spec.get("selector", {})) or {}
    return labels.get("app.kubernetes.io/name")


def kustomizations() -> list[Path]:
    return sorted(MANIFESTS.rglob("kustomization.yaml"))


def generator_files(kustomization: Path, key: str = "configMapGenerator") -> Iterator[tuple[str, Path]]:
    """(object name, source file) for every file of every generator under `key` (ConfigMaps by default)."""
    doc = yaml.safe_load(kustomization.read_text())
    for gen in doc.get(key) or []:
        for entry in gen.get("files") or []:
            yield gen["name"], kustomization.parent / str(entry).split("=", 1)[-1]


def resolve(kustomization: Path, seen: set[Path] | None = None) -> list[Path]:
    """Object files a kustomization pulls in, following directory resources."""
    out: list[Path] = []
    for res in yaml.safe_load(kustomization.read_text()).get("resources") or []:
        target = (kustomization.parent / res).resolve()
        out += resolve(target / "kustomization.yaml") if target.is_dir() else [target]
    return out


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --------------------------------------------------------------------------- objects and labels

def test_every_object_file_holds_one_object_with_the_common_labels() -> None:
    """Every object file parses to exactly one object carrying the four app.kubernetes.io labels,
    with part-of and managed-by = stackcheck (deploy, destroy and cleanup find objects by them)."""
    for path, obj in objects():
        labels = obj["metadata"].get("labels") or {}
        missing = [k for k in COMMON_LABELS if not labels.get(k)]
        assert not missing, f"{rel(path)}: labels {missing} missing"
        assert labels["app.kubernetes.io/managed-by"] == "stackcheck", rel(path)
        assert labels["app.kubernetes.io/part-of"] == "stackcheck", rel(path)


def test_object_files_are_named_component_kind() -> None:
    """Files are named `<component>-<kind>.yaml` (kind in lower case), one object per file."""
    for path, obj in objects():
        assert path.name.endswith(f"-{obj['kind'].lower()}.yaml"), (
            f"{rel(path)} holds a {obj['kind']}: name it <component>-{obj['kind'].lower()}.yaml")


def test_pod_templates_carry_the_common_labels_and_a_stable_selector() -> None:
    """Pods are labelled like their workload, and selectors use only app.kubernetes.io/name, which
    never changes (a changed selector makes a Deployment or StatefulSet impossible to update)."""
    for path, obj in workloads():
        template = obj["spec"]["template"]["metadata"]["labels"]
        for key in COMMON_LABELS:
            assert template.get(key) == obj["metadata"]["labels"][key], f"{rel(path)}: pod label {key}"
        assert obj["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": app(obj)}}, rel(path)


def test_every_image_is_pinned_to_an_exact_tag() -> None:
    """Every container image names a registry path and an exact tag (or digest), never `latest`."""
    for path, obj in workloads():
        for c in containers(obj):
            image = c["image"]
            name, _, tag = image.rpartition(":") if "@" not in image else (image, ":", "digest")
            assert name and "/" not in tag, f"{rel(path)}: image {image!r} has no tag"
            assert tag != "latest" and re.search(r"\d", tag), f"{rel(path)}: image {image!r} is not pinned"


# --------------------------------------------------------------------------- hardening

def test_every_pod_meets_restricted_pod_security_except_the_documented_exceptions() -> None:
    """Every pod template meets the "restricted" Pod Security Standard (non-root, no privilege
    escalation, all capabilities dropped, RuntimeDefault seccomp, no host namespaces or hostPath),
    except the pods listed in POD_SECURITY_EXCEPTIONS, which must really need the exception."""
    for path, obj in workloads():
        violations = restricted_violations(obj)
        if app(obj) in POD_SECURITY_EXCEPTIONS:
            assert violations, f"{rel(path)}: meets 'restricted' now; drop it from the exceptions list"
        else:
            assert not violations, f"{rel(path)} is not 'restricted': {violations}"


def test_pod_security_exceptions_are_confined_and_documented() -> None:
    """Only the exception pods run in a namespace that does not enforce "restricted", and
    manifests/README.md names each exception."""
    enforce = {o["metadata"]["name"]: o["metadata"]["labels"].get("pod-security.kubernetes.io/enforce")
               for _, o in objects() if o["kind"] == "Namespace"}
    for path, obj in workloads():
        level = enforce.get(obj["metadata"]["namespace"])
        if app(obj) not in POD_SECURITY_EXCEPTIONS:
            assert level == "restricted", f"{rel(path)}: namespace enforces {level!r}, not 'restricted'"
    lenient = {ns for ns, level in enforce.items() if level != "restricted"}
    for ns in lenient:
        residents = {app(o) for _, o in workloads() if o["metadata"]["namespace"] == ns}
        assert residents <= set(POD_SECURITY_EXCEPTIONS), (
            f"namespace {ns} enforces {enforce[ns]!r} but hosts {residents}")
    readme = (MANIFESTS / "README.md").read_text()
    for name in POD_SECURITY_EXCEPTIONS:
        assert name in readme.split("## Pod Security exceptions", 1)[-1], f"README.md must explain {name}"


def test_every_container_has_cpu_and_memory_requests_and_limits() -> None:
    """Every container sets cpu and memory requests and limits (HPA and the CPU/memory alerts need them)."""
    for path, obj in workloads():
        for c in containers(obj):
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                for kind in ("cpu", "memory"):
                    assert (res.get(part) or {}).get(kind), f"{rel(path)}: {c['name']} has no {part}.{kind}"


def test_every_container_has_readiness_and_liveness_probes() -> None:
    """Every container has a readiness and a liveness probe; no workload is exempt."""
    for path, obj in workloads():
        for c in obj["spec"]["template"]["spec"]["containers"]:
            for probe in ("readinessProbe", "livenessProbe"):
                assert c.get(probe), f"{rel(path)}: container {c['name']} has no {probe}"


def test_every_container_has_a_read_only_root_filesystem() -> None:
    """Every container runs with readOnlyRootFilesystem: true (writable paths are volumes)."""
    for path, obj in workloads():
        for c in containers(obj):
            assert (c.get("securityContext") or {}).get("readOnlyRootFilesystem") is True, (
                f"{rel(path)}: container {c['name']} has a writable root filesystem")


def test_only_api_callers_mount_a_service_account_token() -> None:
    """automountServiceAccountToken is false on every pod except Prometheus, kube-state-metrics and
    Alloy, which call the API server and run under their own ServiceAccount."""
    for path, obj in workloads():
        spec = obj["spec"]["template"]["spec"]
        if app(obj) in API_CALLERS:
            assert spec.get("automountServiceAccountToken") is True, rel(path)
            assert spec.get("serviceAccountName") == app(obj), f"{rel(path)}: needs its own ServiceAccount"
        else:
            assert spec.get("automountServiceAccountToken") is False, (
                f"{rel(path)}: set automountServiceAccountToken: false")


def test_cluster_roles_are_read_only() -> None:
    """The ClusterRoles grant only get/list/watch: nothing in the stack writes to the API."""
    for path, obj in objects():
        if obj["kind"] == "ClusterRole":
            for rule in obj["rules"]:
                assert set(rule["verbs"]) <= {"get", "list", "watch"}, f"{rel(path)}: {rule}"
                assert "secrets" not in (rule.get("resources") or []), f"{rel(path)}: reads secrets"


def test_workloads_with_more_than_one_replica_have_a_pod_disruption_budget() -> None:
    """Every Deployment or StatefulSet that runs more than one pod (by replicas or an HPA minimum)
    has a PodDisruptionBudget selecting its pods."""
    hpa_min = {o["spec"]["scaleTargetRef"]["name"]: o["spec"].get("minReplicas", 1)
               for _, o in objects() if o["kind"] == "HorizontalPodAutoscaler"}
    pdbs = {(o["metadata"]["namespace"], o["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/name"))
            for _, o in objects() if o["kind"] == "PodDisruptionBudget"}
    for path, obj in workloads():
        if obj["kind"] == "DaemonSet":
            continue
        replicas = max(obj["spec"].get("replicas", 1), hpa_min.get(obj["metadata"]["name"], 1))
        if replicas > 1:
            key = (obj["metadata"]["namespace"], app(obj))
            assert key in pdbs, f"{rel(path)}: {replicas} replicas, no PodDisruptionBudget"


def test_every_namespace_denies_ingress_by_default() -> None:
    """Every namespace of the stack has a NetworkPolicy selecting all pods with no ingress rule."""
    namespaces = {o["metadata"]["name"] for _, o in objects() if o["kind"] == "Namespace"}
    denied = {o["metadata"]["namespace"] for _, o in objects() if o["kind"] == "NetworkPolicy"
              and o["spec"]["podSelector"] == {} and not o["spec"].get("ingress")}
    assert namespaces and namespaces <= denied, f"no default-deny ingress policy in {namespaces - denied}"


def test_every_workload_with_a_port_has_an_ingress_policy() -> None:
    """Each workload that listens is opened by its own NetworkPolicy, whose named ports exist on it."""
    policies = {(o["metadata"]["namespace"], selected(o["spec"]["podSelector"])): o
                for _, o in objects() if o["kind"] == "NetworkPolicy" and o["spec"].get("ingress")}
    for path, obj in workloads():
        ports = port_names(obj)
        policy = policies.get((obj["metadata"]["namespace"], app(obj)))
        assert policy, f"{rel(path)}: no NetworkPolicy for {app(obj)}"
        for rule in policy["spec"]["ingress"]:
            for port in rule.get("ports") or []:
                assert port["port"] in ports, (
                    f"{rel(path)}: policy opens port {port['port']!r}, the pod has {ports}")


def test_services_select_pods_and_name_their_ports() -> None:
    """Every Service selects a workload in its namespace and targets container ports by existing names."""
    pods = {(o["metadata"]["namespace"], app(o)): port_names(o) for _, o in workloads()}
    for path, svc in objects():
        if svc["kind"] != "Service":
            continue
        key = (svc["metadata"]["namespace"], selected(svc["spec"]))
        assert key in pods, f"{rel(path)}: selects no workload"
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in pods[key], (
                f"{rel(path)}: targetPort {port['targetPort']!r} is not a port name of the pod")


def test_mounted_configmaps_are_generated_and_secrets_are_external() -> None:
    """Every ConfigMap a pod mounts comes from a configMapGenerator (the config files are the single
    source of truth); every Secret it mounts is one of the documented, hand-created Secrets."""
    generated = {name for k in kustomizations() for name, _ in generator_files(k)}
    secrets = {name for k in kustomizations() for name, _ in generator_files(k, "secretGenerator")}
    assert secrets == GENERATED_SECRETS, f"generated Secrets {secrets}: only CI placeholders may be generated"
    readme = (MANIFESTS / "README.md").read_text()
    for path, obj in workloads():
        for vol in obj["spec"]["template"]["spec"].get("volumes") or []:
            if "configMap" in vol:
                name = vol["configMap"]["name"]
                assert name in generated, f"{rel(path)}: ConfigMap {name} comes from no configMapGenerator"
            if "secret" in vol:
                name = vol["secret"]["secretName"]
                assert name in EXTERNAL_SECRETS | GENERATED_SECRETS and name in readme, (
                    f"{rel(path)}: Secret {name} is not documented in manifests/README.md")


def _admits(policy: dict[str, Any], source: str, source_ns: str, port: str) -> bool:
    """Whether an ingress rule of `policy` lets pods named `source` in `source_ns` reach `port`."""
    own_ns = policy["metadata"]["namespace"]
    for rule in policy["spec"].get("ingress") or []:
        if port not in [p["port"] for p in rule.get("ports") or []]:
            continue
        for peer in rule.get("from") or []:
            ns_sel = (peer.get("namespaceSelector") or {}).get("matchLabels") or {}
            ns_ok = ns_sel.get("kubernetes.io/metadata.name", own_ns if not peer.get("namespaceSelector")
                               else None) == source_ns
            pod_sel = peer.get("podSelector")
            names = [v for e in (pod_sel or {}).get("matchExpressions") or [] for v in e["values"]]
            names += [(pod_sel or {}).get("matchLabels", {}).get("app.kubernetes.io/name")]
            if ns_ok and (pod_sel is None or source in names):
                return True
    return False


def test_network_policies_admit_every_scrape_and_probe_of_prometheus_yml() -> None:
    """Every target prometheus.yml reaches through a Service (endpointslice jobs, the Alertmanager,
    the blackbox-http URLs, the annotated probe pods) is admitted by the NetworkPolicy of the pods
    behind it, for Prometheus or blackbox-exporter, on the pod port the Service targets."""
    prom_yml = MANIFESTS / "config" / "prometheus" / "prometheus.yml"
    if not prom_yml.is_file():
        pytest.skip("config/prometheus/prometheus.yml not written yet")
    config = yaml.safe_load(prom_yml.read_text())
    services = {(o["metadata"]["namespace"], o["metadata"]["name"]): o
                for _, o in objects() if o["kind"] == "Service"}
    policies = {(o["metadata"]["namespace"], selected(o["spec"]["podSelector"])): o
                for _, o in objects() if o["kind"] == "NetworkPolicy" and o["spec"].get("ingress")}
    wanted: list[tuple[str, str, str, str]] = []  # (source app, namespace, service, port name/number)
    for job in list(config.get("scrape_configs") or []) + list(config["alerting"]["alertmanagers"]):
        for sd in job.get("kubernetes_sd_configs") or []:
            if sd["role"] != "endpointslice":
                continue
            for rule in job.get("relabel_configs") or []:
                if rule.get("action") == "keep" and "__meta_kubernetes_service_name" in rule["source_labels"]:
                    svc, port = rule["regex"].split(";")
                    wanted += [("prometheus", ns, svc, port) for ns in sd["namespaces"]["names"]]
        for static in job.get("static_configs") or []:
            if job.get("metrics_path") == "/probe":
                for url in static["targets"]:
                    found = re.match(r"https?://([^/:]+):(\d+)", url)
                    assert found, f"blackbox target {url} names no host:port"
                    host, port = found.groups()
                    svc, ns = host.split(".")[:2]
                    wanted.append(("blackbox-exporter", ns, svc, port))
    assert wanted, "found no Service-based targets in prometheus.yml"
    for source, ns, svc_name, port in wanted:
        svc = services.get((ns, svc_name))
        assert svc, f"prometheus.yml targets Service {ns}/{svc_name}, which manifests/ does not define"
        (svc_port,) = [p for p in svc["spec"]["ports"] if port in (p["name"], str(p["port"]))]
        policy = policies[(ns, selected(svc["spec"]))]
        assert _admits(policy, source, "monitoring", svc_port["targetPort"]), (
            f"NetworkPolicy {ns}/{policy['metadata']['name']} blocks {source} -> {svc_name}:{port}")
    probe = policies.get(("phase5", "phase5-backend"))
    assert probe and _admits(probe, "prometheus", "monitoring", "http"), "Prometheus cannot scrape the probe"


# --------------------------------------------------------------------------- secrets

_LITERAL_PASSWORD = re.compile(r"""(?im)^\s*[\w.-]*password\s*:\s*(?!\$\{|\$__file|\s*$)['"]?[^\s'"#]+""")


def test_no_literal_secret_anywhere_under_manifests() -> None:
    """No file under manifests/ holds a Slack webhook URL, a `...password: <value>` literal or a Secret
    object, and no configuration or object file holds the reference design's admin123 (Markdown may
    name it as the practice not followed): credentials are read from files at run time."""
    for path in sorted(p for p in MANIFESTS.rglob("*") if p.is_file()):
        text = path.read_text(errors="replace")
        assert "hooks.slack.com" not in text, f"{rel(path)}: Slack webhook URL"
        assert path.suffix == ".md" or "admin123" not in text, f"{rel(path)}: admin123"
        match = _LITERAL_PASSWORD.search(text)
        assert not match, f"{rel(path)}: literal password {match.group(0).strip()!r}"
    for path, obj in objects():
        assert obj["kind"] != "Secret", f"{rel(path)}: Secrets are created outside git (README.md)"
        for c in containers(obj) if obj["kind"] in WORKLOAD_KINDS else []:
            for env in c.get("env") or []:
                if "PASSWORD" in env["name"] or "TOKEN" in env["name"]:
                    assert env["name"].endswith("__FILE") or "valueFrom" in env, f"{rel(path)}: {env['name']}"


# --------------------------------------------------------------------------- kustomize

def test_every_file_a_kustomization_references_exists() -> None:
    """Every resource, generator file and patch file named by a kustomization exists (a resource
    directory must hold a kustomization.yaml)."""
    for k in kustomizations():
        doc = yaml.safe_load(k.read_text())
        for res in doc.get("resources") or []:
            target = k.parent / res
            assert target.is_file() or (target / "kustomization.yaml").is_file(), f"{rel(k)}: {res} not found"
        for key in GENERATOR_KEYS:
            for _, source in generator_files(k, key):
                assert source.is_file(), f"{rel(k)}: generator file {rel(source)} not found"
        for patch in doc.get("patches") or []:
            if "path" in patch:
                assert (k.parent / patch["path"]).is_file(), f"{rel(k)}: patch {patch['path']} not found"


def test_kustomizations_use_only_features_stackcheck_can_render() -> None:
    """Kustomizations use only resources, configMapGenerator/secretGenerator (files, fixed names, behavior
    create/replace/merge), labels without selectors, JSON6902 add/replace/remove patches by kind/name and
    images (name → newName/newTag): what stackcheck's renderer implements."""
    for k in kustomizations():
        doc = yaml.safe_load(k.read_text())
        assert set(doc) <= SUPPORTED_KUSTOMIZE_KEYS, (
            f"{rel(k)}: unsupported {set(doc) - SUPPORTED_KUSTOMIZE_KEYS}")
        for gen in [g for key in GENERATOR_KEYS for g in doc.get(key) or []]:
            assert set(gen) <= {"name", "namespace", "behavior", "files",
                                "options"}, f"{rel(k)}: {gen['name']}"
            assert gen.get("behavior", "create") in {"create", "replace", "merge"}, f"{rel(k)}: {gen['name']}"
            assert gen.get("options") == {"disableNameSuffixHash": True}, (
                f"{rel(k)}: {gen['name']} needs options.disableNameSuffixHash: true")
        for entry in doc.get("labels") or []:
            assert set(entry) <= {"pairs", "includeSelectors"}, rel(k)
            assert entry.get("includeSelectors") is False, f"{rel(k)}: labels must not touch selectors"
        for image in doc.get("images") or []:
            assert set(image) <= {"name", "newName",
                                  "newTag"} and "name" in image, f"{rel(k)}: images {image}"
        for patch in doc.get("patches") or []:
            assert set(patch["target"]) <= {"kind", "name", "namespace"}, f"{rel(k)}: {patch['target']}"
            text = patch["patch"] if "patch" in patch else (k.parent / patch["path"]).read_text()
            ops = yaml.safe_load(text)
            assert isinstance(ops, list), f"{rel(k)}: only JSON6902 patches (a list of ops)"
            assert {op["op"] for op in ops} <= {"add", "replace", "remove"}, f"{rel(k)}: {ops}"


def test_every_object_file_is_part_of_the_stack() -> None:
    """No orphan: every object file outside overlays/ is reached from manifests/kustomization.yaml."""
    reached = set(resolve(MANIFESTS / "kustomization.yaml"))
    for path in object_files():
        if "overlays" not in path.relative_to(MANIFESTS).parts:
            assert path.resolve() in reached, f"{rel(path)} is in no kustomization"


def test_overlays_include_every_component_of_the_stack() -> None:
    """The kind overlay lists every directory the root lists; production lists all but probe/."""
    root = set(yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"])
    for overlay, left_out in (("kind", set()), ("production", {"probe"})):
        doc = yaml.safe_load((MANIFESTS / "overlays" / overlay / "kustomization.yaml").read_text())
        listed = {r.removeprefix("../../") for r in doc["resources"] if r.startswith("../../")}
        assert listed == root - left_out, (
            f"overlays/{overlay}: differs from manifests/kustomization.yaml by {listed ^ (root - left_out)}")


def _pointer(doc: Any, path: str) -> tuple[Any, str]:
    """(parent, last key) of a JSON pointer; AssertionError if the parent does not exist."""
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
    for part in parents:
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc, last


def test_overlay_patches_hit_their_targets() -> None:
    """Each overlay patch targets exactly one object, and its paths exist there (replace/remove) or
    have an existing parent (add): a JSON6902 patch that misses fails the whole render."""
    for k in sorted((MANIFESTS / "overlays").glob("*/kustomization.yaml")):
        objs = [load(p) for p in resolve(k)]
        for patch in yaml.safe_load(k.read_text()).get("patches") or []:
            t = patch["target"]
            hits = [o for o in objs if o["kind"] == t["kind"] and o["metadata"]["name"] == t["name"]
                    and o["metadata"].get("namespace") == t.get("namespace", o["metadata"].get("namespace"))]
            assert len(hits) == 1, f"{rel(k)}: target {t} matches {len(hits)} objects"
            for op in yaml.safe_load(patch["patch"]):
                parent, key = _pointer(hits[0], op["path"])
                if op["op"] != "add":
                    assert (int(key) < len(parent)) if isinstance(parent, list) else key in parent, (
                        f"{rel(k)}: {op['path']} not in {t}")


def test_kind_overlay_swaps_only_the_alertmanager_secret() -> None:
    """The kind overlay's Alertmanager patch replaces the secretName of the volume named "secrets"
    (the patch addresses it by index, so the index must keep pointing at it)."""
    doc = yaml.safe_load((MANIFESTS / "overlays" / "kind" / "kustomization.yaml").read_text())
    sts = load(MANIFESTS / "alertmanager" / "alertmanager-statefulset.yaml")
    for patch in doc["patches"]:
        if patch["target"]["kind"] == "StatefulSet":
            (op,) = yaml.safe_load(patch["patch"])
            index = int(op["path"].split("/")[5])
            volume = sts["spec"]["template"]["spec"]["volumes"][index]
            assert volume["name"] == "secrets", volume
            assert volume["secret"]["secretName"] == "alertmanager-secrets", volume
            assert op == {"op": "replace", "path": f"/spec/template/spec/volumes/{index}/secret/secretName",
                          "value": "alertmanager-sink-secrets"}


def test_prometheus_rules_configmap_lists_every_rule_file() -> None:
    """The prometheus-rules generator lists exactly config/prometheus/rules/*.rules.yml (kustomize
    cannot glob, so a new rule file must be added there by hand)."""
    generated = {src.resolve() for name, src in generator_files(MANIFESTS / "config" / "kustomization.yaml")
                 if name == "prometheus-rules"}
    on_disk = {p.resolve() for p in (MANIFESTS / "config" / "prometheus" / "rules").glob("*.rules.yml")}
    differ = sorted(p.name for p in generated ^ on_disk)
    assert generated == on_disk, f"add to / remove from manifests/config/kustomization.yaml: {differ}"


# --------------------------------------------------------------------------- schemas

def test_every_object_validates_strictly_against_kubernetes_1_33() -> None:
    """Every object file passes kubernetes-validate --strict for Kubernetes 1.33 (no unknown fields)."""
    kv = pytest.importorskip("kubernetes_validate", reason="extra 'lint' (kubernetes-validate) not installed")
    for path, obj in objects():
        try:
            kv.validate(obj, "1.33.0", strict=True)
        except kv.ValidationError as exc:  # pragma: no cover - the message is the point
            pytest.fail(f"{rel(path)}: {exc.message} at {'/'.join(map(str, exc.path))}")
