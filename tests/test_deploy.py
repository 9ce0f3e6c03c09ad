"""``stackcheck deploy`` against the Kubernetes API double (tests/kubefake.py, built from real 1.36 captures).

Each test states one property. The double starts as an empty cluster with no node, as the real API
server in the captures: pods stay Pending, claims stay Pending.
"""
from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackcheck.deploy import inventory
from stackcheck.errors import UsageError
from stackcheck.kube import apply as kube_apply
from stackcheck.kube.apply import ApplyConflict
from tests.deployfake import Cluster, cluster, rendered, store_key

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


@pytest.fixture
def kind(tmp_path: Path) -> Iterator[Cluster]:
    """An empty no-node cluster whose context is a kind one (kind-stackcheck)."""
    yield from cluster(tmp_path)


def _writes(c: Cluster) -> list[str]:
    return [f"{r.method} {r.path}" for r in c.fake.requests if r.method in ("POST", "PATCH", "PUT", "DELETE")]


def test_dry_run_creates_nothing(kind: Cluster) -> None:
    """--dry-run=server prints the change table and stores nothing: every write carries dryRun=All."""
    code, out = kind.deploy(dry_run=True)
    assert code == 0
    assert kind.stack_objects() == {}
    assert all(r.query.get("dryRun") == ["All"] for r in kind.fake.requests if r.method in ("POST", "PATCH"))
    assert "change plan (dry run: nothing changed)" in out
    assert f"{len(rendered()) + 1} to create" in out  # + grafana-admin


def test_dry_run_masks_secret_values(kind: Cluster) -> None:
    """The change table names Secrets but never shows their values."""
    _, out = kind.deploy(dry_run=True)
    secret = next(o for o in rendered() if o["kind"] == "Secret")
    assert "data (values masked)" in out
    for value in secret["data"].values():
        assert "".join(value.split()) not in out.replace("\n", "")
        assert base64.b64decode(value).decode() not in out


def test_clean_deploy_creates_every_rendered_object(kind: Cluster) -> None:
    """deploy --no-wait on an empty cluster creates every object the overlay renders, and exits 0."""
    code, out = kind.deploy(wait=False)
    assert code == 0
    missing = [store_key(o) for o in rendered() if store_key(o) not in kind.fake.objects]
    assert missing == []
    assert f"Applied: {len(rendered()) + 1} created, 0 configured, 0 unchanged, 0 pruned" in out


def test_second_deploy_is_unchanged_and_moves_no_resource_version(kind: Cluster) -> None:
    """A second deploy reports every object unchanged, and no object's resourceVersion moves."""
    kind.deploy(wait=False)
    before = {k: o["metadata"]["resourceVersion"] for k, o in kind.fake.objects.items()}
    code, out = kind.deploy(wait=False)
    after = {k: o["metadata"]["resourceVersion"] for k, o in kind.fake.objects.items()}
    assert code == 0
    assert out.count(f"No changes: all {len(rendered()) + 1} objects unchanged") == 1
    assert "┃ action" not in out  # no table of nothing but "unchanged"
    assert {k: v for k, v in after.items() if before.get(k) != v} == {}


def test_stages_apply_namespaces_and_cluster_rbac_first(kind: Cluster) -> None:
    """Namespaces, CRDs and cluster RBAC are applied (and waited for) before any namespaced object."""
    kind.deploy(wait=False)
    applies = [r.path for r in kind.fake.requests if r.method == "PATCH"]
    first_namespaced = next(i for i, p in enumerate(applies) if "/namespaces/" in p and p.count("/") > 4)
    assert all("/namespaces/" not in p or p.count("/") == 4 for p in applies[:first_namespaced])
    assert any("clusterroles" in p for p in applies[:first_namespaced])


