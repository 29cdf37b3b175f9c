"""A whole hollow kubelet fleet in one asyncio process.

:class:`HollowNodes` composes a :class:`kubeling.hollow.nodes.Fleet` (nodes,
leases, node status) and a :class:`kubeling.hollow.pods.PodRunner` (the pods
bound to those nodes) over one client and one :class:`Limiter`, so N nodes
cost a handful of tasks and at most ``concurrency`` requests in flight.
``run()`` registers the nodes, sets ``ready`` and keeps going until
cancelled; a failing loop ends ``run()`` with its error instead of dying
silently. With ``cleanup`` the nodes are deleted on the way out; without, they
stay registered and simply stop heartbeating, as when a kubelet dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging

from kubeling.client import rest
from kubeling.hollow import limiter, nodes, objects, pods

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Options:
    count: int
    name_prefix: str = "hollow-"
    cpu: str = "4"
    memory: str = "16Gi"
    pods: int = 110
    pod_run_seconds: float = 1.0
    heartbeat_interval: float = 10.0
    status_interval: float = 300.0
    lease_duration: int = 40
    concurrency: int = 64
    pod_workers: int = 32
    first_index: int = 0
    cleanup: bool = False


class HollowNodes:
    def __init__(self, client: rest.Client, options: Options) -> None:
        self.client = client
        self.options = options
        self.limit = limiter.Limiter(options.concurrency)
        self.shape = objects.NodeShape(cpu=options.cpu, memory=options.memory, pods=options.pods,
                                       prefix=options.name_prefix)
        self.fleet = nodes.Fleet(client, self.shape, options.count, limit=self.limit,
                                 heartbeat_interval=options.heartbeat_interval,
                                 status_interval=options.status_interval,
                                 lease_duration=options.lease_duration, first_index=options.first_index)
        self.pods = pods.PodRunner(client, self.fleet, limit=self.limit, run_seconds=options.pod_run_seconds,
                                   workers=options.pod_workers)
        self.ready = asyncio.Event()

    async def _kubelet_version(self) -> None:
        # Report the version of the control plane we joined, as a matching kubelet would.
        with contextlib.suppress(rest.ClientError):
            info = await self.client.request("GET", "/version")
            if isinstance(info, dict) and info.get("gitVersion"):
                self.shape = dataclasses.replace(self.shape, kubelet_version=str(info["gitVersion"]))
                self.fleet.shape = self.shape

    async def run(self) -> None:
        await self._kubelet_version()
        loops = [asyncio.ensure_future(c) for c in (self.fleet.heartbeat_loop(), self.fleet.status_loop(),
                                                    self.pods.run())]
        try:
            await self.fleet.register()
            if self.fleet.names:
                log.info("%d hollow nodes registered (%s..%s)", len(self.fleet.names), self.fleet.names[0],
                         self.fleet.names[-1])
            self.ready.set()
            done, _ = await asyncio.wait(loops, return_when=asyncio.FIRST_EXCEPTION)
            for t in done:
                t.result()  # a loop that ended raises its error here
        finally:
            for t in loops:
                t.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            self.fleet.stop()
            if self.options.cleanup:
                await asyncio.shield(self._cleanup())

    async def _cleanup(self) -> None:
        log.info("deleting %d hollow nodes", len(self.fleet.names))
        try:
            await self.fleet.cleanup()
        except rest.ClientError as exc:
            log.error("cleanup failed: %s", exc)
