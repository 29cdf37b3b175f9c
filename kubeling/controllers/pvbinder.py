"""The PersistentVolume binder for statically provisioned volumes (the binding
half of upstream's persistentvolume-binder-controller; there is no provisioner).

Claims: a Pending claim is bound to the smallest Available volume that fits
(same storageClassName, every requested access mode, enough capacity, same
volumeMode, matching ``spec.selector``); a volume pre-bound to the claim by
``claimRef`` wins, and a claim naming ``spec.volumeName`` gets that volume.
Binding writes, in order: the volume's ``claimRef`` (annotated
``pv.kubernetes.io/bound-by-controller``), its phase Bound, the claim's
``volumeName`` (annotated ``pv.kubernetes.io/bind-completed`` and
``bound-by-controller``), and the claim's status (Bound, capacity, access
modes). Each step is idempotent, so an interrupted bind finishes on the next pass.
Claims of a WaitForFirstConsumer class wait until the scheduler names a node
(annotation ``volume.kubernetes.io/selected-node``); the volume's node
affinity must then admit that node.

Volumes: a new volume becomes Available; when its bound claim is gone it is
Released (reclaim policy Retain) or deleted (Delete). A claim whose volume
vanished is Lost.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeling.api import podfit
from kubeling.client import informer as informerlib
from kubeling.client import rest
from kubeling.controllers import base, events
from kubeling.lib import labels, quantity

Obj = dict[str, Any]
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
CLAIM_INDEX = "claim"


def _claim_of(pv: Obj) -> list[str]:
    ref = (pv.get("spec") or {}).get("claimRef") or {}
    return [f"{ref.get('namespace')}/{ref.get('name')}"] if ref.get("name") else []


def _q(value: Any) -> quantity.Quantity:
    try:
        return quantity.parse(value)
    except (quantity.QuantityError, TypeError, ValueError):
        return quantity.Quantity.from_int(0)


def _phase(obj: Obj) -> str:
    return (obj.get("status") or {}).get("phase") or ""


def fits(pv: Obj, claim: Obj, *, node: Obj | None = None) -> bool:
    """Whether volume ``pv`` can serve ``claim`` (ignoring who it is bound to)."""
    ps, cs = pv.get("spec") or {}, claim.get("spec") or {}
    if pv["metadata"].get("deletionTimestamp"):
        return False
    if (ps.get("storageClassName") or "") != (cs.get("storageClassName") or ""):
        return False
    if not set(cs.get("accessModes") or []) <= set(ps.get("accessModes") or []):
        return False
    if (ps.get("volumeMode") or "Filesystem") != (cs.get("volumeMode") or "Filesystem"):
        return False
    want = _q(((cs.get("resources") or {}).get("requests") or {}).get("storage", "0"))
    if _q((ps.get("capacity") or {}).get("storage", "0")) < want:
        return False
    if cs.get("selector") is not None:
        try:
            sel = labels.from_label_selector(cs["selector"])
        except ValueError:
            return False
        if not sel.matches(pv["metadata"].get("labels") or {}):
            return False
    if node is not None:
        required = ((ps.get("nodeAffinity") or {}).get("required"))
        if required and not podfit.node_selector_matches(required, node):
            return False
    return True


class PVBinderController(base.Controller):
    NAME = "persistentvolume-binder-controller"
    WORKERS = 1  # binding reads and writes both sides: one at a time keeps two claims off one volume

    def __init__(self, ctx: base.Context) -> None:
        super().__init__(ctx)
        self.volumes = self.informer(rest.PERSISTENTVOLUMES, indexers={CLAIM_INDEX: _claim_of})
        self.claims = self.informer(rest.PERSISTENTVOLUMECLAIMS)
        self.classes = self.informer(rest.STORAGECLASSES)
        self.nodes = self.informer(rest.NODES)
        self.volumes.add_handler(on_add=self._volume_changed, on_update=lambda _o, n: self._volume_changed(n),
                                 on_delete=self._volume_deleted)
        self.claims.add_handler(on_add=self._claim_changed, on_update=lambda _o, n: self._claim_changed(n),
                                on_delete=self._claim_deleted)
        # volume name -> claim key this controller is binding it to, until the cache shows it
        self.reserved: dict[str, str] = {}

    def _volume_changed(self, pv: Obj) -> None:
        self.queue.add("pv:" + pv["metadata"]["name"])
        if _phase(pv) == "Available":
            for claim in self.claims.store.list():
                if _phase(claim) == "Pending" and not (claim.get("spec") or {}).get("volumeName"):
                    self.queue.add("pvc:" + informerlib.key_of(claim))

    def _volume_deleted(self, obj: Obj | informerlib.Tombstone) -> None:
        pv = informerlib.object_of(obj)
        self.reserved.pop(pv["metadata"]["name"], None)
        for key in _claim_of(pv):
            self.queue.add("pvc:" + key)

    def _claim_changed(self, claim: Obj) -> None:
        self.queue.add("pvc:" + informerlib.key_of(claim))

    def _claim_deleted(self, obj: Obj | informerlib.Tombstone) -> None:
        key = informerlib.key_of(obj)
        for name in self.volumes.store.index_keys(CLAIM_INDEX, key):
            self.queue.add("pv:" + name)

    async def reconcile(self, key: str) -> float | None:
        kind, _, rest_key = key.partition(":")
        if kind == "pv":
            await self.sync_volume(rest_key)
        else:
            await self.sync_claim(rest_key)
        return None

    # ---- volumes ------------------------------------------------------------------------
    async def sync_volume(self, name: str) -> None:
        pv = self.volumes.store.get(name)
        if pv is None or pv["metadata"].get("deletionTimestamp"):
            return
        ref = (pv.get("spec") or {}).get("claimRef")
        if not ref or not ref.get("name"):
            if _phase(pv) != "Available" and name not in self.reserved:
                await self._set_volume_phase(pv, "Available")
            return
        claim_key = f"{ref.get('namespace')}/{ref['name']}"
        claim = self.claims.store.get(claim_key)
        if claim is not None and (not ref.get("uid") or ref["uid"] == claim["metadata"]["uid"]):
            if ref.get("uid") and (claim.get("spec") or {}).get("volumeName") == name and _phase(pv) != "Bound":
                await self._set_volume_phase(pv, "Bound")
            elif not ref.get("uid") and _phase(pv) != "Available":
                await self._set_volume_phase(pv, "Available")  # pre-bound, waiting for its claim
            return
        if not ref.get("uid"):
            if _phase(pv) != "Available":
                await self._set_volume_phase(pv, "Available")
            return
        # The bound claim seems gone: make sure before releasing the volume.
        try:
            live = await self.client.get(rest.PERSISTENTVOLUMECLAIMS, ref["name"], namespace=ref.get("namespace"))
            if live["metadata"]["uid"] == ref["uid"]:
                return
        except rest.NotFound:
            pass
        policy = (pv.get("spec") or {}).get("persistentVolumeReclaimPolicy") or "Retain"
        if policy == "Delete":
            try:
                await self.client.delete(rest.PERSISTENTVOLUMES, name, preconditions={"uid": pv["metadata"]["uid"]})
            except (rest.NotFound, rest.Conflict):
                pass
        elif _phase(pv) != "Released":
            await self._set_volume_phase(pv, "Released")

    async def _set_volume_phase(self, pv: Obj, phase: str) -> Obj:
        body = copy.deepcopy(pv)
        body.setdefault("status", {})["phase"] = phase
        return await self.client.update_status(rest.PERSISTENTVOLUMES, body)  # type: ignore[no-any-return]

    # ---- claims -------------------------------------------------------------------------
    async def sync_claim(self, key: str) -> None:
        claim = self.claims.store.get(key)
        if claim is None or claim["metadata"].get("deletionTimestamp"):
            return
        volume_name = (claim.get("spec") or {}).get("volumeName")
        if volume_name:
            await self._sync_bound_claim(claim, volume_name)
            return
        node = None
        if self._waits_for_consumer(claim):
            node_name = (claim["metadata"].get("annotations") or {}).get(SELECTED_NODE)
            if not node_name:
                self.recorder.event(claim, events.NORMAL, "WaitForFirstConsumer",
                                    "waiting for first consumer to be created before binding")
                return
            node = self.nodes.store.get(node_name)
            if node is None:
                return
        pv = self._find_volume(claim, node)
        if pv is None:
            cls = (claim.get("spec") or {}).get("storageClassName")
            msg = ("no persistent volumes available for this claim and no storage class is set" if not cls
                   else f'storageclass.storage.k8s.io "{cls}" not found' if self.classes.store.get(cls) is None
                   else "no persistent volumes available for this claim")
            self.recorder.event(claim, events.NORMAL, "FailedBinding", msg)
            return
        await self._bind(pv, claim)

    def _waits_for_consumer(self, claim: Obj) -> bool:
        cls = (claim.get("spec") or {}).get("storageClassName")
        sc = self.classes.store.get(cls) if cls else None
        return bool(sc and sc.get("volumeBindingMode") == "WaitForFirstConsumer")

    def _find_volume(self, claim: Obj, node: Obj | None) -> Obj | None:
        key = informerlib.key_of(claim)
        best: Obj | None = None
        for pv in self.volumes.store.list():
            name = pv["metadata"]["name"]
            ref = (pv.get("spec") or {}).get("claimRef") or {}
            if self.reserved.get(name, key) != key:
                continue
            if ref.get("name"):
                mine = f"{ref.get('namespace')}/{ref['name']}" == key and ref.get("uid") in (
                    None, "", claim["metadata"]["uid"])
                if mine and fits(pv, claim, node=node):
                    return pv  # pre-bound to this claim
                continue
            if _phase(pv) not in ("Available", "Pending", "") or not fits(pv, claim, node=node):
                continue
            if best is None or _q(pv["spec"]["capacity"]["storage"]) < _q(best["spec"]["capacity"]["storage"]):
                best = pv
        return best

    async def _bind(self, pv: Obj, claim: Obj) -> None:
        name, key = pv["metadata"]["name"], informerlib.key_of(claim)
        self.reserved[name] = key
        cmd = claim["metadata"]
        ref = (pv.get("spec") or {}).get("claimRef") or {}
        if ref.get("uid") != cmd["uid"]:
            body = copy.deepcopy(pv)
            body["spec"]["claimRef"] = {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                                        "namespace": cmd["namespace"], "name": cmd["name"], "uid": cmd["uid"],
                                        "resourceVersion": cmd.get("resourceVersion", "")}
            if not ref.get("name"):
                body["metadata"].setdefault("annotations", {})[BOUND_BY_CONTROLLER] = "yes"
            pv = await self.client.update(rest.PERSISTENTVOLUMES, body)
        if _phase(pv) != "Bound":
            pv = await self._set_volume_phase(pv, "Bound")
        body = copy.deepcopy(claim)
        ann = body["metadata"].setdefault("annotations", {})
        if not body["spec"].get("volumeName"):
            body["spec"]["volumeName"] = name
            ann[BOUND_BY_CONTROLLER] = "yes"
        ann[BIND_COMPLETED] = "yes"
        if body != claim:
            claim = await self.client.update(rest.PERSISTENTVOLUMECLAIMS, body)
        await self._set_claim_bound(claim, pv)
        self.reserved.pop(name, None)

    async def _set_claim_bound(self, claim: Obj, pv: Obj) -> None:
        body = copy.deepcopy(claim)
        status = body.setdefault("status", {})
        status.update(phase="Bound", accessModes=list(pv["spec"].get("accessModes") or []),
                      capacity=dict(pv["spec"].get("capacity") or {}))
        if status != (claim.get("status") or {}):
            await self.client.update_status(rest.PERSISTENTVOLUMECLAIMS, body)

    async def _sync_bound_claim(self, claim: Obj, volume_name: str) -> None:
        pv = self.volumes.store.get(volume_name)
        if pv is None:
            try:
                pv = await self.client.get(rest.PERSISTENTVOLUMES, volume_name)
            except rest.NotFound:
                if _phase(claim) == "Bound":
                    body = copy.deepcopy(claim)
                    body["status"]["phase"] = "Lost"
                    await self.client.update_status(rest.PERSISTENTVOLUMECLAIMS, body)
                    self.recorder.event(claim, events.WARNING, "ClaimLost",
                                        "Bound claim has lost its PersistentVolume. Data on the volume is lost!")
                return
        ref = (pv.get("spec") or {}).get("claimRef") or {}
        if not ref.get("name") or (f"{ref.get('namespace')}/{ref['name']}" == informerlib.key_of(claim)
                                   and ref.get("uid") in (None, "", claim["metadata"]["uid"])):
            if ref.get("uid") != claim["metadata"]["uid"] or _phase(pv) != "Bound" or _phase(claim) != "Bound" \
                    or BIND_COMPLETED not in (claim["metadata"].get("annotations") or {}):
                if not ref.get("name") and not fits(pv, claim):
                    self.recorder.event(claim, events.WARNING, "FailedBinding",
                                        "volume " + volume_name + " is not suitable for this claim")
                    return
                await self._bind(pv, claim)
            return
        if _phase(claim) == "Bound":
            body = copy.deepcopy(claim)
            body["status"]["phase"] = "Lost"
            await self.client.update_status(rest.PERSISTENTVOLUMECLAIMS, body)
        else:
            self.recorder.event(claim, events.WARNING, "FailedBinding",
                                f"volume \"{volume_name}\" already bound to a different claim.")
