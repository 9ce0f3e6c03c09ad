"""The fault ledger: which faults a run injected, so they can be reverted even after a crash."""
from __future__ import annotations

import json
import threading
from pathlib import Path

_lock = threading.Lock()


def ledger_path(state_dir: Path) -> Path:
    return state_dir / "faults.jsonl"


def record(state_dir: Path, run_id: str, scenario: str, event: str) -> None:
    """Append one event ("injecting" or "cleared") for a scenario of a run."""
    with _lock, open(ledger_path(state_dir), "a", encoding="utf-8") as out:
        out.write(json.dumps({"run_id": run_id, "scenario": scenario, "event": event}) + "\n")


def outstanding(state_dir: Path) -> list[tuple[str, str]]:
    """(run_id, scenario) pairs injected and never cleared."""
    path = ledger_path(state_dir)
    if not path.exists():
        return []
    open_: dict[tuple[str, str], bool] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        key = (str(entry["run_id"]), str(entry["scenario"]))
        open_[key] = entry["event"] == "injecting"
    return [key for key, is_open in open_.items() if is_open]
