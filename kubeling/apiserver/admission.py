"""Built-in admission that needs cluster state.

* NamespaceLifecycle: namespaced objects need an existing namespace that is
  not terminating.
* ServiceIPs: allocates Service cluster IPs (10.43.0.0/16) and node ports
  (30000-32767), refuses ones in use, and frees them when a Service goes.
  The allocation state is rebuilt from the stored Services at start; one API
  server owns it (several servers on etcd will need a shared allocator).
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

import orjson

from kubeling.api import errors, registry
from kubeling.apiserver import store

Obj = dict[str, Any]

SERVICE_CIDR = ipaddress.ip_network("10.43.0.0/16")
NODE_PORT_RANGE = (30000, 32767)


async def lookup(api: Any, prefix: str, name: str) -> Obj | None:
    """The stored object ``prefix + name``, as admission plugins read the objects they
    consult (namespaces, PriorityClasses, RuntimeClasses): the watch cache answers almost
    always, and a miss is confirmed against storage, since an object created a moment
    ago may not have reached the cache yet."""
    cached = api.cacher.resource(prefix).get(prefix + name)
    if cached is not None:
        return cached.obj  # type: ignore[no-any-return]
    kv = await api.backend.get(prefix + name)
    return orjson.loads(kv.value) if kv is not None else None


class NamespaceLifecycle:
    def __init__(self, api: Any) -> None:
        self.api = api

    async def admit(self, ctx: store.Context, op: str, res: registry.Resource, obj: Obj, old: Obj | None) -> None:
        if op != "CREATE" or not res.namespaced:
            return
        ns = obj.get("metadata", {}).get("namespace", "")
        if not ns:
            return
        nsobj = await lookup(self.api, "/registry/core/namespaces/", ns)
        if nsobj is None:
            raise errors.not_found_error("namespaces", "", ns)
        if nsobj.get("metadata", {}).get("deletionTimestamp") or (nsobj.get("status") or {}).get("phase") == "Terminating":
            raise errors.APIError(
                403, "Forbidden",
                f"{errors.qualified_resource(res.plural, res.group)} \"{obj['metadata'].get('name', '')}\" is "
                f"forbidden: unable to create new content in namespace {ns} because it is being terminated",
                details={"name": obj["metadata"].get("name", ""), "kind": res.plural,
                         "causes": [{"reason": "NamespaceTerminating",
                                     "message": f"namespace {ns} is being terminated",
                                     "field": "metadata.namespace"}]},
            )

    async def released(self, res: registry.Resource, obj: Obj) -> None:
        return None


class ServiceIPs:
    def __init__(self) -> None:
        self.ips: set[str] = set()
        self.ports: set[int] = set()
        self._hosts = SERVICE_CIDR.num_addresses - 2

    def load(self, services: list[Obj]) -> None:
        for svc in services:
            ips, ports = _allocations(svc)
            self.ips |= ips
            self.ports |= ports

    def _next_ip(self) -> str:
        if len(self.ips) >= self._hosts - 10:
            raise errors.internal("failed to allocate a serviceIP: range is full")
        base = int(SERVICE_CIDR.network_address)
        while True:
            # Random like upstream, above the low band kept for static IPs (.1 kubernetes, .10 DNS).
            ip = str(ipaddress.ip_address(base + random.randint(256, SERVICE_CIDR.num_addresses - 2)))
            if ip not in self.ips:
                return ip

    def _next_port(self) -> int:
        lo, hi = NODE_PORT_RANGE
        if len(self.ports) >= hi - lo + 1:
            raise errors.internal("failed to allocate a nodePort: range is full")
        while True:
            p = random.randint(lo, hi)
            if p not in self.ports:
                return p

    async def admit(self, ctx: store.Context, op: str, res: registry.Resource, obj: Obj, old: Obj | None) -> None:
        if res.kind != "Service" or res.group or op == "DELETE":
            return
        spec = obj.setdefault("spec", {})
        name = obj.get("metadata", {}).get("name", "")
        stype = spec.get("type", "ClusterIP")
        errs: list[errors.FieldError] = []
        new_ips: set[str] = set()
        new_ports: set[int] = set()
        old_ips, old_ports = _allocations(old) if old else (set(), set())
        if old is not None:
            _keep_allocated(spec, old.get("spec") or {})
        if stype == "ExternalName":
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        else:
            ip = spec.get("clusterIP") or ((spec.get("clusterIPs") or [None])[0])
            if not ip:
                ip = self._next_ip()
                new_ips.add(ip)
            elif ip != "None" and ip not in old_ips:
                try:
                    addr = ipaddress.ip_address(ip)
                except ValueError:
                    addr = None
                if addr is None:
                    errs.append(errors.invalid_value("spec.clusterIPs[0]", ip,
                                                     "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
                elif addr not in SERVICE_CIDR:
                    errs.append(errors.invalid_value(
                        "spec.clusterIPs", [ip],
                        f"failed to allocate IP {ip}: the provided IP ({ip}) is not in the valid range. "
                        f"The range of valid IPs is {SERVICE_CIDR}"))
                elif ip in self.ips:
                    errs.append(errors.invalid_value("spec.clusterIPs", [ip],
                                                     f"failed to allocate IP {ip}: provided IP is already allocated"))
                else:
                    new_ips.add(ip)
            spec["clusterIP"] = ip
            spec["clusterIPs"] = [ip]
        if stype in ("NodePort", "LoadBalancer"):
            for i, port in enumerate(spec.get("ports") or []):
                if not isinstance(port, dict):
                    continue
                np = port.get("nodePort")
                if not np:
                    np = self._next_port()
                    while np in new_ports:
                        np = self._next_port()
                    port["nodePort"] = np
                    new_ports.add(np)
                elif np not in old_ports:
                    lo, hi = NODE_PORT_RANGE
                    if not isinstance(np, int) or not lo <= np <= hi:
                        errs.append(errors.invalid_value(
                            f"spec.ports[{i}].nodePort", np,
                            f"provided port is not in the valid range. The range of valid ports is {lo}-{hi}"))
                    elif np in self.ports or np in new_ports:
                        errs.append(errors.invalid_value(f"spec.ports[{i}].nodePort", np,
                                                         "provided port is already allocated"))
                    else:
                        new_ports.add(np)
        else:
            for port in spec.get("ports") or []:
                if isinstance(port, dict):
                    port.pop("nodePort", None)
        if errs:
            raise errors.invalid("Service", "", name, errs)
        if ctx.dry_run:
            return
        self.ips |= new_ips
        self.ports |= new_ports
        if old is not None:
            # Free what the update no longer uses (e.g. NodePort -> ClusterIP).
            now_ips, now_ports = _allocations(obj)
            self.ips -= old_ips - now_ips
            self.ports -= old_ports - now_ports

    async def released(self, res: registry.Resource, obj: Obj) -> None:
        if res.kind != "Service" or res.group:
            return
        ips, ports = _allocations(obj)
        self.ips -= ips
        self.ports -= ports


def _allocations(svc: Obj | None) -> tuple[set[str], set[int]]:
    if not svc:
        return set(), set()
    spec = svc.get("spec") or {}
    ips = {ip for ip in (spec.get("clusterIPs") or [spec.get("clusterIP")]) if ip and ip != "None"}
    ports = {p["nodePort"] for p in spec.get("ports") or [] if isinstance(p, dict) and isinstance(p.get("nodePort"), int)}
    return ips, ports


def _keep_allocated(spec: Obj, old_spec: Obj) -> None:
    """An update that omits allocated values keeps them, as upstream does for
    clients that never saw them (e.g. `kubectl replace` with the original file)."""
    if not spec.get("clusterIP") and not spec.get("clusterIPs") and old_spec.get("clusterIP"):
        spec["clusterIP"] = old_spec["clusterIP"]
        spec["clusterIPs"] = list(old_spec.get("clusterIPs") or [old_spec["clusterIP"]])
    old_ports = {(p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
                 for p in old_spec.get("ports") or [] if isinstance(p, dict)}
    for p in spec.get("ports") or []:
        if isinstance(p, dict) and not p.get("nodePort"):
            np = old_ports.get((p.get("port"), p.get("protocol", "TCP")))
            if np:
                p["nodePort"] = np
