"""``stackcheck destroy`` against the Kubernetes API double: exactly the inventory, in reverse, waited for."""
from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackcheck.errors import UsageError
from tests.deployfake import Cluster, cluster, rendered, store_key

MANAGED_BY = {"app.kubernetes.io/managed-by": "stackcheck"}


@pytest.fixture
def deployed(tmp_path: Path) -> Iterator[Cluster]:
    """The kind overlay deployed (--no-wait) on an empty no-node cluster with a kind context."""
    for c in cluster(tmp_path):
        code, _ = c.deploy(wait=False)
        assert code == 0
        yield c


def test_destroy_removes_every_inventory_member_namespaces_included(deployed: Cluster) -> None:
    """destroy deletes every object deploy made, the Namespaces too, and waits until they are gone."""
    code, out = deployed.destroy()
    assert code == 0
    left = [store_key(o) for o in rendered() if store_key(o) in deployed.fake.objects]
    assert left == []
    assert ("secrets", "monitoring", "grafana-admin") not in deployed.fake.objects
    assert "4/4 gone" in out and "all gone" in out


def test_destroy_deletes_the_statefulsets_claims(deployed: Cluster) -> None:
    """The claims StatefulSets made have no owner; destroy deletes them."""
    deployed.destroy()
    assert not [k for k in deployed.fake.objects if k[0] == "persistentvolumeclaims"]
    assert "DELETE /api/v1/namespaces/monitoring/persistentvolumeclaims/data-prometheus-0" in [
        f"{r.method} {r.path}" for r in deployed.fake.requests]


def test_keep_pvcs_keeps_the_claims_and_their_namespace(deployed: Cluster) -> None:
    """--keep-pvcs leaves the StatefulSets' claims, and the namespace that holds them."""
    code, out = deployed.destroy(keep_pvcs=True)
    assert code == 0
    assert ("persistentvolumeclaims", "monitoring", "data-prometheus-0") in deployed.fake.objects
    assert ("namespaces", "", "monitoring") in deployed.fake.objects
    assert ("namespaces", "", "tracing") not in deployed.fake.objects
    assert "keeping namespaces monitoring" in out


def test_an_object_with_the_managed_by_label_outside_the_inventory_survives(deployed: Cluster) -> None:
    """destroy never deletes by label: a managed-by-labelled object deploy did not make stays."""
    stranger = deployed.fake.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "not-ours", "namespace": "default", "labels": MANAGED_BY}, "data": {"a": "b"}}, "kubectl")
    deployed.destroy()
    assert deployed.fake.get("configmaps", "default", "not-ours") == stranger
    assert not [r for r in deployed.fake.requests if r.method == "DELETE" and "labelSelector" in r.query]


def test_destroy_deletes_in_reverse_apply_order(deployed: Cluster) -> None:
    """Workloads go before their config, config before RBAC, Namespaces last."""
    deployed.destroy()
    deletes = [r.path for r in deployed.fake.requests if r.method == "DELETE"]
    position = {p.rsplit("/", 2)[-2]: i for i, p in reversed(list(enumerate(deletes)))}
    assert position["statefulsets"] < position["configmaps"] < position["serviceaccounts"]
    assert position["clusterroles"] < position["namespaces"]
    assert all("/namespaces/" in p and p.count("/") == 4 for p in deletes[-4:])


def test_a_member_whose_uid_changed_is_kept(deployed: Cluster) -> None:
    """An object re-created by someone else under a member's name (new uid) is not deleted."""
    deployed.fake.objects[("clusterroles", "", "stackcheck-alloy")]["metadata"]["uid"] = "someone-else"
    code, out = deployed.destroy()
    assert ("clusterroles", "", "stackcheck-alloy") in deployed.fake.objects
    assert "keeping ClusterRole stackcheck-alloy: its uid is not the one deploy recorded" in out
    assert code == 0


def test_a_namespace_held_by_a_finalizer_is_reported_with_its_conditions(deployed: Cluster) -> None:
    """A namespace stuck Terminating is named with the namespace controller's conditions; exit 1."""
    deployed.fake.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "hold", "namespace": "tracing", "finalizers": ["contracts.stackcheck.dev/hold"]}}, "kubectl")
    code, out = deployed.destroy(timeout_s=20)
    assert code == 1
    assert "still there: Namespace tracing" in out
    assert ("condition NamespaceFinalizersRemaining SomeFinalizersRemain: Some content in the namespace has "
            "finalizers remaining: contracts.stackcheck.dev/hold in 1 resource instances") in out


