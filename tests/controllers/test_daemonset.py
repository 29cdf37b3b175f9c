"""The DaemonSet controller against a real API server. The test makes the
nodes (Node objects through the API) and plays the kubelet, marking pods
Running and Ready through ``update_status``; no scheduler runs, so daemon
pods stay unbound and are matched to nodes by their pinning affinity."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.client import rest
from kubeling.controllers import daemonset
from kubeling.controllers import daemonset_util as du
from kubeling.lib import timeutil
from tests.controllers.harness import Cluster, eventually

Obj = dict[str, Any]
NS = "default"
LABELS = {"daemonset-name": "ds"}


def ds_body(name: str = "ds", *, image: str = "busybox:1", strategy: Obj | None = None, **pod_spec: Any) -> Obj:
    spec: Obj = {"selector": {"matchLabels": LABELS},
                 "template": {"metadata": {"labels": LABELS},
                              "spec": {"containers": [{"name": "app", "image": image}], **pod_spec}}}
    if strategy is not None:
        spec["updateStrategy"] = strategy
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "labels": {"team": "a"}},
            "spec": spec}


async def make_node(c: rest.Client, name: str, *, labels: dict[str, str] | None = None,
                    taints: list[Obj] | None = None, unschedulable: bool = False) -> Obj:
    spec: Obj = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    node = await c.create(rest.NODES, {"apiVersion": "v1", "kind": "Node",
                                       "metadata": {"name": name, "labels": labels or {}}, "spec": spec})
    node["status"] = {"conditions": [{"type": "Ready", "status": "True",
                                      "lastHeartbeatTime": timeutil.rfc3339(),
                                      "lastTransitionTime": timeutil.rfc3339()}]}
    return await c.update_status(rest.NODES, node)


async def daemon_pods(c: rest.Client) -> list[Obj]:
    items = (await c.list(rest.PODS, namespace=NS, label_selector="daemonset-name=ds"))["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


async def pods_by_node(c: rest.Client) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = {}
    for p in await daemon_pods(c):
        out.setdefault(du.target_node(p) or "", []).append(p)
    return out


def on_nodes(c: rest.Client, nodes: list[str], *, image: str | None = None) -> Any:
    """A check: exactly one daemon pod on each of ``nodes`` and none elsewhere."""
    async def check() -> dict[str, Obj]:
        by_node = await pods_by_node(c)
        assert sorted(by_node) == sorted(nodes), by_node.keys()
        assert all(len(v) == 1 for v in by_node.values())
        if image is not None:
            assert all(v[0]["spec"]["containers"][0]["image"] == image for v in by_node.values())
        return {k: v[0] for k, v in by_node.items()}

    return check


async def set_ready(c: rest.Client, pod: Obj, *, ready: bool = True, phase: str = "Running") -> Obj:
    name = pod["metadata"]["name"]

    async def write() -> Obj:
        # Playing the kubelet; a conflict with a controller write is retried on a fresh read.
        fresh = await c.get(rest.PODS, name, namespace=NS)
        fresh["status"] = {"phase": phase, "conditions": [
            {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": timeutil.rfc3339()}]}
        return await c.update_status(rest.PODS, fresh, namespace=NS)

    return await eventually(write)  # type: ignore[no-any-return]


async def ready_all(c: rest.Client) -> None:
    for p in await daemon_pods(c):
        if (p.get("status") or {}).get("phase") != "Running":
            await set_ready(c, p)


def status_is(c: rest.Client, **want: int) -> Any:
    async def check() -> Obj:
        ds = await c.get(rest.DAEMONSETS, "ds", namespace=NS)
        st = ds.get("status") or {}
        assert st.get("observedGeneration") == ds["metadata"]["generation"]
        for k, v in want.items():
            assert st.get(k, 0) == v, (k, st)
        return st

    return check


async def revisions(c: rest.Client) -> list[Obj]:
    items = (await c.list(rest.CONTROLLERREVISIONS, namespace=NS, label_selector="daemonset-name=ds"))["items"]
    return sorted(items, key=lambda r: r["revision"])


async def set_image(c: rest.Client, image: str) -> None:
    await c.patch(rest.DAEMONSETS, "ds", {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": image}]}}}}, namespace=NS, patch_type="strategic")


@pytest.mark.conformance("DaemonSet-Creation")
async def test_one_pod_per_eligible_node_and_revive(cluster: Cluster) -> None:
    c = cluster.client
    await make_node(c, "n1")
    await make_node(c, "n2", unschedulable=True,
                    taints=[{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}])
    await make_node(c, "n3", taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])
    await cluster.run(daemonset.DaemonSetController)
    ds = await c.create(rest.DAEMONSETS, ds_body(hostNetwork=True), namespace=NS)

    # A cordoned node still runs daemons; an untolerated taint keeps them off.
    pods = await eventually(on_nodes(c, ["n1", "n2"]))
    pod = pods["n1"]
    md = pod["metadata"]
    assert md["name"].startswith("ds-") and md["generateName"] == "ds-"
    assert md["ownerReferences"][0]["uid"] == ds["metadata"]["uid"] and md["ownerReferences"][0]["controller"]
    assert not pod["spec"].get("nodeName")
    assert pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == {
        "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}
    tols = {(t["key"], t["effect"]) for t in pod["spec"]["tolerations"]}
    assert tols == {("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
                    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
                    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
                    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
                    ("node.kubernetes.io/unschedulable", "NoSchedule"),
                    ("node.kubernetes.io/network-unavailable", "NoSchedule")}
    [rev] = await revisions(c)
    assert rev["revision"] == 1
    assert md["labels"]["controller-revision-hash"] == rev["metadata"]["labels"]["controller-revision-hash"]
    assert rev["metadata"]["name"] == "ds-" + md["labels"]["controller-revision-hash"]

    await eventually(status_is(c, desiredNumberScheduled=2, currentNumberScheduled=2, numberReady=0,
                               updatedNumberScheduled=2, numberUnavailable=2, numberMisscheduled=0))
    await ready_all(c)
    await eventually(status_is(c, desiredNumberScheduled=2, currentNumberScheduled=2, numberReady=2,
                               numberAvailable=2, updatedNumberScheduled=2, numberUnavailable=0))

    # A deleted daemon pod is replaced.
    await c.delete(rest.PODS, pods["n1"]["metadata"]["name"], namespace=NS)
    revived = await eventually(on_nodes(c, ["n1", "n2"]))
    assert revived["n1"]["metadata"]["name"] != pods["n1"]["metadata"]["name"]

    async def created_event() -> None:
        items = (await c.list(rest.EVENTS, namespace=NS))["items"]
        msgs = {(e["reason"], e["message"]) for e in items if e["involvedObject"]["name"] == "ds"}
        assert ("SuccessfulCreate", f"Created pod: {pods['n1']['metadata']['name']}") in msgs

    await eventually(created_event)


@pytest.mark.conformance("DaemonSet-NodeSelection")
async def test_node_selector_follows_node_labels(cluster: Cluster) -> None:
    c = cluster.client
    await make_node(c, "n1")
    await make_node(c, "n2")
    await cluster.run(daemonset.DaemonSetController)
    await c.create(rest.DAEMONSETS, ds_body(nodeSelector={"daemonset-color": "blue"},
                                            strategy={"type": "OnDelete"}), namespace=NS)
    await eventually(status_is(c, desiredNumberScheduled=0))
    assert await daemon_pods(c) == []

    await c.patch(rest.NODES, "n1", {"metadata": {"labels": {"daemonset-color": "blue"}}})
    await eventually(on_nodes(c, ["n1"]))
    await c.patch(rest.NODES, "n1", {"metadata": {"labels": {"daemonset-color": "green"}}})
    await eventually(on_nodes(c, []))

    await c.patch(rest.DAEMONSETS, "ds", {"spec": {
        "template": {"spec": {"nodeSelector": {"daemonset-color": "green"}}},
        "updateStrategy": {"type": "RollingUpdate"}}}, namespace=NS, patch_type="strategic")
    await eventually(on_nodes(c, ["n1"]))
    await ready_all(c)
    await eventually(status_is(c, desiredNumberScheduled=1, currentNumberScheduled=1, numberReady=1))


async def test_nodes_added_and_removed(cluster: Cluster) -> None:
    c = cluster.client
    await make_node(c, "n1")
    await cluster.run(daemonset.DaemonSetController)
    await c.create(rest.DAEMONSETS, ds_body(), namespace=NS)
    await eventually(on_nodes(c, ["n1"]))
    await make_node(c, "n2")
    await eventually(on_nodes(c, ["n1", "n2"]))
    # A pod that was never bound and whose node is gone is removed.
    await c.delete(rest.NODES, "n1")
    await eventually(on_nodes(c, ["n2"]))
    await eventually(status_is(c, desiredNumberScheduled=1, currentNumberScheduled=1))
    # A NoExecute taint the pod does not tolerate evicts it.
    await c.patch(rest.NODES, "n2", {"spec": {"taints": [{"key": "evict", "effect": "NoExecute"}]}})
    await eventually(on_nodes(c, []))


async def test_tolerated_no_schedule_taint_keeps_pod_running(cluster: Cluster) -> None:
    c = cluster.client
    await make_node(c, "n1")
    await cluster.run(daemonset.DaemonSetController)
    await c.create(rest.DAEMONSETS, ds_body(), namespace=NS)
    pods = await eventually(on_nodes(c, ["n1"]))
    # A NoSchedule taint stops new daemon pods but leaves the running one (misscheduled, not deleted).
    await c.patch(rest.NODES, "n1", {"spec": {"taints": [{"key": "x", "effect": "NoSchedule"}]}})
    await eventually(status_is(c, desiredNumberScheduled=0, numberMisscheduled=1))
    assert (await eventually(on_nodes(c, ["n1"])))["n1"]["metadata"]["uid"] == pods["n1"]["metadata"]["uid"]


@pytest.mark.conformance("DaemonSet-FailedPodCreation")
async def test_failed_pod_is_replaced(cluster: Cluster) -> None:
    c = cluster.client
    await make_node(c, "n1")
    await cluster.run(daemonset.DaemonSetController)
    await c.create(rest.DAEMONSETS, ds_body(), namespace=NS)
    pods = await eventually(on_nodes(c, ["n1"]))
    await set_ready(c, pods["n1"], ready=False, phase="Failed")

    async def replaced() -> None:
        now = await on_nodes(c, ["n1"])()
        assert now["n1"]["metadata"]["uid"] != pods["n1"]["metadata"]["uid"]

    await eventually(replaced)

    async def warned() -> None:
        items = (await c.list(rest.EVENTS, namespace=NS))["items"]
        assert any(e["reason"] == "FailedDaemonPod" and e["type"] == "Warning" and
                   e["message"] == f"Found failed daemon pod {NS}/{pods['n1']['metadata']['name']} on node n1, "
                                   "will try to kill it" for e in items)

    await eventually(warned)


@pytest.mark.conformance("DaemonSet-RollingUpdate")
async def test_rolling_update_max_unavailable(cluster: Cluster) -> None:
    c = cluster.client
    for n in ("n1", "n2", "n3"):
        await make_node(c, n)
    await cluster.run(daemonset.DaemonSetController)
    await c.create(rest.DAEMONSETS, ds_body(strategy={"type": "RollingUpdate",
                                                      "rollingUpdate": {"maxUnavailable": 1}}), namespace=NS)
    await eventually(on_nodes(c, ["n1", "n2", "n3"]))
    await ready_all(c)
    await eventually(status_is(c, numberAvailable=3))
    [first] = await revisions(c)
    await set_image(c, "busybox:2")

    # One node at a time: the replacement must be available before the next goes.
    seen_new: set[str] = set()
    for _ in range(3):
        async def one_more_new() -> Obj:
            pods = await daemon_pods(c)
            new = [p for p in pods if p["spec"]["containers"][0]["image"] == "busybox:2"
                   and p["metadata"]["name"] not in seen_new]
            assert len(new) == 1
            old = [p for p in pods if p["spec"]["containers"][0]["image"] == "busybox:1"]
            assert len(old) + len(seen_new) + 1 == 3 or len(old) + len(seen_new) + 1 == 2
            return new[0]

        pod = await eventually(one_more_new)
        # Nothing else moves while this one is not ready.
        await eventually(status_is(c, numberUnavailable=1))
        assert sum(p["spec"]["containers"][0]["image"] == "busybox:2" for p in await daemon_pods(c)) \
            == len(seen_new) + 1
        seen_new.add(pod["metadata"]["name"])
        await set_ready(c, pod)
    await eventually(on_nodes(c, ["n1", "n2", "n3"], image="busybox:2"))
    await eventually(status_is(c, numberAvailable=3, updatedNumberScheduled=3))
    revs = await revisions(c)
    assert [r["revision"] for r in revs] == [1, 2]
    cur = revs[-1]["metadata"]["labels"]["controller-revision-hash"]
    assert cur != first["metadata"]["labels"]["controller-revision-hash"]
    assert all(p["metadata"]["labels"]["controller-revision-hash"] == cur for p in await daemon_pods(c))


async def test_rolling_update_percent_and_surge(cluster: Cluster) -> None:
    c = cluster.client
    for n in ("n1", "n2", "n3", "n4"):
        await make_node(c, n)
    await cluster.run(daemonset.DaemonSetController)
    await c.create(rest.DAEMONSETS, ds_body(strategy={"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": 0, "maxSurge": "25%"}}), namespace=NS)
    await eventually(on_nodes(c, ["n1", "n2", "n3", "n4"]))
    await ready_all(c)
    await eventually(status_is(c, numberAvailable=4))
    await set_image(c, "busybox:2")

    # 25% of 4 nodes: one surge pod next to its old one; all old pods stay.
    async def surged() -> Obj:
        by_node = await pods_by_node(c)
        doubled = [n for n, ps in by_node.items() if len(ps) == 2]
        assert len(doubled) == 1 and sum(len(ps) for ps in by_node.values()) == 5
        [new] = [p for p in by_node[doubled[0]] if p["spec"]["containers"][0]["image"] == "busybox:2"]
        return new

    new = await eventually(surged)
    await set_ready(c, new)
    # Each new pod that becomes available retires its old one and lets the next surge start.
    for _ in range(3):
        async def next_new() -> Obj:
            pending = [p for p in await daemon_pods(c) if p["spec"]["containers"][0]["image"] == "busybox:2"
                       and (p.get("status") or {}).get("phase") != "Running"]
            assert len(pending) == 1
            return pending[0]

        await set_ready(c, await eventually(next_new))
    await eventually(on_nodes(c, ["n1", "n2", "n3", "n4"], image="busybox:2"))


@pytest.mark.conformance("DaemonSet-Rollback")
async def test_rollback_without_unnecessary_restarts(cluster: Cluster) -> None:
    c = cluster.client
    for n in ("n1", "n2"):
        await make_node(c, n)
    await cluster.run(daemonset.DaemonSetController)
    await c.create(rest.DAEMONSETS, ds_body(strategy={"type": "RollingUpdate"}), namespace=NS)
    before = await eventually(on_nodes(c, ["n1", "n2"]))
    await ready_all(c)
    await eventually(status_is(c, numberAvailable=2))

    # A rollout that cannot finish: the new pod never becomes ready.
    await set_image(c, "foo:non-existent")

    async def mid_rollout() -> list[Obj]:
        pods = await daemon_pods(c)
        images = [p["spec"]["containers"][0]["image"] for p in pods]
        assert sorted(images) == ["busybox:1", "foo:non-existent"]
        return pods

    pods = await eventually(mid_rollout)
    existing = {p["metadata"]["name"] for p in pods if p["spec"]["containers"][0]["image"] == "busybox:1"}
    await set_image(c, "busybox:1")
    after = await eventually(on_nodes(c, ["n1", "n2"], image="busybox:1"))
    # The pod that kept the old template was not restarted.
    assert existing <= {p["metadata"]["name"] for p in after.values()}
    assert existing <= {p["metadata"]["name"] for p in before.values()}
    revs = await revisions(c)
    assert [r["revision"] for r in revs] == [2, 3]
    assert revs[-1]["metadata"]["name"] == "ds-" + after["n1"]["metadata"]["labels"]["controller-revision-hash"]


async def test_on_delete(cluster: Cluster) -> None:
    c = cluster.client
    await make_node(c, "n1")
    await cluster.run(daemonset.DaemonSetController)
    await c.create(rest.DAEMONSETS, ds_body(strategy={"type": "OnDelete"}), namespace=NS)
    pods = await eventually(on_nodes(c, ["n1"]))
    await set_image(c, "busybox:2")
    await eventually(status_is(c, updatedNumberScheduled=0, currentNumberScheduled=1))
    assert (await on_nodes(c, ["n1"], image="busybox:1")())["n1"]["metadata"]["uid"] == pods["n1"]["metadata"]["uid"]
    await c.delete(rest.PODS, pods["n1"]["metadata"]["name"], namespace=NS)
    await eventually(on_nodes(c, ["n1"], image="busybox:2"))
    await eventually(status_is(c, updatedNumberScheduled=1))


async def test_revision_history_limit(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(daemonset.DaemonSetController)
    body = ds_body(strategy={"type": "OnDelete"})
    body["spec"]["revisionHistoryLimit"] = 1
    await c.create(rest.DAEMONSETS, body, namespace=NS)
    for image in ("busybox:2", "busybox:3", "busybox:4"):
        await set_image(c, image)
        await eventually(status_is(c))

    async def trimmed() -> None:
        assert [r["revision"] for r in await revisions(c)] == [3, 4]

    await eventually(trimmed)


@pytest.mark.conformance("DaemonSet, status sub-resource")
async def test_status_subresource(cluster: Cluster) -> None:
    c = cluster.client
    await make_node(c, "n1")
    await cluster.run(daemonset.DaemonSetController)
    await c.create(rest.DAEMONSETS, ds_body(), namespace=NS)
    await eventually(on_nodes(c, ["n1"]))
    await eventually(status_is(c, desiredNumberScheduled=1))

    async def update() -> None:
        # The controller writes status too: retry a conflict on a fresh read, as the e2e test does.
        ds = await c.get(rest.DAEMONSETS, "ds", namespace=NS, subresource="status")
        ds["status"]["conditions"] = [{"type": "StatusUpdate", "status": "True", "reason": "E2E",
                                       "message": "Set from e2e test"}]
        await c.update_status(rest.DAEMONSETS, ds)

    await eventually(update)
    got = await c.get(rest.DAEMONSETS, "ds", namespace=NS, subresource="status")
    assert [x["type"] for x in got["status"]["conditions"]] == ["StatusUpdate"]
    await c.patch(rest.DAEMONSETS, "ds", {"status": {"conditions": [{"type": "StatusPatched", "status": "True"}]}},
                  namespace=NS, subresource="status")
    # The controller keeps its counts up to date without dropping others' conditions.
    await ready_all(c)
    st = await eventually(status_is(c, numberReady=1))
    assert [x["type"] for x in st["conditions"]] == ["StatusPatched"]


@pytest.mark.conformance("DaemonSet, list and delete a collection of DaemonSets")
async def test_list_and_delete_collection(cluster: Cluster) -> None:
    c = cluster.client
    await make_node(c, "n1")
    await cluster.run(daemonset.DaemonSetController)
    await c.create(rest.DAEMONSETS, ds_body(), namespace=NS)
    await eventually(on_nodes(c, ["n1"]))
    items = (await c.list(rest.DAEMONSETS, namespace=NS, label_selector="team=a"))["items"]
    assert [i["metadata"]["name"] for i in items] == ["ds"]
    await c.delete_collection(rest.DAEMONSETS, namespace=NS, label_selector="team=a")

    async def gone() -> None:
        assert (await c.list(rest.DAEMONSETS, namespace=NS, label_selector="team=a"))["items"] == []

    await eventually(gone)
