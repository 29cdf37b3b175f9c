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
* Host ports (the CNI portmap plugin's role): a container port with a
  ``hostPort`` is DNATed from that port of the node's own addresses (or of
  ``hostIP`` only) to the pod, for traffic arriving from outside and from the
  node itself. The mappings are elements of two nftables maps (keyed by
  protocol and port, or by address, protocol and port), so adding or removing
  a pod's is one element operation; a mapping on 127.0.0.1 needs
  ``route_localnet`` on the bridge and a masquerade of loopback sources, as
  portmap does. The elements each sandbox added are kept in
  ``hostports.json`` beside the allocator's state, so teardown removes exactly
  those, also after a restart.

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

from kubeling.kubelet.runtime.protocol import PortMapping

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
    def _state(self, name: str) -> Iterator[dict[str, Any]]:
        """A JSON state file of ours, read and written back under the node's network lock."""
        path = self.state_dir / name
        with open(self.state_dir / "lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                state = json.loads(path.read_text()) if path.exists() else {}
            except ValueError:
                state = {}
            yield state
            tmp = path.with_name(name + ".tmp")
            tmp.write_text(json.dumps(state))
            os.replace(tmp, path)

    @contextlib.contextmanager
    def _ipam(self) -> Iterator[dict[str, Any]]:
        with self._state("ipam.json") as state:
            if state.get("cidr") != str(self.net):
                state.clear()
                state.update({"cidr": str(self.net), "last": "", "allocated": {}})
            yield state

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
        # A host port on 127.0.0.1 is DNATed onto the bridge: loopback sources must be routable there.
        pathlib.Path(f"/proc/sys/net/ipv4/conf/{self.bridge}/route_localnet").write_text("1\n")
        # Recreate the table as a whole, so the rules are exactly these.
        await self._nft(f"""
table ip {self.table}
delete table ip {self.table}
table ip {self.table} {{
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        ip saddr {self.net} ip daddr != {self.nat_exclude} oifname != "{self.bridge}" masquerade
        ip saddr 127.0.0.0/8 oifname "{self.bridge}" masquerade
    }}
    map hostports {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
    map hostports_ip {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }}
    chain hostports_dnat {{
        dnat to ip daddr . meta l4proto . th dport map @hostports_ip
        dnat to meta l4proto . th dport map @hostports
    }}
    chain prerouting {{
        type nat hook prerouting priority dstnat; policy accept;
        fib daddr type local jump hostports_dnat
    }}
    chain output {{
        type nat hook output priority -100; policy accept;
        fib daddr type local jump hostports_dnat
    }}
    chain forward {{
        type filter hook forward priority filter; policy accept;
        iifname "{self.bridge}" accept
        oifname "{self.bridge}" accept
    }}
}}
""")
        # The table was made anew: the host ports of the pods that still run go back in.
        with self._state("hostports.json") as state:
            kept = [e for elements in state.values() for e in elements]
        if kept:
            await self._nft("".join(f"add element ip {self.table} {m} {{ {e} }}\n" for m, e in kept))
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

    async def setup(self, sandbox_id: str, netns: str, port_mappings: list[PortMapping] | None = None) -> str:
        """Wire the sandbox's namespace to the bridge and map its host ports; returns the pod IP."""
        await self.ensure_node()
        ip = await asyncio.to_thread(self.allocate, sandbox_id)
        try:
            await asyncio.to_thread(self._setup_sync, sandbox_id, netns, ip)
            if port_mappings:
                await self._map_host_ports(sandbox_id, str(ip), port_mappings)
        except BaseException:
            await self.teardown(sandbox_id, netns)
            raise
        return str(ip)

    # ---- host ports ------------------------------------------------------------------------

    @staticmethod
    def _hostport_elements(pod_ip: str, mappings: list[PortMapping]) -> list[list[str]]:
        out = []
        for m in mappings:
            proto = m.protocol.lower()
            if proto not in ("tcp", "udp", "sctp") or not 0 < m.host_port < 65536:
                raise NetworkError(f"unsupported host port mapping {m}")
            target = f"{pod_ip} . {m.container_port}"
            if m.host_ip and m.host_ip != "0.0.0.0":
                out.append(["hostports_ip", f"{ipaddress.IPv4Address(m.host_ip)} . {proto} . {m.host_port} : {target}"])
            else:
                out.append(["hostports", f"{proto} . {m.host_port} : {target}"])
        return out

    async def _map_host_ports(self, sandbox_id: str, pod_ip: str, mappings: list[PortMapping]) -> None:
        elements = self._hostport_elements(pod_ip, mappings)
        with self._state("hostports.json") as state:
            state[sandbox_id] = elements
        await self._nft("".join(f"add element ip {self.table} {m} {{ {e} }}\n" for m, e in elements))

    async def _unmap_host_ports(self, sandbox_id: str) -> None:
        with self._state("hostports.json") as state:
            elements = state.pop(sandbox_id, [])
        for m, e in elements:
            key = e.split(" : ")[0]
            with contextlib.suppress(NetworkError):  # already gone (a flushed table)
                await self._nft(f"delete element ip {self.table} {m} {{ {key} }}\n")

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
        await self._unmap_host_ports(sandbox_id)
        await asyncio.to_thread(work)
        await asyncio.to_thread(self.release, sandbox_id)
