"""The PV binder binds claims to fitting static volumes and releases them."""

from __future__ import annotations

from typing import Any

from kubeling.client import rest
from kubeling.controllers import pvbinder
from tests.controllers.harness import Cluster, eventually

NS = "default"


def pv(name: str, size: str, *, modes: tuple[str, ...] = ("ReadWriteOnce",), cls: str = "",
       policy: str = "Retain", labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"capacity": {"storage": size}, "accessModes": list(modes),
                            "persistentVolumeReclaimPolicy": policy, "hostPath": {"path": f"/tmp/{name}"}, **spec}
    if cls:
        body["storageClassName"] = cls
    return {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name, "labels": labels or {}},
            "spec": body}


def pvc(name: str, size: str, *, modes: tuple[str, ...] = ("ReadWriteOnce",), cls: str = "",
        annotations: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"accessModes": list(modes), "resources": {"requests": {"storage": size}}, **spec}
    if cls:
        body["storageClassName"] = cls
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "annotations": annotations or {}}, "spec": body}


async def phase(c: rest.Client, ref: rest.ResourceRef, name: str) -> str:
    obj = await c.get(rest.PERSISTENTVOLUMES, name) if ref == rest.PERSISTENTVOLUMES else \
        await c.get(ref, name, namespace=NS)
    return str((obj.get("status") or {}).get("phase"))


