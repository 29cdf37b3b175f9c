"""The controller skeleton every reconcile loop shares.

Contract (client-go's, see STYLE.md): informer event handlers only enqueue a
key; ``workers`` tasks take keys from one :class:`WorkQueue` and call
``reconcile(key)``, which reads from informer caches, never mutates a cached
object, and writes only through the API. An exception requeues the key with
per-key exponential backoff; success forgets the backoff. A reconcile may ask
to run again later by returning a delay in seconds.

A controller is built from a :class:`Context` (the shared client, informer
factory, event recorder, clock and tunables) so the manager can compose them
and tests can build one against a fake clock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
from collections.abc import Callable
from typing import Any, ClassVar

from kubeling.client import clock as clocklib
from kubeling.client import informer as informerlib
from kubeling.client import rest, workqueue
from kubeling.controllers import events
from kubeling.lib import timeutil

Obj = dict[str, Any]
log = logging.getLogger("kubeling.controllers")


@dataclasses.dataclass
class Options:
    """Tunables shared by the controllers (upstream's kube-controller-manager flags)."""

    # Seconds a node may stay silent before it is marked Unknown (--node-monitor-grace-period).
    node_monitor_grace_period: float = 40.0
    # How often node health is checked (--node-monitor-period).
    node_monitor_period: float = 5.0
    # Tolerations added to pods without their own for not-ready/unreachable (DefaultTolerationSeconds).
    default_toleration_seconds: int = 300
    # How often the garbage collector re-scans for dangling owners.
    gc_period: float = 30.0
    # Terminated pods kept before the pod GC deletes the oldest (--terminated-pod-gc-threshold).
    terminated_pod_gc_threshold: int = 12500
    # Pod addresses: each node gets a /node_cidr_mask_size of cluster_cidr (k3s's defaults).
    cluster_cidr: str = "10.42.0.0/16"
    node_cidr_mask_size: int = 24


@dataclasses.dataclass
class Context:
    client: rest.Client
    factory: informerlib.Factory
    recorder: events.Recorder
    clock: clocklib.Clock = dataclasses.field(default_factory=clocklib.RealClock)
    options: Options = dataclasses.field(default_factory=Options)
    # Wall-clock time for timestamps and durations stored in objects (the
    # monotonic ``clock`` drives queues and timers); injectable for tests.
    now: Callable[[], datetime.datetime] = timeutil.now


class Controller:
    """Subclasses set ``NAME``, register handlers in ``__init__`` and implement ``reconcile``."""

    NAME: ClassVar[str] = "controller"
    WORKERS: ClassVar[int] = 2

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.recorder = ctx.recorder
        self.clock = ctx.clock
        self.queue: workqueue.WorkQueue[str] = workqueue.WorkQueue(clock=ctx.clock, name=self.NAME)
        self.log = logging.getLogger(f"kubeling.controllers.{self.NAME}")
        self._informers: list[informerlib.Informer] = []

    def informer(self, ref: rest.ResourceRef, **kw: Any) -> informerlib.Informer:
        """The shared informer for ``ref``; the controller waits for all it asked for."""
        inf = self.ctx.factory.informer(ref, **kw)
        self._informers.append(inf)
        return inf

    def enqueue(self, obj: Obj | informerlib.Tombstone) -> None:
        self.queue.add(informerlib.key_of(obj))

    async def reconcile(self, key: str) -> float | None:
        raise NotImplementedError

    async def run(self, *, workers: int | None = None) -> None:
        """Wait for the caches, then run the workers until cancelled."""
        self.ctx.factory.start()
        await informerlib.wait_for_sync(*self._informers)
        await self.started()
        tasks = [asyncio.create_task(self._worker(), name=f"{self.NAME}-worker-{i}")
                 for i in range(workers or self.WORKERS)]
        try:
            await asyncio.gather(*tasks)
        finally:
            self.queue.shut_down()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def started(self) -> None:
        """Hook run once the caches have synced (periodic tasks start here)."""

    async def _worker(self) -> None:
        await workqueue.run_worker(self.queue, self.reconcile, on_error=self._failed)

    def _failed(self, key: str, exc: Exception) -> None:
        if isinstance(exc, rest.Conflict):
            return  # a stale cache: the informer brings the newer object; the retry comes soon
        level = logging.DEBUG if isinstance(exc, rest.ApiError) and exc.status_code < 500 else logging.WARNING
        self.log.log(level, "reconcile %s failed: %s", key, exc, exc_info=level == logging.WARNING)