def test_apply_is_server_side_with_field_manager_stackcheck_and_strict_validation(kind: Cluster) -> None:
    """Every apply is application/apply-patch+yaml, fieldManager=stackcheck, fieldValidation=Strict, never
    force."""
    kind.deploy(wait=False)
    applies = [r for r in kind.fake.requests if r.content_type == "application/apply-patch+yaml"]
    assert len(applies) >= len(rendered())
    assert all(r.query.get("fieldManager") == ["stackcheck"] for r in applies)
    assert all(r.query.get("fieldValidation") == ["Strict"] for r in applies)
    assert not any("force" in r.query for r in applies)


def test_deploy_after_client_side_apply_needs_no_force(kind: Cluster) -> None:
    """After `kubectl apply -k` (client-side), deploy takes kubectl's fields over and succeeds without
    force."""
    for body in rendered():
        kind.fake.client_side_apply(body)
    code, out = kind.deploy(wait=False)
    assert code == 0
    assert "took over the fields of kubectl-client-side-apply" in out
    assert not any("force" in r.query for r in kind.fake.requests)
    sts = kind.fake.get("statefulsets", "monitoring", "prometheus")
    assert sts is not None and LAST_APPLIED not in (sts["metadata"].get("annotations") or {})
    assert {e["manager"] for e in sts["metadata"]["managedFields"]} == {"stackcheck"}


