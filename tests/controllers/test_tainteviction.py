"""The taint-eviction controller deletes pods from NoExecute-tainted nodes, at
once or after their tolerationSeconds, and cancels when the taint goes."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.client import clock as clocklib
from kubeling.client import rest
from kubeling.controllers import tainteviction
from tests.controllers.harness import Cluster, eventually

NS = "default"
TAINT = {"key": "kubernetes.io/e2e-evict-taint-key", "value": "evictTaintVal", "effect": "NoExecute"}


def toleration(seconds: int | None) -> dict[str, Any]:
    t: dict[str, Any] = {"key": TAINT["key"], "operator": "Equal", "value": TAINT["value"], "effect": "NoExecute"}
    if seconds is not None:
        t["tolerationSeconds"] = seconds
    return t


async def make_node(c: rest.Client, name: str) -> None:
    await c.create(rest.NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})


async def set_taints(c: rest.Client, name: str, taints: list[dict[str, Any]]) -> None:
    node = await c.get(rest.NODES, name)
    node.setdefault("spec", {})["taints"] = taints
    await c.update(rest.NODES, node)


async def make_pod(c: rest.Client, name: str, node: str, tolerations: list[dict[str, Any]]) -> None:
    await c.create(rest.PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                               "spec": {"nodeName": node, "tolerations": tolerations,
                                        "containers": [{"name": "pause", "image": "pause"}]}}, namespace=NS)


async def evicted(c: rest.Client, name: str) -> bool:
    try:
        pod = await c.get(rest.PODS, name, namespace=NS)
    except rest.NotFound:
        return True
    return bool(pod["metadata"].get("deletionTimestamp"))


async def start(cluster: Cluster) -> tuple[tainteviction.TaintEvictionController, clocklib.FakeClock]:
    clock = clocklib.FakeClock()
    ctrl = await cluster.run(tainteviction.TaintEvictionController, ctx=cluster.context(clock=clock))
    return ctrl, clock  # type: ignore[return-value]


async def wait_scheduled(ctrl: tainteviction.TaintEvictionController, *names: str) -> None:
    async def check() -> None:
        assert all(f"{NS}/{n}" in ctrl.scheduled for n in names)
    await eventually(check)


def test_toleration_time() -> None:
    assert tainteviction.toleration_time([TAINT], []) is None
    assert tainteviction.toleration_time([TAINT], [toleration(None)]) == tainteviction.FOREVER
    assert tainteviction.toleration_time([TAINT], [toleration(30), toleration(10)]) == 10
    assert tainteviction.toleration_time([TAINT], [{"operator": "Exists", "tolerationSeconds": 7}]) == 7
    assert tainteviction.toleration_time([TAINT, {"key": "other", "effect": "NoExecute"}], [toleration(5)]) is None


async def test_untolerated_taint_evicts_at_once(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    await make_node(c, "n1")
    await make_pod(c, "victim", "n1", [])
    await make_pod(c, "tolerant", "n1", [toleration(None)])
    await set_taints(c, "n1", [TAINT])

    async def gone() -> None:
        assert await evicted(c, "victim")
        pod = await c.get(rest.PODS, "victim", namespace=NS)
        assert any(x["type"] == "DisruptionTarget" and x["reason"] == "DeletionByTaintManager"
                   for x in pod["status"]["conditions"])
    await eventually(gone)

    async def event() -> None:
        evs = (await c.list(rest.EVENTS, namespace=NS))["items"]
        assert any(e["reason"] == "TaintManagerEviction" and e["message"] == "Marking for deletion Pod default/victim"
                   for e in evs)
    await eventually(event)
    assert not await evicted(c, "tolerant")


@pytest.mark.conformance("Taint, Pod Eviction on taint removal")
async def test_removing_taint_cancels_eviction(cluster: Cluster) -> None:
    c = cluster.client
    ctrl, clock = await start(cluster)
    await make_node(c, "n1")
    await make_node(c, "n2")
    await make_pod(c, "taint-eviction-4", "n1", [toleration(60)])
    await make_pod(c, "sentinel", "n2", [toleration(60)])
    await set_taints(c, "n1", [TAINT])
    await set_taints(c, "n2", [TAINT])
    await wait_scheduled(ctrl, "taint-eviction-4", "sentinel")
    clock.step(30)
    await set_taints(c, "n1", [])

    async def cancelled() -> None:
        assert f"{NS}/taint-eviction-4" not in ctrl.scheduled
    await eventually(cancelled)
    clock.step(45)  # past the 60 s the pod tolerated the taint for

    async def sentinel_evicted() -> None:
        assert await evicted(c, "sentinel")
    await eventually(sentinel_evicted)
    await ctrl.reconcile(f"{NS}/taint-eviction-4")
    assert not await evicted(c, "taint-eviction-4")
    evs = (await c.list(rest.EVENTS, namespace=NS))["items"]
    assert any(e["message"] == "Cancelling deletion of Pod default/taint-eviction-4" for e in evs)


@pytest.mark.conformance("Pod Eviction, Toleration limits")
async def test_pods_evicted_after_their_min_toleration_seconds(cluster: Cluster) -> None:
    c = cluster.client
    ctrl, clock = await start(cluster)
    await make_node(c, "n1")
    await make_pod(c, "taint-eviction-b1", "n1", [toleration(5)])
    await make_pod(c, "taint-eviction-b2", "n1", [toleration(25), toleration(None)])
    await set_taints(c, "n1", [TAINT])
    await wait_scheduled(ctrl, "taint-eviction-b1", "taint-eviction-b2")
    clock.step(6)

    async def first() -> None:
        assert await evicted(c, "taint-eviction-b1")
    await eventually(first)
    await ctrl.reconcile(f"{NS}/taint-eviction-b2")
    assert not await evicted(c, "taint-eviction-b2")
    clock.step(20)

    async def second() -> None:
        assert await evicted(c, "taint-eviction-b2")
    await eventually(second)
