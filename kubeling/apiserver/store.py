"""The generic store: runs each kind's strategy around storage, in a fixed order.

    create: decode -> namespace/name/uid -> default -> prepare_for_create ->
            validate (metadata + kind) -> admission -> storage.create
    update: read current -> preconditions -> default -> prepare_for_update
            (or prepare_for_status_update) -> validate_update -> admission ->
            storage.update(expected revision)
    delete: read current -> preconditions -> finalizers / grace -> storage.delete

One Store serves every version of a resource; objects are stored in the
storage version and converted on the way in and out when a resource is served
in several versions. Storage errors are translated into API errors here.
"""

from __future__ import annotations

import dataclasses
import random
import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from kubeling.api import errors, meta, registry
from kubeling.apiserver import codec
from kubeling.lib import timeutil
from kubeling.storage import interface as storage

Obj = dict[str, Any]

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # no vowels: generated names never spell words


@dataclasses.dataclass
class Context:
    """Per-request facts the store needs."""

    user: str = "system:admin"
    groups: tuple[str, ...] = ()
    dry_run: bool = False
    warnings: list[str] = dataclasses.field(default_factory=list)
    subresource: str = ""


class Admission(Protocol):
    """Checks and mutations that need cluster state (namespaces, allocators, quotas)."""

    async def admit(self, ctx: Context, op: str, res: registry.Resource, obj: Obj, old: Obj | None) -> None: ...

    async def released(self, res: registry.Resource, obj: Obj) -> None:
        """Called after an object is removed from storage (free its IPs/ports)."""
        ...


_uid_random = random.Random()  # seeded from os.urandom; UIDs need uniqueness, not secrecy


def new_uid() -> str:
    """A random (version 4) UUID, without uuid4's system call per UID."""
    return str(uuid.UUID(int=_uid_random.getrandbits(128), version=4))


def generate_name(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_NAME_CHARS) for _ in range(5))