def test_without_the_takeover_kubectl_fields_would_conflict(kind: Cluster,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The double reproduces the real conflict (volumeClaimTemplates, fieldRef): the takeover is what avoids
    it."""
    for body in rendered():
        kind.fake.client_side_apply(body)
    monkeypatch.setattr(kube_apply, "TAKEOVER_MANAGERS", ())
    with pytest.raises(ApplyConflict, match="kubectl-client-side-apply"):
        kind.deploy(wait=False)


def _other_manager_takes(c: Cluster, name: str = "blackbox-exporter-config") -> None:
    """Another server-side-apply manager forces a new value into a ConfigMap deploy owns."""
    import requests

    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "monitoring"},
            "data": {"blackbox.yml": "modules: {}\n"}}
    answer = requests.patch(f"{c.fake.url}/api/v1/namespaces/monitoring/configmaps/{name}",
                            data=json.dumps(body), params={"fieldManager": "other-manager", "force": "true"},
                            headers={"Authorization": f"Bearer {c.fake.token}",
                                     "Content-Type": "application/apply-patch+yaml"}, timeout=5)
    assert answer.status_code == 200, answer.text


def test_field_of_another_manager_fails_naming_object_field_and_manager(kind: Cluster) -> None:
    """A field another SSA manager changed makes deploy fail: one line naming the object, the field, the
    manager and --force-conflicts; nothing is forced and the other manager's value stays."""
    kind.deploy(wait=False)
    _other_manager_takes(kind)
    with pytest.raises(ApplyConflict) as caught:
        kind.deploy(wait=False)
    text = str(caught.value)
    assert "ConfigMap monitoring/blackbox-exporter-config" in text and ".data.blackbox.yml" in text
    assert "'other-manager'" in text and "--force-conflicts" in text and "\n" not in text
    assert caught.value.exit_code == 1
    live = kind.fake.get("configmaps", "monitoring", "blackbox-exporter-config")
    assert live is not None and live["data"]["blackbox.yml"] == "modules: {}\n"


def test_force_conflicts_takes_the_field_back(kind: Cluster) -> None:
    """With --force-conflicts the manifests' value wins and stackcheck owns the field again."""
    kind.deploy(wait=False)
    _other_manager_takes(kind)
    code, _ = kind.deploy(wait=False, force_conflicts=True)
    live = kind.fake.get("configmaps", "monitoring", "blackbox-exporter-config")
    assert code == 0 and live is not None and live["data"]["blackbox.yml"] != "modules: {}\n"


def test_timeout_names_each_unready_workload_with_the_schedulers_reason(kind: Cluster) -> None:
    """A wait that runs out exits 1 and names every workload not ready with the scheduler's reason."""
    code, out = kind.deploy(timeout_s=30)
    assert code == 1
    workloads = [o for o in rendered() if o["kind"] in ("Deployment", "StatefulSet")]
    for body in workloads:
        block = out.split(f"{body['kind']} {body['metadata']['namespace']}/"
                          f"{body['metadata']['name']}: InProgress")
        assert len(block) > 1, body["metadata"]["name"]
        assert "not scheduled (Unschedulable): no nodes available to schedule pods" \
            in block[-1].split("InProgress")[0]
    assert kind.clock.now - 1000.0 >= 30  # the whole budget was used, in polls, not one sleep
    assert max(kind.clock.slept) <= 2.0


def test_timeout_names_each_claim_with_its_reason_and_storage_class(kind: Cluster) -> None:
    """Each PVC not bound is named with its phase, its StorageClass and the binder's event."""
    _, out = kind.deploy(timeout_s=30)
    for claim in ("data-prometheus-0", "data-alertmanager-0", "data-loki-0", "jaeger-data"):
        assert f"claim {claim}: Pending, StorageClass (none set" in out
        assert (f"PersistentVolumeClaim {claim}: Normal FailedBinding: no persistent volumes available for "
                "this claim and no storage class is set") in out


def test_progress_deadline_exceeded_fails_fast(kind: Cluster) -> None:
    """A Deployment past progressDeadlineSeconds is Failed: the wait ends at once, not at the timeout."""
    kind.fake.deadline_exceeded.add(("monitoring", "grafana"))
    code, out = kind.deploy(timeout_s=300)
    assert code == 1
    assert "Deployment monitoring/grafana: Failed: Progress deadline exceeded" in out
    assert kind.clock.now - 1000.0 < 30


def test_disposable_overlay_is_refused_on_a_context_that_is_not_kind(tmp_path: Path) -> None:
    """The kind overlay (allow-faults namespaces) on a non-kind context is a usage error before any write."""
    for c in cluster(tmp_path, context="prod-eu"):
        with pytest.raises(UsageError, match=r"context prod-eu is not a kind cluster; pass --allow-faults"):
            c.deploy(wait=False)
        assert _writes(c) == []


def test_allow_faults_lets_the_disposable_overlay_through(tmp_path: Path) -> None:
    """--allow-faults is the explicit yes for a disposable overlay on a non-kind context."""
    for c in cluster(tmp_path, context="prod-eu"):
        code, out = c.deploy(wait=False, allow_faults=True)
        assert code == 0 and "context prod-eu" in out


def test_context_server_and_namespaces_are_printed_before_any_change(kind: Cluster) -> None:
    """The first lines name the context, the server and every namespace."""
    _, out = kind.deploy(wait=False)
    head = out.split("Waiting")[0]
    assert f"context kind-stackcheck, server {kind.fake.url}" in head
    assert "namespaces monitoring, monitoring-agents, phase5, tracing" in head


def test_missing_grafana_secret_is_created_with_a_random_value_never_printed(kind: Cluster,
                                                                             tmp_path: Path) -> None:
    """grafana-admin is created with a random password; output and JSON show only the kubectl command."""
    report = tmp_path / "deploy.json"
    _, out = kind.deploy(wait=False, json_path=str(report))
    secret = kind.fake.get("secrets", "monitoring", "grafana-admin")
    assert secret is not None
    value = base64.b64decode(secret["data"]["admin-password"]).decode()
    assert len(value) >= 24 and value not in out and value not in report.read_text()
    assert (f"kubectl --kubeconfig {kind.kubeconfig} --context kind-stackcheck -n monitoring get secret "
            "grafana-admin -o jsonpath='{.data.admin-password}' "
            "| base64 -d") in out


def test_existing_secret_is_never_overwritten(kind: Cluster) -> None:
    """A grafana-admin that exists keeps its value; deploy sends no write to it."""
    kind.deploy(dry_run=True)
    kind.fake.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}}, "kubectl")
    kind.fake.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "grafana-admin",
                      "namespace": "monitoring"}, "data": {"admin-password": "bXluZQ=="}}, "kubectl")
    kind.deploy(wait=False)
    kind.deploy(wait=False)
    secret = kind.fake.get("secrets", "monitoring", "grafana-admin")
    assert secret is not None and secret["data"] == {"admin-password": "bXluZQ=="}
    assert not [w for w in _writes(kind) if w.endswith("/secrets/grafana-admin")]


