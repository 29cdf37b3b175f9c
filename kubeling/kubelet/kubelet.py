"""The kubelet: makes the pods bound to this node real and reports their state.

Components, all on one event loop and all through the API:

* node registration and heartbeats (:mod:`kubeling.kubelet.node`);
* an informer on this node's pods (field selector ``spec.nodeName``); its
  handlers only enqueue the pod's key, and workers run
  :class:`~kubeling.kubelet.podsync.PodSyncer` per key (the work queue never
  gives one pod to two workers);
* a PLEG (pod lifecycle event generator): every second it lists the
  runtime's containers and enqueues each pod whose containers changed state,
  which is how exits, OOM kills and crashes are noticed;
* static pods from ``<data-dir>/manifests`` (:mod:`kubeling.kubelet.staticpods`):
  run from their files, shown and given status through mirror pods;
* housekeeping every 10 s: every pod is synced again (configMap and secret
  volumes follow their objects this way) and sandboxes of pods that no
  longer exist are removed;
* the eviction manager (:mod:`kubeling.kubelet.eviction`): the node's
  pressure conditions, and pods evicted when memory, disk or pids run low.

Status goes to ``pods/status`` only when it changed; a terminating pod whose
containers have stopped is deleted for good (grace 0, uid precondition), as
upstream's kubelet does.
"""

from __future__ import annotations

import asyncio
import logging
import pathlib
from collections.abc import Awaitable, Callable
from typing import Any

from kubeling.client import events, informer, rest, workqueue
from kubeling.kubelet import eviction, podsync, podusage, runtimeclass, staticpods, stats, sysctls, volumes
from kubeling.kubelet import node as nodelib
from kubeling.kubelet.images import store as imagestore
from kubeling.kubelet.runtime import protocol as cri

Obj = dict[str, Any]
log = logging.getLogger("kubeling.kubelet")

WORKERS = 8
PLEG_PERIOD = 1.0
HOUSEKEEPING_PERIOD = 10.0


