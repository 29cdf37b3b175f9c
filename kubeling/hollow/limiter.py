"""One bound on the API requests a hollow process has in flight, shared by all its loops.

Two classes of callers: ``urgent`` ones (lease renewals, node status: what
keeps the nodes alive) are let in before ordinary ones (pod work) whenever a
slot frees up, as the API server's priority levels put node heartbeats ahead
of workload traffic. Within a class it is first come, first served.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Limiter:
    """At most ``size`` calls run at once; the rest wait their turn."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("a limiter needs room for at least one call")
        self.size = size
        self.active = 0
        self._waiting: tuple[collections.deque[asyncio.Future[None]], ...] = (
            collections.deque(), collections.deque())  # urgent, ordinary

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._waiting)

    async def call(self, fn: Callable[..., Awaitable[T]], *args: Any, urgent: bool = False, **kw: Any) -> T:
        await self._acquire(urgent)
        try:
            return await fn(*args, **kw)
        finally:
            self._release()

    async def _acquire(self, urgent: bool) -> None:
        if self.active < self.size and not self._waiting[0] and (urgent or not self._waiting[1]):
            self.active += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._waiting[0 if urgent else 1]
        queue.append(fut)
        try:
            await fut  # _release handed its slot to us
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release()  # the slot came just as we were cancelled: pass it on
            elif fut in queue:
                queue.remove(fut)
            raise

    def _release(self) -> None:
        for queue in self._waiting:
            while queue:
                fut = queue.popleft()
                if not fut.done():
                    fut.set_result(None)  # the slot passes straight on; active stays the same
                    return
        self.active -= 1
