"""Controller expectations (upstream's ``ControllerExpectations``).

A controller that creates or deletes N pods must not act again on the same
owner until its informer has seen those N changes, or it would count stale
caches and create too many. ``expect(key, adds=, dels=)`` records what is
coming; the informer handlers call ``observed_add``/``observed_delete``;
``satisfied(key)`` is true once all have arrived or the record is older than
the TTL (a lost event must not stall the owner forever).
"""

from __future__ import annotations

import dataclasses

from kubeling.client import clock as clocklib

# Upstream's ExpectationsTimeout.
TTL = 300.0


@dataclasses.dataclass
class _Record:
    adds: int
    dels: int
    at: float


class Expectations:
    def __init__(self, clock: clocklib.Clock) -> None:
        self._clock = clock
        self._records: dict[str, _Record] = {}

    def expect(self, key: str, *, adds: int = 0, dels: int = 0) -> None:
        self._records[key] = _Record(adds, dels, self._clock.now())

    def lower(self, key: str, *, adds: int = 0, dels: int = 0) -> None:
        """Take back expectations for writes that failed (they will never be observed)."""
        rec = self._records.get(key)
        if rec is not None:
            rec.adds -= adds
            rec.dels -= dels

    def observed_add(self, key: str) -> None:
        self.lower(key, adds=1)

    def observed_delete(self, key: str) -> None:
        self.lower(key, dels=1)

    def satisfied(self, key: str) -> bool:
        rec = self._records.get(key)
        if rec is None:
            return True
        if rec.adds <= 0 and rec.dels <= 0:
            return True
        return self._clock.now() - rec.at > TTL

    def forget(self, key: str) -> None:
        self._records.pop(key, None)
