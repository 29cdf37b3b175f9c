"""Leader election through a coordination.k8s.io Lease, as client-go's
``leaderelection`` does: the holder renews ``renewTime`` every ``retry_period``;
another candidate takes the lease once it has not been renewed for
``lease_duration``. Writes carry the resourceVersion, so two candidates never
both win. With the SQLite store there is one server, and it always leads.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import socket
import uuid
from typing import Any

from kubeling.client import rest
from kubeling.lib import timeutil

Obj = dict[str, Any]
log = logging.getLogger("kubeling.leader")


class Elector:
    def __init__(self, client: rest.Client, name: str, *, namespace: str = "kube-system",
                 identity: str | None = None, lease_duration: float = 15.0, retry_period: float = 2.0) -> None:
        self.client = client
        self.name = name
        self.namespace = namespace
        self.identity = identity or f"{socket.gethostname()}_{uuid.uuid4()}"
        self.lease_duration = lease_duration
        self.retry_period = retry_period
        self.leading = asyncio.Event()
        self.lost = asyncio.Event()

    async def run(self) -> None:
        """Acquire, then keep renewing; sets ``lost`` and returns if renewal fails
        for longer than the lease (the caller must stop its work then)."""
        while not await self._try():
            await asyncio.sleep(self.retry_period)
        log.info("%s: became leader as %s", self.name, self.identity)
        self.leading.set()
        last_ok = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(self.retry_period)
            try:
                ok = await self._try()
            except (rest.ClientError, OSError) as exc:
                log.warning("%s: renewing the lease failed: %s", self.name, exc)
                ok = False
            now = asyncio.get_running_loop().time()
            if ok:
                last_ok = now
            elif now - last_ok > self.lease_duration:
                log.error("%s: lost the lease", self.name)
                self.lost.set()
                return

    async def _try(self) -> bool:
        now = timeutil.now()
        stamp = timeutil.rfc3339_micro(now)
        try:
            lease = await self.client.get(rest.LEASES, self.name, namespace=self.namespace)
        except rest.NotFound:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": self._spec(stamp, stamp, 0)}
            try:
                await self.client.create(rest.LEASES, body, namespace=self.namespace)
            except rest.AlreadyExists:
                return False
            return True
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity") or ""
        if holder and holder != self.identity:
            renewed = timeutil.parse(spec.get("renewTime") or "") or now
            duration = spec.get("leaseDurationSeconds") or self.lease_duration
            if renewed + datetime.timedelta(seconds=duration) > now:
                return False
        transitions = int(spec.get("leaseTransitions") or 0)
        acquired = spec.get("acquireTime") or stamp
        if holder != self.identity:
            transitions += 1
            acquired = stamp
        lease["spec"] = self._spec(acquired, stamp, transitions)
        try:
            await self.client.update(rest.LEASES, lease, namespace=self.namespace)
        except rest.Conflict:
            return False
        return True

    def _spec(self, acquired: str, renewed: str, transitions: int) -> Obj:
        return {"holderIdentity": self.identity, "leaseDurationSeconds": int(self.lease_duration),
                "acquireTime": acquired, "renewTime": renewed, "leaseTransitions": transitions}
