"""A rate-limited work queue with client-go's semantics, for asyncio workers.

Contract:

* A key waiting in the queue is held once (the *dirty* set), however often
  it is added before a worker takes it.
* A key a worker holds (the *processing* set, from ``get`` until ``done``) is
  never handed to a second worker. If it is added meanwhile it stays dirty and
  is queued again by ``done``, so the change that caused the add is not lost.
* ``add_after`` queues a key once a delay has passed; several pending delays
  for one key collapse to the earliest.
* ``add_rate_limited`` is ``add_after`` with the rate limiter's delay for that
  key; the default limiter backs off per key exponentially, 5 ms doubling up
  to 1000 s (client-go's default item limiter). ``forget`` resets a key's
  backoff and should follow every successful reconcile.
* After ``shut_down`` adds are ignored and pending delays dropped; ``get``
  still hands out what is queued, then raises :class:`ShutDown`.

All methods but ``get`` and ``shut_down_with_drain`` are plain synchronous
calls (event handlers are synchronous); they need a running event loop only
when a delay is scheduled with the real clock. Time comes from an injectable
:class:`kubeling.client.clock.Clock`.

Typical worker::

    while True:
        try:
            key = await q.get()
        except workqueue.ShutDown:
            return
        try:
            await reconcile(key)
        except Exception:
            q.add_rate_limited(key)
        else:
            q.forget(key)
        finally:
            q.done(key)
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, Protocol, TypeVar

from kubeling.client import clock as clocklib

K = TypeVar("K", bound=Hashable)


class ShutDown(Exception):
    """Raised by ``get`` once the queue is shut down and holds nothing more."""


class RateLimiter(Protocol):
    def when(self, key: Hashable) -> float:
        """The delay before the key's next retry; counts one more failure."""
        ...

    def forget(self, key: Hashable) -> None: ...

    def num_requeues(self, key: Hashable) -> int: ...


class ItemExponentialLimiter:
    """Per-key exponential backoff: ``base * 2**failures``, capped at ``max_delay``."""

    def __init__(self, *, base_delay: float = 0.005, max_delay: float = 1000.0) -> None:
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._failures: dict[Hashable, int] = {}

    def when(self, key: Hashable) -> float:
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        if n > 64:  # 2**n would overflow float arithmetic long after the cap applies
            return self.max_delay
        return float(min(self.base_delay * (2 ** n), self.max_delay))

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: Hashable) -> int:
        return self._failures.get(key, 0)


class WorkQueue(Generic[K]):
    def __init__(self, *, rate_limiter: RateLimiter | None = None, clock: clocklib.Clock | None = None,
                 name: str = "") -> None:
        self.name = name
        self.rate_limiter: RateLimiter = rate_limiter or ItemExponentialLimiter()
        self._clock: clocklib.Clock = clock or clocklib.REAL
        self._queue: collections.deque[K] = collections.deque()
        self._dirty: set[K] = set()
        self._processing: set[K] = set()
        # A key waiting on a delay: when it becomes ready, and the timer that will add it.
        self._delayed: dict[K, tuple[float, clocklib.Timer]] = {}
        self._getters: list[asyncio.Future[None]] = []
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._shutting_down = False

    # ---- state ----------------------------------------------------------------------
    def __len__(self) -> int:
        """Keys waiting to be handed out (not those being processed or delayed)."""
        return len(self._queue)

    def len(self) -> int:
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    @property
    def processing(self) -> int:
        return len(self._processing)

    @property
    def delayed(self) -> int:
        return len(self._delayed)

    # ---- adding ---------------------------------------------------------------------
    def add(self, key: K) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # done() queues it again
        self._queue.append(key)
        self._wake_getters()

    def add_after(self, key: K, delay: float) -> None:
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        ready = self._clock.now() + delay
        pending = self._delayed.get(key)
        if pending is not None:
            if pending[0] <= ready:
                return  # an earlier add is already pending
            pending[1].cancel()
        self._delayed[key] = (ready, self._clock.call_at(ready, lambda: self._delay_over(key, ready)))

    def _delay_over(self, key: K, ready: float) -> None:
        pending = self._delayed.get(key)
        if pending is not None and pending[0] == ready:
            del self._delayed[key]
            self.add(key)

    def add_rate_limited(self, key: K) -> None:
        self.add_after(key, self.rate_limiter.when(key))

    def forget(self, key: K) -> None:
        self.rate_limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return self.rate_limiter.num_requeues(key)

    # ---- processing -----------------------------------------------------------------
    async def get(self) -> K:
        """The next key; the caller owns it until ``done(key)``. Raises ShutDown at the end."""
        while True:
            if self._queue:
                key = self._queue.popleft()
                self._dirty.discard(key)
                self._processing.add(key)
                return key
            if self._shutting_down:
                raise ShutDown(self.name)
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(fut)
            try:
                await fut
            finally:
                self._getters.remove(fut)

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_getters()
        elif not self._processing and not self._queue:
            _wake(self._idle_waiters)

    # ---- ending ---------------------------------------------------------------------
    def shut_down(self) -> None:
        """Stop accepting keys; waiting getters see ShutDown once the queue is empty."""
        self._shutting_down = True
        for _, timer in self._delayed.values():
            timer.cancel()
        self._delayed.clear()
        self._wake_getters()

    async def shut_down_with_drain(self) -> None:
        """Shut down, then wait until every queued and held key has been ``done``."""
        self.shut_down()
        while self._queue or self._processing:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._idle_waiters.append(fut)
            try:
                await fut
            finally:
                self._idle_waiters.remove(fut)

    def _wake_getters(self) -> None:
        # Waking every getter is simplest and robust against a woken getter being
        # cancelled before it runs: each re-checks the queue and parks again.
        _wake(self._getters)


def _wake(futures: list[asyncio.Future[None]]) -> None:
    for fut in futures:
        if not fut.done():
            fut.set_result(None)


async def run_worker(queue: WorkQueue[K], handle: Callable[[K], Awaitable[float | None]], *,
                     on_error: Callable[[K, Exception], None]) -> None:
    """The worker loop every queue-driven component runs: take a key, ``handle``
    it; an exception requeues it with backoff (after ``on_error`` reports it),
    success forgets its backoff and, if ``handle`` returned a delay, looks again
    after it. Returns when the queue is shut down and drained."""
    while True:
        try:
            key = await queue.get()
        except ShutDown:
            return
        try:
            again = await handle(key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one key's failure must not stop the worker
            on_error(key, exc)
            queue.add_rate_limited(key)
        else:
            queue.forget(key)
            if again is not None:
                queue.add_after(key, again)
        finally:
            queue.done(key)
