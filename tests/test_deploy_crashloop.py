"""deploy's wait on a crash-looping workload and on image pulls, with the container statuses a real
1.36 kubelet wrote (tests/contracts/kubernetes p1-p5), served by the API double."""
from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from stackcheck.deploy.diagnose import diagnose
from stackcheck.deploy.wait import Tracked, wait
from stackcheck.kube.apply import Ref
from stackcheck.kube.config import load_access
from tests.deployfake import Cluster, cluster
from tests.kubefake_cluster import body

#: The crasher's container as the kubelet showed it every 5 s: back-off, exited, back-off, a second of
#: running (Ready: no readiness probe), ... (p1-p3, one capture each).
CRASH_CYCLE = ("p1_pod_crashloop_backoff", "p2_pod_crash_terminated_before_backoff",
               "p3_pod_crash_running_between_backoffs")


@pytest.fixture
def kind(tmp_path: Path) -> Iterator[Cluster]:
    yield from cluster(tmp_path)


def _pod_of(kind: Cluster, prefix: str) -> dict[str, Any]:
    return next(p for k, p in kind.fake.objects.items() if k[0] == "pods" and k[2].startswith(prefix))


def _kubelet(kind: Cluster, pod: dict[str, Any], fixture: str) -> None:
    """The pod (and its Deployment) as the real kubelet and controller left them in that capture."""
    captured = body(fixture)["status"]
    pod["status"], pod["spec"] = captured, body(fixture)["spec"]  # the crasher's: no readiness probe
    owner = pod["metadata"]["labels"]["app.kubernetes.io/name"]
    deployment = kind.fake.objects[("deployments", pod["metadata"]["namespace"], owner)]
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in captured["conditions"])
    deployment["status"] = body("p4_deployment_available" if ready else
                                "g1a_deployment_grafana_within_deadline")["status"]


def _wait(kind: Cluster, refs: list[Ref], on_sleep: Any = None, wall: datetime | None = None,
          server_clock: bool = False) -> tuple[bool, list[Tracked], str]:
    kube = load_access(None, str(kind.kubeconfig), environ=kind.env)
    out = io.StringIO()
    console = Console(file=out, width=250)

    def sleep(seconds: float) -> None:
        kind.clock.sleep(seconds)
        if on_sleep is not None:
            on_sleep()

    fixed = wall or datetime.fromisoformat("2026-12-01T13:22:00Z")
    ok, items = wait(kube, refs, 300, console, clock=kind.clock, sleep=sleep,
                     wall=None if server_clock else lambda: fixed)
    if not ok:
        diagnose(kube, items, console)
    return ok, items, out.getvalue()


def test_a_crash_looping_deployment_is_never_ready_even_when_a_poll_lands_while_it_runs(
        kind: Cluster) -> None:
    """kstatus calls the Deployment Current in the second its crash-looping container runs (p3 + p4);
    the wait does not, and fails it once it has crash-looped past the grace."""
    kind.deploy(wait=False)
    pod = _pod_of(kind, "kube-state-metrics-")
    polls = iter(range(1000))
    _kubelet(kind, pod, CRASH_CYCLE[2])
    ref = Ref("apps", "Deployment", "monitoring", "kube-state-metrics", "apps/v1")
    ok, items, out = _wait(kind, [ref],
                           on_sleep=lambda: _kubelet(kind, pod, CRASH_CYCLE[next(polls) % 3]))
    assert not ok
    assert items[0].result.status == "Failed"
    assert "Current: Deployment is available" not in out
    assert "is crash-looping: restarted" in items[0].result.message


def test_the_first_run_of_a_container_without_readiness_probe_is_not_ready_yet(kind: Cluster) -> None:
    """The crasher's first run (p6: Running, Ready, restartCount 0) made kstatus say Current on the
    real cluster; the wait holds it until it has run 30 s, and sees the crash loop that follows."""
    kind.deploy(wait=False)
    pod = _pod_of(kind, "kube-state-metrics-")
    _kubelet(kind, pod, "p6_pod_crasher_first_run")
    polls = iter(range(1000))
    ok, items, out = _wait(kind, [Ref("apps", "Deployment", "monitoring", "kube-state-metrics", "apps/v1")],
                           on_sleep=lambda: _kubelet(kind, pod, CRASH_CYCLE[next(polls) % 3]),
                           wall=datetime.fromisoformat("2026-12-01T13:37:48Z"))
    assert not ok and items[0].result.reason == "CrashLoopBackOff"
    assert "running for less than 30s (no readiness probe" in out
    assert "Current: Deployment is available" not in out


def test_a_brief_run_between_back_offs_does_not_restart_the_grace(kind: Cluster) -> None:
    """The fail-fast grace counts from the first crash seen: a run between two back-offs keeps it."""
    kind.deploy(wait=False)
    pod = _pod_of(kind, "kube-state-metrics-")
    _kubelet(kind, pod, CRASH_CYCLE[0])
    # back-off, then running every other poll: the old timer reset at each run and never reached 20 s
    cycle = iter([CRASH_CYCLE[2], CRASH_CYCLE[0]] * 500)
    start = kind.clock.now
    ok, items, _ = _wait(kind, [Ref("apps", "Deployment", "monitoring", "kube-state-metrics", "apps/v1")],
                         on_sleep=lambda: _kubelet(kind, pod, next(cycle)))
    assert not ok and items[0].result.reason == "CrashLoopBackOff"
    assert kind.clock.now - start < 40


