"""Namespace deletion: mark Terminating, delete the contents, then the namespace.

Upstream runs this in kube-controller-manager; it lives in the API server
here because it needs every namespaced resource, which the API server knows.
Deleting a namespace sets its deletionTimestamp and ``status.phase:
Terminating``; a background task deletes every namespaced object in it, waits
until they are gone (objects with finalizers go when their controllers
release them), removes the ``kubernetes`` finalizer and finally deletes the
namespace. Unfinished deletions resume when the server restarts.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubeling.api import errors, registry
from kubeling.apiserver import codec, store
from kubeling.lib import timeutil

log = logging.getLogger(__name__)
Obj = dict[str, Any]

RETRY_INTERVAL = 0.5


class NamespaceDeleter:
    def __init__(self, api: Any) -> None:
        self.api = api
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def _store(self) -> store.Store:
        return self.api.stores[("", "v1", "namespaces")]

    async def delete(self, ctx: store.Context, name: str, opts: Obj) -> Obj:
        """Mark the namespace deleted (its spec finalizer keeps it), then Terminating."""
        st = self._store
        obj, gone = await st.delete(ctx, "", name, {**opts, "propagationPolicy": "Background"})
        if gone or ctx.dry_run:
            return obj

        async def terminating(current: Obj) -> Obj:
            current["metadata"].pop("resourceVersion", None)
            current.setdefault("status", {})["phase"] = "Terminating"
            return current

        if (obj.get("status") or {}).get("phase") != "Terminating":
            ctx_status = store.Context(user=ctx.user, groups=ctx.groups, subresource="status")
            obj, _ = await st.update(ctx_status, "", name, terminating)
        self.start(name)
        return obj

    def start(self, name: str) -> None:
        if name in self._tasks and not self._tasks[name].done():
            return
        self._tasks[name] = asyncio.create_task(self._finish(name), name=f"namespace-delete-{name}")

    async def resume(self) -> None:
        """Pick up deletions that were in progress when the server stopped."""
        objs, _ = self.api.cacher.resource(self._store.res.storage_prefix).list("")
        for co in objs:
            if co.obj.get("metadata", {}).get("deletionTimestamp"):
                self.start(co.obj["metadata"]["name"])

    async def stop(self) -> None:
        for t in self._tasks.values():
            t.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    def _namespaced_resources(self) -> list[registry.Resource]:
        seen: set[str] = set()
        out = []
        for res in self.api.resources:
            if res.namespaced and res.storage_prefix not in seen:
                seen.add(res.storage_prefix)
                out.append(res)
        return out

    async def _finish(self, name: str) -> None:
        ctx = store.Context(user="system:serviceaccount:kube-system:namespace-controller")
        while True:
            try:
                remaining = 0
                for res in self._namespaced_resources():
                    st = self.api.stores[(res.group, res.version, res.plural)]
                    page = await self.api.backend.list(res.storage_prefix + name + "/")
                    for kv in page.kvs:
                        remaining += 1
                        obj = codec.decode_stored(kv.value, kv.mod_revision)
                        if obj["metadata"].get("deletionTimestamp") and not _pod_grace_over(obj):
                            continue
                        try:
                            opts: Obj = {"propagationPolicy": "Background"}
                            if _pod_grace_over(obj):
                                opts["gracePeriodSeconds"] = 0
                            await st.delete(ctx, name, obj["metadata"]["name"], opts)
                        except errors.APIError as exc:
                            if exc.code not in (404, 409):
                                log.warning("namespace %s: deleting %s/%s: %s", name, res.plural,
                                            obj["metadata"]["name"], exc.message)
                if remaining == 0:
                    await self._remove_finalizer(name)
                    return
            except asyncio.CancelledError:
                raise
            except Exception:  # keep trying: a namespace must not stay Terminating for a transient error
                log.exception("namespace %s: deletion pass failed", name)
            await asyncio.sleep(RETRY_INTERVAL)

    async def _remove_finalizer(self, name: str) -> None:
        st = self._store
        ctx = store.Context(subresource="finalize")

        async def drop(current: Obj) -> Obj:
            spec = current.setdefault("spec", {})
            spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != "kubernetes"]
            if not spec["finalizers"]:
                del spec["finalizers"]
            current["metadata"].pop("resourceVersion", None)
            return current

        try:
            await st.update(ctx, "", name, drop)
        except errors.APIError as exc:
            if exc.code == 404:
                return
            raise
        await self.maybe_remove(name)

    async def maybe_remove(self, name: str) -> None:
        """Delete a terminating namespace whose finalizers are all gone."""
        try:
            obj = await self._store.get("", name)
        except errors.APIError:
            return
        md = obj["metadata"]
        if md.get("deletionTimestamp") and not (obj.get("spec") or {}).get("finalizers") and not md.get("finalizers"):
            try:
                await self.api.backend.delete(self._store.res.key("", name))
            except Exception:  # already gone
                pass


def _pod_grace_over(obj: Obj) -> bool:
    """A pod whose grace period has passed without a kubelet finishing it is force-deleted."""
    if obj.get("kind") != "Pod":
        return False
    ts = timeutil.parse(obj["metadata"].get("deletionTimestamp", ""))
    return ts is not None and ts <= timeutil.now() and not obj["metadata"].get("finalizers")
