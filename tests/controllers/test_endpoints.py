"""The Endpoints controller lists a selector service's pods by readiness and resolves ports."""

from __future__ import annotations

from kubeling.client import rest
from kubeling.controllers import endpoints
from tests.controllers.endpointfixtures import NS, make_node, make_pod, make_service, set_pod_status
from tests.controllers.harness import Cluster, eventually


async def get_ep(c: rest.Client, name: str) -> dict:
    return await c.get(rest.ENDPOINTS, name, namespace=NS)


async def test_ready_and_not_ready_addresses_with_named_ports(cluster: Cluster) -> None:
    c = cluster.client
    ctrl = await cluster.run(endpoints.EndpointsController)
    await make_node(c, "n1")
    ports = [{"name": "http", "port": 80, "targetPort": "web"}, {"name": "metrics", "port": 9090, "targetPort": 9100}]
    await make_service(c, "web", selector={"app": "web"}, ports=ports, labels={"tier": "front"})
    await make_pod(c, "a", "10.42.0.5", node="n1", ports=[{"name": "web", "containerPort": 8080}])
    await make_pod(c, "b", "10.42.0.6", node="n1", ready=False, ports=[{"name": "web", "containerPort": 8081}])
    await make_pod(c, "c", "10.42.0.7", ports=[])  # no "web" port: only the numeric target applies
    await make_pod(c, "other", "10.42.0.8", labels={"app": "other"})
    await make_pod(c, "no-ip", None)

    async def listed() -> None:
        ep = await get_ep(c, "web")
        assert ep["metadata"]["labels"] == {"tier": "front"}
        assert ep["metadata"]["annotations"][endpoints.TRIGGER_TIME]
        subsets = ep["subsets"]
        by_ports = {tuple(sorted((p["name"], p["port"]) for p in s["ports"])): s for s in subsets}
        assert set(by_ports) == {(("http", 8080), ("metrics", 9100)), (("http", 8081), ("metrics", 9100)),
                                 (("metrics", 9100),)}
        a = by_ports[(("http", 8080), ("metrics", 9100))]
        assert a["addresses"] == [{"ip": "10.42.0.5", "nodeName": "n1", "targetRef": {
            "kind": "Pod", "namespace": NS, "name": "a", "uid": a["addresses"][0]["targetRef"]["uid"]}}]
        b = by_ports[(("http", 8081), ("metrics", 9100))]
        assert "addresses" not in b and [x["ip"] for x in b["notReadyAddresses"]] == ["10.42.0.6"]
        assert [x["ip"] for x in by_ports[(("metrics", 9100),)]["addresses"]] == ["10.42.0.7"]

    await eventually(listed)
    # b becomes ready: it moves to addresses.
    await set_pod_status(c, await c.get(rest.PODS, "b", namespace=NS), ip="10.42.0.6", ready=True)

    async def b_ready() -> None:
        ep = await get_ep(c, "web")
        ready = [a["ip"] for s in ep["subsets"] for a in s.get("addresses") or []]
        assert sorted(ready) == ["10.42.0.5", "10.42.0.6", "10.42.0.7"]

    await eventually(b_ready)
    rv = (await get_ep(c, "web"))["metadata"]["resourceVersion"]

    async def cached() -> None:
        assert ctrl.endpoints.store.get("default/web")["metadata"]["resourceVersion"] == rv

    await eventually(cached)
    await ctrl.reconcile("default/web")  # settled: nothing to write
    assert (await get_ep(c, "web"))["metadata"]["resourceVersion"] == rv
    await c.delete(rest.PODS, "a", namespace=NS)

    async def a_gone() -> None:
        ep = await get_ep(c, "web")
        assert "10.42.0.5" not in [a["ip"] for s in ep["subsets"] for a in s.get("addresses") or []]

    await eventually(a_gone)


async def test_same_ports_share_a_subset(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(endpoints.EndpointsController)
    await make_service(c, "web", selector={"app": "web"})
    await make_pod(c, "a", "10.42.0.9")
    await make_pod(c, "b", "10.42.0.10")

    async def one_subset() -> None:
        ep = await get_ep(c, "web")
        assert [[a["ip"] for a in s["addresses"]] for s in ep["subsets"]] == [["10.42.0.9", "10.42.0.10"]]
        assert ep["subsets"][0]["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]

    await eventually(one_subset)


async def test_publish_not_ready_and_terminating(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(endpoints.EndpointsController)
    await make_service(c, "pub", selector={"app": "web"}, publish=True)
    await make_service(c, "plain", selector={"app": "web"})
    await make_pod(c, "unready", "10.42.0.20", ready=False)
    await make_pod(c, "leaving", "10.42.0.21", finalizers=["test.kubeling.io/hold"])
    await c.delete(rest.PODS, "leaving", namespace=NS)

    async def check() -> None:
        pub = await get_ep(c, "pub")
        assert sorted(a["ip"] for s in pub["subsets"] for a in s.get("addresses") or []) == \
            ["10.42.0.20", "10.42.0.21"]
        plain = await get_ep(c, "plain")
        assert [a["ip"] for s in plain["subsets"] for a in s.get("notReadyAddresses") or []] == ["10.42.0.20"]
        assert not [a for s in plain["subsets"] for a in s.get("addresses") or []]

    await eventually(check)
    await c.patch(rest.PODS, "leaving", {"metadata": {"finalizers": None}}, namespace=NS)


async def test_headless_without_ports_and_hostname(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(endpoints.EndpointsController)
    await make_service(c, "hl", selector={"app": "web"}, ports=[], headless=True)
    await make_pod(c, "h0", "10.42.0.30", hostname="h0", subdomain="hl")

    async def check() -> None:
        ep = await get_ep(c, "hl")
        assert ep["metadata"]["labels"] == {endpoints.HEADLESS: ""}
        assert len(ep["subsets"]) == 1 and "ports" not in ep["subsets"][0]
        assert ep["subsets"][0]["addresses"][0]["hostname"] == "h0"

    await eventually(check)


async def test_selectorless_left_alone_and_delete_follows_service(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(endpoints.EndpointsController)
    await make_service(c, "manual", ports=[{"port": 80}])
    await c.create(rest.ENDPOINTS, {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "manual"},
                                    "subsets": [{"addresses": [{"ip": "192.0.2.1"}], "ports": [{"port": 80}]}]},
                   namespace=NS)
    await make_service(c, "sel", selector={"app": "web"})
    await eventually(lambda: get_ep(c, "sel"))
    assert not (await get_ep(c, "sel")).get("subsets")
    manual = await get_ep(c, "manual")
    assert manual["subsets"][0]["addresses"] == [{"ip": "192.0.2.1"}]
    kube = await c.get(rest.ENDPOINTS, "kubernetes", namespace=NS)
    await c.delete(rest.SERVICES, "sel", namespace=NS)

    async def deleted() -> None:
        try:
            await get_ep(c, "sel")
        except rest.NotFound:
            return
        raise AssertionError("endpoints still there")

    await eventually(deleted)
    assert (await c.get(rest.ENDPOINTS, "kubernetes", namespace=NS))["metadata"]["resourceVersion"] == \
        kube["metadata"]["resourceVersion"]
    assert (await get_ep(c, "manual"))["metadata"]["resourceVersion"] == manual["metadata"]["resourceVersion"]
