"""The DaemonSet controller (upstream's ``pkg/controller/daemon``).

Each reconcile of one DaemonSet:

1. claims its pods and ControllerRevisions (adopting orphans its selector
   matches, releasing what stopped matching);
2. finds the revision of the current template, creating it (``<name>-<hash>``)
   or renumbering a matching old one to the highest number (a rollback);
3. unless earlier creates/deletes are still unobserved (expectations): starts
   a pod, pinned by node affinity, on every node that should run one and has
   none; deletes daemon pods on nodes that should not keep them (and unbound
   ones whose node is gone), extra pods on a node, and failed pods (with a
   per-node backoff, as the kubelet may keep rejecting them);
4. ``RollingUpdate``: replaces old pods within ``maxUnavailable``/``maxSurge``
   (see :mod:`daemonset_update`); ``OnDelete`` waits for the user;
5. trims old revisions no pod uses to ``revisionHistoryLimit`` and writes status.
"""

from __future__ import annotations

import asyncio
import copy
from collections import defaultdict
from typing import Any

from kubeling.client import informer as informerlib
from kubeling.client import rest
from kubeling.controllers import base, events, expectations, history, podutil
from kubeling.controllers import daemonset_history as dshistory
from kubeling.controllers import daemonset_update as dsupdate
from kubeling.controllers import daemonset_util as du

Obj = dict[str, Any]

# Upstream's BurstReplicas: at most this many creates or deletes per pass.
BURST = 250
# Backoff for deleting failed daemon pods on one node (upstream's failedPodsBackoff).
FAILED_BACKOFF_START = 1.0
FAILED_BACKOFF_MAX = 900.0


