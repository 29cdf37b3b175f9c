"""The CronJob controller against a real in-process API server, on fake time:
``Context.now`` and the work queue's clock move only when a test steps them."""

from __future__ import annotations

import datetime
import json
import pathlib
import zoneinfo
from typing import Any

import pytest

from kubeling.api.kinds import batch
from kubeling.client import rest
from kubeling.controllers import cronjob as cronlib
from kubeling.controllers import job as joblib
from kubeling.controllers import ttlafterfinished
from kubeling.lib import timeutil
from tests.controllers import test_job
from tests.controllers.harness import Cluster
from tests.controllers.test_job import FakeTime
from tests.e2e import cluster as e2e

Obj = dict[str, Any]
NS = "default"
UTC = datetime.UTC


def cronjob_body(name: str, schedule: str = "*/1 * * * *", **spec: Any) -> Obj:
    body: Obj = {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name, "namespace": NS},
        "spec": {"schedule": schedule, "jobTemplate": {
            "metadata": {"labels": {"from": name}},
            "spec": {"template": {"spec": {"restartPolicy": "OnFailure",
                                           "containers": [{"name": "c", "image": "busybox"}]}}}}},
    }
    body["spec"].update(spec)
    return body


async def start(cluster: Cluster, time: FakeTime) -> cronlib.CronJobController:
    ctrl = await cluster.run(cronlib.CronJobController, ctx=cluster.context(clock=time.clock, now=time.now))
    assert isinstance(ctrl, cronlib.CronJobController)
    return ctrl


async def jobs_of(c: rest.Client, name: str) -> list[Obj]:
    items = (await c.list(rest.JOBS, namespace=NS, label_selector=f"from={name}"))["items"]
    return sorted(items, key=lambda j: j["metadata"]["name"])


def job_count(c: rest.Client, name: str, n: int) -> Any:
    async def check() -> list[Obj]:
        jobs = await jobs_of(c, name)
        assert len(jobs) == n, [j["metadata"]["name"] for j in jobs]
        return jobs
    return check


def one_new_job(c: rest.Client, name: str, known: set[str]) -> Any:
    async def check() -> Obj:
        fresh = [j for j in await jobs_of(c, name) if j["metadata"]["name"] not in known]
        assert len(fresh) == 1
        return fresh[0]
    return check


async def active_names(c: rest.Client, name: str) -> list[str]:
    cj = await c.get(rest.CRONJOBS, name, namespace=NS)
    return sorted(r["name"] for r in (cj.get("status") or {}).get("active") or [])


async def reasons(cluster: Cluster, c: rest.Client, name: str) -> list[str]:
    for ctx in cluster._contexts:
        await ctx.recorder.flush()
    items = (await c.list(rest.EVENTS, namespace=NS))["items"]
    return [e["reason"] for e in items if e["involvedObject"].get("name") == name]


async def finish_job(c: rest.Client, job: Obj, ctype: str = "Complete") -> None:
    fresh = await c.get(rest.JOBS, job["metadata"]["name"], namespace=NS)
    now = timeutil.rfc3339()
    fresh["status"] = {"startTime": now, "conditions": [
        {"type": "SuccessCriteriaMet" if ctype == "Complete" else "FailureTarget", "status": "True",
         "lastTransitionTime": now},
        {"type": ctype, "status": "True", "lastTransitionTime": now}]}
    if ctype == "Complete":
        fresh["status"].update(completionTime=now, succeeded=1)
    else:
        fresh["status"]["failed"] = 1
    await c.update_status(rest.JOBS, fresh, namespace=NS)


@pytest.mark.conformance("CronJob AllowConcurrent")
async def test_allow_concurrent(cluster: Cluster) -> None:
    c = cluster.client
    time = FakeTime()
    await start(cluster, time)
    cj = await c.create(rest.CRONJOBS, cronjob_body("allow"))
    time.step(60)
    jobs = await time.eventually(job_count(c, "allow", 1))
    job = jobs[0]
    scheduled = timeutil.parse(job["metadata"]["annotations"][cronlib.SCHEDULED_TIMESTAMP])
    assert scheduled is not None and scheduled.second == 0
    assert job["metadata"]["name"] == f"allow-{int(scheduled.timestamp()) // 60}"
    ref = job["metadata"]["ownerReferences"][0]
    assert (ref["kind"], ref["uid"], ref["controller"]) == ("CronJob", cj["metadata"]["uid"], True)
    # The next run comes from the requeue at the next schedule time alone.
    time.step(60)
    jobs = await time.eventually(job_count(c, "allow", 2))

    async def both_active() -> Obj:
        assert await active_names(c, "allow") == [j["metadata"]["name"] for j in jobs]
        return await c.get(rest.CRONJOBS, "allow", namespace=NS)
    cj = await time.eventually(both_active)
    assert timeutil.parse(cj["status"]["lastScheduleTime"]) == timeutil.parse(
        jobs[1]["metadata"]["annotations"][cronlib.SCHEDULED_TIMESTAMP])


