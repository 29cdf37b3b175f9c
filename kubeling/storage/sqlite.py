"""The embedded storage backend: an append-only log of revisions in SQLite.

Every write appends one row to the ``log`` table; the row's id is the write's
revision. A row records the key, whether it creates or deletes the key, the
key's create revision, the id of the key's previous row and the value (for a
delete, the last value). The newest row of a key is its current state, and the
newest row with ``id <= R`` is its state at revision ``R``, so reads at older
revisions work until compaction removes the rows they need.

Writes: callers queue operations; one writer thread takes everything queued,
applies it in a single transaction and acknowledges each operation with its
revision or its error (group commit). Since that thread is the only writer, the
check "is the current row the expected one" and the insert cannot interleave;
the UNIQUE (name, prev_revision) index still guards against a second process
writing the same file. Ids are never reused (AUTOINCREMENT), also across
restarts and compactions.

Durability: WAL journal. With ``fsync=False`` (synchronous=NORMAL, the
default) an acknowledged write survives the process being killed but not a
power loss or kernel crash; ``fsync=True`` (synchronous=FULL) survives those
too at the price of one fsync per group commit.

Reads: ``get`` of one key is a single indexed lookup and runs on the event loop;
``list``, ``count`` and watch replays run on a small pool of reader threads.
WAL readers never wait for the writer.

Watches subscribe to in-process write notifications first, then replay the log
from the requested revision, and drop events they have already yielded. A
watcher whose queue overflows ends with :class:`WatchOverflowError` (a
``StorageError``), so its caller re-lists.

Compaction to ``C`` first records ``C`` (reads below it then fail with
``CompactedError``), then, in small transactions, deletes every row that is
superseded by a newer row at or below ``C`` and every delete row at or below
``C``. A background task compacts to ``current - keep_revisions`` every
``compact_interval`` seconds, and sooner once ``compact_every`` revisions
beyond ``keep_revisions`` have piled up, so the file stays bounded by the
number of live keys plus the retained history whatever the write rate; freed pages are reused (no VACUUM). The WAL is
checkpointed by the writer after every 500 pages and ``journal_size_limit``
trims it back to 2 MiB after it restarts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import queue
import shutil
import sqlite3
import tempfile
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from kubeling.storage import interface
from kubeling.storage.interface import CompactedError, Event, FutureRevisionError, KeyValue, ListResult

log = logging.getLogger(__name__)
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    value BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS log_name_prev ON log (name, prev_revision);
CREATE INDEX IF NOT EXISTS log_name_id ON log (name, id);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

_LATEST = "SELECT id, deleted, create_revision, value FROM log WHERE name = ? ORDER BY id DESC LIMIT 1"
_AT = "SELECT id, deleted, create_revision, value FROM log WHERE name = ? AND id <= ? ORDER BY id DESC LIMIT 1"
_INSERT = ("INSERT INTO log (id, name, created, deleted, create_revision, prev_revision, value) "
           "VALUES (?, ?, ?, ?, ?, ?, ?)")
# SQLite returns the bare columns of the row holding MAX(id) in each group.
_LIST = ("SELECT name, MAX(id), deleted, create_revision, value FROM log "
         "WHERE name >= ? AND name < ? AND id <= ? GROUP BY name HAVING deleted = 0 ORDER BY name LIMIT ?")
_LIST_OPEN = ("SELECT name, MAX(id), deleted, create_revision, value FROM log "
              "WHERE name >= ? AND id <= ? GROUP BY name HAVING deleted = 0 ORDER BY name LIMIT ?")
_COUNT = ("SELECT COUNT(*) FROM (SELECT MAX(id), deleted FROM log WHERE name >= ? AND name < ? "
          "GROUP BY name HAVING deleted = 0)")
_REPLAY = ("SELECT l.id, l.name, l.deleted, l.create_revision, l.value, p.id, p.deleted, p.value "
           "FROM log l LEFT JOIN log p ON p.id = l.prev_revision "
           "WHERE l.id > ? ORDER BY l.id LIMIT ?")

_COMPACT_CHUNK = 2000  # ids per compaction transaction: keeps each pause of the writer short
_REPLAY_PAGE = 1000
_MAX_BATCH = 1000
_MAX_KEY = "\U0010ffff"


class WatchOverflowError(interface.StorageError):
    """The watcher fell too far behind the writer; re-list and watch again."""


def _prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``."""
    p = prefix.rstrip(_MAX_KEY)
    if not p:
        return None
    return p[:-1] + chr(ord(p[-1]) + 1)


