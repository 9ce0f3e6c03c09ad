"""Shared set-up for the deploy and destroy tests: an empty no-node cluster (kubefake) and a quiet console."""
from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from stackcheck.deploy.destroy import DestroyOptions, destroy
from stackcheck.deploy.plan import render
from stackcheck.deploy.run import DeployOptions, deploy
from stackcheck.manifests import Manifests
from tests.kubefake import KubeFake

TOKEN = "kube-token-deploy-3c1d9e"
SYSTEM_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps: waits run instantly."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(seconds, 0.01)


@dataclass
class Cluster:
    """The double, a kubeconfig for it, and helpers to run deploy/destroy against it."""

    fake: KubeFake
    kubeconfig: Path
    home: Path
    clock: FakeClock

    @property
    def env(self) -> dict[str, str]:
        return {"HOME": str(self.home)}

    def deploy(self, **options: Any) -> tuple[int, str]:
        out = io.StringIO()
        options.setdefault("kubeconfig", str(self.kubeconfig))
        code = deploy(DeployOptions(**options), Console(file=out, width=250), environ=self.env,
                      clock=self.clock, sleep=self.clock.sleep)
        return code, out.getvalue()

    def destroy(self, answer: str | None = None, **options: Any) -> tuple[int, str]:
        out = io.StringIO()
        options.setdefault("kubeconfig", str(self.kubeconfig))

        def ask(prompt: str) -> str:
            if answer is None:
                raise EOFError
            return answer

        code = destroy(DestroyOptions(**options), Console(file=out, width=250), environ=self.env, ask=ask,
                       clock=self.clock, sleep=self.clock.sleep)
        return code, out.getvalue()

    def stack_objects(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        """Everything stored that is not the cluster's own."""
        return {k: v for k, v in self.fake.objects.items()
                if not (k[0] == "namespaces" and k[2] in SYSTEM_NAMESPACES) and k[1] not in SYSTEM_NAMESPACES}


def rendered(overlay: str = "kind", manifests: str | None = None) -> list[dict[str, Any]]:
    return render(overlay, Manifests.find(manifests)).objects


def store_key(body: dict[str, Any]) -> tuple[str, str, str]:
    from tests.kubefake import BY_KEY

    kind, meta = body["kind"], body["metadata"]
    res = next(r for r in BY_KEY.values() if r.kind == kind and r.api_version == body["apiVersion"])
    return res.key, str(meta.get("namespace") or "") if res.namespaced else "", meta["name"]


def cluster(tmp_path: Path, context: str = "kind-stackcheck") -> Iterator[Cluster]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    with KubeFake(TOKEN, seed=False) as fake:
        config = fake.write_kubeconfig(tmp_path / "kubeconfig", context=context)
        yield Cluster(fake, config, home, FakeClock())