def test_a_container_that_restarted_long_ago_and_runs_is_ready(kind: Cluster) -> None:
    """A restart long before this deploy (started 30 s+ ago by the kubelet's clock) holds nothing up."""
    kind.deploy(wait=False)
    pod = _pod_of(kind, "kube-state-metrics-")
    _kubelet(kind, pod, CRASH_CYCLE[2])  # running since 13:21:59Z, restartCount 3
    ok, items, _ = _wait(kind, [Ref("apps", "Deployment", "monitoring", "kube-state-metrics", "apps/v1")],
                         wall=datetime.fromisoformat("2026-12-01T14:00:00Z"))
    assert ok and items[0].result.status == "Current"


def test_a_container_just_restarted_must_stay_up_before_it_counts(kind: Cluster) -> None:
    """Running one second after a restart is not ready yet; running 30 s without a crash is."""
    kind.deploy(wait=False)
    pod = _pod_of(kind, "kube-state-metrics-")
    _kubelet(kind, pod, CRASH_CYCLE[2])
    start = kind.clock.now
    ok, _, out = _wait(kind, [Ref("apps", "Deployment", "monitoring", "kube-state-metrics", "apps/v1")])
    assert ok and kind.clock.now - start >= 30
    assert "running for less than 30s" in out


def test_crash_diagnosis_shows_the_last_exit_and_a_logs_command(kind: Cluster) -> None:
    """The diagnosis of a crash loop says how the container last ended and how to read its log."""
    kind.deploy(wait=False)
    pod = _pod_of(kind, "kube-state-metrics-")
    _kubelet(kind, pod, CRASH_CYCLE[0])
    ok, _, out = _wait(kind, [Ref("apps", "Deployment", "monitoring", "kube-state-metrics", "apps/v1")])
    name = pod["metadata"]["name"]
    assert not ok
    assert ("container blackbox last terminated: exit code 1 (Error) at 2026-12-01T13:21:21Z, "
            "restarted 1 times") in out
    assert (f"kubectl --kubeconfig {kind.kubeconfig} --context kind-stackcheck -n monitoring logs {name} "
            "-c blackbox --previous") in out


def test_a_container_down_before_its_restart_gets_the_logs_command_without_previous(kind: Cluster) -> None:
    """In state.terminated (p2) the run that ended is the current container: `--previous` would ask for
    the one before, which the real kubelet had already removed ("unable to retrieve container logs")."""
    kind.deploy(wait=False)
    pod = _pod_of(kind, "kube-state-metrics-")
    _kubelet(kind, pod, CRASH_CYCLE[1])
    ok, _, out = _wait(kind, [Ref("apps", "Deployment", "monitoring", "kube-state-metrics", "apps/v1")])
    assert not ok
    assert ("container blackbox last terminated: exit code 1 (Error) at 2026-12-01T13:21:31Z, "
            "restarted 2 times") in out
    assert (f"logs {pod['metadata']['name']} -c blackbox  (after its next restart: add --previous)") in out


def test_every_workload_stuck_on_an_image_is_reported_when_one_fails(kind: Cluster) -> None:
    """When the first object fails fast, the others whose pods are stuck on their image fail with it,
    each naming its waiting reason, not `Available: 0/1` alone."""
    kind.deploy(wait=False)
    for prefix in ("grafana-", "kube-state-metrics-"):
        _pod_of(kind, prefix)["status"] = body("p5_pod_image_pull_grafana")["status"]
    first = _pod_of(kind, "grafana-")
    refs = [Ref("apps", "Deployment", "monitoring", n, "apps/v1") for n in ("grafana", "kube-state-metrics")]
    ok, items, out = _wait(kind, refs)
    assert not ok and [i.result.status for i in items] == ["Failed", "Failed"]
    assert all('ImagePullBackOff: Back-off pulling image "docker.io/grafana/grafana:12.3.1"'
               in i.result.message for i in items)
    assert first["metadata"]["name"] in out


def test_a_just_unschedulable_workload_keeps_its_grace_when_another_fails(kind: Cluster) -> None:
    """An object whose pods are only Unschedulable is not called Failed because another one failed: the
    autoscaler's grace (UNSCHEDULABLE_GRACE_S) still holds for it (seen on the real 1.36 server: every
    pending pod was reported `Unschedulable for 0s`)."""
    kind.deploy(wait=False)
    _pod_of(kind, "grafana-")["status"] = body("p5_pod_image_pull_grafana")["status"]
    refs = [Ref("apps", "Deployment", "monitoring", n, "apps/v1") for n in ("grafana", "kube-state-metrics")]
    ok, items, out = _wait(kind, refs)
    assert not ok and [i.result.status for i in items] == ["Failed", "InProgress"], out
    assert "Unschedulable for 0s" not in out