@pytest.mark.conformance("CronJob ForbidConcurrent")
async def test_forbid_concurrent(cluster: Cluster) -> None:
    c = cluster.client
    time = FakeTime()
    await start(cluster, time)
    await c.create(rest.CRONJOBS, cronjob_body("forbid", concurrencyPolicy="Forbid"))
    time.step(60)
    jobs = await time.eventually(job_count(c, "forbid", 1))
    time.step(60)

    async def skipped() -> None:
        assert "JobAlreadyActive" in await reasons(cluster, c, "forbid")
    await time.eventually(skipped)
    assert len(await jobs_of(c, "forbid")) == 1
    assert await active_names(c, "forbid") == [jobs[0]["metadata"]["name"]]
    # Once it finishes, the skipped schedule time (still the most recent one) runs.
    await finish_job(c, jobs[0])
    jobs = await time.eventually(job_count(c, "forbid", 2))

    async def moved_on() -> None:
        cj = await c.get(rest.CRONJOBS, "forbid", namespace=NS)
        assert cj["status"].get("lastSuccessfulTime")
        assert await active_names(c, "forbid") == [jobs[1]["metadata"]["name"]]
    await time.eventually(moved_on)
    assert "SawCompletedJob" in await reasons(cluster, c, "forbid")


@pytest.mark.conformance("CronJob ReplaceConcurrent")
async def test_replace_concurrent(cluster: Cluster) -> None:
    c = cluster.client
    time = FakeTime()
    await start(cluster, time)
    await c.create(rest.CRONJOBS, cronjob_body("replace", concurrencyPolicy="Replace"))
    time.step(60)
    first = (await time.eventually(job_count(c, "replace", 1)))[0]
    time.step(60)

    async def replaced() -> None:
        jobs = await jobs_of(c, "replace")
        live = [j for j in jobs if not j["metadata"].get("deletionTimestamp")]
        assert len(live) == 1 and live[0]["metadata"]["name"] != first["metadata"]["name"]
        assert await active_names(c, "replace") == [live[0]["metadata"]["name"]]
    await time.eventually(replaced)
    assert "SuccessfulDelete" in await reasons(cluster, c, "replace")


@pytest.mark.conformance("CronJob Suspend")
async def test_suspended_cronjob_schedules_nothing(cluster: Cluster) -> None:
    c = cluster.client
    time = FakeTime()
    ctrl = await start(cluster, time)
    await c.create(rest.CRONJOBS, cronjob_body("sleepy", suspend=True))
    for _ in range(3):
        time.step(60)
        await ctrl.reconcile(f"{NS}/sleepy")
    assert await jobs_of(c, "sleepy") == []
    cj = await c.get(rest.CRONJOBS, "sleepy", namespace=NS)
    assert not (cj.get("status") or {}).get("active")
    await c.patch(rest.CRONJOBS, "sleepy", {"spec": {"suspend": False}}, namespace=NS)
    # Resumed: the most recent missed time runs (one Job, not three).
    await time.eventually(job_count(c, "sleepy", 1))


async def test_history_limits(cluster: Cluster) -> None:
    c = cluster.client
    time = FakeTime()
    await start(cluster, time)
    await c.create(rest.CRONJOBS, cronjob_body("hist", successfulJobsHistoryLimit=1, failedJobsHistoryLimit=1))
    made: list[str] = []
    for outcome in ["Complete", "Complete", "Failed", "Failed"]:
        time.step(60)

        job = await time.eventually(one_new_job(c, "hist", set(made)))
        made.append(job["metadata"]["name"])
        await finish_job(c, job, outcome)

    async def trimmed() -> None:
        names = [j["metadata"]["name"] for j in await jobs_of(c, "hist")
                 if not j["metadata"].get("deletionTimestamp")]
        assert names == [made[1], made[3]]
    await time.eventually(trimmed)


