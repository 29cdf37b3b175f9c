"""The node IPAM controller (upstream's node-ipam-controller, range allocator).

Every node gets ``spec.podCIDR``/``spec.podCIDRs``: the lowest free subnet of
``cluster_cidr`` (10.42.0.0/16) with prefix ``node_cidr_mask_size`` (/24).
A CIDR is never handed out twice: before the workers start, the allocator
marks every CIDR the existing nodes already carry (so a restart keeps them),
and a node's CIDR is freed only when the node is deleted. Picking and marking
a subnet happen with no await between them, so concurrent workers cannot pick
the same one; a failed write gives it back.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from kubeling.client import informer as informerlib
from kubeling.client import rest
from kubeling.controllers import base, events

Obj = dict[str, Any]
DEFAULT_CLUSTER_CIDR = "10.42.0.0/16"
DEFAULT_MASK = 24


class RangeFull(Exception):
    pass


class Allocator:
    """Subnets of one cluster CIDR, by index."""

    def __init__(self, cidr: str, mask: int) -> None:
        self.network = ipaddress.ip_network(cidr)
        if mask < self.network.prefixlen or mask > self.network.max_prefixlen:
            raise ValueError(f"node CIDR mask /{mask} does not fit in cluster CIDR {cidr}")
        self.mask = mask
        self.size = 2 ** (mask - self.network.prefixlen)
        self.step = 2 ** (self.network.max_prefixlen - mask)
        self.used: set[int] = set()

    def _index(self, cidr: str) -> int | None:
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            return None
        if net.version != self.network.version or net.prefixlen != self.mask or not net.subnet_of(self.network):  # type: ignore[arg-type]
            return None
        return (int(net.network_address) - int(self.network.network_address)) // self.step

    def cidr(self, index: int) -> str:
        addr = ipaddress.ip_address(int(self.network.network_address) + index * self.step)
        return f"{addr}/{self.mask}"

    def occupy(self, cidr: str) -> bool:
        """Mark a CIDR some node already has; False if it is outside this range."""
        idx = self._index(cidr)
        if idx is None:
            return False
        self.used.add(idx)
        return True

    def release(self, cidr: str) -> None:
        idx = self._index(cidr)
        if idx is not None:
            self.used.discard(idx)

    def allocate(self) -> str:
        for idx in range(self.size):
            if idx not in self.used:
                self.used.add(idx)
                return self.cidr(idx)
        raise RangeFull(f"no remaining CIDRs in {self.network}")


def _cidrs(node: Obj) -> list[str]:
    spec = node.get("spec") or {}
    return list(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))


class NodeIPAMController(base.Controller):
    NAME = "node-ipam-controller"
    WORKERS = 1

    def __init__(self, ctx: base.Context) -> None:
        super().__init__(ctx)
        # Options grows these fields; until then the k3s defaults apply.
        cidr = ctx.options.cluster_cidr
        mask = ctx.options.node_cidr_mask_size
        self.allocator = Allocator(cidr, mask)
        # What this controller wrote, until the cache shows it (a stale cache must not get a second CIDR).
        self.assigned: dict[str, str] = {}
        self.nodes = self.informer(rest.NODES)
        self.nodes.add_handler(on_add=self.enqueue, on_update=lambda _o, new: self.enqueue(new),
                               on_delete=self._deleted)

    async def started(self) -> None:
        for node in self.nodes.store.list():
            for cidr in _cidrs(node):
                self.allocator.occupy(cidr)

    def _deleted(self, obj: Obj | informerlib.Tombstone) -> None:
        node = informerlib.object_of(obj)
        mine = self.assigned.pop(node["metadata"]["name"], None)
        for cidr in set(_cidrs(node)) | ({mine} if mine else set()):
            self.allocator.release(cidr)

    async def reconcile(self, key: str) -> float | None:
        node = self.nodes.store.get(key)
        if node is None:
            return None
        have = _cidrs(node) or ([self.assigned[key]] if key in self.assigned else [])
        if _cidrs(node):
            self.assigned.pop(key, None)
        if have:
            for cidr in have:
                self.allocator.occupy(cidr)  # an earlier run or another allocator gave it: never hand it out again
            return None
        try:
            cidr = self.allocator.allocate()
        except RangeFull as exc:
            self.recorder.event(node, events.WARNING, "CIDRNotAvailable",
                                f"Node {key} status is now: CIDRNotAvailable")
            self.log.warning("node %s: %s", key, exc)
            return 30.0
        try:
            await self.client.patch(rest.NODES, key, {"spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})
        except BaseException:
            self.allocator.release(cidr)
            raise
        self.assigned[key] = cidr
        return None
