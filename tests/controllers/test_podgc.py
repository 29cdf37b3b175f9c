"""The pod GC removes orphaned pods (after quarantine), excess terminated pods
(oldest first) and unscheduled terminating pods."""

from __future__ import annotations

from typing import Any

from kubeling.client import clock as clocklib
from kubeling.client import rest
from kubeling.controllers import base, podgc
from tests.controllers.harness import Cluster, eventually

NS = "default"


def pod(name: str, node: str = "", **meta: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "pause"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **meta}, "spec": spec}


async def exists(c: rest.Client, name: str) -> bool:
    try:
        await c.get(rest.PODS, name, namespace=NS)
    except rest.NotFound:
        return False
    return True


async def test_orphaned_pods_deleted_after_quarantine(cluster: Cluster) -> None:
    c = cluster.client
    await c.create(rest.NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "alive"}})
    await c.create(rest.PODS, pod("orphan", "gone-node"), namespace=NS)
    await c.create(rest.PODS, pod("fine", "alive"), namespace=NS)
    clock = clocklib.FakeClock()
    ctrl = await cluster.run(podgc.PodGCController, ctx=cluster.context(clock=clock))

    async def noticed() -> None:
        assert f"{NS}/orphan" in ctrl.missing_since  # type: ignore[attr-defined]
    await eventually(noticed)
    assert await exists(c, "orphan")
    clock.step(podgc.PodGCController.QUARANTINE + 1)

    async def deleted() -> None:
        assert not await exists(c, "orphan")
    await eventually(deleted)
    assert await exists(c, "fine")


async def test_terminated_pods_over_threshold_oldest_first(cluster: Cluster) -> None:
    c = cluster.client
    for i in range(4):
        await c.create(rest.PODS, pod(f"done-{i}"), namespace=NS)
        p = await c.get(rest.PODS, f"done-{i}", namespace=NS)
        p["status"] = {"phase": "Succeeded" if i % 2 else "Failed"}
        await c.update_status(rest.PODS, p)
    await c.create(rest.PODS, pod("running"), namespace=NS)
    names = {i: (await c.get(rest.PODS, f"done-{i}", namespace=NS))["metadata"]["creationTimestamp"]
             for i in range(4)}
    assert names[0] <= names[3]
    ctx = cluster.context(options=base.Options(terminated_pod_gc_threshold=2))
    await cluster.run(podgc.PodGCController, ctx=ctx)

    async def trimmed() -> None:
        left = {p["metadata"]["name"] for p in (await c.list(rest.PODS, namespace=NS))["items"]}
        assert len(left & {f"done-{i}" for i in range(4)}) == 2
        assert "running" in left
    await eventually(trimmed)
    left = {p["metadata"]["name"] for p in (await c.list(rest.PODS, namespace=NS))["items"]}
    # The survivors are the newest by creationTimestamp (ties broken by name).
    ranked = sorted(range(4), key=lambda i: (names[i], f"done-{i}"))
    assert left >= {f"done-{i}" for i in ranked[2:]}


async def test_unscheduled_terminating_pod_is_removed(cluster: Cluster) -> None:
    # The API server itself gives unscheduled pods no grace, so a terminating
    # unscheduled pod shows up only from elsewhere (an older server, a restore):
    # the cache is handed one here.
    c = cluster.client
    await c.create(rest.PODS, pod("stuck"), namespace=NS)
    await c.create(rest.PODS, pod("pending"), namespace=NS)
    ctrl = await cluster.run(podgc.PodGCController)
    await eventually(lambda: _cached(ctrl, "stuck"))
    stuck = dict(ctrl.pods.store.get(f"{NS}/stuck"))  # type: ignore[attr-defined]
    stuck["metadata"] = {**stuck["metadata"], "deletionTimestamp": "2020-01-01T00:00:00Z",
                         "deletionGracePeriodSeconds": 30}
    ctrl.pods.store.put(stuck)  # type: ignore[attr-defined]
    await ctrl.gc_unscheduled_terminating()  # type: ignore[attr-defined]
    assert not await exists(c, "stuck")
    assert await exists(c, "pending")


async def _cached(ctrl: base.Controller, name: str) -> None:
    assert ctrl.pods.store.get(f"{NS}/{name}") is not None  # type: ignore[attr-defined]
