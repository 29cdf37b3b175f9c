"""Pod admission: ServiceAccount defaulting, DefaultTolerationSeconds and LimitRanger."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeling.api import resources
from kubeling.apiserver import admission_pod, store
from kubeling.client import rest
from tests.controllers.harness import Cluster, eventually


@pytest.fixture
async def cluster(tmp_path: pathlib.Path) -> AsyncIterator[Cluster]:
    c = Cluster(tmp_path / "data")
    await c.start()
    yield c
    await c.stop()


def pod(name: str, *containers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": list(containers) or [{"name": "c", "image": "busybox"}], **spec}}


def container(name: str = "c", **resources: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "resources": resources}


def limit_range(name: str, *items: dict[str, Any], labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": name, "labels": labels or {}},
            "spec": {"limits": list(items)}}


async def test_service_account_and_default_tolerations(cluster: Cluster) -> None:
    c = cluster.client
    made = await c.create(rest.PODS, pod("p"), namespace="default")
    assert made["spec"]["serviceAccountName"] == "default"
    assert made["spec"]["serviceAccount"] == "default"
    assert made["spec"]["tolerations"] == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300},
    ]
    own = {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
           "tolerationSeconds": 5}
    made = await c.create(rest.PODS, pod("q", tolerations=[own], serviceAccountName="builder"), namespace="default")
    assert made["spec"]["serviceAccountName"] == "builder"
    assert made["spec"]["tolerations"] == [own, {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                                                 "effect": "NoExecute", "tolerationSeconds": 300}]
    # A toleration of everything covers both taints.
    made = await c.create(rest.PODS, pod("r", tolerations=[{"operator": "Exists"}]), namespace="default")
    assert made["spec"]["tolerations"] == [{"operator": "Exists"}]


async def test_default_toleration_seconds_is_configurable() -> None:
    plugin = admission_pod.DefaultTolerationSeconds(42)
    res = next(r for r in resources.all_resources() if r.plural == "pods" and not r.group)
    obj = pod("p")
    await plugin.admit(store.Context(), "CREATE", res, obj, None)
    assert {t["tolerationSeconds"] for t in obj["spec"]["tolerations"]} == {42}
    other = pod("u")
    await plugin.admit(store.Context(), "UPDATE", res, other, pod("u"))
    assert "tolerations" not in other["spec"]


async def test_limit_ranger_defaults_and_annotation(cluster: Cluster) -> None:
    c = cluster.client
    await c.create(rest.LIMITRANGES, limit_range("lr", {"type": "Container", "default": {"cpu": "500m"},
                                                        "defaultRequest": {"cpu": "100m", "memory": "64Mi"},
                                                        "max": {"memory": "1Gi"}}), namespace="default")

    async def defaulted() -> dict[str, Any]:
        made = await c.create(rest.PODS, pod("p", container("a"), container("b", requests={"cpu": "200m"})),
                              namespace="default")
        assert made["spec"]["containers"][0]["resources"] == {
            "limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "64Mi"}}
        return made

    made = await eventually(defaulted)
    assert made["spec"]["containers"][1]["resources"] == {
        "limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "200m", "memory": "64Mi"}}
    assert made["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container a; cpu, memory limit for container a; "
        "memory request for container b; cpu, memory limit for container b")


async def test_limit_ranger_refusals(cluster: Cluster) -> None:
    c = cluster.client
    await c.create(rest.LIMITRANGES, limit_range(
        "lr",
        {"type": "Container", "min": {"cpu": "100m"}, "max": {"memory": "1Gi"}, "maxLimitRequestRatio": {"cpu": "2"}},
        {"type": "Pod", "max": {"cpu": "2"}},
        {"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "10Gi"}}),
        namespace="default")

    async def refused(obj: dict[str, Any], ref: rest.ResourceRef = rest.PODS) -> str:
        with pytest.raises(rest.Forbidden) as err:
            await c.create(ref, obj, namespace="default")
        return err.value.message

    msg = await eventually(lambda: refused(pod("low", container(requests={"cpu": "50m"}, limits={"cpu": "50m"}))))
    assert msg == 'pods "low" is forbidden: minimum cpu usage per Container is 100m, but request is 50m'
    msg = await refused(pod("ratio", container(requests={"cpu": "100m"}, limits={"cpu": "400m", "memory": "2Gi"})))
    assert msg == ('pods "ratio" is forbidden: [maximum memory usage per Container is 1Gi, but limit is 2Gi, '
                   'cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000]')
    msg = await refused(pod("nolimit", container(requests={"cpu": "100m"})))
    # memory's limit defaults to the max, cpu's limit stays unset.
    assert msg == ('pods "nolimit" is forbidden: [cpu max limit to request ratio per Container is 2, but no limit '
                   'is specified or limit is 0, maximum cpu usage per Pod is 2.  No limit is specified]')
    two = [container(n, requests={"cpu": "1500m"}, limits={"cpu": "1500m", "memory": "1Mi"}) for n in "ab"]
    msg = await refused(pod("pod", *two))
    assert msg == 'pods "pod" is forbidden: maximum cpu usage per Pod is 2, but limit is 3'
    pvc: dict[str, Any] = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "small"},
           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "100Mi"}}}}
    msg = await refused(pvc, rest.PERSISTENTVOLUMECLAIMS)
    assert msg == ('persistentvolumeclaims "small" is forbidden: minimum storage usage per PersistentVolumeClaim '
                   'is 1Gi, but request is 100Mi')
    pvc["metadata"]["name"] = "large"
    pvc["spec"]["resources"]["requests"]["storage"] = "20Gi"
    msg = await refused(pvc, rest.PERSISTENTVOLUMECLAIMS)
    assert msg.endswith("maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi")
    ok = await c.create(rest.PODS, pod("ok", container(requests={"cpu": "200m"}, limits={"cpu": "400m",
                                                                                           "memory": "1Gi"})),
                        namespace="default")
    assert "kubernetes.io/limit-ranger" not in (ok["metadata"].get("annotations") or {})


def resource_list(cpu: str, memory: str, storage: str) -> dict[str, str]:
    values = {"cpu": cpu, "memory": memory, "ephemeral-storage": storage}
    return {k: v for k, v in values.items() if v}


@pytest.mark.conformance("LimitRange, resources")
async def test_limit_range_defaults_conformance(cluster: Cluster) -> None:
    c = cluster.client
    await c.create(rest.NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lr"}})
    dlim = resource_list("500m", "500Mi", "500Gi")
    dreq = resource_list("100m", "200Mi", "200Gi")
    item = {"type": "Container", "min": resource_list("50m", "100Mi", "100Gi"),
            "max": resource_list("500m", "500Mi", "500Gi"), "default": dlim, "defaultRequest": dreq,
            "maxLimitRequestRatio": {}}
    await c.create(rest.LIMITRANGES, limit_range("limit-range", item), namespace="lr")
    got = await c.get(rest.LIMITRANGES, "limit-range", namespace="lr")
    assert got["spec"]["limits"][0]["default"] == dlim and got["spec"]["limits"][0]["defaultRequest"] == dreq

    async def create(name: str, requests: dict[str, str], limits: dict[str, str]) -> dict[str, Any]:
        return await c.create(rest.PODS, pod(name, container(requests=requests, limits=limits)), namespace="lr")

    async def defaults_applied() -> None:
        made = await create("pod-no-resources", {}, {})
        assert made["spec"]["containers"][0]["resources"] == {"requests": dreq, "limits": dlim}

    await eventually(defaults_applied)
    made = await create("pod-partial-resources", resource_list("", "150Mi", "150Gi"), resource_list("300m", "", ""))
    # A limit without a request makes the request; the LimitRange fills in the rest.
    assert made["spec"]["containers"][0]["resources"] == {"requests": resource_list("300m", "150Mi", "150Gi"),
                                                          "limits": resource_list("300m", "500Mi", "500Gi")}
    with pytest.raises(rest.Forbidden):
        await create("pfpod", resource_list("10m", "50Mi", "50Gi"), {})
    with pytest.raises(rest.Forbidden):
        await create("pfpod", resource_list("600m", "600Mi", "600Gi"), {})
    lr = await c.get(rest.LIMITRANGES, "limit-range", namespace="lr")
    lr["spec"]["limits"][0]["min"] = resource_list("9m", "49Mi", "49Gi")
    await c.update(rest.LIMITRANGES, lr)

    async def smaller_allowed() -> None:
        await create("pfpod", resource_list("10m", "50Mi", "50Gi"), {})

    await eventually(smaller_allowed)
    with pytest.raises(rest.Forbidden):
        await create("pfpod-big", resource_list("600m", "600Mi", "600Gi"), {})
    await c.delete(rest.LIMITRANGES, "limit-range", namespace="lr", grace_period_seconds=30)
    assert (await c.list(rest.LIMITRANGES, namespace="lr"))["items"] == []

    async def unlimited() -> None:
        await create("pfpod2", resource_list("600m", "600Mi", "600Gi"), {})

    await eventually(unlimited)


@pytest.mark.conformance("LimitRange, list, patch and delete a LimitRange by collection")
async def test_limit_range_collection_conformance(cluster: Cluster) -> None:
    c = cluster.client
    for ns in ("lr-a", "lr-b"):
        await c.create(rest.NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        await c.create(rest.LIMITRANGES, limit_range("e2e-limitrange", {"type": "Container",
                                                                        "max": {"cpu": "1"}},
                                                     labels={"e2e-test": "abc"}), namespace=ns)
    listed = await c.list(rest.LIMITRANGES, label_selector="e2e-test=abc")
    assert sorted(i["metadata"]["namespace"] for i in listed["items"]) == ["lr-a", "lr-b"]
    limits = [{"type": "Container", "max": {"cpu": "1"}, "min": resource_list("9m", "49Mi", "49Gi")}]
    patched = await c.patch(rest.LIMITRANGES, "e2e-limitrange", {"metadata": {"labels": {"patched": "yes"}},
                                                                 "spec": {"limits": limits}},
                            namespace="lr-a", patch_type="strategic")
    assert patched["metadata"]["labels"]["patched"] == "yes"
    assert patched["spec"]["limits"][0]["min"] == resource_list("9m", "49Mi", "49Gi")
    await c.delete_collection(rest.LIMITRANGES, namespace="lr-a", label_selector="patched=yes")
    listed = await c.list(rest.LIMITRANGES, label_selector="e2e-test=abc")
    assert [i["metadata"]["namespace"] for i in listed["items"]] == ["lr-b"]
