"""Informers: a local cache of one resource, kept current by list + watch.

Semantics follow client-go's shared informer:

* ``run()`` lists (paged with limit/continue; if a continue token expires it
  falls back to one unpaged list), fills the :class:`Store`, then watches from
  the list's resourceVersion with bookmarks. When a watch ends it watches
  again from the last resourceVersion seen (events and bookmarks advance it).
* On 410 Gone (an HTTP 410 or an ERROR event with code 410) it lists again
  and replays the difference: ``on_add`` for new keys, ``on_update`` for keys
  whose resourceVersion changed, and ``on_delete`` with a :class:`Tombstone`
  (client-go's DeletedFinalStateUnknown) for keys that vanished unseen.
* Other failures (server down, 5xx) are retried with exponential backoff
  (0.8 s doubling to 30 s); the last one is kept in ``last_error``.
* With ``resync_period`` every cached object is handed to ``on_update(obj,
  obj)`` once per period, so controllers can re-check the world.

Handlers are synchronous callables run on the event loop in the order
registered; they should only enqueue keys (STYLE.md). An exception in one is
logged and does not stop the informer. A handler added late is first given
``on_add`` for everything already cached.

Objects in the store and handed to handlers belong to the cache: never
mutate them; ``copy.deepcopy`` first.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import logging
import random
from collections.abc import Callable, Iterable
from typing import Any

from kubeling.client import clock as clocklib
from kubeling.client import rest

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Indexer = Callable[[Obj], list[str]]
NAMESPACE_INDEX = "namespace"


@dataclasses.dataclass(frozen=True)
class Tombstone:
    """Given to ``on_delete`` when a deletion was missed and noticed only by a re-list:
    ``obj`` is the last state the cache knew, possibly stale."""

    key: str
    obj: Obj


def key_of(obj: Obj | Tombstone) -> str:
    """``namespace/name``, or ``name`` for cluster-scoped objects (client-go's MetaNamespaceKey)."""
    if isinstance(obj, Tombstone):
        return obj.key
    md = obj.get("metadata") or {}
    ns = md.get("namespace")
    return f"{ns}/{md['name']}" if ns else str(md["name"])


def split_key(key: str) -> tuple[str | None, str]:
    """``"ns/name"`` -> ``("ns", "name")``; ``"name"`` -> ``(None, "name")``."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else (None, key)


def object_of(obj: Obj | Tombstone) -> Obj:
    """The object an ``on_delete`` handler got, unwrapping a tombstone."""
    return obj.obj if isinstance(obj, Tombstone) else obj


NODE_NAME_INDEX = "spec.nodeName"


def node_name_index(obj: Obj) -> list[str]:
    """Pods by the node they are bound to: one indexer that every component
    sharing a pod informer uses under ``NODE_NAME_INDEX``."""
    name = (obj.get("spec") or {}).get("nodeName")
    return [name] if name else []


def namespace_index(obj: Obj) -> list[str]:
    return [(obj.get("metadata") or {}).get("namespace") or ""]


class Store:
    """Objects by key, plus secondary indexes: ``{index name: fn(obj) -> [values]}``.

    The ``namespace`` index is always present. Reading is for everyone; only
    the informer writes.
    """

    def __init__(self, indexers: dict[str, Indexer] | None = None) -> None:
        self._items: dict[str, Obj] = {}
        self._indexers: dict[str, Indexer] = {NAMESPACE_INDEX: namespace_index}
        self._indices: dict[str, dict[str, set[str]]] = {NAMESPACE_INDEX: {}}
        self.add_indexers(indexers or {})

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def get_by_name(self, name: str, *, namespace: str | None = None) -> Obj | None:
        return self._items.get(f"{namespace}/{name}" if namespace else name)

    def list(self, *, namespace: str | None = None) -> builtins.list[Obj]:
        if namespace is None:
            return builtins.list(self._items.values())
        return self.by_index(NAMESPACE_INDEX, namespace)

    def keys(self) -> builtins.list[str]:
        return builtins.list(self._items)

    def index_keys(self, index: str, value: str) -> builtins.list[str]:
        if index not in self._indices:
            raise KeyError(f"no index named {index!r}")
        return sorted(self._indices[index].get(value, ()))

    def by_index(self, index: str, value: str) -> builtins.list[Obj]:
        return [self._items[k] for k in self.index_keys(index, value)]

    def add_indexers(self, indexers: dict[str, Indexer]) -> None:
        for name, fn in indexers.items():
            if name in self._indexers:
                if self._indexers[name] is not fn:
                    raise ValueError(f"index {name!r} already exists")
                continue  # the same indexer from another component sharing the informer
            self._indexers[name] = fn
            self._indices[name] = {}
            for key, obj in self._items.items():
                self._index_one(name, fn, key, obj)

    def _index_one(self, name: str, fn: Indexer, key: str, obj: Obj) -> None:
        for v in fn(obj):
            self._indices[name].setdefault(v, set()).add(key)

    def _unindex(self, key: str, obj: Obj) -> None:
        for name, fn in self._indexers.items():
            for v in fn(obj):
                keys = self._indices[name].get(v)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._indices[name][v]

    def put(self, obj: Obj) -> Obj | None:
        """Insert or replace; returns the previous object."""
        key = key_of(obj)
        old = self._items.get(key)
        if old is not None:
            self._unindex(key, old)
        self._items[key] = obj
        for name, fn in self._indexers.items():
            self._index_one(name, fn, key, obj)
        return old

    def remove(self, key: str) -> Obj | None:
        old = self._items.pop(key, None)
        if old is not None:
            self._unindex(key, old)
        return old


OnAdd = Callable[[Obj], None]
OnUpdate = Callable[[Obj, Obj], None]
OnDelete = Callable[[Obj | Tombstone], None]


@dataclasses.dataclass(eq=False)
class Registration:
    """What ``add_handler`` returns; pass it to ``remove_handler``."""

    on_add: OnAdd | None
    on_update: OnUpdate | None
    on_delete: OnDelete | None


def _rv(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


class Informer:
    def __init__(self, client: rest.Client, ref: rest.ResourceRef, *, namespace: str | None = None,
                 label_selector: str | None = None, field_selector: str | None = None,
                 resync_period: float | None = None, indexers: dict[str, Indexer] | None = None,
                 page_size: int = 500, min_backoff: float = 0.8, max_backoff: float = 30.0,
                 clock: clocklib.Clock | None = None) -> None:
        self.client = client
        self.ref = ref
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.resync_period = resync_period
        self.page_size = page_size
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.store = Store(indexers)
        self._clock: clocklib.Clock = clock or clocklib.REAL
        self._handlers: list[Registration] = []
        self._synced = asyncio.Event()
        # stop() bumps the generation and fires the signal a running run() waits on.
        self._stop_gen = 0
        self._task_gen = -1
        self._stop_signal = asyncio.Event()
        self._rv = ""
        self._task: asyncio.Task[None] | None = None
        self._running = False
        self.relists = 0  # lists forced by 410 Gone (for tests and metrics)
        self.last_error: BaseException | None = None

    def __repr__(self) -> str:
        return f"<Informer {self.ref.api_version} {self.ref.plural} ns={self.namespace!r}>"

    # ---- handlers -------------------------------------------------------------------
    def add_handler(self, on_add: OnAdd | None = None, on_update: OnUpdate | None = None,
                    on_delete: OnDelete | None = None) -> Registration:
        reg = Registration(on_add, on_update, on_delete)
        self._handlers.append(reg)
        if on_add is not None:  # a late handler first hears of what is already cached
            for obj in self.store.list():
                self._call(on_add, obj)
        return reg

    def remove_handler(self, reg: Registration) -> None:
        if reg in self._handlers:
            self._handlers.remove(reg)

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("%r: event handler %r failed", self, fn)

    def _emit_add(self, obj: Obj) -> None:
        for reg in list(self._handlers):
            if reg.on_add is not None:
                self._call(reg.on_add, obj)

    def _emit_update(self, old: Obj, new: Obj) -> None:
        for reg in list(self._handlers):
            if reg.on_update is not None:
                self._call(reg.on_update, old, new)

    def _emit_delete(self, obj: Obj | Tombstone) -> None:
        for reg in list(self._handlers):
            if reg.on_delete is not None:
                self._call(reg.on_delete, obj)

    # ---- state ----------------------------------------------------------------------
    @property
    def has_synced(self) -> bool:
        """True once the first list has been stored and handed to the handlers."""
        return self._synced.is_set()

    async def wait_for_sync(self, timeout: float | None = None) -> None:
        """Wait for the first list; raises TimeoutError after ``timeout`` seconds."""
        await asyncio.wait_for(self._synced.wait(), timeout)

    @property
    def last_sync_resource_version(self) -> str:
        return self._rv

    # ---- running --------------------------------------------------------------------
    def start(self) -> asyncio.Task[None]:
        """Run in a new task (returned) unless already running; ``stop()`` ends it."""
        prev = self._task
        if prev is not None and not prev.done() and self._stop_gen == self._task_gen:
            return prev
        gen = self._task_gen = self._stop_gen  # a stop() from now on ends this run

        async def after_previous() -> None:
            if prev is not None:  # a stopped run still winding down
                await asyncio.gather(prev, return_exceptions=True)
            await self._run(gen)

        self._task = asyncio.get_running_loop().create_task(after_previous(), name=f"informer-{self.ref.plural}")
        return self._task

    def stop(self) -> None:
        """End ``run()`` (and the task ``start()`` made) soon. The cache and resourceVersion
        are kept: a later run resumes watching where this one stopped (re-listing if
        that is too old)."""
        self._stop_gen += 1
        self._stop_signal.set()
        self._stop_signal = asyncio.Event()

    async def join(self) -> None:
        """Wait for the task ``start()`` made to finish."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def run(self) -> None:
        """List and watch until ``stop()``; raises only on a bug (an unexpected exception)."""
        await self._run(self._stop_gen)

    async def _run(self, gen: int) -> None:
        if self._stop_gen != gen:
            return  # stopped before it began
        if self._running:
            raise RuntimeError(f"{self!r} is already running")
        self._running = True
        stopped = self._stop_signal
        tasks = [asyncio.ensure_future(self._list_and_watch())]
        if self.resync_period:
            tasks.append(asyncio.ensure_future(self._resync_loop(self.resync_period)))
        stopper = asyncio.ensure_future(stopped.wait())
        try:
            done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (*tasks, stopper):
                t.cancel()
            await asyncio.gather(*tasks, stopper, return_exceptions=True)
            self._running = False
        for t in tasks:
            if t in done and not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]

    async def _list_and_watch(self) -> None:
        # A restarted informer resumes from its last resourceVersion; the server
        # answers 410 if that is too old, and then it lists again.
        need_list = not self._rv
        listed_rv = ""  # the version of a list no watch has got past yet
        backoff = self.min_backoff
        loop = asyncio.get_running_loop()
        while True:
            try:
                if need_list:
                    await self._list()
                    need_list = False
                    listed_rv = self._rv
                began = loop.time()
                events = await self._watch()
                listed_rv = ""
                if events or loop.time() - began >= 1.0:
                    backoff = self.min_backoff
                    continue
                # An empty watch that ended at once: something is wrong; do not spin.
                await self._clock.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            except rest.ApiError as exc:
                if exc.gone:
                    log.info("%r: resourceVersion %s is gone (%s); listing again", self, self._rv, exc.message)
                    if listed_rv and listed_rv == self._rv:
                        # Even a fresh list's version is refused: pause before listing again.
                        await self._failed(exc, backoff)
                        backoff = min(backoff * 2, self.max_backoff)
                    need_list = True
                    self.relists += 1
                    continue
                await self._failed(exc, backoff)
                backoff = min(backoff * 2, self.max_backoff)
            except rest.TransportError as exc:
                await self._failed(exc, backoff)
                backoff = min(backoff * 2, self.max_backoff)

    async def _failed(self, exc: BaseException, delay: float) -> None:
        # Never die silently: keep trying, and keep the error where callers can see it.
        self.last_error = exc
        log.warning("%r: %s; retrying in %.1fs", self, exc, delay)
        await self._clock.sleep(delay)

    async def _list_pages(self, limit: int | None) -> tuple[list[Obj], str, rest.Obj]:
        items: list[Obj] = []
        cont: str | None = None
        while True:
            page = await self.client.list(self.ref, namespace=self.namespace, label_selector=self.label_selector,
                                          field_selector=self.field_selector, limit=limit, continue_=cont)
            items.extend(page.get("items") or [])
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                return items, str((page.get("metadata") or {}).get("resourceVersion") or ""), page

    async def _list(self) -> None:
        try:
            items, rv, page = await self._list_pages(self.page_size or None)
        except rest.ApiError as exc:
            if not exc.gone or not self.page_size:
                raise
            # The continue token expired between pages: one unpaged list instead.
            items, rv, page = await self._list_pages(None)
        kind = str(page.get("kind") or "").removesuffix("List") or self.ref.kind
        api_version = str(page.get("apiVersion") or self.ref.api_version)
        self._replace(items, kind, api_version)
        self._rv = rv
        self._synced.set()

    def _replace(self, items: Iterable[Obj], kind: str, api_version: str) -> None:
        seen: set[str] = set()
        for obj in items:
            # List items carry no kind (the List does); handlers expect whole objects.
            if kind:
                obj.setdefault("kind", kind)
            obj.setdefault("apiVersion", api_version)
            key = key_of(obj)
            seen.add(key)
            old = self.store.put(obj)
            if old is None:
                self._emit_add(obj)
            elif _rv(old) != _rv(obj):
                self._emit_update(old, obj)
        for key in self.store.keys():  # noqa: SIM118 (a copy: we remove while looping)
            if key not in seen:
                old = self.store.remove(key)
                if old is not None:
                    self._emit_delete(Tombstone(key, old))

    async def _watch(self) -> int:
        """One watch until the stream ends; the number of events it brought."""
        n = 0
        async with self.client.watch(self.ref, namespace=self.namespace, resource_version=self._rv,
                                     label_selector=self.label_selector, field_selector=self.field_selector,
                                     allow_bookmarks=True, timeout_seconds=random.randint(300, 600)) as w:
            async for ev in w:
                if ev.type == "ERROR":
                    raise ev.error()
                n += 1
                obj = ev.object
                rv = _rv(obj)
                if ev.type in ("ADDED", "MODIFIED"):
                    old = self.store.put(obj)
                    if old is None:
                        self._emit_add(obj)
                    else:
                        self._emit_update(old, obj)
                elif ev.type == "DELETED":
                    self.store.remove(key_of(obj))
                    self._emit_delete(obj)
                elif ev.type != "BOOKMARK":
                    log.warning("%r: ignoring watch event of type %r", self, ev.type)
                    continue
                if rv:
                    self._rv = rv
        return n

    async def _resync_loop(self, period: float) -> None:
        while True:
            await self._clock.sleep(period)
            if self.has_synced:
                for obj in self.store.list():
                    self._emit_update(obj, obj)


