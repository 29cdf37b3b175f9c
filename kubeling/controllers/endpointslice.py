"""The EndpointSlice controller (upstream's endpointslice-controller).

Contract: for every Service with a selector, EndpointSlices labelled
``endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`` and
``kubernetes.io/service-name: <service>``, named from ``generateName
"<service>-"`` and owned by the Service, list the selected pods that have an IP
of the slice's ``addressType`` (one per entry of the service's
``ipFamilies``, IPv4 by default) and have not finished. Each endpoint has
``conditions`` (``ready``: serving and not terminating, or
publishNotReadyAddresses; ``serving``: the pod is Ready; ``terminating``),
``nodeName``, ``zone`` (the node's ``topology.kubernetes.io/zone``),
``hostname`` (when the pod's subdomain is the service) and a ``targetRef``.
Endpoints sharing the same resolved ports share slices of at most 100
endpoints; reconciling keeps endpoints in the slice they are in, fills slices
with room before creating new ones and deletes emptied ones. A service without
endpoints keeps one empty "placeholder" slice. Slices not labelled as ours
(the API server's ``default/kubernetes`` slice, mirrored or hand-made ones) are
never touched. When the service goes, its slices are deleted.

Our own writes may not be in the informer cache yet when the service is next
reconciled; until they are (or a few seconds pass) reconciling waits rather
than act on a stale picture and create duplicates (upstream's slice tracker).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kubeling.client import informer as informerlib
from kubeling.client import rest
from kubeling.controllers import base, endpoints, podutil

Obj = dict[str, Any]

MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
SERVICE_NAME = "kubernetes.io/service-name"
ZONE = "topology.kubernetes.io/zone"
MAX_ENDPOINTS = 100
SERVICE_INDEX = "service"
PENDING_WAIT = 10.0  # seconds to trust the cache will catch up with a write before giving up

PortsKey = tuple[tuple[str, int, str, str], ...]


def _service_index(obj: Obj) -> list[str]:
    md = obj.get("metadata") or {}
    svc = (md.get("labels") or {}).get(SERVICE_NAME)
    return [f"{md.get('namespace')}/{svc}"] if svc else []


def ports_key(ports: list[Obj] | None) -> PortsKey:
    return tuple(sorted((p.get("name") or "", int(p.get("port") or 0), p.get("protocol") or "TCP",
                         p.get("appProtocol") or "") for p in ports or []))


def endpoint_key(ep: Obj) -> str:
    ref = ep.get("targetRef") or {}
    return str(ref.get("uid") or ",".join(ep.get("addresses") or []))


@dataclasses.dataclass
class _Plan:
    create: list[Obj] = dataclasses.field(default_factory=list)
    update: list[Obj] = dataclasses.field(default_factory=list)
    delete: list[Obj] = dataclasses.field(default_factory=list)


class EndpointSliceController(base.Controller):
    NAME = "endpointslice"
    WORKERS = 2

    def __init__(self, ctx: base.Context) -> None:
        super().__init__(ctx)
        self.services = self.informer(rest.SERVICES)
        self.pods = self.informer(rest.PODS)
        self.nodes = self.informer(rest.NODES)
        self.slices = self.informer(rest.ENDPOINTSLICES, label_selector=f"{MANAGED_BY}={CONTROLLER_NAME}",
                                    indexers={SERVICE_INDEX: _service_index})
        self.services.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                  on_delete=self.enqueue)
        self.pods.add_handler(**endpoints.pod_handlers(self.services, self.queue.add))
        self.slices.add_handler(on_update=lambda _o, n: self._slice_changed(n), on_delete=self._slice_changed)
        self.nodes.add_handler(on_update=self._node_changed)
        # service key -> {slice name: resourceVersion we wrote, or None for deleted}, and when.
        self._pending: dict[str, tuple[float, dict[str, str | None]]] = {}

    def _slice_changed(self, obj: Obj | informerlib.Tombstone) -> None:
        for key in _service_index(informerlib.object_of(obj)):
            self.queue.add(key)

    def _node_changed(self, old: Obj, new: Obj) -> None:
        if (old["metadata"].get("labels") or {}).get(ZONE) == (new["metadata"].get("labels") or {}).get(ZONE):
            return
        node = new["metadata"]["name"]
        for pod in self.pods.store.list():
            if (pod.get("spec") or {}).get("nodeName") == node:
                for key in endpoints.services_for_pod(pod, self.services):
                    self.queue.add(key)

    # ---- reconcile ------------------------------------------------------------------
    async def reconcile(self, key: str) -> float | None:
        wait = self._cache_behind(key)
        if wait is not None:
            return wait
        ns = informerlib.split_key(key)[0]
        assert ns is not None
        existing = self.slices.store.by_index(SERVICE_INDEX, key)
        svc = self.services.store.get(key)
        written: dict[str, str | None] = {}
        if svc is None:
            for s in existing:
                await self._delete(s, written)
        elif endpoints.selector(svc) is not None:
            pods = endpoints.selected_pods(svc, self.pods)
            families = (svc.get("spec") or {}).get("ipFamilies") or ["IPv4"]
            plan = _Plan()
            for family in families:
                mine = [s for s in existing if s.get("addressType") == family]
                self._plan_family(svc, family, pods, mine, plan)
            plan.delete.extend(s for s in existing if s.get("addressType") not in families)
            stamp = endpoints.trigger_time(svc, pods)
            for s in plan.create + plan.update:
                if stamp:
                    s["metadata"].setdefault("annotations", {})[endpoints.TRIGGER_TIME] = stamp
            for s in plan.update:
                obj = await self.client.update(rest.ENDPOINTSLICES, s, namespace=ns)
                written[obj["metadata"]["name"]] = obj["metadata"]["resourceVersion"]
            for s in plan.create:
                obj = await self.client.create(rest.ENDPOINTSLICES, s, namespace=ns)
                written[obj["metadata"]["name"]] = obj["metadata"]["resourceVersion"]
            for s in plan.delete:
                await self._delete(s, written)
        if written:
            self._pending[key] = (self.clock.now(), written)
        return None

    def _cache_behind(self, key: str) -> float | None:
        pending = self._pending.get(key)
        if pending is None:
            return None
        since, written = pending
        ns = informerlib.split_key(key)[0]
        for name, rv in written.items():
            cached = self.slices.store.get(f"{ns}/{name}")
            if rv is None:
                behind = cached is not None
            else:
                behind = cached is None or int(cached["metadata"]["resourceVersion"]) < int(rv)
            if behind and self.clock.now() - since < PENDING_WAIT:
                return 0.05
        del self._pending[key]
        return None

    async def _delete(self, s: Obj, written: dict[str, str | None]) -> None:
        md = s["metadata"]
        try:
            await self.client.delete(rest.ENDPOINTSLICES, md["name"], namespace=md["namespace"],
                                     preconditions={"uid": md["uid"]})
        except (rest.NotFound, rest.Conflict):
            pass
        written[md["name"]] = None

    # ---- planning -------------------------------------------------------------------
    def _desired(self, svc: Obj, family: str, pods: list[Obj]) -> dict[PortsKey, tuple[list[Obj], dict[str, Obj]]]:
        """Endpoints by the ports they resolve to: ports key -> (ports, {endpoint key: endpoint})."""
        publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
        out: dict[PortsKey, tuple[list[Obj], dict[str, Obj]]] = {}
        for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
            if not endpoints.should_include(pod, include_terminating=True):
                continue
            ip = endpoints.pod_ip(pod, family)
            if ip is None:
                continue
            serving = podutil.is_ready(pod)
            terminating = podutil.is_terminating(pod)
            ep: Obj = {"addresses": [ip],
                       "conditions": {"ready": publish or (serving and not terminating), "serving": serving,
                                      "terminating": terminating},
                       "targetRef": endpoints.target_ref(pod)}
            node_name = (pod.get("spec") or {}).get("nodeName")
            if node_name:
                ep["nodeName"] = node_name
                node = self.nodes.store.get(node_name)
                zone = ((node or {}).get("metadata", {}).get("labels") or {}).get(ZONE)
                if zone:
                    ep["zone"] = zone
            host = endpoints.hostname(pod, svc)
            if host:
                ep["hostname"] = host
            ports = sorted(endpoints.endpoint_ports(pod, svc), key=lambda p: ports_key([p]))
            group = out.setdefault(ports_key(ports), (ports, {}))
            group[1][endpoint_key(ep)] = ep
        return out

    def _plan_family(self, svc: Obj, family: str, pods: list[Obj], existing: list[Obj], plan: _Plan) -> None:
        desired = self._desired(svc, family, pods)
        if not desired:
            # No endpoints: keep exactly one empty placeholder slice.
            keep = next((s for s in existing if not s.get("endpoints") and not s.get("ports")), None)
            keep = keep or (existing[0] if existing else None)
            if keep is None:
                plan.create.append(self._new_slice(svc, family, [], []))
            else:
                self._maybe_update(svc, keep, [], [], plan)
            plan.delete.extend(s for s in existing if s is not keep)
            return
        matched: set[int] = set()
        for pk, (ports, eps) in desired.items():
            remaining = dict(eps)
            slots: list[tuple[Obj, list[Obj]]] = []
            for s in sorted(existing, key=lambda s: s["metadata"]["name"]):
                if id(s) in matched or ports_key(s.get("ports")) != pk:
                    continue
                matched.add(id(s))
                kept = [remaining.pop(k) for k in (endpoint_key(e) for e in s.get("endpoints") or [])
                        if k in remaining]
                slots.append((s, kept))
            # New endpoints go first into slices that change anyway, then into the fullest.
            slots.sort(key=lambda sk: (sk[1] == (sk[0].get("endpoints") or []), -len(sk[1])))
            todo = list(remaining.values())
            for _s, kept in slots:
                while todo and len(kept) < MAX_ENDPOINTS:
                    kept.append(todo.pop(0))
            for s, kept in slots:
                if kept:
                    self._maybe_update(svc, s, kept, ports, plan)
                else:
                    plan.delete.append(s)
            for i in range(0, len(todo), MAX_ENDPOINTS):
                plan.create.append(self._new_slice(svc, family, todo[i:i + MAX_ENDPOINTS], ports))
        plan.delete.extend(s for s in existing if id(s) not in matched)

    def _labels(self, svc: Obj) -> dict[str, str]:
        out = {k: v for k, v in (svc["metadata"].get("labels") or {}).items() if k not in (MANAGED_BY, SERVICE_NAME)}
        out.update({SERVICE_NAME: svc["metadata"]["name"], MANAGED_BY: CONTROLLER_NAME})
        if endpoints.is_headless(svc):
            out[endpoints.HEADLESS] = ""
        return out

    def _owner(self, svc: Obj) -> Obj:
        md = svc["metadata"]
        return {"apiVersion": "v1", "kind": "Service", "name": md["name"], "uid": md["uid"], "controller": True,
                "blockOwnerDeletion": True}

    def _new_slice(self, svc: Obj, family: str, eps: list[Obj], ports: list[Obj]) -> Obj:
        md = svc["metadata"]
        return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"generateName": f"{md['name']}-", "namespace": md["namespace"],
                             "labels": self._labels(svc), "ownerReferences": [self._owner(svc)]},
                "addressType": family, "endpoints": eps, "ports": ports}

    def _maybe_update(self, svc: Obj, s: Obj, eps: list[Obj], ports: list[Obj], plan: _Plan) -> None:
        md = s["metadata"]
        owners = md.get("ownerReferences") or []
        if (s.get("endpoints") or []) == eps and (s.get("ports") or []) == ports \
                and (md.get("labels") or {}) == self._labels(svc) and owners == [self._owner(svc)]:
            return
        new_md = {k: v for k, v in md.items() if k not in ("managedFields",)}
        new_md["labels"] = self._labels(svc)
        new_md["ownerReferences"] = [self._owner(svc)]
        new_md["annotations"] = dict(md.get("annotations") or {})
        plan.update.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": new_md,
                            "addressType": s.get("addressType"), "endpoints": eps, "ports": ports})
