"""The Job controller (upstream's ``pkg/controller/job``).

One ``reconcile(namespace/name)`` brings a Job's pods and status in line:

* claims pods by the Job's selector (adopting orphans, with the tracking
  finalizer; releasing pods that stopped matching);
* counts finished pods exactly once, as upstream does with the
  ``batch.kubernetes.io/job-tracking`` finalizer: a finished pod's uid is
  first written to ``status.uncountedTerminatedPods``, then its finalizer is
  removed, then the uid moves into ``succeeded``/``failed``;
* keeps ``min(parallelism, remaining completions)`` pods active (Indexed Jobs:
  one pod per pending index, lowest first), waiting out the pod failure backoff
  (10s doubling, capped at 10 minutes) by requeueing, never sleeping;
* fails the Job on ``backoffLimit``, ``activeDeadlineSeconds`` or a
  ``podFailurePolicy`` FailJob rule, and completes it on reaching its
  completions: first the FailureTarget / SuccessCriteriaMet condition (active
  pods are deleted), then Failed / Complete once no pod is left running;
* deletes active pods while ``suspend`` is set (condition Suspended).

Pods whose Job is gone lose their tracking finalizer (keys ``pod:<ns>/<name>``).
"""

from __future__ import annotations

import asyncio
import copy
import datetime
from typing import Any

from kubeling.client import informer as informerlib
from kubeling.client import rest
from kubeling.controllers import base, events, expectations, jobsync, jobutil, podutil
from kubeling.lib import timeutil

Obj = dict[str, Any]
JOB_UID_INDEX = "job-controller-uid"
POD_KEY = "pod:"
# Upstream's MaxPodCreateDeletePerSync.
MAX_CHANGES_PER_SYNC = 500
REMOVE_FINALIZER = {"metadata": {"$deleteFromPrimitiveList/finalizers": [jobutil.TRACKING_FINALIZER]}}


def _job_uid_index(pod: Obj) -> list[str]:
    ref = podutil.controller_ref(pod)
    return [ref["uid"]] if ref and ref.get("kind") == "Job" and ref.get("uid") else []


def _uid(obj: Obj) -> str:
    return str(obj["metadata"].get("uid", ""))


def _has_finalizer(pod: Obj) -> bool:
    return jobutil.TRACKING_FINALIZER in ((pod.get("metadata") or {}).get("finalizers") or [])


