"""The Kubernetes double answers as the real 1.36 API server did (tests/contracts/kubernetes, copied from
shared/contracts/fixtures/kubernetes). Volatile fields (uid, resourceVersion, timestamps) are not compared."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.kubefake import KubeFake
from tests.kubefake_cluster import CONTRACTS, request_body, response

TOKEN = "kube-token-contracts-77aa"


@pytest.fixture
def fake() -> Iterator[KubeFake]:
    with KubeFake(TOKEN) as double:
        yield double


def call(fake: KubeFake, method: str, path: str, *, token: str | None = TOKEN, body: Any = None,
         content_type: str = "application/json", **query: str) -> requests.Response:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = body if isinstance(body, str) or body is None else json.dumps(body)
    return requests.request(method, fake.url + path, params=query, data=data, headers=headers, timeout=5)


def _same(answer: requests.Response, fixture: str) -> None:
    status, expected, _ = response(fixture)
    assert answer.status_code == status
    assert answer.json() == expected


def test_service_without_endpoints_is_503_no_endpoints(fake: KubeFake) -> None:
    """a1: a Service whose pods are not ready answers 503 "no endpoints available" (the Status, as
    captured)."""
    fake.endpoints.discard(("monitoring", "prometheus"))
    _same(call(fake, "GET", "/api/v1/namespaces/monitoring/services/http:prometheus:9090/proxy/-/ready"),
          "a1_svc_proxy_no_endpoints_scheme_form")


def test_unknown_service_port_is_503(fake: KubeFake) -> None:
    """a5: a port the Service lacks."""
    _same(call(fake, "GET", "/api/v1/namespaces/monitoring/services/http:prometheus:9999/proxy/"),
          "a5_svc_proxy_unknown_port")


def test_malformed_service_ref_is_400(fake: KubeFake) -> None:
    """a6: `a:b:c:d` is a bad request, not a 404."""
    _same(call(fake, "GET", "/api/v1/namespaces/monitoring/services/a:b:c:d/proxy/"),
          "a6_svc_proxy_malformed_ref")


def test_unknown_service_is_404(fake: KubeFake) -> None:
    """a7."""
    _same(call(fake, "GET", "/api/v1/namespaces/monitoring/services/http:nope:80/proxy/"),
          "a7_svc_proxy_unknown_service")


def test_pod_proxy_to_a_pod_without_ip_is_400_address_not_allowed(fake: KubeFake) -> None:
    """b1: a Pending pod has no IP, and the pod proxy says "address not allowed"."""
    pod = next(iter(fake.probe_pod_names()))
    fake.objects[("pods", "phase5", pod)]["status"] = response("g4_pod_pending_grafana")[1]["status"]
    _same(call(fake, "POST", f"/api/v1/namespaces/phase5/pods/{pod}:8080/proxy/faults"),
          "b1_pod_proxy_pending_pod")


def test_no_credentials_is_403_for_system_anonymous(fake: KubeFake) -> None:
    """c1: without credentials the server answers 403 Forbidden for system:anonymous, not 401."""
    _same(call(fake, "GET", "/api/v1/namespaces/phase5", token=None), "c1_anonymous_get_namespace")


def test_version_needs_no_credentials(fake: KubeFake) -> None:
    """c3: /version answers anonymously."""
    assert call(fake, "GET", "/version", token=None).status_code == 200


def test_a_bad_token_is_401(fake: KubeFake) -> None:
    """c5."""
    _same(call(fake, "GET", "/api/v1/namespaces/phase5", token="not-a-valid-token"), "c5_bad_bearer_token")


CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa-demo", "namespace": "default"},
      "data": {"key": "value"}}
CM_PATH = "/api/v1/namespaces/default/configmaps/ssa-demo"
APPLY = "application/apply-patch+yaml"


def test_apply_creates_201_then_a_same_apply_is_200_with_the_same_resource_version(fake: KubeFake) -> None:
    """d1, d2: create answers 201; the same body again 200, same resourceVersion and managedFields."""
    first = call(fake, "PATCH", CM_PATH, body=CM, content_type=APPLY, fieldManager="stackcheck")
    again = call(fake, "PATCH", CM_PATH, body=CM, content_type=APPLY, fieldManager="stackcheck")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["metadata"]["resourceVersion"] == again.json()["metadata"]["resourceVersion"]
    assert [e["manager"] for e in again.json()["metadata"]["managedFields"]] == ["stackcheck"]


def test_apply_of_another_managers_field_is_a_409_conflict(fake: KubeFake) -> None:
    """d3: the conflict Status, message and cause as captured."""
    call(fake, "PATCH", CM_PATH, body=CM, content_type=APPLY, fieldManager="stackcheck")
    other = {**CM, "data": {"key": "other"}}
    answer = call(fake, "PATCH", CM_PATH, body=other, content_type=APPLY, fieldManager="other-manager")
    _, expected, _ = response("d3_apply_conflict_other_manager")
    assert answer.status_code == 409 and answer.json() == expected


def test_apply_conflict_with_client_side_apply_names_the_api_version(fake: KubeFake) -> None:
    """d10: a conflict with an Update manager reads `conflict with "kubectl-client-side-apply" using v1`."""
    fake.client_side_apply(CM)
    answer = call(fake, "PATCH", CM_PATH, body={**CM, "data": {"key": "changed"}}, content_type=APPLY,
                  fieldManager="stackcheck")
    assert answer.status_code == 409
    assert answer.json()["message"] == response("d10_apply_after_client_side_apply")[1]["message"]


def test_dry_run_apply_stores_nothing(fake: KubeFake) -> None:
    """d5, d6: a dry-run create answers 201 without resourceVersion, and a GET then 404s."""
    answer = call(fake, "PATCH", CM_PATH, body=CM, content_type=APPLY, fieldManager="stackcheck",
                  dryRun="All")
    assert answer.status_code == 201 and "resourceVersion" not in answer.json()["metadata"]
    assert call(fake, "GET", CM_PATH).status_code == 404


def test_apply_without_field_manager_is_422(fake: KubeFake) -> None:
    """d8."""
    _same(call(fake, "PATCH", CM_PATH, body=CM, content_type=APPLY), "d8_apply_missing_fieldmanager")


def test_apply_with_an_unknown_field_is_500_without_reason(fake: KubeFake) -> None:
    """d7: whatever fieldValidation says, an unknown field fails the apply with a 500 and no reason."""
    path = "/api/v1/namespaces/default/configmaps/ssa-unknown"
    body = {**CM, "metadata": {"name": "ssa-unknown", "namespace": "default"}, "unknownTopLevel": 1}
    answer = call(fake, "PATCH", path, body=body, content_type=APPLY, fieldManager="stackcheck",
                  fieldValidation="Strict")
    assert answer.status_code == 500 and "reason" not in answer.json()
    assert answer.json()["message"].endswith(".unknownTopLevel: field not declared in schema")


def test_strategic_merge_keeps_the_other_containers(fake: KubeFake) -> None:
    """e1: a strategic-merge patch of containers merges by name."""
    name = "phase5-backend"
    path = f"/apis/apps/v1/namespaces/phase5/deployments/{name}"
    before = call(fake, "GET", path).json()["spec"]["template"]["spec"]["containers"][0]
    patch = {"spec": {"template": {"spec": {"containers": [{"name": before["name"], "image": "probe:2"}]}}}}
    after = call(fake, "PATCH", path, body=patch,
                 content_type="application/strategic-merge-patch+json").json()
    container = after["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "probe:2" and container["ports"] == before["ports"]


def test_json_patch_is_served_and_a_failed_test_is_a_generic_422(fake: KubeFake) -> None:
    """e4, e5."""
    path = "/apis/apps/v1/namespaces/phase5/deployments/phase5-backend"
    ok = call(fake, "PATCH", path, body=[{"op": "replace", "path": "/spec/replicas", "value": 3}],
              content_type="application/json-patch+json")
    assert ok.status_code == 200 and ok.json()["spec"]["replicas"] == 3
    _same(call(fake, "PATCH", path, body=[{"op": "test", "path": "/spec/replicas", "value": 9}],
               content_type="application/json-patch+json"), "e5_json_patch_test_failed")


def test_patch_as_plain_json_is_415(fake: KubeFake) -> None:
    """e7."""
    _same(call(fake, "PATCH", "/apis/apps/v1/namespaces/phase5/deployments/phase5-backend",
               body={"spec": {}}),
          "e7_patch_content_type_application_json")


HPA = "/apis/autoscaling/v2/namespaces/phase5/horizontalpodautoscalers/phase5-backend"


def test_hpa_max_replicas_null_is_422(fake: KubeFake) -> None:
    """f1."""
    _same(call(fake, "PATCH", HPA, body={"spec": {"maxReplicas": None}},
               content_type="application/merge-patch+json"),
          "f1_hpa_maxreplicas_null")


def test_hpa_max_below_min_is_422(fake: KubeFake) -> None:
    """f2."""
    _same(call(fake, "PATCH", HPA, body={"spec": {"maxReplicas": 1}},
               content_type="application/merge-patch+json"),
          "f2_hpa_max_below_min")


def test_strict_validation_refuses_an_unknown_field_and_default_warns(fake: KubeFake) -> None:
    """f4, f5: Strict → 422; without it → 200 and the server's Warning header."""
    patch = {"spec": {"maxReplica": 3}}
    smp = "application/strategic-merge-patch+json"
    _same(call(fake, "PATCH", HPA, body=patch, content_type=smp, fieldValidation="Strict", dryRun="All"),
          "f4_hpa_unknown_field_strict")
    lax = call(fake, "PATCH", HPA, body=patch, content_type=smp)
    assert lax.status_code == 200 and lax.headers["Warning"] == response("f5_hpa_unknown_field_default")[2][0]


