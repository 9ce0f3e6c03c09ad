"""Polls back off: short at first, then at most one per ``max_interval_s``, and never past the budget."""
from __future__ import annotations

import threading
import time

import pytest

from stackcheck.wait import eventually, until, until_set


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


class _Clock:
    """Moves only when told to: a slow probe or a sleep."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_budget_starts_before_the_first_poll() -> None:
    """A first poll that takes longer than the budget ends the wait: no pause, no second poll."""
    clock, calls = _Clock(), [0]

    def slow() -> bool:
        calls[0] += 1
        clock.now += 5.0
        return False

    assert until(slow, 3.0, clock=clock, sleep=clock.sleep) is False
    assert calls[0] == 1 and clock.slept == []


def test_the_last_pause_ends_on_the_deadline() -> None:
    clock = _Clock()
    until(lambda: False, 1.0, interval_s=0.4, clock=clock, sleep=clock.sleep)
    assert clock.slept == [0.4, 0.4, pytest.approx(0.2)] and clock.now == pytest.approx(101.0)


def test_a_set_stop_ends_the_wait_without_another_poll() -> None:
    stop, calls = threading.Event(), [0]

    def probe() -> bool:
        calls[0] += 1
        threading.Timer(0.05, stop.set).start()
        return False

    started = time.monotonic()
    assert until(probe, 30.0, interval_s=10.0, stop=stop) is False
    assert calls[0] == 1 and time.monotonic() - started < 5.0


def test_on_poll_sees_every_value_and_the_time_left() -> None:
    clock, values = _Clock(), iter([["a", "b"], ["b"], []])
    seen: list[tuple[list[str], float]] = []
    assert eventually(lambda: next(values), 10.0, interval_s=1.0, max_interval_s=2.0, clock=clock,
                      sleep=clock.sleep, on_poll=lambda value, left: seen.append((value, left))) == []
    assert seen == [(["a", "b"], 10.0), (["b"], 9.0), ([], 7.0)]


def test_until_set_returns_once_another_thread_sets_the_event() -> None:
    event = threading.Event()
    threading.Timer(0.05, event.set).start()
    started = time.monotonic()
    until_set(event)
    assert event.is_set() and time.monotonic() - started < 5.0