class Store:
    def __init__(
        self,
        res: registry.Resource,
        backend: storage.Backend,
        *,
        admission: list[Admission],
    ) -> None:
        self.res = res
        self.backend = backend
        self.admission = admission

    # ---- helpers -------------------------------------------------------------
    def _not_found(self, name: str) -> errors.APIError:
        return errors.not_found_error(self.res.plural, self.res.group, name)

    def _conflict(self, name: str) -> errors.APIError:
        return errors.conflict(self.res.plural, self.res.group, name, errors.OBJECT_MODIFIED)

    def to_storage(self, obj: Obj) -> Obj:
        r = self.res
        if r.needs_conversion:
            obj = r.convert_to_storage(obj)
            obj["apiVersion"] = r.storage_group_version
        return obj

    def from_storage(self, obj: Obj) -> Obj:
        """Served form of a stored object (the caller owns ``obj``)."""
        r = self.res
        if r.needs_conversion:
            obj = r.convert_from_storage(obj)
        obj["apiVersion"] = r.group_version
        obj["kind"] = r.kind
        return obj

    def served(self, obj: Obj) -> Obj:
        """Served form of an object that may belong to a cache: never mutates it."""
        r = self.res
        if r.needs_conversion:
            return self.from_storage(codec.deep_copy(obj))
        if obj.get("apiVersion") == r.group_version and obj.get("kind") == r.kind:
            return obj
        return {**obj, "apiVersion": r.group_version, "kind": r.kind}

    async def _admit(self, ctx: Context, op: str, obj: Obj, old: Obj | None) -> None:
        for plugin in self.admission:
            await plugin.admit(ctx, op, self.res, obj, old)

    def _validate_meta(self, obj: Obj) -> list[errors.FieldError]:
        name_fn = self.res.strategy.name_fn
        if name_fn is not None:
            return meta.validate_object_meta(obj.get("metadata") or {}, namespaced=self.res.namespaced,
                                             name_fn=name_fn)
        return meta.validate_object_meta(obj.get("metadata") or {}, namespaced=self.res.namespaced)

    async def read(self, namespace: str, name: str) -> tuple[Obj, int]:
        """The current stored object (decoded, owned by the caller) and its revision."""
        kv = await self.backend.get(self.res.key(namespace, name))
        if kv is None:
            raise self._not_found(name)
        return codec.decode_stored(kv.value, kv.mod_revision), kv.mod_revision

    # ---- verbs ---------------------------------------------------------------
    async def get(self, namespace: str, name: str) -> Obj:
        obj, _ = await self.read(namespace, name)
        return self.from_storage(obj)

    async def create(self, ctx: Context, namespace: str, obj: Obj) -> Obj:
        r = self.res
        md = obj.setdefault("metadata", {})
        if not isinstance(md, dict):
            raise errors.bad_request("metadata must be an object")
        if r.namespaced:
            body_ns = md.get("namespace") or ""
            if body_ns and namespace and body_ns != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            md["namespace"] = namespace or body_ns
        else:
            md.pop("namespace", None)
        if md.get("resourceVersion"):
            raise errors.bad_request("resourceVersion should not be set on objects to be created")
        generated = not md.get("name") and bool(md.get("generateName"))
        if generated:
            md["name"] = generate_name(md["generateName"])
        md["uid"] = new_uid()
        md["creationTimestamp"] = timeutil.rfc3339()
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            md.pop(k, None)
        obj = self.to_storage(obj)
        strat = r.strategy
        strat.default(obj)
        strat.prepare_for_create(obj)
        errs = self._validate_meta(obj) + strat.validate(obj)
        name = md.get("name") or ""
        if errs:
            raise errors.invalid(r.kind, r.group, name, errs)
        await self._admit(ctx, "CREATE", obj, None)
        if ctx.dry_run:
            if await self.backend.get(r.key(md.get("namespace", ""), name)) is not None:
                raise errors.already_exists(r.plural, r.group, name)
            return self.from_storage(obj)
        rev = 0
        try:
            for attempt in range(8):
                try:
                    rev = await self.backend.create(r.key(md.get("namespace", ""), name),
                                                    codec.encode_for_storage(obj))
                    break
                except storage.KeyExistsError as exc:
                    if generated and attempt < 7:
                        # A generated name collided: pick another, as upstream (RetryGenerateName) does.
                        name = md["name"] = generate_name(md["generateName"])
                        continue
                    raise errors.already_exists(r.plural, r.group, name) from exc
        except BaseException:
            for plugin in self.admission:
                await plugin.released(r, obj)
            raise
        obj["metadata"]["resourceVersion"] = str(rev)
        return self.from_storage(obj)

    async def update(
        self,
        ctx: Context,
        namespace: str,
        name: str,
        mutate: Callable[[Obj], Awaitable[Obj]],
        *,
        allow_create: bool = False,
    ) -> tuple[Obj, bool]:
        """Read-modify-write with optimistic concurrency.

        ``mutate(current)`` returns the desired object (it owns ``current``).
        If the desired object names a resourceVersion, it is a precondition
        (409 on mismatch); otherwise the write is retried on conflicts, as
        upstream's GuaranteedUpdate does. Returns (object, created).
        """
        r = self.res
        key = r.key(namespace, name)
        for _attempt in range(20):
            kv = await self.backend.get(key)
            if kv is None:
                if not allow_create:
                    raise self._not_found(name)
                desired = await mutate({})
                return await self.create(ctx, namespace, desired), True
            current = codec.decode_stored(kv.value, kv.mod_revision)
            old = codec.decode_stored(kv.value, kv.mod_revision)
            desired = await mutate(self.from_storage(current))
            desired = self.to_storage(desired)
            dmd = desired.get("metadata")
            if not isinstance(dmd, dict):
                raise errors.bad_request("metadata must be an object")
            want_rv = dmd.get("resourceVersion")
            if want_rv and str(want_rv) != str(kv.mod_revision):
                raise self._conflict(name)
            if dmd.get("name", name) != name:
                raise errors.bad_request(
                    f'the name of the object ({dmd.get("name")}) does not match the name on the URL ({name})'
                )
            if r.namespaced and dmd.get("namespace") and dmd["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            desired = self._prepare_update(ctx, desired, old)
            if desired == old:
                return self.from_storage(old), False  # a no-op update writes nothing
            await self._admit(ctx, "UPDATE", desired, old)
            dmd = desired["metadata"]
            if dmd.get("deletionTimestamp") and not dmd.get("finalizers") and not _graceful_pending(desired) and (
                not _spec_finalizers(desired)
            ):
                # The last finalizer was removed from an object being deleted: it goes now.
                if ctx.dry_run:
                    return self.from_storage(desired), False
                try:
                    await self.backend.delete(key, expected_revision=kv.mod_revision)
                except (storage.ConflictError, storage.KeyNotFoundError):
                    continue
                for plugin in self.admission:
                    await plugin.released(r, desired)
                return self.from_storage(desired), False
            if ctx.dry_run:
                return self.from_storage(desired), False
            try:
                rev = await self.backend.update(
                    key, codec.encode_for_storage(desired), expected_revision=kv.mod_revision
                )
            except storage.ConflictError:
                if want_rv:
                    raise self._conflict(name) from None
                continue
            except storage.KeyNotFoundError:
                raise self._not_found(name) from None
            desired["metadata"]["resourceVersion"] = str(rev)
            return self.from_storage(desired), False
        raise self._conflict(name)

    def _prepare_update(self, ctx: Context, desired: Obj, old: Obj) -> Obj:
        r = self.res
        strat = r.strategy
        dmd = desired["metadata"]
        omd = old["metadata"]
        # An update naming another uid is refused below (uid is immutable), as
        # upstream: it is how writers avoid touching a same-named replacement.
        if not dmd.get("uid") and omd.get("uid"):
            dmd["uid"] = omd["uid"]
        # Fields the server owns: clients cannot change them through an update.
        for k in ("creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"):
            if k in omd:
                dmd[k] = omd[k]
            else:
                dmd.pop(k, None)
        dmd["name"] = omd["name"]
        if r.namespaced:
            dmd["namespace"] = omd.get("namespace", "")
        dmd.pop("resourceVersion", None)
        old_cmp = codec.deep_copy(old)
        old_cmp["metadata"].pop("resourceVersion", None)
        if ctx.subresource == "status":
            strat.prepare_for_status_update(desired, old_cmp)
            errs = meta.validate_object_meta_update(desired["metadata"], omd)
            errs += strat.validate_status_update(desired, old_cmp)
        elif ctx.subresource:
            strat.prepare_for_subresource(ctx.subresource, desired, old_cmp)
            errs = strat.validate_subresource(ctx.subresource, desired, old_cmp)
        else:
            strat.default(desired)
            strat.prepare_for_update(desired, old_cmp)
            errs = meta.validate_object_meta_update(dmd, omd) + self._validate_meta(desired)
            errs += strat.validate_update(desired, old_cmp)
        if errs:
            raise errors.invalid(r.kind, r.group, omd.get("name", ""), errs)
        desired["metadata"].pop("resourceVersion", None)
        old.clear()
        old.update(old_cmp)
        return desired

    async def delete(
        self, ctx: Context, namespace: str, name: str, options: Obj
    ) -> tuple[Obj, bool]:
        """Delete per DeleteOptions. Returns (object, deleted_now).

        Objects with finalizers (or a graceful pod deletion) are only marked
        with a deletionTimestamp; they go when the last finalizer is removed.
        """
        r = self.res
        key = r.key(namespace, name)
        pre = options.get("preconditions") or {}
        for _attempt in range(20):
            kv = await self.backend.get(key)
            if kv is None:
                raise self._not_found(name)
            obj = codec.decode_stored(kv.value, kv.mod_revision)
            md = obj["metadata"]
            if pre.get("uid") and pre["uid"] != md.get("uid"):
                raise errors.conflict(
                    r.plural, r.group, name,
                    f"Precondition failed: UID in precondition: {pre['uid']}, UID in object meta: {md.get('uid')}",
                )
            if pre.get("resourceVersion") and str(pre["resourceVersion"]) != str(kv.mod_revision):
                raise errors.conflict(
                    r.plural, r.group, name,
                    "Precondition failed: ResourceVersion in precondition: "
                    f"{pre['resourceVersion']}, ResourceVersion in object meta: {kv.mod_revision}",
                )
            await self._admit(ctx, "DELETE", obj, obj)
            finalizers = list(md.get("finalizers") or [])
            policy = options.get("propagationPolicy") or ""
            if options.get("orphanDependents") is True:
                policy = "Orphan"
            if policy == "Orphan" and "orphan" not in finalizers:
                finalizers.append("orphan")
            elif policy == "Foreground" and "foregroundDeletion" not in finalizers:
                finalizers.append("foregroundDeletion")
            grace = _grace_period(r, obj, options)
            if finalizers or grace > 0 or _spec_finalizers(obj):
                if md.get("deletionTimestamp") and finalizers == (md.get("finalizers") or []) and grace >= int(
                    md.get("deletionGracePeriodSeconds") or 0
                ):
                    return self.from_storage(obj), False  # already being deleted
                md["finalizers"] = finalizers
                if not finalizers:
                    md.pop("finalizers")
                if not md.get("deletionTimestamp") or grace < int(md.get("deletionGracePeriodSeconds") or 0):
                    md["deletionTimestamp"] = timeutil.rfc3339(
                        timeutil.now() + _seconds(grace)
                    )
                    md["deletionGracePeriodSeconds"] = grace
                if self.res.strategy.tracks_generation:
                    md["generation"] = int(md.get("generation") or 1) + 1
                if ctx.dry_run:
                    return self.from_storage(obj), False
                try:
                    rev = await self.backend.update(
                        key, codec.encode_for_storage(obj), expected_revision=kv.mod_revision
                    )
                except storage.ConflictError:
                    continue
                except storage.KeyNotFoundError:
                    raise self._not_found(name) from None
                md["resourceVersion"] = str(rev)
                return self.from_storage(obj), False
            if ctx.dry_run:
                return self.from_storage(obj), True
            try:
                deleted = await self.backend.delete(key, expected_revision=kv.mod_revision)
            except storage.ConflictError:
                continue
            except storage.KeyNotFoundError:
                raise self._not_found(name) from None
            md["resourceVersion"] = str(deleted.mod_revision)
            for plugin in self.admission:
                await plugin.released(r, obj)
            return self.from_storage(obj), True
        raise self._conflict(name)


def _seconds(n: int) -> Any:
    import datetime

    return datetime.timedelta(seconds=n)


def _spec_finalizers(obj: Obj) -> list[str]:
    """Namespaces carry their own finalizers in spec (``kubernetes``)."""
    if obj.get("kind") == "Namespace":
        return list((obj.get("spec") or {}).get("finalizers") or [])
    return []


def _graceful_pending(obj: Obj) -> bool:
    """A pod on a node with a pending graceful deletion waits for its kubelet."""
    md = obj.get("metadata", {})
    return bool(
        obj.get("kind") == "Pod"
        and int(md.get("deletionGracePeriodSeconds") or 0) > 0
        and (obj.get("spec") or {}).get("nodeName")
    )


def _grace_period(res: registry.Resource, obj: Obj, options: Obj) -> int:
    """Graceful deletion applies to pods bound to a node, as upstream."""
    if res.kind != "Pod" or res.group:
        return 0
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
        return 0
    grace = options.get("gracePeriodSeconds")
    if grace is None:
        grace = spec.get("terminationGracePeriodSeconds", 30)
    try:
        return max(0, int(grace))
    except (TypeError, ValueError):
        return 30
