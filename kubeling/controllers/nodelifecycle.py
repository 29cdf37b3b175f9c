"""The node lifecycle controller (upstream's node-lifecycle-controller, minus
eviction, which is :mod:`kubeling.controllers.tainteviction`'s job).

Health: a node proves it is alive by renewing its Lease in
``kube-node-lease`` (same name as the node) or by posting a new Ready
heartbeat. The controller notes, on its own clock, when it last saw either
change; a node silent for longer than ``node_monitor_grace_period`` gets its
Ready, MemoryPressure, DiskPressure and PIDPressure conditions set to
Unknown ("Kubelet stopped posting node status.", or "never posted" for a node
that never reported). A healthy node is looked at when it would become
overdue; one that is not Ready every ``node_monitor_period``.

Taints follow the conditions: Ready=False gives ``node.kubernetes.io/not-ready``
and Ready=Unknown ``node.kubernetes.io/unreachable``, each as NoExecute (which
the taint-eviction controller acts on) and NoSchedule; pressure conditions and
``spec.unschedulable`` give their NoSchedule taints. They are removed when the
condition clears. Pods on a node that is not Ready get Ready=False.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from kubeling.client import informer as informerlib
from kubeling.client import rest
from kubeling.controllers import base, events
from kubeling.lib import timeutil

Obj = dict[str, Any]
LEASE_NAMESPACE = "kube-node-lease"
NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
PRESSURE_TAINTS = {"MemoryPressure": "node.kubernetes.io/memory-pressure",
                   "DiskPressure": "node.kubernetes.io/disk-pressure",
                   "PIDPressure": "node.kubernetes.io/pid-pressure"}
MANAGED_KEYS = frozenset({NOT_READY, UNREACHABLE, UNSCHEDULABLE, *PRESSURE_TAINTS.values()})
WATCHED_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
NODE_INDEX = informerlib.NODE_NAME_INDEX
OUR_REASONS = frozenset({"NodeStatusUnknown", "NodeStatusNeverUpdated"})


@dataclasses.dataclass
class Health:
    probe: float  # clock time the node was last seen alive
    heartbeat: str | None  # Ready's lastHeartbeatTime as last seen
    renew: str | None  # the Lease's renewTime as last seen


def _condition(node: Obj, ctype: str) -> Obj | None:
    for c in (node.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == ctype:
            return c
    return None


def desired_taints(node: Obj, now: str) -> list[Obj]:
    """The node's taints with the managed ones made to match its conditions."""
    current = [t for t in (node.get("spec") or {}).get("taints") or [] if isinstance(t, dict)]
    want: list[tuple[str, str]] = []
    ready = (_condition(node, "Ready") or {}).get("status")
    if ready == "False":
        want += [(NOT_READY, "NoExecute"), (NOT_READY, "NoSchedule")]
    elif ready == "Unknown":
        want += [(UNREACHABLE, "NoExecute"), (UNREACHABLE, "NoSchedule")]
    for ctype, key in PRESSURE_TAINTS.items():
        if (_condition(node, ctype) or {}).get("status") == "True":
            want.append((key, "NoSchedule"))
    if (node.get("spec") or {}).get("unschedulable"):
        want.append((UNSCHEDULABLE, "NoSchedule"))
    kept = [t for t in current if t.get("key") not in MANAGED_KEYS or (t.get("key"), t.get("effect")) in want]
    have = {(t.get("key"), t.get("effect")) for t in kept}
    for key, effect in want:
        if (key, effect) not in have:
            taint: Obj = {"key": key, "effect": effect}
            if effect == "NoExecute":
                taint["timeAdded"] = now
            kept.append(taint)
    return kept


