"""The probe's fault-switch API (``/faults``), through the same session and error mapping as every client.

A fault that silently does not apply makes every verdict after it wrong, so each change of switches is
read back (``GET /faults``) and compared with what was asked: a proxy that drops the body, a probe that
read it as ``{}``, another run holding the switch. :func:`confirm_switches` does the comparison on a
``GET /faults`` body, for any driver that reached the probe its own way (the Kubernetes fault driver goes
through the API server's pod proxy)::

    reported = response_of_get_faults.json()
    confirm_switches(f"probe pod {namespace}/{name}", switches, run_id, reported)  # raises FaultNotApplied
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from stackcheck.clients.http import ComponentClient
from stackcheck.errors import ApiError, truncate

#: Switches that cannot be read back: ``crash`` makes the probe exit right after it answers (its effect
#: is confirmed by the process going away, not by a switch).
UNCONFIRMABLE = frozenset({"crash"})


class FaultNotApplied(ApiError):
    """The probe answered the change of a switch, but reports a different state afterwards."""


def _same(asked: Any, got: Any) -> bool:
    if isinstance(asked, bool) or isinstance(got, bool):
        return asked is got
    if isinstance(asked, (int, float)) and isinstance(got, (int, float)):
        return math.isclose(float(asked), float(got), rel_tol=1e-9, abs_tol=1e-12)
    return bool(asked == got)


def switch_problems(asked: Mapping[str, Any], run_id: str | None, reported: Mapping[str, Any]) -> list[str]:
    """What differs between the switches ``asked`` and a ``GET /faults`` body; ``[]`` when every one took.

    A switch asked on must be reported with that value (and held by ``run_id``, when one was given); one
    asked off (``0``/``false``) must be absent, which is how the probe reports a switch that is off.

    >>> switch_problems({"error_rate": 0.5}, "r1", {"faults": {}, "run_ids": {}})
    ['error_rate: asked 0.5, the probe reports it off']
    """
    faults, holders = (value if isinstance(value := reported.get(key), dict) else {}
                       for key in ("faults", "run_ids"))
    problems = []
    for name, value in asked.items():
        if name in UNCONFIRMABLE:
            continue
        got = faults.get(name)
        if value and (name not in faults or not _same(value, got)):
            shown = "it off" if name not in faults else json.dumps(got)
            problems.append(f"{name}: asked {json.dumps(value)}, the probe reports {shown}")
        elif value and run_id and holders.get(name) != run_id:
            problems.append(f"{name}: on, but held by run {holders.get(name)!r}, not {run_id!r}")
        elif not value and name in faults:
            problems.append(f"{name}: asked off, the probe still reports {json.dumps(got)}")
    return problems


def confirm_switches(where: str, asked: Mapping[str, Any], run_id: str | None,
                     reported: Mapping[str, Any]) -> None:
    """Raise :class:`FaultNotApplied`, naming each switch and what ``where`` reported, unless all took."""
    problems = switch_problems(asked, run_id, reported)
    if problems:
        raise FaultNotApplied(
            f"{where} did not take the fault switches of run {run_id}: {'; '.join(problems)} "
            f"(GET /faults: {truncate(json.dumps(dict(reported), sort_keys=True))}). The probe answered the "
            "POST, so the body was lost or read wrongly on the way: check any proxy in between and that the "
            "probe is this stackcheck's version (it reads Content-Length and chunked bodies)")


class ProbeClient(ComponentClient):
    """Set and clear one probe's fault switches, and check that they took."""

    def set_faults(self, run_id: str, switches: dict[str, Any]) -> None:
        """POST switches for a run (``0``/``false`` turns a switch off), then read them back."""
        response = self.http.request("POST", "/faults", json={"run_id": run_id, **switches})
        if response.status_code != 200:
            raise ApiError(f"probe at {self.url} refused faults {switches} (HTTP {response.status_code}): "
                           f"{truncate(response.text)}")
        if set(switches) - UNCONFIRMABLE:
            self.confirm(run_id, switches)

    def faults(self) -> dict[str, Any]:
        """The ``GET /faults`` body: ``{"faults": {name: value}, "run_ids": {name: run id}}``."""
        body = self.http.get_json("/faults")
        if not isinstance(body, dict):
            raise ApiError(f"probe at {self.url} answered GET /faults with {truncate(str(body))}, "
                           "not an object")
        return body

    def confirm(self, run_id: str, switches: Mapping[str, Any]) -> None:
        """Read the switches back; :class:`FaultNotApplied` names each one that did not take."""
        confirm_switches(f"probe at {self.url}", switches, run_id, self.faults())

    def active_run_ids(self) -> set[str]:
        """Run ids that still hold at least one switch on."""
        return {str(run) for run in (self.faults().get("run_ids") or {}).values()}

    def clear_run(self, run_id: str) -> None:
        """Turn off every switch a run set, and no other."""
        self.http.json_of(self.http.request("DELETE", "/faults", params={"run_id": run_id}))
