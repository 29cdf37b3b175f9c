"""The ResourceQuota controller (upstream's resourcequota-controller).

Keeps each quota's ``status.hard`` equal to ``spec.hard`` and ``status.used``
equal to what the namespace's objects consume (see
:mod:`kubeling.api.quotausage`, shared with quota admission, which charges
creates as they happen). A quota is recalculated when its spec changes, when
an object it may count goes away or changes what it uses (a pod finishing),
and every ``RESYNC_PERIOD`` seconds. Creates are not a trigger: admission has
already charged them, and recomputing from a cache that may not hold the new
object yet would hand the unit out twice.

Usage is computed for the kinds watched here; ``count/<resource>`` of any
other kind keeps the value admission charged.
"""

from __future__ import annotations

from typing import Any

from kubeling.api import quotausage
from kubeling.client import informer as informerlib
from kubeling.client import rest
from kubeling.controllers import base

Obj = dict[str, Any]

TRACKED: tuple[rest.ResourceRef, ...] = (
    rest.PODS, rest.SERVICES, rest.CONFIGMAPS, rest.SECRETS, rest.PERSISTENTVOLUMECLAIMS,
    rest.REPLICATIONCONTROLLERS, rest.RESOURCEQUOTAS, rest.REPLICASETS, rest.DEPLOYMENTS,
    rest.STATEFULSETS, rest.DAEMONSETS, rest.JOBS, rest.CRONJOBS,
)


class ResourceQuotaController(base.Controller):
    NAME = "resourcequota"
    RESYNC_PERIOD = 300.0  # upstream's --resource-quota-sync-period

    def __init__(self, ctx: base.Context) -> None:
        super().__init__(ctx)
        self.resync_period = self.RESYNC_PERIOD
        self.quotas = self.informer(rest.RESOURCEQUOTAS)
        self.quotas.add_handler(on_add=self.enqueue, on_update=self._quota_updated)
        self.tracked: dict[rest.ResourceRef, informerlib.Informer] = {}
        for ref in TRACKED:
            inf = self.quotas if ref == rest.RESOURCEQUOTAS else self.informer(ref)
            self.tracked[ref] = inf
            inf.add_handler(on_update=self._make_updated(ref), on_delete=self._object_deleted)

    def _quota_updated(self, old: Obj, new: Obj) -> None:
        # Only spec changes count: status changes are this controller's (or admission's
        # charges) and a stray status edit is put right by the periodic resync, as upstream.
        if (new.get("spec") or {}) != (old.get("spec") or {}):
            self.enqueue(new)

    def _enqueue_namespace(self, ns: str) -> None:
        for q in self.quotas.store.list(namespace=ns):
            self.enqueue(q)

    def _object_deleted(self, obj: Obj | informerlib.Tombstone) -> None:
        self._enqueue_namespace((informerlib.object_of(obj).get("metadata") or {}).get("namespace") or "")

    def _make_updated(self, ref: rest.ResourceRef) -> Any:
        def updated(old: Obj, new: Obj) -> None:
            if ref == rest.RESOURCEQUOTAS:
                return
            before = quotausage.usage(ref.plural, ref.group, old)
            after = quotausage.usage(ref.plural, ref.group, new)
            if before != after or (ref == rest.PODS and _scope_facts(old) != _scope_facts(new)):
                self._enqueue_namespace((new.get("metadata") or {}).get("namespace") or "")
        return updated

    def calculate(self, quota: Obj) -> dict[str, str]:
        """``status.used`` for ``quota`` from the cached objects of its namespace."""
        ns = quota["metadata"]["namespace"]
        hard = dict((quota.get("spec") or {}).get("hard") or {})
        total: quotausage.Usage = {}
        for ref, inf in self.tracked.items():
            for obj in inf.store.list(namespace=ns):
                if not quotausage.scopes_match(quota, ref.plural, ref.group, obj):
                    continue
                for k, q in quotausage.usage(ref.plural, ref.group, obj).items():
                    if k in hard:
                        total[k] = total.get(k, quotausage.ZERO) + q
        known = _computed_names(self.tracked)
        old_used = (quota.get("status") or {}).get("used") or {}
        used: dict[str, str] = {}
        for k in hard:
            if k in total:
                used[k] = str(total[k])
            elif k.startswith("count/") and k not in known and k in old_used:
                used[k] = old_used[k]  # a kind not watched here: keep admission's count
            else:
                used[k] = "0"
        return used

    async def reconcile(self, key: str) -> float | None:
        quota = self.quotas.store.get(key)
        if quota is None:
            return None
        hard = dict((quota.get("spec") or {}).get("hard") or {})
        used = self.calculate(quota)
        status = quota.get("status") or {}
        if not _same(status.get("hard"), hard) or not _same(status.get("used"), used):
            body = {**quota, "status": {**status, "hard": hard, "used": used}}
            await self.client.update_status(rest.RESOURCEQUOTAS, body)
        return self.resync_period


def _same(a: Any, b: Any) -> bool:
    """Quantity maps equal by value ("1000m" is "1")."""
    a, b = a or {}, b or {}
    if set(a) != set(b):
        return False
    return all(quotausage.parse(a[k]) == quotausage.parse(b[k]) for k in a)


def _scope_facts(pod: Obj) -> tuple[Any, ...]:
    spec = pod.get("spec") or {}
    return spec.get("activeDeadlineSeconds"), spec.get("priorityClassName")


def _computed_names(tracked: dict[rest.ResourceRef, informerlib.Informer]) -> set[str]:
    return {f"count/{quotausage.group_resource(ref.plural, ref.group)}" for ref in tracked}
