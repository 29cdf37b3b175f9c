"""The scheduling queue (upstream's PriorityQueue): three places a pending pod can wait.

* **activeQ** — ready to be tried, popped highest ``priority`` first, then
  oldest queue timestamp.
* **backoffQ** — failed recently; waits 1 s doubling per attempt up to 10 s,
  then moves to activeQ by itself.
* **unschedulable** — no node fit; stays until a cluster event that could
  help (node added or changed, a pod deleted) moves it out, or until it has
  waited 5 minutes (then it is retried anyway).

A pod that failed while a move event happened *during its cycle* goes to
backoffQ instead of the unschedulable set, so an event racing with the
attempt is not lost (upstream's moveRequestCycle). Time comes from an
injectable clock; ``run()`` flushes the unschedulable set periodically.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import itertools

from kubeling.client import clock as clocklib
from kubeling.scheduler import framework

ACTIVE = "active"
BACKOFF = "backoff"
UNSCHEDULABLE = "unschedulable"
IN_FLIGHT = "inflight"


@dataclasses.dataclass(eq=False)
class QueuedPod:
    info: framework.PodInfo
    timestamp: float
    attempts: int = 0
    backoff_until: float = 0.0
    cycle: int = 0  # the scheduling cycle that popped it last
    seq: int = 0
    plugins: frozenset[str] = frozenset()  # the plugins that refused it last time

    @property
    def key(self) -> str:
        return self.info.key


class SchedulingQueue:
    def __init__(self, *, clock: clocklib.Clock | None = None, initial_backoff: float = 1.0,
                 max_backoff: float = 10.0, unschedulable_timeout: float = 300.0,
                 flush_period: float = 30.0) -> None:
        self.clock: clocklib.Clock = clock or clocklib.REAL
        self.initial_backoff = initial_backoff
        self.max_backoff = max_backoff
        self.unschedulable_timeout = unschedulable_timeout
        self.flush_period = flush_period
        self._entries: dict[str, QueuedPod] = {}
        self._where: dict[str, str] = {}
        self._active: list[tuple[int, float, int, str]] = []
        self._backoff: list[tuple[float, int, str]] = []
        self._unschedulable: dict[str, QueuedPod] = {}
        self._seq = itertools.count()
        self._ready = asyncio.Event()
        self._closed = False
        self.scheduling_cycle = 0
        self._move_cycle = -1

    # ---- inspection (tests, metrics) ------------------------------------------------
    def where(self, key: str) -> str | None:
        return self._where.get(key)

    def __len__(self) -> int:
        return len(self._where)

    def pending(self) -> dict[str, int]:
        counts = {ACTIVE: 0, BACKOFF: 0, UNSCHEDULABLE: 0, IN_FLIGHT: 0}
        for w in self._where.values():
            counts[w] += 1
        return counts

    # ---- adding and removing -------------------------------------------------------
    def _push_active(self, qp: QueuedPod) -> None:
        qp.seq = next(self._seq)
        heapq.heappush(self._active, (-qp.info.priority, qp.timestamp, qp.seq, qp.key))
        self._where[qp.key] = ACTIVE
        self._ready.set()

    def _push_backoff(self, qp: QueuedPod) -> None:
        qp.seq = next(self._seq)
        heapq.heappush(self._backoff, (qp.backoff_until, qp.seq, qp.key))
        self._where[qp.key] = BACKOFF
        self.clock.call_at(qp.backoff_until, self.flush_backoff)

    def add(self, info: framework.PodInfo) -> None:
        """A new pending pod (or one seen again): straight to activeQ."""
        if info.key in self._where:
            self.update(info)
            return
        qp = QueuedPod(info, self.clock.now())
        self._entries[info.key] = qp
        self._push_active(qp)

    def update(self, info: framework.PodInfo) -> None:
        qp = self._entries.get(info.key)
        if qp is None:
            self.add(info)
            return
        changed = qp.info.pod.get("spec") != info.pod.get("spec") or qp.info.labels != info.labels
        qp.info = info
        where = self._where.get(info.key)
        if where == ACTIVE:  # priority may have changed: re-push; the stale heap entry is skipped
            self._push_active(qp)
        elif where == UNSCHEDULABLE and changed:
            # An update may make it schedulable: try again (after its backoff).
            del self._unschedulable[info.key]
            self._requeue_moved(qp)

    def delete(self, key: str) -> None:
        self._entries.pop(key, None)
        self._where.pop(key, None)
        self._unschedulable.pop(key, None)

    # ---- popping --------------------------------------------------------------------
    def _pop_ready(self) -> QueuedPod | None:
        while self._active:
            _, _, seq, key = heapq.heappop(self._active)
            qp = self._entries.get(key)
            if qp is None or qp.seq != seq or self._where.get(key) != ACTIVE:
                continue  # deleted or re-pushed since
            return qp
        return None

    def pop_nowait(self) -> QueuedPod | None:
        qp = self._pop_ready()
        if qp is None:
            self._ready.clear()
            return None
        self.scheduling_cycle += 1
        qp.cycle = self.scheduling_cycle
        qp.attempts += 1
        self._where[qp.key] = IN_FLIGHT
        return qp

    async def pop(self) -> QueuedPod:
        while True:
            qp = self.pop_nowait()
            if qp is not None:
                return qp
            if self._closed:
                raise asyncio.CancelledError("queue closed")
            await self._ready.wait()

    def done(self, key: str) -> None:
        """The cycle for ``key`` ended with it bound (or gone): it leaves the queue."""
        if self._where.get(key) == IN_FLIGHT:
            self.delete(key)

    # ---- failures -------------------------------------------------------------------
    def _backoff_for(self, qp: QueuedPod) -> float:
        return min(self.initial_backoff * 2 ** max(qp.attempts - 1, 0), self.max_backoff)

    def _requeue_moved(self, qp: QueuedPod) -> None:
        if qp.backoff_until > self.clock.now():
            self._push_backoff(qp)
        else:
            self._push_active(qp)

    def add_unschedulable(self, qp: QueuedPod, *, plugins: set[str] | frozenset[str] = frozenset()) -> None:
        """No node fit ``qp`` in the cycle that popped it (``plugins`` said no)."""
        if self._where.get(qp.key) != IN_FLIGHT:
            return  # deleted (or re-added) while in flight
        qp.plugins = frozenset(plugins)
        now = self.clock.now()
        qp.timestamp = now
        qp.backoff_until = now + self._backoff_for(qp)
        if self._move_cycle >= qp.cycle:
            self._push_backoff(qp)  # something changed during the attempt: retry soon
        else:
            self._unschedulable[qp.key] = qp
            self._where[qp.key] = UNSCHEDULABLE

    def add_backoff(self, qp: QueuedPod) -> None:
        """An error (binding failed, API trouble): retry after the pod's backoff."""
        if self._where.get(qp.key) != IN_FLIGHT:
            return
        now = self.clock.now()
        qp.timestamp = now
        qp.backoff_until = now + self._backoff_for(qp)
        self._push_backoff(qp)

    # ---- moves ----------------------------------------------------------------------
    def move_all_to_active(self, event: str = "", *, only_plugins: frozenset[str] | None = None) -> None:
        """A cluster event that may make unschedulable pods fit (upstream's
        MoveAllToActiveOrBackoffQueue). With ``only_plugins``, only pods refused by
        one of those plugins can be helped by the event, so only they move."""
        if only_plugins is None:
            pods = list(self._unschedulable.values())
            self._unschedulable.clear()
        else:
            pods = [qp for qp in self._unschedulable.values() if qp.plugins & only_plugins]
            for qp in pods:
                del self._unschedulable[qp.key]
        for qp in pods:
            self._requeue_moved(qp)
        if only_plugins is None or pods:
            self._move_cycle = self.scheduling_cycle

    def flush_backoff(self) -> None:
        now = self.clock.now()
        while self._backoff and self._backoff[0][0] <= now:
            _, seq, key = heapq.heappop(self._backoff)
            qp = self._entries.get(key)
            if qp is None or qp.seq != seq or self._where.get(key) != BACKOFF:
                continue
            self._push_active(qp)

    def flush_unschedulable(self) -> None:
        now = self.clock.now()
        stale = [qp for qp in self._unschedulable.values() if now - qp.timestamp >= self.unschedulable_timeout]
        for qp in stale:
            del self._unschedulable[qp.key]
            self._requeue_moved(qp)

    async def run(self) -> None:
        while not self._closed:
            await self.clock.sleep(self.flush_period)
            self.flush_backoff()
            self.flush_unschedulable()

    def close(self) -> None:
        self._closed = True
        self._ready.set()