def test_the_hpa_has_no_generation(fake: KubeFake) -> None:
    """g9: the API server keeps no metadata.generation on an HPA."""
    assert "generation" not in call(fake, "GET", HPA).json()["metadata"]


def test_deleting_a_namespace_answers_terminating_then_it_goes(fake: KubeFake) -> None:
    """h1, h2, h7: DELETE answers the Namespace Terminating; it is gone once emptied."""
    deleted = call(fake, "DELETE", "/api/v1/namespaces/tracing").json()
    assert deleted["kind"] == "Namespace" and deleted["status"]["phase"] == "Terminating"
    assert call(fake, "GET", "/api/v1/namespaces/tracing").json()["status"]["phase"] == "Terminating"
    assert call(fake, "GET", "/api/v1/namespaces/tracing").status_code == 404


def test_creating_in_a_terminating_namespace_is_403(fake: KubeFake) -> None:
    """h4."""
    call(fake, "DELETE", "/api/v1/namespaces/tracing")
    answer = call(fake, "POST", "/api/v1/namespaces/tracing/configmaps",
                  body={"metadata": {"name": "late"}, "data": {}})
    assert answer.status_code == 403
    assert answer.json()["details"]["causes"][0]["reason"] == "NamespaceTerminating"


def test_an_unscheduled_pod_is_gone_at_once_after_delete(fake: KubeFake) -> None:
    """k6, k7: DELETE of a never-scheduled pod answers the pod with grace 0, then 404."""
    compliant = request_body("j2_podsecurity_enforce_compliant_pod")  # phase5 enforces restricted
    created = call(fake, "POST", "/api/v1/namespaces/phase5/pods", fieldManager="stackcheck",
                   body={"metadata": {"name": "lonely"}, "spec": compliant["spec"]})
    assert created.status_code == 201
    deleted = call(fake, "DELETE", "/api/v1/namespaces/phase5/pods/lonely").json()
    assert deleted["kind"] == "Pod" and deleted["metadata"]["deletionGracePeriodSeconds"] == 0
    assert call(fake, "GET", "/api/v1/namespaces/phase5/pods/lonely").status_code == 404


