"""Clocks for the client layer: the real event-loop clock and a fake one for tests.

A :class:`Clock` tells the time (``now()``, monotonic seconds), schedules a
callback at a time (``call_at``) and sleeps (``await sleep(seconds)``). The
work queue's delays, the informer's resync and its retry backoff all go
through one, so tests swap in :class:`FakeClock` and move time with
``step()`` instead of sleeping (client-go's fake clock is the model).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer: ...

    async def sleep(self, seconds: float) -> None: ...


class RealClock:
    """The running event loop's monotonic clock."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_at(when, callback)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


REAL = RealClock()


class _FakeTimer:
    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """Time that moves only when a test calls :meth:`step` (or :meth:`set`).

    Due callbacks run synchronously inside ``step``, in time order; sleepers
    are woken there too and resume at the test's next ``await``.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, _FakeTimer]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = _FakeTimer(callback)
        heapq.heappush(self._timers, (when, next(self._seq), timer))
        return timer

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)

        timer = self.call_at(self._now + max(seconds, 0.0), wake)
        if seconds <= 0:
            self._fire()
        try:
            await fut
        finally:
            timer.cancel()

    @property
    def pending(self) -> int:
        """How many timers (including sleepers) are waiting: lets a test know a task is parked."""
        return sum(1 for _, _, t in self._timers if not t.cancelled)

    def step(self, seconds: float) -> None:
        self.set(self._now + seconds)

    def set(self, now: float) -> None:
        self._now = max(self._now, now)
        self._fire()

    def _fire(self) -> None:
        while self._timers and self._timers[0][0] <= self._now:
            _, _, timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                timer.cancelled = True
                timer.callback()
