"""The Deployment controller (upstream's deployment controller).

A Deployment owns ReplicaSets; the one whose pod template equals the
Deployment's (ignoring the ``pod-template-hash`` label) is the *new* RS, named
``<deployment>-<hash>``; the rest are *old*. Each reconcile:

1. claims ReplicaSets (adopt matching orphans, release non-matching ones);
2. records Progressing=Unknown ``DeploymentPaused``/``DeploymentResumed`` on a pause change;
3. paused, or only ``spec.replicas`` changed (a *scaling event*, seen through the
   RSes' ``desired-replicas`` annotation): scales the RSes proportionally and writes status;
4. otherwise rolls out: ``RollingUpdate`` grows the new RS within maxSurge and
   shrinks old ones while at least ``replicas - maxUnavailable`` stay available;
   ``Recreate`` scales old RSes to zero, waits for their pods to go, then scales up;
5. deletes zero-sized old RSes beyond ``revisionHistoryLimit`` once complete,
   and writes status with Progressing (incl. ``ProgressDeadlineExceeded``) and
   Available conditions.

Revisions live in the ``deployment.kubernetes.io/revision`` annotation of the RSes
and the Deployment; re-using an existing RS (``kubectl rollout undo``) gives it the
next revision. The pure arithmetic is in :mod:`deploymentutil`.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeling.client import informer as informerlib
from kubeling.client import rest
from kubeling.controllers import base, events, podutil, rollout
from kubeling.controllers import deploymentutil as du

Obj = dict[str, Any]


class DeploymentController(base.Controller):
    NAME = "deployment"
    WORKERS = 5

    def __init__(self, ctx: base.Context) -> None:
        super().__init__(ctx)
        self.deployments = self.informer(rest.DEPLOYMENTS)
        self.replicasets = self.informer(rest.REPLICASETS)
        self.pods = self.informer(rest.PODS)
        self.deployments.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                     on_delete=self.enqueue)
        self.replicasets.add_handler(on_add=self._rs_added, on_update=self._rs_updated, on_delete=self._rs_deleted)
        self.pods.add_handler(on_delete=self._pod_deleted)

    # ---- event handlers (only enqueue) ---------------------------------------------
    def _owner_of(self, obj: Obj) -> Obj | None:
        ref = podutil.controller_ref(obj)
        if ref is None or ref.get("kind") != "Deployment":
            return None
        d = self.deployments.store.get(f"{obj['metadata'].get('namespace')}/{ref.get('name')}")
        if d is None or d["metadata"].get("uid") != ref.get("uid"):
            return None
        return d

    def _matching(self, rs: Obj) -> list[Obj]:
        ns = rs["metadata"].get("namespace")
        return [d for d in self.deployments.store.list(namespace=ns) if podutil.matches(podutil.selector_of(d), rs)]

    def _rs_added(self, rs: Obj) -> None:
        if podutil.controller_ref(rs) is not None:
            d = self._owner_of(rs)
            if d is not None:
                self.enqueue(d)
            return
        for d in self._matching(rs):
            self.enqueue(d)

    def _rs_updated(self, old: Obj, cur: Obj) -> None:
        if old["metadata"].get("resourceVersion") == cur["metadata"].get("resourceVersion"):
            return
        old_ref, cur_ref = podutil.controller_ref(old), podutil.controller_ref(cur)
        ref_changed = (old_ref or {}).get("uid") != (cur_ref or {}).get("uid")
        if ref_changed and old_ref is not None:
            prev = self._owner_of(old)
            if prev is not None:
                self.enqueue(prev)
        if cur_ref is not None:
            d = self._owner_of(cur)
            if d is not None:
                self.enqueue(d)
            return
        if ref_changed or old["metadata"].get("labels") != cur["metadata"].get("labels"):
            for d in self._matching(cur):
                self.enqueue(d)

    def _rs_deleted(self, obj: Obj | informerlib.Tombstone) -> None:
        d = self._owner_of(informerlib.object_of(obj))
        if d is not None:
            self.enqueue(d)

    def _pod_deleted(self, obj: Obj | informerlib.Tombstone) -> None:
        # Recreate waits for every old pod to be gone: a pod's deletion may unblock it.
        pod = informerlib.object_of(obj)
        ref = podutil.controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicaSet":
            return
        rs = self.replicasets.store.get(f"{pod['metadata'].get('namespace')}/{ref.get('name')}")
        d = self._owner_of(rs) if rs is not None else None
        if d is not None and not du.is_rolling(d):
            self.enqueue(d)

    # ---- reconcile -----------------------------------------------------------------------
    async def reconcile(self, key: str) -> float | None:
        cached = self.deployments.store.get(key)
        if cached is None:
            return None
        d = copy.deepcopy(cached)
        sel = (d.get("spec") or {}).get("selector")
        if not sel or not (sel.get("matchLabels") or sel.get("matchExpressions")):
            self.recorder.event(d, events.WARNING, "SelectingAll",
                                "This deployment is selecting all pods. A non-empty selector is required.")
            gen = d["metadata"].get("generation") or 0
            if int((d.get("status") or {}).get("observedGeneration") or 0) < gen:
                d.setdefault("status", {})["observedGeneration"] = gen
                await self._write_status(d)
            return None
        rss = await self._claim(d)
        sync = rollout.Sync(self, d, rss)
        if podutil.is_terminating(d):
            await sync.status_only()
            return None
        await sync.check_paused_conditions()
        if d["spec"].get("paused"):
            await sync.scale_and_status()
            return None
        if await sync.is_scaling_event():
            await sync.scale_and_status()
            return None
        if du.is_rolling(d):
            return await sync.rolling()
        return await sync.recreate(self._pods_by_rs(d, rss))

    async def _claim(self, d: Obj) -> list[Obj]:
        """The RSes this Deployment owns, adopting orphans that match its selector and
        releasing owned ones that no longer do."""
        ns = d["metadata"]["namespace"]
        selector = podutil.selector_of(d)
        owned, adopt, release = podutil.claim(self.replicasets.store.list(namespace=ns), d, selector)
        for rs in release:
            try:
                await self.client.patch(rest.REPLICASETS, rs["metadata"]["name"], podutil.release_patch(rs, d),
                                        namespace=ns, patch_type="strategic")
            except rest.NotFound:
                pass
        if adopt and await self._can_adopt(d):
            for rs in adopt:
                try:
                    owned.append(await self.client.patch(rest.REPLICASETS, rs["metadata"]["name"],
                                                         podutil.adopt_patch(rs, d), namespace=ns,
                                                         patch_type="strategic"))
                except rest.NotFound:
                    pass
        return [copy.deepcopy(rs) for rs in owned]

    async def _can_adopt(self, d: Obj) -> bool:
        md = d["metadata"]
        try:
            fresh = await self.client.get(rest.DEPLOYMENTS, md["name"], namespace=md["namespace"])
        except rest.NotFound:
            return False
        return bool(fresh["metadata"].get("uid") == md["uid"] and not podutil.is_terminating(fresh))

    def _pods_by_rs(self, d: Obj, rss: list[Obj]) -> dict[str, list[Obj]]:
        selector = podutil.selector_of(d)
        uids = {rs["metadata"]["uid"] for rs in rss}
        out: dict[str, list[Obj]] = {uid: [] for uid in uids}
        for pod in self.pods.store.list(namespace=d["metadata"]["namespace"]):
            ref = podutil.controller_ref(pod)
            if ref is not None and ref.get("uid") in uids and podutil.matches(selector, pod):
                out[ref["uid"]].append(pod)
        return out

    async def _write_status(self, d: Obj) -> Obj:
        """Status (and metadata, which the status subresource also takes) of ``d``."""
        updated = await self.client.update_status(rest.DEPLOYMENTS, d, namespace=d["metadata"]["namespace"])
        d.clear()
        d.update(updated)
        return d