def test_production_secret_values_must_be_named_before_anything_changes(kind: Cluster) -> None:
    """Production's alertmanager-secrets needs --secret-file values; without them nothing is written."""
    with pytest.raises(UsageError, match=r"--secret-file alertmanager-secrets/slack-webhook-url=PATH"):
        kind.deploy(overlay="production", wait=False)
    assert _writes(kind) == []


def test_secret_file_values_are_stored_and_never_printed(kind: Cluster, tmp_path: Path) -> None:
    """Values read from --secret-file go into the Secret and appear nowhere in the output."""
    files = []
    for key in ("slack-webhook-url", "smtp-password", "deadman-token"):
        (tmp_path / key).write_text(f"canary-{key}-9f8e7d\n")
        files.append(f"alertmanager-secrets/{key}={tmp_path / key}")
    _, out = kind.deploy(overlay="production", wait=False, secret_files=files)
    secret = kind.fake.get("secrets", "monitoring", "alertmanager-secrets")
    assert secret is not None
    assert base64.b64decode(secret["data"]["smtp-password"]).decode() == "canary-smtp-password-9f8e7d"
    assert "canary-" not in out


def test_inventory_is_an_applyset_parent_listing_every_object_with_its_uid(kind: Cluster) -> None:
    """The parent Secret carries ApplySet's id label and annotations; inventory.json has each object's uid."""
    kind.deploy(wait=False)
    parent = kind.fake.get("secrets", "monitoring", inventory.PARENT_NAME)
    assert parent is not None
    set_id = inventory.applyset_id(inventory.PARENT_NAME, "monitoring")
    assert parent["metadata"]["labels"][inventory.ID_LABEL] == set_id
    annotations = parent["metadata"]["annotations"]
    assert annotations[inventory.TOOLING].startswith("stackcheck/v")
    assert "Deployment.apps" in annotations[inventory.GROUP_KINDS].split(",")
    assert annotations[inventory.NAMESPACES] == "monitoring-agents,phase5,tracing"
    entries = json.loads(base64.b64decode(parent["data"][inventory.DATA_KEY]))
    for body in rendered():
        live = kind.fake.objects[store_key(body)]
        assert {"group": body["apiVersion"].rpartition("/")[0], "kind": body["kind"],
                "namespace": body["metadata"].get("namespace", ""), "name": body["metadata"]["name"],
                "apiVersion": body["apiVersion"], "uid": live["metadata"]["uid"]} in entries
        assert live["metadata"]["labels"][inventory.PART_OF_LABEL] == set_id


def _manifests_without_pdb(tmp_path: Path) -> Path:
    copy = tmp_path / "manifests"
    shutil.copytree(Path(__file__).resolve().parent.parent / "manifests", copy)
    kfile = copy / "probe" / "kustomization.yaml"
    kfile.write_text("\n".join(line for line in kfile.read_text().splitlines()
                               if "poddisruptionbudget" not in line) + "\n")
    return copy


def test_prune_deletes_a_member_that_left_the_manifests_and_lists_it_first(kind: Cluster,
                                                                           tmp_path: Path) -> None:
    """An object removed from the manifests is listed, then deleted; nothing else is."""
    kind.deploy(wait=False)
    copy = _manifests_without_pdb(tmp_path)
    code, out = kind.deploy(wait=False, manifests=str(copy))
    assert code == 0
    assert "Pruning 1 object(s) that left the manifests:\n  PodDisruptionBudget phase5/phase5-backend" in out
    assert ("poddisruptionbudgets", "phase5", "phase5-backend") not in kind.fake.objects
    assert [w for w in _writes(kind) if w.startswith("DELETE")] == [
        "DELETE /apis/policy/v1/namespaces/phase5/poddisruptionbudgets/phase5-backend"]


