"""What each pod on the node uses, for the eviction manager's ranking and
messages, and the node-level reclaim it tries before evicting for disk.

* memory: the working set of the pod's running containers, from the stats
  collector (:mod:`kubeling.kubelet.stats`), as upstream's Summary API gives it;
* ephemeral storage: the pod's disk-backed volumes (emptyDir), its logs and
  its containers' writable layers (overlayfs ``upper``), measured on disk;
* reclaim: the dead containers and sandboxes of finished pods, then unused
  images.
"""

from __future__ import annotations

import asyncio
import logging
import pathlib
from collections.abc import Awaitable, Callable
from typing import Any

from kubeling.kubelet import eviction, podsync, stats
from kubeling.kubelet.runtime import protocol as cri

Obj = dict[str, Any]
log = logging.getLogger("kubeling.kubelet.podusage")


async def memory(collector: stats.Collector) -> eviction.Usage:
    summary = await collector.summary()
    out = eviction.Usage()
    for pod in summary["pods"]:
        uid = pod["podRef"]["uid"]
        ws = (pod.get("memory") or {}).get("workingSetBytes")
        if ws is not None:
            out.pods[uid] = int(ws)
        for c in pod.get("containers") or []:
            cws = (c.get("memory") or {}).get("workingSetBytes")
            if cws is not None:
                out.containers[(uid, c["name"])] = int(cws)
    return out


async def disk(runtime: cri.RuntimeService, syncer: podsync.PodSyncer, pods: list[Obj], *,
               container_dir: Callable[[str], pathlib.Path]) -> eviction.Usage:
    by_uid = {p["metadata"]["uid"]: p for p in pods}
    layers: dict[str, list[tuple[str, pathlib.Path]]] = {}
    for c in await runtime.list_containers():
        uid = c.labels.get(podsync.UID_LABEL, "")
        if uid in by_uid:
            layers.setdefault(uid, []).append((c.labels.get(podsync.NAME_LABEL, c.metadata.name),
                                               container_dir(c.id) / "upper"))

    def measure() -> eviction.Usage:
        out = eviction.Usage()
        for uid, pod in by_uid.items():
            logs = syncer.log_dir(pod)
            total = eviction.du(syncer.pod_dir(uid) / "volumes")
            for name, upper in layers.get(uid, []):
                used = eviction.du(upper) + eviction.du(logs / name)
                out.containers[(uid, name)] = out.containers.get((uid, name), 0) + used
                total += used
            out.pods[uid] = total
        return out

    return await asyncio.to_thread(measure)


async def reclaim(syncer: podsync.PodSyncer, pods: list[Obj], *,
                  images: Callable[[], Awaitable[None]] | None) -> None:
    """Remove what finished pods left in the runtime, then unused images."""
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            try:
                await syncer.stop_pod(pod["metadata"]["uid"], grace=0, remove=True)
            except cri.RuntimeError_ as exc:
                log.warning("reclaiming the containers of %s: %s", pod["metadata"]["name"], exc)
    if images is not None:
        await images()
