"""The watch cache over the real SQLite backend."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import AsyncIterator

import orjson
import pytest

from kubeling.apiserver import watchcache
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
