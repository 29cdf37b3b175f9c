"""The disruption controller keeps PodDisruptionBudget status current; evictions obey it."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from kubeling.client import rest
from kubeling.controllers import disruption
from kubeling.lib import timeutil
from tests.controllers.endpointfixtures import NS, make_pod, set_pod_status
from tests.controllers.harness import Cluster, eventually

Obj = dict[str, Any]
LABELS = {"app": "web"}


async def make_pdb(c: rest.Client, name: str, **spec: Any) -> Obj:
    return await c.create(rest.PODDISRUPTIONBUDGETS, {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": LABELS}, **spec}}, namespace=NS)


async def status_of(c: rest.Client, name: str) -> Obj:
    return (await c.get(rest.PODDISRUPTIONBUDGETS, name, namespace=NS)).get("status") or {}


def template() -> Obj:
    return {"metadata": {"labels": LABELS}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def ref_to(owner: Obj) -> Obj:
    md = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": md["name"], "uid": md["uid"],
            "controller": True, "blockOwnerDeletion": True}


async def owned_pod(c: rest.Client, name: str, ip: str, owner: Obj, *, ready: bool = True) -> Obj:
    pod = await make_pod(c, name, None, labels=LABELS)
    pod = await c.patch(rest.PODS, name, {"metadata": {"ownerReferences": [ref_to(owner)]}}, namespace=NS)
    return await set_pod_status(c, pod, ip=ip, ready=ready)


@pytest.mark.conformance("PodDisruptionBudget: Status updates")
async def test_status_with_integer_min_available(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(disruption.DisruptionController)
    pdb = await make_pdb(c, "foo", minAvailable=1)
    for i in range(3):
        await make_pod(c, f"p{i}", f"10.42.0.{i + 1}", labels=LABELS)
    await make_pod(c, "other", "10.42.0.9", labels={"app": "other"})

    async def allowed() -> None:
        st = await status_of(c, "foo")
        assert st["disruptionsAllowed"] == 2
        assert (st["currentHealthy"], st["desiredHealthy"], st["expectedPods"]) == (3, 1, 3)
        assert st["observedGeneration"] == pdb["metadata"]["generation"]
        cond = [x for x in st["conditions"] if x["type"] == "DisruptionAllowed"]
        assert [(x["status"], x["reason"]) for x in cond] == [("True", "SufficientPods")]

    await eventually(allowed)
    # Two pods stop being ready: nothing may be disrupted.
    for i in (1, 2):
        await set_pod_status(c, await c.get(rest.PODS, f"p{i}", namespace=NS), ip=f"10.42.0.{i + 1}", ready=False)

    async def insufficient() -> None:
        st = await status_of(c, "foo")
        assert (st["currentHealthy"], st["disruptionsAllowed"]) == (1, 0)
        cond = [x for x in st["conditions"] if x["type"] == "DisruptionAllowed"]
        assert [(x["status"], x["reason"]) for x in cond] == [("False", "InsufficientPods")]

    await eventually(insufficient)


async def test_percentages_use_the_controllers_scale(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(disruption.DisruptionController)
    rs = await c.create(rest.REPLICASETS, {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs"},
                                           "spec": {"replicas": 4, "selector": {"matchLabels": LABELS},
                                                    "template": template()}}, namespace=NS)
    for i in range(3):
        await owned_pod(c, f"rs-{i}", f"10.42.1.{i + 1}", rs)
    await make_pdb(c, "max", maxUnavailable="50%")
    await make_pdb(c, "min", minAvailable="60%")

    async def check() -> None:
        mx = await status_of(c, "max")
        assert (mx.get("expectedPods"), mx.get("desiredHealthy"), mx.get("disruptionsAllowed")) == (4, 2, 1)
        mn = await status_of(c, "min")
        assert (mn.get("expectedPods"), mn.get("desiredHealthy"), mn.get("disruptionsAllowed")) == (4, 3, 0)

    await eventually(check)


async def test_replicaset_of_a_deployment_counts_as_the_deployment(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(disruption.DisruptionController)
    dep = await c.create(rest.DEPLOYMENTS, {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                                            "spec": {"replicas": 5, "selector": {"matchLabels": LABELS},
                                                     "template": template()}}, namespace=NS)
    rss = []
    for n in ("d-old", "d-new"):
        rss.append(await c.create(rest.REPLICASETS, {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": n, "ownerReferences": [ref_to(dep)]},
            "spec": {"replicas": 2, "selector": {"matchLabels": LABELS}, "template": template()}}, namespace=NS))
    for i in range(4):
        await owned_pod(c, f"d-{i}", f"10.42.2.{i + 1}", rss[i % 2])
    await make_pdb(c, "dep", maxUnavailable=1)

    async def check() -> None:
        st = await status_of(c, "dep")
        assert (st.get("expectedPods"), st.get("desiredHealthy"), st.get("currentHealthy"),
                st.get("disruptionsAllowed")) == (5, 4, 4, 0)

    await eventually(check)


async def test_controller_without_scale_fails_safe(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(disruption.DisruptionController)
    cm = await c.create(rest.CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "boss"}},
                        namespace=NS)
    await owned_pod(c, "odd", "10.42.3.1", cm)
    await make_pdb(c, "odd", maxUnavailable=1)

    async def check() -> None:
        st = await status_of(c, "odd")
        assert st.get("disruptionsAllowed") == 0
        cond = [x for x in st.get("conditions") or [] if x["type"] == "DisruptionAllowed"]
        assert [(x["status"], x["reason"]) for x in cond] == [("False", "SyncFailed")]
        assert "found no controllers" in cond[0]["message"]

    await eventually(check)


@pytest.mark.conformance("PodDisruptionBudget: update and patch status")
async def test_disrupted_pods_are_kept_while_pending_and_cleaned_up(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(disruption.DisruptionController)
    await make_pdb(c, "foo", minAvailable=1)
    for i in range(3):
        await make_pod(c, f"p{i}", f"10.42.4.{i + 1}", labels=LABELS)
    await eventually(lambda: _expect(c, "foo", disruptionsAllowed=2))
    now = timeutil.now()
    pdb = await c.get(rest.PODDISRUPTIONBUDGETS, "foo", namespace=NS)
    pdb["status"]["disruptedPods"] = {"p0": timeutil.rfc3339(now), "missing": timeutil.rfc3339(now),
                                      "p1": timeutil.rfc3339(now - datetime.timedelta(minutes=3))}
    await c.update_status(rest.PODDISRUPTIONBUDGETS, pdb)

    async def cleaned() -> None:
        st = await status_of(c, "foo")
        assert st.get("disruptedPods") == {"p0": timeutil.rfc3339(now)}
        assert (st["currentHealthy"], st["disruptionsAllowed"]) == (2, 1)

    await eventually(cleaned)
    patched = await c.patch(rest.PODDISRUPTIONBUDGETS, "foo", {"status": {"disruptedPods": None}}, namespace=NS,
                            subresource="status")
    assert not patched["status"].get("disruptedPods")
    await eventually(lambda: _expect(c, "foo", currentHealthy=3, disruptionsAllowed=2))


async def _expect(c: rest.Client, name: str, **fields: int) -> None:
    st = await status_of(c, name)
    assert {k: st.get(k) for k in fields} == fields


async def _evict(c: rest.Client, pod: str) -> Obj:
    return await c.create(rest.PODS, {"apiVersion": "policy/v1", "kind": "Eviction",
                                      "metadata": {"name": pod, "namespace": NS}},
                          namespace=NS, subresource="eviction", name=pod)


@pytest.mark.conformance("PodDisruptionBudget: block an eviction until the PDB is updated to allow it")
async def test_eviction_blocked_until_pdb_allows_it(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(disruption.DisruptionController)
    await make_pdb(c, "foo", minAvailable=3)
    for i in range(3):
        await make_pod(c, f"p{i}", f"10.42.5.{i + 1}", labels=LABELS)
    await eventually(lambda: _expect(c, "foo", currentHealthy=3, expectedPods=3))
    with pytest.raises(rest.TooManyRequests) as err:
        await _evict(c, "p0")
    assert "Cannot evict pod as it would violate the pod's disruption budget." in err.value.message

    pdb = await c.get(rest.PODDISRUPTIONBUDGETS, "foo", namespace=NS)
    pdb["spec"]["minAvailable"] = 2
    await c.update(rest.PODDISRUPTIONBUDGETS, pdb)
    await eventually(lambda: _evict(c, "p0"))

    async def evicted() -> None:
        pods = await c.list(rest.PODS, namespace=NS)
        assert "p0" not in [p["metadata"]["name"] for p in pods["items"]]

    await eventually(evicted)
    # The test plays the ReplicaSet: a replacement appears; the budget is tightened again.
    await make_pod(c, "p3", "10.42.5.4", labels=LABELS)
    await c.patch(rest.PODDISRUPTIONBUDGETS, "foo", {"spec": {"minAvailable": 3}}, namespace=NS)
    await eventually(lambda: _expect(c, "foo", currentHealthy=3, desiredHealthy=3, disruptionsAllowed=0))
    with pytest.raises(rest.TooManyRequests):
        await _evict(c, "p1")
    await c.delete(rest.PODDISRUPTIONBUDGETS, "foo", namespace=NS)
    await eventually(lambda: _evict(c, "p1"))


@pytest.mark.parametrize(("value", "total", "want"), [(1, 10, 1), ("50%", 3, 2), ("0%", 5, 0), ("100%", 7, 7),
                                                      ("34%", 3, 2)])
def test_scaled_rounds_percentages_up(value: Any, total: int, want: int) -> None:
    assert disruption.scaled(value, total) == want


@pytest.mark.parametrize("value", ["1", "x%", "%"])
def test_scaled_rejects_non_percent_strings(value: str) -> None:
    with pytest.raises(disruption.SyncFailed):
        disruption.scaled(value, 4)
