"""The TTL-after-finished controller (upstream's ``ttlafterfinished``).

A Job with ``spec.ttlSecondsAfterFinished`` is deleted that many seconds
after it got its Complete or Failed condition. ``reconcile`` asks to run
again when the TTL has yet to pass; when it has, it reads the Job afresh from
the server (the TTL may have been changed or removed meanwhile) and deletes
it with foreground propagation, as upstream does, guarded by its uid.
"""

from __future__ import annotations

import datetime
from typing import Any

from kubeling.client import rest
from kubeling.controllers import base, jobutil

Obj = dict[str, Any]


def expires_at(job: Obj) -> datetime.datetime | None:
    """When a finished Job's TTL runs out; None if it has no TTL, is not finished or is being deleted."""
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    if ttl is None or (job.get("metadata") or {}).get("deletionTimestamp"):
        return None
    finished = jobutil.finish_time(job)
    if finished is None:
        return None
    return finished + datetime.timedelta(seconds=ttl)


class TTLAfterFinishedController(base.Controller):
    NAME = "ttl-after-finished"
    WORKERS = 2

    def __init__(self, ctx: base.Context) -> None:
        super().__init__(ctx)
        self.jobs = self.informer(rest.JOBS)
        self.jobs.add_handler(on_add=self._changed, on_update=lambda _o, n: self._changed(n))

    def _changed(self, job: Obj) -> None:
        if expires_at(job) is not None:
            self.enqueue(job)

    def _left(self, job: Obj) -> float | None:
        at = expires_at(job)
        if at is None:
            return None
        return (at - self.ctx.now()).total_seconds()

    async def reconcile(self, key: str) -> float | None:
        cached = self.jobs.store.get(key)
        if cached is None:
            return None
        left = self._left(cached)
        if left is None:
            return None
        if left > 0:
            return left
        ns, name = cached["metadata"]["namespace"], cached["metadata"]["name"]
        try:
            fresh = await self.client.get(rest.JOBS, name, namespace=ns)
        except rest.NotFound:
            return None
        left = self._left(fresh)
        if left is None:
            return None
        if left > 0:
            return left
        self.log.debug("deleting job %s: ttlSecondsAfterFinished passed", key)
        try:
            await self.client.delete(rest.JOBS, name, namespace=ns, propagation_policy="Foreground",
                                     preconditions={"uid": fresh["metadata"]["uid"]})
        except (rest.NotFound, rest.Conflict):
            pass  # gone, or a new Job of that name (it gets its own pass)
        return None
