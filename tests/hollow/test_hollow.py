"""Hollow nodes against an in-process API server: registration, leases, pods."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import pytest

from kubeling.client import rest
from kubeling.hollow import objects, runner
from kubeling.lib import timeutil
from tests.controllers.harness import Cluster, eventually

Obj = dict[str, Any]


async def start(cluster: Cluster, **kw: Any) -> runner.HollowNodes:
    opts = runner.Options(**{"count": 3, "heartbeat_interval": 0.5, "concurrency": 8, "pod_workers": 4, **kw})
    hollow = runner.HollowNodes(cluster.client, opts)
    cluster.spawn(hollow.run())
    await asyncio.wait_for(hollow.ready.wait(), 30)
    return hollow


async def stop(cluster: Cluster) -> None:
    task = cluster._tasks[-1]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def condition(obj: Obj, ctype: str) -> Obj:
    return next(c for c in obj["status"].get("conditions") or [] if c["type"] == ctype)


def pod(name: str, node: str, **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"},
                                                      {"name": "d", "image": "registry.k8s.io/pause:3.9"}],
                     **spec}}


async def wait_phase(cluster: Cluster, name: str, phase: str) -> Obj:
    async def check() -> Obj:
        p = await cluster.client.get(rest.PODS, name, namespace="default")
        assert p["status"].get("phase") == phase
        return p
    return await eventually(check, timeout=20)  # type: ignore[no-any-return]


async def test_nodes_register_ready_with_leases(cluster: Cluster) -> None:
    await start(cluster, count=5, cpu="8", memory="32Gi", pods=50)
    nodes = (await cluster.client.list(rest.NODES))["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == [f"hollow-{i}" for i in range(5)]
    for n in nodes:
        name = n["metadata"]["name"]
        labels = n["metadata"]["labels"]
        assert labels["kubernetes.io/hostname"] == name
        assert labels["kubernetes.io/os"] == "linux" and labels["kubernetes.io/arch"] == "amd64"
        assert labels["type"] == "hollow"
        assert n["status"]["capacity"]["cpu"] == "8" and n["status"]["allocatable"]["memory"] == "32Gi"
        assert n["status"]["capacity"]["pods"] == "50" and n["status"]["capacity"]["ephemeral-storage"]
        assert condition(n, "Ready")["status"] == "True"
        assert condition(n, "Ready")["lastHeartbeatTime"]
        for ctype in ("MemoryPressure", "DiskPressure", "PIDPressure"):
            assert condition(n, ctype)["status"] == "False"
        assert n["status"]["nodeInfo"]["kubeletVersion"].startswith("v1.")
        ips = [a["address"] for a in n["status"]["addresses"] if a["type"] == "InternalIP"]
        assert ips and ipaddress.ip_address(ips[0]) in ipaddress.ip_network("10.200.0.0/13")
        lease = await cluster.client.get(rest.LEASES, name, namespace="kube-node-lease")
        assert lease["spec"]["holderIdentity"] == name
        assert lease["spec"]["leaseDurationSeconds"] == 40
        assert timeutil.parse(lease["spec"]["renewTime"]) is not None
        assert lease["metadata"]["ownerReferences"][0]["uid"] == n["metadata"]["uid"]


async def renew_time(cluster: Cluster, name: str) -> str:
    lease = await cluster.client.get(rest.LEASES, name, namespace="kube-node-lease")
    return str(lease["spec"]["renewTime"])


async def test_leases_are_renewed_until_the_process_stops(cluster: Cluster) -> None:
    await start(cluster, count=2)
    first = await renew_time(cluster, "hollow-1")

    async def renewed() -> None:
        assert await renew_time(cluster, "hollow-1") != first
    await eventually(renewed, timeout=20)

    await stop(cluster)
    stopped = await renew_time(cluster, "hollow-1")
    await asyncio.sleep(2.0)  # four heartbeat intervals
    assert await renew_time(cluster, "hollow-1") == stopped
    # Without cleanup the nodes stay registered, as with a kubelet that died.
    assert (await cluster.client.get(rest.NODES, "hollow-1"))["metadata"]["name"] == "hollow-1"


async def test_cleanup_deletes_the_nodes(cluster: Cluster) -> None:
    await start(cluster, count=2, cleanup=True)
    await stop(cluster)
    assert (await cluster.client.list(rest.NODES))["items"] == []
    assert (await cluster.client.list(rest.LEASES, namespace="kube-node-lease"))["items"] == []


async def test_pod_becomes_running_and_ready(cluster: Cluster) -> None:
    await start(cluster)
    await cluster.client.create(rest.PODS, pod("web", "hollow-2"), namespace="default")
    p = await wait_phase(cluster, "web", "Running")
    st = p["status"]
    node = await cluster.client.get(rest.NODES, "hollow-2")
    host_ip = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
    assert st["hostIP"] == host_ip and st["hostIPs"] == [{"ip": host_ip}]
    assert st["podIP"] and st["podIPs"] == [{"ip": st["podIP"]}] and st["podIP"] != host_ip
    assert timeutil.parse(st["startTime"]) is not None
    for ctype in ("PodScheduled", "Initialized", "ContainersReady", "Ready"):
        assert condition(p, ctype)["status"] == "True"
    assert [c["name"] for c in st["containerStatuses"]] == ["c", "d"]
    for cs in st["containerStatuses"]:
        assert cs["ready"] is True and cs["started"] is True and cs["restartCount"] == 0
        assert "running" in cs["state"]
        assert cs["containerID"].startswith("hollow://") and "@sha256:" in cs["imageID"]


async def test_pods_on_one_node_get_distinct_ips_from_its_range(cluster: Cluster) -> None:
    await start(cluster, count=1)
    for i in range(5):
        await cluster.client.create(rest.PODS, pod(f"p{i}", "hollow-0"), namespace="default")

    async def all_running() -> list[str]:
        items = (await cluster.client.list(rest.PODS, namespace="default"))["items"]
        assert len(items) == 5 and all(p["status"].get("phase") == "Running" for p in items)
        return [p["status"]["podIP"] for p in items]
    ips = await eventually(all_running, timeout=20)
    assert len(set(ips)) == 5
    node = await cluster.client.get(rest.NODES, "hollow-0")
    cidr = (node.get("spec") or {}).get("podCIDR")
    net = ipaddress.ip_network(cidr) if cidr else objects.fallback_pod_cidr(0)
    assert all(ipaddress.ip_address(ip) in net for ip in ips)


async def test_host_network_pod_uses_the_node_ip(cluster: Cluster) -> None:
    await start(cluster, count=1)
    await cluster.client.create(rest.PODS, pod("hn", "hollow-0", hostNetwork=True), namespace="default")
    p = await wait_phase(cluster, "hn", "Running")
    assert p["status"]["podIP"] == p["status"]["hostIP"] == objects.node_ip(0)


@pytest.mark.parametrize("policy", ["Never", "OnFailure"])
async def test_run_to_completion_pod_succeeds(cluster: Cluster, policy: str) -> None:
    await start(cluster, pod_run_seconds=0.5)
    await cluster.client.create(rest.PODS, pod("job", "hollow-0", restartPolicy=policy), namespace="default")
    p = await wait_phase(cluster, "job", "Succeeded")
    assert [cs["name"] for cs in p["status"]["containerStatuses"]] == ["c", "d"]
    for cs in p["status"]["containerStatuses"]:
        term = cs["state"]["terminated"]
        assert term["exitCode"] == 0 and term["reason"] == "Completed" and cs["ready"] is False
    assert condition(p, "Ready")["status"] == "False"


async def test_init_containers_are_reported_completed(cluster: Cluster) -> None:
    await start(cluster, count=1)
    await cluster.client.create(rest.PODS, pod("init", "hollow-0", initContainers=[
        {"name": "setup", "image": "busybox"}]), namespace="default")
    p = await wait_phase(cluster, "init", "Running")
    [ics] = p["status"]["initContainerStatuses"]
    assert ics["name"] == "setup" and ics["state"]["terminated"]["exitCode"] == 0


async def test_deleted_pod_disappears(cluster: Cluster) -> None:
    await start(cluster)
    await cluster.client.create(rest.PODS, pod("gone", "hollow-1"), namespace="default")
    await wait_phase(cluster, "gone", "Running")
    # A graceful delete (30 s by default): the hollow kubelet stops the pod and removes it.
    deleted = await cluster.client.delete(rest.PODS, "gone", namespace="default")
    assert deleted.get("metadata", {}).get("deletionTimestamp")

    async def absent() -> None:
        try:
            await cluster.client.get(rest.PODS, "gone", namespace="default")
        except rest.NotFound:
            return
        raise AssertionError("the pod is still there")
    await eventually(absent, timeout=20)


async def test_pods_on_other_nodes_are_left_alone(cluster: Cluster) -> None:
    hollow = await start(cluster, count=1)
    await cluster.client.create(rest.PODS, pod("elsewhere", "real-node"), namespace="default")
    await cluster.client.create(rest.PODS, pod("here", "hollow-0"), namespace="default")
    await wait_phase(cluster, "here", "Running")
    other = await cluster.client.get(rest.PODS, "elsewhere", namespace="default")
    assert other["status"].get("phase") == "Pending"
    assert hollow.pods.started == 1


async def test_readiness_gate_holds_ready_until_set(cluster: Cluster) -> None:
    await start(cluster, count=1)
    gated = pod("gated", "hollow-0", readinessGates=[{"conditionType": "example.com/gate"}])
    await cluster.client.create(rest.PODS, gated, namespace="default")
    p = await wait_phase(cluster, "gated", "Running")
    assert condition(p, "Ready")["status"] == "False" and condition(p, "ContainersReady")["status"] == "True"
    conds = p["status"]["conditions"] + [{"type": "example.com/gate", "status": "True"}]
    await cluster.client.patch(rest.PODS, "gated", {"status": {"conditions": conds}}, namespace="default",
                               subresource="status")

    async def ready() -> None:
        p = await cluster.client.get(rest.PODS, "gated", namespace="default")
        assert condition(p, "Ready")["status"] == "True"
        assert condition(p, "example.com/gate")["status"] == "True"
    await eventually(ready, timeout=20)


async def test_existing_node_is_taken_over(cluster: Cluster) -> None:
    stale = objects.node_object(0, objects.NodeShape())
    stale["status"]["conditions"] = [{"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown"}]
    await cluster.client.create(rest.NODES, stale)
    await start(cluster, count=1)
    node = await cluster.client.get(rest.NODES, "hollow-0")
    assert condition(node, "Ready")["status"] == "True"


async def test_node_marked_not_ready_by_someone_else_is_posted_ready_again(cluster: Cluster) -> None:
    await start(cluster, count=1)
    node = await cluster.client.get(rest.NODES, "hollow-0")
    conds = [dict(c, status="Unknown", reason="NodeStatusUnknown") if c["type"] == "Ready" else c
             for c in node["status"]["conditions"]]
    await cluster.client.patch(rest.NODES, "hollow-0", {"status": {"conditions": conds}}, subresource="status")

    async def ready_again() -> None:
        assert condition(await cluster.client.get(rest.NODES, "hollow-0"), "Ready")["status"] == "True"
    await eventually(ready_again, timeout=20)


async def test_pod_ips_come_from_the_pod_cidr_the_cluster_assigned(cluster: Cluster) -> None:
    from kubeling.controllers import nodeipam  # the controller that hands out spec.podCIDR

    await cluster.run(nodeipam.NodeIPAMController)
    await start(cluster, count=2)

    async def has_cidr() -> str:
        node = await cluster.client.get(rest.NODES, "hollow-1")
        assert node["spec"].get("podCIDR")
        return str(node["spec"]["podCIDR"])
    cidr = await eventually(has_cidr, timeout=20)
    await cluster.client.create(rest.PODS, pod("in-range", "hollow-1"), namespace="default")
    p = await wait_phase(cluster, "in-range", "Running")
    assert ipaddress.ip_address(p["status"]["podIP"]) in ipaddress.ip_network(cidr)


async def test_node_lifecycle_controller_sees_a_stopped_fleet_go_unknown(cluster: Cluster) -> None:
    from kubeling.controllers import base, nodelifecycle

    ctx = cluster.context(options=base.Options(node_monitor_grace_period=3.0, node_monitor_period=0.5))
    hollow = await start(cluster, count=2)
    await cluster.run(nodelifecycle.NodeLifecycleController, ctx=ctx)
    renewed = hollow.fleet.renewals

    async def heartbeating() -> None:
        assert hollow.fleet.renewals >= renewed + 8  # a couple of rounds under the controller's eye
    await eventually(heartbeating, timeout=20)

    async def ready() -> None:
        assert condition(await cluster.client.get(rest.NODES, "hollow-0"), "Ready")["status"] == "True"
    await eventually(ready, timeout=20)

    hollow_task = next(t for t in cluster._tasks if getattr(t.get_coro(), "__qualname__", "") == "HollowNodes.run")
    hollow_task.cancel()
    await asyncio.gather(hollow_task, return_exceptions=True)

    async def unknown() -> None:
        assert condition(await cluster.client.get(rest.NODES, "hollow-0"), "Ready")["status"] == "Unknown"
    await eventually(unknown, timeout=30)


async def test_a_restarted_fleet_keeps_running_pods_and_their_addresses(cluster: Cluster) -> None:
    await start(cluster, count=1)
    await cluster.client.create(rest.PODS, pod("old", "hollow-0"), namespace="default")
    before = await wait_phase(cluster, "old", "Running")
    await stop(cluster)

    again = await start(cluster, count=1)
    await cluster.client.create(rest.PODS, pod("new", "hollow-0"), namespace="default")
    new = await wait_phase(cluster, "new", "Running")
    old = await cluster.client.get(rest.PODS, "old", namespace="default")
    # The old pod was adopted as it was (not started again), its address stays taken.
    assert old["status"]["startTime"] == before["status"]["startTime"]
    assert old["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert new["status"]["podIP"] != old["status"]["podIP"]
    assert again.pods.started == 1
