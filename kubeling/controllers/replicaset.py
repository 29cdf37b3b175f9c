"""The ReplicaSet and ReplicationController controllers (upstream's replicaset
controller, which serves both kinds).

One reconcile per owner: claim the active pods in its namespace (adopt matching
orphans, release owned pods whose labels no longer match, each patch guarded by
the pod's uid), then, if the expectations for earlier writes have been met,
create or delete pods until their count is ``spec.replicas`` and write the
status counts. Creations go in slow-start batches (1, 2, 4, ...) so a failing
template costs one request, not hundreds; deletions take the pods
``podutil.rank_for_deletion`` ranks first (unscheduled, pending, unready, newest).
A failed creation or deletion is surfaced as the ``ReplicaFailure`` condition
and a ``FailedCreate`` event. The two kinds differ only in how the selector is
written (a LabelSelector for ReplicaSets, a plain map for RCs).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from kubeling.client import informer as informerlib
from kubeling.client import rest
from kubeling.controllers import base, events, expectations, podutil
from kubeling.lib import labels, timeutil

Obj = dict[str, Any]

# Upstream's BurstReplicas: at most this many creations or deletions per sync.
BURST_REPLICAS = 500
REPLICA_FAILURE = "ReplicaFailure"


async def slow_start(count: int, fn: Callable[[], Awaitable[None]]) -> tuple[int, BaseException | None]:
    """Run ``fn`` ``count`` times in batches of 1, 2, 4, ...; stop after the first batch
    with a failure. Returns (successes, first error)."""
    successes, remaining, batch = 0, count, min(count, 1)
    while batch > 0:
        results = await asyncio.gather(*(fn() for _ in range(batch)), return_exceptions=True)
        errs = [r for r in results if isinstance(r, BaseException)]
        successes += batch - len(errs)
        if errs:
            return successes, errs[0]
        remaining -= batch
        batch = min(2 * batch, remaining)
    return successes, None


def _namespace_terminating(exc: rest.ApiError) -> bool:
    return any(c.get("reason") == "NamespaceTerminating" for c in exc.details.get("causes") or [])


class ReplicaController(base.Controller):
    """Shared by both kinds; subclasses name the resource and read the selector."""

    REF: ClassVar[rest.ResourceRef]
    WORKERS = 5

    def __init__(self, ctx: base.Context) -> None:
        super().__init__(ctx)
        self.owners = self.informer(self.REF)
        self.pods = self.informer(rest.PODS)
        self.expectations = expectations.Expectations(ctx.clock)
        # Pods each owner asked to delete: only their disappearance satisfies a deletion.
        self._deleting: dict[str, set[str]] = {}
        self.owners.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                on_delete=self._owner_deleted)
        self.pods.add_handler(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)

    # ---- what differs between the kinds ----------------------------------------------
    def selector(self, owner: Obj) -> labels.Selector | None:
        return podutil.selector_of(owner)

    # ---- event handlers (only enqueue) ---------------------------------------------
    def _owner_deleted(self, obj: Obj | informerlib.Tombstone) -> None:
        key = informerlib.key_of(obj)
        self.expectations.forget(key)
        self._deleting.pop(key, None)
        self.queue.add(key)

    def _resolve(self, pod: Obj, ref: Obj | None) -> Obj | None:
        """The owner a controller reference points at, if it is one of ours and still exists."""
        if ref is None or ref.get("kind") != self.REF.kind \
                or str(ref.get("apiVersion", "")).rpartition("/")[0] != self.REF.group:
            return None
        owner = self.owners.store.get(f"{pod['metadata'].get('namespace')}/{ref.get('name')}")
        if owner is None or owner["metadata"].get("uid") != ref.get("uid"):
            return None
        return owner

    def _matching_owners(self, pod: Obj) -> list[Obj]:
        ns = pod["metadata"].get("namespace")
        return [o for o in self.owners.store.list(namespace=ns) if podutil.matches(self.selector(o), pod)]

    def _pod_added(self, pod: Obj) -> None:
        if podutil.is_terminating(pod):
            # Restarted with a pod already being deleted: that is a deletion we may expect.
            self._pod_deleted(pod)
            return
        ref = podutil.controller_ref(pod)
        if ref is not None:
            owner = self._resolve(pod, ref)
            if owner is not None:
                key = informerlib.key_of(owner)
                self.expectations.observed_add(key)
                self.queue.add(key)
            return
        for owner in self._matching_owners(pod):
            self.enqueue(owner)

    def _pod_updated(self, old: Obj, cur: Obj) -> None:
        if old["metadata"].get("resourceVersion") == cur["metadata"].get("resourceVersion"):
            return
        labels_changed = old["metadata"].get("labels") != cur["metadata"].get("labels")
        if podutil.is_terminating(cur):
            self._pod_deleted(cur)
            if labels_changed:
                self._pod_deleted(old)
            return
        cur_ref, old_ref = podutil.controller_ref(cur), podutil.controller_ref(old)
        ref_changed = (cur_ref or {}).get("uid") != (old_ref or {}).get("uid")
        if ref_changed and old_ref is not None:
            prev = self._resolve(old, old_ref)
            if prev is not None:
                self.enqueue(prev)
        if cur_ref is not None:
            owner = self._resolve(cur, cur_ref)
            if owner is None:
                return
            self.enqueue(owner)
            mrs = int((owner.get("spec") or {}).get("minReadySeconds") or 0)
            if mrs > 0 and not podutil.is_ready(old) and podutil.is_ready(cur):
                # Look again once the pod has been ready long enough to count as available.
                self.queue.add_after(informerlib.key_of(owner), mrs + 1.0)
            return
        if labels_changed or ref_changed:
            for owner in self._matching_owners(cur):
                self.enqueue(owner)

    def _pod_deleted(self, obj: Obj | informerlib.Tombstone) -> None:
        pod = informerlib.object_of(obj)
        owner = self._resolve(pod, podutil.controller_ref(pod))
        if owner is None:
            return
        key = informerlib.key_of(owner)
        pending = self._deleting.get(key)
        pod_key = informerlib.key_of(pod)
        if pending is not None and pod_key in pending:
            pending.discard(pod_key)
            self.expectations.observed_delete(key)
        self.queue.add(key)

    # ---- reconcile -----------------------------------------------------------------------
    async def reconcile(self, key: str) -> float | None:
        ns, _ = informerlib.split_key(key)
        owner = self.owners.store.get(key)
        if owner is None:
            self.expectations.forget(key)
            self._deleting.pop(key, None)
            return None
        needs_sync = self.expectations.satisfied(key)
        selector = self.selector(owner)
        if selector is None:
            self.log.info("%s %s has no usable selector", self.REF.kind, key)
            return None
        pods = [p for p in self.pods.store.list(namespace=ns) if podutil.is_active(p)]
        pods = await self._claim(owner, selector, pods)
        failure: rest.ApiError | None = None
        if needs_sync and not podutil.is_terminating(owner):
            try:
                await self._manage(key, owner, pods)
            except rest.ApiError as exc:
                failure = exc
        status = self.calculate_status(owner, pods, failure)
        updated = await self._write_status(owner, status)
        if failure is not None:
            raise failure
        spec = updated.get("spec") or {}
        mrs = int(spec.get("minReadySeconds") or 0)
        st = updated.get("status") or {}
        replicas = int(spec.get("replicas", 1))
        if mrs > 0 and int(st.get("readyReplicas") or 0) == replicas \
                and int(st.get("availableReplicas") or 0) != replicas:
            return float(mrs)
        return None

    async def _claim(self, owner: Obj, selector: labels.Selector, pods: list[Obj]) -> list[Obj]:
        owned, adopt, release = podutil.claim(pods, owner, selector)
        ns = owner["metadata"]["namespace"]
        for pod in release:
            try:
                await self.client.patch(rest.PODS, pod["metadata"]["name"], podutil.release_patch(pod, owner),
                                        namespace=ns, patch_type="strategic")
            except rest.NotFound:
                pass
        if adopt and await self._can_adopt(owner):
            for pod in adopt:
                try:
                    owned.append(await self.client.patch(rest.PODS, pod["metadata"]["name"],
                                                         podutil.adopt_patch(pod, owner), namespace=ns,
                                                         patch_type="strategic"))
                except rest.NotFound:
                    pass
        return owned

    async def _can_adopt(self, owner: Obj) -> bool:
        """Adopt only if the owner, read fresh from the API, is the same one and not being
        deleted (a stale cache must not adopt pods for a deleted owner)."""
        md = owner["metadata"]
        try:
            fresh = await self.client.get(self.REF, md["name"], namespace=md["namespace"])
        except rest.NotFound:
            return False
        return bool(fresh["metadata"].get("uid") == md["uid"] and not podutil.is_terminating(fresh))

    async def _manage(self, key: str, owner: Obj, pods: list[Obj]) -> None:
        diff = len(pods) - int((owner.get("spec") or {}).get("replicas", 1))
        if diff < 0:
            await self._create(key, owner, min(-diff, BURST_REPLICAS))
        elif diff > 0:
            await self._delete(key, owner, pods, min(diff, BURST_REPLICAS))

    async def _create(self, key: str, owner: Obj, count: int) -> None:
        md = owner["metadata"]
        template = (owner.get("spec") or {}).get("template") or {}
        self.expectations.expect(key, adds=count)

        async def create_one() -> None:
            pod = podutil.pod_from_template(template, owner, generate_name=f"{md['name']}-")
            try:
                made = await self.client.create(rest.PODS, pod, namespace=md["namespace"])
            except rest.ApiError as exc:
                if _namespace_terminating(exc):
                    return
                self.recorder.event(owner, events.WARNING, "FailedCreate", f"Error creating: {exc.message}")
                raise
            self.recorder.event(owner, events.NORMAL, "SuccessfulCreate", f"Created pod: {made['metadata']['name']}")

        successes, err = await slow_start(count, create_one)
        if count - successes > 0:
            # Creations that failed or were never tried will never be observed.
            self.expectations.lower(key, adds=count - successes)
        if err is not None:
            raise err

    async def _delete(self, key: str, owner: Obj, pods: list[Obj], count: int) -> None:
        victims = podutil.rank_for_deletion(pods)[:count]
        self._deleting[key] = {informerlib.key_of(p) for p in victims}
        self.expectations.expect(key, dels=count)
        ns = owner["metadata"]["namespace"]

        async def delete_one(pod: Obj) -> None:
            name = pod["metadata"]["name"]
            try:
                await self.client.delete(rest.PODS, name, namespace=ns)
            except rest.ApiError as exc:
                self._deleting.get(key, set()).discard(informerlib.key_of(pod))
                self.expectations.observed_delete(key)
                if exc.not_found:
                    return
                self.recorder.event(owner, events.WARNING, "FailedDelete", f"Error deleting: {exc.message}")
                raise
            self.recorder.event(owner, events.NORMAL, "SuccessfulDelete", f"Deleted pod: {name}")

        results = await asyncio.gather(*(delete_one(p) for p in victims), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r

    def calculate_status(self, owner: Obj, pods: list[Obj], failure: rest.ApiError | None) -> Obj:
        spec = owner.get("spec") or {}
        status: Obj = copy.deepcopy(owner.get("status") or {})
        template_sel = labels.from_set(((spec.get("template") or {}).get("metadata") or {}).get("labels"))
        mrs = int(spec.get("minReadySeconds") or 0)
        now = self.ctx.now()
        labeled = sum(1 for p in pods if template_sel.matches(p["metadata"].get("labels") or {}))
        ready = [p for p in pods if podutil.is_ready(p)]
        available = sum(1 for p in ready if podutil.is_available(p, mrs, now))
        conds = [c for c in status.get("conditions") or [] if c.get("type") == REPLICA_FAILURE]
        if failure is not None and not conds:
            diff = len(pods) - int(spec.get("replicas", 1))
            reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
            status["conditions"] = [*(status.get("conditions") or []), {
                "type": REPLICA_FAILURE, "status": "True", "lastTransitionTime": timeutil.rfc3339(now),
                "reason": reason, "message": failure.message}]
        elif failure is None and conds:
            status["conditions"] = [c for c in status["conditions"] if c.get("type") != REPLICA_FAILURE]
            if not status["conditions"]:
                del status["conditions"]
        status["replicas"] = len(pods)
        for field, value in (("fullyLabeledReplicas", labeled), ("readyReplicas", len(ready)),
                             ("availableReplicas", available)):
            if value:
                status[field] = value
            else:
                status.pop(field, None)
        return status

    async def _write_status(self, owner: Obj, status: Obj) -> Obj:
        generation = owner["metadata"].get("generation") or 0
        old = owner.get("status") or {}
        if generation:
            status["observedGeneration"] = generation
        if status == old:
            return owner
        new = copy.deepcopy(owner)
        new["status"] = status
        return await self.client.update_status(self.REF, new, namespace=owner["metadata"]["namespace"])


class ReplicaSetController(ReplicaController):
    NAME = "replicaset"
    REF = rest.REPLICASETS


class ReplicationControllerController(ReplicaController):
    NAME = "replicationcontroller"
    REF = rest.REPLICATIONCONTROLLERS

    def selector(self, owner: Obj) -> labels.Selector | None:
        """An RC selects with a plain label map; an empty one selects nothing."""
        sel = (owner.get("spec") or {}).get("selector")
        if not sel or not isinstance(sel, dict):
            return None
        try:
            return labels.from_set(sel)
        except labels.SelectorError:
            return None