def test_every_stored_object_has_managed_fields(fake: KubeFake) -> None:
    """#16: every object carries managedFields (the seeded stack: kubectl-client-side-apply)."""
    assert all(o["metadata"].get("managedFields") for o in fake.objects.values())


# -- PodSecurity (rows 21, 22; j1-j8) ---------------------------------------------------------------

SCRATCH = "/api/v1/namespaces/contracts-scratch"
SCRATCH_APPS = "/apis/apps/v1/namespaces/contracts-scratch"


@pytest.fixture
def scratch() -> Iterator[KubeFake]:
    """An empty cluster with d0's namespace: enforce, warn and audit ``restricted``."""
    with KubeFake(TOKEN, seed=False) as double:
        assert call(double, "POST", "/api/v1/namespaces", body=request_body("d0_create_namespace")).ok
        yield double


def _send(fake: KubeFake, fixture: str) -> requests.Response:
    """Send a capture's request again."""
    exchange = json.loads((CONTRACTS / f"{fixture}.json").read_text())["request"]
    return call(fake, exchange["method"], exchange["path"], body=exchange["body"])


def test_a_violating_pod_in_an_enforcing_namespace_is_the_captured_403(scratch: KubeFake) -> None:
    """j1: a hostNetwork pod in an enforce=restricted namespace gets the server's 403, word for word."""
    _same(_send(scratch, "j1_podsecurity_enforce_hostnetwork_pod"), "j1_podsecurity_enforce_hostnetwork_pod")


