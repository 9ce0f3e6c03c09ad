"""Polls back off: short at first, then at most one per ``max_interval_s``, and never past the budget."""
from __future__ import annotations

import time

from stackcheck.wait import eventually, until


def _count_polls(run: object) -> tuple[int, float]:
    calls = [0]

    def failing() -> list[str]:
        calls[0] += 1
        return ["still failing"]

    started = time.monotonic()
    run(failing)  # type: ignore[operator]
    return calls[0], time.monotonic() - started


def test_eventually_backs_off_to_the_cap_and_ends_on_the_budget() -> None:
    """A 3 s budget with a 1 s cap polls at 0, .25, .75, 1.75, 2.75, 3: six polls, not twelve."""
    polls, took = _count_polls(lambda p: eventually(p, 3.0, interval_s=0.25, max_interval_s=1.0))
    assert 4 <= polls <= 6 and took >= 2.9, (polls, took)  # a loaded machine may poll less, never more


def test_until_backs_off_likewise() -> None:
    polls, took = _count_polls(lambda p: until(lambda: not p(), 3.0, interval_s=0.25, max_interval_s=1.0))
    assert 4 <= polls <= 6 and took >= 2.9, (polls, took)  # a loaded machine may poll less, never more


def test_without_a_cap_the_interval_stays_fixed() -> None:
    polls, _ = _count_polls(lambda p: eventually(p, 1.0, interval_s=0.25))
    assert polls >= 4
