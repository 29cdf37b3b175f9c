"""The disruption controller (upstream's disruption controller): keeps every
PodDisruptionBudget's status current, which the eviction subresource reads.

Contract, per PDB:

* Pods: those in its namespace its ``spec.selector`` matches (a null selector
  matches nothing, ``{}`` everything).
* ``expectedPods`` and ``desiredHealthy``: with an integer ``minAvailable``,
  the number of matching pods and that integer. With a percentage
  ``minAvailable`` or any ``maxUnavailable``, the sum of the scales of the
  pods' controllers (each counted once): a ReplicaSet owned by a Deployment
  counts as the Deployment; otherwise any controller with a ``scale``
  subresource (found through discovery) gives ``spec.replicas`` of its scale.
  Percentages round up. Pods without a controller are left out of that sum
  (with an ``UnmanagedPods`` warning); a pod whose controller has no scale
  makes the count impossible: the status then fails safe (no disruptions
  allowed, condition reason ``SyncFailed``), as upstream.
* ``currentHealthy``: Ready pods that are not being deleted and not listed in
  ``disruptedPods``. ``disruptedPods`` (written by evictions) keeps a pod only
  while it exists, is not being deleted and was evicted less than
  :data:`DELETION_TIMEOUT` ago; the PDB is re-checked when the oldest entry expires.
* ``disruptionsAllowed = max(0, currentHealthy - desiredHealthy)`` (0 when no
  pods are expected), ``observedGeneration``, and the ``DisruptionAllowed``
  condition (``SufficientPods`` / ``InsufficientPods``). Status is written
  only when it changes, and not judged against a cache that has not yet seen
  the controller's own last write.
"""

from __future__ import annotations

import copy
import datetime
import math
from typing import Any

from kubeling.client import informer as informerlib
from kubeling.client import rest
from kubeling.controllers import base, discovery, events, podutil
from kubeling.lib import labels, timeutil

Obj = dict[str, Any]

DELETION_TIMEOUT = datetime.timedelta(minutes=2)
CONDITION = "DisruptionAllowed"
STALE_WAIT = 10.0  # seconds to wait for the cache to show our own status write


class SyncFailed(Exception):
    """The expected pod count cannot be worked out."""


def scaled(value: Any, total: int) -> int:
    """An IntOrString as a count: an int as is, ``"N%"`` of ``total`` rounded up."""
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%") and text[:-1].isdigit():
        return math.ceil(int(text[:-1]) * total / 100)
    raise SyncFailed(f"invalid value for IntOrString: {value!r}")


def pdb_selector(pdb: Obj) -> labels.Selector:
    try:
        return labels.from_label_selector((pdb.get("spec") or {}).get("selector"))
    except labels.SelectorError:
        return labels.from_label_selector(None)