class JobController(base.Controller):
    NAME = "job"
    WORKERS = 4

    def __init__(self, ctx: base.Context) -> None:
        super().__init__(ctx)
        self.jobs = self.informer(rest.JOBS)
        self.pods = self.informer(rest.PODS, indexers={JOB_UID_INDEX: _job_uid_index})
        self.expectations = expectations.Expectations(ctx.clock)
        # job key -> uids whose finalizer removal is written but not yet seen
        self._removing: dict[str, set[str]] = {}
        # job key -> (failures since the last success, time of the last failure)
        self._backoff: dict[str, tuple[int, datetime.datetime]] = {}
        self.jobs.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                              on_delete=self._job_deleted)
        self.pods.add_handler(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)

    # ---- event handlers: enqueue keys only ------------------------------------------

    def _job_deleted(self, obj: Obj | informerlib.Tombstone) -> None:
        key = informerlib.key_of(obj)
        self.expectations.forget(key)
        self._removing.pop(key, None)
        self._backoff.pop(key, None)
        # Its pods would keep the tracking finalizer forever: release them.
        for pod in self.pods.store.by_index(JOB_UID_INDEX, _uid(informerlib.object_of(obj))):
            if _has_finalizer(pod):
                self.queue.add(POD_KEY + informerlib.key_of(pod))

    def _owner_key(self, pod: Obj) -> str | None:
        ref = podutil.controller_ref(pod)
        if ref is None or ref.get("kind") != "Job":
            return None
        return f"{pod['metadata']['namespace']}/{ref['name']}"

    def _enqueue_owner(self, pod: Obj) -> str | None:
        key = self._owner_key(pod)
        if key is None:
            if podutil.controller_ref(pod) is None:
                if _has_finalizer(pod):
                    self.queue.add(POD_KEY + informerlib.key_of(pod))
                # An orphan: every Job in the namespace that selects it may adopt it.
                for job in self.jobs.store.list(namespace=pod["metadata"]["namespace"]):
                    if podutil.matches(podutil.selector_of(job), pod):
                        self.enqueue(job)
            return None
        owner = self.jobs.store.get(key)
        if owner is None or _uid(owner) != podutil.controller_ref(pod)["uid"]:  # type: ignore[index]
            if _has_finalizer(pod):
                self.queue.add(POD_KEY + informerlib.key_of(pod))
            return None
        self.queue.add(key)
        return key

    def _pod_added(self, pod: Obj) -> None:
        key = self._enqueue_owner(pod)
        if key is not None:
            self.expectations.observed_add(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        key = self._enqueue_owner(new)
        if key is not None:
            if podutil.is_terminating(new) and not podutil.is_terminating(old):
                self.expectations.observed_delete(key)
            if not _has_finalizer(new):
                self._removing.get(key, set()).discard(_uid(new))
        old_key = self._owner_key(old)
        if old_key is not None and old_key != key:
            self.queue.add(old_key)

    def _pod_deleted(self, obj: Obj | informerlib.Tombstone) -> None:
        pod = informerlib.object_of(obj)
        key = self._owner_key(pod)
        if key is None:
            return
        if not podutil.is_terminating(pod):
            self.expectations.observed_delete(key)
        self._removing.get(key, set()).discard(_uid(pod))
        self.queue.add(key)

    # ---- reconcile ------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        if key.startswith(POD_KEY):
            await self._release_orphan(key[len(POD_KEY):])
            return None
        cached = self.jobs.store.get(key)
        if cached is None:
            return None
        if not self.expectations.satisfied(key):
            return None  # the pending pod events requeue the Job
        job = copy.deepcopy(cached)
        pods = await self._claim(job)
        if jobutil.is_finished(job):
            await self._remove_finalizers(key, [p for p in pods if _has_finalizer(p)])
            return None
        return await self._sync(key, job, pods)

    async def _release_orphan(self, pod_key: str) -> None:
        """Drop the tracking finalizer of a pod whose Job is gone (or no longer owns it)."""
        pod = self.pods.store.get(pod_key)
        if pod is None or not _has_finalizer(pod):
            return
        ref = podutil.controller_ref(pod)
        ns = pod["metadata"]["namespace"]
        if ref is not None and ref.get("kind") == "Job":
            try:
                job = await self.client.get(rest.JOBS, ref["name"], namespace=ns)
                if _uid(job) == ref.get("uid"):
                    self.queue.add(f"{ns}/{ref['name']}")
                    return
            except rest.NotFound:
                pass
        try:
            await self.client.patch(rest.PODS, pod["metadata"]["name"], REMOVE_FINALIZER, namespace=ns,
                                    patch_type="strategic")
        except rest.NotFound:
            pass

    async def _claim(self, job: Obj) -> list[Obj]:
        """The Job's pods, after adopting matching orphans and releasing the rest."""
        ns = job["metadata"]["namespace"]
        selector = podutil.selector_of(job)
        candidates = self.pods.store.list(namespace=ns)
        owned, adopt, release = podutil.claim(candidates, job, selector)
        if adopt:
            # Adopt only for the Job we think we have (upstream's fresh uid check).
            fresh = await self.client.get(rest.JOBS, job["metadata"]["name"], namespace=ns)
            if _uid(fresh) != _uid(job) or podutil.is_terminating(fresh):
                adopt = []
        for pod in adopt:
            patch = podutil.adopt_patch(pod, job)
            # Adopted pods are tracked like our own (upstream patches both at once).
            patch["metadata"]["finalizers"] = [jobutil.TRACKING_FINALIZER]
            try:
                owned.append(await self.client.patch(rest.PODS, pod["metadata"]["name"], patch, namespace=ns,
                                                     patch_type="strategic"))
            except (rest.NotFound, rest.Invalid, rest.Conflict):
                continue  # gone or changed: the next event brings it back
        for pod in release:
            patch = podutil.release_patch(pod, job)
            patch["metadata"]["$deleteFromPrimitiveList/finalizers"] = [jobutil.TRACKING_FINALIZER]
            try:
                await self.client.patch(rest.PODS, pod["metadata"]["name"], patch, namespace=ns,
                                        patch_type="strategic")
            except (rest.NotFound, rest.Invalid, rest.Conflict):
                continue
        return owned

    async def _sync(self, key: str, job: Obj, pods: list[Obj]) -> float | None:
        return await jobsync.Pass(self, key, job, pods).run()

    # ---- writes used by the pass ---------------------------------------------------------

    async def _remove_finalizers(self, key: str, pods: list[Obj]) -> set[str]:
        """Remove the tracking finalizer; the uids whose removal was written (or moot)."""
        if not pods:
            return set()
        removing = self._removing.setdefault(key, set())

        async def one(pod: Obj) -> str | None:
            uid = _uid(pod)
            removing.add(uid)
            try:
                await self.client.patch(rest.PODS, pod["metadata"]["name"], REMOVE_FINALIZER,
                                        namespace=pod["metadata"]["namespace"], patch_type="strategic")
            except rest.NotFound:
                return uid
            except rest.ApiError:
                removing.discard(uid)
                return None
            return uid

        done = await asyncio.gather(*(one(p) for p in pods))
        return {u for u in done if u}

    async def _create_pods(self, job: Obj, key: str, indexes: list[int | None], *,
                           failures: dict[int, int] | None = None) -> int:
        """Create one pod per entry (an index, or None for NonIndexed); how many were
        made. ``failures``: per index, the failures so far (backoffLimitPerIndex)."""
        if not indexes:
            return 0
        self.expectations.expect(key, adds=len(indexes))
        ns = job["metadata"]["namespace"]

        async def one(index: int | None) -> bool:
            try:
                count = (failures or {}).get(index, 0) if index is not None else 0
                pod = await self.client.create(rest.PODS, jobutil.new_pod(job, index=index, failures=count),
                                               namespace=ns)
            except rest.ApiError as exc:
                self.expectations.lower(key, adds=1)
                if not isinstance(exc, rest.Forbidden) or "being terminated" not in str(exc):
                    self.recorder.event(job, events.WARNING, "FailedCreate", f"Error creating: {exc}")
                return False
            self.recorder.event(job, events.NORMAL, "SuccessfulCreate", f"Created pod: {pod['metadata']['name']}")
            return True

        return sum(await asyncio.gather(*(one(i) for i in indexes)))

    async def _delete_pods(self, job: Obj, key: str, pods: list[Obj], *, keep_finalizer: bool) -> int:
        """Delete pods. A finishing Job keeps their finalizers so they are counted
        (as failures); pods removed to scale down or suspend lose the finalizer
        first, as upstream, and do not count."""
        if not pods:
            return 0
        self.expectations.expect(key, dels=len(pods))

        async def one(pod: Obj) -> bool:
            md = pod["metadata"]
            try:
                if not keep_finalizer and _has_finalizer(pod):
                    self._removing.setdefault(key, set()).add(md["uid"])
                    await self.client.patch(rest.PODS, md["name"], REMOVE_FINALIZER, namespace=md["namespace"],
                                            patch_type="strategic")
                await self.client.delete(rest.PODS, md["name"], namespace=md["namespace"],
                                         preconditions={"uid": md["uid"]})
            except rest.NotFound:
                self.expectations.lower(key, dels=1)
                return True
            except rest.ApiError as exc:
                self.expectations.lower(key, dels=1)
                self._removing.get(key, set()).discard(md["uid"])
                self.recorder.event(job, events.WARNING, "FailedDelete", f"Error deleting: {exc}")
                return False
            self.recorder.event(job, events.NORMAL, "SuccessfulDelete", f"Deleted pod: {md['name']}")
            return True

        return sum(await asyncio.gather(*(one(p) for p in pods)))

    def now(self) -> datetime.datetime:
        return self.ctx.now()

    def stamp(self) -> str:
        return timeutil.rfc3339(self.ctx.now())