def test_a_violating_pod_under_an_existing_name_is_403_not_409(scratch: KubeFake) -> None:
    """Row 21: PodSecurity admission runs before the name check."""
    compliant = request_body("j2_podsecurity_enforce_compliant_pod")
    assert call(scratch, "POST", f"{SCRATCH}/pods", body=compliant).status_code == 201
    violating = request_body("j1_podsecurity_enforce_hostnetwork_pod")
    violating["metadata"]["name"] = "compliant"
    answer = call(scratch, "POST", f"{SCRATCH}/pods", body=violating)
    assert answer.status_code == 403 and answer.json()["message"].startswith(
        'pods "compliant" is forbidden: violates PodSecurity "restricted:latest": host namespaces')


def test_a_compliant_pod_under_an_existing_name_is_409(scratch: KubeFake) -> None:
    """k3: a compliant object with an existing name gets 409 AlreadyExists."""
    compliant = request_body("j2_podsecurity_enforce_compliant_pod")
    call(scratch, "POST", f"{SCRATCH}/pods", body=compliant)
    assert call(scratch, "POST", f"{SCRATCH}/pods", body=compliant).json()["reason"] == "AlreadyExists"


def test_an_apply_of_a_violating_pod_is_403_even_as_a_dry_run(scratch: KubeFake) -> None:
    """Server-side apply creates through the same admission; dryRun=All does not skip it (by hand)."""
    violating = request_body("j1_podsecurity_enforce_hostnetwork_pod")
    answer = call(scratch, "PATCH", f"{SCRATCH}/pods/hostnet", body=json.dumps(violating),
                  content_type="application/apply-patch+yaml", fieldManager="stackcheck", dryRun="All")
    assert answer.status_code == 403
    assert answer.json() == response("j1_podsecurity_enforce_hostnetwork_pod")[1]


def test_a_compliant_deployment_gets_no_warning_header(scratch: KubeFake) -> None:
    """j3."""
    answer = _send(scratch, "j3_podsecurity_warn_compliant_deployment")
    assert answer.status_code == 201 and "Warning" not in answer.headers


@pytest.mark.parametrize("fixture", ["j4_podsecurity_warn_noncompliant_deployment",
                                     "j5_podsecurity_warn_plain_deployment"])
def test_a_violating_deployment_is_created_with_the_captured_warning(scratch: KubeFake, fixture: str) -> None:
    """j4, j5: a workload is never refused, only warned, with the server's Warning text."""
    answer = _send(scratch, fixture)
    assert answer.status_code == 201
    assert answer.raw.headers.getlist("Warning") == response(fixture)[2]


def test_an_unchanged_apply_of_a_violating_workload_warns_again(scratch: KubeFake) -> None:
    """By hand on the real server: every write of a pod controller is judged, a no-op apply too."""
    body = request_body("j4_podsecurity_warn_noncompliant_deployment")
    for expected in (201, 200):
        answer = call(scratch, "PATCH", f"{SCRATCH_APPS}/deployments/psa-noncompliant", body=json.dumps(body),
                      content_type="application/apply-patch+yaml", fieldManager="stackcheck")
        assert answer.status_code == expected
        assert answer.headers["Warning"] == response("j4_podsecurity_warn_noncompliant_deployment")[2][0]


def test_without_a_warn_label_the_enforce_level_warns(scratch: KubeFake) -> None:
    """By hand: a namespace labelled only enforce=restricted warns on a violating Deployment."""
    call(scratch, "POST", "/api/v1/namespaces", body={"metadata": {"name": "enforce-only", "labels": {
        "pod-security.kubernetes.io/enforce": "restricted"}}})
    body = request_body("j4_podsecurity_warn_noncompliant_deployment")
    answer = call(scratch, "POST", "/apis/apps/v1/namespaces/enforce-only/deployments", body=body)
    assert answer.headers["Warning"] == response("j4_podsecurity_warn_noncompliant_deployment")[2][0]


def _no_volatile(obj: Any) -> Any:
    """Conditions without times; pod and ReplicaSet names (generated) masked."""
    text = json.dumps(obj)
    text = re.sub(r'"(last\w*Time)": "[^"]*"', r'"\1": "T"', text)
    return json.loads(re.sub(r"psa-noncompliant-[0-9a-f]{10}(-[a-z0-9]{5})?", "psa-noncompliant-H", text))


