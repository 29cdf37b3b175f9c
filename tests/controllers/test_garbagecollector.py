"""The garbage collector: background, foreground and orphan propagation, cycles,
several owners, cluster-scoped owners and invalid references. Dependents are
made by hand with ownerReferences (no workload controller runs here)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubeling.client import rest
from kubeling.controllers import base, garbagecollector, gcgraph
from tests.controllers.harness import Cluster, eventually

Obj = dict[str, Any]
NS = "default"


async def start_gc(cluster: Cluster, *, gc_period: float = 30.0) -> garbagecollector.GarbageCollector:
    ctx = cluster.context(options=base.Options(gc_period=gc_period))
    gc = await cluster.run(garbagecollector.GarbageCollector, ctx=ctx)
    assert isinstance(gc, garbagecollector.GarbageCollector)
    await asyncio.wait_for(gc.ready.wait(), 20)
    return gc


def owner_ref(owner: Obj, *, controller: bool = True, block: bool = True) -> Obj:
    md = owner["metadata"]
    return {"apiVersion": owner.get("apiVersion", "v1"), "kind": owner["kind"], "name": md["name"],
            "uid": md["uid"], "controller": controller, "blockOwnerDeletion": block}


async def make_rc(c: rest.Client, name: str) -> Obj:
    labels = {"app": name}
    return await c.create(rest.REPLICATIONCONTROLLERS, {
        "apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
        "spec": {"replicas": 0, "selector": labels, "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}, namespace=NS)


async def make_pod(c: rest.Client, name: str, *owners: Obj, finalizers: list[str] | None = None) -> Obj:
    md: Obj = {"name": name, "ownerReferences": list(owners)}
    if finalizers:
        md["finalizers"] = finalizers
    return await c.create(rest.PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": md,
                                      "spec": {"containers": [{"name": "c", "image": "busybox"}]}}, namespace=NS)


async def exists(c: rest.Client, ref: rest.ResourceRef, name: str, namespace: str | None = NS) -> bool:
    try:
        await c.get(ref, name, namespace=namespace)
    except rest.NotFound:
        return False
    return True


async def gone(c: rest.Client, ref: rest.ResourceRef, *names: str, namespace: str | None = NS) -> None:
    for n in names:
        assert not await exists(c, ref, n, namespace), f"{ref.plural}/{n} still exists"


@pytest.mark.conformance("Garbage Collector, delete replication controller, propagation policy background")
async def test_background_deletes_dependents(cluster: Cluster) -> None:
    c = cluster.client
    await start_gc(cluster)
    rc = await make_rc(c, "bg")
    for i in range(2):
        await make_pod(c, f"bg-{i}", owner_ref(rc))
    await c.delete(rest.REPLICATIONCONTROLLERS, "bg", namespace=NS, propagation_policy="Background")
    await eventually(lambda: gone(c, rest.PODS, "bg-0", "bg-1"))


@pytest.mark.conformance("Garbage Collector, delete replication controller, propagation policy orphan")
async def test_orphan_releases_dependents(cluster: Cluster) -> None:
    c = cluster.client
    await start_gc(cluster)
    rc = await make_rc(c, "orph")
    for i in range(3):
        await make_pod(c, f"orph-{i}", owner_ref(rc))
    await c.delete(rest.REPLICATIONCONTROLLERS, "orph", namespace=NS, propagation_policy="Orphan")
    await eventually(lambda: gone(c, rest.REPLICATIONCONTROLLERS, "orph"))
    for i in range(3):
        pod = await c.get(rest.PODS, f"orph-{i}", namespace=NS)
        assert not pod["metadata"].get("ownerReferences")
        assert not pod["metadata"].get("deletionTimestamp")


@pytest.mark.conformance("Garbage Collector, delete replication controller, after owned pods")
async def test_foreground_keeps_owner_until_dependents_gone(cluster: Cluster) -> None:
    c = cluster.client
    await start_gc(cluster)
    rc = await make_rc(c, "fg")
    await make_pod(c, "fg-0", owner_ref(rc))
    # A finalizer (standing in for a slow kubelet) keeps one pod around.
    await make_pod(c, "fg-1", owner_ref(rc), finalizers=["test.kubeling.io/hold"])
    await c.delete(rest.REPLICATIONCONTROLLERS, "fg", namespace=NS, propagation_policy="Foreground")

    async def waiting() -> None:
        await gone(c, rest.PODS, "fg-0")
        held = await c.get(rest.PODS, "fg-1", namespace=NS)
        assert held["metadata"].get("deletionTimestamp")
        owner = await c.get(rest.REPLICATIONCONTROLLERS, "fg", namespace=NS)
        assert owner["metadata"].get("deletionTimestamp")
        assert "foregroundDeletion" in owner["metadata"]["finalizers"]

    await eventually(waiting)
    await c.patch(rest.PODS, "fg-1", {"metadata": {"finalizers": None}}, namespace=NS)
    await eventually(lambda: gone(c, rest.REPLICATIONCONTROLLERS, "fg"))
    await gone(c, rest.PODS, "fg-1")


async def test_foreground_does_not_wait_for_non_blocking_dependents(cluster: Cluster) -> None:
    c = cluster.client
    await start_gc(cluster)
    rc = await make_rc(c, "nb")
    await make_pod(c, "nb-0", owner_ref(rc, block=False), finalizers=["test.kubeling.io/hold"])
    await c.delete(rest.REPLICATIONCONTROLLERS, "nb", namespace=NS, propagation_policy="Foreground")
    await eventually(lambda: gone(c, rest.REPLICATIONCONTROLLERS, "nb"))
    held = await c.get(rest.PODS, "nb-0", namespace=NS)
    assert held["metadata"].get("deletionTimestamp")
    await c.patch(rest.PODS, "nb-0", {"metadata": {"finalizers": None}}, namespace=NS)


async def make_deployment_chain(c: rest.Client, name: str) -> tuple[Obj, Obj]:
    """A Deployment owning a ReplicaSet owning two pods, as the deployment and
    ReplicaSet controllers would leave them."""
    labels = {"app": name}
    tmpl = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    dep = await c.create(rest.DEPLOYMENTS, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
                                            "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                                                     "template": tmpl}}, namespace=NS)
    rs = await c.create(rest.REPLICASETS, {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                           "metadata": {"name": f"{name}-rs", "ownerReferences": [owner_ref(dep)]},
                                           "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                                                    "template": tmpl}}, namespace=NS)
    for i in range(2):
        await make_pod(c, f"{name}-{i}", owner_ref(rs))
    return dep, rs


@pytest.mark.conformance("Garbage Collector, delete deployment,  propagation policy background")
async def test_deployment_background_deletes_replicasets_and_pods(cluster: Cluster) -> None:
    c = cluster.client
    await start_gc(cluster)
    await make_deployment_chain(c, "dbg")
    await c.delete(rest.DEPLOYMENTS, "dbg", namespace=NS, propagation_policy="Background")
    await eventually(lambda: gone(c, rest.REPLICASETS, "dbg-rs"))
    await eventually(lambda: gone(c, rest.PODS, "dbg-0", "dbg-1"))


@pytest.mark.conformance("Garbage Collector, delete deployment, propagation policy orphan")
async def test_deployment_orphan_keeps_replicasets_and_pods(cluster: Cluster) -> None:
    c = cluster.client
    await start_gc(cluster)
    _dep, rs = await make_deployment_chain(c, "dor")
    await c.delete(rest.DEPLOYMENTS, "dor", namespace=NS, propagation_policy="Orphan")
    await eventually(lambda: gone(c, rest.DEPLOYMENTS, "dor"))
    kept = await c.get(rest.REPLICASETS, "dor-rs", namespace=NS)
    assert not kept["metadata"].get("ownerReferences") and not kept["metadata"].get("deletionTimestamp")
    for i in range(2):
        pod = await c.get(rest.PODS, f"dor-{i}", namespace=NS)
        assert pod["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]


async def make_cycle(c: rest.Client, prefix: str) -> None:
    pods = [await make_pod(c, f"{prefix}{i}") for i in (1, 2, 3)]
    # pod1 is owned by pod3, pod2 by pod1, pod3 by pod2.
    for i, owner in ((0, pods[2]), (1, pods[0]), (2, pods[1])):
        await c.patch(rest.PODS, pods[i]["metadata"]["name"],
                      {"metadata": {"ownerReferences": [owner_ref(owner)]}}, namespace=NS)


@pytest.mark.conformance("Garbage Collector, dependency cycle")
async def test_dependency_cycle_background(cluster: Cluster) -> None:
    c = cluster.client
    await start_gc(cluster)
    await make_cycle(c, "cyc")
    await c.delete(rest.PODS, "cyc1", namespace=NS)
    await eventually(lambda: gone(c, rest.PODS, "cyc1", "cyc2", "cyc3"))


async def test_dependency_cycle_foreground(cluster: Cluster) -> None:
    c = cluster.client
    await start_gc(cluster)
    await make_cycle(c, "fcyc")
    await c.delete(rest.PODS, "fcyc1", namespace=NS, propagation_policy="Foreground")
    await eventually(lambda: gone(c, rest.PODS, "fcyc1", "fcyc2", "fcyc3"), timeout=20)


@pytest.mark.conformance("Garbage Collector, multiple owners")
async def test_dependent_with_valid_owner_survives_foreground(cluster: Cluster) -> None:
    c = cluster.client
    await start_gc(cluster)
    rc1 = await make_rc(c, "rc1")
    rc2 = await make_rc(c, "rc2")
    for i in range(6):
        owners = [owner_ref(rc1)]
        if i % 2:
            owners.append(owner_ref(rc2, controller=False))
        await make_pod(c, f"mo-{i}", *owners)
    await c.delete(rest.REPLICATIONCONTROLLERS, "rc1", namespace=NS, propagation_policy="Foreground")
    await eventually(lambda: gone(c, rest.REPLICATIONCONTROLLERS, "rc1"))
    await gone(c, rest.PODS, "mo-0", "mo-2", "mo-4")
    for i in (1, 3, 5):
        pod = await c.get(rest.PODS, f"mo-{i}", namespace=NS)
        assert not pod["metadata"].get("deletionTimestamp")
        assert [r["uid"] for r in pod["metadata"]["ownerReferences"]] == [rc2["metadata"]["uid"]]


async def test_background_keeps_dependent_with_live_owner(cluster: Cluster) -> None:
    c = cluster.client
    await start_gc(cluster)
    a = await make_rc(c, "own-a")
    b = await make_rc(c, "own-b")
    await make_pod(c, "shared", owner_ref(a), owner_ref(b, controller=False))
    await c.delete(rest.REPLICATIONCONTROLLERS, "own-a", namespace=NS)

    async def released() -> None:
        pod = await c.get(rest.PODS, "shared", namespace=NS)
        assert [r["uid"] for r in pod["metadata"]["ownerReferences"]] == [b["metadata"]["uid"]]

    await eventually(released)
    assert not (await c.get(rest.PODS, "shared", namespace=NS))["metadata"].get("deletionTimestamp")


async def test_owner_with_other_uid_counts_as_gone(cluster: Cluster) -> None:
    c = cluster.client
    await start_gc(cluster)
    rc = await make_rc(c, "reborn")
    stale = owner_ref(rc) | {"uid": "00000000-0000-0000-0000-000000000001"}
    await make_pod(c, "stale-ref", stale)
    await eventually(lambda: gone(c, rest.PODS, "stale-ref"))
    assert await exists(c, rest.REPLICATIONCONTROLLERS, "reborn")


async def test_dangling_dependents_found_at_startup(cluster: Cluster) -> None:
    c = cluster.client
    rc = await make_rc(c, "early")
    await make_pod(c, "early-0", owner_ref(rc))
    await c.delete(rest.REPLICATIONCONTROLLERS, "early", namespace=NS)
    await start_gc(cluster)
    await eventually(lambda: gone(c, rest.PODS, "early-0"))


async def test_cluster_scoped_owner_of_namespaced_dependent(cluster: Cluster) -> None:
    c = cluster.client
    await start_gc(cluster)
    role = await c.create(rest.CLUSTERROLES, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                                              "metadata": {"name": "gc-owner"}, "rules": []})
    await c.create(rest.CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": {"name": "gc-dep", "ownerReferences": [owner_ref(role)]}},
                   namespace=NS)
    await c.delete(rest.CLUSTERROLES, "gc-owner")
    await eventually(lambda: gone(c, rest.CONFIGMAPS, "gc-dep"))


async def test_namespaced_owner_of_cluster_scoped_dependent_is_invalid(cluster: Cluster) -> None:
    c = cluster.client
    await start_gc(cluster)
    cm = await c.create(rest.CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ns-owner"}},
                        namespace=NS)
    await c.create(rest.CLUSTERROLES, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                                       "metadata": {"name": "bad-dep", "ownerReferences": [owner_ref(cm)]},
                                       "rules": []})

    async def warned() -> None:
        evs = await c.list(rest.EVENTS, namespace=NS)
        assert any(e.get("reason") == "OwnerRefInvalidNamespace"
                   and e["involvedObject"].get("name") == "bad-dep" for e in evs["items"])

    await eventually(warned)
    assert await exists(c, rest.CLUSTERROLES, "bad-dep", namespace=None)


async def test_monitors_every_deletable_resource(cluster: Cluster) -> None:
    gc = await start_gc(cluster)
    plurals = {(r.group, r.plural) for r in gc.monitored}
    assert {("", "pods"), ("apps", "replicasets"), ("", "configmaps"), ("rbac.authorization.k8s.io", "clusterroles"),
            ("discovery.k8s.io", "endpointslices")} <= plurals
    assert ("", "events") not in plurals


async def test_periodic_rescan_repairs_a_missed_event(cluster: Cluster) -> None:
    c = cluster.client
    gc = await start_gc(cluster, gc_period=0.2)
    rc = await make_rc(c, "missed")
    await make_pod(c, "missed-0", owner_ref(rc))
    await eventually(lambda: _in_graph(gc, "missed-0"))
    gc._synced = False  # the graph follows events, but nothing reacts: as if the deletion went unnoticed
    await c.delete(rest.REPLICATIONCONTROLLERS, "missed", namespace=NS)
    await eventually(lambda: _not_in_graph(gc, rc["metadata"]["uid"]))
    assert await exists(c, rest.PODS, "missed-0")
    gc._synced = True
    await eventually(lambda: gone(c, rest.PODS, "missed-0"))


async def _in_graph(gc: garbagecollector.GarbageCollector, name: str) -> None:
    assert any(n.name == name for n in gc.graph.nodes.values())


async def _not_in_graph(gc: garbagecollector.GarbageCollector, uid: str) -> None:
    assert uid not in gc.graph.nodes


def test_graph_keeps_edges_to_forgotten_owners() -> None:
    g = gcgraph.Graph()
    owner = gcgraph.node_of(rest.REPLICASETS, {"metadata": {"name": "o", "namespace": NS, "uid": "o1"}})
    dep = gcgraph.node_of(rest.PODS, {"metadata": {"name": "d", "namespace": NS, "uid": "d1", "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "o", "uid": "o1", "blockOwnerDeletion": True}]}})
    g.observe(owner)
    g.observe(dep)
    assert [d.uid for d in g.blocking_dependents("o1")] == ["d1"]
    assert not g.has_suspect_owner(dep)
    g.forget("o1")
    assert [d.uid for d in g.dependents("o1")] == ["d1"]
    assert g.has_suspect_owner(dep)
    g.observe(gcgraph.node_of(rest.PODS, {"metadata": {"name": "d", "namespace": NS, "uid": "d1"}}))
    assert g.dependents("o1") == []
