"""Services (core/v1): defaults, validation, table columns.

IP and node-port allocation need cluster state and live in the API server's
admission; this strategy only checks the shape of what the client sent (a
nodePort, when set, must be in the default 30000-32767 range) and keeps the
allocated clusterIP from changing on update.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from kubeling.api import errors, registry, validation

Obj = dict[str, Any]
FieldErrors = list[errors.FieldError]

SERVICE_TYPES = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
AFFINITIES = ["ClientIP", "None"]
TRAFFIC_POLICIES = ["Cluster", "Local"]
IP_FAMILY_POLICIES = ["PreferDualStack", "RequireDualStack", "SingleStack"]
IP_FAMILIES = ["IPv4", "IPv6"]
NODE_PORT_RANGE = (30000, 32767)
DEFAULT_AFFINITY_TIMEOUT = 10800  # three hours, upstream's ClientIP default
MAX_AFFINITY_TIMEOUT = 86400


def _dicts(value: Any) -> list[Obj]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _family(ip: str) -> str:
    try:
        return "IPv6" if ipaddress.ip_address(ip).version == 6 else "IPv4"
    except ValueError:
        return ""


def default_service(obj: Obj) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    if not spec.get("type"):
        spec["type"] = "ClusterIP"
    if not spec.get("sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if spec["sessionAffinity"] == "ClientIP":
        cfg = spec.setdefault("sessionAffinityConfig", {})
        if isinstance(cfg, dict):
            cip = cfg.setdefault("clientIP", {})
            if isinstance(cip, dict):
                cip.setdefault("timeoutSeconds", DEFAULT_AFFINITY_TIMEOUT)
    for port in _dicts(spec.get("ports")):
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    stype = spec["type"]
    if stype in ("NodePort", "LoadBalancer") and not spec.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if stype != "ExternalName" and not spec.get("internalTrafficPolicy"):
        spec["internalTrafficPolicy"] = "Cluster"
    if stype == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True
    if stype != "ExternalName":
        cip = spec.get("clusterIP")
        if cip and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [cip]
        if not spec.get("ipFamilyPolicy"):
            spec["ipFamilyPolicy"] = "SingleStack"
        if not spec.get("ipFamilies"):
            fams = [_family(ip) for ip in spec.get("clusterIPs") or [] if isinstance(ip, str) and _family(ip)]
            spec["ipFamilies"] = fams or ["IPv4"]
    if stype in ("ClusterIP", "NodePort", "LoadBalancer") and spec.get("clusterIPs") and not spec.get("clusterIP"):
        spec["clusterIP"] = spec["clusterIPs"][0]


def _is_headless(spec: Obj) -> bool:
    return spec.get("clusterIP") == "None"


def _ip_errs(value: Any, path: str, detail: str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)") -> FieldErrors:
    try:
        ipaddress.ip_address(value)
    except (ValueError, TypeError):
        return [errors.invalid_value(path, value, detail)]
    return []


def validate_service_spec(spec: Any, path: str = "spec") -> FieldErrors:
    if not isinstance(spec, dict):
        return [errors.required(path, "")]
    errs: FieldErrors = []
    stype = spec.get("type")
    errs += validation.validate_enum(stype, f"{path}.type", SERVICE_TYPES, required=True)
    ports = _dicts(spec.get("ports"))
    if not ports and not _is_headless(spec) and stype != "ExternalName":
        errs.append(errors.required(f"{path}.ports", ""))
    names: set[str] = set()
    keys: set[tuple[Any, Any]] = set()
    node_ports: set[tuple[Any, Any]] = set()
    for i, port in enumerate(ports):
        p = f"{path}.ports[{i}]"
        name = port.get("name")
        if len(ports) > 1 and not name:
            errs.append(errors.required(f"{p}.name", ""))
        elif name:
            errs += validation.validate_str_with(name, f"{p}.name", validation.dns1123_label)
            if name in names:
                errs.append(errors.duplicate(f"{p}.name", name))
            names.add(name)
        num = port.get("port")
        errs += [errors.invalid_value(f"{p}.port", num, m) for m in validation.port_number(num)]
        proto = port.get("protocol")
        errs += validation.validate_enum(proto, f"{p}.protocol", PROTOCOLS, required=True)
        tp = port.get("targetPort")
        if validation.is_int(tp):
            errs += [errors.invalid_value(f"{p}.targetPort", tp, m) for m in validation.port_number(tp)]
        elif isinstance(tp, str) and tp:
            errs += [errors.invalid_value(f"{p}.targetPort", tp, m) for m in validation.port_name(tp)]
        elif tp is not None:
            errs.append(errors.invalid_value(f"{p}.targetPort", tp, "must contain an int or a string"))
        key = (num, proto)
        if key in keys:
            errs.append(errors.duplicate(p, {"port": num, "protocol": proto}))
        keys.add(key)
        np_ = port.get("nodePort")
        if np_:
            if stype == "ClusterIP":
                errs.append(errors.forbidden(f"{p}.nodePort", "may not be used when `type` is 'ClusterIP'"))
            elif stype == "ExternalName":
                errs.append(errors.forbidden(f"{p}.nodePort", "may not be used when `type` is 'ExternalName'"))
            msgs = validation.port_number(np_)
            errs += [errors.invalid_value(f"{p}.nodePort", np_, m) for m in msgs]
            if not msgs and not NODE_PORT_RANGE[0] <= np_ <= NODE_PORT_RANGE[1]:
                errs.append(errors.invalid_value(
                    f"{p}.nodePort", np_,
                    "provided port is not in the valid range. The range of valid ports is "
                    f"{NODE_PORT_RANGE[0]}-{NODE_PORT_RANGE[1]}"))
            if (np_, proto) in node_ports:
                errs.append(errors.duplicate(f"{p}.nodePort", np_))
            node_ports.add((np_, proto))
    if stype == "ExternalName":
        ext = spec.get("externalName")
        if not ext:
            errs.append(errors.required(f"{path}.externalName", ""))
        elif isinstance(ext, str):
            errs += [errors.invalid_value(f"{path}.externalName", ext, m)
                     for m in validation.dns1123_subdomain(ext.removesuffix("."))]
        if spec.get("clusterIP") or spec.get("clusterIPs"):
            errs.append(errors.forbidden(f"{path}.clusterIPs", "may not be set for ExternalName services"))
    else:
        errs += _validate_cluster_ips(spec, path)
    errs += validation.validate_labels(spec.get("selector"), f"{path}.selector")
    aff = spec.get("sessionAffinity")
    errs += validation.validate_enum(aff, f"{path}.sessionAffinity", AFFINITIES, required=True)
    cfg = spec.get("sessionAffinityConfig")
    if aff == "ClientIP":
        timeout = ((cfg or {}).get("clientIP") or {}).get("timeoutSeconds") if isinstance(cfg, dict) else None
        if not validation.is_int(timeout) or not 0 < timeout <= MAX_AFFINITY_TIMEOUT:
            errs.append(errors.invalid_value(
                f"{path}.sessionAffinityConfig.clientIP.timeoutSeconds", timeout,
                f"must be greater than 0 and less than {MAX_AFFINITY_TIMEOUT}"))
    elif cfg:
        errs.append(errors.invalid_value(
            f"{path}.sessionAffinityConfig", cfg,
            "must not be set when session affinity is None"))
    etp = spec.get("externalTrafficPolicy")
    if etp:
        if stype not in ("NodePort", "LoadBalancer"):
            errs.append(errors.invalid_value(
                f"{path}.externalTrafficPolicy", etp, "may only be set when `type` is 'NodePort' or 'LoadBalancer'"))
        else:
            errs += validation.validate_enum(etp, f"{path}.externalTrafficPolicy", TRAFFIC_POLICIES)
    elif stype in ("NodePort", "LoadBalancer"):
        errs.append(errors.required(f"{path}.externalTrafficPolicy", ""))
    itp = spec.get("internalTrafficPolicy")
    errs += validation.validate_enum(itp, f"{path}.internalTrafficPolicy", TRAFFIC_POLICIES,
                                     required=stype != "ExternalName")
    hc = spec.get("healthCheckNodePort")
    if hc:
        if stype != "LoadBalancer" or etp != "Local":
            errs.append(errors.invalid_value(
                f"{path}.healthCheckNodePort", hc,
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
        else:
            errs += [errors.invalid_value(f"{path}.healthCheckNodePort", hc, m) for m in validation.port_number(hc)]
    for i, ip in enumerate(spec.get("externalIPs") or []):
        errs += _ip_errs(ip, f"{path}.externalIPs[{i}]")
    return errs


def _validate_cluster_ips(spec: Obj, path: str) -> FieldErrors:
    errs: FieldErrors = []
    cip = spec.get("clusterIP")
    cips = spec.get("clusterIPs") or []
    if cip and cips and cips[0] != cip:
        errs.append(errors.invalid_value(f"{path}.clusterIPs", cips,
                                         "first value of clusterIPs must match clusterIP"))
    for i, ip in enumerate(cips):
        if ip == "None":
            if i > 0 or len(cips) > 1:
                errs.append(errors.invalid_value(f"{path}.clusterIPs", cips,
                                                 "'None' must be the first and only value"))
            continue
        errs += _ip_errs(ip, f"{path}.clusterIPs[{i}]", "must be empty, 'None', or a valid IP address")
    if len(cips) > 2:
        errs.append(errors.invalid_value(f"{path}.clusterIPs", cips, "may only hold up to 2 values"))
    if cip and cip != "None" and not cips:
        errs += _ip_errs(cip, f"{path}.clusterIP", "must be empty, 'None', or a valid IP address")
    if cip == "None" and spec.get("type") in ("NodePort", "LoadBalancer"):
        errs.append(errors.invalid_value(f"{path}.clusterIPs[0]", cip,
                                         f"may not be set to 'None' for {spec['type']} services"))
    errs += validation.validate_enum(spec.get("ipFamilyPolicy"), f"{path}.ipFamilyPolicy", IP_FAMILY_POLICIES)
    fams = spec.get("ipFamilies") or []
    for i, f in enumerate(fams):
        if f not in IP_FAMILIES:
            errs.append(errors.not_supported(f"{path}.ipFamilies[{i}]", f, IP_FAMILIES))
        elif f in fams[:i]:
            errs.append(errors.duplicate(f"{path}.ipFamilies[{i}]", f))
    if len(fams) > 2:
        errs.append(errors.invalid_value(f"{path}.ipFamilies", fams, "may specify no more than one IP for each IP family"))
    return errs


def _service_name_errors(obj: Obj) -> FieldErrors:
    """Service names are RFC 1035 labels. The store already checks the subdomain
    rule; report the stricter rule only when that one passed, so a bad name
    is not reported twice."""
    name = (obj.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not name or validation.dns1123_subdomain(name):
        return []
    return [errors.invalid_value("metadata.name", name, m) for m in validation.dns1035_label(name)]


class ServiceStrategy(registry.Strategy):
    has_status = True

    def default(self, obj: Obj) -> None:
        default_service(obj)

    def validate(self, obj: Obj) -> FieldErrors:
        return _service_name_errors(obj) + validate_service_spec(obj.get("spec"))

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        errs = self.validate(new)
        ns, os_ = new.get("spec") or {}, old.get("spec") or {}
        # the allocated IP stays unless the service turns into / out of ExternalName
        if ns.get("type") != "ExternalName" and os_.get("type") != "ExternalName":
            if os_.get("clusterIP") and ns.get("clusterIP") != os_.get("clusterIP"):
                errs += validation.validate_immutable(ns.get("clusterIP"), os_.get("clusterIP"), "spec.clusterIP")
            elif os_.get("clusterIPs") and (ns.get("clusterIPs") or [])[:1] != os_["clusterIPs"][:1]:
                errs += validation.validate_immutable(ns.get("clusterIPs"), os_.get("clusterIPs"), "spec.clusterIPs")
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> FieldErrors:
        errs: FieldErrors = []
        lb = ((new.get("status") or {}).get("loadBalancer") or {})
        for i, ing in enumerate(_dicts(lb.get("ingress"))):
            if ing.get("ip"):
                errs += _ip_errs(ing["ip"], f"status.loadBalancer.ingress[{i}].ip")
            if ing.get("hostname"):
                errs += validation.validate_str_with(
                    ing["hostname"], f"status.loadBalancer.ingress[{i}].hostname", validation.dns1123_subdomain)
        return errs

    def columns(self) -> list[registry.Column]:
        return [
            registry.NAME_COLUMN,
            registry.Column("Type", lambda o: (o.get("spec") or {}).get("type", ""),
                            description="The type of the service: ClusterIP, NodePort, LoadBalancer or ExternalName."),
            registry.Column("Cluster-IP", cluster_ip_cell,
                            description="The virtual IP the service is reachable at inside the cluster."),
            registry.Column("External-IP", external_ip_cell,
                            description="Addresses the service is reachable at from outside the cluster."),
            registry.Column("Port(s)", ports_cell, description="The ports the service exposes."),
            registry.AGE_COLUMN,
            registry.Column("Selector", selector_cell, priority=1,
                            description="The labels of the pods the service sends traffic to."),
        ]


def cluster_ip_cell(obj: Obj) -> str:
    spec = obj.get("spec") or {}
    return spec.get("clusterIP") or "<none>"


def external_ip_cell(obj: Obj) -> str:
    spec = obj.get("spec") or {}
    stype = spec.get("type") or "ClusterIP"
    external = [ip for ip in spec.get("externalIPs") or [] if isinstance(ip, str)]
    if stype == "ExternalName":
        return spec.get("externalName") or "<none>"
    if stype == "LoadBalancer":
        ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        lb = [i.get("ip") or i.get("hostname") or "" for i in _dicts(ingress)]
        lb = [x for x in lb if x]
        if lb or external:
            return ",".join(lb + external)
        return "<pending>"
    return ",".join(external) if external else "<none>"


def ports_cell(obj: Obj) -> str:
    ports = _dicts((obj.get("spec") or {}).get("ports"))
    if not ports:
        return "<none>"
    cells = []
    for p in ports:
        proto = p.get("protocol") or "TCP"
        if p.get("nodePort"):
            cells.append(f"{p.get('port')}:{p['nodePort']}/{proto}")
        else:
            cells.append(f"{p.get('port')}/{proto}")
    return ",".join(cells)


def selector_cell(obj: Obj) -> str:
    sel = (obj.get("spec") or {}).get("selector") or {}
    if not isinstance(sel, dict) or not sel:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(sel.items()))


RESOURCE = registry.Resource(
    group="",
    version="v1",
    kind="Service",
    plural="services",
    namespaced=True,
    strategy=ServiceStrategy(),
    short_names=("svc",),
    categories=("all",),
    schema="io.k8s.api.core.v1.Service",
)
