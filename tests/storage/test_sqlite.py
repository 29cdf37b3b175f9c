"""SQLite specifics: compaction keeps the log bounded; revisions survive restarts."""

from __future__ import annotations

import asyncio
import os
import pathlib
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator

import pytest

from kubeling.storage import interface, sqlite


def rows(path: pathlib.Path) -> int:
    with sqlite3.connect(path) as c:
        return int(c.execute("SELECT COUNT(*) FROM log").fetchone()[0])


async def test_compaction_bounds_the_log(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.db"
    be = sqlite.Backend(str(path), compact_interval=3600, keep_revisions=100)
    await be.start()
    rev = await be.create("/registry/coordination.k8s.io/leases/ns/l", b"{}")
    for _ in range(3000):
        rev = await be.update("/registry/coordination.k8s.io/leases/ns/l", b'{"x":1}', expected_revision=rev)
    await be.compact(rev - 100)
    assert await be.compacted_revision() == rev - 100
    with pytest.raises(interface.CompactedError):
        await be.get("/registry/coordination.k8s.io/leases/ns/l", revision=rev - 200)
    kv = await be.get("/registry/coordination.k8s.io/leases/ns/l")
    assert kv is not None and kv.mod_revision == rev
    await be.close()
    assert rows(path) <= 102  # the kept window and the live row, not 3,001 rows


async def test_revisions_keep_increasing_across_restart_and_compaction(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "s.db")
    be = sqlite.Backend(path, compact_interval=3600)
    await be.start()
    last = 0
    for i in range(10):
        last = await be.create(f"/registry/core/configmaps/ns/c{i}", b"{}")
    await be.delete("/registry/core/configmaps/ns/c9")
    await be.compact(await be.current_revision())
    await be.close()
    be = sqlite.Backend(path, compact_interval=3600)
    await be.start()
    assert await be.current_revision() >= last + 1
    nxt = await be.create("/registry/core/configmaps/ns/new", b"{}")
    assert nxt > last + 1
    listed = await be.list("/registry/core/configmaps/ns/")
    assert len(listed.kvs) == 10  # c0..c8 and new
    await be.close()


# ---- group commit, watches, compaction, durability ------------------------------------------------

CM = "/registry/core/configmaps/ns/"


@pytest.fixture
async def be(tmp_path: pathlib.Path) -> AsyncIterator[sqlite.Backend]:
    b = sqlite.Backend(str(tmp_path / "s.db"), compact_interval=0)
    await b.start()
    yield b
    await b.close()


async def test_memory_path_uses_a_private_file_removed_on_close() -> None:
    b = sqlite.Backend(":memory:", compact_interval=0)
    await b.start()
    assert await b.create(CM + "a", b"{}") == 1
    assert (await b.get(CM + "a")) is not None
    where = pathlib.Path(b.path)
    assert where.exists()
    await b.close()
    assert not where.exists()


async def test_one_failure_in_a_group_leaves_the_others_alone(be: sqlite.Backend) -> None:
    # 50 concurrent creates of the same key land in one or a few group commits.
    results = await asyncio.gather(*[be.create(CM + "same", b"{}") for _ in range(50)], return_exceptions=True)
    wins = [r for r in results if isinstance(r, int)]
    assert len(wins) == 1
    assert all(isinstance(r, interface.KeyExistsError) for r in results if not isinstance(r, int))
    revs = await asyncio.gather(*[be.create(CM + f"k{i}", b"{}") for i in range(200)])
    assert sorted(revs) == revs == list(range(wins[0] + 1, wins[0] + 201))  # no gaps, no reuse


async def test_concurrent_updates_only_one_wins(be: sqlite.Backend) -> None:
    rev = await be.create(CM + "a", b"0")
    results = await asyncio.gather(
        *[be.update(CM + "a", str(i).encode(), expected_revision=rev) for i in range(20)], return_exceptions=True)
    assert sum(isinstance(r, int) for r in results) == 1
    conflict = next(r for r in results if isinstance(r, interface.ConflictError))
    assert conflict.current is not None and conflict.current.mod_revision == rev + 1
    with pytest.raises(interface.ConflictError):
        await be.delete(CM + "a", expected_revision=rev)
    with pytest.raises(interface.KeyNotFoundError):
        await be.update(CM + "nope", b"", expected_revision=1)


async def test_watch_started_during_writes_misses_and_repeats_nothing(be: sqlite.Backend) -> None:
    for i in range(300):
        await be.create(CM + f"pre{i}", b"{}")
    task = asyncio.ensure_future(asyncio.gather(*[be.create(CM + f"k{i}", b"{}") for i in range(2000)]))
    await asyncio.sleep(0)
    seen: list[int] = []
    gen = be.watch(CM, revision=100)
    try:
        while not seen or seen[-1] < 2300:  # 300 + 2000 writes
            batch = await asyncio.wait_for(anext(gen), 10)
            seen.extend(e.kv.mod_revision for e in batch)
    finally:
        await gen.aclose()
    assert max(await task) == 2300
    assert seen == list(range(101, 2301))


async def test_watch_events_carry_previous_values(be: sqlite.Backend) -> None:
    r1 = await be.create(CM + "a", b"v1")
    r2 = await be.update(CM + "a", b"v2", expected_revision=r1)
    gone = await be.delete(CM + "a")
    r4 = await be.create(CM + "a", b"v3")
    gen = be.watch(CM, revision=0)
    events = await anext(gen)
    await gen.aclose()
    assert [(e.type, e.kv.value, e.kv.mod_revision) for e in events] == [
        ("PUT", b"v1", r1), ("PUT", b"v2", r2), ("DELETE", b"v2", gone.mod_revision), ("PUT", b"v3", r4)]
    assert [e.prev.mod_revision if e.prev else None for e in events] == [None, r1, r2, None]
    assert events[3].kv.create_revision == r4


async def test_slow_watcher_is_ended_without_blocking_writes(tmp_path: pathlib.Path) -> None:
    b = sqlite.Backend(str(tmp_path / "s.db"), compact_interval=0, watch_queue_limit=10)
    await b.start()
    try:
        gen = b.watch(CM, revision=await b.current_revision())
        first = asyncio.ensure_future(anext(gen))
        await b.create(CM + "first", b"{}")
        assert len(await first) == 1
        # nobody reads the watch while 100 writes go by
        await asyncio.gather(*[b.create(CM + f"k{i}", b"{}") for i in range(100)])
        with pytest.raises(sqlite.WatchOverflowError):
            async for _ in gen:
                pass
    finally:
        await b.close()


async def test_watch_and_reads_below_the_compacted_revision_fail(be: sqlite.Backend) -> None:
    r1 = await be.create(CM + "a", b"1")
    r2 = await be.update(CM + "a", b"2", expected_revision=r1)
    r3 = await be.create(CM + "b", b"1")
    await be.delete(CM + "b")
    await be.compact(r3)
    assert (await be.list(CM, revision=r3)).kvs == [
        interface.KeyValue(CM + "a", b"2", r1, r2), interface.KeyValue(CM + "b", b"1", r3, r3)]
    with pytest.raises(interface.CompactedError):
        await be.list(CM, revision=r2)
    with pytest.raises(interface.CompactedError):
        await be.get(CM + "a", revision=r1)
    with pytest.raises(interface.CompactedError):
        await anext(be.watch(CM, revision=r2))
    gen = be.watch(CM, revision=r3)
    events = await anext(gen)
    await gen.aclose()
    assert [e.type for e in events] == ["DELETE"] and events[0].prev is not None


async def test_interrupted_compaction_is_finished_later(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.db"
    b = sqlite.Backend(str(path), compact_interval=0)
    await b.start()
    rev = await b.create(CM + "a", b"{}")
    for _ in range(50):
        rev = await b.update(CM + "a", b"{}", expected_revision=rev)
    await b.close()
    with sqlite3.connect(path) as c:  # as if the process died right after recording the mark
        c.execute("INSERT OR REPLACE INTO meta VALUES ('compact_rev', ?)", (rev,))
    b = sqlite.Backend(str(path), compact_interval=0)
    await b.start()
    assert await b.compacted_revision() == rev
    await b.compact(rev)
    await b.close()
    assert rows(path) == 1


async def test_background_compaction_keeps_the_log_bounded(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.db"
    b = sqlite.Backend(str(path), compact_interval=3600, keep_revisions=500, compact_every=1000)
    await b.start()
    peak = 0

    async def churn(key: str) -> None:
        rev = await b.create(key, b'{"spec": "' + b"x" * 200 + b'"}')
        for _ in range(2000):
            rev = await b.update(key, b'{"spec": "' + b"y" * 200 + b'"}', expected_revision=rev)

    task = asyncio.gather(*[churn(CM + f"lease{i}") for i in range(10)])  # 20,000 updates
    while not task.done():
        await asyncio.sleep(0.05)
        peak = max(peak, rows(path))
    await task
    await asyncio.sleep(0.1)  # let a running compaction finish
    final = rows(path)
    await b.close()
    assert final <= 500 + 1000 + 1000  # the window, the slack before compacting, a round in flight
    assert peak < 20_000 / 2
    assert (await _size(path)) < 10 * 1024 * 1024


async def _size(path: pathlib.Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


_WRITER = """
import asyncio, sys
from kubeling.storage import sqlite

async def main():
    b = sqlite.Backend(sys.argv[1], compact_interval=0)
    await b.start()
    async def one(i):
        await b.create(f"/registry/core/configmaps/ns/k{i}", b"{}")
        print(i, flush=True)
    for start in range(0, 1_000_000, 16):
        await asyncio.gather(*[one(i) for i in range(start, start + 16)])

asyncio.run(main())
"""


async def test_acknowledged_writes_survive_sigkill(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "s.db"
    root = pathlib.Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _WRITER, str(path), stdout=asyncio.subprocess.PIPE, env=env)
    assert proc.stdout is not None
    acked: list[int] = []
    try:
        while len(acked) < 1500:
            line = await asyncio.wait_for(proc.stdout.readline(), 20)
            assert line, "writer died"
            acked.append(int(line))
    finally:
        proc.send_signal(signal.SIGKILL)
        rest, _ = await proc.communicate()
    acked.extend(int(x) for x in rest.split())
    b = sqlite.Backend(str(path), compact_interval=0)
    await b.start()
    try:
        stored = {kv.key for kv in (await b.list("/registry/core/configmaps/ns/")).kvs}
    finally:
        await b.close()
    missing = [i for i in acked if f"/registry/core/configmaps/ns/k{i}" not in stored]
    assert not missing
