"""The storage contract on etcd (a real etcd on loopback), and on SQLite for comparison.

The contract tests take the ``store`` fixture, which runs each of them on both
backends, so the two stay interchangeable. The etcd-only tests cover what only
etcd has: a root prefix shared by several clusters, compaction done by another
server, and a watch that outlives an etcd restart.

In CI (``CI`` set) a missing etcd binary or client library fails these tests
instead of skipping them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from kubeling.storage import interface

try:
    from kubeling.storage import etcd
except ImportError as exc:  # the etcd client library is an optional dependency
    if os.environ.get("CI"):
        raise
    pytest.skip(f"etcd client library missing: {exc}", allow_module_level=True)

from kubeling.storage import sqlite

ETCD_BIN = shutil.which("etcd") or ("/usr/bin/etcd" if os.path.exists("/usr/bin/etcd") else None)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EtcdProcess:
    """One etcd member on loopback with its data in ``data_dir``; can be stopped and started again."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.client_port = _free_port()
        self.peer_port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    def start(self) -> None:
        assert ETCD_BIN is not None
        peer = f"http://127.0.0.1:{self.peer_port}"
        log = open(self.data_dir.parent / "etcd.log", "ab")  # noqa: SIM115 - kept open for the child
        self.proc = subprocess.Popen(
            [ETCD_BIN, "--name", "test", "--data-dir", str(self.data_dir),
             "--listen-client-urls", self.endpoint, "--advertise-client-urls", self.endpoint,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"test={peer}", "--logger", "zap", "--log-level", "warn"],
            stdout=log, stderr=log,
        )
        log.close()
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited with {self.proc.returncode}; see {self.data_dir.parent / 'etcd.log'}")
            with contextlib.suppress(OSError), urllib.request.urlopen(self.endpoint + "/health", timeout=1) as resp:
                if b'"true"' in resp.read():
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("etcd did not become healthy")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def etcd_server(tmp_path: Path) -> Iterator[EtcdProcess]:
    if ETCD_BIN is None:
        if os.environ.get("CI"):
            pytest.fail("etcd is not installed (apt-get install etcd-server)")
        pytest.skip("etcd is not installed")
    server = EtcdProcess(tmp_path / "etcd")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def etcd_store(etcd_server: EtcdProcess) -> AsyncIterator[etcd.Backend]:
    backend = etcd.Backend(etcd_server.endpoint, compact_interval=0)
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture(params=["etcd", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[interface.Backend]:
    backend: interface.Backend
    if request.param == "etcd":
        server = request.getfixturevalue("etcd_server")
        backend = etcd.Backend(server.endpoint, compact_interval=0)
    else:
        backend = sqlite.Backend(str(tmp_path / "state.db"), compact_interval=0)
    await backend.start()
    try:
        yield backend
    finally:
        await backend.close()


async def _next(it: AsyncIterator[list[interface.Event]]) -> list[interface.Event]:
    # a bound so a broken watch fails the test instead of hanging it; not a speed check
    return await asyncio.wait_for(it.__anext__(), timeout=30)


async def _stop(it: AsyncIterator[list[interface.Event]]) -> None:
    # the contract types a watch as an AsyncIterator; both backends return async generators
    aclose = getattr(it, "aclose", None)
    if aclose is not None:
        await aclose()


async def _collect(it: AsyncIterator[list[interface.Event]], n: int) -> list[interface.Event]:
    events: list[interface.Event] = []
    while len(events) < n:
        events.extend(await _next(it))
    return events


# -- the contract, on both backends ------------------------------------------------------------------


async def test_create_and_get(store: interface.Backend) -> None:
    before = await store.current_revision()
    rev = await store.create("/registry/pods/default/a", b'{"a":1}')
    assert rev > before
    assert await store.current_revision() == rev
    kv = await store.get("/registry/pods/default/a")
    assert kv == interface.KeyValue("/registry/pods/default/a", b'{"a":1}', rev, rev)
    with pytest.raises(interface.KeyExistsError) as err:
        await store.create("/registry/pods/default/a", b"other")
    assert err.value.key == "/registry/pods/default/a"
    assert await store.get("/registry/pods/default/missing") is None
    assert await store.current_revision() == rev  # a failed write makes no revision


async def test_update(store: interface.Backend) -> None:
    r1 = await store.create("/k", b"1")
    r2 = await store.update("/k", b"2", expected_revision=r1)
    assert r2 > r1
    assert await store.get("/k") == interface.KeyValue("/k", b"2", r1, r2)
    with pytest.raises(interface.ConflictError) as err:
        await store.update("/k", b"3", expected_revision=r1)
    assert err.value.current == interface.KeyValue("/k", b"2", r1, r2)
    with pytest.raises(interface.ConflictError):
        await store.update("/k", b"3", expected_revision=0)
    with pytest.raises(interface.KeyNotFoundError):
        await store.update("/missing", b"x", expected_revision=r1)
    with pytest.raises(interface.KeyNotFoundError):
        await store.update("/missing", b"x", expected_revision=0)
    assert await store.get("/missing") is None  # an update never creates


async def test_delete(store: interface.Backend) -> None:
    r1 = await store.create("/k", b"1")
    r2 = await store.update("/k", b"2", expected_revision=r1)
    with pytest.raises(interface.ConflictError) as err:
        await store.delete("/k", expected_revision=r1)
    assert err.value.current is not None and err.value.current.mod_revision == r2
    gone = await store.delete("/k", expected_revision=r2)
    assert gone.key == "/k" and gone.value == b"2" and gone.create_revision == r1
    assert gone.mod_revision == await store.current_revision() > r2
    assert await store.get("/k") is None
    with pytest.raises(interface.KeyNotFoundError):
        await store.delete("/k")
    with pytest.raises(interface.KeyNotFoundError):
        await store.delete("/k", expected_revision=r2)
    r4 = await store.create("/k", b"again")
    assert (await store.get("/k")) == interface.KeyValue("/k", b"again", r4, r4)
    gone = await store.delete("/k")  # no expected revision: unconditional
    assert gone.value == b"again"


async def test_reads_at_revision(store: interface.Backend) -> None:
    r1 = await store.create("/k", b"1")
    r2 = await store.update("/k", b"2", expected_revision=r1)
    r3 = (await store.delete("/k")).mod_revision
    assert await store.get("/k", revision=r1 - 1) is None if r1 > 1 else True
    assert (await store.get("/k", revision=r1)) == interface.KeyValue("/k", b"1", r1, r1)
    assert (await store.get("/k", revision=r2)) == interface.KeyValue("/k", b"2", r1, r2)
    assert await store.get("/k", revision=r3) is None
    listed = await store.list("/", revision=r2)
    assert listed.revision == r2 and [kv.value for kv in listed.kvs] == [b"2"]
    assert (await store.list("/", revision=r3)).kvs == []


async def test_future_revision(store: interface.Backend) -> None:
    rev = await store.create("/k", b"1")
    with pytest.raises(interface.FutureRevisionError) as err:
        await store.get("/k", revision=rev + 10)
    assert err.value.requested == rev + 10 and err.value.current == rev
    with pytest.raises(interface.FutureRevisionError):
        await store.list("/", revision=rev + 10)
    with pytest.raises(interface.FutureRevisionError):
        await store.compact(rev + 10)


async def test_list_prefix_order_and_paging(store: interface.Backend) -> None:
    names = ["c", "a", "e", "b", "d"]
    for n in names:
        await store.create(f"/registry/pods/{n}", n.encode())
    await store.create("/registry/pods2/x", b"x")  # shares a string prefix, not the path prefix
    await store.create("/registry/podsa", b"y")
    await store.create("/registry/a", b"z")
    full = await store.list("/registry/pods/")
    assert [kv.key for kv in full.kvs] == [f"/registry/pods/{n}" for n in sorted(names)]
    assert not full.more
    assert full.revision == await store.current_revision()

    page1 = await store.list("/registry/pods/", limit=2)
    assert [kv.value for kv in page1.kvs] == [b"a", b"b"] and page1.more
    # page on at the first page's revision, as a continue token does
    page2 = await store.list("/registry/pods/", limit=2, start_key=page1.kvs[-1].key + "\x00",
                             revision=page1.revision)
    assert [kv.value for kv in page2.kvs] == [b"c", b"d"] and page2.more
    page3 = await store.list("/registry/pods/", limit=2, start_key=page2.kvs[-1].key + "\x00",
                             revision=page1.revision)
    assert [kv.value for kv in page3.kvs] == [b"e"] and not page3.more
    exact = await store.list("/registry/pods/", limit=5)
    assert len(exact.kvs) == 5 and not exact.more

    everything = await store.list("")
    assert [kv.key for kv in everything.kvs] == sorted(kv.key for kv in everything.kvs)
    assert len(everything.kvs) == 8
    assert (await store.list("/registry/", start_key="/registry/pods2/")).kvs[0].key == "/registry/pods2/x"
    assert (await store.list("/nothing/")).kvs == []


async def test_count(store: interface.Backend) -> None:
    assert await store.count("/registry/") == 0
    for i in range(4):
        await store.create(f"/registry/cm/{i}", b"{}")
    await store.create("/registry/cmx", b"{}")
    await store.delete("/registry/cm/0")
    assert await store.count("/registry/cm/") == 3
    assert await store.count("/registry/") == 4
    assert await store.count("") == 4


async def test_keys_and_values_are_kept_exactly(store: interface.Backend) -> None:
    value = bytes(range(256))
    await store.create("/registry/ünïcode/ключ", value)
    kv = await store.get("/registry/ünïcode/ключ")
    assert kv is not None and kv.value == value
    assert [k.key for k in (await store.list("/registry/ünïcode/")).kvs] == ["/registry/ünïcode/ключ"]


async def test_compaction(store: interface.Backend) -> None:
    r1 = await store.create("/k", b"1")
    r2 = await store.update("/k", b"2", expected_revision=r1)
    r3 = await store.update("/k", b"3", expected_revision=r2)
    await store.create("/other", b"o")
    await store.compact(r2)
    assert await store.compacted_revision() == r2
    with pytest.raises(interface.CompactedError) as err:
        await store.get("/k", revision=r1)
    assert err.value.requested == r1 and err.value.compacted == r2
    with pytest.raises(interface.CompactedError):
        await store.list("/", revision=r1)
    with pytest.raises(interface.CompactedError):
        await _next(store.watch("/", revision=r1))
    # the compacted revision itself and everything after stay readable
    assert (await store.get("/k", revision=r2)) == interface.KeyValue("/k", b"2", r1, r2)
    assert (await store.get("/k", revision=r3)) == interface.KeyValue("/k", b"3", r1, r3)
    assert [kv.key for kv in (await store.list("/")).kvs] == ["/k", "/other"]
    await store.compact(r1)  # older than done: nothing happens
    assert await store.compacted_revision() == r2
    events = await _collect(store.watch("/", revision=r2), 2)
    assert [(e.kv.key, e.kv.mod_revision) for e in events] == [("/k", r3), ("/other", r3 + 1)]


async def test_watch_replays_then_follows(store: interface.Backend) -> None:
    start = await store.current_revision()
    r1 = await store.create("/registry/pods/a", b"1")
    r2 = await store.update("/registry/pods/a", b"2", expected_revision=r1)
    await store.create("/registry/services/s", b"not watched")
    watch = store.watch("/registry/pods/", revision=start)
    replay = await _collect(watch, 2)
    assert replay[0] == interface.Event("PUT", interface.KeyValue("/registry/pods/a", b"1", r1, r1), None)
    assert replay[1] == interface.Event("PUT", interface.KeyValue("/registry/pods/a", b"2", r1, r2),
                                        interface.KeyValue("/registry/pods/a", b"1", r1, r1))
    gone = await store.delete("/registry/pods/a")
    r4 = await store.create("/registry/pods/b", b"b")
    live = await _collect(watch, 2)
    assert live[0] == interface.Event("DELETE", interface.KeyValue("/registry/pods/a", b"2", r1, gone.mod_revision),
                                      interface.KeyValue("/registry/pods/a", b"2", r1, r2))
    assert live[1] == interface.Event("PUT", interface.KeyValue("/registry/pods/b", b"b", r4, r4), None)
    await _stop(watch)


async def test_watch_from_now_sees_only_later_writes(store: interface.Backend) -> None:
    await store.create("/a", b"old")
    now = await store.current_revision()
    watch = store.watch("/", revision=now)
    first = asyncio.ensure_future(_next(watch))
    rev = await store.create("/b", b"new")
    batch = await first
    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in batch] == [("PUT", "/b", rev)]
    await _stop(watch)


async def test_many_watchers_see_the_same_order(store: interface.Backend) -> None:
    start = await store.current_revision()
    watches = [store.watch("/w/", revision=start) for _ in range(3)]
    revs = []
    for i in range(20):
        revs.append(await store.create(f"/w/{i % 7}/{i}", str(i).encode()))
    for w in watches:
        events = await _collect(w, 20)
        assert [e.kv.mod_revision for e in events] == revs
        await _stop(w)


async def test_random_operations_match_a_model(store: interface.Backend) -> None:
    """A seeded random mix of writes, checked after each step against a dict, also at past revisions."""
    rnd = random.Random(7)
    model: dict[str, interface.KeyValue] = {}
    history: list[tuple[int, dict[str, interface.KeyValue]]] = []
    keys = [f"/m/{c}" for c in "abcdefgh"]
    for _ in range(120):
        key = rnd.choice(keys)
        cur = model.get(key)
        op = rnd.choice(["create", "update", "delete", "stale"])
        if op == "create":
            if cur is None:
                rev = await store.create(key, f"{key}@c".encode())
                model[key] = interface.KeyValue(key, f"{key}@c".encode(), rev, rev)
            else:
                with pytest.raises(interface.KeyExistsError):
                    await store.create(key, b"x")
        elif op == "update":
            if cur is None:
                with pytest.raises(interface.KeyNotFoundError):
                    await store.update(key, b"x", expected_revision=1)
            else:
                rev = await store.update(key, f"{key}@{cur.mod_revision}".encode(), expected_revision=cur.mod_revision)
                model[key] = interface.KeyValue(key, f"{key}@{cur.mod_revision}".encode(), cur.create_revision, rev)
        elif op == "delete":
            if cur is None:
                with pytest.raises(interface.KeyNotFoundError):
                    await store.delete(key)
            else:
                gone = await store.delete(key, expected_revision=cur.mod_revision)
                assert gone.value == cur.value
                del model[key]
        elif cur is not None:
            with pytest.raises(interface.ConflictError) as err:
                await store.update(key, b"x", expected_revision=cur.mod_revision - 1)
            assert err.value.current == cur
        rev = await store.current_revision()
        history.append((rev, dict(model)))
        assert (await store.list("/m/")).kvs == [model[k] for k in sorted(model)]
    for rev, snapshot in history[::10]:
        if rev == 0:  # nothing written yet; 0 would mean "latest"
            continue
        assert (await store.list("/m/", revision=rev)).kvs == [snapshot[k] for k in sorted(snapshot)]
        assert await store.count("/m/") == len(model)


# -- etcd only -----------------------------------------------------------------------------------------


async def test_root_prefix_keeps_clusters_apart(etcd_server: EtcdProcess) -> None:
    one = etcd.Backend(etcd_server.endpoint, compact_interval=0)
    two = etcd.Backend([etcd_server.endpoint], prefix="/kubeling2", compact_interval=0)
    await one.start()
    await two.start()
    try:
        start = await one.current_revision()
        watch_one = one.watch("", revision=start)
        await one.create("/registry/a", b"one")
        await two.create("/registry/a", b"two")
        await two.create("/registry/b", b"two")
        assert [kv.value for kv in (await one.list("")).kvs] == [b"one"]
        assert [kv.value for kv in (await two.list("/registry/")).kvs] == [b"two", b"two"]
        assert await one.count("") == 1 and await two.count("") == 2
        assert (await one.get("/registry/a")) != (await two.get("/registry/a"))
        last = await one.create("/registry/z", b"one")
        events = await _collect(watch_one, 2)
        assert [(e.kv.key, e.kv.value) for e in events] == [("/registry/a", b"one"), ("/registry/z", b"one")]
        assert events[-1].kv.mod_revision == last
        await _stop(watch_one)
    finally:
        await one.close()
        await two.close()


async def test_endpoint_forms(etcd_server: EtcdProcess) -> None:
    bare = etcd_server.endpoint.removeprefix("http://")
    for endpoints in (bare, [bare], f"{etcd_server.endpoint},{etcd_server.endpoint}"):
        backend = etcd.Backend(endpoints, compact_interval=0)
        await backend.start()
        assert await backend.current_revision() >= 1
        await backend.close()
    with pytest.raises(ValueError):
        etcd.Backend("unix:///run/etcd.sock")


async def test_compaction_by_another_server_is_noticed(etcd_server: EtcdProcess) -> None:
    mine = etcd.Backend(etcd_server.endpoint, compact_interval=0)
    theirs = etcd.Backend(etcd_server.endpoint, compact_interval=0)
    await mine.start()
    await theirs.start()
    try:
        r1 = await mine.create("/k", b"1")
        r2 = await mine.update("/k", b"2", expected_revision=r1)
        await mine.update("/k", b"3", expected_revision=r2)
        await theirs.compact(r2)
        assert await mine.compacted_revision() == 0  # nobody told it yet
        with pytest.raises(interface.CompactedError) as err:
            await mine.get("/k", revision=r1)
        assert err.value.compacted == r2 == await mine.compacted_revision()
        await mine.compact(r2)  # the race of two compactors is harmless
        late = etcd.Backend(etcd_server.endpoint, compact_interval=0)
        await late.start()  # finds the compacted revision on start
        assert await late.compacted_revision() == r2
        await late.close()
    finally:
        await mine.close()
        await theirs.close()


async def test_watch_reports_compaction_it_meets(etcd_server: EtcdProcess) -> None:
    mine = etcd.Backend(etcd_server.endpoint, compact_interval=0)
    theirs = etcd.Backend(etcd_server.endpoint, compact_interval=0)
    await mine.start()
    await theirs.start()
    try:
        start = await mine.current_revision()
        for i in range(5):
            await mine.create(f"/k{i}", b"v")
        await theirs.compact(start + 3)
        with pytest.raises(interface.CompactedError) as err:
            await _collect(mine.watch("/", revision=start), 5)
        assert err.value.compacted == start + 3
        assert await mine.compacted_revision() == start + 3
    finally:
        await mine.close()
        await theirs.close()


async def test_background_compaction(etcd_server: EtcdProcess) -> None:
    backend = etcd.Backend(etcd_server.endpoint, compact_interval=0.05, keep_revisions=3)
    await backend.start()
    try:
        for i in range(10):
            await backend.create(f"/k{i}", b"v")
        current = await backend.current_revision()
        deadline = time.monotonic() + 30  # a bound against hanging, not a speed check
        while await backend.compacted_revision() != current - 3:
            assert time.monotonic() < deadline, "background compaction never ran"
            await asyncio.sleep(0.05)
        with pytest.raises(interface.CompactedError):
            await backend.get("/k0", revision=current - 4)
        assert await backend.count("/") == 10
    finally:
        await backend.close()


async def test_watch_survives_an_etcd_restart(etcd_server: EtcdProcess) -> None:
    backend = etcd.Backend(etcd_server.endpoint, compact_interval=0)
    await backend.start()
    try:
        start = await backend.current_revision()
        watch = backend.watch("/", revision=start)
        r1 = await backend.create("/a", b"1")
        assert [e.kv.mod_revision for e in await _next(watch)] == [r1]
        pending = asyncio.ensure_future(_next(watch))
        await asyncio.sleep(0)
        await asyncio.to_thread(etcd_server.stop)
        await asyncio.to_thread(etcd_server.start)
        for _ in range(600):  # the client reconnects on its own; writes fail until then
            try:
                r2 = await backend.create("/b", b"2")
                break
            except interface.StorageError:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("writes never succeeded after the restart")
        batch = await pending
        assert [(e.kv.key, e.kv.mod_revision) for e in batch] == [("/b", r2)]
        await _stop(watch)
    finally:
        await backend.close()


async def test_close_ends_watches(etcd_store: etcd.Backend) -> None:
    watch = etcd_store.watch("/", revision=await etcd_store.current_revision())
    pending = asyncio.ensure_future(_next(watch))
    await asyncio.sleep(0.1)
    await etcd_store.close()
    with pytest.raises(interface.StorageError):
        await pending
    with pytest.raises(interface.StorageError):
        await etcd_store.get("/k")


async def test_unreachable_etcd_fails_start() -> None:
    backend = etcd.Backend(f"127.0.0.1:{_free_port()}", compact_interval=0, request_timeout=2)
    with pytest.raises(interface.StorageError):
        await backend.start()
    await backend.close()
