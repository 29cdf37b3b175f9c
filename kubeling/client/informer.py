"""Informers: a local cache of one resource kept current by list + watch.

Semantics follow client-go's shared informer: list (paged), then watch from
the list's resourceVersion with bookmarks; when a watch ends, watch again
from the last seen resourceVersion; on 410 Gone, list again and replay the
differences as add/update/delete. Handlers are plain callables run on the
event loop; they should only enqueue keys (STYLE.md). Objects in the store
belong to the cache: copy before changing them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from kubeling.client import rest

log = logging.getLogger(__name__)
Obj = dict[str, Any]
Indexer = Callable[[Obj], list[str]]


@dataclasses.dataclass(frozen=True)
class Tombstone:
    """Handed to on_delete when a deletion was missed and found only by a re-list."""

    key: str
    obj: Obj


def key_of(obj: Obj) -> str:
    md = obj.get("metadata", {})
    ns = md.get("namespace")
    return f"{ns}/{md['name']}" if ns else str(md["name"])


class Store:
    def __init__(self, indexers: dict[str, Indexer] | None = None) -> None:
        self._items: dict[str, Obj] = {}
        self._indexers = dict(indexers or {})
        self._indices: dict[str, dict[str, set[str]]] = {n: {} for n in self._indexers}

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def list(self) -> list[Obj]:
        return list(self._items.values())

    def keys(self) -> list[str]:
        return list(self._items)

    def by_index(self, name: str, value: str) -> list[Obj]:
        return [self._items[k] for k in sorted(self._indices[name].get(value, ()))]

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            for v in fn(obj):
                keys = self._indices[name].get(v)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._indices[name][v]

    def put(self, obj: Obj) -> Obj | None:
        key = key_of(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        for name, fn in self._indexers.items():
            for v in fn(obj):
                self._indices[name].setdefault(v, set()).add(key)
        return old

    def remove(self, key: str) -> Obj | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old


def namespace_index(obj: Obj) -> list[str]:
    return [obj.get("metadata", {}).get("namespace", "")]


class Informer:
    def __init__(self, client: rest.Client, ref: rest.ResourceRef, *, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None,
                 indexers: dict[str, Indexer] | None = None, page_size: int = 500,
                 retry_delay: float = 1.0) -> None:
        self.client = client
        self.ref = ref
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.store = Store(indexers)
        self.page_size = page_size
        self.retry_delay = retry_delay
        self._handlers: list[tuple[Callable[[Obj], None] | None, Callable[[Obj, Obj], None] | None,
                                   Callable[[Obj | Tombstone], None] | None]] = []
        self._synced = asyncio.Event()
        self._rv = ""
        self._task: asyncio.Task[None] | None = None
        self.relists = 0  # how often a 410 forced a new list (visible to tests and metrics)

    def add_handler(self, on_add: Callable[[Obj], None] | None = None,
                    on_update: Callable[[Obj, Obj], None] | None = None,
                    on_delete: Callable[[Obj | Tombstone], None] | None = None) -> None:
        self._handlers.append((on_add, on_update, on_delete))
        for obj in self.store.list():  # late handlers see what is already there
            if on_add:
                on_add(obj)

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_for_sync(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._synced.wait(), timeout)

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"informer-{self.ref.plural}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _emit_add(self, obj: Obj) -> None:
        for on_add, _, _ in self._handlers:
            if on_add:
                on_add(obj)

    def _emit_update(self, old: Obj, new: Obj) -> None:
        for _, on_update, _ in self._handlers:
            if on_update:
                on_update(old, new)

    def _emit_delete(self, obj: Obj | Tombstone) -> None:
        for _, _, on_delete in self._handlers:
            if on_delete:
                on_delete(obj)

    async def _list(self) -> None:
        items: list[Obj] = []
        cont: str | None = None
        while True:
            page = await self.client.list(self.ref, namespace=self.namespace, label_selector=self.label_selector,
                                          field_selector=self.field_selector, limit=self.page_size,
                                          continue_=cont)
            items.extend(page.get("items") or [])
            cont = page.get("metadata", {}).get("continue")
            if not cont:
                rv = page["metadata"]["resourceVersion"]
                break
        seen = set()
        kind = page.get("kind", "").removesuffix("List")
        api_version = page.get("apiVersion", "")
        for obj in items:
            obj.setdefault("kind", kind)
            obj.setdefault("apiVersion", api_version)
            key = key_of(obj)
            seen.add(key)
            old = self.store.put(obj)
            if old is None:
                self._emit_add(obj)
            elif old.get("metadata", {}).get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                self._emit_update(old, obj)
        for key in self.store.keys():
            if key not in seen:
                old = self.store.remove(key)
                if old is not None:
                    self._emit_delete(Tombstone(key, old))
        self._rv = rv
        self._synced.set()

    async def _watch(self) -> bool:
        """Watch until the stream ends; False if a re-list is needed (410)."""
        try:
            async for ev in self.client.watch(self.ref, namespace=self.namespace, resource_version=self._rv,
                                              label_selector=self.label_selector,
                                              field_selector=self.field_selector, timeout_seconds=300):
                etype, obj = ev.get("type"), ev.get("object") or {}
                if etype == "ERROR":
                    if obj.get("code") == 410:
                        return False
                    raise rest.ApiError(int(obj.get("code") or 500), obj)
                rv = obj.get("metadata", {}).get("resourceVersion")
                if etype == "BOOKMARK":
                    if rv:
                        self._rv = rv
                    continue
                if etype in ("ADDED", "MODIFIED"):
                    old = self.store.put(obj)
                    if old is None:
                        self._emit_add(obj)
                    else:
                        self._emit_update(old, obj)
                elif etype == "DELETED":
                    self.store.remove(key_of(obj))
                    self._emit_delete(obj)
                if rv:
                    self._rv = rv
        except rest.ApiError as exc:
            if exc.gone:
                return False
            raise
        return True

    async def run(self) -> None:
        # A restarted informer resumes from the last resourceVersion it saw; the
        # server answers 410 if that is too old, and then we list again.
        need_list = not self._rv
        while True:
            try:
                if need_list:
                    await self._list()
                need_list = not await self._watch()
                if need_list:
                    self.relists += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection loss, server restart: retry, never die silently
                log.warning("informer %s: %s; retrying", self.ref.plural, exc)
                await asyncio.sleep(self.retry_delay)
