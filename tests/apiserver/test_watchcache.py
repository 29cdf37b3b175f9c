"""The watch cache over the real SQLite backend."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import AsyncIterator

import orjson
import pytest

from kubeling.apiserver import watchcache
from kubeling.storage import interface as storage
from kubeling.storage import sqlite

PODS = "/registry/core/pods/"


def val(name: str, **extra: str) -> bytes:
    return orjson.dumps({"kind": "Pod", "metadata": {"name": name, "labels": extra}})


@pytest.fixture
async def backend(tmp_path: pathlib.Path) -> AsyncIterator[sqlite.Backend]:
    be = sqlite.Backend(str(tmp_path / "s.db"), compact_interval=3600)
    await be.start()
    yield be
    await be.close()


async def test_list_reflects_storage_and_sets_resource_version(backend: sqlite.Backend) -> None:
    r1 = await backend.create(PODS + "ns/a", val("a"))
    cacher = watchcache.Cacher(backend, history=100)
    await cacher.start()
    try:
        r2 = await backend.create(PODS + "ns/b", val("b"))
        await backend.create("/registry/core/configmaps/ns/x", val("x"))
        await cacher.wait_for_revision(r2)
        objs, rev = cacher.resource(PODS).list()
        assert [o.key for o in objs] == [PODS + "ns/a", PODS + "ns/b"]
        assert objs[0].obj["metadata"]["resourceVersion"] == str(r1)
        assert rev >= r2
        only_ns, _ = cacher.resource(PODS).list(PODS + "other/")
        assert only_ns == []
    finally:
        await cacher.stop()


async def test_watch_replays_history_then_live_events(backend: sqlite.Backend) -> None:
    cacher = watchcache.Cacher(backend, history=100)
    await cacher.start()
    try:
        cache = cacher.resource(PODS)
        _, start = cache.list()
        r1 = await backend.create(PODS + "ns/a", val("a"))
        r2 = await backend.update(PODS + "ns/a", val("a", x="1"), expected_revision=r1)
        await cacher.wait_for_revision(r2)
        w = cache.watch(revision=start)
        ev1 = await w.next(1)
        ev2 = await w.next(1)
        assert ev1 is not None and ev1.type == "ADDED" and ev1.revision == r1
        assert ev2 is not None and ev2.type == "MODIFIED" and ev2.prev is not None
        assert ev2.prev.obj["metadata"]["labels"] == {}
        r3 = (await backend.delete(PODS + "ns/a")).mod_revision
        ev3 = await w.next(2)
        assert ev3 is not None and ev3.type == "DELETED" and ev3.revision == r3
        assert ev3.obj.obj["metadata"]["resourceVersion"] == str(r3)
        assert await w.next(0.05) is None  # idle: the caller sends a bookmark
        w.close()
    finally:
        await cacher.stop()


async def test_exact_key_and_prefix_filters(backend: sqlite.Backend) -> None:
    cacher = watchcache.Cacher(backend, history=100)
    await cacher.start()
    try:
        cache = cacher.resource(PODS)
        _, start = cache.list()
        one = cache.watch(revision=start, exact_key=PODS + "ns/a")
        ns2 = cache.watch(revision=start, key_prefix=PODS + "ns2/")
        await backend.create(PODS + "ns/a", val("a"))
        await backend.create(PODS + "ns/ab", val("ab"))
        await backend.create(PODS + "ns2/c", val("c"))
        got_one = await one.next(1)
        got_ns2 = await ns2.next(1)
        assert got_one is not None and got_one.obj.key == PODS + "ns/a"
        assert got_ns2 is not None and got_ns2.obj.key == PODS + "ns2/c"
        assert await one.next(0.1) is None and await ns2.next(0.1) is None
    finally:
        await cacher.stop()


async def test_too_old_after_history_is_exceeded(backend: sqlite.Backend) -> None:
    cacher = watchcache.Cacher(backend, history=3)
    await cacher.start()
    try:
        cache = cacher.resource(PODS)
        _, start = cache.list()
        last = 0
        for i in range(6):
            last = await backend.create(PODS + f"ns/p{i}", val(f"p{i}"))
        await cacher.wait_for_revision(last)
        with pytest.raises(watchcache.TooOldError):
            cache.watch(revision=start)
        w = cache.watch(revision=last - 1)  # still covered
        ev = await w.next(1)
        assert ev is not None and ev.revision == last
    finally:
        await cacher.stop()


async def test_slow_watcher_is_ended_not_blocking(backend: sqlite.Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watchcache, "WATCHER_QUEUE", 5)
    cacher = watchcache.Cacher(backend, history=100)
    await cacher.start()
    try:
        cache = cacher.resource(PODS)
        _, start = cache.list()
        slow = cache.watch(revision=start)
        last = 0
        for i in range(10):
            last = await backend.create(PODS + f"ns/q{i}", val(f"q{i}"))
        await cacher.wait_for_revision(last)
        with pytest.raises(watchcache.TooOldError):
            for _ in range(20):
                await slow.next(0.5)
        objs, _ = cache.list()
        assert len(objs) == 10  # the cache kept going
    finally:
        await cacher.stop()


async def test_wait_for_revision_times_out(backend: sqlite.Backend) -> None:
    cacher = watchcache.Cacher(backend)
    await cacher.start()
    try:
        with pytest.raises(TimeoutError):
            await cacher.wait_for_revision(cacher.revision + 100, timeout=0.1)
        await asyncio.sleep(0)
    finally:
        await cacher.stop()


# ---- more: resumption, refill, fan-out, shared objects ----------------------------------------------

CMS = "/registry/core/configmaps/"


async def test_watch_from_list_revision_always_succeeds(backend: sqlite.Backend) -> None:
    cacher = watchcache.Cacher(backend, history=5)
    await cacher.start()
    try:
        last = 0
        for i in range(20):  # another resource churns far past this one's history
            last = await backend.create(CMS + f"ns/c{i}", val(f"c{i}"))
        await cacher.wait_for_revision(last)
        pods = cacher.resource(PODS)  # first use after start: complete since the fill
        objs, rev = pods.list()
        assert objs == [] and rev == last
        w = pods.watch(revision=rev)
        r = await backend.create(PODS + "ns/a", val("a"))
        ev = await w.next(2)
        assert ev is not None and ev.type == "ADDED" and ev.revision == r
        with pytest.raises(watchcache.TooOldError) as err:
            cacher.resource(CMS).watch(revision=1)
        assert err.value.oldest > 1
    finally:
        await cacher.stop()


async def test_resume_from_the_middle_of_history(backend: sqlite.Backend) -> None:
    cacher = watchcache.Cacher(backend, history=100)
    await cacher.start()
    try:
        revs = [await backend.create(PODS + f"ns/p{i}", val(f"p{i}")) for i in range(10)]
        await cacher.wait_for_revision(revs[-1])
        w = cacher.resource(PODS).watch(revision=revs[4])
        got = [(await w.next(1)) for _ in range(5)]
        assert [e.revision for e in got if e is not None] == revs[5:]
        assert await w.next(0.05) is None
    finally:
        await cacher.stop()


async def test_delete_event_keeps_cached_objects_untouched(backend: sqlite.Backend) -> None:
    cacher = watchcache.Cacher(backend)
    await cacher.start()
    try:
        r1 = await backend.create(PODS + "ns/a", val("a"))
        await cacher.wait_for_revision(r1)
        cache = cacher.resource(PODS)
        before = cache.get(PODS + "ns/a")
        assert before is not None
        w = cache.watch(revision=r1)
        gone = await backend.delete(PODS + "ns/a")
        ev = await w.next(2)
        assert ev is not None and ev.type == "DELETED" and ev.prev is before
        assert ev.obj.obj["metadata"]["resourceVersion"] == str(gone.mod_revision)
        assert before.obj["metadata"]["resourceVersion"] == str(r1)
        assert cache.get(PODS + "ns/a") is None and cache.list()[0] == []
    finally:
        await cacher.stop()


async def test_storage_watch_overflow_is_resumed_without_ending_watchers(tmp_path: pathlib.Path) -> None:
    be = sqlite.Backend(str(tmp_path / "s.db"), compact_interval=0, watch_queue_limit=3)
    await be.start()
    cacher = watchcache.Cacher(be)
    await cacher.start()
    try:
        cache = cacher.resource(PODS)
        _, start = cache.list()
        w = cache.watch(revision=start)
        revs = await asyncio.gather(*[be.create(PODS + f"ns/p{i:03}", val(f"p{i}")) for i in range(200)])
        await cacher.wait_for_revision(max(revs))
        got = [await w.next(1) for _ in range(200)]
        assert [e.revision for e in got if e is not None] == sorted(revs)
        assert len(cache.list()[0]) == 200
    finally:
        await cacher.stop()
        await be.close()


class _Flaky:
    """Delegates to a real backend; its next watch fails with CompactedError once."""

    def __init__(self, inner: sqlite.Backend) -> None:
        self.inner = inner
        self.fail_next = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def watch(self, prefix: str, *, revision: int) -> AsyncIterator[list[storage.Event]]:
        async for batch in self.inner.watch(prefix, revision=revision):
            if self.fail_next:
                self.fail_next = False
                raise storage.CompactedError(revision, revision + 1)
            yield batch


async def test_compacted_storage_watch_refills_and_ends_watchers(backend: sqlite.Backend) -> None:
    flaky = _Flaky(backend)
    cacher = watchcache.Cacher(flaky)  # type: ignore[arg-type]
    await cacher.start()
    try:
        cache = cacher.resource(PODS)
        _, start = cache.list()
        w = cache.watch(revision=start)
        flaky.fail_next = True
        r1 = await backend.create(PODS + "ns/a", val("a"))
        with pytest.raises(watchcache.TooOldError):
            await w.next(2)
        await cacher.wait_for_revision(r1)
        objs, rev = cache.list()
        assert [o.key for o in objs] == [PODS + "ns/a"] and rev >= r1
        w2 = cache.watch(revision=rev)
        r2 = await backend.create(PODS + "ns/b", val("b"))
        ev = await w2.next(2)
        assert ev is not None and ev.revision == r2
    finally:
        await cacher.stop()


async def test_many_watchers_see_every_event_in_order(backend: sqlite.Backend) -> None:
    cacher = watchcache.Cacher(backend)
    await cacher.start()
    try:
        cache = cacher.resource(PODS)
        _, start = cache.list()
        watchers = [cache.watch(revision=start) for _ in range(50)]
        revs = await asyncio.gather(*[backend.create(PODS + f"ns/p{i}", val(f"p{i}")) for i in range(300)])

        async def drain(w: watchcache.Watcher) -> list[int]:
            out = []
            async for ev in w:
                out.append(ev.revision)
                if len(out) == len(revs):
                    break
            return out

        results = await asyncio.wait_for(asyncio.gather(*[drain(w) for w in watchers]), 10)
        assert all(r == sorted(revs) for r in results)
        assert watchers[0].close() is None
        with pytest.raises(StopAsyncIteration):
            await watchers[0].next(0.01)
    finally:
        await cacher.stop()


async def test_stop_ends_open_watchers(backend: sqlite.Backend) -> None:
    cacher = watchcache.Cacher(backend)
    await cacher.start()
    w = cacher.resource(PODS).watch(revision=cacher.revision)
    await cacher.stop()
    with pytest.raises(watchcache.TooOldError):
        await w.next(1)


def test_resource_prefix_must_name_a_resource() -> None:
    cacher = watchcache.Cacher(None)  # type: ignore[arg-type]
    assert cacher.resource(PODS).prefix == PODS
    with pytest.raises(ValueError):
        cacher.resource("/registry/core/pods")
    with pytest.raises(ValueError):
        cacher.resource("/elsewhere/core/pods/")
