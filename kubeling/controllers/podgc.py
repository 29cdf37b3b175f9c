"""The pod garbage collector (upstream's pod-garbage-collector).

Every ``PERIOD`` seconds (and when a node goes) it deletes, with no grace:

* pods bound to a node that no longer exists, once the node has been missing
  for ``QUARANTINE`` seconds and a live read confirms it is gone (a node may
  be registering, or the cache behind); they are first marked Failed with a
  DisruptionTarget condition (DeletionByPodGC);
* pods being deleted that were never scheduled (no kubelet will finish them);
* the oldest terminated (Succeeded/Failed) pods beyond
  ``terminated_pod_gc_threshold``.
"""

from __future__ import annotations

from typing import Any

from kubeling.client import informer as informerlib
from kubeling.client import rest
from kubeling.controllers import base
from kubeling.lib import timeutil

Obj = dict[str, Any]
GC_KEY = "gc"


def _terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


class PodGCController(base.Controller):
    NAME = "pod-garbage-collector"
    WORKERS = 1
    PERIOD = 20.0
    QUARANTINE = 40.0

    def __init__(self, ctx: base.Context) -> None:
        super().__init__(ctx)
        self.pods = self.informer(rest.PODS)
        self.nodes = self.informer(rest.NODES)
        self.nodes.add_handler(on_delete=lambda _obj: self.queue.add(GC_KEY))
        # pod key -> clock time its node was first seen missing
        self.missing_since: dict[str, float] = {}

    async def started(self) -> None:
        self.queue.add(GC_KEY)

    async def reconcile(self, key: str) -> float | None:
        await self.gc_terminated()
        await self.gc_orphaned()
        await self.gc_unscheduled_terminating()
        return self.PERIOD

    async def _force_delete(self, pod: Obj) -> None:
        md = pod["metadata"]
        try:
            await self.client.delete(rest.PODS, md["name"], namespace=md["namespace"], grace_period_seconds=0,
                                     preconditions={"uid": md.get("uid")})
        except (rest.NotFound, rest.Conflict):
            pass

    async def gc_terminated(self) -> None:
        threshold = self.ctx.options.terminated_pod_gc_threshold
        if threshold <= 0:
            return
        done = [p for p in self.pods.store.list() if _terminal(p)]
        excess = len(done) - threshold
        if excess <= 0:
            return
        done.sort(key=lambda p: (p["metadata"].get("creationTimestamp") or "", informerlib.key_of(p)))
        for pod in done[:excess]:
            await self._force_delete(pod)

    async def gc_orphaned(self) -> None:
        now = self.clock.now()
        seen: set[str] = set()
        earliest: float | None = None
        for pod in self.pods.store.list():
            node = (pod.get("spec") or {}).get("nodeName")
            if not node or node in self.nodes.store:
                continue
            key = informerlib.key_of(pod)
            seen.add(key)
            since = self.missing_since.setdefault(key, now)
            if now - since < self.QUARANTINE:
                due = since + self.QUARANTINE - now
                earliest = due if earliest is None else min(earliest, due)
                continue
            try:
                await self.client.get(rest.NODES, node)
                continue  # it exists after all: the cache is behind
            except rest.NotFound:
                pass
            await self._mark_failed(pod, f"PodGC: node {node} no longer exists")
            await self._force_delete(pod)
        self.missing_since = {k: v for k, v in self.missing_since.items() if k in seen}
        if earliest is not None:
            self.queue.add_after(GC_KEY, earliest)

    async def _mark_failed(self, pod: Obj, message: str) -> None:
        if _terminal(pod):
            return
        md = pod["metadata"]
        cond = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC", "message": message,
                "lastTransitionTime": timeutil.rfc3339(self.ctx.now())}
        try:
            await self.client.patch(rest.PODS, md["name"], {"status": {"phase": "Failed", "conditions": [cond]}},
                                    namespace=md["namespace"], patch_type="strategic", subresource="status")
        except rest.ApiError as exc:
            self.log.debug("cannot mark %s/%s failed: %s", md["namespace"], md["name"], exc)

    async def gc_unscheduled_terminating(self) -> None:
        for pod in self.pods.store.list():
            if pod["metadata"].get("deletionTimestamp") and not (pod.get("spec") or {}).get("nodeName"):
                await self._force_delete(pod)