async def test_starting_deadline_skips_late_runs(cluster: Cluster) -> None:
    c = cluster.client
    time = FakeTime()
    ctrl = await start(cluster, time)
    await c.create(rest.CRONJOBS, cronjob_body("late", startingDeadlineSeconds=10))
    # Jump to 30s past a schedule time: too late to start it.
    now = time.now()
    boundary = now.replace(second=0) + datetime.timedelta(minutes=1)
    time.step((boundary - now).total_seconds() + 30)
    await ctrl.reconcile(f"{NS}/late")
    assert await jobs_of(c, "late") == []
    # 5s after the next one: within the deadline.
    time.step(35)
    await time.eventually(job_count(c, "late", 1))


async def test_too_many_missed_start_times(cluster: Cluster) -> None:
    c = cluster.client
    time = FakeTime()
    await start(cluster, time)
    await c.create(rest.CRONJOBS, cronjob_body("behind", "* * * * *"))
    time.step(200 * 60)
    jobs = await time.eventually(job_count(c, "behind", 1))

    async def warned() -> None:
        assert "TooManyMissedTimes" in await reasons(cluster, c, "behind")
    await time.eventually(warned)
    # Only the most recent missed time runs.
    scheduled = timeutil.parse(jobs[0]["metadata"]["annotations"][cronlib.SCHEDULED_TIMESTAMP])
    assert scheduled is not None and time.now() - scheduled < datetime.timedelta(minutes=1)


async def test_time_zone(cluster: Cluster) -> None:
    c = cluster.client
    time = FakeTime()
    await start(cluster, time)
    await c.create(rest.CRONJOBS, cronjob_body("tz", timeZone="Asia/Kolkata"))
    time.step(60)
    job = (await time.eventually(job_count(c, "tz", 1)))[0]
    assert job["metadata"]["annotations"][cronlib.SCHEDULED_TIMESTAMP].endswith("+05:30")


async def test_cronjob_job_and_ttl_together(cluster: Cluster) -> None:
    """The three controllers in concert: a scheduled Job runs its pod, completes,
    the CronJob records the success, and the TTL removes the finished Job."""
    c = cluster.client
    time = FakeTime()
    await start(cluster, time)
    await cluster.run(joblib.JobController, ctx=cluster.context(clock=time.clock, now=time.now))
    await cluster.run(ttlafterfinished.TTLAfterFinishedController, ctx=cluster.context(clock=time.clock, now=time.now))
    body = cronjob_body("chain")
    body["spec"]["jobTemplate"]["spec"]["ttlSecondsAfterFinished"] = 30
    await c.create(rest.CRONJOBS, body)
    time.step(60)
    job = (await time.eventually(job_count(c, "chain", 1)))[0]
    pods = await time.eventually(test_job.active_count(1, job["metadata"]["name"], c))
    await test_job.finish(c, pods[0], "Succeeded")

    async def recorded() -> None:
        cj = await c.get(rest.CRONJOBS, "chain", namespace=NS)
        assert cj["status"].get("lastSuccessfulTime") and not cj["status"].get("active")
    await time.eventually(recorded)
    time.step(31)

    async def expired() -> None:
        try:
            got = await c.get(rest.JOBS, job["metadata"]["name"], namespace=NS)
        except rest.NotFound:
            return
        assert got["metadata"].get("deletionTimestamp")
    await time.eventually(expired)


def test_most_recent_schedule_times() -> None:
    every5 = batch.parse_schedule("*/5 * * * *")
    earliest = datetime.datetime(2024, 1, 1, 10, 2, tzinfo=UTC)
    assert cronlib.most_recent(every5, earliest, earliest + datetime.timedelta(minutes=2)) == (None, 0)
    got = cronlib.most_recent(every5, earliest, datetime.datetime(2024, 1, 1, 10, 21, tzinfo=UTC))
    assert got == (datetime.datetime(2024, 1, 1, 10, 20, tzinfo=UTC), 4)
    # A day of minutes missed: the count stops past 100.
    minutely = batch.parse_schedule("* * * * *")
    t, n = cronlib.most_recent(minutely, earliest, earliest + datetime.timedelta(days=1))
    assert n == cronlib.MAX_MISSED + 1 and t == earliest + datetime.timedelta(days=1)
    # @every counts whole intervals after the earliest time (robfig's constant delay).
    every = batch.parse_schedule("@every 90s")
    assert cronlib.most_recent(every, earliest, earliest + datetime.timedelta(seconds=200)) == (
        earliest + datetime.timedelta(seconds=180), 2)
    # Schedules evaluate in the given zone: 9:00 in Paris is 8:00 UTC in winter.
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    nine = batch.parse_schedule("0 9 * * *")
    t, n = cronlib.most_recent(nine, earliest.astimezone(paris), datetime.datetime(2024, 1, 2, 12, tzinfo=paris))
    assert n == 1 and t is not None and t.astimezone(UTC) == datetime.datetime(2024, 1, 2, 8, tzinfo=UTC)


