"""The state directory of a local stack: what runs, where, and with which settings.

``state.json`` is written by ``up`` once everything is ready and read by ``status``, ``down`` and the
``local`` verify target. Layout: ``config/`` generated configs, ``logs/<service>.log``, ``data/``.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stackcheck.errors import Unreachable, UsageError
from stackcheck.local.processes import Proc

#: Grafana's admin password: generated once by ``up``, kept (Grafana applies it on first run only), 0600.
GRAFANA_PASSWORD_FILE = Path("config") / "secrets" / "grafana-admin-password"
GRAFANA_ADMIN_USER = "admin"


def grafana_admin(state_dir: Path) -> tuple[str, str] | None:
    """(user, password) of the local Grafana, for the local target's credentials; None before ``up``."""
    path = state_dir / GRAFANA_PASSWORD_FILE
    return (GRAFANA_ADMIN_USER, path.read_text().strip()) if path.is_file() else None

STATE_VERSION = 1


def resolve_state_dir(option: str | None) -> Path:
    """The directory given (the resolved ``--state-dir``: flag, then ``STACKCHECK_STATE_DIR``, see
    :mod:`stackcheck.settings`), else ``$XDG_STATE_HOME/stackcheck`` (the XDG base-directory default)."""
    if option:
        return Path(option).expanduser().resolve()
    base = os.environ.get("XDG_STATE_HOME")
    return Path(base or Path.home() / ".local" / "state") / "stackcheck"


@dataclass
class LocalState:
    """Everything another invocation needs to find and judge the running local stack."""

    manifests: str
    time_scale: float
    port_base: int
    fingerprint: str
    started_at: float
    endpoints: dict[str, str]
    processes: list[Proc]
    scrape_jobs: list[str]
    skipped: dict[str, str] = field(default_factory=dict)
    version: int = STATE_VERSION

    def save(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        tmp = state_dir / "state.json.tmp"
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(state_dir / "state.json")

    @classmethod
    def load(cls, state_dir: Path) -> LocalState | None:
        """The saved state, or None when no stack was started from this state dir."""
        path = state_dir / "state.json"
        if not path.exists():
            return None
        try:
            raw: dict[str, Any] = json.loads(path.read_text())
            raw["processes"] = [Proc(**p) for p in raw["processes"]]
            return cls(**raw)
        except (ValueError, TypeError, KeyError) as exc:
            raise UsageError(f"{path} is unreadable ({exc}); run `stackcheck down` to reset it") from exc

    @classmethod
    def require(cls, state_dir: Path) -> LocalState:
        """The saved state, or an :class:`Unreachable` error telling the user to run ``up``."""
        state = cls.load(state_dir)
        if state is None:
            raise Unreachable(f"no local stack is running (nothing in {state_dir}); start one with "
                              "`stackcheck up`")
        return state


def clear(state_dir: Path) -> None:
    """Forget the running stack (its logs stay for debugging)."""
    (state_dir / "state.json").unlink(missing_ok=True)
