"""The probe's fault-switch API (``/faults``), through the same session and error mapping as every client."""
from __future__ import annotations

from typing import Any

from stackcheck.clients.http import ComponentClient
from stackcheck.errors import ApiError, truncate


class ProbeClient(ComponentClient):
    """Set and clear one probe's fault switches."""

    def set_faults(self, run_id: str, switches: dict[str, Any]) -> None:
        """POST switches for a run (``0``/``false`` turns a switch off)."""
        response = self.http.request("POST", "/faults", json={"run_id": run_id, **switches})
        if response.status_code != 200:
            raise ApiError(f"probe at {self.url} refused faults {switches}: {truncate(response.text)}")

    def active_run_ids(self) -> set[str]:
        """Run ids that still hold at least one switch on."""
        body = self.http.get_json("/faults")
        return {str(run) for run in (body.get("run_ids") or {}).values()}

    def clear_run(self, run_id: str) -> None:
        """Turn off every switch a run set, and no other."""
        self.http.json_of(self.http.request("DELETE", "/faults", params={"run_id": run_id}))