def test_a_non_kind_context_asks_first_and_no_means_nothing_is_deleted(tmp_path: Path) -> None:
    """On a context that is not kind, destroy asks; anything but yes deletes nothing."""
    for c in cluster(tmp_path, context="prod-eu"):
        c.deploy(wait=False, allow_faults=True)
        code, out = c.destroy(answer="n")
        assert code == 1 and "Nothing deleted." in out
        assert not [r for r in c.fake.requests if r.method == "DELETE"]


def test_no_terminal_to_ask_on_a_non_kind_context_is_a_usage_error(tmp_path: Path) -> None:
    """Without a terminal to ask and without --yes, destroy refuses with the fix."""
    for c in cluster(tmp_path, context="prod-eu"):
        c.deploy(wait=False, allow_faults=True)
        with pytest.raises(UsageError, match="pass --yes"):
            c.destroy(answer=None)


def test_yes_destroys_on_a_non_kind_context(tmp_path: Path) -> None:
    """--yes is the explicit consent on a context that is not kind."""
    for c in cluster(tmp_path, context="prod-eu"):
        c.deploy(wait=False, allow_faults=True)
        code, _ = c.destroy(yes=True)
        assert code == 0 and ("namespaces", "", "phase5") not in c.fake.objects


def test_no_inventory_means_nothing_is_deleted(tmp_path: Path) -> None:
    """Without the inventory Secret, destroy says so and deletes nothing (never falls back to labels)."""
    for c in cluster(tmp_path):
        code, out = c.destroy()
        assert code == 0 and "deploy has recorded nothing in this cluster" in out
        assert not [r for r in c.fake.requests if r.method == "DELETE"]


def _hand_made_grafana_admin(tmp_path: Path) -> Iterator[Cluster]:
    """A stack first applied with `kubectl apply -k`, whose grafana-admin Secret was made by hand, then
    deployed: deploy leaves that Secret as it is, and it is no inventory member."""
    for c in cluster(tmp_path):
        c.fake.client_side_apply({"apiVersion": "v1", "kind": "Namespace",
                                  "metadata": {"name": "monitoring"}})
        c.fake.create({"apiVersion": "v1", "kind": "Secret",
                       "metadata": {"name": "grafana-admin", "namespace": "monitoring"},
                       "data": {"admin-password": "aGFuZA=="}}, "kubectl")
        assert c.deploy(wait=False)[0] == 0
        yield c


def test_destroy_deletes_a_secret_made_by_hand_with_its_namespace(tmp_path: Path) -> None:
    """README, moving from kubectl apply -k: the namespace goes, and the hand-made Secret with it."""
    for c in _hand_made_grafana_admin(tmp_path):
        assert not [r for r in c.fake.requests if r.method == "DELETE"]
        c.destroy()
        assert c.fake.get("secrets", "monitoring", "grafana-admin") is None
        assert not [r for r in c.fake.requests if r.method == "DELETE" and r.path.endswith("/grafana-admin")]


def test_keep_pvcs_keeps_a_secret_made_by_hand_in_the_kept_namespace(tmp_path: Path) -> None:
    """--keep-pvcs keeps monitoring (it holds the claims), so the hand-made Secret stays too."""
    for c in _hand_made_grafana_admin(tmp_path):
        c.destroy(keep_pvcs=True)
        secret = c.fake.get("secrets", "monitoring", "grafana-admin")
        assert secret is not None and secret["data"] == {"admin-password": "aGFuZA=="}


def test_a_password_kept_from_before_destroy_comes_back_with_secret_file(tmp_path: Path) -> None:
    """README's way to keep grafana-admin across destroy: --secret-file gives the random key its old value,
    which is stored and never printed."""
    for c in _hand_made_grafana_admin(tmp_path):
        c.destroy()
        kept = tmp_path / "grafana-admin-password"
        kept.write_text("canary-grafana-7c1e\n")
        _, out = c.deploy(wait=False, secret_files=[f"grafana-admin/admin-password={kept}"])
        secret = c.fake.get("secrets", "monitoring", "grafana-admin")
        assert secret is not None
        assert base64.b64decode(secret["data"]["admin-password"]) == b"canary-grafana-7c1e"
        assert "Secret monitoring/grafana-admin created (value not shown)" in out and "canary-" not in out