def test_prune_spares_an_object_whose_uid_is_not_the_recorded_one(kind: Cluster, tmp_path: Path) -> None:
    """A member re-created by someone else (new uid) is not pruned, and the output says why."""
    kind.deploy(wait=False)
    key = ("poddisruptionbudgets", "phase5", "phase5-backend")
    kind.fake.objects[key]["metadata"]["uid"] = "someone-elses-uid"
    _, out = kind.deploy(wait=False, manifests=str(_manifests_without_pdb(tmp_path)))
    assert key in kind.fake.objects
    assert ("not pruning PodDisruptionBudget phase5/phase5-backend: its uid is not the one deploy "
            "recorded") in out


def test_no_prune_keeps_members_that_left(kind: Cluster, tmp_path: Path) -> None:
    """--no-prune lists what left the manifests and keeps it (and in the inventory)."""
    kind.deploy(wait=False)
    _, out = kind.deploy(wait=False, manifests=str(_manifests_without_pdb(tmp_path)), prune=False)
    assert ("poddisruptionbudgets", "phase5", "phase5-backend") in kind.fake.objects
    assert "--no-prune keeps them" in out


def test_json_report_has_each_objects_action_and_final_status(kind: Cluster, tmp_path: Path) -> None:
    """--json writes stackcheck.deploy/v1 with every object's action and its status after the wait."""
    report = tmp_path / "deploy.json"
    kind.deploy(timeout_s=5, json_path=str(report))
    doc = json.loads(report.read_text())
    assert doc["schema"] == "stackcheck.deploy/v1" and doc["result"] == "failed"
    by_name = {(o["kind"], o["name"]): o for o in doc["objects"]}
    assert by_name[("Deployment", "grafana")]["action"] == "create"
    assert by_name[("Deployment", "grafana")]["status"] == "InProgress"
    assert by_name[("ConfigMap", "prometheus-config")]["status"] == "Current"
    assert any(n["object"] == "StatefulSet monitoring/prometheus" for n in doc["not_ready"])
    assert doc["error"].startswith(f"{len(doc['not_ready'])} object(s) not ready: ")
    assert "StatefulSet monitoring/prometheus (InProgress: Ready: 0/1)" in doc["error"]


def test_json_report_of_a_good_deploy_has_no_error_field(kind: Cluster, tmp_path: Path) -> None:
    """`error` is there only when result is not ok (README's stackcheck.deploy/v1)."""
    report = tmp_path / "deploy.json"
    kind.deploy(wait=False, json_path=str(report))
    doc = json.loads(report.read_text())
    assert doc["result"] == "ok" and "error" not in doc


def test_a_changed_config_rolls_the_workloads_that_mount_it(kind: Cluster, tmp_path: Path) -> None:
    """A ConfigMap change changes the config-hash of the workloads mounting it, and only theirs."""
    from stackcheck.deploy.plan import CONFIG_HASH_ANNOTATION

    kind.deploy(wait=False)
    copy = tmp_path / "manifests"
    shutil.copytree(Path(__file__).resolve().parent.parent / "manifests", copy)
    blackbox = copy / "config" / "blackbox" / "blackbox.yml"
    blackbox.write_text(blackbox.read_text() + "# changed\n")

    def hashes() -> dict[str, str]:
        return {k[2]: o["spec"]["template"]["metadata"].get("annotations", {}).get(CONFIG_HASH_ANNOTATION, "")
                for k, o in kind.fake.objects.items() if k[0] in ("deployments", "statefulsets",
                                                                  "daemonsets")}

    before = hashes()
    kind.deploy(wait=False, manifests=str(copy))
    after = hashes()
    assert {name for name in before if before[name] != after[name]} == {"blackbox-exporter"}