class DisruptionController(base.Controller):
    NAME = "disruption"
    WORKERS = 2

    def __init__(self, ctx: base.Context) -> None:
        super().__init__(ctx)
        self.pdbs = self.informer(rest.PODDISRUPTIONBUDGETS)
        self.pods = self.informer(rest.PODS)
        self.pdbs.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n), on_delete=self.enqueue)
        self.pods.add_handler(on_add=self._pod_changed, on_update=self._pod_updated,
                              on_delete=lambda o: self._pod_changed(informerlib.object_of(o)))
        self._resources: discovery.Resources | None = None
        # key -> (resourceVersion of our last status write, when): a cache that has not yet
        # seen it would make an unchanged-looking status skip a needed write.
        self._written: dict[str, tuple[int, float]] = {}

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        self._pod_changed(old)
        self._pod_changed(new)

    def _pod_changed(self, pod: Obj) -> None:
        md = pod.get("metadata") or {}
        for pdb in self.pdbs.store.list(namespace=md.get("namespace") or ""):
            if pdb_selector(pdb).matches(md.get("labels")):
                self.enqueue(pdb)

    # ---- reconcile ------------------------------------------------------------------
    async def reconcile(self, key: str) -> float | None:
        pdb = self.pdbs.store.get(key)
        if pdb is None:
            return None
        written = self._written.pop(key, None)
        if written is not None and int(pdb["metadata"]["resourceVersion"]) < written[0] \
                and self.clock.now() - written[1] < STALE_WAIT:
            self._written[key] = written
            return 0.05
        sel = pdb_selector(pdb)
        pods = [p for p in self.pods.store.list(namespace=pdb["metadata"]["namespace"])
                if sel.matches((p.get("metadata") or {}).get("labels"))]
        if not pods:
            self.recorder.event(pdb, events.NORMAL, "NoPods", "No matching pods found")
        try:
            expected, desired = await self._expected(pdb, pods)
        except SyncFailed as exc:
            self.recorder.event(pdb, events.WARNING, "CalculateExpectedPodCountFailed",
                                f"Failed to calculate the number of expected pods: {exc}")
            await self._fail_safe(pdb, str(exc))
            return None
        now = self.ctx.now()
        disrupted, recheck = self._disrupted(pdb, pods, now)
        healthy = sum(1 for p in pods if not podutil.is_terminating(p) and p["metadata"]["name"] not in disrupted
                      and podutil.is_ready(p))
        await self._write(pdb, healthy=healthy, desired=desired, expected=expected, disrupted=disrupted)
        if recheck is not None:
            return max((recheck - now).total_seconds(), 0.0) + 0.1
        return None

    async def _expected(self, pdb: Obj, pods: list[Obj]) -> tuple[int, int]:
        """(expectedPods, desiredHealthy)."""
        spec = pdb.get("spec") or {}
        if spec.get("maxUnavailable") is not None:
            expected = await self._expected_scale(pdb, pods)
            return expected, max(expected - scaled(spec["maxUnavailable"], expected), 0)
        min_available = spec.get("minAvailable")
        if min_available is None:
            return 0, 0
        if isinstance(min_available, int):
            return len(pods), min_available
        expected = await self._expected_scale(pdb, pods)
        return expected, scaled(min_available, expected)

    async def _expected_scale(self, pdb: Obj, pods: list[Obj]) -> int:
        # Counted by the uid of the controller whose scale counts: the ReplicaSets of one
        # Deployment all stand for that Deployment, counted once.
        scales: dict[str, int] = {}
        seen: set[str] = set()
        unmanaged: list[str] = []
        for pod in pods:
            ref = podutil.controller_ref(pod)
            if ref is None:
                unmanaged.append(pod["metadata"]["name"])
                continue
            if str(ref.get("uid")) in seen:
                continue
            seen.add(str(ref.get("uid")))
            found = await self._controller_scale(ref, pod["metadata"]["namespace"])
            if found is None:
                raise SyncFailed(f"found no controllers for pod {pod['metadata']['name']!r}")
            uid, replicas = found
            scales[uid] = replicas
        if unmanaged:
            shown = labels.format_label_selector((pdb.get("spec") or {}).get("selector"))
            self.recorder.event(pdb, events.WARNING, "UnmanagedPods",
                                f"Pods selected by this PodDisruptionBudget (selector: {shown}) were "
                                "found to be unmanaged. As a result, the status of the PDB cannot be calculated "
                                "correctly, which may result in undefined behavior. To account for these pods "
                                "please set \".spec.minAvailable\" field of the PDB to an integer value.")
        return sum(scales.values())

    async def _controller_scale(self, ref: Obj, namespace: str) -> tuple[str, int] | None:
        """(uid of the controller whose scale counts, its replicas), or None if unknown."""
        kind, api_version, name = ref.get("kind"), str(ref.get("apiVersion") or ""), str(ref.get("name") or "")
        if kind == "ReplicaSet" and api_version.startswith("apps/"):
            try:
                rs = await self.client.get(rest.REPLICASETS, name, namespace=namespace)
            except rest.NotFound:
                return None
            if rs["metadata"].get("uid") != ref.get("uid"):
                return None
            owner = podutil.controller_ref(rs)
            if owner is not None and owner.get("kind") == "Deployment" and \
                    str(owner.get("apiVersion") or "").startswith("apps/"):
                return await self._scale_of(rest.DEPLOYMENTS, owner, namespace)
            return await self._scale_of(rest.REPLICASETS, ref, namespace)
        res = await self._resolve(api_version, str(kind or ""))
        if res is None:
            return None
        return await self._scale_of(res, ref, namespace)

    async def _resolve(self, api_version: str, kind: str) -> rest.ResourceRef | None:
        for attempt in range(2):
            if self._resources is None or attempt:
                self._resources = await discovery.discover(self.client)
            res = self._resources.resolve(api_version, kind)
            if res is not None and self._resources.has_scale(res):
                return res
        return None

    async def _scale_of(self, res: rest.ResourceRef, ref: Obj, namespace: str) -> tuple[str, int] | None:
        try:
            scale = await self.client.get(res, str(ref.get("name")), namespace=namespace if res.namespaced else None,
                                          subresource="scale")
        except rest.NotFound:
            return None
        if scale["metadata"].get("uid") and scale["metadata"]["uid"] != ref.get("uid"):
            return None
        return str(ref.get("uid")), int((scale.get("spec") or {}).get("replicas") or 0)

    def _disrupted(self, pdb: Obj, pods: list[Obj],
                   now: datetime.datetime) -> tuple[dict[str, str], datetime.datetime | None]:
        """The disruptedPods entries still pending, and when the first of them expires."""
        listed = (pdb.get("status") or {}).get("disruptedPods") or {}
        kept: dict[str, str] = {}
        recheck: datetime.datetime | None = None
        for pod in pods:
            name = pod["metadata"]["name"]
            if name not in listed or podutil.is_terminating(pod):
                continue
            when = timeutil.parse(listed[name] or "")
            if when is None:
                continue
            expires = when + DELETION_TIMEOUT
            if expires < now:
                self.recorder.event(pod, events.WARNING, "NotDeleted",
                                    f"Pod was expected by PDB {informerlib.key_of(pdb)} to be deleted but it wasn't")
                continue
            kept[name] = listed[name]
            recheck = expires if recheck is None or expires < recheck else recheck
        return kept, recheck

    # ---- status ---------------------------------------------------------------------
    async def _write(self, pdb: Obj, *, healthy: int, desired: int, expected: int, disrupted: dict[str, str]) -> None:
        allowed = healthy - desired
        if expected <= 0 or allowed < 0:
            allowed = 0
        old = pdb.get("status") or {}
        generation = int(pdb["metadata"].get("generation") or 1)
        status: Obj = {"currentHealthy": healthy, "desiredHealthy": desired, "expectedPods": expected,
                       "disruptionsAllowed": allowed, "observedGeneration": generation}
        if disrupted:
            status["disruptedPods"] = disrupted
        status["conditions"] = self._conditions(old, generation, allowed > 0,
                                                "SufficientPods" if allowed > 0 else "InsufficientPods", "")
        if all(old.get(k) == v for k, v in status.items()) and (old.get("disruptedPods") or {}) == disrupted:
            return
        await self._put_status(pdb, status)

    async def _fail_safe(self, pdb: Obj, message: str) -> None:
        old = pdb.get("status") or {}
        status = copy.deepcopy(old)
        status["disruptionsAllowed"] = 0
        status["conditions"] = self._conditions(old, int(old.get("observedGeneration") or 0), False,
                                                "SyncFailed", message)
        if status != old:
            await self._put_status(pdb, status)

    def _conditions(self, old: Obj, generation: int, ok: bool, reason: str, message: str) -> list[Obj]:
        conds = [c for c in old.get("conditions") or [] if c.get("type") != CONDITION]
        prev = next((c for c in old.get("conditions") or [] if c.get("type") == CONDITION), None)
        state = "True" if ok else "False"
        since = prev["lastTransitionTime"] if prev and prev.get("status") == state and \
            prev.get("lastTransitionTime") else timeutil.rfc3339(self.ctx.now())
        conds.append({"type": CONDITION, "status": state, "reason": reason, "message": message,
                      "observedGeneration": generation, "lastTransitionTime": since})
        return conds

    async def _put_status(self, pdb: Obj, status: Obj) -> None:
        body = copy.deepcopy(pdb)
        body["status"] = status
        out = await self.client.update_status(rest.PODDISRUPTIONBUDGETS, body)
        self._written[informerlib.key_of(pdb)] = (int(out["metadata"]["resourceVersion"]), self.clock.now())
