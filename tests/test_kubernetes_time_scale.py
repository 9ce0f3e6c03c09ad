"""The kubernetes target reads the time scale the kind overlay recorded on the monitoring namespace."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from stackcheck.errors import UsageError
from stackcheck.manifests import TIME_SCALE_ANNOTATION
from stackcheck.targets.kubernetes import kubernetes_target
from tests.kubefake import KubeFake
from tests.test_kubernetes_faults import TOKEN


@pytest.fixture
def fake() -> Iterator[KubeFake]:
    with KubeFake(TOKEN, allow_faults=("phase5", "monitoring")) as double:
        yield double


def _annotate(fake: KubeFake, value: str) -> None:
    meta = fake.objects[("namespaces", "", "monitoring")]["metadata"]
    meta.setdefault("annotations", {})[TIME_SCALE_ANNOTATION] = value


def _target(fake: KubeFake, tmp_path: Path, time_scale: float | None = None):  # type: ignore[no-untyped-def]
    config = fake.write_kubeconfig(tmp_path / "config")
    return kubernetes_target(None, str(config), time_scale=time_scale, environ={"HOME": str(tmp_path)})


def test_recorded_time_scale_is_used_and_reported(fake: KubeFake, tmp_path: Path) -> None:
    """With the overlay's annotation, the target runs at that scale and says so."""
    _annotate(fake, "10")
    target = _target(fake, tmp_path)
    assert target.time_scale == 10 and "time scale 10" in target.description


def test_without_annotation_the_scale_is_1(fake: KubeFake, tmp_path: Path) -> None:
    """A stack deployed from the base or production overlay runs production values."""
    assert _target(fake, tmp_path).time_scale == 1


def test_an_explicit_scale_wins(fake: KubeFake, tmp_path: Path) -> None:
    """A scale passed by the caller is used as given."""
    _annotate(fake, "10")
    assert _target(fake, tmp_path, time_scale=20).time_scale == 20


def test_a_bad_annotation_is_a_usage_error_naming_it(fake: KubeFake, tmp_path: Path) -> None:
    """A non-positive or non-numeric factor is a usage error that names the annotation and the fix."""
    _annotate(fake, "fast")
    with pytest.raises(UsageError,
                       match="stackcheck.dev/time-scale='fast'.*re-apply manifests/overlays/kind"):
        _target(fake, tmp_path)
