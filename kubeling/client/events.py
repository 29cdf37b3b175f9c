"""Event recording as upstream's ``record.EventRecorder`` does it.

``Recorder.event(obj, type, reason, message)`` returns at once; a background
task writes core/v1 Events. Repeats of the same (object, type, reason,
message, source) within the cache's lifetime are aggregated: the existing
Event's ``count`` and ``lastTimestamp`` are bumped with a patch instead of a
new object being created, so a crash-looping controller cannot flood the
store. Event names are ``<object name>.<hex nanoseconds>`` as upstream.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any

from kubeling.client import rest
from kubeling.lib import timeutil

Obj = dict[str, Any]
log = logging.getLogger("kubeling.controllers.events")

NORMAL = "Normal"
WARNING = "Warning"
# Upstream keeps 4096 aggregation entries (an LRU); so do we.
_CACHE_SIZE = 4096
# Pending writes above this are dropped (upstream's broadcaster queue is 1000 deep).
_QUEUE_SIZE = 1000


def reference(obj: Obj) -> Obj:
    """An ObjectReference to ``obj`` (the Event's involvedObject)."""
    md = obj.get("metadata") or {}
    ref = {"kind": obj.get("kind", ""), "apiVersion": obj.get("apiVersion", ""), "name": md.get("name", ""),
           "uid": md.get("uid", ""), "resourceVersion": md.get("resourceVersion", "")}
    if md.get("namespace"):
        ref["namespace"] = md["namespace"]
    return ref


class Recorder:
    """Records Events for one component (``source.component``), optionally for a host."""

    def __init__(self, client: rest.Client, component: str, *, host: str = "") -> None:
        self.client = client
        self.source: Obj = {"component": component, **({"host": host} if host else {})}
        self._queue: asyncio.Queue[tuple[Obj, str, str, str]] = asyncio.Queue(_QUEUE_SIZE)
        # aggregation key -> (namespace, event name, count)
        self._seen: collections.OrderedDict[tuple[str, ...], tuple[str, str, int]] = collections.OrderedDict()
        self._task: asyncio.Task[None] | None = None

    def event(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        """Queue an Event about ``obj``; never blocks, never raises."""
        if self._task is None or self._task.done():
            try:
                self._task = asyncio.get_running_loop().create_task(self._run(), name="event-recorder")
            except RuntimeError:
                return
        try:
            self._queue.put_nowait((reference(obj), type_, reason, message))
        except asyncio.QueueFull:
            log.debug("event queue full, dropping %s %s", reason, message)

    def eventf(self, obj: Obj, type_: str, reason: str, fmt: str, *args: Any) -> None:
        self.event(obj, type_, reason, fmt % args if args else fmt)

    async def flush(self) -> None:
        """Wait until every queued Event is written (tests)."""
        await self._queue.join()

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            ref, type_, reason, message = await self._queue.get()
            try:
                await self._write(ref, type_, reason, message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - events are best effort, as upstream
                log.debug("writing event %s for %s failed: %s", reason, ref.get("name"), exc)
            finally:
                self._queue.task_done()

    async def _write(self, ref: Obj, type_: str, reason: str, message: str) -> None:
        namespace = ref.get("namespace") or "default"
        key = (namespace, ref.get("kind", ""), ref.get("name", ""), ref.get("uid", ""), type_, reason, message,
               self.source["component"], self.source.get("host", ""))
        now = timeutil.rfc3339()
        seen = self._seen.get(key)
        if seen is not None:
            ns, name, count = seen
            try:
                await self.client.patch(rest.EVENTS, name, {"count": count + 1, "lastTimestamp": now},
                                        namespace=ns)
                self._seen[key] = (ns, name, count + 1)
                self._seen.move_to_end(key)
                return
            except rest.NotFound:
                del self._seen[key]
        name = f"{ref.get('name') or 'event'}.{time.time_ns():x}"
        body = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": ref, "reason": reason, "message": message[:1024], "type": type_,
            "source": self.source, "count": 1, "firstTimestamp": now, "lastTimestamp": now,
            "reportingComponent": self.source["component"], "reportingInstance": self.source.get("host", ""),
        }
        await self.client.create(rest.EVENTS, body, namespace=namespace)
        self._seen[key] = (namespace, name, 1)
        if len(self._seen) > _CACHE_SIZE:
            self._seen.popitem(last=False)