def _wait_after(kind: Cluster, *, terminal: bool = False) -> tuple[bool, str]:
    """Deploy --no-wait, then run deploy's wait (and diagnosis) on the workloads, on the fake clock."""
    import io

    from rich.console import Console

    from stackcheck.deploy.diagnose import diagnose
    from stackcheck.deploy.wait import wait
    from stackcheck.kube.apply import Ref
    from stackcheck.kube.config import load_access

    kube = load_access(None, str(kind.kubeconfig), environ=kind.env)
    out = io.StringIO()
    console = Console(file=out, width=250, force_terminal=terminal)
    refs = [Ref.of(o) for o in rendered() if o["kind"] in ("Deployment", "StatefulSet")]
    ok, items = wait(kube, refs, 300, console, clock=kind.clock, sleep=kind.clock.sleep)
    if not ok:
        diagnose(kube, items, console)
    return ok, out.getvalue()


def test_image_pull_backoff_fails_fast_and_names_the_waiting_reason(kind: Cluster) -> None:
    """A pod stuck in ImagePullBackOff past its grace fails the wait long before the timeout, and the
    diagnosis quotes the container's waiting reason and message."""
    kind.deploy(wait=False)
    pod = next(p for k, p in kind.fake.objects.items() if k[0] == "pods" and k[2].startswith("grafana-"))
    pod["status"]["containerStatuses"] = [{"name": "grafana", "ready": False, "restartCount": 0, "state": {
        "waiting": {"reason": "ImagePullBackOff",
                    "message": 'Back-off pulling image "grafana/grafana:12.3.1"'}}}]
    start = kind.clock.now
    ok, out = _wait_after(kind)
    assert not ok and kind.clock.now - start < 60
    assert "Deployment monitoring/grafana: Failed: pod grafana-" in out
    assert ('container grafana waiting: ImagePullBackOff: Back-off pulling image '
            '"grafana/grafana:12.3.1"') in out


def test_the_live_table_on_a_terminal_shows_each_object(kind: Cluster) -> None:
    """On a terminal the wait draws a table with every object and its status."""
    kind.deploy(wait=False)
    kind.fake.deadline_exceeded.add(("monitoring", "grafana"))
    kind.fake.expire_deadline("monitoring", "grafana")
    ok, out = _wait_after(kind, terminal=True)
    assert not ok and "StatefulSet monitoring/prometheus" in out and "waiting: " in out


def test_dry_run_lists_what_would_be_pruned_and_deletes_nothing(kind: Cluster, tmp_path: Path) -> None:
    """In a dry run the change table shows the prune, and nothing is deleted."""
    kind.deploy(wait=False)
    _, out = kind.deploy(dry_run=True, manifests=str(_manifests_without_pdb(tmp_path)))
    assert re.search(r"prune +│ PodDisruptionBudget phase5/phase5-backend", out) and "1 to prune" in out
    assert ("poddisruptionbudgets", "phase5", "phase5-backend") in kind.fake.objects
    assert not [w for w in _writes(kind) if w.startswith("DELETE")]


def test_no_wait_json_has_each_objects_status_as_applied(kind: Cluster, tmp_path: Path) -> None:
    """--no-wait --json still gives every object a kstatus, the one it had when applied."""
    report = tmp_path / "deploy.json"
    kind.deploy(wait=False, json_path=str(report))
    doc = json.loads(report.read_text())
    assert doc["result"] == "ok" and all(o["status"] for o in doc["objects"])
    assert {o["status"] for o in doc["objects"] if o["kind"] == "Namespace"} == {"Current"}


def test_optional_secret_mounts_are_not_required() -> None:
    """A Secret a pod mounts with ``optional: true`` (the smoke exporter's credentials) is not demanded."""
    from stackcheck.deploy.secrets import mounted_secrets

    def pod(volume: dict[str, object]) -> dict[str, object]:
        return {"kind": "Deployment", "metadata": {"name": "x", "namespace": "monitoring"},
                "spec": {"template": {"spec": {"containers": [], "volumes": [volume]}}}}

    optional = pod({"name": "c", "secret": {"secretName": "stackcheck-credentials", "optional": True}})
    required = pod({"name": "c", "secret": {"secretName": "grafana-admin"}})
    assert mounted_secrets([optional, required]) == {("monitoring", "grafana-admin")}
