"""The Secrets the stack mounts but manifests/ never holds (manifests/README.md, "Secrets to create").

- ``grafana-admin`` (``admin-password``): a random value, made here, when missing;
- ``alertmanager-secrets`` (``slack-webhook-url``, ``smtp-password``, ``deadman-token``): values the
  user names with ``--secret-file alertmanager-secrets/<key>=PATH``.

A Secret that exists is never overwritten, and no value is ever printed: deploy prints the kubectl
command that reads it instead. A Secret is only required when a rendered object mounts it and
the overlay does not render it (the kind overlay renders ``alertmanager-sink-secrets`` itself).
"""
from __future__ import annotations

import base64
import secrets as random
from dataclasses import dataclass
from typing import Any

from stackcheck.errors import UsageError
from stackcheck.kube.access import KubeAccess
from stackcheck.kube.apply import Ref, read
from stackcheck.secretfiles import read_secret_file
from stackcheck.secrets import register

#: Marks a Secret deploy created, so that destroy may delete it.
GENERATED_ANNOTATION = "stackcheck.dev/generated-secret"
RANDOM = "random"
FILE = "file"
#: (namespace, name) → key → how its value is made.
REQUIRED: dict[tuple[str, str], dict[str, str]] = {
    ("monitoring", "grafana-admin"): {"admin-password": RANDOM},
    ("monitoring", "alertmanager-secrets"): {"slack-webhook-url": FILE, "smtp-password": FILE,
                                             "deadman-token": FILE},
}
LABELS = {"app.kubernetes.io/part-of": "stackcheck", "app.kubernetes.io/managed-by": "stackcheck"}


@dataclass
class SecretPlan:
    """One Secret the stack needs: its ref, and what happens to it."""

    ref: Ref
    action: str  # create | exists
    command: str  # the kubectl command that reads it
    generated: dict[str, Any] | None = None  # the live Secret, when an earlier deploy created it


def mounted_secrets(objects: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(namespace, name) of every Secret a pod template needs, minus those rendered.

    A volume or key marked ``optional: true`` is not needed: the pod starts without it (the smoke
    exporter's ``stackcheck-credentials``, which users create by hand when they want credentials).
    """
    rendered = {(Ref.of(o).namespace, Ref.of(o).name) for o in objects if o.get("kind") == "Secret"}
    used: set[tuple[str, str]] = set()
    for obj in objects:
        ns = Ref.of(obj).namespace
        pod = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        for volume in pod.get("volumes") or []:
            if "secret" in volume and not volume["secret"].get("optional"):
                used.add((ns, str(volume["secret"].get("secretName"))))
        for container in (pod.get("containers") or []) + (pod.get("initContainers") or []):
            for env in container.get("env") or []:
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref and not ref.get("optional"):
                    used.add((ns, str(ref.get("name"))))
    return used - rendered


def parse_secret_files(values: list[str]) -> dict[tuple[str, str], str]:
    """``NAME/KEY=PATH`` options → {(name, key): path}."""
    out: dict[tuple[str, str], str] = {}
    for value in values:
        left, eq, path = value.partition("=")
        name, slash, key = left.partition("/")
        if not (eq and slash and name and key and path):
            raise UsageError(f"--secret-file {value!r}: expected SECRET/KEY=PATH, e.g. "
                             "alertmanager-secrets/smtp-password=./smtp-password")
        out[(name, key)] = path
    return out


def read_command(kube: KubeAccess, ref: Ref, key: str) -> str:
    """The command that prints the Secret's value, on the cluster deploy used (its context)."""
    return kube.kubectl(f"-n {ref.namespace} get secret {ref.name} -o jsonpath='{{.data.{key}}}' | base64 -d")


def plan_secrets(kube: KubeAccess, objects: list[dict[str, Any]], files: dict[tuple[str, str], str]
                 ) -> tuple[list[SecretPlan], list[dict[str, Any]]]:
    """What to do with each needed Secret, and the bodies of those to create (values registered).

    Missing file values are a usage error before anything changes.
    """
    plans: list[SecretPlan] = []
    bodies: list[dict[str, Any]] = []
    for ns, name in sorted(mounted_secrets(objects)):
        ref = Ref("", "Secret", ns, name)
        keys = REQUIRED.get((ns, name))
        first_key = next(iter(keys)) if keys else "KEY"
        live = read(kube, ref)
        if live is not None:
            ours = ((live.get("metadata") or {}).get("annotations") or {}).get(GENERATED_ANNOTATION) == "true"
            plans.append(SecretPlan(ref, "exists", read_command(kube, ref, first_key),
                                    live if ours else None))
            continue
        if keys is None:
            raise UsageError(f"Secret {ns}/{name} is mounted by the manifests but does not exist, and "
                             f"stackcheck does not know its keys; create it first (kubectl -n {ns} create "
                             f"secret generic {name} "
                             "--from-file=...)")
        data: dict[str, str] = {}
        for key, how in keys.items():
            if (name, key) in files:  # also for a random one: a password kept from before a destroy
                value = read_secret_file(files[(name, key)], f"--secret-file {name}/{key}")
            elif how == RANDOM:
                value = random.token_urlsafe(24)
            else:
                missing = [k for k, h in keys.items() if h == FILE and (name, k) not in files]
                raise UsageError(
                    f"Secret {ns}/{name} does not exist and its values are yours to give: pass "
                    + " ".join(f"--secret-file {name}/{k}=PATH" for k in missing)
                    + f" (or create it yourself: kubectl -n {ns} create secret generic {name} "
                      f"--from-file=...)")
            register(value)
            data[key] = base64.b64encode(value.encode()).decode()
        bodies.append({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                       "metadata": {"name": name, "namespace": ns, "labels": dict(LABELS),
                                    "annotations": {GENERATED_ANNOTATION: "true"}},
                       "data": data})
        plans.append(SecretPlan(ref, "create", read_command(kube, ref, first_key)))
    return plans, bodies


def create_secret(kube: KubeAccess, body: dict[str, Any], *, dry_run: bool) -> dict[str, Any] | None:
    """POST the Secret (create only: an existing one answers 409 and is left alone). None if it exists."""
    ref = Ref.of(body)
    query = [("fieldManager", "stackcheck")] + ([("dryRun", "All")] if dry_run else [])
    answer = kube.request(f"create {ref}", "POST", f"/api/v1/namespaces/{ref.namespace}/secrets", body=body,
                          query=query, accept=(409,))
    return None if answer.status == 409 else answer.body
