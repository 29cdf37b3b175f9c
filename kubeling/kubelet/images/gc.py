"""Image garbage collection: keep the data directory's disk below a threshold.

:meth:`ImageGC.collect` measures the filesystem holding the image store. When
its usage reaches ``high`` percent (upstream's ``imageGCHighThresholdPercent``,
85) it removes unused images, least recently used first, until usage is at or
below ``low`` percent (``imageGCLowThresholdPercent``, 80), measuring again
after each removal. An image is in use when the ``in_use`` callable (sync or
async) names it — by image ID (config digest), manifest digest or reference:
the images of the runtime's containers, running or not. Images first seen less
than ``min_age`` seconds ago (``imageMinimumGCAge``, 2 minutes) are kept, so
an image pulled for a container not created yet is not taken away; no
collection runs while a pull into the store is under way (its blobs belong to
no image yet).

"Last used" is remembered in memory, as upstream's image manager does: each
collection (and :meth:`observe`) stamps the images in use with the clock. After
an agent restart every image starts unused-since-now and protected by
``min_age``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable

from kubeling.kubelet.images import puller
from kubeling.kubelet.images import store as storelib

log = logging.getLogger(__name__)

HIGH_THRESHOLD = 85
LOW_THRESHOLD = 80
MIN_AGE = 120.0
INTERVAL = 300.0  # upstream collects images every 5 minutes


@dataclasses.dataclass(frozen=True)
class Usage:
    capacity: int   # bytes of the filesystem
    available: int  # bytes an unprivileged writer may still use

    @property
    def percent(self) -> float:
        return 100.0 - self.available * 100.0 / self.capacity if self.capacity else 0.0


def disk_usage(path: str | os.PathLike[str]) -> Usage:
    st = os.statvfs(path)
    return Usage(capacity=st.f_blocks * st.f_frsize, available=st.f_bavail * st.f_frsize)


@dataclasses.dataclass
class Result:
    before: Usage
    after: Usage
    removed: list[str] = dataclasses.field(default_factory=list)  # image IDs, in removal order
    reached: bool = True  # False: every removable image went and usage is still above ``low``


@dataclasses.dataclass
class _Record:
    first_seen: float
    last_used: float


InUse = Callable[[], Iterable[str] | Awaitable[Iterable[str]]]


class ImageGC:
    def __init__(self, store: storelib.Store, in_use: InUse, *, high: int = HIGH_THRESHOLD,
                 low: int = LOW_THRESHOLD, min_age: float = MIN_AGE,
                 usage: Callable[[], Usage] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 <= low <= high <= 100:
            raise ValueError(f"image GC thresholds must satisfy 0 <= low ({low}) <= high ({high}) <= 100")
        self.store = store
        self.in_use = in_use
        self.high = high
        self.low = low
        self.min_age = min_age
        self.usage = usage or (lambda: disk_usage(store.root))
        self.clock = clock
        self._records: dict[str, _Record] = {}  # manifest digest -> record

    async def _used_names(self) -> set[str]:
        got = self.in_use()
        if inspect.isawaitable(got):
            got = await got
        return {str(x) for x in got}

    async def observe(self) -> list[storelib.Image]:
        """Refresh first-seen/last-used stamps; returns the images not in use."""
        images = await asyncio.to_thread(self.store.list)
        used = await self._used_names()
        now = self.clock()
        unused = []
        for img in images:
            rec = self._records.setdefault(img.manifest_digest, _Record(first_seen=now, last_used=0.0))
            if {img.id, img.manifest_digest, *img.references} & used:
                rec.last_used = now
            else:
                unused.append(img)
        present = {img.manifest_digest for img in images}
        for digest in [d for d in self._records if d not in present]:
            del self._records[digest]
        return unused

    async def collect(self, *, all_unused: bool = False) -> Result:
        """One collection (see the module docstring). ``all_unused``: every unused image old
        enough goes, whatever the thresholds (the eviction manager's reclaim under disk
        pressure, upstream's DeleteUnusedImages)."""
        before = await asyncio.to_thread(self.usage)
        result = Result(before=before, after=before)
        low = 0 if all_unused else self.low
        if (before.percent < self.high and not all_unused) or puller.pulling(self.store):
            return result
        unused = await self.observe()
        now = self.clock()
        candidates = [img for img in unused if now - self._records[img.manifest_digest].first_seen >= self.min_age]
        candidates.sort(key=lambda img: (self._records[img.manifest_digest].last_used,
                                         self._records[img.manifest_digest].first_seen))
        usage = before
        for img in candidates:
            if usage.percent <= low:
                break
            try:
                await asyncio.to_thread(self.store.remove, img.manifest_digest)
            except storelib.NotFound:
                continue  # removed meanwhile (kubeling image rm)
            result.removed.append(img.id)
            self._records.pop(img.manifest_digest, None)
            log.info("image GC removed %s (%s)", ", ".join(img.references) or img.manifest_digest, img.id)
            usage = await asyncio.to_thread(self.usage)
        result.after = usage
        result.reached = usage.percent <= low
        if not result.reached and not all_unused:
            log.warning("image GC: disk usage %.0f%% is still above %d%% with no unused image left to remove",
                        usage.percent, self.low)
        return result

    async def run(self, *, interval: float = INTERVAL) -> None:
        """Stamp usage and collect every ``interval`` seconds until cancelled."""
        while True:
            try:
                await self.observe()
                await self.collect()
            except (OSError, storelib.ImageError):
                log.exception("image GC failed")
            await asyncio.sleep(interval)
