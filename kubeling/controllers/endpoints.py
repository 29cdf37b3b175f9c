"""The Endpoints controller (upstream's endpoint controller), plus the pod and
port rules it shares with the EndpointSlice controller.

Contract: for every Service with a selector, an Endpoints object of the same
name lists the pods the selector matches that have an IP and are not finished:
ready pods (or every such pod when ``publishNotReadyAddresses``) under
``addresses``, the rest under ``notReadyAddresses`` (terminating pods only when
not-ready addresses are published), each with ``ip``, ``nodeName``,
``hostname`` (when the pod's subdomain is the service) and a ``targetRef``;
ports come from each service port's ``targetPort`` (a number, or the name of a
container port, which may differ from pod to pod). Subsets group addresses
that share the same ports. Headless services without ports list addresses
without ports. The object carries the service's labels and the
``endpoints.kubernetes.io/last-change-trigger-time`` annotation; beyond 1000
addresses it is truncated and annotated ``over-capacity: truncated``. A
service without a selector (``default/kubernetes`` among them, which the API
server keeps) is left alone; deleting the service deletes its Endpoints.
Until the informer cache shows the controller's own last write, reconciling
waits instead of comparing against a stale object.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterable
from typing import Any

from kubeling.client import informer as informerlib
from kubeling.client import rest
from kubeling.controllers import base, podutil
from kubeling.lib import labels, timeutil

Obj = dict[str, Any]

TRIGGER_TIME = "endpoints.kubernetes.io/last-change-trigger-time"
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
HEADLESS = "service.kubernetes.io/headless"
MAX_ADDRESSES = 1000
STALE_WAIT = 10.0  # seconds to wait for the cache to show our own write before trusting it anyway


# ---- rules shared with the EndpointSlice controller -----------------------------------
def selector(svc: Obj) -> labels.Selector | None:
    """The service's pod selector, or None when it has none (endpoints are then
    someone else's business)."""
    sel = (svc.get("spec") or {}).get("selector")
    return labels.from_set(sel) if sel else None


def selected_pods(svc: Obj, pods: informerlib.Informer) -> list[Obj]:
    sel = selector(svc)
    if sel is None:
        return []
    ns = svc["metadata"]["namespace"]
    return [p for p in pods.store.list(namespace=ns) if sel.matches((p.get("metadata") or {}).get("labels"))]


def services_for_pod(pod: Obj, services: informerlib.Informer) -> list[str]:
    """Keys of the services in the pod's namespace whose selector matches it."""
    md = pod.get("metadata") or {}
    out = []
    for svc in services.store.list(namespace=md.get("namespace") or ""):
        sel = selector(svc)
        if sel is not None and sel.matches(md.get("labels")):
            out.append(informerlib.key_of(svc))
    return out


def pod_handlers(services: informerlib.Informer, queue_add: Any) -> dict[str, Any]:
    """Informer handlers that enqueue every service selecting a pod, before or after a change."""
    def add(pod: Obj) -> None:
        for key in services_for_pod(pod, services):
            queue_add(key)

    def update(old: Obj, new: Obj) -> None:
        for key in set(services_for_pod(old, services)) | set(services_for_pod(new, services)):
            queue_add(key)

    def delete(obj: Obj | informerlib.Tombstone) -> None:
        add(informerlib.object_of(obj))

    return {"on_add": add, "on_update": update, "on_delete": delete}


def is_headless(svc: Obj) -> bool:
    return (svc.get("spec") or {}).get("clusterIP") == "None"


def should_include(pod: Obj, *, include_terminating: bool) -> bool:
    """A pod with an IP that has not finished (and, unless asked, is not terminating)."""
    if not (pod.get("status") or {}).get("podIP"):
        return False
    if podutil.phase(pod) in ("Succeeded", "Failed"):
        return False
    return include_terminating or not podutil.is_terminating(pod)


def pod_ip(pod: Obj, family: str) -> str | None:
    """The pod's address of ``family`` (IPv4 or IPv6)."""
    status = pod.get("status") or {}
    ips = [i.get("ip") for i in status.get("podIPs") or [] if i.get("ip")] or [status.get("podIP")]
    for ip in ips:
        if ip and ((":" in ip) == (family == "IPv6")):
            return str(ip)
    return None


