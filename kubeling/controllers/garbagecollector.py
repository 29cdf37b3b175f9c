"""The garbage collector (upstream's garbagecollector controller).

Contract:

* Monitors: one informer per resource the API serves that supports list,
  watch and delete (found through discovery, refreshed every
  ``Options.gc_period``) feeds a :class:`gcgraph.Graph` of ownerReferences.
* Background: when an owner is gone (or an owner with the same name has
  another uid), each dependent whose owners are *all* gone is deleted with
  propagationPolicy Background (Orphan or Foreground when the dependent
  itself carries that finalizer); a dependent that still has a live owner
  only loses its references to the gone owners.
* Foreground: an owner with a deletionTimestamp and the ``foregroundDeletion``
  finalizer gets its dependents deleted (in the foreground themselves when
  they have dependents of their own); once no dependent with
  ``blockOwnerDeletion: true`` remains, the finalizer is removed and the API
  server finishes the deletion. Dependency cycles are broken by clearing
  blockOwnerDeletion on the references that would deadlock, as upstream.
* Orphan: an owner with a deletionTimestamp and the ``orphan`` finalizer has
  the reference to it removed from every dependent, then loses the finalizer.
* Owners are always checked live (GET, compared by uid) before anything is
  deleted, and deletes carry a uid precondition, so a lagging cache never
  deletes an object whose owner exists. A cluster-scoped object naming a
  namespaced owner is invalid: it gets an ``OwnerRefInvalidNamespace``
  warning event and is left alone.
* Periodically the whole graph is rescanned for dependents of owners the
  graph does not know and for owners stuck with a GC finalizer, so a missed
  event is repaired.

Work items are ``delete:<uid>`` (decide about one object) and
``orphan:<uid>`` (release one owner's dependents).
"""

from __future__ import annotations

import asyncio
import collections
import copy
import functools
from typing import Any

from kubeling.client import informer as informerlib
from kubeling.client import rest
from kubeling.controllers import base, discovery, events, gcgraph

Obj = dict[str, Any]
DELETE = "delete:"
ORPHAN = "orphan:"
ABSENT_CACHE_SIZE = 500


class InvalidOwnerNamespace(Exception):
    """A cluster-scoped dependent names a namespaced owner: retrying will not help."""


