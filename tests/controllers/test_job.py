"""The Job controller against a real in-process API server.

There are no kubelets here: the tests play the nodes' part and finish pods
by writing their status (phase and terminated container exit codes)."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from kubeling.client import clock as clocklib
from kubeling.client import rest
from kubeling.controllers import job as joblib
from kubeling.controllers import jobutil
from kubeling.lib import timeutil
from tests.controllers.harness import Cluster, eventually

Obj = dict[str, Any]
NS = "default"


def job_body(name: str, **spec: Any) -> Obj:
    body: Obj = {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": NS},
        "spec": {"template": {"spec": {"restartPolicy": "Never",
                                       "containers": [{"name": "main", "image": "busybox"}]}}},
    }
    body["spec"].update(spec)
    return body


async def pods_of(c: rest.Client, name: str, *, active_only: bool = True) -> list[Obj]:
    items = (await c.list(rest.PODS, namespace=NS, label_selector=f"batch.kubernetes.io/job-name={name}"))["items"]
    if active_only:
        items = [p for p in items if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
                 and not p["metadata"].get("deletionTimestamp")]
    return sorted(items, key=lambda p: p["metadata"]["name"])


async def finish(c: rest.Client, pod: Obj, phase: str, *, exit_code: int | None = None,
                 conditions: list[Obj] | None = None) -> None:
    """Play the kubelet: the pod's container terminated with ``exit_code``."""
    fresh = await c.get(rest.PODS, pod["metadata"]["name"], namespace=NS)
    code = exit_code if exit_code is not None else (0 if phase == "Succeeded" else 1)
    fresh["status"] = {"phase": phase, "conditions": conditions or [], "containerStatuses": [{
        "name": "main", "image": "busybox", "imageID": "", "ready": False, "restartCount": 0,
        "state": {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                 "finishedAt": timeutil.rfc3339()}}}]}
    await c.update_status(rest.PODS, fresh, namespace=NS)


async def run_pod(c: rest.Client, pod: Obj, *, ready: bool = True, restarts: int = 0) -> None:
    fresh = await c.get(rest.PODS, pod["metadata"]["name"], namespace=NS)
    fresh["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": [{"name": "main", "image": "busybox", "imageID": "", "ready": ready,
                                              "restartCount": restarts,
                                              "state": {"running": {"startedAt": timeutil.rfc3339()}}}]}
    await c.update_status(rest.PODS, fresh, namespace=NS)


def cond(job: Obj, ctype: str) -> Any:
    return jobutil.condition(job, ctype)


async def get_job(c: rest.Client, name: str) -> Obj:
    return await c.get(rest.JOBS, name, namespace=NS)


class FakeTime:
    """A fake monotonic clock for the work queue plus the wall time derived from it,
    so a Job's backoff and deadline pass without waiting."""

    def __init__(self) -> None:
        self.clock = clocklib.FakeClock()
        self.start = self.clock.now()
        self.base = timeutil.now().replace(microsecond=0)

    def now(self) -> datetime.datetime:
        return self.base + datetime.timedelta(seconds=self.clock.now() - self.start)

    def step(self, seconds: float) -> None:
        self.clock.step(seconds)

    async def eventually(self, check: Callable[[], Awaitable[Any]]) -> Any:
        """``eventually`` that also nudges the fake clock (rate-limited retries use it)."""
        async def nudged() -> Any:
            self.clock.step(0.05)
            return await check()
        return await eventually(nudged)


async def start(cluster: Cluster, time: FakeTime | None = None) -> joblib.JobController:
    ctx = cluster.context(clock=time.clock, now=time.now) if time else cluster.context()
    ctrl = await cluster.run(joblib.JobController, ctx=ctx)
    assert isinstance(ctrl, joblib.JobController)
    return ctrl


def active_count(n: int, name: str, c: rest.Client) -> Callable[[], Awaitable[list[Obj]]]:
    async def check() -> list[Obj]:
        pods = await pods_of(c, name)
        assert len(pods) == n, [p["metadata"]["name"] for p in pods]
        return pods
    return check


def has_cond(c: rest.Client, name: str, ctype: str, reason: str | None = None) -> Callable[[], Awaitable[Obj]]:
    async def check() -> Obj:
        job = await get_job(c, name)
        got = cond(job, ctype)
        assert got and got["status"] == "True", job.get("status")
        if reason is not None:
            assert got["reason"] == reason
        return job
    return check


