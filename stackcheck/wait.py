"""Poll a condition against a budget. stackcheck never sleeps for a fixed time.

Every budget comes from the stack's config (see :mod:`stackcheck.budgets`); a timeout reports what was
seen last, so a failure explains itself.

>>> eventually(lambda: [], budget_s=1.0)   # no problems left: returns at once
[]
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

T = TypeVar("T")

#: Default pause between polls: short against every budget, long enough not to hammer a server.
POLL_INTERVAL_S = 0.25


def eventually(probe: Callable[[], T], budget_s: float, *, interval_s: float = POLL_INTERVAL_S) -> T:
    """Call ``probe`` until it returns a falsy value (e.g. an empty list of problems) or the budget ends.

    Returns the last value, so a caller asserts on it and shows what was last seen.
    """
    retrying = Retrying(
        stop=stop_after_delay(max(budget_s, 0.0)),
        wait=wait_fixed(interval_s),
        retry=retry_if_result(bool),
        reraise=True,
    )
    try:
        return retrying(probe)
    except RetryError as exc:
        return exc.last_attempt.result()  # type: ignore[no-any-return]


def until(probe: Callable[[], T], budget_s: float, *, interval_s: float = POLL_INTERVAL_S) -> T:
    """Call ``probe`` until it returns a truthy value or the budget ends; returns the last value."""
    last: T = probe()
    deadline = time.monotonic() + budget_s
    while not last and time.monotonic() < deadline:
        time.sleep(min(interval_s, max(0.0, deadline - time.monotonic())))
        last = probe()
    return last
