"""Pod IP bookkeeping for hollow nodes: one address per pod, from its node's range.

A node's range is its ``spec.podCIDR`` when the cluster assigned one, else a
fake /24 (see :func:`kubeling.hollow.objects.fallback_pod_cidr`). Addresses
are handed out round-robin (as host-local IPAM does, so a freed address is not
reused at once), and released when the pod is gone. ``assign`` with the IP a
pod already shows (written by an earlier run of the process) keeps it.
"""

from __future__ import annotations

import ipaddress


class RangeFull(Exception):
    """Every address of the node's range is in use."""


class _Pool:
    def __init__(self, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> None:
        self.net = net
        self.base = int(net.network_address)
        # Skip the network address and .1 (a bridge's gateway); keep off the broadcast one.
        self.first = 2 if net.num_addresses > 4 else 0
        self.size = min(net.num_addresses - (1 if net.num_addresses > 4 else 0), 1 << 20)
        self.cursor = self.first
        self.used: set[int] = set()

    def take(self) -> str:
        span = self.size - self.first
        for step in range(span):
            off = self.first + (self.cursor - self.first + step) % span
            if off not in self.used:
                self.used.add(off)
                self.cursor = off + 1
                return str(ipaddress.ip_address(self.base + off))
        raise RangeFull(str(self.net))

    def reserve(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if addr not in self.net:
            return False
        self.used.add(int(addr) - self.base)
        return True

    def release(self, ip: str) -> None:
        try:
            self.used.discard(int(ipaddress.ip_address(ip)) - self.base)
        except ValueError:
            pass


class PodIPs:
    """Addresses of the pods on a set of nodes, keyed by pod (``namespace/name``) and uid."""

    def __init__(self) -> None:
        self._pools: dict[str, _Pool] = {}
        self._cidrs: dict[str, str] = {}
        self._owner: dict[str, tuple[str, str, str]] = {}  # pod key -> (uid, node, ip)

    def set_range(self, node: str, cidr: str) -> None:
        """Use ``cidr`` for the node's pods from now on; pods keep the addresses they have."""
        if self._cidrs.get(node) == cidr:
            return
        net = ipaddress.ip_network(cidr, strict=False)
        pool = _Pool(net)
        for _, n, ip in self._owner.values():
            if n == node:
                pool.reserve(ip)
        self._cidrs[node] = cidr
        self._pools[node] = pool

    def has_range(self, node: str) -> bool:
        return node in self._pools

    def assign(self, key: str, uid: str, node: str, *, current: str = "") -> str:
        """The pod's address: the one it has, else a new one from the node's range."""
        owned = self._owner.get(key)
        if owned is not None:
            if owned[0] == uid and owned[1] == node:
                return owned[2]
            self.release(key)
        pool = self._pools[node]
        ip = current if current and pool.reserve(current) else pool.take()
        self._owner[key] = (uid, node, ip)
        return ip

    def release(self, key: str) -> None:
        owned = self._owner.pop(key, None)
        if owned is not None:
            pool = self._pools.get(owned[1])
            if pool is not None:
                pool.release(owned[2])

    def __len__(self) -> int:
        return len(self._owner)
