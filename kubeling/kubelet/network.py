"""Pod networking on one node (the role of the CNI bridge plugin), over netlink
with pyroute2.

* A Linux bridge (``kubeling0`` by default) on the host holds the gateway, the
  first address of the node's pod CIDR (``10.42.0.1/24``).
* Each pod sandbox gets a veth pair: the host end (``kl<sandbox id>``) on the
  bridge, the other end as ``eth0`` in the sandbox's network namespace with
  the pod's address; loopback up; a default route via the gateway.
* Addresses come from a small allocator persisted in
  ``<data-dir>/network/<bridge>/ipam.json`` under a file lock; like
  host-local it hands out addresses round-robin so a freed one is not reused
  at once.
* Outbound traffic from the pod CIDR to anything outside ``nat_exclude``
  (the cluster CIDR) is masqueraded by an nftables table of our own
  (``ip kubeling_<bridge>``), and IPv4 forwarding is switched on.
* MTUs follow the host interface that carries the default route.

All netlink work is synchronous and short; the async methods run it in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import fcntl
import ipaddress
import json
import os
import pathlib
import shutil
from collections.abc import Iterator
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

DEFAULT_BRIDGE = "kubeling0"


class NetworkError(Exception):
    pass


_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


@contextlib.contextmanager
def in_netns(netns: str) -> Iterator[IPRoute]:
    """An IPRoute whose socket lives in the namespace at ``netns``.

    Why not ``IPRoute(netns=...)``: pyroute2 forks a child for that and ends
    it with SIGTERM; the forked child shares the agent's asyncio signal
    wakeup fd, so the *agent* would see the SIGTERM and shut down. Instead
    the calling thread (a worker thread, never the event loop's) enters the
    namespace with setns(2), opens the socket, and returns to its own."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(netns, os.O_RDONLY)
    try:
        if _libc.setns(target, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise NetworkError(f"entering network namespace {netns}: {os.strerror(err)}")
        try:
            ipr = IPRoute()
        finally:
            # The netlink socket stays bound to the namespace it was made in.
            if _libc.setns(own, _CLONE_NEWNET) != 0:
                raise NetworkError(f"returning to the host network namespace: {os.strerror(ctypes.get_errno())}")
        with ipr:
            yield ipr
    finally:
        os.close(target)
        os.close(own)


def loopback_up(netns: str) -> None:
    """Bring ``lo`` up in the namespace at ``netns`` (a sandbox without pod networking)."""
    with in_netns(netns) as ns:
        ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")


def _uplink_mtu(ipr: IPRoute) -> int:
    for route in ipr.get_default_routes(family=2):
        oif = route.get_attr("RTA_OIF")
        if oif:
            link = ipr.get_links(oif)[0]
            return int(link.get_attr("IFLA_MTU"))
    return 1500


class BridgeNetwork:
    def __init__(self, data_dir: str | os.PathLike[str], *, pod_cidr: str, bridge: str = DEFAULT_BRIDGE,
                 nat_exclude: str | None = None) -> None:
        self.net = ipaddress.IPv4Network(pod_cidr, strict=False)
        if self.net.num_addresses < 4:
            raise NetworkError(f"pod CIDR {pod_cidr} is too small")
        self.bridge = bridge
        self.gateway = self.net.network_address + 1
        self.nat_exclude = ipaddress.IPv4Network(nat_exclude or str(self.net), strict=False)
        self.state_dir = pathlib.Path(data_dir) / "network" / bridge
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.table = f"kubeling_{bridge}"
        self._node_ready = False

    # ---- addresses -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _ipam(self) -> Iterator[dict[str, Any]]:
        path = self.state_dir / "ipam.json"
        with open(self.state_dir / "lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                state = json.loads(path.read_text()) if path.exists() else {}
            except ValueError:
                state = {}
            if state.get("cidr") != str(self.net):
                state = {"cidr": str(self.net), "last": "", "allocated": {}}
            yield state
            tmp = path.with_name("ipam.json.tmp")
            tmp.write_text(json.dumps(state))
            os.replace(tmp, path)

    def allocate(self, sandbox_id: str) -> ipaddress.IPv4Address:
        with self._ipam() as state:
            allocated: dict[str, str] = state["allocated"]
            for addr, owner in allocated.items():
                if owner == sandbox_id:
                    return ipaddress.IPv4Address(addr)
            hosts = [h for h in self.net.hosts() if h != self.gateway]
            last = ipaddress.IPv4Address(state["last"]) if state["last"] else None
            start = hosts.index(last) + 1 if last in hosts else 0
            for i in range(len(hosts)):
                ip = hosts[(start + i) % len(hosts)]
                if str(ip) not in allocated:
                    allocated[str(ip)] = sandbox_id
                    state["last"] = str(ip)
                    return ip
        raise NetworkError(f"no free address left in {self.net}")

    def release(self, sandbox_id: str) -> None:
        with self._ipam() as state:
            state["allocated"] = {ip: o for ip, o in state["allocated"].items() if o != sandbox_id}

    def allocated(self) -> dict[str, str]:
        with self._ipam() as state:
            return dict(state["allocated"])

    # ---- node ------------------------------------------------------------------------------

    def _ensure_bridge(self, ipr: IPRoute) -> int:
        mtu = _uplink_mtu(ipr)
        found = ipr.link_lookup(ifname=self.bridge)
        if not found:
            with contextlib.suppress(NetlinkError):
                ipr.link("add", ifname=self.bridge, kind="bridge")
            found = ipr.link_lookup(ifname=self.bridge)
        idx = found[0]
        have = {a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=idx, family=2)}
        if str(self.gateway) not in have:
            try:
                ipr.addr("add", index=idx, address=str(self.gateway), prefixlen=self.net.prefixlen)
            except NetlinkError as exc:
                if exc.code != errno.EEXIST:
                    raise
        ipr.link("set", index=idx, state="up", mtu=mtu)
        return mtu

    async def _nft(self, script: str) -> None:
        nft = shutil.which("nft") or "/usr/sbin/nft"
        proc = await asyncio.create_subprocess_exec(nft, "-f", "-", stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate(script.encode())
        if proc.returncode != 0:
            raise NetworkError(f"nft: {err.decode(errors='replace').strip()}")

    async def ensure_node(self) -> None:
        """The bridge, forwarding and NAT (idempotent)."""
        if self._node_ready:
            return
        await asyncio.to_thread(self._ensure_bridge_sync)
        pathlib.Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
        # Recreate the table as a whole, so the rules are exactly these.
        await self._nft(f"""
table ip {self.table}
delete table ip {self.table}
table ip {self.table} {{
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        ip saddr {self.net} ip daddr != {self.nat_exclude} oifname != "{self.bridge}" masquerade
    }}
    chain forward {{
        type filter hook forward priority filter; policy accept;
        iifname "{self.bridge}" accept
        oifname "{self.bridge}" accept
    }}
}}
""")
        self._node_ready = True

    def _ensure_bridge_sync(self) -> None:
        with IPRoute() as ipr:
            self._ensure_bridge(ipr)

    async def destroy_node(self) -> None:
        """Remove the bridge, the nftables table and the allocator state (for
        uninstalling and tests; pods must be gone first)."""
        def work() -> None:
            with IPRoute() as ipr:
                for idx in ipr.link_lookup(ifname=self.bridge):
                    ipr.link("del", index=idx)
        await asyncio.to_thread(work)
        with contextlib.suppress(NetworkError):
            await self._nft(f"table ip {self.table}\ndelete table ip {self.table}\n")
        shutil.rmtree(self.state_dir, ignore_errors=True)
        self._node_ready = False

    # ---- pods ------------------------------------------------------------------------------

    @staticmethod
    def host_ifname(sandbox_id: str) -> str:
        return "kl" + sandbox_id[:13]  # interface names are at most 15 characters

    async def setup(self, sandbox_id: str, netns: str) -> str:
        """Wire the sandbox's namespace to the bridge; returns the pod IP."""
        await self.ensure_node()
        ip = await asyncio.to_thread(self.allocate, sandbox_id)
        try:
            await asyncio.to_thread(self._setup_sync, sandbox_id, netns, ip)
        except BaseException:
            await self.teardown(sandbox_id, netns)
            raise
        return str(ip)

    def _setup_sync(self, sandbox_id: str, netns: str, ip: ipaddress.IPv4Address) -> None:
        host_if = self.host_ifname(sandbox_id)
        with IPRoute() as ipr:
            mtu = self._ensure_bridge(ipr)
            for idx in ipr.link_lookup(ifname=host_if):
                ipr.link("del", index=idx)  # left over from an interrupted attempt
            ipr.link("add", ifname=host_if, kind="veth", mtu=mtu,
                     peer={"ifname": "eth0", "net_ns_fd": netns, "mtu": mtu})
            idx = ipr.link_lookup(ifname=host_if)[0]
            bridge_idx = ipr.link_lookup(ifname=self.bridge)[0]
            ipr.link("set", index=idx, master=bridge_idx, state="up")
        with in_netns(netns) as ns:
            ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
            eth0 = ns.link_lookup(ifname="eth0")[0]
            ns.addr("add", index=eth0, address=str(ip), prefixlen=self.net.prefixlen)
            ns.link("set", index=eth0, state="up")
            ns.route("add", dst="0.0.0.0/0", gateway=str(self.gateway))

    async def teardown(self, sandbox_id: str, netns: str | None) -> None:
        """Remove the pod's veth and free its address (idempotent)."""
        def work() -> None:
            with IPRoute() as ipr:
                for idx in ipr.link_lookup(ifname=self.host_ifname(sandbox_id)):
                    with contextlib.suppress(NetlinkError):
                        ipr.link("del", index=idx)
        await asyncio.to_thread(work)
        await asyncio.to_thread(self.release, sandbox_id)
