"""One Job controller pass over a Job and its claimed pods (see job.py for the contract).

The pass reads the Job (a private copy) and its pods from the cache, then:
1. finds pods that finished since the last pass and records their uids in
   ``status.uncountedTerminatedPods`` (written before anything else, so a
   crash cannot lose or double a count);
2. decides whether the Job has met its success criteria or must fail, and
   adds SuccessCriteriaMet / FailureTarget;
3. creates or deletes pods toward the wanted number of active pods;
4. removes the tracking finalizer of the finished pods, moves their uids into
   the ``succeeded``/``failed`` counters, and once no pod is left running
   turns the target condition into Complete / Failed.
"""

from __future__ import annotations

import copy
import datetime
from typing import TYPE_CHECKING, Any

from kubeling.client import rest
from kubeling.controllers import events, jobutil, podutil
from kubeling.lib import timeutil

if TYPE_CHECKING:
    from kubeling.controllers import job as joblib

Obj = dict[str, Any]
_TERMINAL = ("Succeeded", "Failed")
MAX_CHANGES_PER_SYNC = 500
# Upstream's MaxUncountedPods: keeps status.uncountedTerminatedPods small.
MAX_UNCOUNTED = 500


def _uid(obj: Obj) -> str:
    return str(obj["metadata"].get("uid", ""))


def _has_finalizer(pod: Obj) -> bool:
    return jobutil.TRACKING_FINALIZER in ((pod.get("metadata") or {}).get("finalizers") or [])


