"""The TTL-after-finished controller deletes finished Jobs once their TTL passes (fake time)."""

from __future__ import annotations

from typing import Any

from kubeling.client import rest
from kubeling.controllers import ttlafterfinished
from kubeling.lib import timeutil
from tests.controllers.harness import Cluster
from tests.controllers.test_job import FakeTime, job_body

Obj = dict[str, Any]
NS = "default"


async def finish(c: rest.Client, name: str, when: str, ctype: str = "Complete") -> None:
    job = await c.get(rest.JOBS, name, namespace=NS)
    job["status"] = {"startTime": when, "conditions": [{"type": ctype, "status": "True", "lastTransitionTime": when}]}
    if ctype == "Complete":
        job["status"].update(completionTime=when, succeeded=1)
    await c.update_status(rest.JOBS, job, namespace=NS)


def gone_or_deleting(c: rest.Client, name: str) -> Any:
    async def check() -> None:
        try:
            job = await c.get(rest.JOBS, name, namespace=NS)
        except rest.NotFound:
            return
        assert job["metadata"].get("deletionTimestamp")
    return check


async def test_deletes_finished_job_after_ttl(cluster: Cluster) -> None:
    c = cluster.client
    time = FakeTime()
    ctrl = await cluster.run(ttlafterfinished.TTLAfterFinishedController,
                             ctx=cluster.context(clock=time.clock, now=time.now))
    await c.create(rest.JOBS, job_body("done", ttlSecondsAfterFinished=100))
    await c.create(rest.JOBS, job_body("failed", ttlSecondsAfterFinished=0))
    await c.create(rest.JOBS, job_body("keep"))  # no TTL
    await c.create(rest.JOBS, job_body("running", ttlSecondsAfterFinished=0))
    stamp = timeutil.rfc3339(time.now())
    await finish(c, "done", stamp)
    await finish(c, "failed", stamp, "Failed")
    await finish(c, "keep", stamp)
    await time.eventually(gone_or_deleting(c, "failed"))
    # Not yet: 100s have not passed.
    assert await ctrl.reconcile(f"{NS}/done") is not None
    assert not (await c.get(rest.JOBS, "done", namespace=NS))["metadata"].get("deletionTimestamp")
    time.step(101)
    await time.eventually(gone_or_deleting(c, "done"))
    for name in ("keep", "running"):
        assert await ctrl.reconcile(f"{NS}/{name}") is None
        assert not (await c.get(rest.JOBS, name, namespace=NS))["metadata"].get("deletionTimestamp")


async def test_rechecks_fresh_job_before_deleting(cluster: Cluster) -> None:
    """A TTL raised after the cache saw the Job keeps it alive."""
    c = cluster.client
    time = FakeTime()
    ctrl = ttlafterfinished.TTLAfterFinishedController(cluster.context(clock=time.clock, now=time.now))
    await c.create(rest.JOBS, job_body("raised", ttlSecondsAfterFinished=10))
    await finish(c, "raised", timeutil.rfc3339(time.now()))
    stale = await c.get(rest.JOBS, "raised", namespace=NS)
    ctrl.jobs.store.put(stale)  # the cache's view: TTL 10
    await c.patch(rest.JOBS, "raised", {"spec": {"ttlSecondsAfterFinished": 1000}}, namespace=NS)
    time.step(20)
    left = await ctrl.reconcile(f"{NS}/raised")
    assert left is not None and 900 < left <= 1000
    assert not (await c.get(rest.JOBS, "raised", namespace=NS))["metadata"].get("deletionTimestamp")
