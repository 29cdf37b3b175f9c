"""The controller manager: every controller in one process, behind one leader lease.

``CONTROLLERS`` is the explicit table of what runs (upstream's
``NewControllerDescriptors``). ``Manager.run`` waits to lead, starts each
controller on one shared informer factory and returns only by raising: a
controller that dies takes the manager down loudly instead of silently.
"""

from __future__ import annotations

import asyncio
import logging

from kubeling.client import clock as clocklib
from kubeling.client import informer as informerlib
from kubeling.client import leader
from kubeling.client import rest
from kubeling.controllers import (
    base,
    cronjob,
    daemonset,
    deployment,
    disruption,
    endpoints,
    endpointslice,
    events,
    garbagecollector,
    job,
    nodeipam,
    nodelifecycle,
    podgc,
    pvbinder,
    replicaset,
    resourcequota,
    serviceaccount,
    statefulset,
    tainteviction,
    ttlafterfinished,
)

log = logging.getLogger("kubeling.controllers.manager")

CONTROLLERS: list[type[base.Controller]] = [
    serviceaccount.ServiceAccountController,
    nodeipam.NodeIPAMController,
    nodelifecycle.NodeLifecycleController,
    tainteviction.TaintEvictionController,
    podgc.PodGCController,
    garbagecollector.GarbageCollector,
    endpoints.EndpointsController,
    endpointslice.EndpointSliceController,
    disruption.DisruptionController,
    pvbinder.PVBinderController,
    resourcequota.ResourceQuotaController,
    statefulset.StatefulSetController,
    daemonset.DaemonSetController,
    replicaset.ReplicaSetController,
    replicaset.ReplicationControllerController,
    deployment.DeploymentController,
    job.JobController,
    cronjob.CronJobController,
    ttlafterfinished.TTLAfterFinishedController,
]


class Manager:
    def __init__(self, client: rest.Client, *, options: base.Options | None = None,
                 enabled: set[str] | None = None, clock: clocklib.Clock | None = None,
                 lease_name: str = "kube-controller-manager") -> None:
        self.client = client
        self.options = options or base.Options()
        self.enabled = enabled
        self.clock = clock or clocklib.RealClock()
        self.elector = leader.Elector(client, lease_name)
        self.ready = asyncio.Event()
        self.controllers: list[base.Controller] = []

    def build(self) -> base.Context:
        ctx = base.Context(client=self.client, factory=informerlib.Factory(self.client, clock=self.clock),
                           recorder=events.Recorder(self.client, "kube-controller-manager"),
                           clock=self.clock, options=self.options)
        self.controllers = [cls(ctx) for cls in CONTROLLERS if self.enabled is None or cls.NAME in self.enabled]
        return ctx

    async def run(self) -> None:
        elect = asyncio.create_task(self.elector.run(), name="controller-manager-lease")
        try:
            await self._wait_leading(elect)
            ctx = self.build()
            tasks = {asyncio.create_task(c.run(), name=f"controller-{c.NAME}"): c for c in self.controllers}
            tasks[elect] = None  # type: ignore[assignment]
            self.ready.set()
            log.info("controllers started: %s", ", ".join(c.NAME for c in self.controllers))
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    if t is elect:
                        raise RuntimeError("controller manager lost its leader lease")
                    t.result()
                    raise RuntimeError(f"controller {tasks[t].NAME} stopped")
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                ctx.factory.stop()
                await ctx.recorder.close()
        finally:
            elect.cancel()
            await asyncio.gather(elect, return_exceptions=True)

    async def _wait_leading(self, elect: asyncio.Task[None]) -> None:
        leading = asyncio.create_task(self.elector.leading.wait())
        done, _ = await asyncio.wait({leading, elect}, return_when=asyncio.FIRST_COMPLETED)
        if elect in done:
            leading.cancel()
            elect.result()
            raise RuntimeError("leader election ended before leading")
