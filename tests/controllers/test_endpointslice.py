"""The EndpointSlice controller: slices per service and port set, conditions,
zones, the 100-endpoint limit, the placeholder slice and cleanup."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubeling.client import rest
from kubeling.controllers import endpoints, endpointslice
from tests.controllers.endpointfixtures import NS, make_node, make_pod, make_service, set_pod_status
from tests.controllers.harness import Cluster, eventually

Obj = dict[str, Any]


async def slices_of(c: rest.Client, svc: str) -> list[Obj]:
    out = await c.list(rest.ENDPOINTSLICES, namespace=NS, label_selector=f"kubernetes.io/service-name={svc}")
    return out["items"]


def all_endpoints(slices: list[Obj]) -> list[Obj]:
    return [e for s in slices for e in s.get("endpoints") or []]


@pytest.mark.conformance("EndpointSlice API")
async def test_create_and_delete_for_service_with_selector(cluster: Cluster) -> None:
    # Upstream's "should create and delete Endpoints and EndpointSlices for a Service with a
    # selector specified": both objects appear for a selector service, and go with it.
    c = cluster.client
    await cluster.run(endpoints.EndpointsController)
    await cluster.run(endpointslice.EndpointSliceController)
    svc = await make_service(c, "example-empty-selector", selector={"does-not": "match-anything"})

    async def present() -> None:
        await c.get(rest.ENDPOINTS, "example-empty-selector", namespace=NS)
        slices = await slices_of(c, "example-empty-selector")
        assert len(slices) == 1
        s = slices[0]
        assert s["endpoints"] in (None, []) and not s.get("ports")
        assert s["addressType"] == "IPv4"
        assert s["metadata"]["name"].startswith("example-empty-selector-")
        assert s["metadata"]["labels"][endpointslice.MANAGED_BY] == endpointslice.CONTROLLER_NAME
        assert s["metadata"]["ownerReferences"][0]["uid"] == svc["metadata"]["uid"]

    await eventually(present)
    await c.delete(rest.SERVICES, "example-empty-selector", namespace=NS)

    async def absent() -> None:
        assert await slices_of(c, "example-empty-selector") == []
        try:
            await c.get(rest.ENDPOINTS, "example-empty-selector", namespace=NS)
        except rest.NotFound:
            return
        raise AssertionError("endpoints still there")

    await eventually(absent)


async def test_endpoint_fields_conditions_and_zone(cluster: Cluster) -> None:
    c = cluster.client
    await make_node(c, "n1", zone="zone-a")
    await make_node(c, "n2")
    ctrl = await cluster.run(endpointslice.EndpointSliceController)
    await make_service(c, "web", selector={"app": "web"}, ports=[{"name": "http", "port": 80, "targetPort": "web",
                                                                   "appProtocol": "http"}])
    cport = [{"name": "web", "containerPort": 8080}]
    a = await make_pod(c, "a", "10.42.0.5", node="n1", ports=cport)
    await make_pod(c, "b", "10.42.0.6", node="n2", ready=False, ports=cport)
    await make_pod(c, "t", "10.42.0.7", ports=cport, finalizers=["test.kubeling.io/hold"])
    await make_pod(c, "h", "10.42.0.8", node="n1", ports=cport, hostname="h", subdomain="web")
    await c.delete(rest.PODS, "t", namespace=NS)

    async def listed() -> None:
        slices = await slices_of(c, "web")
        assert len(slices) == 1
        s = slices[0]
        assert s["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP", "appProtocol": "http"}]
        assert s["metadata"]["annotations"][endpoints.TRIGGER_TIME]
        eps = {e["targetRef"]["name"]: e for e in s["endpoints"]}
        assert set(eps) == {"a", "b", "t", "h"}
        assert eps["a"] == {"addresses": ["10.42.0.5"], "nodeName": "n1", "zone": "zone-a",
                            "conditions": {"ready": True, "serving": True, "terminating": False},
                            "targetRef": {"kind": "Pod", "namespace": NS, "name": "a", "uid": a["metadata"]["uid"]}}
        assert eps["b"]["conditions"] == {"ready": False, "serving": False, "terminating": False}
        assert "zone" not in eps["b"]
        assert eps["t"]["conditions"] == {"ready": False, "serving": True, "terminating": True}
        assert eps["h"]["hostname"] == "h"

    await eventually(listed)
    await c.patch(rest.PODS, "t", {"metadata": {"finalizers": None}}, namespace=NS)
    await set_pod_status(c, await c.get(rest.PODS, "b", namespace=NS), ip="10.42.0.6", ready=True)

    async def updated() -> None:
        eps = {e["targetRef"]["name"]: e for e in all_endpoints(await slices_of(c, "web"))}
        assert set(eps) == {"a", "b", "h"}
        assert eps["b"]["conditions"]["ready"] is True

    await eventually(updated)
    # Reconciling a settled service writes nothing.
    before = [x["metadata"]["resourceVersion"] for x in await slices_of(c, "web")]
    await eventually(lambda: _reconcile_quiet(ctrl, "default/web"))
    assert [x["metadata"]["resourceVersion"] for x in await slices_of(c, "web")] == before


async def test_ports_split_slices_and_kubernetes_slice_untouched(cluster: Cluster) -> None:
    c = cluster.client
    kube = await c.get(rest.ENDPOINTSLICES, "kubernetes", namespace=NS)
    await cluster.run(endpointslice.EndpointSliceController)
    await make_service(c, "split", selector={"app": "web"}, ports=[{"name": "p", "port": 80, "targetPort": "p"}])
    await make_pod(c, "x", "10.42.1.1", ports=[{"name": "p", "containerPort": 1000}])
    await make_pod(c, "y", "10.42.1.2", ports=[{"name": "p", "containerPort": 2000}])

    async def two() -> None:
        slices = await slices_of(c, "split")
        assert sorted(s["ports"][0]["port"] for s in slices) == [1000, 2000]
        assert all(len(s["endpoints"]) == 1 for s in slices)

    await eventually(two)
    assert (await c.get(rest.ENDPOINTSLICES, "kubernetes", namespace=NS))["metadata"]["resourceVersion"] == \
        kube["metadata"]["resourceVersion"]


async def test_at_most_100_endpoints_per_slice(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(endpointslice.EndpointSliceController)
    await make_service(c, "big", selector={"app": "web"})
    await asyncio.gather(*(make_pod(c, f"p{i}", f"10.42.2.{i + 1}") for i in range(130)))

    async def spread() -> None:
        slices = await slices_of(c, "big")
        sizes = sorted(len(s["endpoints"] or []) for s in slices)
        assert sizes == [30, 100]

    await eventually(spread, timeout=30)
    await asyncio.gather(*(c.delete(rest.PODS, f"p{i}", namespace=NS) for i in range(0, 130, 2)))

    async def shrunk() -> None:
        slices = await slices_of(c, "big")
        assert len(all_endpoints(slices)) == 65
        assert all(len(s["endpoints"] or []) <= 100 for s in slices)
        assert len({e["addresses"][0] for e in all_endpoints(slices)}) == 65

    await eventually(shrunk, timeout=30)
    await asyncio.gather(*(c.delete(rest.PODS, f"p{i}", namespace=NS) for i in range(1, 130, 2)))

    async def placeholder() -> None:
        slices = await slices_of(c, "big")
        assert len(slices) == 1 and not slices[0].get("endpoints")

    await eventually(placeholder, timeout=30)


async def test_stray_slice_of_ours_is_removed_and_deleted_slice_recreated(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(endpointslice.EndpointSliceController)
    await make_service(c, "web", selector={"app": "web"})
    await make_pod(c, "a", "10.42.3.1")
    await eventually(lambda: _count(c, "web", 1))
    s = (await slices_of(c, "web"))[0]
    await c.delete(rest.ENDPOINTSLICES, s["metadata"]["name"], namespace=NS)

    async def back() -> None:
        slices = await slices_of(c, "web")
        assert len(slices) == 1 and slices[0]["metadata"]["name"] != s["metadata"]["name"]
        assert [e["addresses"] for e in slices[0]["endpoints"]] == [["10.42.3.1"]]

    await eventually(back)


async def _count(c: rest.Client, svc: str, n: int) -> None:
    assert len(await slices_of(c, svc)) == n


async def _reconcile_quiet(ctrl: Any, key: str) -> None:
    assert await ctrl.reconcile(key) is None  # None: the cache has caught up with our writes
