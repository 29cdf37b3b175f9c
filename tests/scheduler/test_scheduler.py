"""The Scheduler against a real in-process API server: binding, failures, names, preemption."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from kubeling.client import rest
from kubeling.scheduler import scheduler as schedlib
from tests.controllers.harness import Cluster, eventually
from tests.scheduler import objects as o

Obj = dict[str, Any]


async def start(cluster: Cluster, **kw: Any) -> schedlib.Scheduler:
    sched = schedlib.Scheduler(cluster.client, **kw)
    cluster.spawn(sched.run())
    await asyncio.wait_for(sched.ready.wait(), 10)
    return sched


async def add_nodes(cluster: Cluster, *nodes: Obj) -> None:
    for n in nodes:
        await cluster.client.create(rest.NODES, n)


async def add_pod(cluster: Cluster, pod: Obj) -> Obj:
    pod = dict(pod, metadata={k: v for k, v in pod["metadata"].items() if k not in ("uid", "creationTimestamp")})
    pod["spec"] = {k: v for k, v in pod["spec"].items() if k != "priority"}
    return await cluster.client.create(rest.PODS, pod, namespace=pod["metadata"]["namespace"])


async def node_of(cluster: Cluster, name: str, namespace: str = "default") -> str:
    pod = await cluster.client.get(rest.PODS, name, namespace=namespace)
    return str(pod["spec"].get("nodeName") or "")


async def events_for(cluster: Cluster, name: str, reason: str, namespace: str = "default") -> list[Obj]:
    evs = (await cluster.client.list(rest.EVENTS, namespace=namespace))["items"]
    return [e for e in evs if e["involvedObject"]["name"] == name and e["reason"] == reason]


async def bound(cluster: Cluster, name: str, namespace: str = "default") -> str:
    async def check() -> str:
        node = await node_of(cluster, name, namespace)
        assert node, f"{name} is not bound yet"
        return node
    return await eventually(check, timeout=20)


async def failed(cluster: Cluster, name: str, expect: Callable[[str], bool] = lambda m: True,
                 namespace: str = "default") -> str:
    async def check() -> str:
        evs = await events_for(cluster, name, "FailedScheduling", namespace)
        assert evs and expect(evs[-1]["message"]), [e["message"] for e in evs]
        return str(evs[-1]["message"])
    return await eventually(check, timeout=20)


@pytest.fixture
async def sched(cluster: Cluster) -> AsyncIterator[schedlib.Scheduler]:
    yield await start(cluster)


async def test_pods_are_bound_with_scheduled_events(cluster: Cluster, sched: schedlib.Scheduler) -> None:
    await add_nodes(cluster, o.node("n1"), o.node("n2"), o.node("n3"))
    for i in range(6):
        await add_pod(cluster, o.pod(f"p{i}", cpu="100m"))
    nodes = [await bound(cluster, f"p{i}") for i in range(6)]
    assert set(nodes) <= {"n1", "n2", "n3"} and len(set(nodes)) > 1  # least-allocated spreads them

    async def scheduled_event() -> None:
        evs = await events_for(cluster, "p0", "Scheduled")
        assert evs and evs[0]["message"] == f"Successfully assigned default/p0 to {nodes[0]}"
        assert evs[0]["type"] == "Normal" and evs[0]["source"]["component"] == "default-scheduler"
    await eventually(scheduled_event)
    pod = await cluster.client.get(rest.PODS, "p0", namespace="default")
    conds = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert conds["PodScheduled"] == "True"


async def test_unschedulable_pod_gets_event_and_condition(cluster: Cluster, sched: schedlib.Scheduler) -> None:
    await add_nodes(cluster, o.node("small", cpu="1"), o.node("a", labels={"disk": "hdd"}, cpu="1"),
                    o.node("b", labels={"disk": "hdd"}, cpu="1"))
    await add_pod(cluster, o.pod("huge", cpu="2", spec={"nodeSelector": {"disk": "hdd"}}))
    # reasons are sorted as strings, counts included (as upstream)
    expected = ("0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
                "2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for "
                "scheduling, 2 No preemption victims found for incoming pod.")
    assert await failed(cluster, "huge") == expected

    async def condition() -> None:
        pod = await cluster.client.get(rest.PODS, "huge", namespace="default")
        cond = [c for c in pod["status"].get("conditions") or [] if c["type"] == "PodScheduled"]
        assert cond and cond[0]["status"] == "False" and cond[0]["reason"] == "Unschedulable"
        assert cond[0]["message"] == expected
    await eventually(condition)
    assert await node_of(cluster, "huge") == ""
    # A node where it fits arrives: the pod leaves the unschedulable queue and is bound.
    await add_nodes(cluster, o.node("c", labels={"disk": "hdd"}, cpu="8"))
    assert await bound(cluster, "huge") == "c"


async def test_failed_scheduling_message_shape(cluster: Cluster, sched: schedlib.Scheduler) -> None:
    await add_nodes(cluster, o.node("a", cpu="1"), o.node("b", labels={"x": "y"}), o.node("c", labels={"x": "y"}))
    await add_pod(cluster, o.pod("p", cpu="2", spec={"nodeSelector": {"z": "w"}}))
    msg = await failed(cluster, "p")
    assert msg == ("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: "
                   "0/3 nodes are available: 3 Preemption is not helpful for scheduling.")


async def test_other_scheduler_names_are_ignored(cluster: Cluster, sched: schedlib.Scheduler) -> None:
    await add_nodes(cluster, o.node("n1"))
    await add_pod(cluster, o.pod("theirs", spec={"schedulerName": "other-scheduler"}))
    await add_pod(cluster, o.pod("mine"))
    assert await bound(cluster, "mine") == "n1"
    await asyncio.sleep(0.2)
    assert await node_of(cluster, "theirs") == ""
    assert await events_for(cluster, "theirs", "FailedScheduling") == []
    other = await start(cluster, scheduler_name="other-scheduler")
    assert await bound(cluster, "theirs") == "n1"

    async def counted() -> None:
        assert other.scheduled == 1 and sched.scheduled == 1
    await eventually(counted)


@pytest.mark.conformance("Scheduler, node selector matching")
async def test_node_selector_matching(cluster: Cluster, sched: schedlib.Scheduler) -> None:
    await add_nodes(cluster, o.node("n1"), o.node("n2"), o.node("n3"))
    node = await cluster.client.get(rest.NODES, "n2")
    node["metadata"]["labels"]["kubernetes.io/e2e-42"] = "42"
    await cluster.client.update(rest.NODES, node)
    await add_pod(cluster, o.pod("with-labels", spec={"nodeSelector": {"kubernetes.io/e2e-42": "42"}}))
    assert await bound(cluster, "with-labels") == "n2"


@pytest.mark.conformance("Scheduler, node selector not matching")
async def test_node_selector_not_matching(cluster: Cluster, sched: schedlib.Scheduler) -> None:
    await add_nodes(cluster, o.node("n1"), o.node("n2"))
    await add_pod(cluster, o.pod("restricted", spec={"nodeSelector": {"label": "nonempty"}}))
    msg = await failed(cluster, "restricted")
    assert msg.startswith("0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.")
    assert await node_of(cluster, "restricted") == ""


@pytest.mark.conformance("Scheduler, resource limits")
async def test_resource_limits(cluster: Cluster, sched: schedlib.Scheduler) -> None:
    await add_nodes(cluster, o.node("n1", cpu="2"), o.node("n2", cpu="2"))
    # Fill each node to 70% of its cpu, as the upstream test does, then ask for half a node more.
    for i in range(2):
        await add_pod(cluster, o.pod(f"filler{i}", cpu="1400m"))
    fillers = {await bound(cluster, f"filler{i}") for i in range(2)}
    assert fillers == {"n1", "n2"}
    await add_pod(cluster, o.pod("additional", cpu="1"))
    msg = await failed(cluster, "additional")
    assert msg.startswith("0/2 nodes are available: 2 Insufficient cpu.")
    assert await node_of(cluster, "additional") == ""


@pytest.mark.conformance("Scheduling, HostPort and Protocol match, HostIPs different but one is default HostIP (0.0.0.0)")
async def test_host_port_conflict_with_any_ip(cluster: Cluster, sched: schedlib.Scheduler) -> None:
    await add_nodes(cluster, o.node("n1"), o.node("n2", labels={"kubernetes.io/e2e-hostport": "95"}))
    sel = {"nodeSelector": {"kubernetes.io/e2e-hostport": "95"}}
    await add_pod(cluster, o.pod("pod4", spec=sel, ports=[{"containerPort": 8080, "hostPort": 54322,
                                                            "hostIP": "0.0.0.0", "protocol": "TCP"}]))
    assert await bound(cluster, "pod4") == "n2"
    await add_pod(cluster, o.pod("pod5", spec=sel, ports=[{"containerPort": 8080, "hostPort": 54322,
                                                            "hostIP": "127.0.0.1", "protocol": "TCP"}]))
    msg = await failed(cluster, "pod5")
    assert "1 node(s) didn't have free ports for the requested pod ports" in msg
    assert await node_of(cluster, "pod5") == ""


async def test_same_host_port_different_ip_or_protocol_share_a_node(cluster: Cluster,
                                                                    sched: schedlib.Scheduler) -> None:
    await add_nodes(cluster, o.node("n1"))
    for name, ip, proto in (("pod1", "127.0.0.1", "TCP"), ("pod2", "127.0.0.2", "TCP"), ("pod3", "127.0.0.2", "UDP")):
        await add_pod(cluster, o.pod(name, ports=[{"containerPort": 8080, "hostPort": 54323, "hostIP": ip,
                                                   "protocol": proto}]))
        assert await bound(cluster, name) == "n1"


async def test_deleting_a_pod_frees_room_for_a_waiting_one(cluster: Cluster, sched: schedlib.Scheduler) -> None:
    await add_nodes(cluster, o.node("n1", cpu="1"))
    await add_pod(cluster, o.pod("first", cpu="800m"))
    await bound(cluster, "first")
    await add_pod(cluster, o.pod("second", cpu="800m"))
    await failed(cluster, "second")
    await cluster.client.delete(rest.PODS, "first", namespace="default", grace_period_seconds=0)
    assert await bound(cluster, "second") == "n1"


# ---- preemption -------------------------------------------------------------------------
async def priority_class(cluster: Cluster, name: str, value: int) -> None:
    await cluster.client.create(rest.PRIORITYCLASSES, {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                                       "metadata": {"name": name}, "value": value})


async def finish_eviction(cluster: Cluster, name: str, namespace: str = "default") -> Obj:
    """Play the kubelet: once the scheduler deletes a victim, remove it for good."""
    async def terminating() -> Obj:
        pod = await cluster.client.get(rest.PODS, name, namespace=namespace)
        assert pod["metadata"].get("deletionTimestamp"), f"{name} is not being deleted"
        return pod
    pod = await eventually(terminating, timeout=20)
    try:
        await cluster.client.delete(rest.PODS, name, namespace=namespace, grace_period_seconds=0)
    except rest.NotFound:
        pass
    return pod


def _disrupted(pod: Obj) -> bool:
    return any(c["type"] == "DisruptionTarget" and c["status"] == "True" and c["reason"] == "PreemptionByScheduler"
               for c in pod["status"].get("conditions") or [])


@pytest.mark.conformance("Scheduler, Basic Preemption")
async def test_basic_preemption(cluster: Cluster, sched: schedlib.Scheduler) -> None:
    await priority_class(cluster, "low", 1)
    await priority_class(cluster, "medium", 100)
    await priority_class(cluster, "high", 1000)
    await add_nodes(cluster, o.node("n1", cpu="1"), o.node("n2", cpu="1"))
    # One low and one medium pod fill the two nodes (each takes most of one node).
    await add_pod(cluster, o.pod("low-pod", cpu="600m", spec={"priorityClassName": "low",
                                                               "nodeSelector": {"kubernetes.io/hostname": "n1"}}))
    await add_pod(cluster, o.pod("medium-pod", cpu="600m", spec={"priorityClassName": "medium",
                                                                  "nodeSelector": {"kubernetes.io/hostname": "n2"}}))
    await bound(cluster, "low-pod")
    await bound(cluster, "medium-pod")
    await add_pod(cluster, o.pod("preemptor", cpu="600m", spec={"priorityClassName": "high"}))
    victim = await finish_eviction(cluster, "low-pod")
    assert _disrupted(victim)
    assert await bound(cluster, "preemptor") == "n1"
    pod = await cluster.client.get(rest.PODS, "preemptor", namespace="default")
    assert pod["status"].get("nominatedNodeName") in ("n1", None)
    medium = await cluster.client.get(rest.PODS, "medium-pod", namespace="default")
    assert not medium["metadata"].get("deletionTimestamp")
    assert await events_for(cluster, "low-pod", "Preempted")


@pytest.mark.conformance("Scheduler, Preemption for critical pod")
async def test_critical_pod_preempts(cluster: Cluster, sched: schedlib.Scheduler) -> None:
    await priority_class(cluster, "low", 1)
    await add_nodes(cluster, o.node("n1", cpu="1"))
    await add_pod(cluster, o.pod("low-pod", cpu="800m", spec={"priorityClassName": "low"}))
    await bound(cluster, "low-pod")
    await add_pod(cluster, o.pod("critical", namespace="kube-system", cpu="800m",
                                 spec={"priorityClassName": "system-cluster-critical"}))
    await finish_eviction(cluster, "low-pod")
    assert await bound(cluster, "critical", "kube-system") == "n1"


@pytest.mark.conformance("Verify the DisruptionTarget condition is added to the preempted pod")
async def test_preempted_pod_gets_disruption_condition(cluster: Cluster, sched: schedlib.Scheduler) -> None:
    await priority_class(cluster, "low", 1)
    await priority_class(cluster, "high", 1000)
    await add_nodes(cluster, o.node("n1", cpu="1"))
    victim = o.pod("victim", cpu="1", spec={"priorityClassName": "low"})
    victim["metadata"]["finalizers"] = ["example.com/test-finalizer"]
    await add_pod(cluster, victim)
    await bound(cluster, "victim")
    await add_pod(cluster, o.pod("preemptor", cpu="1", spec={"priorityClassName": "high"}))

    async def disrupted() -> None:
        pod = await cluster.client.get(rest.PODS, "victim", namespace="default")
        assert pod["metadata"].get("deletionTimestamp") and _disrupted(pod)
    await eventually(disrupted, timeout=20)
    await cluster.client.patch(rest.PODS, "victim", {"metadata": {"finalizers": None}}, namespace="default")
    try:
        await cluster.client.delete(rest.PODS, "victim", namespace="default", grace_period_seconds=0)
    except rest.NotFound:
        pass
    assert await bound(cluster, "preemptor") == "n1"


async def test_preemption_never_policy_does_not_evict(cluster: Cluster, sched: schedlib.Scheduler) -> None:
    await cluster.client.create(rest.PRIORITYCLASSES, {
        "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "polite"},
        "value": 1000, "preemptionPolicy": "Never"})
    await add_nodes(cluster, o.node("n1", cpu="1"))
    await add_pod(cluster, o.pod("low-pod", cpu="800m"))
    await bound(cluster, "low-pod")
    await add_pod(cluster, o.pod("polite", cpu="800m", spec={"priorityClassName": "polite"}))
    msg = await failed(cluster, "polite")
    assert msg.endswith("preemption: not eligible due to preemptionPolicy=Never.")
    low = await cluster.client.get(rest.PODS, "low-pod", namespace="default")
    assert not low["metadata"].get("deletionTimestamp")


async def test_scheduling_gates_hold_a_pod_back(cluster: Cluster, sched: schedlib.Scheduler) -> None:
    await add_nodes(cluster, o.node("n1"))
    await add_pod(cluster, o.pod("gated", spec={"schedulingGates": [{"name": "example.com/wait"}]}))

    async def held() -> None:
        pod = await cluster.client.get(rest.PODS, "gated", namespace="default")
        cond = [c for c in pod["status"].get("conditions") or [] if c["type"] == "PodScheduled"]
        assert cond and cond[0]["reason"] == "SchedulingGated" and cond[0]["status"] == "False"
    await eventually(held)
    assert await node_of(cluster, "gated") == ""
    await cluster.client.patch(rest.PODS, "gated", {"spec": {"schedulingGates": None}}, namespace="default")
    assert await bound(cluster, "gated") == "n1"


async def test_failed_binding_is_forgotten_and_retried(cluster: Cluster, sched: schedlib.Scheduler) -> None:
    await add_nodes(cluster, o.node("n1", cpu="1"))
    real_create = sched.client.create
    refused: list[str] = []

    async def flaky_create(ref: rest.ResourceRef, obj: Obj, **kw: Any) -> Obj:
        if kw.get("subresource") == "binding" and not refused:
            refused.append(obj["metadata"]["name"])
            raise rest.ServerError(500, "InternalError", "etcdserver: request timed out")
        return await real_create(ref, obj, **kw)

    sched.client.create = flaky_create  # type: ignore[method-assign]
    try:
        await add_pod(cluster, o.pod("p", cpu="800m"))
        assert await bound(cluster, "p") == "n1"
    finally:
        sched.client.create = real_create  # type: ignore[method-assign]
    assert refused == ["p"]
    msg = await failed(cluster, "p")
    assert msg.startswith("Binding rejected:")
    ni = sched.cache.get("n1")
    assert ni is not None and ni.req_cpu == 800 and not sched.cache.is_assumed("default/p")  # counted once
