"""One Deployment reconcile's writes: the new ReplicaSet, scaling, rollouts, cleanup
and status (upstream's sync.go, rolling.go, recreate.go and progress.go).

A :class:`Sync` is built per reconcile from a private copy of the Deployment and
of its claimed ReplicaSets. Every write replaces the local copy with the API's
answer, so later steps of the same reconcile see fresh resourceVersions and
counts; a stale cache shows up as a 409, which requeues the Deployment.
"""

from __future__ import annotations

import copy
import datetime
from typing import TYPE_CHECKING, Any

from kubeling.client import rest
from kubeling.controllers import deploymentutil as du
from kubeling.controllers import events, podutil
from kubeling.lib import timeutil

if TYPE_CHECKING:
    from kubeling.controllers.deployment import DeploymentController

Obj = dict[str, Any]


def _uid(obj: Obj) -> str:
    return str(obj["metadata"]["uid"])


def _name(obj: Obj) -> str:
    return str(obj["metadata"]["name"])


class Sync:
    def __init__(self, ctrl: DeploymentController, d: Obj, rss: list[Obj]) -> None:
        self.ctrl = ctrl
        self.client = ctrl.client
        self.d = d
        self.rss = rss
        self.ns = str(d["metadata"]["namespace"])
        self._new_uid: str | None = None
        self._resolved = False

    # ---- views ------------------------------------------------------------------------------
    @property
    def new(self) -> Obj | None:
        return next((rs for rs in self.rss if _uid(rs) == self._new_uid), None)

    def old(self) -> list[Obj]:
        return [rs for rs in self.rss if _uid(rs) != self._new_uid]

    def all(self) -> list[Obj | None]:
        return [*self.old(), self.new]

    def _by_uid(self, uid: str) -> Obj:
        return next(rs for rs in self.rss if _uid(rs) == uid)

    def _replace(self, rs: Obj) -> None:
        self.rss = [rs if _uid(x) == _uid(rs) else x for x in self.rss]

    def now(self) -> datetime.datetime:
        return self.ctrl.ctx.now()

    @property
    def status(self) -> Obj:
        return self.d.setdefault("status", {})  # type: ignore[no-any-return]

    async def write_status(self) -> None:
        await self.ctrl._write_status(self.d)

    # ---- the new ReplicaSet -----------------------------------------------------------------
    async def get_new(self, *, create: bool) -> Obj | None:
        """Find (and annotate) the RS running the current template; create it if asked.
        Also keeps the Deployment's revision annotation in step with it."""
        if self._resolved and (self.new is not None or not create):
            return self.new
        self._resolved = True
        d = self.d
        existing = du.find_new(d, self.rss)
        new_revision = du.max_revision(rs for rs in self.rss if existing is None or _uid(rs) != _uid(existing)) + 1
        if existing is not None:
            self._new_uid = _uid(existing)
            rs = copy.deepcopy(existing)
            changed = du.set_new_rs_annotations(d, rs, new_revision, exists=True)
            mrs = int(d["spec"].get("minReadySeconds") or 0)
            if changed or int(rs["spec"].get("minReadySeconds") or 0) != mrs:
                rs["spec"]["minReadySeconds"] = mrs
                self._replace(await self.client.update(rest.REPLICASETS, rs, namespace=self.ns))
                return self.new
            needs = du.set_deployment_revision(d, du.annotations_of(rs).get(du.REVISION, ""))
            if du.has_deadline(d) and du.condition(self.status, du.PROGRESSING) is None:
                du.set_condition(self.status, du.new_condition(du.PROGRESSING, "True", du.FOUND_NEW_RS,
                                                               f'Found new replica set "{_name(rs)}"', self.now()))
                needs = True
            if needs:
                await self.write_status()
            return self.new
        if not create:
            return None
        return await self._create_new(new_revision)

    async def _create_new(self, new_revision: int) -> Obj:
        d = self.d
        template = copy.deepcopy(d["spec"]["template"])
        pod_hash = du.template_hash(d["spec"]["template"], self.status.get("collisionCount"))
        tmd = template.setdefault("metadata", {})
        tmd["labels"] = {**(tmd.get("labels") or {}), du.HASH_LABEL: pod_hash}
        selector = copy.deepcopy(d["spec"]["selector"])
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), du.HASH_LABEL: pod_hash}
        name = f"{_name(d)}-{pod_hash}"
        rs: Obj = {
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": name, "namespace": self.ns, "labels": dict(tmd["labels"]),
                         "ownerReferences": [podutil.owner_reference(d)]},
            "spec": {"replicas": 0, "minReadySeconds": int(d["spec"].get("minReadySeconds") or 0),
                     "selector": selector, "template": template},
        }
        replicas = du.new_rs_replicas(d, [*self.old(), rs], rs)
        rs["spec"]["replicas"] = replicas
        du.set_new_rs_annotations(d, rs, new_revision, exists=False)
        already = False
        try:
            made = await self.client.create(rest.REPLICASETS, rs, namespace=self.ns)
        except rest.AlreadyExists:
            found = await self.client.get(rest.REPLICASETS, name, namespace=self.ns)
            if not (podutil.owned_by(found, d) and du.equal_ignore_hash(d["spec"]["template"],
                                                                          found["spec"]["template"])):
                # Another object holds this hash's name: re-roll the hash on the next sync.
                self.status["collisionCount"] = int(self.status.get("collisionCount") or 0) + 1
                await self.write_status()
                raise
            made, already = found, True
        except rest.ApiError as exc:
            if any(c.get("reason") == "NamespaceTerminating" for c in exc.details.get("causes") or []):
                raise
            msg = f'Failed to create new replica set "{name}": {exc.message}'
            if du.has_deadline(d):
                du.set_condition(self.status, du.new_condition(du.PROGRESSING, "False", du.FAILED_RS_CREATE, msg,
                                                               self.now()))
                await self.write_status()
            self.ctrl.recorder.event(d, events.WARNING, du.FAILED_RS_CREATE, msg)
            raise
        self.rss = [*(x for x in self.rss if _uid(x) != _uid(made)), made]
        self._new_uid = _uid(made)
        if not already and replicas > 0:
            self.ctrl.recorder.event(d, events.NORMAL, "ScalingReplicaSet",
                                     f"Scaled up replica set {name} from 0 to {replicas}")
        needs = du.set_deployment_revision(d, str(new_revision))
        if not already and du.has_deadline(d):
            du.set_condition(self.status, du.new_condition(du.PROGRESSING, "True", du.NEW_RS_CREATED,
                                                           f'Created new replica set "{name}"', self.now()))
            needs = True
        if needs:
            await self.write_status()
        return made

    # ---- scaling -------------------------------------------------------------------------------
    async def scale_rs(self, rs: Obj, size: int) -> bool:
        cur = du.spec_replicas(rs)
        if cur == size:
            return False
        return await self.scale_with(rs, size, "up" if cur < size else "down")

    async def scale_with(self, rs: Obj, size: int, op: str) -> bool:
        """Set an RS's size and its desired/max-replicas annotations; True if the size changed."""
        d = self.d
        desired = du.spec_replicas(d)
        ceiling = desired + du.max_surge(d)
        old = du.spec_replicas(rs)
        resize = old != size
        if not resize and not du.replicas_annotations_differ(rs, desired, ceiling):
            return False
        new = copy.deepcopy(rs)
        new["spec"]["replicas"] = size
        du.set_replicas_annotations(new, desired, ceiling)
        self._replace(await self.client.update(rest.REPLICASETS, new, namespace=self.ns))
        if resize:
            self.ctrl.recorder.event(d, events.NORMAL, "ScalingReplicaSet",
                                     f"Scaled {op} replica set {_name(rs)} from {old} to {size}")
        return resize

    async def is_scaling_event(self) -> bool:
        """Only spec.replicas changed since the RSes were last sized."""
        await self.get_new(create=False)
        want = du.spec_replicas(self.d)
        for rs in du.active(self.all()):
            try:
                desired = int(du.annotations_of(rs).get(du.DESIRED_REPLICAS, ""))
            except ValueError:
                continue
            if desired != want:
                return True
        return False

    async def scale(self) -> None:
        """Bring the RSes to spec.replicas (+ surge), sharing a change among the active
        RSes in proportion to their sizes (upstream's proportional scaling)."""
        d = self.d
        want = du.spec_replicas(d)
        new, olds = self.new, self.old()
        only = du.active_or_latest(new, olds)
        if only is not None:
            await self.scale_rs(only, want)
            return
        if du.is_saturated(d, new):
            for rs in du.active(olds):
                await self.scale_rs(rs, 0)
            return
        if not du.is_rolling(d):
            return
        live = du.active([*olds, new])
        allowed = want + du.max_surge(d) if want > 0 else 0
        to_add = allowed - du.replica_count(live)
        op = ""
        if to_add > 0:
            # Largest first; among equals the newest first (the sort is stable).
            live = du.by_creation(live)[::-1]
            live.sort(key=lambda rs: -du.spec_replicas(rs))
            op = "up"
        elif to_add < 0:
            live = sorted(du.by_creation(live), key=lambda rs: -du.spec_replicas(rs))
            op = "down"
        added = 0
        sizes: dict[str, int] = {}
        for rs in live:
            share = du.proportion(rs, d, to_add, added) if to_add else 0
            sizes[_uid(rs)] = du.spec_replicas(rs) + share
            added += share
        for i, rs in enumerate(live):
            if i == 0 and to_add:
                # Rounding leftovers go to the largest RS.
                sizes[_uid(rs)] = max(sizes[_uid(rs)] + to_add - added, 0)
            await self.scale_with(self._by_uid(_uid(rs)), sizes[_uid(rs)], op)

    # ---- strategies ----------------------------------------------------------------------------
    async def scale_and_status(self) -> None:
        await self.get_new(create=False)
        await self.scale()
        if self.d["spec"].get("paused"):
            await self.cleanup()
        await self.sync_status()

    async def status_only(self) -> None:
        await self.get_new(create=False)
        await self.sync_status()

    async def rolling(self) -> float | None:
        await self.get_new(create=True)
        if await self._grow_new() or await self._shrink_old():
            return await self.rollout_status()
        if du.complete(self.d, self.d.get("status") or {}):
            await self.cleanup()
        return await self.rollout_status()

    async def _grow_new(self) -> bool:
        new, want = self.new, du.spec_replicas(self.d)
        if new is None or du.spec_replicas(new) == want:
            return False
        if du.spec_replicas(new) > want:
            return await self.scale_rs(new, want)
        return await self.scale_rs(new, du.new_rs_replicas(self.d, self.all(), new))

    async def _shrink_old(self) -> bool:
        """Scale old RSes down without letting availability drop below replicas - maxUnavailable."""
        d, new = self.d, self.new
        old_uids = [_uid(rs) for rs in du.active(self.old())]
        if not old_uids or new is None:
            return False
        min_available = du.spec_replicas(d) - du.max_unavailable(d)
        new_unavailable = du.spec_replicas(new) - du.status_int(new, "availableReplicas")
        budget = du.replica_count(self.all()) - min_available - new_unavailable
        if budget <= 0:
            return False
        # First drop old pods that are not available anyway: they cost no availability.
        cleaned = 0
        for uid in [_uid(rs) for rs in du.by_creation(self._by_uid(u) for u in old_uids)]:
            rs = self._by_uid(uid)
            size, avail = du.spec_replicas(rs), du.status_int(rs, "availableReplicas")
            if cleaned >= budget:
                break
            if size == 0 or size == avail:
                continue
            n = min(budget - cleaned, size - avail)
            await self.scale_rs(rs, size - n)
            cleaned += n
        # Then available old pods, as far as the availability floor allows.
        olds = [self._by_uid(u) for u in old_uids]
        available = du.actual_count([*olds, self.new], "availableReplicas")
        scaled = 0
        if available > min_available:
            quota = available - min_available
            for rs in du.by_creation(olds):
                if scaled >= quota:
                    break
                size = du.spec_replicas(rs)
                if size == 0:
                    continue
                n = min(size, quota - scaled)
                await self.scale_rs(rs, size - n)
                scaled += n
        return cleaned + scaled > 0

    async def recreate(self, pods_by_rs: dict[str, list[Obj]]) -> float | None:
        await self.get_new(create=False)
        scaled_down = False
        for rs in du.active(self.old()):
            scaled_down = await self.scale_rs(rs, 0) or scaled_down
        if scaled_down or self._old_pods_running(pods_by_rs):
            return await self.rollout_status()
        if self.new is None:
            await self.get_new(create=True)
        new = self.new
        if new is not None:
            await self.scale_rs(new, du.spec_replicas(self.d))
        if du.complete(self.d, self.d.get("status") or {}):
            await self.cleanup()
        return await self.rollout_status()

    def _old_pods_running(self, pods_by_rs: dict[str, list[Obj]]) -> bool:
        if du.actual_count(self.old()) > 0:
            return True
        for uid, pods in pods_by_rs.items():
            if uid == self._new_uid:
                continue
            if any(podutil.phase(p) not in ("Succeeded", "Failed") for p in pods):
                return True
        return False

    async def cleanup(self) -> None:
        """Delete the oldest zero-sized old RSes beyond spec.revisionHistoryLimit."""
        limit = self.d["spec"].get("revisionHistoryLimit")
        if limit is None:
            return
        cleanable = [rs for rs in self.old() if not podutil.is_terminating(rs)]
        extra = len(cleanable) - int(limit)
        if extra <= 0:
            return
        cleanable.sort(key=lambda rs: (du.revision(rs), du.created(rs), _name(rs)))
        for rs in cleanable[:extra]:
            st = rs.get("status") or {}
            if du.status_int(rs, "replicas") or du.spec_replicas(rs) \
                    or (rs["metadata"].get("generation") or 0) > int(st.get("observedGeneration") or 0):
                continue
            try:
                await self.client.delete(rest.REPLICASETS, _name(rs), namespace=self.ns)
            except rest.NotFound:
                pass
            self.rss = [x for x in self.rss if _uid(x) != _uid(rs)]

    # ---- status -------------------------------------------------------------------------------
    async def sync_status(self) -> None:
        status = du.calculate_status(self.all(), self.new, self.d, self.now())
        if status != (self.d.get("status") or {}):
            self.d["status"] = status
            await self.write_status()

    def _replica_failure(self) -> Obj | None:
        new = self.new
        for rs in ([new] if new is not None else []) + self.old():
            for c in (rs.get("status") or {}).get("conditions") or []:
                if c.get("type") == du.REPLICA_FAILURE:
                    return {"type": du.REPLICA_FAILURE, "status": c.get("status"),
                            "lastUpdateTime": c.get("lastTransitionTime"),
                            "lastTransitionTime": c.get("lastTransitionTime"),
                            "reason": c.get("reason", ""), "message": c.get("message", "")}
        return None

    async def rollout_status(self) -> float | None:
        """Status with the Progressing condition; returns when to look again for a
        progress deadline that may pass with nothing else happening."""
        d, now, new = self.d, self.now(), self.new
        status = du.calculate_status(self.all(), new, d, now)
        if not du.has_deadline(d):
            du.remove_condition(status, du.PROGRESSING)
        cur = du.condition(d.get("status") or {}, du.PROGRESSING)
        done = (int(status.get("replicas") or 0) == int(status.get("updatedReplicas") or 0)
                and cur is not None and cur.get("reason") == du.NEW_RS_AVAILABLE)
        subject = f'ReplicaSet "{_name(new)}"' if new is not None else f'Deployment "{_name(d)}"'
        if du.has_deadline(d) and not done:
            if du.complete(d, status):
                du.set_condition(status, du.new_condition(du.PROGRESSING, "True", du.NEW_RS_AVAILABLE,
                                                          f"{subject} has successfully progressed.", now))
            elif du.progressing(d, status):
                cond = du.new_condition(du.PROGRESSING, "True", du.RS_UPDATED, f"{subject} is progressing.", now)
                if cur is not None:
                    if cur.get("status") == "True":
                        cond["lastTransitionTime"] = cur.get("lastTransitionTime")
                    du.remove_condition(status, du.PROGRESSING)
                du.set_condition(status, cond)
            elif du.timed_out(d, status, now):
                du.set_condition(status, du.new_condition(du.PROGRESSING, "False", du.TIMED_OUT,
                                                          f"{subject} has timed out progressing.", now))
        failure = self._replica_failure()
        if failure is not None:
            du.set_condition(status, failure)
        else:
            du.remove_condition(status, du.REPLICA_FAILURE)
        if status == (d.get("status") or {}):
            return self._stuck_requeue(status)
        d["status"] = status
        await self.write_status()
        return None

    def _stuck_requeue(self, status: Obj) -> float | None:
        d = self.d
        cur = du.condition(d.get("status") or {}, du.PROGRESSING)
        if not du.has_deadline(d) or cur is None:
            return None
        if du.complete(d, status) or cur.get("reason") == du.TIMED_OUT:
            return None
        since = timeutil.parse(cur.get("lastUpdateTime") or "")
        if since is None:
            return None
        after = (since + datetime.timedelta(seconds=int(d["spec"]["progressDeadlineSeconds"])) - self.now())
        return max(after.total_seconds(), 0.0) + 1.0

    async def check_paused_conditions(self) -> None:
        """Record a pause or resume as Progressing=Unknown, so a resumed Deployment's
        deadline counts from the resume, not from before the pause."""
        d = self.d
        if not du.has_deadline(d):
            return
        cur = du.condition(self.status, du.PROGRESSING)
        if cur is not None and cur.get("reason") == du.TIMED_OUT:
            return
        paused_recorded = cur is not None and cur.get("reason") == du.PAUSED
        if d["spec"].get("paused") and not paused_recorded:
            cond = du.new_condition(du.PROGRESSING, "Unknown", du.PAUSED, "Deployment is paused", self.now())
        elif not d["spec"].get("paused") and paused_recorded:
            cond = du.new_condition(du.PROGRESSING, "Unknown", du.RESUMED, "Deployment is resumed", self.now())
        else:
            return
        du.set_condition(self.status, cond)
        await self.write_status()