def find_port(pod: Obj, port: Obj) -> int | None:
    """The pod's port number for a service port: ``targetPort`` as a number, or the
    container port of that name (None if the pod has none)."""
    target = port.get("targetPort")
    if target is None or target == "":
        return int(port["port"])
    if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
        return int(target)
    proto = port.get("protocol") or "TCP"
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target and (p.get("protocol") or "TCP") == proto:
                return int(p["containerPort"])
    return None


def endpoint_ports(pod: Obj, svc: Obj) -> list[Obj]:
    out = []
    for sp in (svc.get("spec") or {}).get("ports") or []:
        num = find_port(pod, sp)
        if num is None:
            continue
        ep: Obj = {"port": num, "protocol": sp.get("protocol") or "TCP"}
        if sp.get("name"):
            ep["name"] = sp["name"]
        if sp.get("appProtocol"):
            ep["appProtocol"] = sp["appProtocol"]
        out.append(ep)
    return out


def target_ref(pod: Obj) -> Obj:
    md = pod["metadata"]
    return {"kind": "Pod", "namespace": md["namespace"], "name": md["name"], "uid": md["uid"]}


def hostname(pod: Obj, svc: Obj) -> str | None:
    spec = pod.get("spec") or {}
    if spec.get("hostname") and spec.get("subdomain") == svc["metadata"]["name"]:
        return str(spec["hostname"])
    return None


def trigger_time(svc: Obj, pods: Iterable[Obj]) -> str:
    """When the newest change behind these endpoints happened: the service's creation,
    or a selected pod's creation, readiness change or deletion."""
    stamps: list[datetime.datetime] = []
    for obj in (svc, *pods):
        md = obj.get("metadata") or {}
        for v in (md.get("creationTimestamp"), md.get("deletionTimestamp")):
            t = timeutil.parse(v or "")
            if t is not None:
                stamps.append(t)
        ready = podutil.condition(obj, "Ready") if obj is not svc else None
        t = timeutil.parse((ready or {}).get("lastTransitionTime") or "")
        if t is not None:
            stamps.append(t)
    return timeutil.rfc3339(max(stamps)) if stamps else ""


def managed_labels(svc: Obj) -> dict[str, str]:
    out = dict(svc["metadata"].get("labels") or {})
    if is_headless(svc):
        out[HEADLESS] = ""
    return out


# ---- subsets --------------------------------------------------------------------------
def _port_key(p: Obj) -> tuple[str, int, str, str]:
    return (p.get("name") or "", int(p["port"]), p.get("protocol") or "TCP", p.get("appProtocol") or "")


def desired_subsets(svc: Obj, pods: list[Obj]) -> tuple[list[Obj], bool]:
    """The Endpoints subsets for ``svc`` and whether they were truncated."""
    publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    family = ((svc.get("spec") or {}).get("ipFamilies") or ["IPv4"])[0]
    has_ports = bool((svc.get("spec") or {}).get("ports"))
    # address ip -> (address, ready, frozenset of port keys)
    entries: dict[str, tuple[Obj, bool, frozenset[tuple[str, int, str, str]]]] = {}
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        if not should_include(pod, include_terminating=publish):
            continue
        ip = pod_ip(pod, family)
        if ip is None:
            continue
        addr: Obj = {"ip": ip, "targetRef": target_ref(pod)}
        if (pod.get("spec") or {}).get("nodeName"):
            addr["nodeName"] = pod["spec"]["nodeName"]
        if hostname(pod, svc):
            addr["hostname"] = hostname(pod, svc)
        if has_ports:
            ports = frozenset(_port_key(p) for p in endpoint_ports(pod, svc))
            if not ports:
                continue
        elif is_headless(svc):
            ports = frozenset()
        else:
            continue
        entries[ip] = (addr, publish or podutil.is_ready(pod), ports)
    truncated = len(entries) > MAX_ADDRESSES
    if truncated:  # keep ready addresses first, as upstream does when it must cut
        kept = sorted(entries.items(), key=lambda kv: (not kv[1][1], kv[0]))[:MAX_ADDRESSES]
        entries = dict(kept)
    groups: dict[frozenset[tuple[str, int, str, str]], Obj] = {}
    for ip in sorted(entries, key=_ip_sort_key):
        addr, ready, ports = entries[ip]
        sub = groups.setdefault(ports, {})
        sub.setdefault("addresses" if ready else "notReadyAddresses", []).append(addr)
    subsets = []
    for ports, sub in groups.items():
        if ports:
            sub["ports"] = [_port_obj(k) for k in sorted(ports)]
        subsets.append(sub)
    subsets.sort(key=lambda s: _ip_sort_key((s.get("addresses") or s["notReadyAddresses"])[0]["ip"]))
    return subsets, truncated


