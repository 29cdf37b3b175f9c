"""The node side of a hollow kubelet fleet: registration, leases, node status.

:class:`Fleet` owns N node names. ``register()`` creates the Nodes (a bounded
number of requests in flight; an existing node of that name is taken over by
rewriting its status) and their Leases in ``kube-node-lease``. Then two loops
keep them alive as kubelets do: ``heartbeat_loop`` renews every Lease once per
heartbeat interval and ``status_loop`` posts every node's conditions once per
status interval (upstream: lease every 10 s, status every 5 min when nothing
changed). Each loop walks the whole node list in small slices spread evenly
over its period, so N nodes cost N/period requests a second and no task per
node; each loop keeps only a bounded share of the fleet's request budget in
flight, so when the server cannot keep up the rounds stretch (heartbeats come
late, as a busy kubelet's do) rather than starving the pods' work. A node informer (label-selected to this fleet) tells us each node's
``spec.podCIDR`` and notices a node someone marked not Ready, whose status is
then posted again at once.

When the process stops, heartbeats just stop, as with a dead kubelet;
``cleanup()`` deletes the nodes (and their leases) instead.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

from kubeling.client import informer as informerlib
from kubeling.client import rest
from kubeling.hollow import limiter, objects
from kubeling.lib import timeutil

log = logging.getLogger(__name__)

Obj = dict[str, Any]
TICK = 0.1  # seconds between slices of a spread-out round


class Fleet:
    def __init__(self, client: rest.Client, shape: objects.NodeShape, count: int, *,
                 limit: limiter.Limiter, heartbeat_interval: float = 10.0, status_interval: float = 300.0,
                 lease_duration: int = 40, first_index: int = 0) -> None:
        self.client = client
        self.shape = shape
        self.limit = limit
        self.heartbeat_interval = heartbeat_interval
        self.status_interval = status_interval
        self.lease_duration = lease_duration
        self.names = [objects.node_name(shape.prefix, first_index + i) for i in range(count)]
        self.index = {n: first_index + i for i, n in enumerate(self.names)}
        self.host_ips = {n: objects.node_ip(i) for n, i in self.index.items()}
        self.uids: dict[str, str] = {}
        self._leases: dict[str, Obj] = {}  # the last Lease the server returned, for the next PUT
        self._urgent: set[str] = set()  # nodes whose status must be posted at the next slice
        self.informer = informerlib.Informer(
            client, rest.NODES, label_selector=f"{objects.HOLLOW_LABEL}={shape.prefix.rstrip('-') or 'hollow'}")
        self.informer.add_handler(on_add=self._seen, on_update=lambda _old, new: self._seen(new))
        self.on_pod_cidr: Callable[[str, str], None] | None = None
        self.registered = asyncio.Event()
        self.renewals = 0  # lease renewals done (for tests and metrics)
        self.errors = 0

    def __contains__(self, name: object) -> bool:
        return name in self.index

    # ---- observing ------------------------------------------------------------------
    def _seen(self, node: Obj) -> None:
        name = node["metadata"]["name"]
        if name not in self.index:
            return
        cidr = (node.get("spec") or {}).get("podCIDR")
        if cidr and self.on_pod_cidr is not None:
            self.on_pod_cidr(name, cidr)
        if self.registered.is_set() and not objects.node_is_ready(node):
            self._urgent.add(name)

    def pod_cidr(self, name: str) -> str:
        node = self.informer.store.get(name)
        return str(((node or {}).get("spec") or {}).get("podCIDR") or "")

    async def _call(self, fn: Callable[..., Awaitable[Obj]], *args: Any, **kw: Any) -> Obj:
        # What keeps nodes alive goes ahead of pod work (see limiter).
        return await self.limit.call(fn, *args, urgent=True, **kw)

    # ---- registration ---------------------------------------------------------------
    async def register(self) -> None:
        """Create (or take over) every node and its lease; returns when all are done."""
        self.informer.start()
        await self._bounded(self.names, self._register_one)
        self.registered.set()

    async def _bounded(self, names: list[str], fn: Callable[[str], Awaitable[None]]) -> None:
        # Feed the limiter from a fixed set of runners rather than one coroutine per node.
        it = iter(names)

        async def runner() -> None:
            for name in it:
                await fn(name)

        n = max(1, min(len(names), self.limit.size * 2))
        await asyncio.gather(*(runner() for _ in range(n)))

    async def _register_one(self, name: str) -> None:
        body = objects.node_object(self.index[name], self.shape)
        while True:
            try:
                node = await self._call(self.client.create, rest.NODES, body)
                break
            except rest.ApiError as exc:
                if not exc.already_exists:
                    raise
            try:
                # A node of this name exists (an earlier run): make its status ours again.
                node = await self._call(self.client.patch, rest.NODES, name,
                                        {"status": self._status_patch(name)}, subresource="status")
                break
            except rest.NotFound:
                continue  # deleted meanwhile: create it again
        self.uids[name] = node["metadata"]["uid"]
        await self._renew(name)

    def _status_patch(self, name: str, *, full: bool = True) -> Obj:
        now = timeutil.rfc3339()
        cached = self.informer.store.get(name)
        prev = ((cached or {}).get("status") or {}).get("conditions")
        st: Obj = {"conditions": objects.node_conditions(now, previous=prev)}
        if full:
            fresh = objects.node_object(self.index[name], self.shape, now=now)["status"]
            fresh["conditions"] = st["conditions"]
            return fresh
        return st

    # ---- leases ---------------------------------------------------------------------
    async def _renew(self, name: str) -> None:
        lease = self._leases.get(name)
        for _ in range(3):
            now = timeutil.rfc3339_micro()
            try:
                if lease is None:
                    node = {"metadata": {"name": name, "uid": self.uids.get(name, "")}}
                    lease = await self._call(self.client.create, rest.LEASES,
                                             objects.lease_object(node, duration=self.lease_duration,
                                                                  now_micro=now))
                else:
                    spec = {**lease.get("spec", {}), "renewTime": now, "holderIdentity": name,
                            "leaseDurationSeconds": self.lease_duration}
                    lease = await self._call(self.client.update, rest.LEASES, {**lease, "spec": spec})
                self._leases[name] = lease
                self.renewals += 1
                return
            except rest.ApiError as exc:
                if exc.already_exists or exc.conflict:
                    # Someone else wrote it (or an earlier run did): read it and write on top.
                    try:
                        lease = await self._call(self.client.get, rest.LEASES, name,
                                                 namespace=objects.LEASE_NAMESPACE)
                    except rest.NotFound:
                        lease = None
                elif exc.not_found:
                    lease = None
                else:
                    raise
        raise RuntimeError(f"lease of {name} could not be renewed: it keeps changing under us")

    async def _spread(self, period: float, fn: Callable[[str], Awaitable[None]], what: str, *,
                      max_pending: int, urgent: set[str] | None = None) -> None:
        """Call ``fn`` for every node once per ``period``, in slices every TICK seconds.

        At most ``max_pending`` calls are outstanding: when the server is slower
        than the schedule, the round stretches instead of queueing thousands of
        requests in front of the pods' work (a heartbeat then comes late, as a
        busy kubelet's would)."""
        loop = asyncio.get_running_loop()
        busy: set[str] = set()
        pending: set[asyncio.Task[None]] = set()

        async def one(name: str) -> None:
            try:
                await fn(name)
            except (rest.ClientError, RuntimeError) as exc:
                self.errors += 1
                log.warning("%s of %s failed: %s", what, name, exc)
            finally:
                busy.discard(name)

        async def slice_(names: list[str]) -> None:
            await asyncio.gather(*(one(n) for n in names))

        slices = max(1, math.floor(period / TICK))
        per_slice = max(1, math.ceil(len(self.names) / slices))
        pos = 0
        next_at = loop.time()
        try:
            while True:
                names: list[str] = []
                if urgent:
                    names += [n for n in urgent if n not in busy]
                    urgent.clear()
                room = min(per_slice, max_pending - len(busy) - len(names))
                if room > 0:
                    names += self.names[pos:pos + room]
                    pos = 0 if pos + room >= len(self.names) else pos + room
                names = [n for n in dict.fromkeys(names) if n not in busy]
                busy.update(names)
                if names:
                    t = asyncio.ensure_future(slice_(names))
                    pending.add(t)
                    t.add_done_callback(pending.discard)
                if room <= 0:
                    # Saturated: wait for room without moving the schedule on.
                    await asyncio.sleep(TICK / 5)
                    continue
                # Behind schedule, the next slices go out at once (at most a period's worth).
                next_at = max(next_at + period / slices, loop.time() - period)
                await asyncio.sleep(max(0.0, next_at - loop.time()))
        finally:
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def heartbeat_loop(self) -> None:
        await self.registered.wait()
        await self._spread(self.heartbeat_interval, self._renew, "lease renewal",
                           max_pending=max(1, self.limit.size // 2))

    async def _post_status(self, name: str) -> None:
        await self._call(self.client.patch, rest.NODES, name, {"status": self._status_patch(name, full=False)},
                         subresource="status")

    async def status_loop(self) -> None:
        await self.registered.wait()
        await self._spread(self.status_interval, self._post_status, "status",
                           max_pending=max(1, self.limit.size // 8), urgent=self._urgent)

    # ---- leaving --------------------------------------------------------------------
    async def cleanup(self) -> None:
        """Delete every node and lease of the fleet (missing ones are fine)."""
        async def one(name: str) -> None:
            for ref, ns in ((rest.LEASES, objects.LEASE_NAMESPACE), (rest.NODES, None)):
                try:
                    await self._call(self.client.delete, ref, name, namespace=ns)
                except rest.NotFound:
                    pass
        await self._bounded(self.names, one)

    def stop(self) -> None:
        self.informer.stop()