async def test_binds_smallest_fitting_volume(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(pvbinder.PVBinderController)
    await c.create(rest.PERSISTENTVOLUMES, pv("small", "1Gi"))
    await c.create(rest.PERSISTENTVOLUMES, pv("medium", "5Gi"))
    await c.create(rest.PERSISTENTVOLUMES, pv("large", "10Gi"))
    await c.create(rest.PERSISTENTVOLUMES, pv("rwx", "5Gi", modes=("ReadWriteMany",)))
    await c.create(rest.PERSISTENTVOLUMES, pv("gold", "5Gi", cls="gold"))
    await c.create(rest.PERSISTENTVOLUMES, pv("block", "5Gi", volumeMode="Block"))

    async def available() -> None:
        for n in ("small", "medium", "large", "rwx", "gold", "block"):
            assert await phase(c, rest.PERSISTENTVOLUMES, n) == "Available"
    await eventually(available)

    await c.create(rest.PERSISTENTVOLUMECLAIMS, pvc("claim", "2Gi"), namespace=NS)

    async def bound() -> dict[str, Any]:
        claim = await c.get(rest.PERSISTENTVOLUMECLAIMS, "claim", namespace=NS)
        assert claim["status"]["phase"] == "Bound"
        return claim
    claim = await eventually(bound)
    assert claim["spec"]["volumeName"] == "medium"
    assert claim["status"]["capacity"] == {"storage": "5Gi"}
    assert claim["status"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["metadata"]["annotations"][pvbinder.BIND_COMPLETED] == "yes"
    assert claim["metadata"]["annotations"][pvbinder.BOUND_BY_CONTROLLER] == "yes"
    vol = await c.get(rest.PERSISTENTVOLUMES, "medium")
    assert vol["status"]["phase"] == "Bound"
    assert vol["spec"]["claimRef"]["name"] == "claim" and vol["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]
    assert vol["metadata"]["annotations"][pvbinder.BOUND_BY_CONTROLLER] == "yes"

    await c.create(rest.PERSISTENTVOLUMECLAIMS, pvc("shared", "1Gi", modes=("ReadWriteMany",)), namespace=NS)
    await c.create(rest.PERSISTENTVOLUMECLAIMS, pvc("golden", "1Gi", cls="gold"), namespace=NS)
    await c.create(rest.PERSISTENTVOLUMECLAIMS, pvc("raw", "1Gi", volumeMode="Block"), namespace=NS)
    await c.create(rest.PERSISTENTVOLUMECLAIMS, pvc("huge", "100Gi"), namespace=NS)

    async def all_bound() -> None:
        for name, vol in (("shared", "rwx"), ("golden", "gold"), ("raw", "block")):
            claim = await c.get(rest.PERSISTENTVOLUMECLAIMS, name, namespace=NS)
            assert claim["spec"].get("volumeName") == vol and claim["status"]["phase"] == "Bound"
    await eventually(all_bound)

    async def no_fit_event() -> None:
        evs = (await c.list(rest.EVENTS, namespace=NS))["items"]
        assert any(e["reason"] == "FailedBinding" and e["involvedObject"]["name"] == "huge" for e in evs)
    await eventually(no_fit_event)
    assert await phase(c, rest.PERSISTENTVOLUMECLAIMS, "huge") == "Pending"


async def test_selector_prebinding_and_release(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(pvbinder.PVBinderController)
    await c.create(rest.PERSISTENTVOLUMES, pv("fast", "5Gi", labels={"speed": "fast"}))
    await c.create(rest.PERSISTENTVOLUMES, pv("slow", "2Gi", labels={"speed": "slow"}))
    await c.create(rest.PERSISTENTVOLUMES, pv("doomed", "3Gi", policy="Delete", labels={"speed": "none"}))
    await c.create(rest.PERSISTENTVOLUMECLAIMS, pvc("picky", "1Gi", selector={"matchLabels": {"speed": "fast"}}),
                   namespace=NS)
    await c.create(rest.PERSISTENTVOLUMECLAIMS, pvc("named", "1Gi", volumeName="doomed"), namespace=NS)

    async def bound() -> None:
        picky = await c.get(rest.PERSISTENTVOLUMECLAIMS, "picky", namespace=NS)
        assert picky["spec"].get("volumeName") == "fast" and picky["status"]["phase"] == "Bound"
        named = await c.get(rest.PERSISTENTVOLUMECLAIMS, "named", namespace=NS)
        assert named["status"]["phase"] == "Bound"
        assert await phase(c, rest.PERSISTENTVOLUMES, "doomed") == "Bound"
    await eventually(bound)

    await c.delete(rest.PERSISTENTVOLUMECLAIMS, "picky", namespace=NS)
    await c.delete(rest.PERSISTENTVOLUMECLAIMS, "named", namespace=NS)

    async def released() -> None:
        assert await phase(c, rest.PERSISTENTVOLUMES, "fast") == "Released"
        names = {v["metadata"]["name"] for v in (await c.list(rest.PERSISTENTVOLUMES))["items"]}
        assert "doomed" not in names  # reclaim policy Delete
    await eventually(released)
    assert await phase(c, rest.PERSISTENTVOLUMES, "slow") == "Available"
    # A released volume keeps its claimRef and is not handed to a new claim.
    await c.create(rest.PERSISTENTVOLUMECLAIMS, pvc("again", "4Gi"), namespace=NS)

    async def failed() -> None:
        evs = (await c.list(rest.EVENTS, namespace=NS))["items"]
        assert any(e["reason"] == "FailedBinding" and e["involvedObject"]["name"] == "again" for e in evs)
    await eventually(failed)
    assert await phase(c, rest.PERSISTENTVOLUMECLAIMS, "again") == "Pending"


async def test_wait_for_first_consumer(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(pvbinder.PVBinderController)
    await c.create(rest.STORAGECLASSES, {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                                         "metadata": {"name": "local"}, "provisioner": "kubernetes.io/no-provisioner",
                                         "volumeBindingMode": "WaitForFirstConsumer"})
    await c.create(rest.NODES, {"apiVersion": "v1", "kind": "Node",
                                "metadata": {"name": "n2", "labels": {"kubernetes.io/hostname": "n2"}}})
    affinity = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}]}}
    await c.create(rest.PERSISTENTVOLUMES, pv("on-n1", "1Gi", cls="local", nodeAffinity=affinity))
    affinity2 = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n2"]}]}]}}
    await c.create(rest.PERSISTENTVOLUMES, pv("on-n2", "1Gi", cls="local", nodeAffinity=affinity2))
    await c.create(rest.PERSISTENTVOLUMECLAIMS, pvc("local", "1Gi", cls="local"), namespace=NS)

    async def waiting() -> None:
        evs = (await c.list(rest.EVENTS, namespace=NS))["items"]
        assert any(e["reason"] == "WaitForFirstConsumer" for e in evs)
    await eventually(waiting)
    assert await phase(c, rest.PERSISTENTVOLUMECLAIMS, "local") == "Pending"
    claim = await c.get(rest.PERSISTENTVOLUMECLAIMS, "local", namespace=NS)
    claim["metadata"].setdefault("annotations", {})[pvbinder.SELECTED_NODE] = "n2"
    await c.update(rest.PERSISTENTVOLUMECLAIMS, claim)

    async def bound() -> None:
        claim = await c.get(rest.PERSISTENTVOLUMECLAIMS, "local", namespace=NS)
        assert claim["spec"].get("volumeName") == "on-n2" and claim["status"]["phase"] == "Bound"
    await eventually(bound)


async def test_claim_loses_its_volume(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(pvbinder.PVBinderController)
    await c.create(rest.PERSISTENTVOLUMES, pv("v", "1Gi"))
    await c.create(rest.PERSISTENTVOLUMECLAIMS, pvc("c", "1Gi"), namespace=NS)
    await eventually(lambda: _assert_phase(c, "c", "Bound"))
    await c.delete(rest.PERSISTENTVOLUMES, "v")
    await eventually(lambda: _assert_phase(c, "c", "Lost"))


async def _assert_phase(c: rest.Client, name: str, want: str) -> None:
    assert await phase(c, rest.PERSISTENTVOLUMECLAIMS, name) == want
