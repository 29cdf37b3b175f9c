"""The node lifecycle controller marks silent nodes Unknown, taints nodes by
their conditions, and marks pods on not-Ready nodes not Ready."""

from __future__ import annotations

import datetime
from typing import Any

from kubeling.client import clock as clocklib
from kubeling.client import rest
from kubeling.controllers import base, nodelifecycle
from kubeling.lib import timeutil
from tests.controllers.harness import Cluster, eventually

GRACE = 40.0


def ready_condition(status: str = "True") -> dict[str, Any]:
    now = timeutil.rfc3339_micro()
    return {"type": "Ready", "status": status, "reason": "KubeletReady", "message": "kubelet is posting ready status",
            "lastHeartbeatTime": now, "lastTransitionTime": now}


async def post_status(c: rest.Client, name: str, status: str = "True") -> None:
    node = await c.get(rest.NODES, name)
    conds = [x for x in (node.get("status") or {}).get("conditions") or [] if x["type"] != "Ready"]
    node.setdefault("status", {})["conditions"] = conds + [ready_condition(status)]
    await c.update_status(rest.NODES, node)


async def start(cluster: Cluster) -> tuple[nodelifecycle.NodeLifecycleController, clocklib.FakeClock]:
    clock = clocklib.FakeClock()
    opts = base.Options(node_monitor_grace_period=GRACE, node_monitor_period=5.0)
    ctrl = await cluster.run(nodelifecycle.NodeLifecycleController, ctx=cluster.context(clock=clock, options=opts))
    return ctrl, clock  # type: ignore[return-value]


async def make_node(c: rest.Client, name: str, *, conditions: bool = True) -> None:
    await c.create(rest.NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
    if conditions:
        await post_status(c, name)


async def observed(ctrl: nodelifecycle.NodeLifecycleController, name: str, **want: Any) -> None:
    async def check() -> None:
        h = ctrl.health.get(name)
        assert h is not None
        for k, v in want.items():
            assert getattr(h, k) == v
    await eventually(check)


def taint_keys(node: dict[str, Any]) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in (node.get("spec") or {}).get("taints") or []}


def cond(node: dict[str, Any], ctype: str) -> dict[str, Any]:
    found = [x for x in (node.get("status") or {}).get("conditions") or [] if x["type"] == ctype]
    assert found, f"no {ctype} condition"
    return found[0]


async def test_silent_node_becomes_unknown_and_recovers(cluster: Cluster) -> None:
    c = cluster.client
    ctrl, clock = await start(cluster)
    await make_node(c, "n1")
    await c.create(rest.PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                               "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "pause"}]}},
                   namespace="default")
    pod = await c.get(rest.PODS, "p", namespace="default")
    pod["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    await c.update_status(rest.PODS, pod)
    node = await c.get(rest.NODES, "n1")
    await observed(ctrl, "n1", heartbeat=cond(node, "Ready")["lastHeartbeatTime"])
    clock.step(GRACE - 1)
    await ctrl.reconcile("n1")
    assert cond(await c.get(rest.NODES, "n1"), "Ready")["status"] == "True"
    clock.step(2)

    async def unknown() -> None:
        node = await c.get(rest.NODES, "n1")
        ready = cond(node, "Ready")
        assert (ready["status"], ready["reason"], ready["message"]) == \
            ("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
        assert taint_keys(node) == {(nodelifecycle.UNREACHABLE, "NoExecute"), (nodelifecycle.UNREACHABLE, "NoSchedule")}
        assert next(t for t in node["spec"]["taints"] if t["effect"] == "NoExecute")["timeAdded"]
        p = await c.get(rest.PODS, "p", namespace="default")
        assert cond(p, "Ready")["status"] == "False"
    await eventually(unknown)

    await post_status(c, "n1")  # the kubelet is back

    async def healthy() -> None:
        node = await c.get(rest.NODES, "n1")
        assert cond(node, "Ready")["status"] == "True"
        assert taint_keys(node) == set()
    await eventually(healthy)


async def test_lease_renewal_keeps_node_alive(cluster: Cluster) -> None:
    c = cluster.client
    ctrl, clock = await start(cluster)
    await make_node(c, "n1")
    lease = await c.create(rest.LEASES, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                         "metadata": {"name": "n1", "namespace": "kube-node-lease"},
                                         "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40,
                                                  "renewTime": timeutil.rfc3339_micro()}},
                           namespace="kube-node-lease")
    await observed(ctrl, "n1", renew=lease["spec"]["renewTime"])
    for i in range(3):
        clock.step(GRACE - 10)
        lease["spec"]["renewTime"] = timeutil.rfc3339_micro(timeutil.now() + datetime.timedelta(seconds=i + 1))
        lease = await c.update(rest.LEASES, lease)
        await observed(ctrl, "n1", renew=lease["spec"]["renewTime"])
    await ctrl.reconcile("n1")
    assert cond(await c.get(rest.NODES, "n1"), "Ready")["status"] == "True"


async def test_not_ready_and_never_posted_nodes(cluster: Cluster) -> None:
    c = cluster.client
    ctrl, clock = await start(cluster)
    await make_node(c, "sick")
    await post_status(c, "sick", "False")

    async def not_ready_tainted() -> None:
        node = await c.get(rest.NODES, "sick")
        assert taint_keys(node) == {(nodelifecycle.NOT_READY, "NoExecute"), (nodelifecycle.NOT_READY, "NoSchedule")}
    await eventually(not_ready_tainted)

    await make_node(c, "mute", conditions=False)
    await observed(ctrl, "mute")
    clock.step(GRACE + 1)

    async def never() -> None:
        node = await c.get(rest.NODES, "mute")
        ready = cond(node, "Ready")
        assert (ready["status"], ready["reason"], ready["message"]) == \
            ("Unknown", "NodeStatusNeverUpdated", "Kubelet never posted node status.")
        assert cond(node, "MemoryPressure")["status"] == "Unknown"
        assert (nodelifecycle.UNREACHABLE, "NoExecute") in taint_keys(node)
    await eventually(never)


def test_desired_taints_keep_foreign_ones_and_follow_conditions() -> None:
    foreign = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    node = {"spec": {"unschedulable": True, "taints": [foreign, {"key": nodelifecycle.UNREACHABLE,
                                                                 "effect": "NoExecute"}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"},
                                      {"type": "DiskPressure", "status": "True"}]}}
    assert nodelifecycle.desired_taints(node, "t") == [
        foreign, {"key": "node.kubernetes.io/disk-pressure", "effect": "NoSchedule"},
        {"key": nodelifecycle.UNSCHEDULABLE, "effect": "NoSchedule"}]
