"""kubefake's service and pod proxies, answering as the API server did with and without endpoints
(contracts a1–a8, b1–b3)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

from tests.kubefake_cluster import Json

if TYPE_CHECKING:
    from tests.kubefake import Answer, ProbePod, Recorded, ServiceHandler


class _Fake(Protocol):
    """The KubeFake members the proxies use: mypy takes a protocol, not the subclass, as a mixin's self."""

    endpoints: set[tuple[str, str]]
    pod_proxy_status: int | None
    probes: dict[str, ProbePod]
    service_handler: ServiceHandler

    def get(self, resource: str, namespace: str, name: str) -> Json | None: ...
    def of_kind(self, key: str, namespace: str | None = None) -> list[Json]: ...
    def _has_endpoints(self, service: Json) -> bool: ...


class Proxies:
    """Mixed into KubeFake."""

    def _has_endpoints(self: _Fake, service: Json) -> bool:
        meta = service["metadata"]
        if (meta["namespace"], meta["name"]) in self.endpoints:
            return True
        selector = (service.get("spec") or {}).get("selector") or {}
        if not selector:
            return False
        for pod in self.of_kind("pods", meta["namespace"]):
            labels = pod["metadata"].get("labels") or {}
            ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                        for c in (pod.get("status") or {}).get("conditions") or [])
            if all(labels.get(k) == v for k, v in selector.items()) and ready and pod["status"].get("podIP"):
                return True
        return False

    def _service_proxy(self: _Fake, req: Recorded, ns: str, ref: str, rest: str) -> Answer:
        parts = ref.split(":")
        if len(parts) > 3:
            return 400, _status(400, "BadRequest", f'invalid service request "{ref}"'), []
        name = parts[1] if len(parts) == 3 else parts[0]
        port = parts[-1] if len(parts) >= 2 else ""
        service = self.get("services", ns, name)
        if service is None:
            return 404, _not_found(_by_key()["services"], name), []
        ports = (service.get("spec") or {}).get("ports") or []
        if port and not any(str(p.get("port")) == port or p.get("name") == port for p in ports):
            return 503, _status(503, "ServiceUnavailable",
                                f'no service port "{port}" found for service "{name}"'
                               if not port.isdigit() else f'no service port {port} found for service '
                                                          f'"{name}"'), []
        if not self._has_endpoints(service):
            return 503, _status(503, "ServiceUnavailable", f'no endpoints available for service "{name}"'), []
        full = rest + (f"?{req.raw_query}" if req.raw_query else "")
        code, content_type, payload = self.service_handler(req.method, f"{ns}/{ref}", full)
        if content_type.startswith("application/json"):
            return code, json.loads(payload or b"{}"), []
        return code, payload.decode("utf-8", "replace"), []

    def _pod_proxy(self: _Fake, req: Recorded, ns: str, ref: str, rest: str) -> Answer:
        name, _, port_text = ref.partition(":")
        pod = self.get("pods", ns, name)
        if pod is None:
            return 404, _not_found(_by_key()["pods"], name), []
        ip = (pod.get("status") or {}).get("podIP")
        if not ip:
            return 400, _status(400, "BadRequest", "address not allowed"), []  # b1, b2
        if self.pod_proxy_status is not None:
            # The apiserver's dial failure (not captured: no pod had an IP in the capture).
            return self.pod_proxy_status, _status(self.pod_proxy_status, "ServiceUnavailable",
                                                 f"error trying to reach service: dial tcp {ip}:{port_text}: "
                                                 f"i/o timeout"), []
        ports = {str(p["containerPort"]) for c in pod["spec"]["containers"] for p in c.get("ports") or []}
        probe = self.probes.get(name)
        if port_text not in ports or probe is None or rest != "/faults":
            return 503, _status(503, "ServiceUnavailable", f"error trying to reach service: dial tcp "
                                                          f"{ip}:{port_text}: connect: connection "
                                                          f"refused"), []
        code, body = probe.handle(req.method, req.query, req.body)
        return code, body, []


def _status(*args: Any) -> Json:
    from tests.kubefake import status

    return status(*args)


def _not_found(*args: Any) -> Json:
    from tests.kubefake import not_found

    return not_found(*args)


def _by_key() -> Any:
    from tests.kubefake import BY_KEY

    return BY_KEY
