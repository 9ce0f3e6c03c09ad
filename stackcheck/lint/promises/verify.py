"""What ``verify``'s kubernetes target relies on: each component's Service and port name.

The target reaches every component through ``…/services/http:<name>:<port>/proxy`` of the Service and
port name in ``COMPONENT_SERVICES`` (stackcheck/targets/kubernetes.py), read from the manifests. A
renamed Service or port does not fail there: the component is reported missing and its checks skip.
"""

from __future__ import annotations

from stackcheck.lint.promises.common import reaches
from stackcheck.lint.promises.model import Promise, Verdict, promise
from stackcheck.lint.promises.stack import Stack

#: verify's component → the app (``app.kubernetes.io/name``) its Service must reach.
COMPONENT_APPS = {
    "prometheus": "prometheus",
    "alertmanager": "alertmanager",
    "grafana": "grafana",
    "loki": "loki",
    "jaeger": "jaeger",
    "probe": "phase5-backend",
}


@promise("verify.component_services")
def component_services(stack: Stack) -> Verdict:
    """every Service and port name verify's kubernetes target reaches a component by exists, and reaches that
    component's listener"""
    # Imported here: the kubernetes target pulls in requests (~0.1 s), which the rest of lint never needs.
    from stackcheck.targets.kubernetes import COMPONENT_SERVICES

    problems, found = [], []
    for component, (name, port_name) in COMPONENT_SERVICES.items():
        app = COMPONENT_APPS.get(component, component)
        services = [s for s in stack.of_kind("Service") if (s.body.get("metadata") or {}).get("name") == name]
        if not services:
            if component == "probe" and stack.workload(app) is None:
                continue  # production: the real application, not the probe
            problems.append(
                f"manifests: no Service {name}; verify's kubernetes target reaches {component} by it "
                f"(stackcheck/targets/kubernetes.py COMPONENT_SERVICES) and skips every {component} check "
                "without it; keep the Service name"
            )
            continue
        service = services[0]
        entry = stack.service_port(service, name=port_name)
        if entry is None:
            problems.append(
                f"{stack.at(service)}: no port named {port_name!r}; verify's kubernetes target reaches "
                f"{component} by it (stackcheck/targets/kubernetes.py COMPONENT_SERVICES) and skips every "
                f"{component} check without it; keep the port name"
            )
            continue
        namespace = str((service.body.get("metadata") or {}).get("namespace", ""))
        url = f"http://{name}.{namespace}.svc:{entry.get('port')}"
        found.append(f"{component} {name}:{port_name}")
        problems += reaches(stack, url, namespace, stack.at(service), f"port {port_name}", app)[1]
    return Verdict(", ".join(found), problems)


PROMISES: tuple[Promise, ...] = (component_services,)