def test_kubectl_create_job_from_cronjob(tmp_path: pathlib.Path) -> None:
    """``kubectl create job --from=cronjob/x`` builds the Job client-side from
    the CronJob's template; the server must accept it as upstream does."""
    # The API server alone: this is about what it accepts from kubectl.
    srv = e2e.Server(tmp_path / "data", extra_args=("--disable-controllers", "--disable-scheduler"))
    srv.start()
    try:
        srv.kubectl("create", "cronjob", "nightly", "--image=busybox", "--schedule=0 3 * * *", "--", "true")
        srv.kubectl("create", "job", "by-hand", "--from=cronjob/nightly")
        job = json.loads(srv.kubectl("get", "job", "by-hand", "-o", "json").stdout)
        cj = json.loads(srv.kubectl("get", "cronjob", "nightly", "-o", "json").stdout)
        ref = job["metadata"]["ownerReferences"][0]
        assert (ref["kind"], ref["name"], ref["uid"]) == ("CronJob", "nightly", cj["metadata"]["uid"])
        assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
        assert job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"] == job["metadata"]["uid"]
        bad = srv.kubectl("create", "cronjob", "bad", "--image=busybox", "--schedule=0 0 31 2-13 *", check=False)
        assert bad.returncode != 0 and "end of range (13) above maximum (12)" in bad.stderr
    finally:
        srv.stop()


@pytest.mark.conformance("CronJob API Operations")
async def test_cronjob_api_operations(cluster: Cluster) -> None:
    c = cluster.client
    for name in ("api-a", "api-b"):
        body = cronjob_body(name, suspend=True)
        body["metadata"]["labels"] = {"special-label": "api"}
        await c.create(rest.CRONJOBS, body)
    got = await c.get(rest.CRONJOBS, "api-a", namespace=NS)
    assert got["spec"]["schedule"] == "*/1 * * * *"
    listed = await c.list(rest.CRONJOBS, namespace=NS, label_selector="special-label=api")
    assert sorted(i["metadata"]["name"] for i in listed["items"]) == ["api-a", "api-b"]
    everywhere = await c.list(rest.CRONJOBS, label_selector="special-label=api")
    assert len(everywhere["items"]) == 2
    rv = listed["metadata"]["resourceVersion"]
    async with c.watch(rest.CRONJOBS, namespace=NS, resource_version=rv, label_selector="special-label=api",
                       timeout_seconds=30) as watch:
        patched = await c.patch(rest.CRONJOBS, "api-a", {"metadata": {"annotations": {"patched": "true"}}},
                                namespace=NS)
        assert patched["metadata"]["annotations"]["patched"] == "true"
        async for ev in watch:
            if ev.type == "MODIFIED" and ev.object["metadata"].get("annotations", {}).get("patched") == "true":
                break
    got = await c.get(rest.CRONJOBS, "api-a", namespace=NS)
    got["metadata"]["annotations"]["updated"] = "true"
    updated = await c.update(rest.CRONJOBS, got, namespace=NS)
    assert updated["metadata"]["annotations"]["updated"] == "true"
    # The status subresource: get, update, patch.
    status = await c.get(rest.CRONJOBS, "api-a", namespace=NS, subresource="status")
    stamp = timeutil.rfc3339(timeutil.now().replace(microsecond=0))
    status["status"] = {"lastScheduleTime": stamp}
    after = await c.update_status(rest.CRONJOBS, status, namespace=NS)
    assert after["status"]["lastScheduleTime"] == stamp
    after = await c.patch(rest.CRONJOBS, "api-a", {"metadata": {"annotations": {"status-patched": "true"}},
                                                   "status": {"lastSuccessfulTime": stamp}},
                          namespace=NS, subresource="status")
    assert after["status"]["lastSuccessfulTime"] == stamp
    assert after["metadata"]["annotations"]["status-patched"] == "true"
    await c.delete(rest.CRONJOBS, "api-a", namespace=NS)
    with pytest.raises(rest.NotFound):
        await c.get(rest.CRONJOBS, "api-a", namespace=NS)
    await c.delete_collection(rest.CRONJOBS, namespace=NS, label_selector="special-label=api")
    assert (await c.list(rest.CRONJOBS, namespace=NS, label_selector="special-label=api"))["items"] == []
