"""The watch cache: lists and watches served from memory.

One :class:`Cacher` lists everything under its prefix once, then follows a
single storage watch from that revision. Each change is decoded once (orjson,
with ``metadata.resourceVersion`` set to the change's revision) and applied to
the state of the resource it belongs to: a resource is the key prefix two path
segments below the cacher's prefix (``/registry/<group>/<plural>/``).

Per resource the cache keeps the current objects in key order and a bounded
history of recent events. A watch from revision ``R`` replays the history after
``R`` and then receives live events. ``R`` is accepted when the history still
holds every event of the resource after ``R``: ``R`` is at least the revision
the cache was (re)filled at and at least the revision of the last event dropped
from the history. The revision returned by :meth:`ResourceCache.list` is always
accepted (until the cache is refilled). Otherwise :class:`TooOldError` (410).

Objects handed out are shared and READ-ONLY; copy before changing them.

If the storage watch fails, the cache resumes it from its own revision (the
storage log still holds what followed); only if storage has compacted past that
revision does the cache refill itself from a fresh list, ending every open
watcher with :class:`TooOldError` so its client re-lists. A watcher whose queue
overflows (a slow consumer) ends the same way.
Every write is assumed to lie under the cacher's prefix, so the cache revision
reaches the storage's current revision.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import heapq
import itertools
import logging
from collections import deque
from typing import Any

import orjson

from kubeling.storage import interface as storage

log = logging.getLogger(__name__)

WATCHER_QUEUE = 10_000  # events a watcher may fall behind before it is ended
_LIST_PAGE = 10_000
_MAX_RETRY_DELAY = 5.0


@dataclasses.dataclass(frozen=True, slots=True)
class CachedObject:
    key: str
    obj: dict[str, Any]  # decoded JSON with metadata.resourceVersion = str(revision); READ-ONLY
    revision: int  # mod_revision


@dataclasses.dataclass(frozen=True, slots=True)
class WatchEvent:
    type: str  # "ADDED" | "MODIFIED" | "DELETED"
    obj: CachedObject  # for DELETED: the last state, with resourceVersion = the delete's revision
    prev: CachedObject | None  # previous state (None for ADDED)
    revision: int


class TooOldError(Exception):
    """The requested revision is no longer covered by the cache (-> 410 Gone)."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} (oldest available {oldest})")
        self.requested = requested
        self.oldest = oldest


def _decode(value: bytes, revision: int) -> dict[str, Any]:
    obj: dict[str, Any] = orjson.loads(value)
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    meta["resourceVersion"] = str(revision)
    return obj


def _with_revision(obj: dict[str, Any], revision: int) -> dict[str, Any]:
    """A shallow copy of ``obj`` with another resourceVersion (the originals stay untouched)."""
    return {**obj, "metadata": {**obj.get("metadata", {}), "resourceVersion": str(revision)}}


_KeyValues = list[storage.KeyValue]  # for annotations inside ResourceCache, whose list() hides the builtin


class Watcher:
    """An async iterator of :class:`WatchEvent` for one client watch."""

    def __init__(self, owner: ResourceCache, key_prefix: str, exact_key: str, limit: int) -> None:
        self._owner = owner
        self.key_prefix = key_prefix
        self.exact_key = exact_key
        self._limit = limit
        self._queue: deque[WatchEvent] = deque()
        self._error: BaseException | None = None
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None

    def wants(self, key: str) -> bool:
        if self.exact_key:
            return key == self.exact_key
        return key.startswith(self.key_prefix)

    def push(self, ev: WatchEvent) -> None:
        if self._error is not None or self._closed:
            return
        if len(self._queue) >= self._limit:
            self.fail(TooOldError(ev.revision, ev.revision))
            return
        self._queue.append(ev)
        self._wake()

    def fail(self, exc: BaseException) -> None:
        """End the watch: the consumer gets ``exc`` once the queue is discarded."""
        if self._error is None:
            self._error = exc
            self._queue.clear()
            self._owner._watchers.discard(self)
            self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def close(self) -> None:
        self._closed = True
        self._queue.clear()
        self._owner._watchers.discard(self)
        self._wake()

    def __aiter__(self) -> Watcher:
        return self

    async def __anext__(self) -> WatchEvent:
        ev = await self._next(None)
        assert ev is not None
        return ev

    async def next(self, timeout: float) -> WatchEvent | None:
        """The next event, or None after ``timeout`` seconds without one.

        Raises TooOldError when the watch was ended by the cache, StopAsyncIteration after close()."""
        return await self._next(timeout)

    async def _next(self, timeout: float | None) -> WatchEvent | None:
        while True:
            if self._queue:
                return self._queue.popleft()
            if self._closed:
                raise StopAsyncIteration
            if self._error is not None:
                raise self._error
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                if timeout is None:
                    await self._waiter
                else:
                    try:
                        await asyncio.wait_for(asyncio.shield(self._waiter), timeout)
                    except TimeoutError:
                        return None
            finally:
                self._waiter = None


