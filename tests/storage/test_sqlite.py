"""SQLite specifics: compaction keeps the log bounded; revisions survive restarts."""

from __future__ import annotations

import pathlib
import sqlite3

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