async def wait_for_sync(*informers: Informer, timeout: float | None = None) -> None:
    """Wait until every informer has synced; TimeoutError after ``timeout`` seconds."""
    await asyncio.wait_for(asyncio.gather(*(i.wait_for_sync() for i in informers)), timeout)


class Factory:
    """Shares one informer per (resource, namespace, selectors) among the components
    of a process, as client-go's SharedInformerFactory does."""

    def __init__(self, client: rest.Client, *, namespace: str | None = None, resync_period: float | None = None,
                 clock: clocklib.Clock | None = None) -> None:
        self.client = client
        self.namespace = namespace
        self.resync_period = resync_period
        self._clock = clock
        self._informers: dict[tuple[Any, ...], Informer] = {}

    def informer(self, ref: rest.ResourceRef, *, namespace: str | None = None, label_selector: str | None = None,
                 field_selector: str | None = None, indexers: dict[str, Indexer] | None = None) -> Informer:
        ns = namespace if namespace is not None else self.namespace
        key = (ref, ns, label_selector, field_selector)
        inf = self._informers.get(key)
        if inf is None:
            inf = Informer(self.client, ref, namespace=ns, label_selector=label_selector,
                           field_selector=field_selector, resync_period=self.resync_period, clock=self._clock)
            self._informers[key] = inf
        if indexers:
            inf.store.add_indexers(indexers)
        return inf

    @property
    def informers(self) -> list[Informer]:
        return list(self._informers.values())

    def start(self) -> None:
        """Start every informer not yet running (call again after adding more)."""
        for inf in self._informers.values():
            inf.start()

    async def wait_for_sync(self, timeout: float | None = None) -> None:
        await wait_for_sync(*self._informers.values(), timeout=timeout)

    def stop(self) -> None:
        for inf in self._informers.values():
            inf.stop()

    async def join(self) -> None:
        await asyncio.gather(*(inf.join() for inf in self._informers.values()))