class ResourceCache:
    """The cached state and recent history of one resource (one key prefix)."""

    def __init__(self, cacher: Cacher, prefix: str, since: int) -> None:
        self._cacher = cacher
        self.prefix = prefix
        self._keys: list[str] = []  # sorted
        self._objs: list[CachedObject] = []  # parallel to _keys
        self._by_key: dict[str, CachedObject] = {}
        self._history: deque[WatchEvent] = deque()
        self._since = since  # the cache holds every event of this resource after this revision...
        self._evicted = 0  # ...except those up to this one, dropped from the history
        self._watchers: set[Watcher] = set()

    # -- reads -----------------------------------------------------------------------------------

    def get(self, key: str) -> CachedObject | None:
        return self._by_key.get(key)

    def list(self, key_prefix: str = "") -> tuple[list[CachedObject], int]:
        """Objects under ``key_prefix`` (the whole resource if empty) in key order, and the cache revision."""
        if not key_prefix or key_prefix == self.prefix:
            return list(self._objs), self._cacher.revision
        lo = bisect.bisect_left(self._keys, key_prefix)
        hi = lo
        n = len(self._keys)
        # Keys under one prefix are contiguous in sorted order.
        step = 64
        while hi < n and self._keys[min(hi + step, n) - 1].startswith(key_prefix):
            hi = min(hi + step, n)
            step *= 2
        while hi < n and self._keys[hi].startswith(key_prefix):
            hi += 1
        return self._objs[lo:hi], self._cacher.revision

    def oldest_watchable(self) -> int:
        """The smallest revision a watch may start from."""
        return max(self._since, self._evicted)

    def watch(self, *, revision: int, key_prefix: str = "", exact_key: str = "") -> Watcher:
        """Events with revision > ``revision`` for keys under ``key_prefix`` (or exactly ``exact_key``).

        ``revision`` is a real revision (0 only for an empty store); a client's "watch from now
        with the current state" is served by list() first, then a watch from list's revision."""
        if revision < 0:
            raise ValueError(f"invalid revision {revision}")
        oldest = self.oldest_watchable()
        if revision < oldest:
            raise TooOldError(revision, oldest)
        w = Watcher(self, key_prefix or self.prefix, exact_key, self._cacher.watcher_queue)
        if self._history and self._history[-1].revision > revision:
            start = bisect.bisect_right(self._history, revision, key=lambda e: e.revision)
            backlog = [ev for ev in itertools.islice(self._history, start, None) if w.wants(ev.obj.key)]
            w._limit += len(backlog)
            w._queue.extend(backlog)
        self._watchers.add(w)
        return w

    # -- updates (called by the Cacher) ------------------------------------------------------------

    def _store(self, co: CachedObject) -> None:
        i = bisect.bisect_left(self._keys, co.key)
        if i < len(self._keys) and self._keys[i] == co.key:
            self._objs[i] = co
        else:
            self._keys.insert(i, co.key)
            self._objs.insert(i, co)
        self._by_key[co.key] = co

    def _remove(self, key: str) -> None:
        i = bisect.bisect_left(self._keys, key)
        if i < len(self._keys) and self._keys[i] == key:
            del self._keys[i]
            del self._objs[i]
        self._by_key.pop(key, None)

    def _apply(self, ev: storage.Event) -> None:
        kv = ev.kv
        rev = kv.mod_revision
        prev = self._by_key.get(kv.key)
        if prev is None and ev.prev is not None:  # not expected: the cache saw the previous write
            prev = CachedObject(kv.key, _decode(ev.prev.value, ev.prev.mod_revision), ev.prev.mod_revision)
        if ev.type == "DELETE":
            if prev is not None:
                obj = _with_revision(prev.obj, rev)
            else:
                obj = _decode(kv.value, rev)
            co = CachedObject(kv.key, obj, rev)
            out = WatchEvent("DELETED", co, prev, rev)
            self._remove(kv.key)
        else:
            co = CachedObject(kv.key, _decode(kv.value, rev), rev)
            out = WatchEvent("ADDED" if prev is None else "MODIFIED", co, prev, rev)
            self._store(co)
        if len(self._history) >= self._cacher.history:
            self._evicted = self._history.popleft().revision
        self._history.append(out)
        for w in list(self._watchers):
            if w.wants(kv.key):
                w.push(out)

    def _reset(self, kvs: _KeyValues, since: int) -> None:
        self._end_watchers(since)
        self._keys = [kv.key for kv in kvs]
        self._objs = [CachedObject(kv.key, _decode(kv.value, kv.mod_revision), kv.mod_revision) for kv in kvs]
        self._by_key = {co.key: co for co in self._objs}
        self._history.clear()
        self._since = since
        self._evicted = 0

    def _end_watchers(self, oldest: int) -> None:
        for w in list(self._watchers):
            w.fail(TooOldError(oldest, oldest))
        self._watchers.clear()