class GarbageCollector(base.Controller):
    NAME = "garbagecollector"
    WORKERS = 4

    def __init__(self, ctx: base.Context) -> None:
        super().__init__(ctx)
        self.graph = gcgraph.Graph()
        self.resources = discovery.Resources()
        self.monitored: set[rest.ResourceRef] = set()
        self.ready = asyncio.Event()
        self._synced = False
        # Owners recently found absent, so a thousand dependents cost one lookup.
        self._absent: collections.OrderedDict[str, None] = collections.OrderedDict()

    # ---- monitors -------------------------------------------------------------------
    async def run(self, *, workers: int | None = None) -> None:
        delay = 0.5
        while True:
            try:
                await self._sync_monitors()
                break
            except (rest.ApiError, rest.TransportError) as exc:
                self.log.warning("discovery failed: %s; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        rescan = asyncio.create_task(self._rescan_loop(), name="garbagecollector-rescan")
        try:
            await super().run(workers=workers)
        finally:
            rescan.cancel()
            await asyncio.gather(rescan, return_exceptions=True)

    async def _sync_monitors(self) -> list[informerlib.Informer]:
        """Discover resources and start a monitor for each new one; returns the new ones."""
        self.resources = await discovery.discover(self.client)
        served = set(self.resources.deletable)
        for ref in self.monitored - served:
            # No longer served (a custom resource's definition went away): stop watching it.
            self.log.info("resource %s/%s is no longer served; stopping its monitor", ref.api_version, ref.plural)
            self.ctx.factory.informer(ref).stop()
            self.monitored.discard(ref)
        added = []
        for ref in self.resources.deletable:
            if ref in self.monitored:
                continue
            self.monitored.add(ref)
            inf = self.informer(ref)
            inf.add_handler(on_add=functools.partial(self._observed, ref),
                            on_update=functools.partial(self._updated, ref),
                            on_delete=functools.partial(self._gone, ref))
            added.append(inf)
        return added

    async def started(self) -> None:
        self._synced = True
        self.scan()
        self.ready.set()
        self.log.info("garbage collector synced: %d resources, %d objects", len(self.monitored), len(self.graph))

    async def _rescan_loop(self) -> None:
        await self.ready.wait()
        while True:
            await self.clock.sleep(self.ctx.options.gc_period)
            try:
                added = await self._sync_monitors()
                if added:
                    self.ctx.factory.start()
                    await informerlib.wait_for_sync(*added)
            except (rest.ApiError, rest.TransportError) as exc:
                self.log.warning("refreshing monitors failed: %s", exc)
            self.scan()

    def scan(self) -> None:
        """Queue every object that may need the collector: owners unknown to the graph,
        or a GC finalizer waiting to be handled."""
        for node in list(self.graph.nodes.values()):
            self._react(None, node)

    # ---- graph events ---------------------------------------------------------------
    def _observed(self, ref: rest.ResourceRef, obj: Obj) -> None:
        node = gcgraph.node_of(ref, obj)
        if not node.uid:
            return
        old = self.graph.observe(node)
        if self._synced:
            self._react(old, node)

    def _updated(self, ref: rest.ResourceRef, old: Obj, new: Obj) -> None:
        old_uid = (old.get("metadata") or {}).get("uid")
        if old_uid and old_uid != (new.get("metadata") or {}).get("uid"):
            self._gone(ref, old)  # deleted and re-created while we were not looking
        self._observed(ref, new)

    def _gone(self, ref: rest.ResourceRef, obj: Obj | informerlib.Tombstone) -> None:
        uid = str((informerlib.object_of(obj).get("metadata") or {}).get("uid") or "")
        node = self.graph.forget(uid)
        if not self._synced:
            return
        for dep in self.graph.dependents(uid):
            self.queue.add(DELETE + dep.uid)
        if node is not None:
            self._wake_owners(node.blocked_owner_uids())

    def _react(self, old: gcgraph.Node | None, node: gcgraph.Node) -> None:
        if node.owners and self.graph.has_suspect_owner(node):
            self.queue.add(DELETE + node.uid)
        if node.deleting_dependents:
            self.queue.add(DELETE + node.uid)
            if old is None or not old.deleting_dependents:
                for dep in self.graph.dependents(node.uid):
                    self.queue.add(DELETE + dep.uid)
        if node.orphaning:
            self.queue.add(ORPHAN + node.uid)
        if old is not None:
            # References removed or unblocked: an owner waiting on this one may be free.
            self._wake_owners(old.blocked_owner_uids() - node.blocked_owner_uids())

    def _wake_owners(self, uids: set[str]) -> None:
        for uid in uids:
            owner = self.graph.nodes.get(uid)
            if owner is not None and owner.deleting_dependents:
                self.queue.add(DELETE + uid)

    # ---- work -----------------------------------------------------------------------
    async def reconcile(self, key: str) -> float | None:
        if key.startswith(DELETE):
            await self._attempt_to_delete(key.removeprefix(DELETE))
        elif key.startswith(ORPHAN):
            await self._attempt_to_orphan(key.removeprefix(ORPHAN))
        return None

    async def _latest(self, node: gcgraph.Node) -> Obj | None:
        """The object as the server has it now, or None if it is gone (or replaced)."""
        try:
            obj = await self.client.get(node.ref, node.name, namespace=node.namespace)
        except rest.NotFound:
            return None
        return obj if obj["metadata"].get("uid") == node.uid else None

    async def _attempt_to_delete(self, uid: str) -> None:
        node = self.graph.nodes.get(uid)
        if node is None:
            return
        latest = await self._latest(node)
        if latest is None:
            return
        md = latest["metadata"]
        finalizers = md.get("finalizers") or []
        if md.get("deletionTimestamp"):
            if gcgraph.FOREGROUND in finalizers:
                await self._process_deleting_dependents(node, latest)
            return  # otherwise already on its way out
        refs = [r for r in md.get("ownerReferences") or [] if r.get("uid")]
        if not refs:
            return
        try:
            solid, dangling, waiting = await self._classify(node, latest, refs)
        except InvalidOwnerNamespace:
            return
        if solid:
            drop = {str(r["uid"]) for r in dangling + waiting}
            if drop:
                self.log.info("%s: removing references to gone or deleting owners %s", node.describe(), sorted(drop))
                await self._edit(node, lambda o: _drop_owner_refs(o, drop))
            return
        if waiting and self.graph.dependents(uid):
            # This owner's owners wait for it: delete it in the foreground too. If one of its
            # own dependents is already deleting in the foreground we are in a cycle; let the
            # owners go first by no longer blocking them.
            if any(d.deleting_dependents for d in self.graph.dependents(uid)):
                unblock = {str(r["uid"]) for r in waiting}
                await self._edit(node, lambda o: _unblock_owner_refs(o, unblock))
            await self._delete(node, "Foreground")
            return
        if gcgraph.ORPHAN in finalizers:
            policy = "Orphan"
        elif gcgraph.FOREGROUND in finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        await self._delete(node, policy)

    async def _classify(self, node: gcgraph.Node, obj: Obj,
                        refs: list[Obj]) -> tuple[list[Obj], list[Obj], list[Obj]]:
        """Split ``refs`` into owners that exist, owners that are gone, and owners being
        deleted in the foreground (upstream's classifyReferences)."""
        solid: list[Obj] = []
        dangling: list[Obj] = []
        waiting: list[Obj] = []
        for ref in refs:
            owner_uid = str(ref["uid"])
            res = self.resources.resolve(str(ref.get("apiVersion") or ""), str(ref.get("kind") or ""))
            if res is None:
                # An owner kind the API does not serve (yet): never delete on a doubt.
                self.log.info("%s: owner kind %s %s is not served; keeping it", node.describe(),
                              ref.get("apiVersion"), ref.get("kind"))
                solid.append(ref)
                continue
            if res.namespaced and not node.namespace:
                self.recorder.event(obj, events.WARNING, "OwnerRefInvalidNamespace",
                                    f"ownerRef [{ref.get('apiVersion')}/{ref.get('kind')}, namespace: , "
                                    f"name: {ref.get('name')}, uid: {owner_uid}] does not exist in namespace \"\"")
                raise InvalidOwnerNamespace(node.describe())
            if owner_uid in self._absent:
                dangling.append(ref)
                continue
            try:
                owner = await self.client.get(res, str(ref.get("name") or ""),
                                              namespace=node.namespace if res.namespaced else None)
            except rest.NotFound:
                owner = None
            if owner is None or owner["metadata"].get("uid") != owner_uid:
                self._remember_absent(owner_uid)
                dangling.append(ref)
            elif owner["metadata"].get("deletionTimestamp") and \
                    gcgraph.FOREGROUND in (owner["metadata"].get("finalizers") or []):
                waiting.append(ref)
            else:
                solid.append(ref)
        return solid, dangling, waiting

    def _remember_absent(self, uid: str) -> None:
        self._absent[uid] = None
        self._absent.move_to_end(uid)
        while len(self._absent) > ABSENT_CACHE_SIZE:
            self._absent.popitem(last=False)

    async def _process_deleting_dependents(self, node: gcgraph.Node, latest: Obj) -> None:
        blocking = self.graph.blocking_dependents(node.uid)
        if not blocking:
            self.log.info("%s: no blocking dependents left; finishing foreground deletion", node.describe())
            await self._edit(node, lambda o: _drop_finalizer(o, gcgraph.FOREGROUND), current=latest)
            return
        for dep in blocking:
            if not dep.being_deleted:
                self.queue.add(DELETE + dep.uid)

    async def _attempt_to_orphan(self, uid: str) -> None:
        node = self.graph.nodes.get(uid)
        if node is None:
            return
        latest = await self._latest(node)
        if latest is None or not latest["metadata"].get("deletionTimestamp") or \
                gcgraph.ORPHAN not in (latest["metadata"].get("finalizers") or []):
            return
        for dep in self.graph.dependents(uid):
            await self._edit(dep, lambda o: _drop_owner_refs(o, {uid}))
        self.log.info("%s: dependents orphaned", node.describe())
        await self._edit(node, lambda o: _drop_finalizer(o, gcgraph.ORPHAN))

    # ---- writes ---------------------------------------------------------------------
    async def _delete(self, node: gcgraph.Node, policy: str) -> None:
        self.log.info("deleting %s (propagation %s)", node.describe(), policy)
        try:
            await self.client.delete(node.ref, node.name, namespace=node.namespace, propagation_policy=policy,
                                     preconditions={"uid": node.uid})
        except (rest.NotFound, rest.Conflict):
            pass  # gone already, or replaced by a namesake the precondition protects

    async def _edit(self, node: gcgraph.Node, change: Any, *, current: Obj | None = None) -> None:
        """Apply ``change(metadata) -> patch-or-None`` to the live object, with its
        resourceVersion as precondition, retrying on conflicts."""
        for _ in range(5):
            obj = current if current is not None else await self._latest(node)
            current = None
            if obj is None:
                return
            patch = change(copy.deepcopy(obj["metadata"]))
            if patch is None:
                return
            patch["resourceVersion"] = obj["metadata"]["resourceVersion"]
            try:
                await self.client.patch(node.ref, node.name, {"metadata": patch}, namespace=node.namespace)
                return
            except rest.NotFound:
                return
            except rest.Conflict:
                continue
        raise rest.Conflict(409, "Conflict", f"{node.describe()}: kept changing while being edited")


def _drop_owner_refs(md: Obj, uids: set[str]) -> Obj | None:
    refs = md.get("ownerReferences") or []
    kept = [r for r in refs if str(r.get("uid")) not in uids]
    return None if len(kept) == len(refs) else {"ownerReferences": kept}


def _unblock_owner_refs(md: Obj, uids: set[str]) -> Obj | None:
    refs = md.get("ownerReferences") or []
    changed = False
    for r in refs:
        if str(r.get("uid")) in uids and r.get("blockOwnerDeletion"):
            r["blockOwnerDeletion"] = False
            changed = True
    return {"ownerReferences": refs} if changed else None


def _drop_finalizer(md: Obj, name: str) -> Obj | None:
    fins = md.get("finalizers") or []
    if name not in fins:
        return None
    return {"finalizers": [f for f in fins if f != name]}
