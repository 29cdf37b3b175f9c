"""The CronJob controller (upstream's ``cronjob_controllerv2``).

``reconcile(namespace/name)`` for one CronJob:

* reconciles ``status.active`` with the Jobs it controls (finished Jobs leave
  the list and set ``lastSuccessfulTime``; vanished ones leave with a
  MissingJob event);
* finds the most recent schedule time that has passed since the last one
  (``lastScheduleTime``, else the CronJob's creation, and never before
  ``now - startingDeadlineSeconds``), warning when over 100 were missed;
* unless suspended, too late, already started, or forbidden by
  ``concurrencyPolicy`` (Forbid skips while a Job runs; Replace deletes the
  running ones first), creates the Job ``<cronjob>-<minutes since epoch>``
  with the ``batch.kubernetes.io/cronjob-scheduled-timestamp`` annotation;
* deletes the oldest finished Jobs beyond the history limits;
* asks to run again just after the next schedule time.

Time comes from ``Context.now`` (wall time, in the CronJob's ``timeZone``)
and requeues go through ``Context.clock``, so tests move time without waiting.
"""

from __future__ import annotations

import copy
import datetime
import zoneinfo
from typing import Any

from kubeling.api.kinds import batch
from kubeling.client import informer as informerlib
from kubeling.client import rest
from kubeling.controllers import base, events, jobutil, podutil
from kubeling.lib import timeutil

Obj = dict[str, Any]
SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
# Upstream requeues this long after the next schedule time, so it is surely past.
NEXT_SCHEDULE_DELTA = 0.1
MAX_MISSED = 100


def job_name(cronjob: Obj, scheduled: datetime.datetime) -> str:
    return f"{cronjob['metadata']['name']}-{int(scheduled.timestamp()) // 60}"


def job_ref(job: Obj) -> Obj:
    md = job["metadata"]
    return {"apiVersion": "batch/v1", "kind": "Job", "name": md["name"], "namespace": md["namespace"],
            "uid": md["uid"], "resourceVersion": md.get("resourceVersion", "")}