class Cacher:
    """Keeps every resource under ``prefix`` in memory, fed by one storage watch."""

    def __init__(
        self,
        backend: storage.Backend,
        *,
        prefix: str = "/registry/",
        history: int = 10_000,
        watcher_queue: int | None = None,
    ) -> None:
        self.backend = backend
        self.prefix = prefix
        self.history = history
        self._watcher_queue = watcher_queue
        self._resources: dict[str, ResourceCache] = {}
        self._revision = 0
        self._synced_at = 0  # the revision of the last full list
        self._task: asyncio.Task[None] | None = None
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []  # heap by revision
        self._seq = itertools.count()
        self._ready = False

    @property
    def watcher_queue(self) -> int:
        """Events a watcher may fall behind before it is ended (module default WATCHER_QUEUE)."""
        return self._watcher_queue if self._watcher_queue is not None else WATCHER_QUEUE

    @property
    def revision(self) -> int:
        """The newest revision applied to the cache."""
        return self._revision

    def _bucket(self, key: str) -> str:
        rest = key[len(self.prefix):]
        i = rest.find("/")
        if i < 0:
            return self.prefix
        j = rest.find("/", i + 1)
        return self.prefix + rest[: (j if j >= 0 else i) + 1]

    def resource(self, prefix: str) -> ResourceCache:
        """The cache of one resource, e.g. ``/registry/core/pods/``."""
        rc = self._resources.get(prefix)
        if rc is None:
            if not prefix.startswith(self.prefix) or self._bucket(prefix + "x") != prefix:
                raise ValueError(f"{prefix!r} is not a resource prefix under {self.prefix!r}")
            # No event of this resource arrived since the last list, so it is complete since then.
            rc = self._resources[prefix] = ResourceCache(self, prefix, self._synced_at)
        return rc

    async def start(self) -> None:
        """Fill the cache and start following storage; returns once the cache is in sync."""
        await self._fill()
        self._ready = True
        self._task = asyncio.create_task(self._follow(), name="watchcache")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for rc in self._resources.values():
            rc._end_watchers(self._revision)
        for _, _, fut in self._waiters:
            if not fut.done():
                fut.set_exception(TimeoutError("watch cache stopped"))
        self._waiters.clear()

    async def wait_for_revision(self, revision: int, *, timeout: float = 3.0) -> None:
        """Return once the cache has applied ``revision``; TimeoutError otherwise."""
        if self._revision >= revision:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (revision, next(self._seq), fut))
        try:
            async with asyncio.timeout(timeout):
                await fut
        finally:
            if not fut.done():
                fut.cancel()

    def _advance(self, revision: int) -> None:
        self._revision = revision
        while self._waiters and self._waiters[0][0] <= revision:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)

    async def _list_all(self) -> tuple[list[storage.KeyValue], int]:
        page = await self.backend.list(self.prefix, limit=_LIST_PAGE)
        kvs, rev = list(page.kvs), page.revision
        while page.more:
            page = await self.backend.list(self.prefix, revision=rev, limit=_LIST_PAGE,
                                           start_key=page.kvs[-1].key + "\x00")
            kvs.extend(page.kvs)
        return kvs, rev

    async def _fill(self) -> None:
        """Replace the whole state with a fresh list; open watchers end with TooOldError."""
        kvs, rev = await self._list_all()
        groups: dict[str, list[storage.KeyValue]] = {}
        for kv in kvs:
            groups.setdefault(self._bucket(kv.key), []).append(kv)
        self._synced_at = rev
        for bucket in groups.keys() - self._resources.keys():
            self._resources[bucket] = ResourceCache(self, bucket, rev)
        for bucket, rc in self._resources.items():
            rc._reset(groups.get(bucket, []), rev)
        if rev >= self._revision:
            self._advance(rev)
        else:  # storage went back in time (restored): let waiters see the new state
            self._revision = rev

    async def _follow(self) -> None:
        """Apply the storage watch; resume it after errors, refill only when the log lost our place."""
        delay = 0.0
        while True:
            refill = False
            try:
                async for batch in self.backend.watch(self.prefix, revision=self._revision):
                    for ev in batch:  # type: ignore[attr-defined]  # interface.Backend.list hides list
                        if ev.kv.mod_revision <= self._revision:
                            continue  # already applied (a resumed watch may repeat)
                        self.resource_for_key(ev.kv.key)._apply(ev)
                        self._advance(ev.kv.mod_revision)
                    delay = 0.0
                raise storage.StorageError("storage watch ended")
            except asyncio.CancelledError:
                raise
            except storage.CompactedError as exc:
                log.warning("watch cache fell behind compaction (%s); refilling", exc)
                refill = True
            except Exception as exc:  # noqa: BLE001 -- the log still has our place: resume from it
                log.warning("watch cache lost its storage watch (%s); resuming at %d", exc, self._revision)
            await asyncio.sleep(delay)
            delay = min(max(delay * 2, 0.05), _MAX_RETRY_DELAY)
            if refill:
                try:
                    await self._fill()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 -- retried on the next round
                    log.warning("watch cache refill failed: %s", exc)

    def resource_for_key(self, key: str) -> ResourceCache:
        bucket = self._bucket(key)
        rc = self._resources.get(bucket)
        if rc is None:
            rc = self._resources[bucket] = ResourceCache(self, bucket, self._synced_at)
        return rc