class _Subscriber:
    """A watcher's queue of write notifications, filled by the event loop."""

    def __init__(self, prefix: str, limit: int) -> None:
        self.prefix = prefix
        self.limit = limit
        self.batches: deque[list[Event]] = deque()
        self.pending = 0
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None

    def push(self, events: list[Event]) -> None:
        if self.error is not None:
            return
        mine = [e for e in events if e.kv.key.startswith(self.prefix)]
        if not mine:
            return
        self.pending += len(mine)
        if self.pending > self.limit:
            self.fail(WatchOverflowError(f"watch on {self.prefix!r} fell more than {self.limit} events behind"))
            return
        self.batches.append(mine)
        self._wake()

    def fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
            self.batches.clear()
            self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def get(self) -> list[Event]:
        while not self.batches:
            if self.error is not None:
                raise self.error
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        batch = self.batches.popleft()
        self.pending -= len(batch)
        return batch


_Op = tuple[Any, ...]
# Aliases for annotations inside Backend, whose ``list`` method hides the builtin there.
_Events = list[Event]
_Ops = list[_Op]
_Results = list[Any]
_Futures = list["asyncio.Future[Any]"]


class Backend:
    """interface.Backend on one SQLite file. ``path=":memory:"`` uses a temporary file."""

    def __init__(
        self,
        path: str,
        *,
        compact_interval: float = 60.0,
        keep_revisions: int = 1000,
        compact_every: int = 2000,
        fsync: bool = False,
        watch_queue_limit: int = 100_000,
        readers: int = 2,
    ) -> None:
        self._tmpdir: str | None = None
        if path == ":memory:":
            self._tmpdir = tempfile.mkdtemp(prefix="kubeling-sqlite-")
            path = os.path.join(self._tmpdir, "state.db")
        self.path = path
        self.compact_interval = compact_interval
        self.keep_revisions = keep_revisions
        self.compact_every = compact_every
        self._compact_due: asyncio.Event | None = None
        self._fsync = fsync
        self._watch_queue_limit = watch_queue_limit
        self._readers = readers
        self._rev = 0  # newest committed revision (written by the writer thread only)
        self._compacted = 0  # reads below this fail; set before any row is deleted
        self._compact_done = 0  # rows superseded at or below this have been deleted
        self._next_id = 1
        self._subs: set[_Subscriber] = set()
        self._wq: queue.SimpleQueue[tuple[_Op, asyncio.Future[Any]] | None] = queue.SimpleQueue()
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._writer: threading.Thread | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._pool_conns: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._compactor: asyncio.Task[None] | None = None
        self._compact_lock = asyncio.Lock()
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute(f"PRAGMA synchronous = {'FULL' if self._fsync else 'NORMAL'}")
        return conn

    def _open(self) -> None:
        conn = self._connect()
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA journal_size_limit = 2097152")  # shrink the WAL back after checkpoints
        # Small automatic checkpoints (in the writer, after a commit): each one is a short pause;
        # measured, 500 pages gave a lower p99 than the default 1000 at about the same throughput.
        conn.execute("PRAGMA wal_autocheckpoint = 500")
        conn.executescript(_SCHEMA)
        seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'log'").fetchall()
        self._rev = seq[0][0] if seq else 0
        self._next_id = self._rev + 1
        meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
        self._compacted = meta.get("compact_rev", 0)
        self._compact_done = meta.get("compact_done", 0)
        self._wconn = conn
        self._rconn = self._connect()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._open)
        self._pool = concurrent.futures.ThreadPoolExecutor(self._readers, thread_name_prefix="sqlite-read")
        self._writer = threading.Thread(target=self._write_loop, name="sqlite-writer", daemon=True)
        self._writer.start()
        self._compact_due = asyncio.Event()
        if self.compact_interval > 0:
            self._compactor = asyncio.create_task(self._compact_loop(), name="sqlite-compactor")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._compactor is not None:
            self._compactor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._compactor
        if self._writer is not None:
            self._wq.put(None)
            await asyncio.to_thread(self._writer.join)
        for sub in list(self._subs):
            sub.fail(interface.StorageError("storage backend closed"))
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for conn in [self._wconn, self._rconn, *self._pool_conns]:
            if conn is not None:
                conn.close()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)

    # -- reads -----------------------------------------------------------------------------------

    def _check_revision(self, revision: int) -> None:
        if revision and revision < self._compacted:
            raise CompactedError(revision, self._compacted)
        if revision > self._rev:
            raise FutureRevisionError(revision, self._rev)

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        if self._loop is None or self._pool is None or self._closed:
            raise interface.StorageError("storage backend is not running")
        return await self._loop.run_in_executor(self._pool, fn, *args)

    def _thread_conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._pool_lock:
                self._pool_conns.append(conn)
        return conn

    async def get(self, key: str, *, revision: int = 0) -> KeyValue | None:
        if self._rconn is None:
            raise interface.StorageError("storage backend is not running")
        self._check_revision(revision)
        if revision:
            rows = self._rconn.execute(_AT, (key, revision)).fetchall()
            self._check_revision(revision)  # a compaction may have started meanwhile
        else:
            rows = self._rconn.execute(_LATEST, (key,)).fetchall()
        if not rows or rows[0][1]:
            return None
        rid, _, crev, value = rows[0]
        return KeyValue(key, value, crev, rid)

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0, start_key: str = "") -> ListResult:
        self._check_revision(revision)
        return await self._read(self._list_sync, prefix, revision or self._rev, limit, start_key)

    def _list_sync(self, prefix: str, revision: int, limit: int, start_key: str) -> ListResult:
        conn = self._thread_conn()
        lo = max(prefix, start_key)
        hi = _prefix_end(prefix)
        n = limit + 1 if limit > 0 else -1
        if hi is None:
            rows = conn.execute(_LIST_OPEN, (lo, revision, n)).fetchall()
        else:
            rows = conn.execute(_LIST, (lo, hi, revision, n)).fetchall()
        self._check_revision(revision)
        more = limit > 0 and len(rows) > limit
        if more:
            rows = rows[:limit]
        kvs = [KeyValue(name, value, crev, rid) for name, rid, _, crev, value in rows if name.startswith(prefix)]
        return ListResult(kvs, revision, more)

    async def count(self, prefix: str) -> int:
        return await self._read(self._count_sync, prefix)

    def _count_sync(self, prefix: str) -> int:
        hi = _prefix_end(prefix) or _MAX_KEY * 2
        rows = self._thread_conn().execute(_COUNT, (prefix, hi)).fetchall()
        return int(rows[0][0])

    async def current_revision(self) -> int:
        return self._rev

    async def compacted_revision(self) -> int:
        return self._compacted

    # -- writes ----------------------------------------------------------------------------------

    async def _submit(self, op: _Op) -> Any:
        if self._loop is None or self._closed:
            raise interface.StorageError("storage backend is not running")
        fut: asyncio.Future[Any] = self._loop.create_future()
        self._wq.put((op, fut))
        return await fut

    async def create(self, key: str, value: bytes) -> int:
        rev: int = await self._submit(("create", key, value, 0))
        return rev

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        rev: int = await self._submit(("update", key, value, expected_revision))
        return rev

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        kv: KeyValue = await self._submit(("delete", key, b"", expected_revision))
        return kv

    def _write_loop(self) -> None:
        conn = self._wconn
        assert conn is not None and self._loop is not None
        stop = False
        while not stop:
            first = self._wq.get()
            if first is None:
                break
            items = [first]
            while len(items) < _MAX_BATCH:
                try:
                    nxt = self._wq.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                items.append(nxt)
            results, events = self._apply_batch(conn, [op for op, _ in items])
            try:
                self._loop.call_soon_threadsafe(self._complete, [f for _, f in items], results, events)
            except RuntimeError:  # the loop is closed: nobody is waiting any more
                return

    def _apply_batch(self, conn: sqlite3.Connection, ops: _Ops) -> tuple[_Results, _Events]:
        results: _Results = []
        events: _Events = []
        checkpoint = False
        compacted = self._compacted
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in ops:
                kind = op[0]
                try:
                    if kind == "mark":
                        conn.execute("INSERT OR REPLACE INTO meta VALUES ('compact_rev', ?)", (op[1],))
                        compacted = op[1]
                        results.append(None)
                    elif kind == "chunk":
                        self._compact_chunk(conn, op[1], op[2])
                        results.append(None)
                    elif kind == "checkpoint":
                        checkpoint = True
                        results.append(None)
                    else:
                        res, ev = self._apply_write(conn, op)
                        results.append(res)
                        events.append(ev)
                except interface.StorageError as exc:
                    results.append(exc)
                except sqlite3.IntegrityError as exc:
                    err = interface.ConflictError(op[1], None)
                    err.__cause__ = exc
                    results.append(err)
            conn.execute("COMMIT")
        except Exception as exc:  # noqa: BLE001 -- the whole group fails; the writer thread must live on
            log.error("storage commit failed: %s", exc)
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            with contextlib.suppress(sqlite3.Error):
                seq = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'log'").fetchall()
                self._next_id = (seq[0][0] if seq else 0) + 1
            failed = interface.StorageError(f"storage commit failed: {exc}")
            failed.__cause__ = exc
            return [failed] * len(ops), []
        if events:
            self._rev = events[-1].kv.mod_revision
        self._compacted = compacted
        if checkpoint:
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            except sqlite3.Error as exc:  # a reader held the WAL; a later call retries
                log.debug("checkpoint skipped: %s", exc)
        return results, events

    def _apply_write(self, conn: sqlite3.Connection, op: _Op) -> tuple[Any, Event]:
        kind, key, value, expected = op
        rows = conn.execute(_LATEST, (key,)).fetchall()
        cur = rows[0] if rows and not rows[0][1] else None
        prev_id = rows[0][0] if rows else 0
        cur_kv = KeyValue(key, cur[3], cur[2], cur[0]) if cur is not None else None
        rid = self._next_id
        if kind == "create":
            if cur_kv is not None:
                raise interface.KeyExistsError(key)
            conn.execute(_INSERT, (rid, key, 1, 0, rid, prev_id, value))
            self._next_id += 1
            return rid, Event("PUT", KeyValue(key, value, rid, rid))
        if cur_kv is None:
            raise interface.KeyNotFoundError(key)
        if (kind == "update" or expected) and cur_kv.mod_revision != expected:
            raise interface.ConflictError(key, cur_kv)
        if kind == "update":
            conn.execute(_INSERT, (rid, key, 0, 0, cur_kv.create_revision, prev_id, value))
            self._next_id += 1
            return rid, Event("PUT", KeyValue(key, value, cur_kv.create_revision, rid), cur_kv)
        conn.execute(_INSERT, (rid, key, 0, 1, cur_kv.create_revision, prev_id, cur_kv.value))
        self._next_id += 1
        gone = KeyValue(key, cur_kv.value, cur_kv.create_revision, rid)
        return gone, Event("DELETE", gone, cur_kv)

    def _compact_chunk(self, conn: sqlite3.Connection, lo: int, hi: int) -> None:
        # Every row superseded at or below hi is the prev of some row in (done, hi]; rows at or
        # below ``done`` had their predecessors removed by earlier chunks.
        conn.execute("DELETE FROM log WHERE id IN "
                     "(SELECT prev_revision FROM log WHERE id > ? AND id <= ? AND prev_revision > 0)", (lo, hi))
        conn.execute("DELETE FROM log WHERE id > ? AND id <= ? AND deleted = 1", (lo, hi))
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('compact_done', ?)", (hi,))
        self._compact_done = hi

    def _complete(self, futs: _Futures, results: _Results, events: _Events) -> None:
        for fut, res in zip(futs, results):
            if fut.done():
                continue
            if isinstance(res, BaseException):
                fut.set_exception(res)
            else:
                fut.set_result(res)
        if events:
            for sub in list(self._subs):
                sub.push(events)
            if self._compact_due is not None and \
                    self._rev - self._compacted >= self.keep_revisions + self.compact_every:
                self._compact_due.set()

    # -- compaction ------------------------------------------------------------------------------

    async def compact(self, revision: int) -> None:
        async with self._compact_lock:
            if revision > self._rev:
                raise FutureRevisionError(revision, self._rev)
            if revision > self._compacted:
                await self._submit(("mark", revision))
            target = self._compacted
            while self._compact_done < target:
                lo = self._compact_done
                await self._submit(("chunk", lo, min(lo + _COMPACT_CHUNK, target)))

    async def checkpoint(self) -> None:
        """Fold the WAL into the database file and truncate it, between two group commits."""
        await self._submit(("checkpoint",))

    async def _compact_loop(self) -> None:
        assert self._compact_due is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._compact_due.wait(), self.compact_interval)
            self._compact_due.clear()
            try:
                target = self._rev - self.keep_revisions
                if target > self._compacted or self._compact_done < self._compacted:
                    await self.compact(max(target, self._compacted))
            except asyncio.CancelledError:
                raise
            except Exception:  # keep compacting later; the failure is logged, not fatal
                log.exception("storage compaction failed")

    # -- watch -----------------------------------------------------------------------------------

    async def watch(self, prefix: str, *, revision: int) -> AsyncIterator[_Events]:
        if self._closed or self._loop is None:
            raise interface.StorageError("storage backend is not running")
        sub = _Subscriber(prefix, self._watch_queue_limit)
        self._subs.add(sub)  # subscribe before replaying, so nothing falls in between
        try:
            if revision < self._compacted:
                raise CompactedError(revision, self._compacted)
            last = revision
            while True:
                events, more, last_seen = await self._read(self._replay_sync, prefix, last)
                last = last_seen
                if events:
                    yield events
                if not more:
                    break
            while True:
                batch = await sub.get()
                fresh = [e for e in batch if e.kv.mod_revision > last]
                if fresh:
                    last = fresh[-1].kv.mod_revision
                    yield fresh
        finally:
            self._subs.discard(sub)

    def _replay_sync(self, prefix: str, after: int) -> tuple[_Events, bool, int]:
        conn = self._thread_conn()
        rows = conn.execute(_REPLAY, (after, _REPLAY_PAGE)).fetchall()
        if after < self._compacted:  # rows this replay needs may be gone
            raise CompactedError(after, self._compacted)
        events: _Events = []
        for rid, name, deleted, crev, value, pid, pdeleted, pvalue in rows:
            if not name.startswith(prefix):
                continue
            prev = KeyValue(name, pvalue, crev, pid) if pid is not None and not pdeleted else None
            if deleted:
                events.append(Event("DELETE", KeyValue(name, value, crev, rid), prev))
            else:
                events.append(Event("PUT", KeyValue(name, value, crev, rid), prev))
        last = rows[-1][0] if rows else after
        return events, len(rows) == _REPLAY_PAGE, last
