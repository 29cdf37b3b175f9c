"""discovery.k8s.io/v1 EndpointSlices.

Defaults and validation follow upstream's ``pkg/apis/discovery/v1/defaults.go``
and ``pkg/apis/discovery/validation``: addresses are checked against the
slice's addressType, port names are unique DNS labels, and the addressType
cannot change.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from kubeling.api import errors, registry, validation
from kubeling.api.kinds import apps

Obj = dict[str, Any]
FieldErrors = list[errors.FieldError]
dig = apps.dig

ADDRESS_TYPES = ["FQDN", "IPv4", "IPv6"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
MAX_ENDPOINTS = 1000
MAX_ADDRESSES = 100
MAX_PORTS = 20000
MAX_ZONE_HINTS = 8


def too_many(path: str, count: int, limit: int) -> errors.FieldError:
    return errors.FieldError("TooMany", path, detail=f"must have at most {limit} items")


def _validate_address(addr: Any, path: str, address_type: Any) -> FieldErrors:
    if not isinstance(addr, str):
        return [errors.type_invalid(path, addr, "must be a string")]
    if address_type == "IPv4":
        try:
            ipaddress.IPv4Address(addr)
        except ValueError:
            return [errors.invalid_value(path, addr, "must be a valid IPv4 address")]
    elif address_type == "IPv6":
        try:
            ipaddress.IPv6Address(addr)
        except ValueError:
            return [errors.invalid_value(path, addr, "must be a valid IPv6 address")]
    elif address_type == "FQDN":
        return [errors.invalid_value(path, addr, m) for m in validation.dns1123_subdomain(addr)]
    return []


def _validate_endpoint(ep: Any, path: str, address_type: Any) -> FieldErrors:
    if not isinstance(ep, dict):
        return [errors.type_invalid(path, ep, "must be an object")]
    errs: FieldErrors = []
    addresses = ep.get("addresses") or []
    if not addresses:
        errs.append(errors.required(f"{path}.addresses", "must contain at least 1 address"))
    elif len(addresses) > MAX_ADDRESSES:
        errs.append(too_many(f"{path}.addresses", len(addresses), MAX_ADDRESSES))
    for i, addr in enumerate(addresses):
        errs += _validate_address(addr, f"{path}.addresses[{i}]", address_type)
    if ep.get("nodeName"):
        errs += validation.validate_str_with(ep["nodeName"], f"{path}.nodeName", validation.dns1123_subdomain)
    if ep.get("hostname"):
        errs += validation.validate_str_with(ep["hostname"], f"{path}.hostname", validation.dns1123_label)
    errs += validation.validate_labels(ep.get("deprecatedTopology"), f"{path}.deprecatedTopology")
    zones = dig(ep, "hints", "forZones")
    if isinstance(zones, list):
        if len(zones) > MAX_ZONE_HINTS:
            errs.append(too_many(f"{path}.hints.forZones", len(zones), MAX_ZONE_HINTS))
        seen: set[str] = set()
        for i, z in enumerate(zones):
            name = z.get("name") if isinstance(z, dict) else None
            zp = f"{path}.hints.forZones[{i}].name"
            if not name:
                errs.append(errors.required(zp, ""))
            elif name in seen:
                errs.append(errors.duplicate(zp, name))
            else:
                seen.add(name)
                errs += [errors.invalid_value(zp, name, m) for m in validation.label_value(name)]
    return errs


def _validate_ports(ports: Any, path: str) -> FieldErrors:
    if not isinstance(ports, list):
        return []
    errs: FieldErrors = []
    if len(ports) > MAX_PORTS:
        errs.append(too_many(path, len(ports), MAX_PORTS))
    names: set[str] = set()
    for i, port in enumerate(ports):
        pp = f"{path}[{i}]"
        if not isinstance(port, dict):
            errs.append(errors.type_invalid(pp, port, "must be an object"))
            continue
        name = port.get("name") or ""
        if name:
            errs += [errors.invalid_value(f"{pp}.name", name, m) for m in validation.dns1123_label(name)]
        if name in names:
            errs.append(errors.duplicate(f"{pp}.name", name))
        names.add(name)
        errs += validation.validate_enum(port.get("protocol"), f"{pp}.protocol", PROTOCOLS, required=True)
        if port.get("appProtocol"):
            errs += validation.validate_str_with(port["appProtocol"], f"{pp}.appProtocol", validation.qualified_name)
        number = port.get("port")
        if number is not None:
            errs += [errors.invalid_value(f"{pp}.port", number, m) for m in validation.port_number(number)]
    return errs


def _list_with_more(items: list[str], total: int, limit: int = 3) -> str:
    text = ",".join(items[:limit])
    if total > limit:
        text += f" + {total - limit} more..."
    return text


def ports_cell(obj: Obj) -> str:
    ports = [p for p in obj.get("ports") or [] if isinstance(p, dict)]
    if not ports:
        return "<unset>"
    shown = [str(p["port"]) if p.get("port") is not None else (p.get("name") or "*") for p in ports]
    return _list_with_more(shown, len(shown))


def endpoints_cell(obj: Obj) -> str:
    addresses = [a for ep in obj.get("endpoints") or [] if isinstance(ep, dict) for a in ep.get("addresses") or []]
    if not addresses:
        return "<unset>"
    return _list_with_more([str(a) for a in addresses], len(addresses))


class EndpointSliceStrategy(registry.Strategy):
    def default(self, obj: Obj) -> None:
        for port in obj.get("ports") or []:
            if isinstance(port, dict):
                if port.get("name") is None:
                    port["name"] = ""
                if port.get("protocol") is None:
                    port["protocol"] = "TCP"

    def validate(self, obj: Obj) -> FieldErrors:
        errs: FieldErrors = []
        address_type = obj.get("addressType")
        errs += validation.validate_enum(address_type, "addressType", ADDRESS_TYPES, required=True)
        endpoints = obj.get("endpoints") or []
        if isinstance(endpoints, list):
            if len(endpoints) > MAX_ENDPOINTS:
                errs.append(too_many("endpoints", len(endpoints), MAX_ENDPOINTS))
            for i, ep in enumerate(endpoints):
                errs += _validate_endpoint(ep, f"endpoints[{i}]", address_type)
        errs += _validate_ports(obj.get("ports"), "ports")
        return errs

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        return self.validate(new) + validation.validate_immutable(new.get("addressType"), old.get("addressType"),
                                                                  "addressType")

    def columns(self) -> list[registry.Column]:
        return [
            registry.NAME_COLUMN,
            registry.Column("AddressType", lambda o: o.get("addressType", ""),
                            description="Type of address carried by this EndpointSlice"),
            registry.Column("Ports", ports_cell, description="Ports of the endpoints"),
            registry.Column("Endpoints", endpoints_cell, description="Addresses of the endpoints"),
            registry.AGE_COLUMN,
        ]


RESOURCES: list[registry.Resource] = [
    registry.Resource("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True, EndpointSliceStrategy(),
                      schema="io.k8s.api.discovery.v1.EndpointSlice"),
]
