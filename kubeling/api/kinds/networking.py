"""networking.k8s.io/v1: Ingresses, IngressClasses and NetworkPolicies.

Defaults and validation follow upstream's ``pkg/apis/networking/v1/defaults.go``
and ``pkg/apis/networking/validation``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from kubeling.api import errors, registry, validation
from kubeling.api.kinds import apps

Obj = dict[str, Any]
FieldErrors = list[errors.FieldError]
dig = apps.dig
Column = registry.Column

GROUP = "networking.k8s.io"
INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
PATH_TYPES = ["Exact", "ImplementationSpecific", "Prefix"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
POLICY_TYPES = ["Egress", "Ingress"]
_INVALID_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_INVALID_PATH_SUFFIXES = ("/..", "/.")
_DOMAIN_PREFIXED_RE = re.compile(r"^[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$")


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _validate_host(host: str, path: str) -> FieldErrors:
    if _is_ip(host):
        return [errors.invalid_value(path, host, "must be a DNS name, not an IP address")]
    if host.startswith("*."):
        msgs = validation.dns1123_subdomain(host[2:])
        if msgs:
            return [errors.invalid_value(path, host, "a wildcard DNS-1123 subdomain must start with '*.', followed "
                                                     "by a valid DNS subdomain, which must consist of lower case "
                                                     "alphanumeric characters, '-' or '.' and end with an "
                                                     "alphanumeric character (e.g. '*.example.com', regex used for "
                                                     "validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]"
                                                     "([-a-z0-9]*[a-z0-9])?)*')")]
        return []
    return [errors.invalid_value(path, host, m) for m in validation.dns1123_subdomain(host)]


def _validate_backend(backend: Any, path: str) -> FieldErrors:
    if not isinstance(backend, dict):
        return [errors.required(path, "")]
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        return [errors.invalid_value(path, "", "cannot set both resource and service backends")]
    if service is None and resource is None:
        return [errors.invalid_value(path, "", "resource or service backend is required")]
    errs: FieldErrors = []
    if isinstance(resource, dict):
        for key in ("kind", "name"):
            if not resource.get(key):
                errs.append(errors.required(f"{path}.resource.{key}", ""))
        return errs
    sp = f"{path}.service"
    if not isinstance(service, dict):
        return [errors.type_invalid(sp, service, "must be an object")]
    errs += validation.validate_str_with(service.get("name"), f"{sp}.name", validation.dns1035_label)
    port = service.get("port")
    port = port if isinstance(port, dict) else {}
    name, number = port.get("name"), port.get("number")
    if name and number:
        errs.append(errors.invalid_value(f"{sp}.port", "", "cannot set both port name & port number"))
    elif name:
        errs += [errors.invalid_value(f"{sp}.port.name", name, m) for m in validation.port_name(name)]
    elif number:
        errs += [errors.invalid_value(f"{sp}.port.number", number, m) for m in validation.port_number(number)]
    else:
        errs.append(errors.required(f"{sp}.port", "port name or number is required"))
    return errs


def _validate_path(p: Any, path: str) -> FieldErrors:
    if not isinstance(p, dict):
        return [errors.type_invalid(path, p, "must be an object")]
    errs: FieldErrors = []
    ptype, value = p.get("pathType"), p.get("path") or ""
    if not ptype:
        errs.append(errors.required(f"{path}.pathType", "pathType must be specified"))
    elif ptype in ("Exact", "Prefix"):
        if not value.startswith("/"):
            errs.append(errors.invalid_value(f"{path}.path", value, "must be an absolute path"))
        bad = [s for s in _INVALID_PATH_SEQUENCES if s in value]
        if bad:
            errs.append(errors.invalid_value(f"{path}.path", value, f"must not contain '{bad[0]}'"))
        for suffix in _INVALID_PATH_SUFFIXES:
            if value.endswith(suffix):
                errs.append(errors.invalid_value(f"{path}.path", value, f"cannot end with '{suffix}'"))
                break
    elif ptype == "ImplementationSpecific":
        if value and not value.startswith("/"):
            errs.append(errors.invalid_value(f"{path}.path", value, "must be an absolute path"))
    else:
        errs.append(errors.not_supported(f"{path}.pathType", ptype, PATH_TYPES))
    errs += _validate_backend(p.get("backend"), f"{path}.backend")
    return errs


class IngressStrategy(registry.Strategy):
    has_status = True
    tracks_generation = True

    def validate(self, obj: Obj) -> FieldErrors:
        return self.validate_spec(obj) + self.validate_create_only(obj)

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        # the annotation-and-field check applies to creates only, as upstream
        return self.validate_spec(new)

    def validate_spec(self, obj: Obj) -> FieldErrors:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            spec = {}
        errs: FieldErrors = []
        rules = spec.get("rules") or []
        default_backend = spec.get("defaultBackend")
        if not rules and default_backend is None:
            errs.append(errors.invalid_value("spec.rules", rules, "either `defaultBackend` or `rules` must be "
                                                                  "specified"))
        if default_backend is not None:
            errs += _validate_backend(default_backend, "spec.defaultBackend")
        for i, rule in enumerate(rules):
            rp = f"spec.rules[{i}]"
            if not isinstance(rule, dict):
                errs.append(errors.type_invalid(rp, rule, "must be an object"))
                continue
            if rule.get("host"):
                errs += _validate_host(str(rule["host"]), f"{rp}.host")
            http = rule.get("http")
            if http is not None:
                paths = (http or {}).get("paths") or []
                if not paths:
                    errs.append(errors.required(f"{rp}.http.paths", ""))
                for j, p in enumerate(paths):
                    errs += _validate_path(p, f"{rp}.http.paths[{j}]")
        for i, tls in enumerate(spec.get("tls") or []):
            if not isinstance(tls, dict):
                continue
            for j, host in enumerate(tls.get("hosts") or []):
                errs += _validate_host(str(host), f"spec.tls[{i}].hosts[{j}]")
            if tls.get("secretName"):
                errs += validation.validate_str_with(tls["secretName"], f"spec.tls[{i}].secretName",
                                                     validation.dns1123_subdomain)
        cls = spec.get("ingressClassName")
        if cls is not None:
            errs += validation.validate_str_with(cls, "spec.ingressClassName", validation.dns1123_subdomain)
        return errs

    def validate_create_only(self, obj: Obj) -> FieldErrors:
        annotations = dig(obj, "metadata", "annotations") or {}
        if dig(obj, "spec", "ingressClassName") is not None and INGRESS_CLASS_ANNOTATION in annotations:
            return [errors.invalid_value(f"annotations.{INGRESS_CLASS_ANNOTATION}",
                                         annotations[INGRESS_CLASS_ANNOTATION],
                                         "can not be set when the class field is also set")]
        return []

    def validate_status_update(self, new: Obj, old: Obj) -> FieldErrors:
        errs: FieldErrors = []
        for i, ing in enumerate(dig(new, "status", "loadBalancer", "ingress") or []):
            if isinstance(ing, dict) and ing.get("ip") and not _is_ip(str(ing["ip"])):
                errs.append(errors.invalid_value(f"status.loadBalancer.ingress[{i}].ip", ing["ip"],
                                                 "must be a valid IP address"))
        return errs

    def columns(self) -> list[Column]:
        return [
            registry.NAME_COLUMN,
            Column("Class", lambda o: dig(o, "spec", "ingressClassName") or "<none>",
                   description="The name of the IngressClass resource that should be used for ingress."),
            Column("Hosts", hosts_cell, description="Hosts that incoming requests are matched against before the "
                                                    "ingress rule"),
            Column("Address", address_cell, description="Address is a list containing ingress points for the "
                                                        "load-balancer"),
            Column("Ports", lambda o: "80, 443" if dig(o, "spec", "tls") else "80",
                   description="Ports of TLS configurations that open"),
            registry.AGE_COLUMN,
        ]


def hosts_cell(obj: Obj) -> str:
    rules = [r for r in dig(obj, "spec", "rules") or [] if isinstance(r, dict)]
    hosts = [r["host"] for r in rules[:3] if r.get("host")]
    if not hosts:
        return "*"
    text = ",".join(hosts)
    if len(rules) > 3:
        text += f" + {len(rules) - 3} more..."
    return text


def address_cell(obj: Obj) -> str:
    points = [p for p in dig(obj, "status", "loadBalancer", "ingress") or [] if isinstance(p, dict)]
    text = ",".join(str(p.get("ip") or p.get("hostname") or "") for p in points if p.get("ip") or p.get("hostname"))
    if len(text) > 16:
        text = text[:13] + "..."
    return text


class IngressClassStrategy(registry.Strategy):
    def default(self, obj: Obj) -> None:
        params = dig(obj, "spec", "parameters")
        if isinstance(params, dict) and not params.get("scope"):
            params["scope"] = "Cluster"

    def validate(self, obj: Obj) -> FieldErrors:
        spec = obj.get("spec")
        spec = spec if isinstance(spec, dict) else {}
        errs: FieldErrors = []
        controller = spec.get("controller")
        if not controller:
            errs.append(errors.required("spec.controller", ""))
        elif not isinstance(controller, str):
            errs.append(errors.type_invalid("spec.controller", controller, "must be a string"))
        else:
            if len(controller) > 250:
                errs.append(errors.too_long("spec.controller", controller, 250))
            errs += _domain_prefixed_path(controller, "spec.controller")
        params = spec.get("parameters")
        if isinstance(params, dict):
            pp = "spec.parameters"
            for key in ("kind", "name"):
                if not params.get(key):
                    errs.append(errors.required(f"{pp}.{key}", ""))
            scope = params.get("scope")
            errs += validation.validate_enum(scope, f"{pp}.scope", ["Cluster", "Namespace"], required=True)
            if scope == "Namespace" and not params.get("namespace"):
                errs.append(errors.required(f"{pp}.namespace", "`parameters.scope` is set to 'Namespace'"))
            if scope == "Cluster" and params.get("namespace"):
                errs.append(errors.forbidden(f"{pp}.namespace", "`parameters.scope` is set to 'Cluster'"))
        return errs

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        return self.validate(new) + validation.validate_immutable(
            dig(new, "spec", "controller"), dig(old, "spec", "controller"), "spec.controller")

    def columns(self) -> list[Column]:
        def parameters(o: Obj) -> str:
            params = dig(o, "spec", "parameters")
            if not isinstance(params, dict):
                return "<none>"
            kind = params.get("kind", "")
            if params.get("apiGroup"):
                kind += "." + params["apiGroup"]
            return f"{kind}/{params.get('name', '')}"

        return [
            registry.NAME_COLUMN,
            Column("Controller", lambda o: dig(o, "spec", "controller") or "",
                   description="Controller that is responsible for handling this class"),
            Column("Parameters", parameters, description="A reference to a resource with additional parameters"),
            registry.AGE_COLUMN,
        ]


def _domain_prefixed_path(value: str, path: str) -> FieldErrors:
    host, sep, rest = value.partition("/")
    if not sep or not host or not rest:
        return [errors.invalid_value(path, value, 'must be a domain-prefixed path (such as "acme.io/foo")')]
    errs = [errors.invalid_value(path, host, m) for m in validation.dns1123_subdomain(host)]
    if not _DOMAIN_PREFIXED_RE.match(rest):
        errs.append(errors.invalid_value(path, rest, "Invalid path"))
    return errs


# ---- network policies ----------------------------------------------------------------


def _validate_np_port(port: Any, path: str) -> FieldErrors:
    if not isinstance(port, dict):
        return [errors.type_invalid(path, port, "must be an object")]
    errs = validation.validate_enum(port.get("protocol"), f"{path}.protocol", PROTOCOLS)
    number, end = port.get("port"), port.get("endPort")
    if isinstance(number, str):
        errs += [errors.invalid_value(f"{path}.port", number, m) for m in validation.port_name(number)]
        if end is not None:
            errs.append(errors.forbidden(f"{path}.endPort", "may not be specified when `port` is non-numeric"))
    elif number is not None:
        errs += [errors.invalid_value(f"{path}.port", number, m) for m in validation.port_number(number)]
        if end is not None:
            if validation.is_int(end) and validation.is_int(number) and end < number:
                errs.append(errors.invalid_value(f"{path}.endPort", end, "must be greater than or equal to `port`"))
            errs += [errors.invalid_value(f"{path}.endPort", end, m) for m in validation.port_number(end)]
    elif end is not None:
        errs.append(errors.required(f"{path}.port", "must be specified when `endPort` is specified"))
    return errs


def _validate_ip_block(block: Any, path: str) -> FieldErrors:
    if not isinstance(block, dict):
        return [errors.type_invalid(path, block, "must be an object")]
    cidr = block.get("cidr")
    if not cidr:
        return [errors.required(f"{path}.cidr", "")]
    try:
        net = ipaddress.ip_network(str(cidr), strict=False)
    except ValueError:
        return [errors.invalid_value(f"{path}.cidr", cidr, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or "
                                                           "2001:db8::/64)")]
    errs: FieldErrors = []
    for i, exc in enumerate(block.get("except") or []):
        ep = f"{path}.except[{i}]"
        try:
            sub = ipaddress.ip_network(str(exc), strict=False)
        except ValueError:
            errs.append(errors.invalid_value(ep, exc, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or "
                                                      "2001:db8::/64)"))
            continue
        if sub.version != net.version or not sub.subnet_of(net) or sub.prefixlen <= net.prefixlen:  # type: ignore
            errs.append(errors.invalid_value(ep, exc, "must be a strict subset of `cidr`"))
    return errs


def _validate_peer(peer: Any, path: str) -> FieldErrors:
    if not isinstance(peer, dict):
        return [errors.type_invalid(path, peer, "must be an object")]
    errs: FieldErrors = []
    selectors = 0
    for key in ("podSelector", "namespaceSelector"):
        if peer.get(key) is not None:
            selectors = 1
            errs += validation.validate_label_selector(peer[key], f"{path}.{key}")
    block = peer.get("ipBlock")
    peers = selectors + (1 if block is not None else 0)
    if block is not None:
        errs += _validate_ip_block(block, f"{path}.ipBlock")
    if peers == 0:
        errs.append(errors.required(path, "must specify a peer"))
    elif peers > 1:
        errs.append(errors.forbidden(path, "may not specify both ipBlock and another peer"))
    return errs


class NetworkPolicyStrategy(registry.Strategy):
    tracks_generation = True

    def default(self, obj: Obj) -> None:
        spec = apps.ensure(obj, "spec")
        for direction in ("ingress", "egress"):
            for rule in spec.get(direction) or []:
                for port in (rule or {}).get("ports") or []:
                    if isinstance(port, dict) and not port.get("protocol"):
                        port["protocol"] = "TCP"
        if not spec.get("policyTypes"):
            types = ["Ingress"]
            if spec.get("egress"):
                types.append("Egress")
            spec["policyTypes"] = types

    def validate(self, obj: Obj) -> FieldErrors:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [errors.required("spec", "")]
        errs = validation.validate_label_selector(spec.get("podSelector"), "spec.podSelector")
        for direction, peers_key in (("ingress", "from"), ("egress", "to")):
            for i, rule in enumerate(spec.get(direction) or []):
                rp = f"spec.{direction}[{i}]"
                if not isinstance(rule, dict):
                    errs.append(errors.type_invalid(rp, rule, "must be an object"))
                    continue
                for j, port in enumerate(rule.get("ports") or []):
                    errs += _validate_np_port(port, f"{rp}.ports[{j}]")
                for j, peer in enumerate(rule.get(peers_key) or []):
                    errs += _validate_peer(peer, f"{rp}.{peers_key}[{j}]")
        types = spec.get("policyTypes") or []
        for i, t in enumerate(types):
            errs += validation.validate_enum(t, f"spec.policyTypes[{i}]", POLICY_TYPES, required=True)
        if len(types) > 2:
            errs.append(errors.invalid_value("spec.policyTypes", types, "may not specify more than two policyTypes"))
        return errs

    def columns(self) -> list[Column]:
        return [
            registry.NAME_COLUMN,
            Column("Pod-Selector", lambda o: apps.selector_string(dig(o, "spec", "podSelector")),
                   description="Selects the pods to which this NetworkPolicy object applies."),
            registry.AGE_COLUMN,
        ]


RESOURCES: list[registry.Resource] = [
    registry.Resource(GROUP, "v1", "Ingress", "ingresses", True, IngressStrategy(), short_names=("ing",),
                      schema="io.k8s.api.networking.v1.Ingress"),
    registry.Resource(GROUP, "v1", "IngressClass", "ingressclasses", False, IngressClassStrategy(),
                      schema="io.k8s.api.networking.v1.IngressClass"),
    registry.Resource(GROUP, "v1", "NetworkPolicy", "networkpolicies", True, NetworkPolicyStrategy(),
                      short_names=("netpol",), schema="io.k8s.api.networking.v1.NetworkPolicy"),
]
