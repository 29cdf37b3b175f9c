"""This node's Node object and heartbeats (upstream kubelet's node status manager).

``register`` creates the Node (or takes over an existing one of the same
name) with capacity and allocatable measured from the machine, addresses,
nodeInfo and conditions. ``Heartbeat.run`` renews the node's Lease in
``kube-node-lease`` every 10 s and re-posts the status every minute, or at
once when poked (a pressure condition changed), as the kubelet does since
NodeLease. The pressure conditions (MemoryPressure, DiskPressure, PIDPressure)
come from the eviction manager (:mod:`kubeling.kubelet.eviction`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib
import platform
import socket
from collections.abc import Mapping
from typing import Any

import kubeling
from kubeling.client import rest
from kubeling.lib import timeutil

Obj = dict[str, Any]
log = logging.getLogger("kubeling.kubelet.node")

LEASE_NS = "kube-node-lease"
LEASE_SECONDS = 40
RENEW_INTERVAL = 10.0
STATUS_INTERVAL = 60.0
MAX_PODS = 110
KUBELET_PORT = 10250


def _read(path: str, default: str = "") -> str:
    try:
        return pathlib.Path(path).read_text().strip()
    except OSError:
        return default


def _mem_total_ki() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def capacity(data_dir: pathlib.Path) -> tuple[Obj, Obj]:
    """(capacity, allocatable): allocatable keeps upstream's default hard
    eviction threshold of 100Mi memory aside."""
    mem_ki = _mem_total_ki()
    st = os.statvfs(data_dir)
    disk = st.f_blocks * st.f_frsize
    cap = {"cpu": str(os.cpu_count() or 1), "memory": f"{mem_ki}Ki", "ephemeral-storage": str(disk),
           "pods": str(MAX_PODS), "hugepages-2Mi": "0"}
    alloc = dict(cap, memory=f"{max(mem_ki - 100 * 1024, 0)}Ki", **{"ephemeral-storage": str(int(disk * 0.9))})
    return cap, alloc


def node_info(runtime_version: str) -> Obj:
    uname = platform.uname()
    return {
        "machineID": _read("/etc/machine-id"), "systemUUID": _read("/sys/class/dmi/id/product_uuid"),
        "bootID": _read("/proc/sys/kernel/random/boot_id"), "kernelVersion": uname.release,
        "osImage": _os_image(), "containerRuntimeVersion": runtime_version,
        "kubeletVersion": kubeling.KUBE_VERSION, "kubeProxyVersion": kubeling.KUBE_VERSION,
        "operatingSystem": "linux", "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(uname.machine,
                                                                                               uname.machine),
    }


def conditions(old: list[Obj] | None = None, *, ready: bool = True, ready_message: str = "",
               pressure: Mapping[str, tuple[str, str]] | None = None) -> list[Obj]:
    """The node's conditions; ``pressure`` holds the True pressure conditions
    (type -> (reason, message))."""
    now = timeutil.rfc3339()
    pressure = pressure or {}
    prev = {c.get("type"): c for c in old or []}

    def cond(type_: str, status: bool, reason: str, message: str) -> Obj:
        value = "True" if status else "False"
        p = prev.get(type_)
        since = p["lastTransitionTime"] if p and p.get("status") == value else now
        return {"type": type_, "status": value, "reason": reason, "message": message,
                "lastHeartbeatTime": now, "lastTransitionTime": since}

    def pressure_cond(type_: str, reason: str, message: str) -> Obj:
        if type_ in pressure:
            return cond(type_, True, *pressure[type_])
        return cond(type_, False, reason, message)

    return [
        pressure_cond("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        pressure_cond("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        pressure_cond("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        cond("Ready", ready, "KubeletReady" if ready else "KubeletNotReady",
             ready_message or ("kubelet is posting ready status" if ready else "container runtime is down")),
    ]


def build(name: str, *, node_ip: str, data_dir: pathlib.Path, runtime_version: str, images: list[Obj],
          labels: dict[str, str] | None = None, old: Obj | None = None,
          pressure: Mapping[str, tuple[str, str]] | None = None) -> Obj:
    cap, alloc = capacity(data_dir)
    status: Obj = {
        "capacity": cap, "allocatable": alloc,
        "conditions": conditions(((old or {}).get("status") or {}).get("conditions"), pressure=pressure),
        "addresses": [{"type": "InternalIP", "address": node_ip}, {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": KUBELET_PORT}},
        "nodeInfo": node_info(runtime_version), "images": images,
    }
    base_labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                   "kubernetes.io/arch": status["nodeInfo"]["architecture"],
                   "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": status["nodeInfo"]["architecture"],
                   "node.kubernetes.io/instance-type": "kubeling"}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {**base_labels, **(labels or {})},
                         "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
            "spec": {}, "status": status}


async def register(client: rest.Client, node: Obj) -> Obj:
    """Create the Node, or refresh the status of the one that exists (a restart)."""
    name = node["metadata"]["name"]
    try:
        made = await client.create(rest.NODES, node)
        log.info("registered node %s", name)
        return made
    except rest.AlreadyExists:
        current = await client.get(rest.NODES, name)
        labels = {**(current["metadata"].get("labels") or {}), **node["metadata"]["labels"]}
        patched = await client.patch(rest.NODES, name, {"metadata": {"labels": labels}})
        patched["status"] = {**(patched.get("status") or {}), **node["status"]}
        return await client.update_status(rest.NODES, patched)


class Heartbeat:
    def __init__(self, client: rest.Client, name: str, *, status: Any) -> None:
        self.client = client
        self.name = name
        self.status = status  # async () -> Obj: the node status to post now
        self.identity = socket.gethostname()
        self._poked = asyncio.Event()

    def poke(self) -> None:
        """Post the status at once (a condition changed), not at the next minute."""
        self._poked.set()

    async def renew_lease(self) -> None:
        now = timeutil.rfc3339_micro()
        spec = {"holderIdentity": self.name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": now}
        try:
            lease = await self.client.get(rest.LEASES, self.name, namespace=LEASE_NS)
        except rest.NotFound:
            node = await self.client.get(rest.NODES, self.name)
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": LEASE_NS,
                                 "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": self.name,
                                                      "uid": node["metadata"]["uid"]}]},
                    "spec": spec}
            await self.client.create(rest.LEASES, body, namespace=LEASE_NS)
            return
        lease["spec"] = {**lease.get("spec", {}), **spec}
        await self.client.update(rest.LEASES, lease, namespace=LEASE_NS)

    async def post_status(self) -> None:
        node = await self.client.get(rest.NODES, self.name)
        node["status"] = {**(node.get("status") or {}), **await self.status(node)}
        await self.client.update_status(rest.NODES, node)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        last_status = loop.time()
        last_lease = loop.time() - RENEW_INTERVAL
        while True:
            poked = self._poked.is_set()
            self._poked.clear()
            try:
                if loop.time() - last_lease >= RENEW_INTERVAL:
                    await self.renew_lease()
                    last_lease = loop.time()
                if poked or loop.time() - last_status >= STATUS_INTERVAL:
                    await self.post_status()
                    last_status = loop.time()
            except (rest.ClientError, OSError) as exc:
                log.warning("node heartbeat failed: %s", exc)
                if poked:
                    last_status = float("-inf")  # post it at the next beat
            wait = max(0.0, RENEW_INTERVAL - (loop.time() - last_lease))
            try:
                await asyncio.wait_for(self._poked.wait(), wait)
            except TimeoutError:
                pass
