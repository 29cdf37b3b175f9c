"""The scheduler component: watches pods and nodes, binds pending pods.

Contract:

* It handles pods whose ``spec.schedulerName`` is its profile name (default
  ``default-scheduler``), that have no ``spec.nodeName`` and are not being
  deleted or finished; other pods only occupy node capacity in its cache.
* One cycle at a time: pop the most urgent pod, run the algorithm (filters,
  scores, host selection; kubeling.scheduler.algorithm), *assume* the pod on
  the chosen node in the cache, and start the binding (POST
  ``pods/NAME/binding``) in the background, so the next pod is scheduled while
  up to ``bind_concurrency`` bindings are in flight. A failed binding forgets
  the assumed pod and retries it after backoff.
* A pod no node fits gets a ``FailedScheduling`` event and the condition
  ``PodScheduled=False, reason Unschedulable`` with upstream's message;
  preemption may then evict lower-priority pods and nominate a node for it.
  It waits in the unschedulable queue for a node or pod event.
* A successful binding records a ``Scheduled`` event.
* A pod with ``spec.schedulingGates`` is held back (condition ``PodScheduled=False,
  reason SchedulingGated``) until an update removes the last gate.

``ready`` is set once the informers have synced; ``run()`` surfaces
unexpected failures instead of dying silently (a failing cycle is logged and
the pod retried).
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from kubeling.client import clock as clocklib
from kubeling.client import events, rest
from kubeling.client import informer as informerlib
from kubeling.lib import timeutil
from kubeling.scheduler import algorithm as algorithmlib
from kubeling.scheduler import cache as cachelib
from kubeling.scheduler import framework, preemption, registry, selectors
from kubeling.scheduler import queue as queuelib
from kubeling.scheduler.plugins import interpodaffinity, podtopologyspread

log = logging.getLogger(__name__)

Obj = dict[str, Any]
DEFAULT_SCHEDULER = registry.DEFAULT_SCHEDULER
# A pod landing on a node can only help pods refused by these plugins.
_POD_ADD_HELPS = frozenset({interpodaffinity.NAME, podtopologyspread.NAME})


def _node_relevant_change(old: Obj, new: Obj) -> bool:
    """A node update that may let a waiting pod fit (not a mere heartbeat)."""
    o_md, n_md = old.get("metadata") or {}, new.get("metadata") or {}
    o_st, n_st = old.get("status") or {}, new.get("status") or {}
    return (o_md.get("labels") != n_md.get("labels") or old.get("spec") != new.get("spec")
            or o_st.get("allocatable") != n_st.get("allocatable") or o_st.get("images") != n_st.get("images"))


class Scheduler:
    def __init__(self, client: rest.Client, *, scheduler_name: str = DEFAULT_SCHEDULER,
                 clock: clocklib.Clock | None = None, factory: informerlib.Factory | None = None,
                 recorder: events.Recorder | None = None, percentage_of_nodes_to_score: int = 0,
                 bind_concurrency: int = 64, rng: random.Random | None = None) -> None:
        self.client = client
        self.name = scheduler_name
        self.clock: clocklib.Clock = clock or clocklib.REAL
        self._own_factory = factory is None
        self.factory = factory or informerlib.Factory(client)
        self._own_recorder = recorder is None
        self.recorder = recorder or events.Recorder(client, scheduler_name)
        self.cache = cachelib.Cache()
        self._nominations: dict[str, dict[str, framework.PodInfo]] = {}
        self._nominated_node: dict[str, str] = {}
        self.queue = queuelib.SchedulingQueue(clock=self.clock)
        self._namespaces = self.factory.informer(rest.NAMESPACES)
        default_selector = selectors.DefaultSelector(
            services=self.factory.informer(rest.SERVICES).store,
            controllers=self.factory.informer(rest.REPLICATIONCONTROLLERS).store,
            replicasets=self.factory.informer(rest.REPLICASETS).store,
            statefulsets=self.factory.informer(rest.STATEFULSETS).store)
        self.handle = framework.Handle(self.cache, namespace_labels=self._namespace_labels,
                                       default_selector=default_selector)
        self.profile = registry.default_profile(self.handle, name=scheduler_name)
        self.algorithm = algorithmlib.Algorithm(self.profile, self.cache, percentage=percentage_of_nodes_to_score,
                                                nominated=self._nominated_on,
                                                has_nominations=lambda: bool(self._nominations), rng=rng)
        self.preemption = preemption.DefaultPreemption(self.algorithm, rng=rng)
        self._pods = self.factory.informer(rest.PODS)
        self._nodes = self.factory.informer(rest.NODES)
        self._bind_slots = asyncio.Semaphore(bind_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self.ready = asyncio.Event()
        self.scheduled = 0  # successful bindings (metrics, benchmarks)
        self.attempts = 0

    # ---- lookups --------------------------------------------------------------------
    def _namespace_labels(self, ns: str) -> dict[str, str] | None:
        obj = self._namespaces.store.get(ns)
        return ((obj or {}).get("metadata") or {}).get("labels") or {} if obj else None

    def _nominated_on(self, node: str) -> list[framework.PodInfo]:
        return list((self._nominations.get(node) or {}).values())

    def _set_nomination(self, pi: framework.PodInfo, node: str) -> None:
        self._clear_nomination(pi.key)
        if node:
            self._nominations.setdefault(node, {})[pi.key] = pi
            self._nominated_node[pi.key] = node

    def _clear_nomination(self, key: str) -> None:
        node = self._nominated_node.pop(key, None)
        if node is not None:
            on = self._nominations.get(node) or {}
            on.pop(key, None)
            if not on:
                self._nominations.pop(node, None)

    @staticmethod
    def gated(pod: Obj) -> bool:
        """Scheduling gates hold a pod back until they are all removed."""
        return bool((pod.get("spec") or {}).get("schedulingGates"))

    def _hold_gated(self, pi: framework.PodInfo) -> None:
        self.queue.delete(pi.key)
        conds = (pi.pod.get("status") or {}).get("conditions") or []
        if not any(c.get("type") == "PodScheduled" and c.get("reason") == "SchedulingGated" for c in conds):
            cond = {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated",
                    "message": "Scheduling is blocked due to non-empty scheduling gates",
                    "lastProbeTime": None, "lastTransitionTime": timeutil.rfc3339()}
            self._spawn(self._patch_condition(pi, cond))

    async def _patch_condition(self, pi: framework.PodInfo, cond: Obj) -> None:
        try:
            await self.client.patch(rest.PODS, pi.name, {"status": {"conditions": [cond]}}, namespace=pi.namespace,
                                    subresource="status", patch_type="strategic")
        except (rest.ApiError, rest.TransportError) as exc:
            log.info("setting %s on %s: %s", cond["reason"], pi.key, exc)

    def responsible_for(self, pod: Obj) -> bool:
        spec = pod.get("spec") or {}
        return ((spec.get("schedulerName") or DEFAULT_SCHEDULER) == self.name and not spec.get("nodeName")
                and not (pod.get("metadata") or {}).get("deletionTimestamp") and not cachelib.pod_is_finished(pod))

    # ---- informer handlers (only update cache and queue) -----------------------------
    def _on_pod_add(self, pod: Obj) -> None:
        pi = framework.PodInfo(pod)
        if pi.node_name:
            self._clear_nomination(pi.key)
            self.cache.add_pod(pi)
            if pi.has_affinity or pi.labels:
                self.queue.move_all_to_active("AssignedPodAdd", only_plugins=_POD_ADD_HELPS)
        elif self.responsible_for(pod) and not self.cache.is_assumed(pi.key):
            if self.gated(pod):
                self._hold_gated(pi)
                return
            self._set_nomination(pi, (pod.get("status") or {}).get("nominatedNodeName") or "")
            self.queue.add(pi)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        pi = framework.PodInfo(new)
        if pi.node_name:
            self._clear_nomination(pi.key)
            self.queue.delete(pi.key)
            self.cache.update_pod(pi)
            if not (old.get("spec") or {}).get("nodeName") or \
                    (old.get("metadata") or {}).get("labels") != pi.labels:
                self.queue.move_all_to_active("AssignedPodUpdate", only_plugins=_POD_ADD_HELPS)
            return
        if self.cache.is_assumed(pi.key):
            return  # being bound right now
        if self.responsible_for(new):
            if self.gated(new):
                self._hold_gated(pi)
                return
            self._set_nomination(pi, (new.get("status") or {}).get("nominatedNodeName") or "")
            self.queue.update(pi)
        else:
            self._clear_nomination(pi.key)
            self.queue.delete(pi.key)

    def _on_pod_delete(self, obj: Obj | informerlib.Tombstone) -> None:
        pod = informerlib.object_of(obj)
        key = informerlib.key_of(obj)
        self._clear_nomination(key)
        self.queue.delete(key)
        was_placed = self.cache.node_of(key) is not None
        self.cache.remove_pod(key)
        if was_placed:
            self.queue.move_all_to_active("AssignedPodDelete")
        del pod

    def _on_node_add(self, node: Obj) -> None:
        self.cache.add_node(node)
        self.queue.move_all_to_active("NodeAdd")

    def _on_node_update(self, old: Obj, new: Obj) -> None:
        self.cache.update_node(new)
        if _node_relevant_change(old, new):
            self.queue.move_all_to_active("NodeUpdate")

    def _on_node_delete(self, obj: Obj | informerlib.Tombstone) -> None:
        self.cache.remove_node(informerlib.key_of(obj))

    # ---- running --------------------------------------------------------------------
    async def run(self) -> None:
        self._nodes.add_handler(self._on_node_add, self._on_node_update, self._on_node_delete)
        self._pods.add_handler(self._on_pod_add, self._on_pod_update, self._on_pod_delete)
        self.factory.start()
        flusher = asyncio.ensure_future(self.queue.run())
        try:
            await self.factory.wait_for_sync()
            self.ready.set()
            while True:
                await self._bind_slots.acquire()
                qp = await self.queue.pop()
                try:
                    self.schedule_one(qp)
                except Exception:
                    log.exception("scheduling %s failed", qp.key)
                    self.queue.add_backoff(qp)
                    self._bind_slots.release()
                # Let informer events and bindings in between cycles.
                await asyncio.sleep(0)
        finally:
            flusher.cancel()
            self.queue.close()
            for t in list(self._tasks):
                t.cancel()
            await asyncio.gather(flusher, *self._tasks, return_exceptions=True)
            if self._own_factory:
                self.factory.stop()
            if self._own_recorder:
                await self.recorder.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("scheduler task failed", exc_info=task.exception())

    def schedule_one(self, qp: queuelib.QueuedPod) -> None:
        """One synchronous scheduling cycle; binding or failure handling continue in a task.
        Holds one bind slot, which the spawned task (or this method) releases."""
        pi = qp.info
        current = self._pods.store.get(pi.key)
        if current is None or not self.responsible_for(current) or self.gated(current) \
                or self.cache.is_assumed(pi.key):
            self.queue.done(pi.key)
            self._bind_slots.release()
            return
        self.attempts += 1
        try:
            node, _ = self.algorithm.schedule(pi)
        except algorithmlib.FitError as err:
            candidate = None
            if err.num_nodes:
                candidate, msg = self.preemption.find(pi, err.statuses)
                if msg:
                    err.post_filter_message = f"preemption: {msg}"
            self.queue.add_unschedulable(qp, plugins={st.plugin for st in err.statuses.values()})
            if candidate is not None:
                self._set_nomination(pi, candidate.node)
            self._spawn(self._failed(pi, str(err), candidate))
            return
        self.cache.assume(pi, node)
        self._spawn(self._bind(qp, node))

    async def _bind(self, qp: queuelib.QueuedPod, node: str) -> None:
        pi = qp.info
        binding = {"apiVersion": "v1", "kind": "Binding",
                   "metadata": {"name": pi.name, "namespace": pi.namespace, **({"uid": pi.uid} if pi.uid else {})},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        try:
            await self.client.create(rest.PODS, binding, namespace=pi.namespace, subresource="binding",
                                     name=pi.name)
        except (rest.ApiError, rest.TransportError) as exc:
            self.cache.forget(pi.key)
            if isinstance(exc, rest.NotFound | rest.Conflict):
                self.queue.done(pi.key)  # gone, or bound by someone else: nothing to retry
            else:
                log.warning("binding %s to %s failed: %s", pi.key, node, exc)
                self.queue.add_backoff(qp)
                self.recorder.event(pi.pod, events.WARNING, "FailedScheduling", f"Binding rejected: {exc}")
            self.queue.move_all_to_active("AssumedPodForgotten")
            return
        finally:
            self._bind_slots.release()
        self.queue.done(pi.key)
        self.scheduled += 1
        self.recorder.event(pi.pod, events.NORMAL, "Scheduled",
                            f"Successfully assigned {pi.namespace}/{pi.name} to {node}")

    async def _failed(self, pi: framework.PodInfo, message: str, candidate: preemption.Candidate | None) -> None:
        try:
            if candidate is not None:
                lower = [p for p in self._nominated_on(candidate.node) if p.priority < pi.priority]
                for p in lower:
                    self._clear_nomination(p.key)
                await preemption.execute(self.client, self.recorder, pi, candidate, profile=self.name,
                                         lower_nominated=lower)
            self.recorder.event(pi.pod, events.WARNING, "FailedScheduling", message)
            await self._mark_unschedulable(pi, message)
        except (rest.ApiError, rest.TransportError) as exc:
            log.info("recording the scheduling failure of %s: %s", pi.key, exc)
        finally:
            self._bind_slots.release()

    async def _mark_unschedulable(self, pi: framework.PodInfo, message: str) -> None:
        current = self._pods.store.get(pi.key) or pi.pod
        for c in (current.get("status") or {}).get("conditions") or []:
            if c.get("type") == "PodScheduled" and c.get("status") == "False" \
                    and c.get("reason") == "Unschedulable" and c.get("message") == message:
                return  # already says so: spare the write
        cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
                "lastProbeTime": None, "lastTransitionTime": timeutil.rfc3339()}
        await self._patch_condition(pi, cond)
