"""The pod side of a hollow kubelet fleet: "run" the pods bound to its nodes.

One pod informer serves the whole fleet. A field selector cannot say "one of
these N node names", so it watches every bound pod (``spec.nodeName!=``) and
keeps those whose node is in the fleet. Handlers only enqueue keys; a fixed
number of workers reconcile them, each API write going through the fleet's
shared limiter. For a pod on one of our nodes, ``reconcile`` does what a
kubelet whose containers start instantly would:

* a new pod gets status Running: an IP from its node's range, hostIP,
  startTime, conditions (Ready only once its readiness gates hold) and a
  running, ready status per container;
* a pod whose restartPolicy is not Always finishes ``run_seconds`` after it
  started: phase Succeeded, every container terminated with exit code 0;
* a pod being deleted (deletionTimestamp set) has its containers stopped
  (terminal status) and is then deleted with grace period 0, the kubelet's
  final delete, guarded by the pod's uid.

Status goes through the ``status`` subresource as a merge patch carrying the
pod's uid, so a pod replaced by a namesake is never written by mistake.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from kubeling.client import informer as informerlib
from kubeling.client import rest, workqueue
from kubeling.hollow import ipam, limiter, nodes, objects
from kubeling.lib import timeutil

log = logging.getLogger(__name__)

Obj = dict[str, Any]
TERMINAL = ("Succeeded", "Failed")


def _started_by_us(pod: Obj) -> bool:
    st = pod.get("status") or {}
    if st.get("phase") != "Running" or not st.get("podIP"):
        return False
    statuses = st.get("containerStatuses") or []
    want = {c.get("name") for c in (pod.get("spec") or {}).get("containers") or []}
    return {s.get("name") for s in statuses if (s.get("state") or {}).get("running")} == want


def _ready(pod: Obj) -> bool:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return bool(c.get("status") == "True")
    return False


class PodRunner:
    def __init__(self, client: rest.Client, fleet: nodes.Fleet, *, limit: limiter.Limiter,
                 run_seconds: float = 1.0, workers: int = 32) -> None:
        self.client = client
        self.fleet = fleet
        self.limit = limit
        self.run_seconds = run_seconds
        self.workers = workers
        self.ips = ipam.PodIPs()
        self.queue: workqueue.WorkQueue[str] = workqueue.WorkQueue(name="hollow-pods")
        self.informer = informerlib.Informer(client, rest.PODS, field_selector="spec.nodeName!=")
        self.informer.add_handler(on_add=self._enqueue, on_update=lambda _old, new: self._enqueue(new),
                                  on_delete=self._deleted)
        # When we started each pod (monotonic), to finish run-to-completion pods on time.
        self._started: dict[str, float] = {}
        fleet.on_pod_cidr = self.ips.set_range
        self.started = 0  # pods set Running (for tests and metrics)
        self.finished = 0
        self.deleted = 0

    def _enqueue(self, pod: Obj) -> None:
        if (pod.get("spec") or {}).get("nodeName") in self.fleet:
            self.queue.add(informerlib.key_of(pod))

    def _deleted(self, pod: Obj | informerlib.Tombstone) -> None:
        obj = informerlib.object_of(pod)
        if (obj.get("spec") or {}).get("nodeName") in self.fleet:
            self.queue.add(informerlib.key_of(pod))

    async def run(self) -> None:
        """Watch pods and work the queue until cancelled."""
        await self.fleet.registered.wait()
        self.informer.start()
        await self.informer.wait_for_sync()
        # Pods an earlier run started keep their addresses: take those before handing out new ones.
        for pod in self.informer.store.list():
            node = str((pod.get("spec") or {}).get("nodeName") or "")
            if node in self.fleet and _started_by_us(pod) and not (pod.get("spec") or {}).get("hostNetwork"):
                self._ip(informerlib.key_of(pod), pod, node)
        workers = [asyncio.ensure_future(self._worker()) for _ in range(self.workers)]
        try:
            await asyncio.gather(*workers)
        finally:
            self.queue.shut_down()
            self.informer.stop()
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _worker(self) -> None:
        def failed(key: str, exc: Exception) -> None:
            if isinstance(exc, (rest.ClientError, ipam.RangeFull)):
                log.warning("pod %s: %s", key, exc)
            else:
                log.error("pod %s: unexpected failure", key, exc_info=exc)

        await workqueue.run_worker(self.queue, self.reconcile, on_error=failed)

    # ---- one pod --------------------------------------------------------------------
    async def reconcile(self, key: str) -> float | None:
        """Bring one pod one step on; the seconds after which to look again, if any."""
        pod = self.informer.store.get(key)
        node = str(((pod or {}).get("spec") or {}).get("nodeName") or "")
        if pod is None or node not in self.fleet:
            self.ips.release(key)
            self._started.pop(key, None)
            return None
        md = pod["metadata"]
        spec = pod.get("spec") or {}
        st = pod.get("status") or {}
        phase = st.get("phase")
        if md.get("deletionTimestamp"):
            if phase not in TERMINAL:
                await self._write(pod, objects.finished_status(pod, host_ip=self.fleet.host_ips[node],
                                                               pod_ip=str(st.get("podIP") or "")))
            await self._delete(pod)
            return None
        if phase in TERMINAL:
            return None
        if not _started_by_us(pod):
            await self._write(pod, objects.running_status(pod, host_ip=self.fleet.host_ips[node],
                                                          pod_ip=self._ip(key, pod, node)))
            self._started[key] = time.monotonic()
            self.started += 1
        else:
            self._ip(key, pod, node)  # an earlier run started it: keep its address taken
            if _ready(pod) != objects.readiness_gates_met(pod):
                await self._write(pod, objects.running_status(pod, host_ip=self.fleet.host_ips[node],
                                                              pod_ip=str(st["podIP"])))
        if spec.get("restartPolicy", "Always") == "Always":
            return None
        left = self._run_left(key, st)
        if left > 0:
            return left
        await self._write(pod, objects.finished_status(pod, host_ip=self.fleet.host_ips[node],
                                                       pod_ip=str(st.get("podIP") or "")))
        self.finished += 1
        return None

    def _ip(self, key: str, pod: Obj, node: str) -> str:
        if (pod.get("spec") or {}).get("hostNetwork"):
            return self.fleet.host_ips[node]
        if not self.ips.has_range(node):
            self.ips.set_range(node, self.fleet.pod_cidr(node)
                               or str(objects.fallback_pod_cidr(self.fleet.index[node])))
        return self.ips.assign(key, str(pod["metadata"].get("uid", "")), node,
                               current=str((pod.get("status") or {}).get("podIP") or ""))

    def _run_left(self, key: str, st: Obj) -> float:
        began = self._started.get(key)
        if began is not None:
            return began + self.run_seconds - time.monotonic()
        start = timeutil.parse(str(st.get("startTime") or ""))
        if start is None:
            return 0.0
        return start.timestamp() + self.run_seconds - time.time()

    async def _write(self, pod: Obj, status: Obj) -> None:
        md = pod["metadata"]
        try:
            await self.limit.call(self.client.patch, rest.PODS, md["name"],
                                  {"metadata": {"uid": md.get("uid")}, "status": status},
                                  namespace=md["namespace"], subresource="status")
        except rest.NotFound:
            pass  # gone meanwhile: the delete event brings the key back

    async def _delete(self, pod: Obj) -> None:
        md = pod["metadata"]
        try:
            await self.limit.call(self.client.delete, rest.PODS, md["name"], namespace=md["namespace"],
                                  grace_period_seconds=0, preconditions={"uid": md.get("uid")})
            self.deleted += 1
        except rest.NotFound:
            pass
        except rest.ApiError as exc:
            if not exc.conflict:  # a namesake replaced it: not ours to delete
                raise