class _Backoff:
    """Per-key exponential backoff measured from the last attempt (flowcontrol.Backoff)."""

    def __init__(self, clock: Any) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[float, float]] = {}  # key -> (delay, last attempt)

    def in_backoff(self, key: str) -> float | None:
        """Seconds still to wait, or None if an attempt is allowed now."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        delay, at = entry
        left = at + delay - self._clock.now()
        return left if left > 0 else None

    def next(self, key: str) -> None:
        entry = self._entries.get(key)
        now = self._clock.now()
        if entry is None or now - entry[1] > 2 * FAILED_BACKOFF_MAX:
            self._entries[key] = (FAILED_BACKOFF_START, now)
        else:
            self._entries[key] = (min(entry[0] * 2, FAILED_BACKOFF_MAX), now)


class DaemonSetController(base.Controller):
    NAME = "daemonset"

    def __init__(self, ctx: base.Context) -> None:
        super().__init__(ctx)
        self.sets = self.informer(rest.DAEMONSETS)
        self.pods = self.informer(rest.PODS)
        self.nodes = self.informer(rest.NODES)
        self.revisions = self.informer(rest.CONTROLLERREVISIONS)
        self.expectations = expectations.Expectations(ctx.clock)
        self.failed_backoff = _Backoff(ctx.clock)
        self.sets.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                              on_delete=self._set_deleted)
        self.pods.add_handler(on_add=self._pod_added, on_update=self._child_updated, on_delete=self._pod_deleted)
        self.revisions.add_handler(on_add=self._child_changed, on_update=self._child_updated,
                                   on_delete=self._child_changed)
        self.nodes.add_handler(on_add=self._node_changed, on_update=self._node_updated,
                               on_delete=self._node_changed)

    # ---- event handlers ---------------------------------------------------------
    def _set_deleted(self, obj: Obj | informerlib.Tombstone) -> None:
        self.expectations.forget(informerlib.key_of(obj))
        self.enqueue(obj)

    def _owner_key(self, child: Obj) -> str | None:
        ref = podutil.controller_ref(child)
        ns = (child.get("metadata") or {}).get("namespace")
        if ref is None or ref.get("kind") != "DaemonSet":
            return None
        key = f"{ns}/{ref.get('name')}"
        ds = self.sets.store.get(key)
        if ds is None or ds["metadata"].get("uid") != ref.get("uid"):
            return None
        return key

    def _child_changed(self, obj: Obj | informerlib.Tombstone) -> None:
        child = informerlib.object_of(obj)
        key = self._owner_key(child)
        if key is not None:
            self.queue.add(key)
            return
        if podutil.controller_ref(child) is None:
            for ds in self.sets.store.list(namespace=(child.get("metadata") or {}).get("namespace")):
                if podutil.matches(podutil.selector_of(ds), child):
                    self.enqueue(ds)

    def _child_updated(self, old: Obj, new: Obj) -> None:
        if (old.get("metadata") or {}).get("ownerReferences") != (new.get("metadata") or {}).get("ownerReferences") \
                or (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels"):
            self._child_changed(old)
        self._child_changed(new)

    def _pod_added(self, obj: Obj) -> None:
        key = self._owner_key(obj)
        if key is not None:
            self.expectations.observed_add(key)
        self._child_changed(obj)

    def _pod_deleted(self, obj: Obj | informerlib.Tombstone) -> None:
        key = self._owner_key(informerlib.object_of(obj))
        if key is not None:
            self.expectations.observed_delete(key)
        self._child_changed(obj)

    def _node_changed(self, obj: Obj | informerlib.Tombstone) -> None:
        for ds in self.sets.store.list():
            self.enqueue(ds)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        # Heartbeats change only timestamps; what matters is what should_run reads.
        def facts(n: Obj) -> Any:
            return ((n.get("metadata") or {}).get("labels"), n.get("spec"),
                    [(c.get("type"), c.get("status")) for c in (n.get("status") or {}).get("conditions") or []])
        if facts(old) != facts(new):
            self._node_changed(new)

    # ---- reconcile ---------------------------------------------------------------
    async def reconcile(self, key: str) -> float | None:
        cached = self.sets.store.get(key)
        if cached is None:
            self.expectations.forget(key)
            return None
        ds = copy.deepcopy(cached)
        selector = podutil.selector_of(ds)
        if selector is None or selector.empty:
            self.recorder.event(ds, events.WARNING, "SelectingAll",
                                "This daemon set is selecting all pods. A non-empty selector is required.")
            return None
        nodes = self.nodes.store.list()
        pods = await self._claim_pods(ds, selector)
        await history.adopt_orphans(self.client, self.revisions.store, ds)
        revisions = history.owned(self.revisions.store, ds)
        cur, collisions = await dshistory.current(self.client, self.pods.store, ds, revisions)
        hash_ = (cur["metadata"].get("labels") or {}).get(du.HASH_LABEL, "")
        if podutil.is_terminating(ds):
            return None
        again: float | None = None
        if self.expectations.satisfied(key):
            again = await self._manage(ds, key, nodes, pods, hash_)
            if self.expectations.satisfied(key) and \
                    (ds["spec"].get("updateStrategy") or {}).get("type") == "RollingUpdate":
                delete, create = dsupdate.plan(ds, nodes, self._by_node(pods), hash_, self.ctx.now())
                await self._sync_nodes(ds, key, delete, create, hash_)
            await dshistory.cleanup(self.client, ds, cur, revisions, pods)
        pods = [p for p in self.pods.store.list(namespace=ds["metadata"].get("namespace"))
                if podutil.owned_by(p, ds)]
        status = self._status(ds, nodes, pods, hash_, collisions)
        await self._write_status(ds, status)
        min_ready = int(ds["spec"].get("minReadySeconds") or 0)
        if min_ready > 0 and status.get("numberReady", 0) != status.get("numberAvailable", 0):
            again = min(again, float(min_ready)) if again is not None else float(min_ready)
        return again

    async def _claim_pods(self, ds: Obj, selector: Any) -> list[Obj]:
        ns = ds["metadata"].get("namespace")
        owned, adopt, release = podutil.claim(self.pods.store.list(namespace=ns), ds, selector)
        for pod in adopt:
            try:
                owned.append(await self.client.patch(rest.PODS, pod["metadata"]["name"], podutil.adopt_patch(pod, ds),
                                                     namespace=ns, patch_type="strategic"))
            except (rest.NotFound, rest.Conflict, rest.Invalid):
                continue
        for pod in release:
            try:
                await self.client.patch(rest.PODS, pod["metadata"]["name"], podutil.release_patch(pod, ds),
                                        namespace=ns, patch_type="strategic")
            except (rest.NotFound, rest.Conflict, rest.Invalid):
                continue
        return owned

    @staticmethod
    def _by_node(pods: list[Obj]) -> dict[str, list[Obj]]:
        out: dict[str, list[Obj]] = defaultdict(list)
        for pod in pods:
            node = du.target_node(pod)
            if node is not None:
                out[node].append(pod)
        return dict(out)

    async def _manage(self, ds: Obj, key: str, nodes: list[Obj], pods: list[Obj], hash_: str) -> float | None:
        by_node = self._by_node(pods)
        surge = dsupdate.limits(ds, 1)[0] > 0 if \
            (ds["spec"].get("updateStrategy") or {}).get("type") == "RollingUpdate" else False
        need: list[str] = []
        delete: list[Obj] = []
        again: float | None = None
        for node in nodes:
            name = node["metadata"]["name"]
            run, keep = du.should_run(ds, node)
            here = by_node.get(name, [])
            if run and not here:
                need.append(name)
            elif keep:
                running = []
                for pod in here:
                    if podutil.is_terminating(pod):
                        continue
                    phase = podutil.phase(pod)
                    if phase == "Failed":
                        wait = self._failed_pod(ds, pod, name)
                        if wait is None:
                            delete.append(pod)
                        else:
                            again = min(again, wait) if again is not None else wait
                    elif phase == "Succeeded":
                        delete.append(pod)
                    else:
                        running.append(pod)
                delete += self._extra_pods(running, hash_, surge=surge)
            elif here:
                delete += [p for p in here if not podutil.is_terminating(p)]
        known = {n["metadata"]["name"] for n in nodes}
        for name, here in by_node.items():
            if name not in known:
                # Never bound, and the node is gone: nothing else will clean these up.
                delete += [p for p in here if not (p.get("spec") or {}).get("nodeName")
                           and not podutil.is_terminating(p)]
        await self._sync_nodes(ds, key, delete, need, hash_)
        return again

    def _failed_pod(self, ds: Obj, pod: Obj, node: str) -> float | None:
        """None if the failed pod may be deleted now (recording an event), else seconds to wait."""
        bkey = f"{ds['metadata']['uid']}/{node}"
        wait = self.failed_backoff.in_backoff(bkey)
        if wait is not None:
            return wait
        self.failed_backoff.next(bkey)
        md = pod["metadata"]
        self.recorder.event(ds, events.WARNING, "FailedDaemonPod",
                            f"Found failed daemon pod {md.get('namespace')}/{md['name']} on node {node}, "
                            "will try to kill it")
        return None

    @staticmethod
    def _extra_pods(running: list[Obj], hash_: str, *, surge: bool) -> list[Obj]:
        """More than one daemon pod on a node: keep the oldest (with surge, the oldest new and oldest old)."""
        running = sorted(running, key=du.creation_order_key)
        if not surge:
            return running[1:]
        extra, seen_new, seen_old = [], False, False
        for pod in running:
            is_new = (pod["metadata"].get("labels") or {}).get(du.HASH_LABEL) == hash_
            if is_new and not seen_new:
                seen_new = True
            elif not is_new and not seen_old:
                seen_old = True
            else:
                extra.append(pod)
        return extra

    async def _sync_nodes(self, ds: Obj, key: str, delete: list[Obj], create: list[str], hash_: str) -> None:
        create, delete = create[:BURST], delete[:BURST]
        if not create and not delete:
            return
        self.expectations.expect(key, adds=len(create), dels=len(delete))
        ns = ds["metadata"].get("namespace")
        template = du.pod_template(ds, hash_)
        errors: list[BaseException] = []
        # Slow start as upstream: 1, 2, 4 ... creates at once, stopping at the first failing batch.
        batch, i = 1, 0
        while i < len(create):
            names = create[i:i + batch]
            results = await asyncio.gather(*(self._create_one(ds, template, n) for n in names),
                                           return_exceptions=True)
            failed = [r for r in results if isinstance(r, BaseException)]
            i += len(names)
            if failed:
                errors += failed
                self.expectations.lower(key, adds=len(failed) + len(create) - i)
                break
            batch *= 2
        for pod in delete:
            md = pod["metadata"]
            try:
                await self.client.delete(rest.PODS, md["name"], namespace=ns, preconditions={"uid": md["uid"]})
            except rest.NotFound:
                self.expectations.lower(key, dels=1)
                continue
            except rest.ApiError as exc:
                self.expectations.lower(key, dels=1)
                self.recorder.event(ds, events.WARNING, "FailedDelete", f"Error deleting: {exc}")
                errors.append(exc)
                continue
            self.recorder.event(ds, events.NORMAL, "SuccessfulDelete", f"Deleted pod: {md['name']}")
        if errors:
            raise errors[0]

    async def _create_one(self, ds: Obj, template: Obj, node: str) -> None:
        pod = podutil.pod_from_template(template, ds)
        du.pin_to_node(pod["spec"], node)
        try:
            created = await self.client.create(rest.PODS, pod, namespace=ds["metadata"].get("namespace"))
        except rest.ApiError as exc:
            self.recorder.event(ds, events.WARNING, "FailedCreate", f"Error creating: {exc}")
            raise
        self.recorder.event(ds, events.NORMAL, "SuccessfulCreate", f"Created pod: {created['metadata']['name']}")

    # ---- status ------------------------------------------------------------------
    def _status(self, ds: Obj, nodes: list[Obj], pods: list[Obj], hash_: str, collisions: int) -> Obj:
        by_node = self._by_node(pods)
        now = self.ctx.now()
        min_ready = int(ds["spec"].get("minReadySeconds") or 0)
        generation = du.template_generation(ds)
        desired = current = misscheduled = ready = available = updated = 0
        for node in nodes:
            run, _ = du.should_run(ds, node)
            here = by_node.get(node["metadata"]["name"]) or []
            if not run:
                misscheduled += bool(here)
                continue
            desired += 1
            if not here:
                continue
            current += 1
            pod = min(here, key=du.creation_order_key)
            if podutil.is_ready(pod):
                ready += 1
                available += podutil.is_available(pod, min_ready, now)
            updated += du.is_updated(pod, hash_, generation)
        status: Obj = {"currentNumberScheduled": current, "numberMisscheduled": misscheduled,
                       "desiredNumberScheduled": desired, "numberReady": ready,
                       "observedGeneration": ds["metadata"].get("generation", 0)}
        if updated:
            status["updatedNumberScheduled"] = updated
        if available:
            status["numberAvailable"] = available
        if desired - available:
            status["numberUnavailable"] = desired - available
        old = ds.get("status") or {}
        if collisions or old.get("collisionCount") is not None:
            status["collisionCount"] = collisions
        if old.get("conditions"):
            status["conditions"] = old["conditions"]
        return status

    async def _write_status(self, ds: Obj, status: Obj) -> None:
        if ds.get("status") == status:
            return
        body = copy.deepcopy(ds)
        body["status"] = status
        try:
            await self.client.update_status(rest.DAEMONSETS, body)
        except rest.Conflict:
            fresh = await self.client.get(rest.DAEMONSETS, ds["metadata"]["name"],
                                          namespace=ds["metadata"].get("namespace"))
            # Keep conditions others wrote meanwhile (the cause of the conflict, often).
            conditions = (fresh.get("status") or {}).get("conditions")
            fresh["status"] = {**status, **({"conditions": conditions} if conditions else {})}
            await self.client.update_status(rest.DAEMONSETS, fresh)
        except rest.NotFound:
            return
