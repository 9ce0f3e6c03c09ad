"""``lint.netpol[<target>]``: the rendered NetworkPolicies admit every flow of :mod:`.flows`.

kindnet enforces NetworkPolicy since kind v0.24 (kubernetes-sigs/kind#3612), and the shipped
namespaces deny everything by default, so a policy that misses one flow breaks a scrape job, a
datasource or verify itself, with nothing but a timeout to show for it. This module evaluates each
flow statically, as the Kubernetes NetworkPolicy API defines it
(https://kubernetes.io/docs/concepts/services-networking/network-policies/):

- a pod is isolated for a direction when some policy in its namespace selects it (``podSelector``;
  ``{}`` selects every pod) and lists that direction in ``policyTypes`` (absent: Ingress, plus
  Egress when the policy has ``egress`` rules); an isolated pod admits only what some rule of those
  policies allows, and a flow needs the source's egress AND the destination's ingress;
- a rule matches when one of its ports matches (none listed: every port; a named port is resolved
  through the destination pod's container ports, for egress rules too) and one of its peers does
  (none listed: everyone). A peer is an ``ipBlock`` (``cidr`` minus ``except``, checked against
  the whole range the endpoint stands for), or ``podSelector`` (the policy's namespace) and/or
  ``namespaceSelector`` (namespaces by label; every namespace has ``kubernetes.io/metadata.name``);
- NetworkPolicy does not apply to host-network pods or to addresses that are not pods, so those
  ends are not filtered; selectors never match them, ipBlocks do (their address is the node's).

Not modelled: the exemption of traffic from a pod's own node (the proxy flows must hold on a
multi-node cluster too), and the ingress side of pods the cluster runs (CoreDNS).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from stackcheck.lint.context import Context
from stackcheck.lint.flows import (
    FLOWS,
    NODE_NETWORK_ENV,
    NODES,
    POD_NETWORK,
    Addresses,
    ClusterPods,
    Flow,
    Pods,
)
from stackcheck.lint.objects import KObject
from stackcheck.lint.podsecurity import pod_template
from stackcheck.lint.render import RenderError
from stackcheck.lint.result import Item

Direction = Literal["Ingress", "Egress"]
Rel = Callable[[Path], str]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
NAME_LABEL = "app.kubernetes.io/name"
NAMESPACE_LABEL = "kubernetes.io/metadata.name"


class PolicyError(Exception):
    """A rendered policy this module cannot read (the schema item names the same object)."""


@dataclass(frozen=True)
class End:
    """One end of a flow, resolved in a rendering."""

    title: str
    network: Network
    namespace: str | None = None
    labels: dict[str, str] | None = None  # None: not a pod NetworkPolicy applies to
    namespace_labels: dict[str, str] | None = None
    ports: tuple[tuple[str, int, str], ...] = ()
    filtered: bool = False  # its own namespace's policies are in the rendering
    unfiltered_why: str = ""


def netpol_item(ctx: Context, target: str, rendered: list[KObject] | RenderError) -> Item:
    """``lint.netpol[<target>]`` of one rendering (the runner's entry point)."""
    return reachability(rendered, target, ctx.rel)


def reachability(rendered: list[KObject] | RenderError, target: str, rel: Rel) -> Item:
    """Check every flow that ``target`` needs against its rendered policies; ``rel`` names files."""
    name = "manifests" if target == "." else target
    flows = [f for f in FLOWS if name in f.targets]
    item = Item(f"lint.netpol[{name}]", f"NetworkPolicy reachability of {name} ({len(flows)} flows)")
    if isinstance(rendered, RenderError):
        item.skipped = f"stackcheck's renderer cannot render it (see lint.render[{name}])"
        return item
    try:
        nodes = ipaddress.ip_network(NODES.network, strict=False)
    except ValueError:
        item.problems.append(
            f"{NODE_NETWORK_ENV}={NODES.network!r} is not a CIDR; set it to the range of your nodes "
            "(e.g. 172.18.0.0/16), or unset it for kind's"
        )
        return item
    policies = [o for o in rendered if o.kind == "NetworkPolicy"]
    for flow in flows:
        try:
            problem = check_flow(rel, flow, rendered, policies)
        except PolicyError as exc:
            problem = str(exc)
        if problem:
            item.problems.append(problem)
    item.summary = (
        f"{len(flows)} flows admitted at both ends by {len(policies)} NetworkPolicies "
        f"(node network {nodes}, pod network {POD_NETWORK})"
    )
    return item


def check_flow(rel: Rel, flow: Flow, objects: list[KObject], policies: list[KObject]) -> str | None:
    """``None`` when ``flow`` is admitted, else one message naming the flow and each end's verdict."""
    source, dest = resolve(flow.source, objects), resolve(flow.dest, objects)
    if isinstance(source, str) or isinstance(dest, str):
        return f"flow {describe(flow)}: {source if isinstance(source, str) else dest}"
    number = port_number(flow.port, flow.protocol, dest)
    if number is None:
        return (
            f"flow {describe(flow)}: {dest.title} has no container port {flow.port!r}/{flow.protocol} "
            "(the port the flow table names); fix the flow table or the pod's ports"
        )
    egress = verdict(rel, "Egress", source, dest, number, flow.protocol, policies)
    ingress = verdict(rel, "Ingress", dest, source, number, flow.protocol, policies)
    if egress[0] and ingress[0]:
        return None
    return (
        f"flow {describe(flow, number)} blocked: egress of {source.title} {egress[1]}; "
        f"ingress of {dest.title} {ingress[1]}. Allow it in a policy of the blocked side "
        '(manifests/README.md, "Network policies")'
    )


def describe(flow: Flow, number: int | None = None) -> str:
    port = f"{number} ({flow.port})" if number is not None and str(number) != str(flow.port) else flow.port
    return f"{flow.source} → {flow.dest}:{port}/{flow.protocol} ({flow.why})"


def resolve(endpoint: Pods | ClusterPods | Addresses, objects: list[KObject]) -> End | str:
    """The endpoint in this rendering, or why it is not there."""
    if isinstance(endpoint, Addresses):
        return End(
            str(endpoint),
            ipaddress.ip_network(endpoint.network, strict=False),
            unfiltered_why="not filtered (not a pod)",
        )
    if isinstance(endpoint, ClusterPods):
        return End(
            str(endpoint),
            ipaddress.ip_network(POD_NETWORK),
            endpoint.namespace,
            dict(endpoint.labels),
            {NAMESPACE_LABEL: endpoint.namespace},
            endpoint.ports,
            unfiltered_why=f"not checked ({endpoint.namespace} is the cluster's)",
        )
    for obj in objects:
        template = pod_template(obj.body)
        if template is None or (obj.body.get("metadata") or {}).get("namespace") != endpoint.namespace:
            continue
        labels = {str(k): str(v) for k, v in ((template.get("metadata") or {}).get("labels") or {}).items()}
        if labels.get(NAME_LABEL) != endpoint.name:
            continue
        spec = template.get("spec") or {}
        ports = tuple(
            (str(p.get("name", "")), int(p["containerPort"]), str(p.get("protocol", "TCP")))
            for c in spec.get("containers") or []
            for p in c.get("ports") or []
        )
        title = str(endpoint)
        if spec.get("hostNetwork"):
            node = ipaddress.ip_network(NODES.network, strict=False)
            return End(
                title,
                node,
                endpoint.namespace,
                None,
                None,
                ports,
                unfiltered_why="not filtered (host network)",
            )
        return End(
            title,
            ipaddress.ip_network(POD_NETWORK),
            endpoint.namespace,
            labels,
            namespace_labels(endpoint.namespace, objects),
            ports,
            filtered=True,
        )
    return (
        f"no workload with pod label {NAME_LABEL}: {endpoint.name} in namespace {endpoint.namespace} "
        "in this rendering; the flow table (stackcheck/lint/flows.py) needs it here"
    )


def namespace_labels(namespace: str, objects: list[KObject]) -> dict[str, str]:
    """The labels a namespaceSelector sees: the Namespace object's, plus the one the API server sets."""
    for obj in objects:
        meta = obj.body.get("metadata") or {}
        if obj.kind == "Namespace" and meta.get("name") == namespace:
            return {
                **{str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
                NAMESPACE_LABEL: namespace,
            }
    return {NAMESPACE_LABEL: namespace}


def port_number(port: str | int, protocol: str, dest: End) -> int | None:
    """The flow's port as a number: a name is looked up in the destination pod's container ports."""
    if isinstance(port, int):
        return port
    for name, number, proto in dest.ports:
        if name == port and proto == protocol:
            return number
    return None


def verdict(
    rel: Rel,
    direction: Direction,
    pod: End,
    peer: End,
    number: int,
    protocol: str,
    policies: list[KObject],
) -> tuple[bool, str]:
    """(admitted, why) for ``pod``'s side of the flow: its egress to ``peer`` or its ingress from it."""
    if not pod.filtered or pod.labels is None:
        return True, pod.unfiltered_why
    isolating = [p for p in policies if _isolates(p, pod, direction)]
    if not isolating:
        return True, f"not isolated (no NetworkPolicy selects it for {direction.lower()})"
    dest = peer if direction == "Egress" else pod
    allowing = [
        p
        for p in isolating
        if any(
            _rule_matches(rule, "to" if direction == "Egress" else "from", peer, dest, number, protocol, p)
            for rule in (p.body.get("spec") or {}).get(direction.lower()) or []
        )
    ]
    if allowing:
        return True, f"allowed by NetworkPolicy {_names(rel, allowing)}"
    return False, f"not allowed by any policy (NetworkPolicies selecting it: {_names(rel, isolating)})"


def _names(rel: Rel, policies: list[KObject]) -> str:
    return ", ".join(f"{(p.body.get('metadata') or {}).get('name')} ({rel(p.source)})" for p in policies)


def policy_types(spec: dict[str, Any]) -> list[str]:
    """``spec.policyTypes``, or the API's default: Ingress, plus Egress when egress rules exist."""
    if spec.get("policyTypes"):
        return [str(t) for t in spec["policyTypes"]]
    return ["Ingress", *(["Egress"] if "egress" in spec else [])]


def _isolates(policy: KObject, pod: End, direction: Direction) -> bool:
    meta, spec = policy.body.get("metadata") or {}, policy.body.get("spec") or {}
    return (
        meta.get("namespace") == pod.namespace
        and direction in policy_types(spec)
        and selects(spec.get("podSelector") or {}, pod.labels or {}, policy)
    )


def _rule_matches(
    rule: dict[str, Any], key: str, peer: End, dest: End, number: int, protocol: str, policy: KObject
) -> bool:
    ports = rule.get("ports") or []
    if ports and not any(_port_matches(p, dest, number, protocol) for p in ports):
        return False
    peers = rule.get(key) or []
    return not peers or any(_peer_matches(p, peer, policy) for p in peers)


def _port_matches(entry: dict[str, Any], dest: End, number: int, protocol: str) -> bool:
    if str(entry.get("protocol", "TCP")) != protocol:
        return False
    port = entry.get("port")
    if port is None:
        return True
    if isinstance(port, int):
        return port <= number <= int(entry.get("endPort", port))
    return any(name == port and n == number and proto == protocol for name, n, proto in dest.ports)


def _peer_matches(peer: dict[str, Any], end: End, policy: KObject) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"] or {}
        cidr = _network(block.get("cidr"), policy)
        if cidr.version != end.network.version or not end.network.subnet_of(cidr):  # type: ignore[arg-type]
            return False
        return not any(end.network.overlaps(_network(e, policy)) for e in block.get("except") or [])
    if end.labels is None:
        return False
    pods, namespaces = peer.get("podSelector"), peer.get("namespaceSelector")
    if pods is not None and not selects(pods, end.labels, policy):
        return False
    if namespaces is None:
        return end.namespace == (policy.body.get("metadata") or {}).get("namespace")
    return selects(namespaces, end.namespace_labels or {}, policy)


def _network(text: Any, policy: KObject) -> Network:
    try:
        return ipaddress.ip_network(str(text), strict=False)
    except ValueError as exc:
        raise PolicyError(f"{policy.ref}: ipBlock {text!r} is not a CIDR; fix the policy") from exc


def selects(selector: dict[str, Any], labels: dict[str, str], policy: KObject) -> bool:
    """A LabelSelector (``matchLabels`` and ``matchExpressions``); ``{}`` selects everything."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(str(key)) != str(value):
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = (
            str(expr.get("key")),
            expr.get("operator"),
            [str(v) for v in expr.get("values") or []],
        )
        if op == "In":
            ok = key in labels and labels[key] in values
        elif op == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif op == "Exists":
            ok = key in labels
        elif op == "DoesNotExist":
            ok = key not in labels
        else:
            raise PolicyError(
                f"{policy.ref}: selector operator {op!r} is not In, NotIn, Exists or DoesNotExist"
            )
        if not ok:
            return False
    return True
