"""The storage contract: a small, etcd-shaped key/value store with revisions.

Every backend (the embedded SQLite log, etcd) implements :class:`Backend`.
Keys are strings such as ``/registry/core/pods/default/web-0``; values are the
JSON bytes of the stored object. Every write gets a new cluster-wide revision
(a strictly increasing integer); ``mod_revision`` of a key is the revision of
its last write and becomes the object's ``metadata.resourceVersion``.

Errors form one tree rooted at :class:`StorageError`; the API server translates
them into Kubernetes ``Status`` objects (409, 404, 410 ...).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Literal, NewType, Protocol

Revision = NewType("Revision", int)


@dataclasses.dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One change. For DELETE, ``kv.value`` is the last value before deletion
    and ``kv.mod_revision`` is the revision of the delete itself."""

    type: Literal["PUT", "DELETE"]
    kv: KeyValue
    prev: KeyValue | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ListResult:
    kvs: list[KeyValue]
    revision: int  # the revision the list was read at
    more: bool  # True when ``limit`` cut the result short


class StorageError(Exception):
    """Base of every storage failure."""


class KeyExistsError(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key exists: {key}")
        self.key = key


class KeyNotFoundError(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key not found: {key}")
        self.key = key


class ConflictError(StorageError):
    """The key's current mod_revision is not the expected one."""

    def __init__(self, key: str, current: KeyValue | None) -> None:
        super().__init__(f"revision conflict on {key}")
        self.key = key
        self.current = current


class CompactedError(StorageError):
    """The requested revision has been compacted away (-> 410 Gone)."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(f"required revision {requested} has been compacted (oldest available {compacted + 1})")
        self.requested = requested
        self.compacted = compacted


class FutureRevisionError(StorageError):
    """The requested revision is newer than the store's current revision."""

    def __init__(self, requested: int, current: int) -> None:
        super().__init__(f"required revision {requested} is in the future (current {current})")
        self.requested = requested
        self.current = current


class Backend(Protocol):
    """What the API server needs from a store. All methods are coroutines.

    ``revision=0`` means "latest". ``list`` returns keys in ascending order and
    starts at ``start_key`` (inclusive) so callers can page with a continue
    token. ``watch`` yields batches of events with revision > ``revision``
    (events of one transaction share a batch), in revision order, and raises
    :class:`CompactedError` if ``revision`` is older than the compacted one.
    """

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def get(self, key: str, *, revision: int = 0) -> KeyValue | None: ...

    async def list(
        self, prefix: str, *, revision: int = 0, limit: int = 0, start_key: str = ""
    ) -> ListResult: ...

    async def count(self, prefix: str) -> int: ...

    async def create(self, key: str, value: bytes) -> int:
        """Create ``key``; return the new revision. KeyExistsError if present."""
        ...

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> int:
        """Replace ``key`` if its mod_revision is ``expected_revision``.

        ConflictError (carrying the current value) otherwise; KeyNotFoundError if absent."""
        ...

    async def delete(self, key: str, *, expected_revision: int = 0) -> KeyValue:
        """Delete ``key`` (if ``expected_revision`` is set, only at that revision).

        Returns the deleted KeyValue with ``mod_revision`` set to the delete's revision."""
        ...

    def watch(self, prefix: str, *, revision: int) -> AsyncIterator[list[Event]]: ...

    async def current_revision(self) -> int: ...

    async def compacted_revision(self) -> int: ...

    async def compact(self, revision: int) -> None: ...
