"""pods/eviction spends the budget's disruptions atomically and says why it refuses."""

from __future__ import annotations

import asyncio
import pathlib

import pytest

from kubeling.client import rest
from tests.controllers.harness import Cluster

NS = "default"


async def running_pod(c: rest.Client, name: str) -> None:
    pod = await c.create(rest.PODS, {"apiVersion": "v1", "kind": "Pod",
                                     "metadata": {"name": name, "labels": {"app": "e"}},
                                     "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]}},
                         namespace=NS)
    pod["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    await c.update_status(rest.PODS, pod)


async def evict(c: rest.Client, name: str) -> None:
    await c.create(rest.PODS, {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name,
                                                                                           "namespace": NS}},
                   namespace=NS, subresource="eviction", name=name)


async def test_concurrent_evictions_spend_one_disruption(tmp_path: pathlib.Path) -> None:
    cluster = Cluster(tmp_path / "data")
    await cluster.start()
    try:
        c = cluster.client
        for i in range(3):
            await running_pod(c, f"p{i}")
        pdb = await c.create(rest.PODDISRUPTIONBUDGETS, {
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "budget"},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "e"}}}}, namespace=NS)
        # What the disruption controller would write (it does not run in this test).
        pdb["status"] = {"observedGeneration": pdb["metadata"]["generation"], "disruptionsAllowed": 1,
                         "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3}
        await c.update_status(rest.PODDISRUPTIONBUDGETS, pdb)
        results = await asyncio.gather(evict(c, "p0"), evict(c, "p1"), return_exceptions=True)
        refused = [r for r in results if isinstance(r, rest.ApiError)]
        assert len(refused) == 1 and refused[0].status_code == 429, results
        assert "needs 2 healthy pods and has 3 currently" in str(refused[0].status)
        after = await c.get(rest.PODDISRUPTIONBUDGETS, "budget", namespace=NS)
        assert after["status"]["disruptionsAllowed"] == 0 and len(after["status"]["disruptedPods"]) == 1
        # A second budget for the same pods makes eviction impossible to decide.
        await c.create(rest.PODDISRUPTIONBUDGETS, {
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "other"},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "e"}}}}, namespace=NS)
        # A consistent list returns once the watch cache holds the new budget.
        assert len((await c.list(rest.PODDISRUPTIONBUDGETS, namespace=NS))["items"]) == 2
        with pytest.raises(rest.ApiError) as err:
            await evict(c, "p2")
        assert err.value.status_code == 500 and "more than one PodDisruptionBudget" in err.value.message
    finally:
        await cluster.stop()
