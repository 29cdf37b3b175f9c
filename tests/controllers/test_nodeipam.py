"""Node IPAM gives each node its own /24 of the cluster CIDR and keeps it."""

from __future__ import annotations

import asyncio
import functools

import pytest

from kubeling.client import rest
from kubeling.controllers import nodeipam
from tests.controllers.harness import Cluster, eventually


def test_allocator() -> None:
    a = nodeipam.Allocator("10.42.0.0/16", 24)
    assert a.allocate() == "10.42.0.0/24"
    assert a.occupy("10.42.1.0/24")
    assert a.allocate() == "10.42.2.0/24"
    assert not a.occupy("10.99.0.0/24") and not a.occupy("10.42.3.0/25")
    a.release("10.42.0.0/24")
    assert a.allocate() == "10.42.0.0/24"
    small = nodeipam.Allocator("10.0.0.0/23", 24)
    small.allocate()
    small.allocate()
    with pytest.raises(nodeipam.RangeFull):
        small.allocate()
    with pytest.raises(ValueError):
        nodeipam.Allocator("10.0.0.0/16", 8)


async def cidr_of(c: rest.Client, name: str) -> str:
    node = await c.get(rest.NODES, name)
    spec = node.get("spec") or {}
    assert spec.get("podCIDR") and spec.get("podCIDRs") == [spec["podCIDR"]]
    return str(spec["podCIDR"])


async def test_nodes_get_distinct_cidrs_and_restart_keeps_them(cluster: Cluster) -> None:
    c = cluster.client
    # A node that already has a CIDR (say, from an earlier run) keeps it and it is never reused.
    await c.create(rest.NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "old"},
                                "spec": {"podCIDR": "10.42.0.0/24", "podCIDRs": ["10.42.0.0/24"]}})
    ctrl = await cluster.run(nodeipam.NodeIPAMController)
    first_task = cluster._tasks[-1]
    for n in ("a", "b", "c"):
        await c.create(rest.NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": n}})
    cidrs = {n: await eventually(functools.partial(cidr_of, c, n)) for n in ("a", "b", "c")}
    assert sorted(cidrs.values()) == ["10.42.1.0/24", "10.42.2.0/24", "10.42.3.0/24"]
    assert await cidr_of(c, "old") == "10.42.0.0/24"

    await c.delete(rest.NODES, "b")

    async def freed() -> None:
        assert ctrl.allocator._index(cidrs["b"]) not in ctrl.allocator.used  # type: ignore[attr-defined]
    await eventually(freed)
    await c.create(rest.NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "d"}})
    assert await eventually(lambda: cidr_of(c, "d")) == cidrs["b"]

    # A new controller (a restart) learns the CIDRs in use before allocating.
    first_task.cancel()
    await asyncio.gather(first_task, return_exceptions=True)
    fresh = await cluster.run(nodeipam.NodeIPAMController)
    await c.create(rest.NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "e"}})
    assert await eventually(lambda: cidr_of(c, "e")) == "10.42.4.0/24"
    assert len(fresh.allocator.used) == 5  # type: ignore[attr-defined]
