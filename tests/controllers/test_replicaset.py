"""The ReplicaSet and ReplicationController controllers against a real API server.

There is no kubelet here: where a pod must be Running and Ready the test sets its
status through the API, as a kubelet would.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from kubeling.client import rest
from kubeling.controllers import podutil, replicaset, resourcequota
from kubeling.lib import timeutil
from tests.controllers import harness
from tests.controllers.harness import Cluster

Obj = dict[str, Any]


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout: float = 60.0) -> Any:
    """The harness's ``eventually`` with room for a loaded machine (a bound, not a timing)."""
    return await harness.eventually(check, timeout=max(timeout, 60.0))
NS = "default"


def rs_body(name: str, replicas: int, *, app: str = "web", min_ready: int = 0) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name},
            "spec": {"replicas": replicas, "minReadySeconds": min_ready,
                     "selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": {"app": app, "tier": "x"}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


def rc_body(name: str, replicas: int, *, app: str = "web") -> Obj:
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"app": app},
                     "template": {"metadata": {"labels": {"app": app}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


def pod_body(name: str, labels: dict[str, str]) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


async def pods_of(c: rest.Client, owner_uid: str) -> list[Obj]:
    items = (await c.list(rest.PODS, namespace=NS))["items"]
    return [p for p in items if (podutil.controller_ref(p) or {}).get("uid") == owner_uid
            and not podutil.is_terminating(p)]


async def make_ready(c: rest.Client, pod: Obj, *, since: datetime.datetime | None = None) -> Obj:
    pod = await c.get(rest.PODS, pod["metadata"]["name"], namespace=NS)
    ts = timeutil.rfc3339(since or timeutil.now())
    pod["status"] = {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": ts}]}
    return await c.update_status(rest.PODS, pod, namespace=NS)


async def events_for(c: rest.Client, name: str) -> list[tuple[str, str, str]]:
    items = (await c.list(rest.EVENTS, namespace=NS))["items"]
    return [(e["type"], e["reason"], e["message"]) for e in items if e["involvedObject"]["name"] == name]


async def test_slow_start_batches() -> None:
    sizes: list[int] = []
    in_flight = 0

    async def fn() -> None:
        nonlocal in_flight
        in_flight += 1
        sizes.append(in_flight)
        if len(sizes) == 6:
            in_flight -= 1
            raise RuntimeError("boom")
        await asyncio.sleep(0)
        in_flight -= 1

    ok, err = await replicaset.slow_start(20, fn)
    # Batches of 1, 2, 4: the sixth call fails inside the third batch, which still finishes.
    assert len(sizes) == 7 and ok == 6 and isinstance(err, RuntimeError)
    assert await replicaset.slow_start(0, fn) == (0, None)


async def test_scale_up_down_status_and_events(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(replicaset.ReplicaSetController)
    rs = await c.create(rest.REPLICASETS, rs_body("web", 3), namespace=NS)
    uid = rs["metadata"]["uid"]

    async def three() -> list[Obj]:
        pods = await pods_of(c, uid)
        assert len(pods) == 3
        return pods

    pods = await eventually(three)
    for p in pods:
        assert p["metadata"]["generateName"] == "web-"
        assert p["metadata"]["labels"] == {"app": "web", "tier": "x"}
        ref = podutil.controller_ref(p)
        assert ref is not None and ref["kind"] == "ReplicaSet" and ref["blockOwnerDeletion"] is True

    # Two become ready: status counts follow.
    for p in pods[:2]:
        await make_ready(c, p)

    async def status_counts() -> None:
        st = (await c.get(rest.REPLICASETS, "web", namespace=NS)).get("status") or {}
        assert st.get("replicas") == 3 and st.get("fullyLabeledReplicas") == 3
        assert st.get("readyReplicas") == 2 and st.get("availableReplicas") == 2
        assert st.get("observedGeneration") == 1

    await eventually(status_counts)

    # Scale down to 1: the unready pod goes first, then one of the ready ones.
    await c.patch(rest.REPLICASETS, "web", {"spec": {"replicas": 1}}, namespace=NS)

    async def one() -> None:
        left = await pods_of(c, uid)
        assert len(left) == 1
        assert left[0]["metadata"]["name"] in {p["metadata"]["name"] for p in pods[:2]}
        st = (await c.get(rest.REPLICASETS, "web", namespace=NS)).get("status") or {}
        assert st.get("replicas") == 1 and st.get("observedGeneration") == 2

    await eventually(one)

    async def evs() -> None:
        got = await events_for(c, "web")
        created = [m for t, r, m in got if r == "SuccessfulCreate" and t == "Normal"]
        deleted = [m for t, r, m in got if r == "SuccessfulDelete" and t == "Normal"]
        assert sorted(created) == sorted(f"Created pod: {p['metadata']['name']}" for p in pods)
        assert deleted and deleted[0].startswith("Deleted pod: web-") and len(deleted) == 2
        assert f"Deleted pod: {pods[2]['metadata']['name']}" in deleted

    await eventually(evs)

    # A deleted pod is replaced.
    left = await pods_of(c, uid)
    await c.delete(rest.PODS, left[0]["metadata"]["name"], namespace=NS, grace_period_seconds=0)

    async def replaced() -> None:
        now = await pods_of(c, uid)
        assert len(now) == 1 and now[0]["metadata"]["uid"] != left[0]["metadata"]["uid"]

    await eventually(replaced)


async def test_expectations_prevent_over_creation(cluster: Cluster) -> None:
    c = cluster.client
    ctrl = await cluster.run(replicaset.ReplicaSetController)
    rs = await c.create(rest.REPLICASETS, rs_body("burst", 10), namespace=NS)

    async def ten() -> None:
        assert len(await pods_of(c, rs["metadata"]["uid"])) == 10

    await eventually(ten)
    # Re-run the reconcile many times: never more than 10, whatever the cache saw.
    for _ in range(5):
        try:
            await ctrl.reconcile(f"{NS}/burst")
        except rest.Conflict:
            pass  # raced with the running workers' own status write; they requeue too
    assert len(await pods_of(c, rs["metadata"]["uid"])) == 10
    assert ctrl.expectations.satisfied(f"{NS}/burst")  # type: ignore[attr-defined]


async def test_min_ready_seconds_requeues_until_available(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(replicaset.ReplicaSetController)
    rs = await c.create(rest.REPLICASETS, rs_body("slow", 1, min_ready=2), namespace=NS)

    async def one() -> Obj:
        pods = await pods_of(c, rs["metadata"]["uid"])
        assert len(pods) == 1
        return pods[0]

    pod = await eventually(one)
    await make_ready(c, pod)

    async def ready_not_available() -> None:
        st = (await c.get(rest.REPLICASETS, "slow", namespace=NS)).get("status") or {}
        assert st.get("readyReplicas") == 1

    await eventually(ready_not_available)
    # Nothing else changes in the world: only the controller's own requeue can notice
    # that the pod has now been ready for minReadySeconds.

    async def available() -> None:
        st = (await c.get(rest.REPLICASETS, "slow", namespace=NS)).get("status") or {}
        assert st.get("availableReplicas") == 1

    await eventually(available, timeout=20)


async def test_status_counts_min_ready_and_labels(cluster: Cluster) -> None:
    c = cluster.client
    # Not running: only its status arithmetic is under test.
    ctrl = replicaset.ReplicaSetController(cluster.context())
    rs = await c.create(rest.REPLICASETS, rs_body("counts", 0, min_ready=30), namespace=NS)
    old = timeutil.now() - datetime.timedelta(seconds=60)
    p1 = await c.create(rest.PODS, pod_body("p1", {"app": "web", "tier": "x"}), namespace=NS)
    p2 = await c.create(rest.PODS, pod_body("p2", {"app": "web"}), namespace=NS)
    await make_ready(c, p1, since=old)
    await make_ready(c, p2)
    pods = [await c.get(rest.PODS, n, namespace=NS) for n in ("p1", "p2")]
    st = ctrl.calculate_status(rs, pods, None)
    assert st.get("replicas") == 2 and st.get("fullyLabeledReplicas") == 1
    assert st.get("readyReplicas") == 2 and st.get("availableReplicas") == 1


@pytest.mark.conformance("Replica Set, adopt matching pods and release non matching pods")
async def test_replicaset_adopts_and_releases(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(replicaset.ReplicaSetController)
    orphan = await c.create(rest.PODS, pod_body("pod-adoption-release", {"app": "web", "tier": "x"}), namespace=NS)
    rs = await c.create(rest.REPLICASETS, rs_body("pod-adoption-release", 1), namespace=NS)
    uid = rs["metadata"]["uid"]

    async def adopted() -> None:
        p = await c.get(rest.PODS, "pod-adoption-release", namespace=NS)
        ref = podutil.controller_ref(p)
        assert ref is not None and ref["uid"] == uid and ref["kind"] == "ReplicaSet"
        assert p["metadata"]["uid"] == orphan["metadata"]["uid"]
        assert len(await pods_of(c, uid)) == 1  # adopted, so nothing new was made

    await eventually(adopted)

    # Change its labels: released, and a replacement is created.
    p = await c.get(rest.PODS, "pod-adoption-release", namespace=NS)
    p["metadata"]["labels"] = {"app": "elsewhere"}
    await c.update(rest.PODS, p, namespace=NS)

    async def released() -> None:
        p = await c.get(rest.PODS, "pod-adoption-release", namespace=NS)
        assert not p["metadata"].get("ownerReferences")
        owned = await pods_of(c, uid)
        assert len(owned) == 1 and owned[0]["metadata"]["name"] != "pod-adoption-release"

    await eventually(released)


@pytest.mark.conformance("Replication Controller, adopt matching pods")
async def test_rc_adopts_matching_pod(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(replicaset.ReplicationControllerController)
    await c.create(rest.PODS, pod_body("pod-adoption", {"name": "pod-adoption"}), namespace=NS)
    rc = await c.create(rest.REPLICATIONCONTROLLERS, rc_body("pod-adoption", 1, app="x") | {
        "spec": {"replicas": 1, "selector": {"name": "pod-adoption"},
                 "template": {"metadata": {"labels": {"name": "pod-adoption"}},
                              "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}, namespace=NS)

    async def adopted() -> None:
        p = await c.get(rest.PODS, "pod-adoption", namespace=NS)
        ref = podutil.controller_ref(p)
        assert ref == {"apiVersion": "v1", "kind": "ReplicationController", "name": "pod-adoption",
                       "uid": rc["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
        assert len(await pods_of(c, rc["metadata"]["uid"])) == 1

    await eventually(adopted)


@pytest.mark.conformance("Replication Controller, release pods")
async def test_rc_releases_pod(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(replicaset.ReplicationControllerController)
    rc = await c.create(rest.REPLICATIONCONTROLLERS, rc_body("pod-release", 1, app="pod-release"), namespace=NS)
    uid = rc["metadata"]["uid"]

    async def one() -> Obj:
        pods = await pods_of(c, uid)
        assert len(pods) == 1
        return pods[0]

    pod = await eventually(one)
    pod["metadata"]["labels"] = {"app": "released"}
    await c.update(rest.PODS, pod, namespace=NS)

    async def released() -> None:
        p = await c.get(rest.PODS, pod["metadata"]["name"], namespace=NS)
        assert not p["metadata"].get("ownerReferences")
        # The RC makes a replacement.
        owned = await pods_of(c, uid)
        assert len(owned) == 1 and owned[0]["metadata"]["name"] != pod["metadata"]["name"]
        st = (await c.get(rest.REPLICATIONCONTROLLERS, "pod-release", namespace=NS)).get("status") or {}
        assert st.get("replicas") == 1

    await eventually(released)


async def test_failed_creation_sets_replica_failure(cluster: Cluster) -> None:
    """A pod creation the API refuses (here every one is Forbidden, as an exceeded quota
    would be) shows as ReplicaFailure/FailedCreate and a FailedCreate event; once
    creation is possible again the condition goes away."""
    c = cluster.client
    refuse = {"on": True}

    class Refusing:
        """The admin client, except that pod creations are refused while ``refuse`` is on."""

        def __getattr__(self, name: str) -> Any:
            return getattr(c, name)

        async def create(self, ref: rest.ResourceRef, obj: Obj, **kw: Any) -> Obj:
            if ref == rest.PODS and refuse["on"]:
                raise rest.Forbidden(403, "Forbidden", 'pods "x" is forbidden: exceeded quota: q')
            return await c.create(ref, obj, **kw)

    ctx = cluster.context()
    ctx.client = Refusing()  # type: ignore[assignment]
    await cluster.run(replicaset.ReplicationControllerController, ctx=ctx)
    await c.create(rest.REPLICATIONCONTROLLERS, rc_body("quota", 2, app="quota"), namespace=NS)

    async def failing() -> None:
        st = (await c.get(rest.REPLICATIONCONTROLLERS, "quota", namespace=NS)).get("status") or {}
        cond = (st.get("conditions") or [{}])[0]
        assert cond.get("type") == "ReplicaFailure" and cond["status"] == "True"
        assert cond["reason"] == "FailedCreate" and "exceeded quota" in cond["message"]
        assert st.get("replicas") == 0
        got = await events_for(c, "quota")
        assert ("Warning", "FailedCreate", 'Error creating: pods "x" is forbidden: exceeded quota: q') in got

    await eventually(failing)
    refuse["on"] = False

    async def recovered() -> None:
        st = (await c.get(rest.REPLICATIONCONTROLLERS, "quota", namespace=NS)).get("status") or {}
        assert "conditions" not in st and st.get("replicas") == 2

    await eventually(recovered, timeout=30)


async def test_rc_scale_to_zero_and_delete_ranking(cluster: Cluster) -> None:
    c = cluster.client
    pending = await c.create(rest.PODS, pod_body("a-pending", {"app": "rank"}), namespace=NS)
    ready_old = await c.create(rest.PODS, pod_body("b-ready-old", {"app": "rank"}), namespace=NS)
    ready_new = await c.create(rest.PODS, pod_body("c-ready-new", {"app": "rank"}), namespace=NS)
    await make_ready(c, ready_old, since=timeutil.now() - datetime.timedelta(hours=1))
    await make_ready(c, ready_new)
    await cluster.run(replicaset.ReplicationControllerController)
    rc = await c.create(rest.REPLICATIONCONTROLLERS, rc_body("rank", 1, app="rank"), namespace=NS)

    async def kept_longest_ready() -> None:
        names = [p["metadata"]["name"] for p in await pods_of(c, rc["metadata"]["uid"])]
        assert names == ["b-ready-old"]

    await eventually(kept_longest_ready)
    assert pending["metadata"]["name"] and ready_new["metadata"]["name"]


async def kubelet(c: rest.Client) -> None:
    """Mark every pod Running+Ready, as a kubelet would once its containers start."""
    while True:
        for pod in (await c.list(rest.PODS, namespace=NS))["items"]:
            if podutil.is_ready(pod) or podutil.is_terminating(pod):
                continue
            try:
                await make_ready(c, pod)
            except (rest.Conflict, rest.NotFound):
                pass
        await asyncio.sleep(0.02)


def sample_rs(name: str, replicas: int) -> Obj:
    labels = {"name": "sample-pod", "pod": "httpd"}
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": name, "image": "httpd"}]}}}}


async def running(c: rest.Client, uid: str, n: int) -> None:
    pods = await pods_of(c, uid)
    assert len(pods) == n and all(podutil.phase(p) == "Running" for p in pods)


@pytest.mark.conformance("ReplicaSet, is created, Replaced and Patched")
async def test_replicaset_replace_and_patch(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(replicaset.ReplicaSetController)
    cluster.spawn(kubelet(c))
    rs = await c.create(rest.REPLICASETS, sample_rs("test-rs", 1), namespace=NS)
    uid = rs["metadata"]["uid"]
    await eventually(lambda: running(c, uid, 1))

    async def replace() -> None:  # retried on conflict, as upstream's UpdateReplicaSetWithRetries
        rs = await c.get(rest.REPLICASETS, "test-rs", namespace=NS)
        rs["spec"]["replicas"] = 2
        await c.update(rest.REPLICASETS, rs, namespace=NS)

    await eventually(replace)
    await eventually(lambda: running(c, uid, 2))
    await c.patch(rest.REPLICASETS, "test-rs", {
        "metadata": {"labels": {"test-rs": "patched"}},
        "spec": {"replicas": 3, "template": {"spec": {"terminationGracePeriodSeconds": 0,
                                                      "containers": [{"name": "test-rs", "image": "pause"}]}}}},
        namespace=NS, patch_type="strategic")

    async def patched() -> None:
        got = await c.get(rest.REPLICASETS, "test-rs", namespace=NS)
        st = got.get("status") or {}
        assert got["metadata"]["labels"]["test-rs"] == "patched"
        assert st.get("readyReplicas") == 3 and st.get("availableReplicas") == 3
        assert got["spec"]["template"]["spec"]["containers"][0]["image"] == "pause"

    await eventually(patched)
    # A condition a client put into the status survives the controller's syncs.

    async def update_status() -> None:  # retried on conflict, as upstream's RetryOnConflict
        got = await c.get(rest.REPLICASETS, "test-rs", namespace=NS)
        got.setdefault("status", {})["conditions"] = [{"type": "StatusUpdate", "status": "True", "reason": "E2E",
                                                       "message": "Set from e2e test"}]
        await c.update_status(rest.REPLICASETS, got, namespace=NS)

    await eventually(update_status)
    await c.patch(rest.REPLICASETS, "test-rs", {"spec": {"replicas": 1}}, namespace=NS)

    async def kept() -> None:
        got = await c.get(rest.REPLICASETS, "test-rs", namespace=NS)
        st = got.get("status") or {}
        assert st.get("replicas") == 1 and st.get("observedGeneration") == got["metadata"]["generation"]
        assert [cond["type"] for cond in st.get("conditions") or []] == ["StatusUpdate"]

    await eventually(kept)


@pytest.mark.conformance("ReplicaSet, completes the scaling of a ReplicaSet subresource")
async def test_replicaset_scale_subresource(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(replicaset.ReplicaSetController)
    cluster.spawn(kubelet(c))
    rs = await c.create(rest.REPLICASETS, sample_rs("test-rs", 1), namespace=NS)
    uid = rs["metadata"]["uid"]
    await eventually(lambda: running(c, uid, 1))
    scale = await c.get(rest.REPLICASETS, "test-rs", namespace=NS, subresource="scale")
    assert scale["spec"]["replicas"] == 1 and scale["status"]["replicas"] == 1
    scale["spec"]["replicas"] = 2
    del scale["metadata"]["resourceVersion"]  # unconditional: the controller writes status meanwhile
    await c.update(rest.REPLICASETS, scale, namespace=NS, subresource="scale")
    assert (await c.get(rest.REPLICASETS, "test-rs", namespace=NS))["spec"]["replicas"] == 2
    await c.patch(rest.REPLICASETS, "test-rs", {"spec": {"replicas": 4}}, namespace=NS, subresource="scale",
                  patch_type="strategic")
    assert (await c.get(rest.REPLICASETS, "test-rs", namespace=NS))["spec"]["replicas"] == 4
    await eventually(lambda: running(c, uid, 4))


@pytest.mark.conformance("Replication Controller, check for issues like exceeding allocated quota")
async def test_rc_surfaces_exceeded_quota(cluster: Cluster) -> None:
    """As upstream: a quota of 2 pods, an RC wanting 3 gets ReplicaFailure; scaled to 2
    the condition goes away. Quota admission and its controller are the real ones."""
    c = cluster.client
    await cluster.run(resourcequota.ResourceQuotaController)
    await cluster.run(replicaset.ReplicationControllerController)
    await c.create(rest.RESOURCEQUOTAS, {"apiVersion": "v1", "kind": "ResourceQuota",
                                         "metadata": {"name": "condition-test"}, "spec": {"hard": {"pods": "2"}}},
                   namespace=NS)

    async def enforced() -> None:
        q = await c.get(rest.RESOURCEQUOTAS, "condition-test", namespace=NS)
        assert ((q.get("status") or {}).get("hard") or {}).get("pods") == "2"
        assert ((q.get("status") or {}).get("used") or {}).get("pods") == "0"

    await eventually(enforced)
    await c.create(rest.REPLICATIONCONTROLLERS, rc_body("condition-test", 3, app="condition-test"), namespace=NS)

    async def failing() -> None:
        st = (await c.get(rest.REPLICATIONCONTROLLERS, "condition-test", namespace=NS)).get("status") or {}
        cond = next((x for x in st.get("conditions") or [] if x["type"] == "ReplicaFailure"), None)
        assert cond is not None and cond["status"] == "True" and cond["reason"] == "FailedCreate"
        assert "exceeded quota" in cond["message"]
        assert st.get("replicas") == 2

    await eventually(failing, timeout=30)
    await c.patch(rest.REPLICATIONCONTROLLERS, "condition-test", {"spec": {"replicas": 2}}, namespace=NS)

    async def cleared() -> None:
        got = await c.get(rest.REPLICATIONCONTROLLERS, "condition-test", namespace=NS)
        st = got.get("status") or {}
        assert not st.get("conditions") and st.get("replicas") == 2
        assert st.get("observedGeneration") == got["metadata"]["generation"]

    await eventually(cleared, timeout=30)
