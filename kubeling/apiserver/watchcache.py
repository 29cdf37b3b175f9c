"""The watch cache: every stored object in memory, lists and watches served from it.

One storage watch on ``/registry/`` feeds per-resource caches (keyed by the
resource's key prefix, ``/registry/<group>/<plural>/``). Each keeps the
current objects and a bounded history of recent events, so a watch can resume
from any revision the history still covers; older ones get
:class:`TooOldError` (the API answers 410 Gone and the client re-lists).

Objects are decoded once, with ``metadata.resourceVersion`` set from the
storage revision, and handed out read-only: callers copy before changing.
Everything runs on the event loop; replaying history and registering a
watcher happen without an ``await`` in between, so no event is missed or
doubled.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import dataclasses
import logging
from typing import Any

import orjson

from kubeling.storage import interface as storage

log = logging.getLogger(__name__)

WATCHER_QUEUE = 10000  # events a slow watcher may fall behind before it is ended


@dataclasses.dataclass(frozen=True, slots=True)
class CachedObject:
    key: str
    obj: dict[str, Any]  # READ-ONLY
    revision: int


@dataclasses.dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str  # ADDED | MODIFIED | DELETED
    obj: CachedObject
    prev: CachedObject | None
    revision: int


class TooOldError(Exception):
    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


def resource_prefix(key: str) -> str:
    """``/registry/core/pods/ns/name`` -> ``/registry/core/pods/``."""
    parts = key.split("/", 4)
    return "/".join(parts[:4]) + "/" if len(parts) >= 4 else key


def _decode(key: str, value: bytes, revision: int) -> CachedObject:
    obj: dict[str, Any] = orjson.loads(value)
    md = obj.get("metadata")
    if not isinstance(md, dict):
        md = obj["metadata"] = {}
    md["resourceVersion"] = str(revision)
    return CachedObject(key, obj, revision)


class Watcher:
    """Events of one watch, in order. Ends with TooOldError if it falls behind."""

    def __init__(self, cache: ResourceCache, key_prefix: str, exact_key: str) -> None:
        self._cache = cache
        self.key_prefix = key_prefix
        self.exact_key = exact_key
        self._queue: collections.deque[WatchEvent] = collections.deque()
        self._wake = asyncio.Event()
        self._error: TooOldError | None = None
        self.closed = False

    def wants(self, key: str) -> bool:
        if self.exact_key:
            return key == self.exact_key
        return key.startswith(self.key_prefix)

    def push(self, ev: WatchEvent) -> None:
        if self.closed or self._error is not None:
            return
        if len(self._queue) >= WATCHER_QUEUE:
            self._error = TooOldError(ev.revision, ev.revision)
            self._queue.clear()
        else:
            self._queue.append(ev)
        self._wake.set()

    def fail(self, exc: TooOldError) -> None:
        self._error = exc
        self._wake.set()

    async def next(self, timeout: float) -> WatchEvent | None:
        """The next event, or None after ``timeout`` seconds without one."""
        if not self._queue and self._error is None:
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                return None
        if self._queue:
            return self._queue.popleft()
        assert self._error is not None
        raise self._error

    def __aiter__(self) -> Watcher:
        return self

    async def __anext__(self) -> WatchEvent:
        while True:
            ev = await self.next(3600)
            if ev is not None:
                return ev

    def close(self) -> None:
        self.closed = True
        self._cache._watchers.discard(self)


class ResourceCache:
    def __init__(self, cacher: Cacher, prefix: str, *, history: int, start_revision: int) -> None:
        self._cacher = cacher
        self.prefix = prefix
        self._objects: dict[str, CachedObject] = {}
        self._sorted: list[str] | None = []
        self._history: collections.deque[WatchEvent] = collections.deque()
        self._history_max = history
        # Every event after this revision is in the history.
        self._covered_from = start_revision
        self._watchers: set[Watcher] = set()

    # ---- reads -----------------------------------------------------------------
    def get(self, key: str) -> CachedObject | None:
        return self._objects.get(key)

    def _keys(self) -> list[str]:
        if self._sorted is None:
            self._sorted = sorted(self._objects)
        return self._sorted

    def list(self, key_prefix: str = "") -> tuple[list[CachedObject], int]:
        keys = self._keys()
        if key_prefix and key_prefix != self.prefix:
            lo = bisect.bisect_left(keys, key_prefix)
            hi = bisect.bisect_left(keys, key_prefix + "\U0010ffff")
            keys = keys[lo:hi]
        objs = self._objects
        return [objs[k] for k in keys], self._cacher.revision

    def watch(self, *, revision: int, key_prefix: str = "", exact_key: str = "") -> Watcher:
        if revision < self._covered_from:
            raise TooOldError(revision, self._covered_from)
        w = Watcher(self, key_prefix or self.prefix, exact_key)
        for ev in self._history:
            if ev.revision > revision and w.wants(ev.obj.key):
                w.push(ev)
        self._watchers.add(w)
        return w

    # ---- updates (from the Cacher) ---------------------------------------------------
    def load(self, co: CachedObject) -> None:
        self._objects[co.key] = co
        self._sorted = None

    def apply(self, ev: storage.Event) -> None:
        kv = ev.kv
        prev = self._objects.get(kv.key)
        if ev.type == "DELETE":
            if prev is None:
                return
            del self._objects[kv.key]
            if self._sorted is not None:
                i = bisect.bisect_left(self._sorted, kv.key)
                if i < len(self._sorted) and self._sorted[i] == kv.key:
                    del self._sorted[i]
            co = _decode(kv.key, kv.value, kv.mod_revision)
            wev = WatchEvent("DELETED", co, prev, kv.mod_revision)
        else:
            co = _decode(kv.key, kv.value, kv.mod_revision)
            self._objects[kv.key] = co
            if prev is None and self._sorted is not None:
                bisect.insort(self._sorted, kv.key)
            wev = WatchEvent("MODIFIED" if prev is not None else "ADDED", co, prev, kv.mod_revision)
        self._history.append(wev)
        if len(self._history) > self._history_max:
            dropped = self._history.popleft()
            self._covered_from = dropped.revision
        for w in list(self._watchers):
            if w.wants(kv.key):
                w.push(wev)

    def reset(self, revision: int) -> None:
        """After a re-list: history restarts and current watchers must re-list too."""
        self._history.clear()
        self._covered_from = revision
        for w in list(self._watchers):
            w.fail(TooOldError(revision, revision))
        self._watchers.clear()


class Cacher:
    def __init__(self, backend: storage.Backend, *, prefix: str = "/registry/", history: int = 10000) -> None:
        self.backend = backend
        self.prefix = prefix
        self.history = history
        self._caches: dict[str, ResourceCache] = {}
        self._revision = 0
        self._advanced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._start_revision = 0

    @property
    def revision(self) -> int:
        return self._revision

    def resource(self, prefix: str) -> ResourceCache:
        cache = self._caches.get(prefix)
        if cache is None:
            cache = ResourceCache(self, prefix, history=self.history, start_revision=self._start_revision)
            self._caches[prefix] = cache
        return cache

    async def start(self) -> None:
        await self._relist()
        self._task = asyncio.create_task(self._run(), name="watch-cache")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _relist(self) -> None:
        result = await self.backend.list(self.prefix)
        rev = result.revision
        fresh: dict[str, list[CachedObject]] = {}
        for kv in result.kvs:
            fresh.setdefault(resource_prefix(kv.key), []).append(_decode(kv.key, kv.value, kv.mod_revision))
        self._start_revision = rev
        for prefix in set(self._caches) | set(fresh):
            cache = self.resource(prefix)
            cache.reset(rev)
            cache._objects.clear()
            cache._sorted = None
            for co in fresh.get(prefix, []):
                cache.load(co)
        self._set_revision(rev)

    def _set_revision(self, rev: int) -> None:
        if rev > self._revision:
            self._revision = rev
            self._advanced.set()
            self._advanced = asyncio.Event()

    async def _run(self) -> None:
        while True:
            try:
                async for batch in self.backend.watch(self.prefix, revision=self._revision):
                    top = self._revision
                    for ev in batch:
                        self.resource(resource_prefix(ev.kv.key)).apply(ev)
                        top = max(top, ev.kv.mod_revision)
                    self._set_revision(top)
                # The storage watch ended (store closing): resume unless we are stopping.
                await asyncio.sleep(0.1)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # overflow, compaction, I/O: re-list and start again
                log.warning("watch cache: storage watch failed (%s); re-listing", exc)
                await asyncio.sleep(0.1)
                try:
                    await self._relist()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("watch cache: re-list failed")
                    await asyncio.sleep(1)

    async def wait_for_revision(self, revision: int, *, timeout: float = 3.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._revision < revision:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"watch cache at {self._revision}, wanted {revision}")
            try:
                await asyncio.wait_for(self._advanced.wait(), remaining)
            except TimeoutError:
                raise TimeoutError(f"watch cache at {self._revision}, wanted {revision}") from None
