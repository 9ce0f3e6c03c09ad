"""Poll a condition against a budget. stackcheck never sleeps for a fixed time.

Every budget comes from the stack's config (see :mod:`stackcheck.budgets`); a timeout reports what was
seen last, so a failure explains itself.

>>> eventually(lambda: [], budget_s=1.0)   # no problems left: returns at once
[]
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_result,
    stop_after_delay,
    wait_exponential,
    wait_fixed,
)

T = TypeVar("T")

#: Default pause between polls: short against every budget, long enough not to hammer a server.
POLL_INTERVAL_S = 0.25


def eventually(probe: Callable[[], T], budget_s: float, *, interval_s: float = POLL_INTERVAL_S,
               max_interval_s: float | None = None) -> T:
    """Call ``probe`` until it returns a falsy value (e.g. an empty list of problems) or the budget ends.

    Returns the last value, so a caller asserts on it and shows what was last seen. With
    ``max_interval_s`` (e.g. the scrape interval: the data cannot change faster) the pause doubles
    after each poll, from ``interval_s`` up to that cap, so a failing check on a big server makes a
    handful of requests instead of one every ``interval_s``.
    """
    retrying = Retrying(
        stop=stop_after_delay(max(budget_s, 0.0)),
        wait=_pause(interval_s, max_interval_s, budget_s),
        retry=retry_if_result(bool),
        reraise=True,
    )
    try:
        return retrying(probe)
    except RetryError as exc:
        return exc.last_attempt.result()  # type: ignore[no-any-return]


def until(probe: Callable[[], T], budget_s: float, *, interval_s: float = POLL_INTERVAL_S,
          max_interval_s: float | None = None, stop: threading.Event | None = None) -> T:
    """Call ``probe`` until it returns a truthy value or the budget ends; returns the last value.

    ``max_interval_s`` backs the pauses off as in :func:`eventually`. A set ``stop`` (a campaign being
    cancelled) ends the wait at once, pauses included.
    """
    last: T = probe()
    deadline = time.monotonic() + budget_s
    pause = interval_s
    while not last and time.monotonic() < deadline and not (stop is not None and stop.is_set()):
        left = min(pause, max(0.0, deadline - time.monotonic()))
        if stop is not None:
            if stop.wait(left):
                break
        else:
            time.sleep(left)
        last = probe()
        if max_interval_s is not None:
            pause = min(max(pause * 2, interval_s), max(max_interval_s, interval_s))
    return last


def _pause(interval_s: float, max_interval_s: float | None, budget_s: float) -> Callable[[RetryCallState], float]:
    """Fixed pauses, or pauses doubling from ``interval_s`` up to ``max_interval_s``; never past the budget,
    so the last poll falls on the deadline instead of up to one long pause after it."""
    if max_interval_s is None:
        return wait_fixed(interval_s)
    base = wait_exponential(multiplier=interval_s, min=interval_s, max=max(max_interval_s, interval_s))

    def pause(state: RetryCallState) -> float:
        return min(base(state), max(0.0, budget_s - (state.seconds_since_start or 0.0)))

    return pause
