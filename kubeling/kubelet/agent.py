"""The node agent's composition: image store, runc runtime, pod network and
kubelet for one node, used by ``kubeling agent`` and, in-process, by
``kubeling server`` (unless ``--disable-agent``).

The pod network needs the node's pod CIDR, which the server's node IPAM
controller assigns after the node registers: the agent registers, waits for
``spec.podCIDR``, sets up the bridge for it, and only then runs pods.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import pathlib
import socket

from kubeling.client import rest
from kubeling.kubelet import eviction, network
from kubeling.kubelet import kubelet as kubeletlib
from kubeling.kubelet import server as kubeletserver
from kubeling.kubelet.images import gc as imagegc
from kubeling.kubelet.images import store as imagestore
from kubeling.kubelet.runtime import runc
from kubeling.lib import hostaddr

log = logging.getLogger("kubeling.agent")


@dataclasses.dataclass
class Options:
    data_dir: pathlib.Path
    node_name: str = ""
    node_ip: str = ""
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    pod_cidr_timeout: float = 60.0
    kubelet_port: int = kubeletserver.DEFAULT_PORT
    # Node-pressure eviction, in the kubelet's flag syntax: hard thresholds (None:
    # upstream's defaults), the pressure transition period, the seconds between looks.
    eviction_hard: str | None = None
    eviction_pressure_transition_period: str | None = None
    eviction_soft: str = ""
    eviction_soft_grace_period: str = ""
    eviction_max_pod_grace_period: float = 0.0
    eviction_interval: float = eviction.INTERVAL


def eviction_config(options: Options) -> eviction.Config:
    """The eviction manager's configuration; raises ``pressure.ThresholdError``."""
    return eviction.Config.from_flags(hard=options.eviction_hard,
                                      transition_period=options.eviction_pressure_transition_period,
                                      soft=options.eviction_soft, soft_grace_period=options.eviction_soft_grace_period,
                                      max_pod_grace_period=options.eviction_max_pod_grace_period,
                                      interval=options.eviction_interval)


def default_node_name() -> str:
    return socket.gethostname().lower().split(".")[0]


async def wait_for_pod_cidr(client: rest.Client, name: str, timeout: float) -> str:
    """Wait for ``spec.podCIDR``; keeps waiting past ``timeout``, saying so each time."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            node = await client.get(rest.NODES, name)
            cidr = (node.get("spec") or {}).get("podCIDR")
            if cidr:
                return str(cidr)
        except rest.NotFound:
            pass
        if loop.time() > deadline:
            log.warning("node %s has no spec.podCIDR after %.0fs: is the server's node IPAM controller "
                        "running? (pods wait until it has one)", name, timeout)
            deadline = loop.time() + timeout
        await asyncio.sleep(0.5)


class Agent:
    def __init__(self, client: rest.Client, options: Options) -> None:
        self.client = client
        self.options = options
        self.node_name = options.node_name or default_node_name()
        self.node_ip = options.node_ip or hostaddr.reachable_address() or "127.0.0.1"
        options.data_dir.mkdir(parents=True, exist_ok=True)
        self.images = imagestore.Store(options.data_dir)
        self.runtime = runc.RuncRuntime(options.data_dir, images=self.images)
        evict = eviction_config(options)
        self.kubelet = kubeletlib.Kubelet(client, node_name=self.node_name, node_ip=self.node_ip,
                                          data_dir=options.data_dir, runtime=self.runtime, images=self.images,
                                          labels=options.labels, before_pods=self._network,
                                          eviction_config=evict, reclaim_images=self._free_images)
        self.ready = self.kubelet.ready
        # Unused images go when the disk passes 85 % (down to 80 %), least recently used first.
        self._image_gc = imagegc.ImageGC(self.images, self._images_in_use)

    async def _network(self) -> None:
        cidr = await wait_for_pod_cidr(self.client, self.node_name, self.options.pod_cidr_timeout)
        net = network.BridgeNetwork(self.options.data_dir, pod_cidr=cidr)
        await net.ensure_node()
        self.runtime.network = net
        log.info("pod network %s on node %s", cidr, self.node_name)

    async def run(self) -> None:
        # The server first, so the node registers with the port it really got.
        srv = await self._start_server()
        tasks = [asyncio.create_task(self.kubelet.run()), asyncio.create_task(self._image_gc.run())]
        if srv is not None:
            tasks.append(asyncio.create_task(srv.rotator.run()))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in done:
                t.result()
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if srv is not None:
                await srv.stop()

    async def _free_images(self) -> None:
        """Under disk pressure: every unused image goes (upstream's DeleteUnusedImages),
        whatever the GC's thresholds; its records keep the minimum age honoured."""
        await self._image_gc.collect(all_unused=True)

    async def _images_in_use(self) -> set[str]:
        return {c.image_id for c in await self.runtime.list_containers()}

    async def _start_server(self) -> kubeletserver.KubeletServer | None:
        """The kubelet's HTTPS server (logs, exec, attach, port-forward), with a serving
        certificate from the API server. A node without it still runs pods, so when the
        server refuses the certificate this is logged, not fatal."""
        tls_dir = self.options.data_dir / "tls-kubelet"
        while True:
            try:
                await kubeletserver.fetch_serving_cert(self.client, tls_dir, node_name=self.node_name,
                                                       node_ip=self.node_ip)
                break
            except rest.ApiError as exc:
                log.error("the API server gave no kubelet serving certificate (%s): logs, exec, attach and "
                          "port-forward will not work on node %s", exc, self.node_name)
                return None
            except rest.ClientError as exc:
                log.warning("getting the kubelet serving certificate failed (retrying): %s", exc)
                await asyncio.sleep(2)
        srv = kubeletserver.KubeletServer(
            self.runtime, get_pod=lambda ns, name: self.kubelet.pods.store.get(f"{ns}/{name}"),
            tls_dir=tls_dir, port=self.options.kubelet_port)
        try:
            await srv.start()
        except OSError as exc:
            # Another kubelet on this host (several agents in tests): take any free port; the
            # node's daemonEndpoints, where the API server looks, says which.
            log.warning("the kubelet server cannot listen on port %d (%s); using a free port",
                        self.options.kubelet_port, exc)
            srv.port = 0
            await srv.start()
        self.kubelet.kubelet_port = srv.port
        return srv