class NodeLifecycleController(base.Controller):
    NAME = "node-lifecycle-controller"

    def __init__(self, ctx: base.Context) -> None:
        super().__init__(ctx)
        self.nodes = self.informer(rest.NODES)
        self.leases = self.informer(rest.LEASES, namespace=LEASE_NAMESPACE)
        self.pods = self.informer(rest.PODS, indexers={NODE_INDEX: informerlib.node_name_index})
        self.health: dict[str, Health] = {}
        self.nodes.add_handler(on_add=self.enqueue, on_update=lambda _o, new: self.enqueue(new),
                               on_delete=self._node_deleted)
        self.leases.add_handler(on_add=self._lease_seen, on_update=lambda _o, new: self._lease_seen(new))

    def enqueue(self, obj: Obj | informerlib.Tombstone) -> None:
        # Leases and nodes share the node's name, which is the key.
        self.queue.add(informerlib.object_of(obj)["metadata"]["name"])

    def _lease_seen(self, obj: Obj) -> None:
        """A renewal proves the node alive: noted here, without a reconcile, so
        thousands of nodes renewing every 10 s cost a dict update each. Only a
        node we know nothing of yet, or one that is not Ready (it may be coming
        back), is reconciled now; healthy ones are looked at when they would
        become overdue."""
        name = obj["metadata"]["name"]
        h = self.health.get(name)
        if h is None:
            self.queue.add(name)
            return
        renew = (obj.get("spec") or {}).get("renewTime")
        if renew != h.renew:
            h.probe, h.renew = self.clock.now(), renew
        node = self.nodes.store.get(name)
        if node is not None and (_condition(node, "Ready") or {}).get("status") != "True":
            self.queue.add(name)

    def _node_deleted(self, obj: Obj | informerlib.Tombstone) -> None:
        self.health.pop(informerlib.object_of(obj)["metadata"]["name"], None)

    def _observe(self, name: str, node: Obj) -> Health:
        """Update what was last seen of the node; a change means it is alive."""
        now = self.clock.now()
        ready = _condition(node, "Ready") or {}
        heartbeat = ready.get("lastHeartbeatTime")
        lease = self.leases.store.get(f"{LEASE_NAMESPACE}/{name}")
        renew = ((lease or {}).get("spec") or {}).get("renewTime")
        h = self.health.get(name)
        if h is None:
            h = self.health[name] = Health(now, heartbeat, renew)
        if ready.get("reason") in OUR_REASONS:
            heartbeat = h.heartbeat  # our own Unknown write is no sign of life
        if heartbeat != h.heartbeat or renew != h.renew:
            h.probe, h.heartbeat, h.renew = now, heartbeat, renew
        return h

    async def reconcile(self, key: str) -> float | None:
        period = self.ctx.options.node_monitor_period
        cached = self.nodes.store.get(key)
        if cached is None:
            self.health.pop(key, None)
            return None
        h = self._observe(key, cached)
        grace = self.ctx.options.node_monitor_grace_period
        silent = self.clock.now() - h.probe
        node = cached
        if silent > grace:
            node = await self._mark_unknown(cached)
        node = await self._sync_taints(node)
        ready = (_condition(node, "Ready") or {}).get("status")
        if ready != "True" and _condition(node, "Ready") is not None:
            await self._mark_pods_not_ready(key)
        if silent <= grace:
            if ready == "True":
                # Healthy: look again when it would become overdue (renewals
                # in between only move the deadline; see _lease_seen).
                return grace - silent + 0.001
            return min(period, grace - silent + 0.001)
        return period

    async def _mark_unknown(self, cached: Obj) -> Obj:
        node = copy.deepcopy(cached)
        status = node.setdefault("status", {})
        conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
        now = timeutil.rfc3339(self.ctx.now())
        changed = False
        never = _condition(node, "Ready") is None
        for ctype in WATCHED_CONDITIONS:
            cond = next((c for c in conditions if c.get("type") == ctype), None)
            if cond is None:
                if not never:
                    continue
                cond = {"type": ctype, "lastHeartbeatTime": node["metadata"].get("creationTimestamp") or now}
                conditions.append(cond)
            if cond.get("status") == "Unknown":
                continue
            cond.update(status="Unknown", lastTransitionTime=now,
                        reason="NodeStatusNeverUpdated" if never else "NodeStatusUnknown",
                        message="Kubelet never posted node status." if never
                        else "Kubelet stopped posting node status.")
            changed = True
        if not changed:
            return cached
        status["conditions"] = conditions
        self.recorder.event(node, events.NORMAL, "NodeNotReady",
                            f"Node {node['metadata']['name']} status is now: NodeNotReady")
        return await self.client.update_status(rest.NODES, node)  # type: ignore[no-any-return]

    async def _sync_taints(self, node: Obj) -> Obj:
        taints = desired_taints(node, timeutil.rfc3339(self.ctx.now()))
        if taints == ((node.get("spec") or {}).get("taints") or []):
            return node
        body = copy.deepcopy(node)
        spec = body.setdefault("spec", {})
        if taints:
            spec["taints"] = taints
        else:
            spec.pop("taints", None)
        return await self.client.update(rest.NODES, body)  # type: ignore[no-any-return]

    async def _mark_pods_not_ready(self, node_name: str) -> None:
        now = timeutil.rfc3339(self.ctx.now())
        for pod in self.pods.store.by_index(NODE_INDEX, node_name):
            if pod["metadata"].get("deletionTimestamp"):
                continue
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            conds = (pod.get("status") or {}).get("conditions") or []
            if not any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds if isinstance(c, dict)):
                continue
            body = copy.deepcopy(pod)
            for c in body["status"]["conditions"]:
                if c.get("type") == "Ready":
                    c.update(status="False", lastTransitionTime=now)
            try:
                await self.client.update_status(rest.PODS, body)
            except (rest.NotFound, rest.Conflict):
                continue  # gone, or changed: the next pass looks again
            self.recorder.event(pod, events.WARNING, "NodeNotReady", "Node is not ready")