class Kubelet:
    def __init__(self, client: rest.Client, *, node_name: str, node_ip: str, data_dir: pathlib.Path,
                 runtime: cri.RuntimeService, images: imagestore.Store, dns: cri.DNSConfig | None = None,
                 labels: dict[str, str] | None = None,
                 before_pods: Callable[[], Awaitable[None]] | None = None,
                 eviction_config: eviction.Config | None = None,
                 reclaim_images: Callable[[], Awaitable[None]] | None = None) -> None:
        self.client = client
        self.node_name = node_name
        self.node_ip = node_ip
        self.data_dir = data_dir
        self.runtime = runtime
        self.images = images
        self.labels = labels or {}
        self.before_pods = before_pods  # runs after registration, before any pod (the agent's network)
        self.recorder = events.Recorder(client, "kubelet", host=node_name)
        self.pods = informer.Informer(client, rest.PODS, field_selector=f"spec.nodeName={node_name}")
        # Every Service, for the containers' service environment variables.
        self.services = informer.Informer(client, rest.SERVICES)
        self.queue: workqueue.WorkQueue[str] = workqueue.WorkQueue(name="kubelet")
        self.runtime_classes = runtimeclass.Resolver(client)
        self.syncer = podsync.PodSyncer(runtime, images, data_dir, node_ip=node_ip, dns=dns,
                                        load_sources=self._load_sources, recorder=self.recorder,
                                        resync=self.queue.add, runtime_classes=self.runtime_classes)
        self.static = staticpods.StaticPods(data_dir / "manifests", node_name)
        self.pods.add_handler(on_add=self._enqueue, on_update=lambda _o, n: self._enqueue(n),
                              on_delete=self._enqueue)
        self.ready = asyncio.Event()
        self.kubelet_port = nodelib.KUBELET_PORT  # set by the agent to the port its kubelet server got
        self._last_states: dict[str, tuple[Any, ...]] = {}
        self._beat: nodelib.Heartbeat | None = None
        self.eviction = self._eviction_manager(eviction_config or eviction.Config(), reclaim_images)
        # Pods the node must not start: under pressure (eviction), or with sysctls it does not allow.
        self.syncer.admit = lambda pod: self.eviction.admit(pod) or sysctls.refusal(pod)
        self._published: dict[str, Obj] = {}

    def _enqueue(self, obj: Obj | informer.Tombstone) -> None:
        self.queue.add(informer.key_of(obj))

    # ---- lifecycle -----------------------------------------------------------------------
    async def run(self) -> None:
        name, version = await self.runtime.version()
        runtime_version = f"{name}://{version}"

        async def status(_node: Obj) -> Obj:
            return self._with_port(nodelib.build(self.node_name, node_ip=self.node_ip, data_dir=self.data_dir,
                                                 runtime_version=runtime_version, images=self._image_list(),
                                                 pressure=self.eviction.conditions()))["status"]

        await nodelib.register(self.client, self._with_port(nodelib.build(
            self.node_name, node_ip=self.node_ip, data_dir=self.data_dir, runtime_version=runtime_version,
            images=self._image_list(), labels=self.labels)))
        beat = self._beat = nodelib.Heartbeat(self.client, self.node_name, status=status)
        await beat.renew_lease()
        if self.before_pods is not None:
            await self.before_pods()
        self.services.start()
        self.runtime_classes.start()
        self.pods.start()
        await informer.wait_for_sync(self.services, self.runtime_classes.informer, self.pods)
        tasks = [asyncio.create_task(t) for t in (beat.run(), self._pleg(), self._housekeeping(),
                                                  self.eviction.run())]
        tasks += [asyncio.create_task(self._worker()) for _ in range(WORKERS)]
        tasks.append(asyncio.create_task(self.static.run(self.client, self.pods.store, self.queue.add)))
        self.ready.set()
        log.info("kubelet for node %s ready (%s)", self.node_name, runtime_version)
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in done:
                t.result()
        finally:
            self.queue.shut_down()
            self.syncer.probes.close()
            self.pods.stop()
            self.services.stop()
            self.runtime_classes.stop()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.recorder.close()

    def _eviction_manager(self, config: eviction.Config,
                          reclaim_images: Callable[[], Awaitable[None]] | None) -> eviction.Manager:
        collector = stats.Collector(self.runtime, node_name=lambda: self.node_name)

        async def disk(pods: list[Obj]) -> eviction.Usage:
            return await podusage.disk(self.runtime, self.syncer, pods,
                                       container_dir=lambda cid: self.data_dir / "containers" / cid)

        async def reclaim() -> None:
            await podusage.reclaim(self.syncer, self._node_pods(), images=reclaim_images)

        def changed() -> None:
            if self._beat is not None:
                self._beat.poke()

        return eviction.Manager(config, nodefs=self.data_dir, imagefs=self.images.root, pods=self._node_pods,
                                fail=self.syncer.fail, resync=self.queue.add,
                                memory_usage=lambda: podusage.memory(collector), disk_usage=disk, reclaim=reclaim,
                                recorder=self.recorder, node_name=self.node_name, on_change=changed)

    def _node_pods(self) -> list[Obj]:
        """The pods this node runs: API pods (not mirrors) and static pods."""
        return [p for p in self.pods.store.list() if not staticpods.is_mirror(p)] + self.static.list()

    def _with_port(self, node: Obj) -> Obj:
        node["status"]["daemonEndpoints"] = {"kubeletEndpoint": {"Port": self.kubelet_port}}
        return node

    def _image_list(self) -> list[Obj]:
        out = []
        for img in self.images.list()[:50]:  # upstream reports at most 50
            names = img.repo_digests() + img.references
            out.append({"names": names, "sizeBytes": img.size})
        return out

    # ---- workers -------------------------------------------------------------------------
    async def _worker(self) -> None:
        def failed(key: str, exc: Exception) -> None:
            log.warning("syncing pod %s failed: %s", key, exc, exc_info=not isinstance(exc, rest.ApiError))

        await workqueue.run_worker(self.queue, self._sync, on_error=failed)

    async def _sync(self, key: str) -> float | None:
        static = self.static.get(key)
        pod = static or self.pods.store.get(key)
        if pod is not None and static is None and staticpods.is_mirror(pod):
            return None  # a mirror pod only shows a static pod; it is not run
        if pod is None:
            self._published.pop(key, None)
            return None
        result = await self.syncer.sync(pod)
        md = pod["metadata"]
        if result.status is not None and result.status != self._published.get(key) and \
                result.status != pod.get("status"):
            if static is not None:
                self.static.set_status(key, result.status)
            try:
                await self.client.patch(rest.PODS, md["name"], {"status": result.status}, namespace=md["namespace"],
                                        subresource="status")
            except rest.NotFound:
                if static is None:
                    raise
            self._published[key] = result.status
        if result.finished:
            try:
                await self.client.delete(rest.PODS, md["name"], namespace=md["namespace"], grace_period_seconds=0,
                                         preconditions={"uid": md["uid"]})
            except (rest.NotFound, rest.Conflict):
                pass
            self._published.pop(key, None)
        return result.requeue

    async def _load_sources(self, pod: Obj) -> volumes.Sources:
        """The ConfigMaps, Secrets and claims the pod refers to, read through the API."""
        ns = pod["metadata"]["namespace"]
        spec = pod.get("spec") or {}
        cms: set[str] = set()
        secrets: set[str] = set()
        claims: set[str] = set()
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            for src in c.get("envFrom") or []:
                if src.get("configMapRef"):
                    cms.add(src["configMapRef"].get("name", ""))
                if src.get("secretRef"):
                    secrets.add(src["secretRef"].get("name", ""))
            for var in c.get("env") or []:
                vf = var.get("valueFrom") or {}
                if vf.get("configMapKeyRef"):
                    cms.add(vf["configMapKeyRef"].get("name", ""))
                if vf.get("secretKeyRef"):
                    secrets.add(vf["secretKeyRef"].get("name", ""))
        for ref in spec.get("imagePullSecrets") or []:
            secrets.add(ref.get("name", ""))
        for vol in spec.get("volumes") or []:
            if vol.get("configMap"):
                cms.add(vol["configMap"].get("name", ""))
            if vol.get("secret"):
                secrets.add(vol["secret"].get("secretName", ""))
            if vol.get("persistentVolumeClaim"):
                claims.add(vol["persistentVolumeClaim"].get("claimName", ""))
            for src in (vol.get("projected") or {}).get("sources") or []:
                if src.get("configMap"):
                    cms.add(src["configMap"].get("name", ""))
                if src.get("secret"):
                    secrets.add(src["secret"].get("name", ""))
        out = volumes.Sources(services=self.services.store.list())
        for name in cms:
            out.configmaps[name] = await _get_or_none(self.client, rest.CONFIGMAPS, name, ns)
        for name in secrets:
            out.secrets[name] = await _get_or_none(self.client, rest.SECRETS, name, ns)
        for name in claims:
            out.claims[name] = await self._claim_path(name, ns)
        return out

    async def _claim_path(self, claim: str, ns: str) -> str | None:
        pvc = await _get_or_none(self.client, rest.PERSISTENTVOLUMECLAIMS, claim, ns)
        volume = (pvc or {}).get("spec", {}).get("volumeName")
        if not volume:
            return None
        pv = await _get_or_none(self.client, rest.PERSISTENTVOLUMES, volume, None)
        spec = (pv or {}).get("spec") or {}
        return (spec.get("hostPath") or {}).get("path") or (spec.get("local") or {}).get("path")

    # ---- PLEG and housekeeping -----------------------------------------------------------
    async def _pleg(self) -> None:
        while True:
            await asyncio.sleep(PLEG_PERIOD)
            try:
                containers = await self.runtime.list_containers()
            except cri.RuntimeError_ as exc:
                log.warning("listing containers failed: %s", exc)
                continue
            states: dict[str, list[tuple[str, str, int]]] = {}
            for c in containers:
                uid = c.labels.get(podsync.UID_LABEL, "")
                states.setdefault(uid, []).append((c.id, c.state.value, c.exit_code))
            sigs = {uid: tuple(sorted(v)) for uid, v in states.items()}
            changed = {uid for uid in set(sigs) | set(self._last_states)
                       if sigs.get(uid) != self._last_states.get(uid)}
            self._last_states = sigs
            if changed:
                for pod in self.pods.store.list() + self.static.list():
                    if pod["metadata"].get("uid") in changed:
                        self._enqueue(pod)

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(HOUSEKEEPING_PERIOD)
            pods = [p for p in self.pods.store.list() if not staticpods.is_mirror(p)] + self.static.list()
            try:
                await self.syncer.remove_orphans({p["metadata"]["uid"] for p in pods})
            except cri.RuntimeError_ as exc:
                log.warning("housekeeping failed: %s", exc)
            for pod in pods:
                if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                    self._enqueue(pod)


async def _get_or_none(client: rest.Client, ref: rest.ResourceRef, name: str, ns: str | None) -> Obj | None:
    try:
        return await client.get(ref, name, namespace=ns)
    except rest.NotFound:
        return None
