"""The ServiceAccount controller: every active namespace has a ``default``
ServiceAccount; deleting it brings it back (upstream's serviceaccounts-controller)."""

from __future__ import annotations

from typing import Any

from kubeling.client import informer as informerlib
from kubeling.client import rest
from kubeling.controllers import base

Obj = dict[str, Any]
DEFAULT = "default"


class ServiceAccountController(base.Controller):
    NAME = "serviceaccount"

    def __init__(self, ctx: base.Context) -> None:
        super().__init__(ctx)
        self.namespaces = self.informer(rest.NAMESPACES)
        self.accounts = self.informer(rest.SERVICEACCOUNTS)
        self.namespaces.add_handler(on_add=self.enqueue, on_update=lambda _old, new: self.enqueue(new))
        self.accounts.add_handler(on_delete=self._account_deleted)

    def _account_deleted(self, obj: Obj | informerlib.Tombstone) -> None:
        sa = informerlib.object_of(obj)
        if sa["metadata"]["name"] == DEFAULT:
            self.queue.add(sa["metadata"]["namespace"])

    async def reconcile(self, key: str) -> float | None:
        ns = self.namespaces.store.get(key)
        if ns is None or ns.get("metadata", {}).get("deletionTimestamp") \
                or (ns.get("status") or {}).get("phase") == "Terminating":
            return None
        if self.accounts.store.get(f"{key}/{DEFAULT}") is not None:
            return None
        body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": DEFAULT, "namespace": key}}
        try:
            await self.client.create(rest.SERVICEACCOUNTS, body, namespace=key)
        except rest.AlreadyExists:
            pass
        except rest.Forbidden:
            # The namespace began terminating after our cache saw it.
            pass
        return None