class Pass:
    def __init__(self, ctrl: joblib.JobController, key: str, job: Obj, pods: list[Obj]) -> None:
        self.ctrl = ctrl
        self.key = key
        self.job = job
        self.pods = pods
        self.spec: Obj = job.get("spec") or {}
        self.status: Obj = copy.deepcopy(job.get("status") or {})
        self.indexed = self.spec.get("completionMode") == "Indexed"
        self.completions: int | None = self.spec.get("completions")
        self.parallelism: int = self.spec.get("parallelism") or 0
        self.now = ctrl.now()
        self.requeue: float | None = None
        # Events about the Job's status, recorded once that status is written.
        self.events: list[tuple[str, str, str]] = []
        self.per_index = self.indexed and self.spec.get("backoffLimitPerIndex") is not None
        self.failed_indexes = (jobutil.parse_intervals(self.status.get("failedIndexes"), self.completions or 0)
                               if self.per_index else set())

    def _later(self, seconds: float) -> None:
        self.requeue = seconds if self.requeue is None else min(self.requeue, seconds)

    async def run(self) -> float | None:
        job, status, now = self.job, self.status, self.now
        unc = status.get("uncountedTerminatedPods") or {}
        unc_succ: list[str] = list(unc.get("succeeded") or [])
        unc_fail: list[str] = list(unc.get("failed") or [])
        before = (list(unc_succ), list(unc_fail))
        removing = self.ctrl._removing.get(self.key, set())
        completions = self.completions or 0
        completed = jobutil.parse_intervals(status.get("completedIndexes"), completions) if self.indexed else set()
        before_completed = set(completed)
        deleting_job = podutil.is_terminating(job)

        def full() -> bool:
            return len(unc_succ) + len(unc_fail) + len(completed - before_completed) >= MAX_UNCOUNTED

        # 1. newly finished pods
        fail_msg: str | None = None
        failures: list[datetime.datetime] = []
        succeeded_now = False
        unfinalize: list[Obj] = []
        for pod in self.pods:
            uid = _uid(pod)
            if not _has_finalizer(pod) or uid in removing:
                continue
            if full():
                break  # the rest on the next pass, as upstream's MaxUncountedPods
            phase = podutil.phase(pod)
            ix = jobutil.completion_index(pod) if self.indexed else None
            if phase == "Succeeded" and uid not in unc_fail:
                if self.indexed:
                    # The index alone keeps an Indexed Job from counting a pod twice.
                    if ix is not None and ix < completions and ix not in completed:
                        completed.add(ix)
                        succeeded_now = True
                elif uid not in unc_succ:
                    unc_succ.append(uid)
                    succeeded_now = True
                unfinalize.append(pod)
            elif jobutil.is_failed(pod, job):
                in_range = not self.indexed or (ix is not None and ix < completions)
                if uid not in unc_fail and in_range:
                    action, msg = jobutil.match_failure_policy(job, pod)
                    if action == "FailJob" and fail_msg is None:
                        fail_msg = msg
                    if action != "Ignore":
                        unc_fail.append(uid)
                        failures.append(jobutil.failure_time(pod, now))
                        limit = int(self.spec.get("backoffLimitPerIndex") or 0)
                        if self.per_index and ix is not None and (
                                action == "FailIndex" or jobutil.failure_count(pod) + 1 > limit):
                            self.failed_indexes.add(ix)
                unfinalize.append(pod)
            elif deleting_job:
                unfinalize.append(pod)
        self._record_backoff(succeeded_now=succeeded_now, failures=failures)

        succeeded = len(completed) if self.indexed else (status.get("succeeded") or 0) + len(unc_succ)
        failed = (status.get("failed") or 0) + len(unc_fail)
        active = [p for p in self.pods if podutil.is_active(p)]
        terminating = [p for p in self.pods if podutil.is_terminating(p) and podutil.phase(p) not in _TERMINAL]
        if not deleting_job and not self.spec.get("suspend") and not status.get("startTime"):
            status["startTime"] = timeutil.rfc3339(now)

        # 2. failure, or 3. pods and then success
        target = self._target()
        if target is None and not deleting_job:
            target = self._failure(fail_msg=fail_msg, failed=failed, active=active, completed=completed)
            if target is not None:
                jobutil.set_condition(status, *target, now)
        created = deleted = 0
        if target is not None:
            deleted = await self.ctrl._delete_pods(job, self.key, active[:MAX_CHANGES_PER_SYNC], keep_finalizer=True)
            if target[0] == jobutil.FAILURE_TARGET:
                # A failing Job lets go of every pod; the unfinished ones count as
                # failed (upstream's canRemoveFinalizer).
                chosen = {_uid(p) for p in unfinalize}
                for pod in self.pods:
                    uid = _uid(pod)
                    if not _has_finalizer(pod) or uid in removing or uid in chosen:
                        continue
                    if podutil.phase(pod) != "Succeeded" and uid not in unc_fail:
                        unc_fail.append(uid)
                    unfinalize.append(pod)
        elif not deleting_job:
            created, deleted = await self._manage(active, terminating, completed, succeeded)
            left = len(active) + created - deleted
            done = succeeded > 0 if self.completions is None else succeeded >= self.completions
            if done and left == 0:
                target = (jobutil.SUCCESS_CRITERIA_MET, "True", jobutil.REASON_COMPLETIONS,
                          "Reached expected number of succeeded pods")
                jobutil.set_condition(status, *target, now)
        status["active"] = max(len(active) + created - deleted, 0)
        status["ready"] = sum(1 for p in active if podutil.is_ready(p)) if status["active"] else 0
        status["terminating"] = len(terminating) + deleted
        if self.indexed:
            status["completedIndexes"] = jobutil.format_intervals(completed)
            status["succeeded"] = len(completed)
        if self.per_index:
            status["failedIndexes"] = jobutil.format_intervals(self.failed_indexes)
        status["uncountedTerminatedPods"] = {"succeeded": unc_succ, "failed": unc_fail}

        # 4. count what finished: uncounted first, then finalizers, then counters
        latest = job
        if (unc_succ, unc_fail) != before or completed != before_completed:
            latest = await self._write(latest)
        removed = await self.ctrl._remove_finalizers(self.key, unfinalize)
        with_finalizer = {_uid(p) for p in self.pods if _has_finalizer(p)}

        def countable(uid: str) -> bool:
            return uid in removed or uid not in with_finalizer

        moved_succ = [u for u in unc_succ if countable(u)]
        moved_fail = [u for u in unc_fail if countable(u)]
        if not self.indexed:
            status["succeeded"] = (status.get("succeeded") or 0) + len(moved_succ)
        status["failed"] = (status.get("failed") or 0) + len(moved_fail)
        unc_succ = [u for u in unc_succ if u not in moved_succ]
        unc_fail = [u for u in unc_fail if u not in moved_fail]
        status["uncountedTerminatedPods"] = {"succeeded": unc_succ, "failed": unc_fail}
        if target is not None and status["active"] == 0 and status["terminating"] == 0 \
                and not unc_succ and not unc_fail:
            finished = self._finish(target)
            if finished is not None:
                self.events.append(finished)
        await self._write(latest)
        for event in self.events:
            self.ctrl.recorder.event(self.job, *event)
        if target is None:
            self._deadline_requeue()
        return self.requeue

    # ---- decisions ---------------------------------------------------------------------

    def _target(self) -> tuple[str, str, str, str] | None:
        for ctype in (jobutil.FAILURE_TARGET, jobutil.SUCCESS_CRITERIA_MET):
            c = jobutil.condition({"status": self.status}, ctype)
            if c and c.get("status") == "True":
                return ctype, "True", c.get("reason") or "", c.get("message") or ""
        return None

    def _past_deadline(self) -> bool:
        ads = self.spec.get("activeDeadlineSeconds")
        start = timeutil.parse(self.status.get("startTime") or "")
        if ads is None or start is None or self.spec.get("suspend"):
            return False
        return self.now >= start + datetime.timedelta(seconds=ads)

    def _deadline_requeue(self) -> None:
        ads = self.spec.get("activeDeadlineSeconds")
        start = timeutil.parse(self.status.get("startTime") or "")
        if ads is not None and start is not None and not self.spec.get("suspend"):
            left = (start + datetime.timedelta(seconds=ads) - self.now).total_seconds()
            self._later(max(left, 0.0) + 0.1)

    def _failure(self, *, fail_msg: str | None, failed: int, active: list[Obj],
                 completed: set[int]) -> tuple[str, str, str, str] | None:
        backoff_limit = self.spec.get("backoffLimit")
        if fail_msg is not None:
            return jobutil.FAILURE_TARGET, "True", jobutil.REASON_POLICY, fail_msg
        if self.per_index and self.failed_indexes:
            most = self.spec.get("maxFailedIndexes")
            if most is not None and len(self.failed_indexes) > most:
                return (jobutil.FAILURE_TARGET, "True", jobutil.REASON_MAX_FAILED_INDEXES,
                        "Job has exceeded the specified maximal number of failed indexes")
            if len(self.failed_indexes | completed) >= (self.completions or 0):
                return jobutil.FAILURE_TARGET, "True", jobutil.REASON_FAILED_INDEXES, "Job has failed indexes"
        if backoff_limit is not None and (failed > backoff_limit or self._restarts_exceed(active, backoff_limit)):
            return (jobutil.FAILURE_TARGET, "True", jobutil.REASON_BACKOFF,
                    "Job has reached the specified backoff limit")
        if self._past_deadline():
            return (jobutil.FAILURE_TARGET, "True", jobutil.REASON_DEADLINE,
                    "Job was active longer than specified deadline")
        return None

    def _restarts_exceed(self, active: list[Obj], limit: int) -> bool:
        """restartPolicy OnFailure: container restarts in running pods count
        against backoffLimit (the kubelet retries in place)."""
        template_spec = (self.spec.get("template") or {}).get("spec") or {}
        if template_spec.get("restartPolicy") != "OnFailure":
            return False
        restarts = 0
        for pod in active:
            if podutil.phase(pod) not in ("Running", "Pending"):
                continue
            st = pod.get("status") or {}
            for cs in (st.get("initContainerStatuses") or []) + (st.get("containerStatuses") or []):
                restarts += cs.get("restartCount") or 0
        return restarts > 0 if limit == 0 else restarts >= limit

    def _finish(self, target: tuple[str, str, str, str]) -> tuple[str, str, str] | None:
        """Turn the target into the final condition; the event to record once written."""
        ctype, _, reason, message = target
        if ctype == jobutil.FAILURE_TARGET:
            if jobutil.set_condition(self.status, jobutil.FAILED, "True", reason, message, self.now):
                return events.WARNING, reason, message
            return None
        if jobutil.set_condition(self.status, jobutil.COMPLETE, "True", reason, message, self.now):
            self.status["completionTime"] = timeutil.rfc3339(self.now)
            return events.NORMAL, "Completed", "Job completed"
        return None

    def _record_backoff(self, *, succeeded_now: bool, failures: list[datetime.datetime]) -> None:
        record = self.ctrl._backoff.get(self.key)
        if succeeded_now:
            record = None
        if failures:
            count = (record[0] if record else 0) + len(failures)
            last = max(failures + ([record[1]] if record else []))
            record = (count, last)
        if record is None:
            self.ctrl._backoff.pop(self.key, None)
        else:
            self.ctrl._backoff[self.key] = record

    def _backoff_left(self) -> float:
        record = self.ctrl._backoff.get(self.key)
        if record is None:
            return 0.0
        count, last = record
        return jobutil.backoff_delay(count) - (self.now - last).total_seconds()

    # ---- pods -----------------------------------------------------------------------------

    async def _manage(self, active: list[Obj], terminating: list[Obj], completed: set[int],
                      succeeded: int) -> tuple[int, int]:
        job, status, now = self.job, self.status, self.now
        if self.spec.get("suspend"):
            deleted = await self._delete(active)
            if jobutil.set_condition(status, jobutil.SUSPENDED, "True", "JobSuspended", "Job suspended", now):
                self.events.append((events.NORMAL, "Suspended", "Job suspended"))
            return 0, deleted
        if jobutil.has_condition({"status": status}, jobutil.SUSPENDED):
            jobutil.set_condition(status, jobutil.SUSPENDED, "False", "JobResumed", "Job resumed", now)
            self.events.append((events.NORMAL, "Resumed", "Job resumed"))
            # The active deadline counts from the resume.
            status["startTime"] = timeutil.rfc3339(now)

        # Pods still terminating hold their slot when only Failed pods are replaced.
        held = len(terminating) if self.spec.get("podReplacementPolicy") == "Failed" else 0
        if self.indexed:
            return await self._manage_indexed(active, held, completed)
        if self.completions is None:
            want = len(active) if succeeded > 0 else self.parallelism
        else:
            want = max(min(self.completions - succeeded, self.parallelism), 0)
        deleted = 0
        if len(active) > want:
            extra = podutil.rank_for_deletion(active)[:len(active) - want]
            deleted = await self._delete(extra)
        missing = min(want - len(active) - held, MAX_CHANGES_PER_SYNC)
        if missing <= 0:
            return 0, deleted
        wait = self._backoff_left()
        if wait > 0:
            self._later(wait)
            return 0, deleted
        return await self.ctrl._create_pods(job, self.key, [None] * missing), deleted

    async def _manage_indexed(self, active: list[Obj], held: int, completed: set[int]) -> tuple[int, int]:
        completions = self.completions or 0
        by_index: dict[int, Obj] = {}
        extra: list[Obj] = []
        # Keep one active pod per pending index; the rest (duplicates, bad or
        # completed indexes) go.
        for pod in sorted(active, key=lambda p: (p["metadata"].get("creationTimestamp") or "")):
            ix = jobutil.completion_index(pod)
            if ix is None or ix >= completions or ix in completed or ix in self.failed_indexes or ix in by_index:
                extra.append(pod)
            else:
                by_index[ix] = pod
        done = completed | self.failed_indexes
        want = max(min(completions - len(done), self.parallelism), 0)
        if len(by_index) > want:
            over = sorted(by_index, reverse=True)[:len(by_index) - want]
            extra += [by_index.pop(ix) for ix in over]
        deleted = await self._delete(extra)
        missing = min(want - len(by_index) - held, MAX_CHANGES_PER_SYNC)
        if missing <= 0:
            return 0, deleted
        pending = [i for i in range(completions) if i not in done and i not in by_index]
        counts: dict[int, int] = {}
        if self.per_index:
            # Each index waits out its own backoff.
            ready: list[int] = []
            per = jobutil.index_failures(self.job, self.pods, self.now)
            counts = {ix: count for ix, (count, _) in per.items()}
            for ix in pending:
                wait = 0.0
                if ix in per:
                    wait = jobutil.backoff_delay(per[ix][0]) - (self.now - per[ix][1]).total_seconds()
                if wait > 0:
                    self._later(wait)
                else:
                    ready.append(ix)
            pending = ready
        else:
            wait = self._backoff_left()
            if wait > 0:
                self._later(wait)
                return 0, deleted
        made = await self.ctrl._create_pods(self.job, self.key, list(pending[:missing]), failures=counts)
        return made, deleted

    async def _delete(self, pods: list[Obj]) -> int:
        return await self.ctrl._delete_pods(self.job, self.key, pods[:MAX_CHANGES_PER_SYNC], keep_finalizer=False)

    # ---- writes ---------------------------------------------------------------------------

    async def _write(self, latest: Obj) -> Obj:
        if latest.get("status") == self.status:
            return latest
        body = copy.deepcopy(latest)
        body["status"] = copy.deepcopy(self.status)
        try:
            return await self.ctrl.client.update_status(rest.JOBS, body)
        except rest.NotFound:
            return latest
