"""The etcd storage backend: interface.Backend on etcd's v3 API (etcd 3.4 or newer).

Keys are the interface's string keys, stored under a configurable root
(``/kubeling`` by default) so several clusters can share one etcd; every key
should start with ``/``. Values are stored as given. Revisions are etcd's own:
a key's ``mod_revision`` is etcd's, and one write is one etcd revision.

Writes are transactions that compare and write in one step:

* create: ``create_revision(key) == 0`` then put, else KeyExistsError;
* update: ``version(key) > 0 and mod_revision(key) == expected`` then put, else
  read the key to tell KeyNotFoundError from ConflictError (which carries it);
* delete: the same guard (``mod_revision`` only if one is expected), deleting
  with ``prev_kv`` so the deleted value comes back with the delete's revision.

A write is sent once: retrying a write whose answer was lost could report a
conflict with the caller's own write. Reads are retried on transient errors.

Reads at a revision map etcd's "compacted" and "future revision" errors to
CompactedError and FutureRevisionError. etcd 3.4 does not say which revision it
compacted to, so the backend remembers its own compactions, what watches report
and, on start or when etcd rejects a revision the backend thought readable,
finds the oldest readable revision by bisection over cheap reads at revisions.
As with the SQLite backend, reads and watches below ``compacted_revision()``
fail; the compacted revision itself stays readable.

Each watch is one etcd watch stream with ``prev_kv``; every etcd response is
one batch (etcd never splits a revision's events across responses), so the
events of one transaction share a batch. A stream lost to a transient error
reconnects from the revision after the last event it delivered; a watch that
cannot reconnect for ``watch_retry_for`` seconds, or that is closed with the
backend, ends with StorageError.

A background task compacts to ``current - keep_revisions`` every
``compact_interval`` seconds. Several servers sharing one etcd may each do so;
the loser of such a race gets etcd's "compacted" answer, which is harmless.

The client library is ``etcd3aio`` (grpc.aio). Its unary KV service is used
as is; the watch stream is driven here on its generated stubs, because the
library's own watch resumes after the response header revision, which can skip
events a catching-up watcher has not yet received.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any, TypeVar

import grpc
import grpc.aio
from etcd3aio import _protobuf as pb
from etcd3aio import errors as etcd_errors
from etcd3aio import kv as etcd_kv

from kubeling.storage import interface
from kubeling.storage.interface import (
    CompactedError,
    Event,
    FutureRevisionError,
    KeyValue,
    ListResult,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
_Msgs = list[Any]  # protobuf messages; named here since the class below defines its own ``list``
_Batch = list[Event]

_MSG_COMPACTED = "required revision has been compacted"
_MSG_FUTURE = "required revision is a future revision"
_EQUAL = pb.rpc_pb2.Compare.EQUAL
_GREATER = pb.rpc_pb2.Compare.GREATER
_DELETE = pb.kv_pb2.Event.DELETE
_MAX_MSG = 2**31 - 1  # like kube-apiserver: catch-up watch responses and big lists can exceed grpc's 4 MiB


def _prefix_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with ``prefix`` (etcd's range_end)."""
    b = bytearray(prefix)
    while b:
        if b[-1] < 0xFF:
            b[-1] += 1
            return bytes(b)
        b.pop()
    return b"\0"  # etcd: from key to the end of the keyspace


def _target(endpoints: Sequence[str]) -> tuple[str, bool]:
    """A grpc target for ``endpoints`` (``http(s)://host:port`` or ``host:port``) and whether TLS is used."""
    hosts: list[str] = []
    schemes: set[str] = set()
    for ep in endpoints:
        scheme, sep, rest = ep.partition("://")
        if not sep:
            scheme, rest = "http", ep
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported etcd endpoint {ep!r}")
        schemes.add(scheme)
        hosts.append(rest.rstrip("/"))
    if not hosts:
        raise ValueError("no etcd endpoints given")
    if len(schemes) > 1:
        raise ValueError("etcd endpoints mix http and https")
    tls = schemes == {"https"}
    if len(hosts) == 1:
        return hosts[0], tls

    def is_ipv4(hostport: str) -> bool:
        try:
            ipaddress.IPv4Address(hostport.rsplit(":", 1)[0])
        except ValueError:
            return False
        return True

    if all(is_ipv4(h) for h in hosts):
        return "ipv4:" + ",".join(hosts), tls  # grpc balances round robin over the list
    raise ValueError("several etcd endpoints must be given as IPv4 addresses (or use one DNS name)")


