"""A work queue with client-go's semantics.

* A key waiting in the queue is stored once (the *dirty* set), however often it
  is added.
* A key being processed (the *processing* set) is never handed to a second
  worker; if it is added meanwhile it is queued again when ``done`` is called,
  so the change is not lost.
* ``add_rate_limited`` re-adds a key after a per-key exponential backoff
  (5 ms doubling to 1000 s, as client-go's default item limiter); ``forget``
  resets it.

The clock is injectable so tests need not sleep.
"""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools
import time
from collections.abc import Callable, Hashable

Key = Hashable


class ShutDown(Exception):
    """Raised by ``get`` once the queue is shut down and drained."""


class WorkQueue:
    def __init__(self, *, base_delay: float = 0.005, max_delay: float = 1000.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._queue: collections.deque[Key] = collections.deque()
        self._dirty: set[Key] = set()
        self._processing: set[Key] = set()
        self._failures: dict[Key, int] = {}
        self._waiting: list[tuple[float, int, Key]] = []  # (ready_at, seq, key): a heap
        self._seq = itertools.count()
        self._base = base_delay
        self._max = max_delay
        self._clock = clock
        self._cond = asyncio.Condition()
        self._shutting_down = False

    def __len__(self) -> int:
        return len(self._queue)

    def _notify(self) -> None:
        async def wake() -> None:
            async with self._cond:
                self._cond.notify_all()
        try:
            asyncio.get_running_loop().create_task(wake())
        except RuntimeError:  # no loop yet: nobody can be waiting either
            pass

    def add(self, key: Key) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # queued again by done()
        self._queue.append(key)
        self._notify()

    def add_after(self, key: Key, delay: float) -> None:
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        heapq.heappush(self._waiting, (self._clock() + delay, next(self._seq), key))
        self._notify()

    def when(self, key: Key) -> float:
        """The backoff for the key's next failure (and count it)."""
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        return min(self._base * (2 ** n), self._max)

    def add_rate_limited(self, key: Key) -> None:
        self.add_after(key, self.when(key))

    def forget(self, key: Key) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: Key) -> int:
        return self._failures.get(key, 0)

    def _promote(self) -> float | None:
        """Move due delayed keys into the queue; return seconds until the next one."""
        now = self._clock()
        while self._waiting and self._waiting[0][0] <= now:
            _, _, key = heapq.heappop(self._waiting)
            self.add(key)
        return self._waiting[0][0] - now if self._waiting else None

    async def get(self) -> Key:
        async with self._cond:
            while True:
                wait = self._promote()
                if self._queue:
                    key = self._queue.popleft()
                    self._processing.add(key)
                    self._dirty.discard(key)
                    return key
                if self._shutting_down:
                    raise ShutDown()
                try:
                    await asyncio.wait_for(self._cond.wait(), wait if wait is not None else None)
                except TimeoutError:
                    pass

    def done(self, key: Key) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._notify()

    def shut_down(self) -> None:
        self._shutting_down = True
        self._waiting.clear()
        self._notify()

    def tick(self) -> None:
        """Wake waiters so delayed keys are re-checked (for tests with a fake clock)."""
        self._notify()
