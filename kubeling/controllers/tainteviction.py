"""The taint-eviction controller (upstream's taint-eviction-controller, once
the NoExecute taint manager).

A pod bound to a node with NoExecute taints is deleted at once if some such
taint is not tolerated; if every one is tolerated but some matching
toleration has ``tolerationSeconds``, the pod is deleted that many seconds
(the smallest) after the controller first saw it so exposed. The eviction is
cancelled when the taints go, the tolerations change to cover them forever,
or the pod leaves the node. Before deleting, the pod gets a DisruptionTarget
condition. Events: ``TaintManagerEviction`` "Marking for deletion Pod ns/name"
and "Cancelling deletion of Pod ns/name".

Time comes from the context's clock, so tests step a fake one.
"""

from __future__ import annotations

from typing import Any

from kubeling.api import podfit
from kubeling.client import informer as informerlib
from kubeling.client import rest
from kubeling.controllers import base, events
from kubeling.lib import timeutil

Obj = dict[str, Any]
NODE_INDEX = informerlib.NODE_NAME_INDEX
FOREVER = -1.0


def _no_execute(node: Obj | None) -> list[Obj]:
    if node is None:
        return []
    return [t for t in podfit.node_taints(node) if t.get("effect") == podfit.NO_EXECUTE]


def toleration_time(taints: list[Obj], tolerations: list[Obj]) -> float | None:
    """None if some taint is not tolerated (evict now); FOREVER if the pod may stay;
    else the seconds it may stay."""
    used: list[Obj] = []
    for taint in taints:
        matching = [t for t in tolerations if podfit.toleration_tolerates(t, taint)]
        if not matching:
            return None
        used += matching
    if not used:
        return FOREVER
    seconds = [t["tolerationSeconds"] for t in used if isinstance(t.get("tolerationSeconds"), int)]
    if not seconds:
        return FOREVER
    return float(max(0, min(seconds)))


class TaintEvictionController(base.Controller):
    NAME = "taint-eviction-controller"

    def __init__(self, ctx: base.Context) -> None:
        super().__init__(ctx)
        self.nodes = self.informer(rest.NODES)
        self.pods = self.informer(rest.PODS, indexers={NODE_INDEX: informerlib.node_name_index})
        # pod key -> clock time its toleration countdown began
        self.scheduled: dict[str, float] = {}
        self.nodes.add_handler(on_add=self._node_changed, on_update=lambda old, new: self._node_changed(new, old),
                               on_delete=lambda obj: self._node_changed(informerlib.object_of(obj)))
        self.pods.add_handler(on_add=self.enqueue, on_update=self._pod_updated, on_delete=self.enqueue)

    def _node_changed(self, node: Obj, old: Obj | None = None) -> None:
        if old is not None and _no_execute(old) == _no_execute(node):
            return
        for key in self.pods.store.index_keys(NODE_INDEX, node["metadata"]["name"]):
            self.queue.add(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        o, n = old.get("spec") or {}, new.get("spec") or {}
        if o.get("nodeName") != n.get("nodeName") or o.get("tolerations") != n.get("tolerations") or \
                bool(old["metadata"].get("deletionTimestamp")) != bool(new["metadata"].get("deletionTimestamp")):
            self.enqueue(new)

    def _cancel(self, key: str, pod: Obj | None) -> None:
        if self.scheduled.pop(key, None) is not None and pod is not None:
            self.recorder.event(pod, events.NORMAL, "TaintManagerEviction", f"Cancelling deletion of Pod {key}")

    async def reconcile(self, key: str) -> float | None:
        pod = self.pods.store.get(key)
        if pod is None or pod["metadata"].get("deletionTimestamp"):
            self.scheduled.pop(key, None)
            return None
        node_name = (pod.get("spec") or {}).get("nodeName")
        taints = _no_execute(self.nodes.store.get(node_name) if node_name else None)
        if not taints:
            self._cancel(key, pod)
            return None
        stay = toleration_time(taints, podfit.pod_tolerations(pod))
        if stay == FOREVER:
            self._cancel(key, pod)
            return None
        now = self.clock.now()
        start = self.scheduled.setdefault(key, now)
        if stay is not None and now < start + stay:
            return start + stay - now
        await self._evict(pod)
        self.scheduled.pop(key, None)
        return None

    async def _evict(self, pod: Obj) -> None:
        md = pod["metadata"]
        ns, name = md["namespace"], md["name"]
        self.recorder.event(pod, events.NORMAL, "TaintManagerEviction", f"Marking for deletion Pod {ns}/{name}")
        cond = {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                "message": "Taint manager: deleting due to NoExecute taint",
                "lastTransitionTime": timeutil.rfc3339(self.ctx.now())}
        try:
            await self.client.patch(rest.PODS, name, {"status": {"conditions": [cond]}}, namespace=ns,
                                    patch_type="strategic", subresource="status")
        except rest.NotFound:
            return
        except rest.ApiError as exc:
            self.log.debug("cannot mark %s/%s as a disruption target: %s", ns, name, exc)
        try:
            await self.client.delete(rest.PODS, name, namespace=ns, preconditions={"uid": md.get("uid")})
        except (rest.NotFound, rest.Conflict):
            pass
