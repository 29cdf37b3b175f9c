"""The StatefulSet controller (upstream's ``pkg/controller/statefulset``).

Each reconcile of one set:

1. claims its pods (selector match *and* a name ``<set>-<ordinal>``) and its
   ControllerRevisions, adopting orphans and releasing what stopped matching;
2. finds the update revision (the current template; a template equal to an
   older revision renumbers that one: a rollback) and the current revision
   (``status.currentRevision``);
3. walks ordinals ``start .. start+replicas-1`` upwards: missing pods are
   created (with their PersistentVolumeClaims) from the current revision below
   the partition and the update revision from it upwards; failed or succeeded
   pods are deleted to be recreated. With ``OrderedReady`` the walk stops at
   the first pod that is not yet created, Running and Ready (and available for
   ``minReadySeconds``), or is terminating;
4. deletes pods with ordinals past the end, highest first (``OrderedReady``:
   one at a time, only once every other pod is healthy);
5. ``RollingUpdate``: deletes the highest-ordinal pod at or above the
   partition that is not at the update revision, one at a time, waiting for
   each replacement to become healthy; ``OnDelete`` waits for the user;
6. writes status and trims revisions to ``revisionHistoryLimit``.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeling.client import informer as informerlib
from kubeling.client import rest
from kubeling.controllers import base, events, history, podutil
from kubeling.controllers import statefulset_pods as sp

Obj = dict[str, Any]


class _Stop(Exception):
    """Raised inside one pass to end it early (OrderedReady waits for something)."""


class StatefulSetController(base.Controller):
    NAME = "statefulset"

    def __init__(self, ctx: base.Context) -> None:
        super().__init__(ctx)
        self.sets = self.informer(rest.STATEFULSETS)
        self.pods = self.informer(rest.PODS)
        self.revisions = self.informer(rest.CONTROLLERREVISIONS)
        self.claims = self.informer(rest.PERSISTENTVOLUMECLAIMS)
        self.sets.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n), on_delete=self.enqueue)
        self.pods.add_handler(on_add=self._child_changed, on_update=self._child_updated,
                              on_delete=self._child_changed)
        self.revisions.add_handler(on_add=self._child_changed, on_update=self._child_updated,
                                   on_delete=self._child_changed)

    # ---- event handlers: find the owning (or possibly adopting) sets ------------
    def _child_updated(self, old: Obj, new: Obj) -> None:
        if (old.get("metadata") or {}).get("ownerReferences") != (new.get("metadata") or {}).get("ownerReferences") \
                or (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels"):
            self._child_changed(old)
        self._child_changed(new)

    def _child_changed(self, obj: Obj | informerlib.Tombstone) -> None:
        child = informerlib.object_of(obj)
        md = child.get("metadata") or {}
        ns = md.get("namespace")
        ref = podutil.controller_ref(child)
        if ref is not None:
            if ref.get("kind") == "StatefulSet" and self.sets.store.get(f"{ns}/{ref.get('name')}") is not None:
                self.queue.add(f"{ns}/{ref.get('name')}")
            return
        for sts in self.sets.store.list(namespace=ns):
            if podutil.matches(podutil.selector_of(sts), child):
                self.enqueue(sts)

    # ---- reconcile ---------------------------------------------------------------
    async def reconcile(self, key: str) -> float | None:
        cached = self.sets.store.get(key)
        if cached is None:
            return None
        sts = copy.deepcopy(cached)
        selector = podutil.selector_of(sts)
        if selector is None or selector.empty:
            # Upstream refuses to act on a set that would select every pod.
            return None
        pods = await self._claim_pods(sts, selector)
        await history.adopt_orphans(self.client, self.revisions.store, sts)
        revisions = history.sort_revisions(history.owned(self.revisions.store, sts))
        current, update, collisions = await self._revisions(sts, revisions)
        again = None
        if not podutil.is_terminating(sts):
            try:
                again = await self._sync(sts, current, update, pods)
            except _Stop as stop:
                again = stop.args[0] if stop.args else None
        status = self._status(sts, pods, current, update, collisions)
        await self._write_status(sts, status)
        keep = {current["metadata"]["name"], update["metadata"]["name"]} | {sp.revision_of(p) for p in pods}
        revisions = [r for r in history.owned(self.revisions.store, sts)]
        await history.truncate(self.client, revisions, keep=keep,
                               limit=int((sts.get("spec") or {}).get("revisionHistoryLimit", 10)))
        min_ready = int(sts["spec"].get("minReadySeconds") or 0)
        if min_ready > 0 and status.get("readyReplicas", 0) != status.get("availableReplicas", 0):
            again = min(again, float(min_ready)) if again is not None else float(min_ready)
        return again

    async def _claim_pods(self, sts: Obj, selector: Any) -> list[Obj]:
        ns = sts["metadata"].get("namespace")
        candidates = [p for p in self.pods.store.list(namespace=ns) if sp.is_member(sts, p)]
        owned, adopt, release = podutil.claim(candidates, sts, selector)
        for pod in adopt:
            try:
                owned.append(await self.client.patch(rest.PODS, pod["metadata"]["name"],
                                                     podutil.adopt_patch(pod, sts), namespace=ns,
                                                     patch_type="strategic"))
            except (rest.NotFound, rest.Conflict, rest.Invalid):
                continue
        for pod in release:
            try:
                await self.client.patch(rest.PODS, pod["metadata"]["name"], podutil.release_patch(pod, sts),
                                        namespace=ns, patch_type="strategic")
            except (rest.NotFound, rest.Conflict, rest.Invalid):
                continue
        return owned

    async def _revisions(self, sts: Obj, revisions: list[Obj]) -> tuple[Obj, Obj, int]:
        collisions = int((sts.get("status") or {}).get("collisionCount") or 0)
        candidate = history.new_revision(sts, history.next_number(revisions))
        same = [r for r in revisions if history.equal(r, candidate)]
        if same and same[-1] is revisions[-1]:
            update = revisions[-1]
        elif same:
            # A rollback: the old revision becomes the newest again.
            update = await history.renumber(self.client, same[-1], candidate["revision"])
        else:
            update, collisions = await history.create(self.client, candidate, prefix=sts["metadata"]["name"],
                                                      collision_count=collisions)
        wanted = (sts.get("status") or {}).get("currentRevision")
        current = next((r for r in revisions if r["metadata"]["name"] == wanted), update)
        return current, update, collisions

    async def _sync(self, sts: Obj, current: Obj, update: Obj, pods: list[Obj]) -> float | None:
        spec = sts["spec"]
        start = sp.start_ordinal(sts)
        count = int(spec.get("replicas", 1))
        monotonic = spec.get("podManagementPolicy") != "Parallel"
        min_ready = int(spec.get("minReadySeconds") or 0)
        current_set, update_set = sp.with_revision(sts, current), sp.with_revision(sts, update)
        slots: list[Obj | None] = [None] * count
        condemned: list[Obj] = []
        for pod in pods:
            ord_ = sp.ordinal(pod)
            if start <= ord_ < start + count:
                slots[ord_ - start] = pod
            else:
                condemned.append(pod)
        condemned.sort(key=sp.ordinal, reverse=True)
        first_unhealthy = next((p for p in [*slots, *condemned] if p is None or not sp.is_healthy(p)), None)
        now = self.ctx.now()

        for i, slot in enumerate(slots):
            ord_ = start + i
            if slot is None:
                use_current = self._below_partition(sts, ord_, start)
                slots[i] = await self._create_pod(sts, current_set if use_current else update_set, ord_,
                                                  (current if use_current else update)["metadata"]["name"])
                if monotonic:
                    raise _Stop()
                continue
            if sp.is_finished(slot):
                if not podutil.is_terminating(slot):
                    await self._delete_pod(sts, slot)
                if monotonic:
                    raise _Stop()
                continue
            if podutil.phase(slot) == "Pending":
                await self._create_claims(sts, slot, ord_)
            if monotonic:
                if podutil.is_terminating(slot) or not sp.is_running_and_ready(slot):
                    raise _Stop()
                if not podutil.is_available(slot, min_ready, now):
                    raise _Stop(float(min_ready))
            if not sp.identity_matches(sts, slot):
                await self._fix_identity(sts, slot, ord_)
            await self._sync_claim_owner(sts, ord_)

        for pod in condemned:
            if podutil.is_terminating(pod):
                if monotonic:
                    raise _Stop()
                continue
            if monotonic and pod is not first_unhealthy and (
                    not sp.is_running_and_ready(pod) or not podutil.is_available(pod, min_ready, now)):
                raise _Stop()
            await self._delete_pod(sts, pod, scaled_down=True)
            if monotonic:
                raise _Stop()

        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type") == "OnDelete":
            return None
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        for i in range(count - 1, partition - 1, -1):
            target = slots[i]
            if target is None:
                return None
            if sp.revision_of(target) != update["metadata"]["name"] and not podutil.is_terminating(target):
                await self._delete_pod(sts, target)
                return None
            if not sp.is_healthy(target):
                return None
        return None

    @staticmethod
    def _below_partition(sts: Obj, ord_: int, start: int) -> bool:
        """New pods below the partition are made from the current revision (upstream's newVersionedStatefulSetPod)."""
        strategy = (sts.get("spec") or {}).get("updateStrategy") or {}
        if strategy.get("type") != "RollingUpdate":
            return False
        ru = strategy.get("rollingUpdate")
        if ru is None:
            return ord_ < start + int((sts.get("status") or {}).get("currentReplicas") or 0)
        return ord_ < start + int(ru.get("partition") or 0)

    # ---- writes ------------------------------------------------------------------
    def _pod_event(self, sts: Obj, verb: str, pod_name: str, err: Exception | None) -> None:
        name = sts["metadata"]["name"]
        if err is None:
            self.recorder.event(sts, events.NORMAL, f"Successful{verb}",
                                f"{verb.lower()} Pod {pod_name} in StatefulSet {name} successful")
        else:
            self.recorder.event(sts, events.WARNING, f"Failed{verb}",
                                f"{verb.lower()} Pod {pod_name} in StatefulSet {name} failed error: {err}")

    async def _create_claims(self, sts: Obj, pod: Obj, ord_: int) -> None:
        ns = sts["metadata"].get("namespace")
        for claim in sp.claims_for(sts, ord_):
            name = claim["metadata"]["name"]
            cached = self.claims.store.get(f"{ns}/{name}")
            if cached is not None:
                if podutil.is_terminating(cached):
                    # A pod must not start on a claim about to vanish: wait for it to go, then make a new one.
                    raise _Stop(1.0)
                continue
            try:
                await self.client.create(rest.PERSISTENTVOLUMECLAIMS, claim, namespace=ns)
            except rest.AlreadyExists:
                continue
            except rest.ApiError as exc:
                self.recorder.event(sts, events.WARNING, "FailedCreate",
                                    f"create Claim {name} for Pod {pod['metadata']['name']} in StatefulSet "
                                    f"{sts['metadata']['name']} failed error: {exc}")
                raise
            self.recorder.event(sts, events.NORMAL, "SuccessfulCreate",
                                f"create Claim {name} Pod {pod['metadata']['name']} in StatefulSet "
                                f"{sts['metadata']['name']} success")

    async def _create_pod(self, sts: Obj, versioned: Obj, ord_: int, revision_name: str) -> Obj:
        pod = sp.new_pod(versioned, ord_, revision_name)
        await self._create_claims(sts, pod, ord_)
        try:
            created = await self.client.create(rest.PODS, pod, namespace=sts["metadata"].get("namespace"))
        except rest.AlreadyExists:
            # Our cache has not seen it yet; the pod event will bring us back.
            raise _Stop() from None
        except rest.ApiError as exc:
            self._pod_event(sts, "Create", pod["metadata"]["name"], exc)
            raise
        self._pod_event(sts, "Create", pod["metadata"]["name"], None)
        return created

    async def _fix_identity(self, sts: Obj, pod: Obj, ord_: int) -> None:
        """Restore the identity labels of an adopted or edited pod."""
        name = pod["metadata"]["name"]
        try:
            await self.client.patch(rest.PODS, name, {"metadata": {"labels": sp.identity_labels(sts, ord_)}},
                                    namespace=sts["metadata"].get("namespace"))
        except rest.NotFound:
            return
        except rest.ApiError as exc:
            self._pod_event(sts, "Update", name, exc)
            raise
        self._pod_event(sts, "Update", name, None)

    async def _delete_pod(self, sts: Obj, pod: Obj, *, scaled_down: bool = False) -> None:
        md = pod["metadata"]
        policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
        if scaled_down and policy.get("whenScaled") == "Delete":
            await self._hand_claims_to_pod(sts, pod)
        try:
            await self.client.delete(rest.PODS, md["name"], namespace=md.get("namespace"),
                                     preconditions={"uid": md["uid"]})
        except rest.NotFound:
            return
        except rest.ApiError as exc:
            self._pod_event(sts, "Delete", md["name"], exc)
            raise
        self._pod_event(sts, "Delete", md["name"], None)

    async def _sync_claim_owner(self, sts: Obj, ord_: int) -> None:
        """Follow a changed whenDeleted policy: the set owns its live pods' claims exactly when it is Delete."""
        ns = sts["metadata"].get("namespace")
        uid = sts["metadata"]["uid"]
        for claim in sp.claims_for(sts, ord_):
            cached = self.claims.store.get(f"{ns}/{claim['metadata']['name']}")
            if cached is None or podutil.is_terminating(cached):
                continue
            refs = list(cached["metadata"].get("ownerReferences") or [])
            wanted = [r for r in claim["metadata"].get("ownerReferences") or []]
            kept = [r for r in refs if r.get("uid") != uid]
            if [r for r in refs if r.get("uid") == uid] == wanted:
                continue
            await self.client.patch(rest.PERSISTENTVOLUMECLAIMS, claim["metadata"]["name"],
                                    {"metadata": {"ownerReferences": kept + wanted or None}}, namespace=ns)

    async def _hand_claims_to_pod(self, sts: Obj, pod: Obj) -> None:
        """whenScaled=Delete: the condemned pod becomes an owner of its claims, so
        the garbage collector removes them once the pod is gone."""
        ns = sts["metadata"].get("namespace")
        ref = {"apiVersion": "v1", "kind": "Pod", "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}
        for claim in sp.claims_for(sts, sp.ordinal(pod)):
            cached = self.claims.store.get(f"{ns}/{claim['metadata']['name']}")
            if cached is None:
                continue
            refs = list(cached["metadata"].get("ownerReferences") or [])
            if any(r.get("uid") == ref["uid"] for r in refs):
                continue
            try:
                await self.client.patch(rest.PERSISTENTVOLUMECLAIMS, claim["metadata"]["name"],
                                        {"metadata": {"ownerReferences": [*refs, ref]}}, namespace=ns)
            except rest.NotFound:
                continue

    # ---- status ------------------------------------------------------------------
    def _status(self, sts: Obj, pods: list[Obj], current: Obj, update: Obj, collisions: int) -> Obj:
        min_ready = int(sts["spec"].get("minReadySeconds") or 0)
        now = self.ctx.now()
        replicas = ready = available = cur = updated = 0
        cur_name, upd_name = current["metadata"]["name"], update["metadata"]["name"]
        for pod in pods:
            created = bool((pod.get("status") or {}).get("phase"))
            replicas += created
            if sp.is_running_and_ready(pod):
                ready += 1
                available += podutil.is_available(pod, min_ready, now)
            if created and not podutil.is_terminating(pod):
                cur += sp.revision_of(pod) == cur_name
                updated += sp.revision_of(pod) == upd_name
        old = sts.get("status") or {}
        status: Obj = {"observedGeneration": sts["metadata"].get("generation", 0), "replicas": replicas,
                       "readyReplicas": ready, "currentReplicas": cur, "updatedReplicas": updated,
                       "availableReplicas": available, "currentRevision": cur_name, "updateRevision": upd_name,
                       "collisionCount": collisions}
        strategy = (sts["spec"].get("updateStrategy") or {}).get("type")
        if strategy == "RollingUpdate" and updated == replicas and ready == replicas:
            # The rollout finished: the update revision becomes current.
            status["currentRevision"] = upd_name
            status["currentReplicas"] = updated
        for k in ("readyReplicas", "currentReplicas", "updatedReplicas"):
            if not status[k]:
                del status[k]
        if old.get("conditions"):
            status["conditions"] = old["conditions"]
        return status

    async def _write_status(self, sts: Obj, status: Obj) -> None:
        if sts.get("status") == status:
            return
        body = copy.deepcopy(sts)
        body["status"] = status
        try:
            await self.client.update_status(rest.STATEFULSETS, body)
        except rest.Conflict:
            fresh = await self.client.get(rest.STATEFULSETS, sts["metadata"]["name"],
                                          namespace=sts["metadata"].get("namespace"))
            # Keep conditions others wrote meanwhile (the cause of the conflict, often).
            conditions = (fresh.get("status") or {}).get("conditions")
            fresh["status"] = {**status, **({"conditions": conditions} if conditions else {})}
            await self.client.update_status(rest.STATEFULSETS, fresh)
        except rest.NotFound:
            return