def test_the_pods_of_a_violating_deployment_are_refused_as_captured(scratch: KubeFake) -> None:
    """j8: the Deployment reports Progressing/Available/ReplicaFailure FailedCreate with the 403 message."""
    _send(scratch, "j4_podsecurity_warn_noncompliant_deployment")
    live = call(scratch, "GET", f"{SCRATCH_APPS}/deployments/psa-noncompliant").json()
    expected = response("j8_deployment_noncompliant_status")[1]["status"]
    assert _no_volatile(live["status"]) == _no_volatile(expected)
    assert scratch.of_kind("pods", "contracts-scratch") == []


def test_the_replicaset_of_a_violating_deployment_reports_replica_failure(scratch: KubeFake) -> None:
    """j6: the ReplicaSet has replicas 0 and ReplicaFailure True FailedCreate."""
    _send(scratch, "j4_podsecurity_warn_noncompliant_deployment")
    [replicaset] = scratch.of_kind("replicasets", "contracts-scratch")
    expected = response("j6_replicaset_pods_rejected")[1]["status"]
    assert _no_volatile(replicaset["status"]) == _no_volatile(expected)


def test_the_refusals_are_failed_create_events_of_the_replicaset(scratch: KubeFake) -> None:
    """j7: nine Warning FailedCreate "Error creating: pods … is forbidden: violates PodSecurity …", then
    the recorder's "(combined from similar events): …", which names no reporting component."""
    _send(scratch, "j4_podsecurity_warn_noncompliant_deployment")

    def shape(events: list[dict[str, Any]]) -> list[tuple[str, str, str, str, str]]:
        return sorted((e["involvedObject"]["kind"], e["type"], json.dumps(e["source"]),
                       e["reportingComponent"], _no_volatile(e["message"])) for e in events
                      if e["reason"] == "FailedCreate" and "psa-noncompliant" in e["message"])

    mine = call(scratch, "GET", f"{SCRATCH}/events").json()["items"]
    assert shape(mine) == shape(response("j7_events_scratch_namespace")[1]["items"])


def test_the_pods_of_a_violating_statefulset_are_refused_with_an_event(scratch: KubeFake) -> None:
    """By hand: a StatefulSet gets no condition, replicas 0, and a FailedCreate event of its own."""
    template = request_body("j4_podsecurity_warn_noncompliant_deployment")["spec"]["template"]
    body = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "sbad"},
            "spec": {"serviceName": "sbad", "selector": {"matchLabels": template["metadata"]["labels"]},
                     "template": template}}
    assert call(scratch, "POST", f"{SCRATCH_APPS}/statefulsets", body=body).status_code == 201
    live = call(scratch, "GET", f"{SCRATCH_APPS}/statefulsets/sbad").json()
    assert live["status"]["replicas"] == 0 and "conditions" not in live["status"]
    [event] = [e for e in call(scratch, "GET", f"{SCRATCH}/events").json()["items"]
               if e["reason"] == "FailedCreate"]
    assert event["message"].startswith('Create Pod sbad-0 in StatefulSet sbad failed error: pods "sbad-0" is '
                                       'forbidden: violates PodSecurity "restricted:latest": host namespaces')


def test_a_stricter_enforce_label_warns_about_the_pods_already_there(scratch: KubeFake) -> None:
    """By hand: relabelling a namespace to a stricter enforce level answers with a Warning that names
    the level, then one per group of pods with the same violations (check names only)."""
    call(scratch, "POST", "/api/v1/namespaces", body={"metadata": {"name": "relabel"}})
    plain = {"containers": [{"name": "c", "image": "x:1"}]}
    for name in ("b2", "b1"):
        call(scratch, "POST", "/api/v1/namespaces/relabel/pods",
             body={"metadata": {"name": name}, "spec": plain})
    call(scratch, "POST", "/api/v1/namespaces/relabel/pods",
         body={"metadata": {"name": "h"}, "spec": {**plain, "hostNetwork": True}})
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "relabel", "labels": {
        "pod-security.kubernetes.io/enforce": "restricted"}}}
    answers = [call(scratch, "PATCH", "/api/v1/namespaces/relabel", body=json.dumps(namespace),
                    content_type="application/apply-patch+yaml", fieldManager="stackcheck") for _ in range(2)]
    checks = ("allowPrivilegeEscalation != false, unrestricted capabilities, runAsNonRoot != true, "
              "seccompProfile")
    assert answers[0].raw.headers.getlist("Warning") == [
        ('299 - "existing pods in namespace \\"relabel\\" violate the new PodSecurity enforce level '
         '\\"restricted:latest\\""'),
        f'299 - "b1 (and 1 other pod): {checks}"', f'299 - "h: host namespaces, {checks}"']
    assert "Warning" not in answers[1].headers  # the same level again: nothing new to say