async def event_reasons(c: rest.Client, name: str) -> set[str]:
    items = (await c.list(rest.EVENTS, namespace=NS))["items"]
    return {e["reason"] for e in items if e["involvedObject"].get("name") == name}


async def test_job_runs_to_completion(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    await c.create(rest.JOBS, job_body("work", completions=3, parallelism=2))
    pods = await eventually(active_count(2, "work", c))
    pod = pods[0]
    assert jobutil.TRACKING_FINALIZER in pod["metadata"]["finalizers"]
    labels = pod["metadata"]["labels"]
    assert labels["batch.kubernetes.io/job-name"] == labels["job-name"] == "work"
    assert labels["batch.kubernetes.io/controller-uid"] == labels["controller-uid"]
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job"
    assert pod["metadata"]["generateName"] == "work-"
    await run_pod(c, pods[1])

    async def ready_one() -> None:
        st = (await get_job(c, "work"))["status"]
        assert (st["active"], st["ready"]) == (2, 1)
    await eventually(ready_one)

    await finish(c, pods[0], "Succeeded")
    # One left to do: still two active (min(parallelism, remaining)).
    pods = await eventually(active_count(2, "work", c))
    await finish(c, pods[0], "Succeeded")
    # One completion remaining: only one pod stays active.
    pods = await eventually(active_count(1, "work", c))
    await finish(c, pods[0], "Succeeded")
    job = await eventually(has_cond(c, "work", "Complete", "CompletionsReached"))
    st = job["status"]
    assert st["succeeded"] == 3 and st.get("failed", 0) == 0 and st["active"] == 0
    assert st["completionTime"] and st["startTime"]
    assert cond(job, "SuccessCriteriaMet")["status"] == "True"
    assert st["uncountedTerminatedPods"] == {"succeeded": [], "failed": []}
    # Counted pods lose the tracking finalizer.
    for p in await pods_of(c, "work", active_only=False):
        assert jobutil.TRACKING_FINALIZER not in (p["metadata"].get("finalizers") or [])

    async def evented() -> None:
        await cluster._contexts[0].recorder.flush()
        assert {"SuccessfulCreate", "Completed"} <= await event_reasons(c, "work")
    await eventually(evented)


async def test_work_queue_job_stops_creating_after_first_success(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    await c.create(rest.JOBS, job_body("queue", parallelism=2, completions=None))
    pods = await eventually(active_count(2, "queue", c))
    await finish(c, pods[0], "Succeeded")

    async def counted() -> None:
        st = (await get_job(c, "queue"))["status"]
        assert (st["succeeded"], st["active"]) == (1, 1)
    await eventually(counted)
    assert len(await pods_of(c, "queue")) == 1
    assert cond(await get_job(c, "queue"), "Complete") is None
    await finish(c, (await pods_of(c, "queue"))[0], "Succeeded")
    await eventually(has_cond(c, "queue", "Complete"))


async def test_locally_restarted_tasks_complete(cluster: Cluster) -> None:
    """restartPolicy OnFailure: the kubelet restarts failing containers in place;
    the Job only sees the pods succeed at last and completes."""
    c = cluster.client
    await start(cluster)
    body = job_body("restarts", completions=4, parallelism=2)
    body["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    await c.create(rest.JOBS, body)
    for _ in range(2):
        pods = await eventually(active_count(2, "restarts", c))
        for p in pods:
            await run_pod(c, p, restarts=1)
        for p in pods:
            await finish(c, p, "Succeeded")

        async def settled() -> None:
            st = (await get_job(c, "restarts"))["status"]
            assert st.get("succeeded") in (2, 4) and not st["uncountedTerminatedPods"]["succeeded"]
        await eventually(settled)
    job = await eventually(has_cond(c, "restarts", "Complete"))
    assert job["status"]["succeeded"] == 4 and job["status"].get("failed", 0) == 0


async def test_container_restarts_count_against_backoff_limit(cluster: Cluster) -> None:
    """restartPolicy OnFailure: restarts in running pods exhaust backoffLimit."""
    c = cluster.client
    await start(cluster)
    body = job_body("crashy", backoffLimit=2)
    body["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    await c.create(rest.JOBS, body)
    pods = await eventually(active_count(1, "crashy", c))
    await run_pod(c, pods[0], ready=False, restarts=1)
    assert cond(await get_job(c, "crashy"), "FailureTarget") is None
    await run_pod(c, pods[0], ready=False, restarts=2)
    job = await eventually(has_cond(c, "crashy", "Failed", "BackoffLimitExceeded"))
    assert await pods_of(c, "crashy") == [] and job["status"]["active"] == 0


async def test_failures_back_off_then_exceed_limit(cluster: Cluster) -> None:
    c = cluster.client
    time = FakeTime()
    await start(cluster, time)
    await c.create(rest.JOBS, job_body("flaky", backoffLimit=1))
    pods = await time.eventually(active_count(1, "flaky", c))
    await finish(c, pods[0], "Failed", exit_code=3)

    async def one_failed() -> None:
        st = (await get_job(c, "flaky"))["status"]
        assert (st.get("failed"), st["active"]) == (1, 0)
    await time.eventually(one_failed)
    # The replacement waits out the 10s pod failure backoff.
    assert await pods_of(c, "flaky") == []
    time.step(10)
    pods = await time.eventually(active_count(1, "flaky", c))
    await finish(c, pods[0], "Failed", exit_code=3)
    job = await time.eventually(has_cond(c, "flaky", "Failed", "BackoffLimitExceeded"))
    assert cond(job, "FailureTarget")["reason"] == "BackoffLimitExceeded"
    assert job["status"]["failed"] == 2 and cond(job, "Complete") is None
    assert "completionTime" not in job["status"]

    async def evented() -> None:
        await cluster._contexts[0].recorder.flush()
        assert "BackoffLimitExceeded" in await event_reasons(c, "flaky")
    await time.eventually(evented)


async def test_failed_tasks_are_replaced_until_completion(cluster: Cluster) -> None:
    c = cluster.client
    time = FakeTime()
    await start(cluster, time)
    await c.create(rest.JOBS, job_body("retry", completions=2, parallelism=2, backoffLimit=6))
    pods = await time.eventually(active_count(2, "retry", c))
    await finish(c, pods[0], "Failed")
    await finish(c, pods[1], "Succeeded")

    async def counted() -> None:
        st = (await get_job(c, "retry"))["status"]
        assert (st.get("failed"), st.get("succeeded")) == (1, 1)
    await time.eventually(counted)
    time.step(10)
    pods = await time.eventually(active_count(1, "retry", c))
    await finish(c, pods[0], "Succeeded")
    job = await time.eventually(has_cond(c, "retry", "Complete"))
    assert (job["status"]["succeeded"], job["status"]["failed"]) == (2, 1)


def test_backoff_delay_doubles_and_caps() -> None:
    assert [jobutil.backoff_delay(n) for n in range(6)] == [0, 10, 20, 40, 80, 160]
    assert jobutil.backoff_delay(7) == 600 and jobutil.backoff_delay(30) == 600


@pytest.mark.conformance("Ensure Pods of an Indexed Job get a unique index.")
async def test_indexed_job(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    await c.create(rest.JOBS, job_body("idx", completions=4, parallelism=2, completionMode="Indexed"))
    pods = await eventually(active_count(2, "idx", c))
    indexes = {p["metadata"]["annotations"][jobutil.COMPLETION_INDEX] for p in pods}
    assert indexes == {"0", "1"}
    for p in pods:
        ix = p["metadata"]["annotations"][jobutil.COMPLETION_INDEX]
        assert p["metadata"]["labels"][jobutil.COMPLETION_INDEX] == ix
        assert p["spec"]["hostname"] == f"idx-{ix}"
        assert p["metadata"]["generateName"] == f"idx-{ix}-"
        env = {e["name"]: e for e in p["spec"]["containers"][0]["env"]}
        assert env["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"] == \
            "metadata.labels['batch.kubernetes.io/job-completion-index']"
    by_ix = {p["metadata"]["annotations"][jobutil.COMPLETION_INDEX]: p for p in pods}
    await finish(c, by_ix["1"], "Succeeded")

    async def idx_one_done() -> list[Obj]:
        st = (await get_job(c, "idx"))["status"]
        assert st.get("completedIndexes") == "1" and st["succeeded"] == 1
        pods = await pods_of(c, "idx")
        assert {p["metadata"]["annotations"][jobutil.COMPLETION_INDEX] for p in pods} == {"0", "2"}
        return pods
    pods = await eventually(idx_one_done)
    seen: set[str] = {"0", "1", "2"}
    for p in pods:
        await finish(c, p, "Succeeded")

    async def three_done() -> list[Obj]:
        st = (await get_job(c, "idx"))["status"]
        assert st.get("completedIndexes") == "0-2"
        return await eventually(active_count(1, "idx", c))
    pods = await eventually(three_done)
    seen.add(pods[0]["metadata"]["annotations"][jobutil.COMPLETION_INDEX])
    assert seen == {"0", "1", "2", "3"}
    await finish(c, pods[0], "Succeeded")
    job = await eventually(has_cond(c, "idx", "Complete"))
    assert job["status"]["completedIndexes"] == "0-3" and job["status"]["succeeded"] == 4


def test_index_intervals() -> None:
    assert jobutil.format_intervals({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8"
    assert jobutil.parse_intervals("0-2,5,7-8", 8) == {0, 1, 2, 5, 7}
    assert jobutil.format_intervals([]) == ""


async def test_active_deadline(cluster: Cluster) -> None:
    c = cluster.client
    time = FakeTime()
    await start(cluster, time)
    await c.create(rest.JOBS, job_body("slow", parallelism=2, completions=2, activeDeadlineSeconds=30))
    await time.eventually(active_count(2, "slow", c))
    time.step(31)
    job = await time.eventually(has_cond(c, "slow", "Failed", "DeadlineExceeded"))
    assert job["status"]["active"] == 0
    assert await pods_of(c, "slow") == []
    assert job["status"]["failed"] == 2  # the pods deleted for the deadline count as failed


@pytest.mark.conformance("Verify Pod Failure policy allows to fail job early on exit code.")
async def test_pod_failure_policy_fail_job(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    policy = {"rules": [{"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In",
                                                               "values": [42]}}]}
    await c.create(rest.JOBS, job_body("pfp", completions=4, parallelism=2, backoffLimit=6,
                                       podFailurePolicy=policy))
    pods = await eventually(active_count(2, "pfp", c))
    await finish(c, pods[0], "Failed", exit_code=42)
    job = await eventually(has_cond(c, "pfp", "Failed", "PodFailurePolicy"))
    msg = cond(job, "Failed")["message"]
    assert "exit code 42" in msg and "FailJob rule at index 0" in msg
    assert await pods_of(c, "pfp") == []


async def test_pod_failure_policy_ignore_and_count(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    policy = {"rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [42]}},
    ]}
    await c.create(rest.JOBS, job_body("ign", backoffLimit=0, podFailurePolicy=policy))
    pods = await eventually(active_count(1, "ign", c))
    await finish(c, pods[0], "Failed", exit_code=137,
                 conditions=[{"type": "DisruptionTarget", "status": "True", "reason": "EvictionByEvictionAPI"}])
    # Ignored: not counted, and replaced at once (no backoff).
    pods = await eventually(active_count(1, "ign", c))
    job = await get_job(c, "ign")
    assert job["status"].get("failed", 0) == 0 and cond(job, "FailureTarget") is None
    await finish(c, pods[0], "Failed", exit_code=1)
    job = await eventually(has_cond(c, "ign", "Failed", "BackoffLimitExceeded"))
    assert job["status"]["failed"] == 1


def test_failure_policy_matching() -> None:
    job: Obj = {"spec": {"podFailurePolicy": {"rules": [
        {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [1, 2]}},
        {"action": "Ignore", "onExitCodes": {"operator": "NotIn", "values": [5]}},
    ]}}}
    pod: Any = {"metadata": {"name": "p", "namespace": "n"}, "status": {"phase": "Failed", "containerStatuses": [
        {"name": "a", "state": {"terminated": {"exitCode": 0}}},
        {"name": "b", "state": {"terminated": {"exitCode": 2}}}]}}
    assert jobutil.match_failure_policy(job, pod)[0] == "FailJob"
    pod["status"]["containerStatuses"][1]["state"]["terminated"]["exitCode"] = 5
    assert jobutil.match_failure_policy(job, pod) == (None, "")
    pod["status"]["containerStatuses"][1]["state"]["terminated"]["exitCode"] = 7
    assert jobutil.match_failure_policy(job, pod)[0] == "Ignore"
    pod["status"]["phase"] = "Running"
    assert jobutil.match_failure_policy(job, pod) == (None, "")


async def test_suspend_and_resume(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    await c.create(rest.JOBS, job_body("sus", parallelism=2, completions=4, suspend=True))
    job = await eventually(has_cond(c, "sus", "Suspended"))
    assert await pods_of(c, "sus") == [] and "startTime" not in job["status"]
    await c.patch(rest.JOBS, "sus", {"spec": {"suspend": False}}, namespace=NS)
    await eventually(active_count(2, "sus", c))

    async def resumed() -> None:
        job = await get_job(c, "sus")
        assert cond(job, "Suspended")["status"] == "False" and cond(job, "Suspended")["reason"] == "JobResumed"
        assert job["status"]["startTime"]
    await eventually(resumed)
    await c.patch(rest.JOBS, "sus", {"spec": {"suspend": True}}, namespace=NS)
    await eventually(active_count(0, "sus", c))
    job = await eventually(has_cond(c, "sus", "Suspended", "JobSuspended"))
    assert job["status"]["active"] == 0
    # Pods removed for a suspension are not failures (their finalizer goes first).
    assert job["status"].get("failed", 0) == 0


async def test_scale_parallelism_down(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    await c.create(rest.JOBS, job_body("scale", parallelism=3, completions=10))
    await eventually(active_count(3, "scale", c))
    await c.patch(rest.JOBS, "scale", {"spec": {"parallelism": 1}}, namespace=NS)
    await eventually(active_count(1, "scale", c))


@pytest.mark.conformance("Jobs, orphan pods, re-adoption")
async def test_adopts_orphans_and_releases_non_matching(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    await c.create(rest.JOBS, job_body("adopt", parallelism=2, completions=2))
    pods = await eventually(active_count(2, "adopt", c))
    job = await get_job(c, "adopt")
    # Orphan one pod: the Job adopts it back.
    orphan = await c.get(rest.PODS, pods[0]["metadata"]["name"], namespace=NS)
    orphan["metadata"]["ownerReferences"] = []
    await c.update(rest.PODS, orphan, namespace=NS)

    async def adopted() -> None:
        p = await c.get(rest.PODS, pods[0]["metadata"]["name"], namespace=NS)
        refs = p["metadata"].get("ownerReferences") or []
        assert len(refs) == 1 and refs[0]["uid"] == job["metadata"]["uid"] and refs[0]["controller"]
    await eventually(adopted)
    assert len(await pods_of(c, "adopt")) == 2  # adopted, not replaced
    # Relabel a pod: the Job releases it (and makes a replacement).
    other = await c.get(rest.PODS, pods[1]["metadata"]["name"], namespace=NS)
    other["metadata"]["labels"] = {"released": "yes"}
    await c.update(rest.PODS, other, namespace=NS)

    async def released() -> None:
        p = await c.get(rest.PODS, pods[1]["metadata"]["name"], namespace=NS)
        assert not p["metadata"].get("ownerReferences")
        assert jobutil.TRACKING_FINALIZER not in (p["metadata"].get("finalizers") or [])
    await eventually(released)
    await eventually(active_count(2, "adopt", c))


async def test_deleted_job_releases_pod_finalizers(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    await c.create(rest.JOBS, job_body("gone", parallelism=2, completions=2))
    pods = await eventually(active_count(2, "gone", c))
    await c.delete(rest.JOBS, "gone", namespace=NS, propagation_policy="Orphan")

    async def unfinalized() -> None:
        for p in pods:
            fresh = await c.get(rest.PODS, p["metadata"]["name"], namespace=NS)
            assert jobutil.TRACKING_FINALIZER not in (fresh["metadata"].get("finalizers") or [])
    await eventually(unfinalized)


async def test_deleted_pod_counts_as_failed(cluster: Cluster) -> None:
    """A pod deleted before it finished is a failure (its finalizer keeps it
    visible until it is counted), and it is replaced."""
    c = cluster.client
    time = FakeTime()
    await start(cluster, time)
    await c.create(rest.JOBS, job_body("del", completions=1))
    pods = await time.eventually(active_count(1, "del", c))
    await c.delete(rest.PODS, pods[0]["metadata"]["name"], namespace=NS)

    async def counted() -> None:
        st = (await get_job(c, "del"))["status"]
        assert st.get("failed") == 1
        with pytest.raises(rest.NotFound):
            await c.get(rest.PODS, pods[0]["metadata"]["name"], namespace=NS)
    await time.eventually(counted)
    time.step(10)
    await time.eventually(active_count(1, "del", c))


@pytest.mark.conformance("Jobs, apply changes to status")
async def test_job_status_patch_and_update(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    await c.create(rest.JOBS, job_body("st", parallelism=2, completions=4))
    await eventually(active_count(2, "st", c))
    patched = await c.patch(rest.JOBS, "st", {"metadata": {"annotations": {"patched": "true"}},
                                              "status": {"ready": 0}}, namespace=NS, subresource="status")
    assert patched["metadata"]["annotations"]["patched"] == "true"
    start_time = timeutil.rfc3339(timeutil.now() - datetime.timedelta(hours=1))

    async def update() -> Obj:
        job = await get_job(c, "st")
        job["status"]["startTime"] = start_time
        return await c.update_status(rest.JOBS, job, namespace=NS)
    updated = await eventually(update)
    assert updated["status"]["startTime"] == start_time
    got = await c.get(rest.JOBS, "st", namespace=NS, subresource="status")
    assert got["metadata"]["name"] == "st" and got["status"]["startTime"] == start_time


@pytest.mark.conformance("Jobs, manage lifecycle")
async def test_job_lifecycle(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    body = job_body("life", suspend=True, parallelism=1, completions=1)
    body["metadata"]["labels"] = {"e2e-job-label": "life"}
    await c.create(rest.JOBS, body)
    await eventually(has_cond(c, "life", "Suspended"))
    patched = await c.patch(rest.JOBS, "life", {"metadata": {"labels": {"life": "patched"}}}, namespace=NS)
    assert patched["metadata"]["labels"]["life"] == "patched"

    async def replace() -> Obj:
        job = await get_job(c, "life")
        job["metadata"].setdefault("annotations", {})["updated"] = "true"
        return await c.update(rest.JOBS, job, namespace=NS)
    updated = await eventually(replace)
    assert updated["metadata"]["annotations"]["updated"] == "true"
    listed = await c.list(rest.JOBS, label_selector="life=patched")
    assert [j["metadata"]["name"] for j in listed["items"]] == ["life"]
    await c.delete_collection(rest.JOBS, namespace=NS, label_selector="life=patched")
    assert (await c.list(rest.JOBS, namespace=NS, label_selector="life=patched"))["items"] == []
    assert await pods_of(c, "life") == []


async def test_backoff_limit_per_index(cluster: Cluster) -> None:
    c = cluster.client
    time = FakeTime()
    await start(cluster, time)
    await c.create(rest.JOBS, job_body("per", completions=2, parallelism=2, completionMode="Indexed",
                                       backoffLimitPerIndex=1))

    def of_index(pods: list[Obj], ix: int) -> Obj:
        return next(p for p in pods if p["metadata"]["annotations"][jobutil.COMPLETION_INDEX] == str(ix))

    pods = await time.eventually(active_count(2, "per", c))
    assert {p["metadata"]["annotations"][jobutil.INDEX_FAILURE_COUNT] for p in pods} == {"0"}
    await finish(c, of_index(pods, 0), "Failed")
    await finish(c, of_index(pods, 1), "Succeeded")

    async def one_failure() -> None:
        st = (await get_job(c, "per"))["status"]
        assert (st.get("failed"), st.get("completedIndexes"), st.get("failedIndexes")) == (1, "1", "")
    await time.eventually(one_failure)
    time.step(10)  # index 0's own backoff
    pods = await time.eventually(active_count(1, "per", c))
    assert of_index(pods, 0)["metadata"]["annotations"][jobutil.INDEX_FAILURE_COUNT] == "1"
    await finish(c, of_index(pods, 0), "Failed")
    job = await time.eventually(has_cond(c, "per", "Failed", "FailedIndexes"))
    assert job["status"]["failedIndexes"] == "0" and job["status"]["completedIndexes"] == "1"
    assert job["status"]["failed"] == 2
