"""ResourceQuota admission: refuse what would exceed a namespace's quota, and
charge what is admitted.

Contract (upstream's ResourceQuota plugin): a quota constrains only the
resources in its ``status.hard`` (so nothing is enforced until the
ResourceQuota controller has filled the status), and refuses while a
constrained resource has no ``status.used`` yet. A create (and an update of a
Service or claim that grows it) adds its usage to ``status.used`` of every
matching quota; the write names the quota's resourceVersion, so of two
concurrent requests racing for the last unit one gets a conflict, re-reads
and is refused. Usage is released by the controller recomputing ``status.used``
when objects go. Quota on cpu/memory makes every container declare it.
"""

from __future__ import annotations

from typing import Any

from kubeling.api import errors, quotausage, registry
from kubeling.apiserver import store

Obj = dict[str, Any]
_RETRIES = 16
# Kinds whose updates can grow usage (service ports and types, claim sizes).
_UPDATE_CHARGED = frozenset({"services", "persistentvolumeclaims"})


class ResourceQuota:
    def __init__(self, api: Any) -> None:
        self.api = api

    def _store(self) -> store.Store:
        return self.api.stores[("", "v1", "resourcequotas")]  # type: ignore[no-any-return]

    async def admit(self, ctx: store.Context, op: str, res: registry.Resource, obj: Obj, old: Obj | None) -> None:
        if ctx.subresource or not res.namespaced or op not in ("CREATE", "UPDATE"):
            return
        if op == "UPDATE" and (res.group or res.plural not in _UPDATE_CHARGED):
            return
        md = obj.get("metadata") or {}
        ns = md.get("namespace") or ""
        qstore = self._store()
        prefix = f"{qstore.res.storage_prefix}{ns}/"
        cached, _ = self.api.cacher.resource(qstore.res.storage_prefix).list(prefix)
        if not cached:
            return
        delta = quotausage.usage(res.plural, res.group, obj)
        if old is not None:
            prev = quotausage.usage(res.plural, res.group, old)
            delta = {k: max(v - prev.get(k, quotausage.ZERO), quotausage.ZERO) for k, v in delta.items()}
            if all(v.is_zero() for v in delta.values()):
                return
        names = sorted(co.obj["metadata"]["name"] for co in cached)
        # Check every quota before charging any, so a refusal charges nothing.
        charges: list[tuple[str, int, dict[str, str]]] = []
        for qname in names:
            charge = await self._evaluate(qname, ns, res, obj, delta)
            if charge is not None:
                charges.append(charge)
        if ctx.dry_run:
            return
        for qname, rev, used in charges:
            for _ in range(_RETRIES):
                if await self._write(ctx, ns, qname, rev, used):
                    break
                # Someone else charged this quota meanwhile: re-read and re-check.
                charge = await self._evaluate(qname, ns, res, obj, delta)
                if charge is None:
                    break
                _, rev, used = charge
            else:
                raise errors.APIError(409, "Conflict", f"Operation cannot be fulfilled on resourcequotas "
                                      f"\"{qname}\": too many concurrent updates; please retry")

    async def _evaluate(self, qname: str, ns: str, res: registry.Resource, obj: Obj,
                        delta: quotausage.Usage) -> tuple[str, int, dict[str, str]] | None:
        """Refuse (403) if ``obj`` may not be charged to quota ``qname``; else the
        quota's revision and its new ``status.used``, or None if it is not affected."""
        try:
            quota, rev = await self._store().read(ns, qname)
        except errors.APIError:
            return None  # deleted meanwhile
        if not quotausage.scopes_match(quota, res.plural, res.group, obj):
            return None
        status = quota.get("status") or {}
        hard = quotausage.parse_list(status.get("hard"))
        is_pod = not res.group and res.plural == "pods"
        restricted = sorted(k for k in hard if k in delta or (is_pod and k in quotausage.CONSTRAINED))
        if not restricted:
            return None
        name = (obj.get("metadata") or {}).get("name", "")
        if is_pod:
            missing = quotausage.missing_constraints(obj, restricted)
            if missing:
                raise errors.forbidden_error(res.plural, res.group, name, f"failed quota: {qname}: {missing}")
        used_raw = status.get("used") or {}
        unknown = [k for k in restricted if k not in used_raw]
        if unknown:
            raise errors.forbidden_error(res.plural, res.group, name,
                                         f"status unknown for quota: {qname}, resources: {','.join(unknown)}")
        used = quotausage.parse_list(used_raw)
        requested = {k: delta[k] for k in restricted if k in delta}
        if not requested:
            return None
        new_used = {k: used.get(k, quotausage.ZERO) + v for k, v in requested.items()}
        exceeded = sorted(k for k, v in new_used.items() if v > hard[k])
        if exceeded:
            msg = (f"exceeded quota: {qname}, requested: {quotausage.pretty({k: requested[k] for k in exceeded})}, "
                   f"used: {quotausage.pretty({k: used.get(k, quotausage.ZERO) for k in exceeded})}, "
                   f"limited: {quotausage.pretty({k: hard[k] for k in exceeded})}")
            raise errors.forbidden_error(res.plural, res.group, name, msg)
        if all(v.is_zero() for v in requested.values()):
            return None
        merged = dict(used_raw)
        merged.update(quotausage.format_list(new_used))
        return qname, rev, merged

    async def _write(self, ctx: store.Context, ns: str, qname: str, rev: int, used: dict[str, str]) -> bool:
        """Store the new ``status.used`` if the quota is still at ``rev``; False on a conflict."""

        async def mutate(current: Obj) -> Obj:
            current["metadata"]["resourceVersion"] = str(rev)
            current.setdefault("status", {})["used"] = used
            return current

        sctx = store.Context(user=ctx.user, groups=ctx.groups, subresource="status")
        try:
            await self._store().update(sctx, ns, qname, mutate)
        except errors.APIError as exc:
            if exc.code == 404:
                return True  # the quota went away: nothing left to charge
            if exc.code == 409:
                return False
            raise
        return True

    async def released(self, res: registry.Resource, obj: Obj) -> None:
        return None
