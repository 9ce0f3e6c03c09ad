"""Wait budgets computed from the stack's own configuration, never guessed.

A check waits at most: scrape interval + evaluation interval + ``for`` + ``group_wait`` (+ resend delay),
each from the live config at the time scale in force, plus :data:`MARGIN_S`.

>>> Budgets(scrape_s=15, evaluation_s=15, scrape_timeout_s=10).targets_s
50.0
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from stackcheck.timescale import parse_duration

#: Fixed slack for process scheduling and HTTP round trips on a loaded CI machine.
MARGIN_S = 5.0
#: Prometheus' scrape manager hands discovered targets to its scrape loops at most this often (its fixed
#: 5 s reload tick), so a new target, and every target after a restart, waits up to that for its first
#: scrape (measured on 2.42: ready at 0 s, the first scrapes 5-6 s later).
SCRAPE_RELOAD_S = 5.0
#: Prometheus' re-send delay for alerts. The local runtime sets 1s; production keeps the 1m default.
DEFAULT_RESEND_DELAY_S = 60.0


@dataclass(frozen=True)
class Budgets:
    """Budgets for one stack, in seconds."""

    scrape_s: float
    evaluation_s: float
    scrape_timeout_s: float
    resend_delay_s: float = DEFAULT_RESEND_DELAY_S

    @property
    def targets_s(self) -> float:
        """Every target scraped at least once (a scrape may time out once), after Prometheus has handed it
        to a scrape loop (:data:`SCRAPE_RELOAD_S`)."""
        return SCRAPE_RELOAD_S + 2 * self.scrape_s + self.scrape_timeout_s + MARGIN_S

    @property
    def rules_s(self) -> float:
        """Every rule evaluated at least once after its inputs exist."""
        return self.scrape_s + 2 * self.evaluation_s + MARGIN_S

    @property
    def recording_s(self) -> float:
        """A rate() over two scrapes, then one evaluation."""
        return 2 * self.scrape_s + 2 * self.evaluation_s + MARGIN_S

    def firing_s(self, for_s: float) -> float:
        """An alert goes from its condition to firing in Prometheus."""
        return self.scrape_s + 2 * self.evaluation_s + for_s + MARGIN_S

    def notify_bound_s(self, for_s: float, alertmanager_wait_s: float) -> float:
        """An alert's expected fault-to-receiver latency: scrape + evaluation + ``for`` + the Alertmanager
        timer it waits on (``group_wait``, or ``group_interval`` when its group has notified already,
        see :mod:`stackcheck.grouping`)."""
        return self.scrape_s + self.evaluation_s + for_s + alertmanager_wait_s

    def delivery_s(self, for_s: float, group_wait_s: float) -> float:
        """An alert goes from its condition to a notification at the receiver."""
        return self.firing_s(for_s) + self.resend_delay_s + group_wait_s

    @classmethod
    def from_prometheus_config(cls, text: str, *, resend_delay_s: float = DEFAULT_RESEND_DELAY_S) -> Budgets:
        """Read the intervals from the YAML of ``/api/v1/status/config``."""
        glob: dict[str, Any] = (yaml.safe_load(text) or {}).get("global") or {}
        return cls(
            scrape_s=parse_duration(glob.get("scrape_interval", "1m")),
            evaluation_s=parse_duration(glob.get("evaluation_interval", "1m")),
            scrape_timeout_s=parse_duration(glob.get("scrape_timeout", "10s")),
            resend_delay_s=resend_delay_s,
        )