class Backend:
    """interface.Backend on an etcd v3 cluster."""

    def __init__(
        self,
        endpoints: list[str] | str,
        *,
        prefix: str = "/kubeling",
        compact_interval: float = 300.0,
        keep_revisions: int = 1000,
        request_timeout: float = 30.0,
        watch_retry_for: float = 30.0,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
    ) -> None:
        eps = [e.strip() for e in endpoints.split(",")] if isinstance(endpoints, str) else list(endpoints)
        self._target, self._tls = _target([e for e in eps if e])
        self.prefix = prefix.rstrip("/")
        self._root = self.prefix.encode()
        self.compact_interval = compact_interval
        self.keep_revisions = keep_revisions
        self.request_timeout = request_timeout
        self.watch_retry_for = watch_retry_for
        self._tls_files = (ca_file, cert_file, key_file)
        self._channel: grpc.aio.Channel | None = None
        self._kv: etcd_kv.KVService | None = None
        self._watch_stub: Any = None
        self._compacted = 0
        self._compactor: asyncio.Task[None] | None = None
        self._compact_lock = asyncio.Lock()
        self._calls: set[Any] = set()  # open watch streams, cancelled on close
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------------

    def _credentials(self) -> grpc.ChannelCredentials:
        def read(path: str | None) -> bytes | None:
            if path is None:
                return None
            with open(path, "rb") as f:
                return f.read()

        ca, cert, key = (read(p) for p in self._tls_files)
        return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=cert)

    async def start(self) -> None:
        options: list[tuple[str, Any]] = [
            ("grpc.lb_policy_name", "round_robin"),
            ("grpc.keepalive_time_ms", 10_000),
            ("grpc.keepalive_timeout_ms", 5_000),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.max_receive_message_length", _MAX_MSG),
            ("grpc.max_send_message_length", _MAX_MSG),
        ]
        if self._tls:
            self._channel = grpc.aio.secure_channel(self._target, self._credentials(), options=options)
        else:
            self._channel = grpc.aio.insecure_channel(self._target, options=options)
        self._kv = etcd_kv.KVService(self._channel)
        self._watch_stub = pb.WatchStub(self._channel)
        current = await self.current_revision()  # fails early if etcd cannot be reached
        await self._find_compacted(current)
        if self.compact_interval > 0:
            self._compactor = asyncio.create_task(self._compact_loop(), name="etcd-compactor")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._compactor is not None:
            self._compactor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._compactor
        for call in list(self._calls):
            call.cancel()
        if self._channel is not None:
            await self._channel.close()

    # -- helpers ---------------------------------------------------------------------------------

    def _key(self, key: str) -> bytes:
        return self._root + key.encode()

    def _range_end(self, prefix: str) -> bytes:
        return _prefix_end(self._key(prefix) if prefix or self._root == b"" else self._root + b"/")

    def _kv_of(self, kv: Any) -> KeyValue:
        return KeyValue(kv.key[len(self._root):].decode(), kv.value, kv.create_revision, kv.mod_revision)

    def _service(self) -> etcd_kv.KVService:
        if self._kv is None or self._closed:
            raise interface.StorageError("storage backend is not running")
        return self._kv

    async def _call(self, what: str, request: Awaitable[T], *, revision: int = 0) -> T:
        """Await one KV RPC, translating etcd's errors into the storage error tree."""
        try:
            return await request
        except grpc.aio.AioRpcError as exc:
            details = exc.details() or ""
            if _MSG_COMPACTED in details:
                compacted = await self._compacted_after_error(revision)
                raise CompactedError(revision, compacted) from exc
            if _MSG_FUTURE in details:
                current = await self.current_revision()
                raise FutureRevisionError(revision, current) from exc
            raise interface.StorageError(f"etcd {what}: {exc.code().name}: {details}") from exc
        except (etcd_errors.EtcdError, TimeoutError) as exc:
            raise interface.StorageError(f"etcd {what}: {exc}") from exc

    def _lo(self, prefix: str, start_key: str = "") -> bytes:
        """Where a range over ``prefix`` starts; the bare root gets a slash so ``/kubeling2`` stays out."""
        if prefix or start_key or not self._root:
            return self._key(max(prefix, start_key))
        return self._root + b"/"

    async def _range(self, key: bytes, *, range_end: bytes | None = None, revision: int = 0, limit: int = 0,
                     count_only: bool = False) -> Any:
        if revision and revision < self._compacted:
            raise CompactedError(revision, self._compacted)
        kv = self._service()
        return await self._call("range", kv.get(key, range_end, revision=revision, limit=limit,
                                                count_only=count_only, timeout=self.request_timeout),
                                revision=revision)

    # -- reads -----------------------------------------------------------------------------------

    async def get(self, key: str, *, revision: int = 0) -> KeyValue | None:
        resp = await self._range(self._key(key), revision=revision)
        return self._kv_of(resp.kvs[0]) if resp.kvs else None

    async def list(self, prefix: str, *, revision: int = 0, limit: int = 0, start_key: str = "") -> ListResult:
        resp = await self._range(self._lo(prefix, start_key), range_end=self._range_end(prefix), revision=revision, limit=max(limit, 0))
        kvs = [self._kv_of(kv) for kv in resp.kvs]
        return ListResult(kvs, revision or resp.header.revision, bool(resp.more))

    async def count(self, prefix: str) -> int:
        resp = await self._range(self._lo(prefix), range_end=self._range_end(prefix), count_only=True)
        return int(resp.count)

    async def current_revision(self) -> int:
        resp = await self._range(self._root or b"\0", count_only=True)
        return int(resp.header.revision)

    async def compacted_revision(self) -> int:
        return self._compacted

    async def _readable(self, revision: int) -> bool:
        try:
            await self._service().get(self._root or b"\0", revision=revision, count_only=True,
                                      timeout=self.request_timeout)
        except grpc.aio.AioRpcError as exc:
            if _MSG_COMPACTED in (exc.details() or ""):
                return False
            raise
        return True

    async def _find_compacted(self, current: int) -> int:
        """Bisect for the oldest readable revision (etcd 3.4 has no call that reports it)."""
        lo, hi = max(self._compacted, 1), current  # hi is always readable
        if await self._readable(lo):
            return self._compacted
        while hi - lo > 1:  # invariant: lo unreadable, hi readable
            mid = (lo + hi) // 2
            if await self._readable(mid):
                hi = mid
            else:
                lo = mid
        self._note_compacted(hi)
        return self._compacted

    async def _compacted_after_error(self, requested: int) -> int:
        if requested >= self._compacted:  # someone else compacted: learn how far
            try:
                await self._find_compacted(await self.current_revision())
            except Exception:  # the error being reported matters more than the bisection
                log.debug("could not find etcd's compacted revision", exc_info=True)
                self._note_compacted(requested + 1)
        return self._compacted

    def _note_compacted(self, revision: int) -> None:
        self._compacted = max(self._compacted, revision)

    # -- writes ----------------------------------------------------------------------------------

    async def _txn(self, compare: _Msgs, success: _Msgs, failure: _Msgs) -> Any:
        kv = self._service()
        # max_attempts=1: see the module docstring on why writes are not retried
        return await self._call("txn", kv.txn(compare, success, failure, timeout=self.request_timeout,
                                              max_attempts=1))

    def _exists(self, k: bytes) -> Any:
        return pb.rpc_pb2.Compare(key=k, target=pb.rpc_pb2.Compare.VERSION, result=_GREATER, version=0)

    def _guard(self, k: bytes, expected: int) -> _Msgs:
        compare = [self._exists(k)]
        if expected:
            compare.append(pb.rpc_pb2.Compare(key=k, target=pb.rpc_pb2.Compare.MOD, result=_EQUAL,
                                              mod_revision=expected))
        return compare

    def _failed(self, key: str, resp: Any) -> interface.StorageError:
        kvs = resp.responses[0].response_range.kvs if resp.responses else []
        if not kvs:
            return interface.KeyNotFoundError(key)
        return interface.ConflictError(key, self._kv_of(kvs[0]))

    async def create(self, key: str, value: bytes) -> int:
        k = self._key(key)
        resp = await self._txn(
            [pb.rpc_pb2.Compare(key=k, target=pb.rpc_pb2.Compare.CREATE, result=_EQUAL, create_revision=0)],
            [pb.RequestOp(request_put=pb.PutRequest(key=k, value=value))],
            [],
        )
        if not resp.succeeded:
            raise interface.KeyExistsError(key)
        return int(resp.header.revision)

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        k = self._key(key)
        compare = [self._exists(k), pb.rpc_pb2.Compare(key=k, target=pb.rpc_pb2.Compare.MOD, result=_EQUAL,
                                                        mod_revision=expected_revision)]
        resp = await self._txn(compare, [pb.RequestOp(request_put=pb.PutRequest(key=k, value=value))],
                               [pb.RequestOp(request_range=pb.RangeRequest(key=k))])
        if not resp.succeeded:
            raise self._failed(key, resp)
        return int(resp.header.revision)

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        k = self._key(key)
        resp = await self._txn(self._guard(k, expected_revision),
                               [pb.RequestOp(request_delete_range=pb.DeleteRangeRequest(key=k, prev_kv=True))],
                               [pb.RequestOp(request_range=pb.RangeRequest(key=k))])
        if not resp.succeeded:
            raise self._failed(key, resp)
        prev = resp.responses[0].response_delete_range.prev_kvs[0]
        return KeyValue(key, prev.value, prev.create_revision, int(resp.header.revision))

    # -- compaction ------------------------------------------------------------------------------

    async def compact(self, revision: int) -> None:
        async with self._compact_lock:
            if revision <= self._compacted:
                return
            try:
                kv = self._service()
                await self._call("compact", kv.compact(revision, timeout=self.request_timeout, max_attempts=1),
                                 revision=revision)
            except CompactedError:  # another server compacted at least this far
                pass
            self._note_compacted(revision)

    async def _compact_loop(self) -> None:
        while True:
            await asyncio.sleep(self.compact_interval)
            try:
                target = await self.current_revision() - self.keep_revisions
                if target > self._compacted:
                    await self.compact(target)
            except asyncio.CancelledError:
                raise
            except Exception:  # keep compacting later; the failure is logged, not fatal
                log.exception("etcd compaction failed")

    # -- watch -----------------------------------------------------------------------------------

    def _events(self, resp: Any) -> _Batch:
        out: _Batch = []
        for ev in resp.events:
            prev = self._kv_of(ev.prev_kv) if ev.HasField("prev_kv") and ev.prev_kv.key else None
            if ev.type == _DELETE:
                # etcd's delete event carries only the key and the delete's revision
                value, crev = (prev.value, prev.create_revision) if prev is not None else (b"", 0)
                kv = KeyValue(ev.kv.key[len(self._root):].decode(), value, crev, ev.kv.mod_revision)
                out.append(Event("DELETE", kv, prev))
            else:
                out.append(Event("PUT", self._kv_of(ev.kv), prev))
        return out

    async def watch(self, prefix: str, *, revision: int) -> AsyncIterator[_Batch]:
        if self._closed or self._watch_stub is None:
            raise interface.StorageError("storage backend is not running")
        if revision < self._compacted:
            raise CompactedError(revision, self._compacted)
        key = self._lo(prefix)
        range_end = self._range_end(prefix)
        last = revision  # every event up to ``last`` has been yielded
        failing_since: float | None = None
        backoff = 0.1
        while True:
            stop = asyncio.Event()

            async def requests(start: int = last + 1, stop: asyncio.Event = stop) -> AsyncIterator[Any]:
                create = pb.WatchCreateRequest(key=key, range_end=range_end, start_revision=start, prev_kv=True)
                yield pb.WatchRequest(create_request=create)
                await stop.wait()  # keep the stream open until the watch ends

            call = self._watch_stub.Watch(requests())
            self._calls.add(call)
            try:
                async for resp in call:
                    failing_since, backoff = None, 0.1
                    if resp.compact_revision:
                        self._note_compacted(resp.compact_revision)
                        raise CompactedError(last, resp.compact_revision)
                    if resp.canceled:
                        raise interface.StorageError(f"etcd cancelled the watch: {resp.cancel_reason}")
                    events = self._events(resp)
                    if events:
                        last = events[-1].kv.mod_revision
                        yield events
                if self._closed:
                    raise interface.StorageError("storage backend closed")
                log.warning("etcd watch on %r ended; resuming after revision %d", prefix, last)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if self._closed and (task is None or not task.cancelling()):
                    raise interface.StorageError("storage backend closed") from None
                raise
            except grpc.aio.AioRpcError as exc:
                if self._closed:
                    raise interface.StorageError("storage backend closed") from exc
                if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise interface.StorageError(f"etcd watch: {exc.code().name}: {exc.details()}") from exc
                now = time.monotonic()
                if failing_since is None:
                    failing_since = now
                    log.warning("etcd watch on %r lost (%s); resuming after revision %d", prefix, exc.details(), last)
                elif now - failing_since > self.watch_retry_for:
                    raise interface.StorageError(f"etcd watch: {exc.details()}") from exc
            finally:
                stop.set()
                call.cancel()
                self._calls.discard(call)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