def test_a_not_ready_workload_shows_its_pods_waiting_reason(kind: Cluster) -> None:
    """While it waits, the line of a workload says why its pods wait (short form of the kubelet's)."""
    kind.deploy(wait=False)
    _pod_of(kind, "grafana-")["status"] = body("p5_pod_image_pull_grafana")["status"]
    _, _, out = _wait(kind, [Ref("apps", "Deployment", "monitoring", "grafana", "apps/v1")])
    assert ('InProgress: Available: 0/1 (ImagePullBackOff: Back-off pulling image '
            '"docker.io/grafana/grafana:12.3.1")') in out


PULL_ERROR = ('failed to pull and unpack image "docker.io/grafana/grafana:12.3.1": failed to resolve '
              'reference "docker.io/grafana/grafana:12.3.1": failed to do request: Head '
              '"https://registry-1.docker.io/v2/grafana/grafana/manifests/12.3.1": dial tcp: lookup '
              'registry-1.docker.io on 10.255.255.53:53: dial udp 10.255.255.53:53: connect: network is '
              'unreachable')  # the kubelet's words on the real cluster (p5, and its Failed event)


def _pod_event(kind: Cluster, pod: dict[str, Any], reason: str, message: str, when: str) -> None:
    before = set(kind.fake.objects)
    kind.fake._event(pod, reason, message)
    for key in set(kind.fake.objects) - before:
        event = kind.fake.objects[key]
        if "involvedObject" in event:
            event.update(firstTimestamp=when, lastTimestamp=when)
        else:
            event.update(eventTime=None, deprecatedFirstTimestamp=when, deprecatedLastTimestamp=when)


def test_the_kubelets_pull_error_is_printed_once_and_events_read_oldest_first(kind: Cluster) -> None:
    """The diagnosis quotes the kubelet's error chain once (the waiting reason), the Failed event that
    repeats it is cut to its first clause, and the events of the Deployment, its ReplicaSet and its
    pod form one timeline, oldest first."""
    kind.deploy(wait=False)
    pod = _pod_of(kind, "grafana-")
    pod["status"] = body("p5_pod_image_pull_grafana")["status"]
    _pod_event(kind, pod, "Failed", f'Failed to pull image "docker.io/grafana/grafana:12.3.1": {PULL_ERROR}',
               "2026-12-01T13:28:41Z")
    _pod_event(kind, pod, "BackOff", 'Back-off pulling image "docker.io/grafana/grafana:12.3.1"',
               "2026-12-01T13:29:20Z")
    _, _, out = _wait(kind, [Ref("apps", "Deployment", "monitoring", "grafana", "apps/v1")])
    assert out.count(PULL_ERROR) == 1
    assert ('Failed: Failed to pull image "docker.io/grafana/grafana:12.3.1" (the error quoted '
            'above)') in out
    stamps = [line.split()[1] for line in out.splitlines() if line.startswith("  event ")]
    assert len(stamps) >= 2 and stamps == sorted(stamps)
    assert "Normal BackOff" not in out and "Warning BackOff" not in out  # all of it is the waiting reason


def test_a_progress_deadline_failure_also_names_the_pods_waiting_reason(kind: Cluster) -> None:
    """A Deployment kstatus fails on its own (ProgressDeadlineExceeded) still says why its pods wait."""
    kind.deploy(wait=False)
    _pod_of(kind, "grafana-")["status"] = body("p5_pod_image_pull_grafana")["status"]
    kind.fake.expire_deadline("monitoring", "grafana")
    ok, items, _ = _wait(kind, [Ref("apps", "Deployment", "monitoring", "grafana", "apps/v1")])
    assert not ok and items[0].result.message.startswith("Progress deadline exceeded")
    assert items[0].result.message.endswith(
        '(ImagePullBackOff: Back-off pulling image "docker.io/grafana/grafana:12.3.1")')


def test_a_fresh_restart_is_aged_by_the_api_servers_clock_not_ours(kind: Cluster) -> None:
    """Our clock runs hours ahead of the cluster's: by it, the container that started one second ago (p3,
    13:21:59Z by the kubelet) would look long settled. The wait reads the API server's ``Date``, so it
    still holds the workload until the container has run 30 s."""
    kind.deploy(wait=False)
    pod = _pod_of(kind, "kube-state-metrics-")
    _kubelet(kind, pod, CRASH_CYCLE[2])
    cluster_now = datetime.fromisoformat("2026-12-01T13:22:00Z")
    kind.fake.clock_offset_s = (cluster_now - datetime.now(UTC)).total_seconds()
    start = kind.clock.now
    ok, _, out = _wait(kind, [Ref("apps", "Deployment", "monitoring", "kube-state-metrics", "apps/v1")],
                       server_clock=True)
    assert ok and kind.clock.now - start >= 30
    assert "running for less than 30s" in out
