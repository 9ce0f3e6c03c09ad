"""A small Alertmanager API v2 client (shapes from the real 0.25 capture in shared/contracts)."""
from __future__ import annotations

from typing import Any, cast

from stackcheck.clients.http import ComponentClient


class AlertmanagerClient(ComponentClient):
    """Read-only access to one Alertmanager."""

    def ready(self) -> bool:
        """True when ``/-/ready`` answers 200."""
        return self.http.request("GET", "/-/ready").status_code == 200

    def alerts(self, *, active_only: bool = True) -> list[dict[str, Any]]:
        """Alerts Alertmanager holds; each has ``labels``, ``receivers[].name`` and ``status.state``."""
        params = {"active": "true", "silenced": "false", "inhibited": "false"} if active_only else {}
        return cast(list[dict[str, Any]], self.http.get_json("/api/v2/alerts", params=params))

    def receivers(self) -> list[str]:
        """Names of the configured receivers."""
        return [r["name"] for r in self.http.get_json("/api/v2/receivers")]

    def status(self) -> dict[str, Any]:
        """``/api/v2/status``: the loaded config (secrets shown as ``<secret>``), version, cluster."""
        return cast(dict[str, Any], self.http.get_json("/api/v2/status"))