def _port_obj(key: tuple[str, int, str, str]) -> Obj:
    name, port, proto, app = key
    out: Obj = {"port": port, "protocol": proto}
    if name:
        out["name"] = name
    if app:
        out["appProtocol"] = app
    return out


def _ip_sort_key(ip: str) -> tuple[int, ...]:
    try:
        a = ipaddress.ip_address(ip)
        return (a.version, int(a))
    except ValueError:
        return (9, 0)


class EndpointsController(base.Controller):
    NAME = "endpoint"
    WORKERS = 2

    def __init__(self, ctx: base.Context) -> None:
        super().__init__(ctx)
        self.services = self.informer(rest.SERVICES)
        self.pods = self.informer(rest.PODS)
        self.endpoints = self.informer(rest.ENDPOINTS)
        self.services.add_handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n),
                                  on_delete=self.enqueue)
        self.pods.add_handler(**pod_handlers(self.services, self.queue.add))
        self.endpoints.add_handler(on_delete=self.enqueue)
        # key -> (resourceVersion we last wrote, when): until the cache has caught up with our
        # own write, comparing against it could wrongly find nothing to do (upstream's
        # stale endpoints tracker).
        self._written: dict[str, tuple[int, float]] = {}

    def _cache_behind(self, key: str) -> bool:
        written = self._written.get(key)
        if written is None:
            return False
        cached = self.endpoints.store.get(key)
        if cached is not None and int(cached["metadata"]["resourceVersion"]) < written[0] \
                and self.clock.now() - written[1] < STALE_WAIT:
            return True
        del self._written[key]
        return False

    async def reconcile(self, key: str) -> float | None:
        if self._cache_behind(key):
            return 0.05
        ns, name = informerlib.split_key(key)
        assert ns is not None
        svc = self.services.store.get(key)
        if svc is None:
            if self.endpoints.store.get(key) is not None:
                try:
                    await self.client.delete(rest.ENDPOINTS, name, namespace=ns)
                except rest.NotFound:
                    pass
            return None
        if selector(svc) is None:
            return None  # endpoints of a selectorless service are maintained by hand (or the API server)
        pods = selected_pods(svc, self.pods)
        subsets, truncated = desired_subsets(svc, pods)
        current = self.endpoints.store.get(key)
        want_labels = managed_labels(svc)
        if current is not None:
            annotations = dict(current["metadata"].get("annotations") or {})
            if (current.get("subsets") or []) == subsets and (current["metadata"].get("labels") or {}) == want_labels \
                    and (annotations.get(OVER_CAPACITY) == "truncated") == truncated:
                return None
        else:
            annotations = {}
        annotations.pop(OVER_CAPACITY, None)
        if truncated:
            annotations[OVER_CAPACITY] = "truncated"
        stamp = trigger_time(svc, pods)
        if stamp:
            annotations[TRIGGER_TIME] = stamp
        md: Obj = {"name": name, "namespace": ns, "labels": want_labels}
        if annotations:
            md["annotations"] = annotations
        body: Obj = {"apiVersion": "v1", "kind": "Endpoints", "metadata": md, "subsets": subsets}
        if current is None:
            try:
                written = await self.client.create(rest.ENDPOINTS, body, namespace=ns)
            except rest.AlreadyExists:
                # Our cache has not seen it yet: update from the live object next time round.
                raise rest.Conflict(409, "Conflict", f"endpoints {key} exist but are not cached yet") from None
        else:
            md["resourceVersion"] = current["metadata"]["resourceVersion"]
            for k in ("uid", "creationTimestamp", "ownerReferences", "finalizers"):
                if current["metadata"].get(k) is not None:
                    md[k] = current["metadata"][k]
            written = await self.client.update(rest.ENDPOINTS, body, namespace=ns)
        self._written[key] = (int(written["metadata"]["resourceVersion"]), self.clock.now())
        return None
