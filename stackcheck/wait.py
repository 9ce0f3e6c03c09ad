"""Poll a condition against a budget: the one polling loop of stackcheck, which never sleeps for a fixed time.

Every budget comes from the stack's config (see :mod:`stackcheck.budgets`) or an option; a timeout
reports what was seen last, so a failure explains itself. The budget starts before the first poll,
so a slow first answer counts against it. Callers that must not wait for real (deploy's and destroy's
tests) pass their own ``clock`` and ``sleep``; a live view (deploy's table) redraws in ``on_poll``;
a ``stop`` event (a campaign being cancelled, serve shutting down) ends a wait at once.

>>> eventually(lambda: [], budget_s=1.0)   # no problems left: returns at once
[]
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import RetryCallState, RetryError, Retrying, retry_if_result

T = TypeVar("T")

#: Default pause between polls: short against every budget, long enough not to hammer a server.
POLL_INTERVAL_S = 0.25

Clock = Callable[[], float]
Sleep = Callable[[float], object]
#: Called after every poll with what it returned and the seconds left of the budget.
OnPoll = Callable[[T, float], None]


def eventually(probe: Callable[[], T], budget_s: float, *, interval_s: float = POLL_INTERVAL_S,
               max_interval_s: float | None = None, stop: threading.Event | None = None,
               clock: Clock = time.monotonic, sleep: Sleep = time.sleep,
               on_poll: OnPoll[T] | None = None) -> T:
    """Call ``probe`` until it returns a falsy value (e.g. an empty list of problems) or the budget ends.

    Returns the last value, so a caller asserts on it and shows what was last seen. With
    ``max_interval_s`` (e.g. the scrape interval: the data cannot change faster) the pause doubles
    after each poll, from ``interval_s`` up to that cap, so a failing check on a big server makes a
    handful of requests instead of one every ``interval_s``. The other options: see :func:`poll`.
    """
    return poll(probe, lambda value: not value, budget_s, interval_s=interval_s,
                max_interval_s=max_interval_s, stop=stop, clock=clock, sleep=sleep, on_poll=on_poll)


def until(probe: Callable[[], T], budget_s: float, *, interval_s: float = POLL_INTERVAL_S,
          max_interval_s: float | None = None, stop: threading.Event | None = None,
          clock: Clock = time.monotonic, sleep: Sleep = time.sleep,
          on_poll: OnPoll[T] | None = None) -> T:
    """Call ``probe`` until it returns a truthy value or the budget ends; returns the last value.

    ``max_interval_s`` backs the pauses off as in :func:`eventually`; the other options: see
    :func:`poll`.
    """
    return poll(probe, bool, budget_s, interval_s=interval_s, max_interval_s=max_interval_s, stop=stop,
                clock=clock, sleep=sleep, on_poll=on_poll)


def poll(probe: Callable[[], T], done: Callable[[T], bool], budget_s: float, *,
         interval_s: float = POLL_INTERVAL_S, max_interval_s: float | None = None,
         stop: threading.Event | None = None, clock: Clock = time.monotonic, sleep: Sleep = time.sleep,
         on_poll: OnPoll[T] | None = None) -> T:
    """Call ``probe`` until ``done`` holds for its value, ``stop`` is set or ``budget_s`` has passed.

    - The budget is measured on ``clock`` from before the first poll; the last pause is cut short
      so that the last poll falls on the deadline, never one long pause after it.
    - ``probe`` runs at least once, even with no budget left or ``stop`` already set.
    - A set ``stop`` ends the wait at once, pauses included (they wait on the event, not ``sleep``),
      and no poll follows it.
    - ``on_poll(value, seconds_left)`` runs after every poll (a live table, progress lines).

    tenacity runs the loop; its stop, wait and sleep are ours, so they read ``clock`` (tenacity's own
    timing reads ``time.monotonic``, which a test's fake clock does not move).
    """
    deadline = clock() + max(budget_s, 0.0)
    cap = max(max_interval_s, interval_s) if max_interval_s is not None else interval_s
    seen: list[T] = []

    def left() -> float:
        return deadline - clock()

    def stopped() -> bool:
        return stop is not None and stop.is_set()

    def attempt() -> T:
        if seen and stopped():  # stop came during the pause: no poll after it
            return seen[-1]
        seen.append(probe())
        del seen[:-1]
        if on_poll is not None:
            on_poll(seen[-1], left())
        return seen[-1]

    def pause(state: RetryCallState) -> float:
        backoff: float = interval_s * 2.0 ** (state.attempt_number - 1)
        return min(backoff, cap, max(left(), 0.0))

    def nap(seconds: float) -> None:
        if stop is not None:
            stop.wait(seconds)
        else:
            sleep(seconds)

    retrying = Retrying(
        stop=lambda _state: left() <= 0 or stopped(),
        wait=pause,
        sleep=nap,
        retry=retry_if_result(lambda value: not done(value)),
        reraise=True,
    )
    try:
        return retrying(attempt)
    except RetryError as exc:
        return exc.last_attempt.result()  # type: ignore[no-any-return]


def until_set(event: threading.Event) -> None:
    """Wait, without a budget, until ``event`` is set (serve's shutdown, a fault stage's verdict).

    The wait is made of short timed waits on the event, so that Ctrl-C and SIGTERM still reach the main
    thread (and a handler that sets the event ends the wait at once).
    """
    until(event.is_set, math.inf, stop=event)