def most_recent(schedule: batch.Schedule, earliest: datetime.datetime,
                now: datetime.datetime) -> tuple[datetime.datetime | None, int]:
    """The latest schedule time in (earliest, now] and how many there were
    (counting stops past ``MAX_MISSED``); (None, 0) when none has passed."""
    t1 = schedule.next_after(earliest)
    if t1 > now:
        return None, 0
    if schedule.every_seconds:
        step = schedule.every_seconds
        count = int((now - t1).total_seconds() // step) + 1
        return t1 + datetime.timedelta(seconds=step * (count - 1)), count
    count, t = 0, t1
    while t <= now and count <= MAX_MISSED:
        count += 1
        t = schedule.next_after(t)
    return schedule.last_at_or_before(now), count


def _finished_condition(job: Obj) -> str | None:
    for ctype in (jobutil.COMPLETE, jobutil.FAILED):
        if jobutil.has_condition(job, ctype):
            return ctype
    return None


class CronJobController(base.Controller):
    NAME = "cronjob"
    WORKERS = 2

    def __init__(self, ctx: base.Context) -> None:
        super().__init__(ctx)
        self.cronjobs = self.informer(rest.CRONJOBS)
        self.jobs = self.informer(rest.JOBS)
        self.cronjobs.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n))
        self.jobs.add_handler(on_add=self._job_changed, on_update=lambda _o, n: self._job_changed(n),
                              on_delete=self._job_changed)

    def _job_changed(self, obj: Obj | informerlib.Tombstone) -> None:
        job = informerlib.object_of(obj)
        ref = podutil.controller_ref(job)
        if ref and ref.get("kind") == "CronJob":
            self.queue.add(f"{job['metadata']['namespace']}/{ref['name']}")

    async def reconcile(self, key: str) -> float | None:
        cached = self.cronjobs.store.get(key)
        if cached is None:
            return None
        ns = cached["metadata"]["namespace"]
        jobs = [j for j in self.jobs.store.list(namespace=ns) if podutil.owned_by(j, cached)]
        listed = {r.get("uid") for r in (cached.get("status") or {}).get("active") or []}
        if any(_finished_condition(j) is None and j["metadata"]["uid"] not in listed for j in jobs):
            # A Job we just made may be missing from a cached status: read it afresh
            # before calling the Job unexpected (as upstream does).
            try:
                cached = await self.client.get(rest.CRONJOBS, cached["metadata"]["name"], namespace=ns)
            except rest.NotFound:
                return None
        cj = copy.deepcopy(cached)
        status: Obj = cj.setdefault("status", {})
        original = copy.deepcopy(status)
        await self._track(cj, jobs)
        requeue = await self._schedule(cj)
        if status != original:
            body = copy.deepcopy(cached)
            body["status"] = status
            try:
                await self.client.update_status(rest.CRONJOBS, body)
            except rest.NotFound:
                return None
        await self._cleanup(cj, jobs)
        return requeue

    async def _track(self, cj: Obj, jobs: list[Obj]) -> None:
        """Bring status.active and lastSuccessfulTime in line with the Jobs."""
        status = cj["status"]
        active: list[Obj] = list(status.get("active") or [])
        active_uids = {r.get("uid") for r in active}
        uids = set()
        for job in jobs:
            uid = job["metadata"]["uid"]
            uids.add(uid)
            finished = _finished_condition(job)
            if finished is None and uid not in active_uids:
                self.recorder.event(cj, events.WARNING, "UnexpectedJob",
                                    f"Saw a job that the controller did not create or forgot: {job['metadata']['name']}")
            elif finished is not None and uid in active_uids:
                active = [r for r in active if r.get("uid") != uid]
                self.recorder.event(cj, events.NORMAL, "SawCompletedJob",
                                    f"Saw completed job: {job['metadata']['name']}, condition: {finished}")
            if finished == jobutil.COMPLETE:
                done = timeutil.parse((job.get("status") or {}).get("completionTime") or "")
                last = timeutil.parse(status.get("lastSuccessfulTime") or "")
                if done is not None and (last is None or done > last):
                    status["lastSuccessfulTime"] = timeutil.rfc3339(done)
        for ref in list(active):
            if ref.get("uid") in uids:
                continue
            # The cache may lag a Job we just made: ask the server before forgetting it.
            try:
                fresh = await self.client.get(rest.JOBS, ref["name"], namespace=cj["metadata"]["namespace"])
                if fresh["metadata"]["uid"] == ref.get("uid"):
                    continue
            except rest.NotFound:
                pass
            self.recorder.event(cj, events.NORMAL, "MissingJob", f"Active job went missing: {ref['name']}")
            active = [r for r in active if r.get("uid") != ref.get("uid")]
        if active:
            status["active"] = active
        else:
            status.pop("active", None)

    def _zone(self, cj: Obj, schedule: batch.Schedule) -> datetime.tzinfo | None:
        name = (cj.get("spec") or {}).get("timeZone") or schedule.time_zone
        if not name:
            return datetime.UTC
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.recorder.event(cj, events.WARNING, "UnknownTimeZone", f"invalid timeZone: {name!r}")
            return None

    async def _schedule(self, cj: Obj) -> float | None:
        spec, status, md = cj.get("spec") or {}, cj["status"], cj["metadata"]
        if md.get("deletionTimestamp") or spec.get("suspend"):
            return None
        try:
            schedule = batch.parse_schedule(spec.get("schedule") or "")
        except batch.ScheduleError as exc:
            self.recorder.event(cj, events.WARNING, "InvalidSchedule",
                                f"invalid schedule: {spec.get('schedule')} : {exc}")
            return None
        zone = self._zone(cj, schedule)
        if zone is None:
            return None
        now = self.ctx.now().astimezone(zone)
        earliest = (timeutil.parse(status.get("lastScheduleTime") or "")
                    or timeutil.parse(md.get("creationTimestamp") or "") or now).astimezone(zone)
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None:
            earliest = max(earliest, now - datetime.timedelta(seconds=deadline))
        scheduled, missed = most_recent(schedule, earliest, now)

        def next_run() -> float:
            base_time = scheduled or earliest
            return (schedule.next_after(base_time) - now).total_seconds() + NEXT_SCHEDULE_DELTA

        if scheduled is None:
            return next_run()
        if missed > MAX_MISSED:
            self.recorder.event(cj, events.WARNING, "TooManyMissedTimes",
                                f"too many missed start times: {missed}. Set or decrease "
                                ".spec.startingDeadlineSeconds or check clock skew")
        if deadline is not None and scheduled + datetime.timedelta(seconds=deadline) < now:
            self.recorder.event(cj, events.WARNING, "MissSchedule",
                                f"Missed scheduled time to start a job: {scheduled.isoformat()}")
            return next_run()
        name = job_name(cj, scheduled)
        active: list[Obj] = list(status.get("active") or [])
        last = timeutil.parse(status.get("lastScheduleTime") or "")
        if any(r.get("name") == name for r in active) or (last is not None and last == scheduled):
            return next_run()
        policy = spec.get("concurrencyPolicy") or "Allow"
        if policy == "Forbid" and active:
            self.recorder.event(cj, events.NORMAL, "JobAlreadyActive",
                                "Not starting job because prior execution is running and concurrency policy is Forbid")
            return next_run()
        if policy == "Replace":
            for ref in active:
                try:
                    await self.client.delete(rest.JOBS, ref["name"], namespace=md["namespace"],
                                             propagation_policy="Background")
                except rest.NotFound:
                    pass
                self.recorder.event(cj, events.NORMAL, "SuccessfulDelete", f"Deleted job {ref['name']}")
            active = []
            status.pop("active", None)
        job = self._job_from_template(cj, name, scheduled)
        try:
            created = await self.client.create(rest.JOBS, job, namespace=md["namespace"])
        except rest.AlreadyExists:
            # Made by an earlier pass whose status this (stale) copy does not show yet.
            existing = await self.client.get(rest.JOBS, name, namespace=md["namespace"])
            if not podutil.owned_by(existing, cj):
                raise
            if _finished_condition(existing) is None:
                status["active"] = active + [job_ref(existing)]
            status["lastScheduleTime"] = timeutil.rfc3339(scheduled)
            return next_run()
        except rest.ApiError as exc:
            self.recorder.event(cj, events.WARNING, "FailedCreate", f"Error creating job: {exc}")
            raise
        self.recorder.event(cj, events.NORMAL, "SuccessfulCreate", f"Created job {name}")
        status["active"] = active + [job_ref(created)]
        status["lastScheduleTime"] = timeutil.rfc3339(scheduled)
        return next_run()

    def _job_from_template(self, cj: Obj, name: str, scheduled: datetime.datetime) -> Obj:
        template = (cj.get("spec") or {}).get("jobTemplate") or {}
        tmd = template.get("metadata") or {}
        annotations = dict(tmd.get("annotations") or {})
        annotations[SCHEDULED_TIMESTAMP] = scheduled.isoformat().replace("+00:00", "Z")
        md: Obj = {"name": name, "namespace": cj["metadata"]["namespace"],
                   "labels": dict(tmd.get("labels") or {}), "annotations": annotations,
                   "ownerReferences": [podutil.owner_reference(cj)]}
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": md,
                "spec": copy.deepcopy(template.get("spec") or {})}

    async def _cleanup(self, cj: Obj, jobs: list[Obj]) -> None:
        """Delete the oldest finished Jobs past the history limits."""
        spec = cj.get("spec") or {}
        for ctype, limit in ((jobutil.COMPLETE, spec.get("successfulJobsHistoryLimit")),
                             (jobutil.FAILED, spec.get("failedJobsHistoryLimit"))):
            if limit is None:
                continue
            done = [j for j in jobs if _finished_condition(j) == ctype]
            if len(done) <= limit:
                continue

            def started(j: Obj) -> tuple[int, str, str]:
                # Upstream's byJobStartTime: Jobs without a start time sort last.
                start = (j.get("status") or {}).get("startTime")
                return (0 if start else 1, start or "", j["metadata"]["name"])

            for job in sorted(done, key=started)[:len(done) - limit]:
                try:
                    await self.client.delete(rest.JOBS, job["metadata"]["name"],
                                             namespace=job["metadata"]["namespace"], propagation_policy="Background")
                except rest.NotFound:
                    continue
                self.recorder.event(cj, events.NORMAL, "SuccessfulDelete", f"Deleted job {job['metadata']['name']}")
