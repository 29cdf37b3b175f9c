"""networking.k8s.io/v1: Ingresses, IngressClasses, NetworkPolicies."""

import copy

from kubeling.api.kinds import networking

ING, ICLASS, NETPOL = (r.strategy for r in networking.RESOURCES)


def _fields(errs):
    return [(e.type, e.field) for e in errs]


def _backend(name="web", **port):
    return {"service": {"name": name, "port": port or {"number": 80}}}


def _ing(**spec):
    body = {"rules": [{"host": "a.example.com", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": _backend()}]}}]}
    body.update(spec)
    return {"metadata": {"name": "i", "namespace": "d"}, "spec": body}


def test_valid_ingress_and_table():
    obj = _ing(ingressClassName="nginx", tls=[{"hosts": ["a.example.com"], "secretName": "tls"}])
    assert ING.validate(obj) == []
    obj["status"] = {"loadBalancer": {"ingress": [{"ip": "10.0.0.5"}]}}
    cells = {c.name: c.cell(obj) for c in ING.columns()}
    assert (cells["Class"], cells["Hosts"], cells["Address"], cells["Ports"]) == (
        "nginx", "a.example.com", "10.0.0.5", "80, 443")
    assert networking.hosts_cell({"spec": {"defaultBackend": {}}}) == "*"


def test_ingress_rules():
    assert _fields(ING.validate({"spec": {}})) == [("Invalid", "spec.rules")]
    obj = _ing(rules=[{"host": "10.0.0.1", "http": {"paths": [
        {"path": "rel", "pathType": "Exact", "backend": {}},
        {"path": "/x", "backend": _backend(name="web", name_="x")},
        {"path": "/y", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {}}}},
    ]}}])
    obj["spec"]["rules"][0]["http"]["paths"][1]["backend"] = {"service": {"name": "web", "port": {"number": 80}},
                                                              "resource": {"kind": "K", "name": "n"}}
    fields = _fields(ING.validate(obj))
    assert ("Invalid", "spec.rules[0].host") in fields
    assert ("Invalid", "spec.rules[0].http.paths[0].path") in fields
    assert ("Invalid", "spec.rules[0].http.paths[0].backend") in fields
    assert ("Required", "spec.rules[0].http.paths[1].pathType") in fields
    assert ("Invalid", "spec.rules[0].http.paths[1].backend") in fields
    assert ("Required", "spec.rules[0].http.paths[2].backend.service.port") in fields


def test_class_annotation_and_field_on_create_only():
    obj = _ing(ingressClassName="nginx")
    obj["metadata"]["annotations"] = {"kubernetes.io/ingress.class": "nginx"}
    assert _fields(ING.validate(obj)) == [("Invalid", "annotations.kubernetes.io/ingress.class")]
    assert ING.validate_update(obj, copy.deepcopy(obj)) == []


def test_ingress_class():
    obj = {"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx",
                                                  "parameters": {"kind": "Cfg", "name": "c", "apiGroup": "x.io"}}}
    ICLASS.default(obj)
    assert obj["spec"]["parameters"]["scope"] == "Cluster"
    assert ICLASS.validate(obj) == []
    assert [c.cell(obj) for c in ICLASS.columns()][1:3] == ["k8s.io/ingress-nginx", "Cfg.x.io/c"]
    bad = {"spec": {"controller": "nginx", "parameters": {"kind": "K", "name": "n", "scope": "Namespace"}}}
    fields = _fields(ICLASS.validate(bad))
    assert ("Invalid", "spec.controller") in fields and ("Required", "spec.parameters.namespace") in fields
    new = copy.deepcopy(obj)
    new["spec"]["controller"] = "k8s.io/other"
    assert _fields(ICLASS.validate_update(new, obj)) == [("Invalid", "spec.controller")]


def test_network_policy_defaults():
    obj = {"metadata": {"name": "n", "namespace": "d"},
           "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}], "egress": [{}]}}
    NETPOL.default(obj)
    assert obj["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert obj["spec"]["ingress"][0]["ports"][0]["protocol"] == "TCP"
    again = copy.deepcopy(obj)
    NETPOL.default(again)
    assert again == obj and NETPOL.validate(obj) == []
    assert [c.cell(obj) for c in NETPOL.columns()][1] == "<none>"


def test_network_policy_validation():
    obj = {"spec": {"podSelector": {}, "policyTypes": ["Ingress", "Sideways"], "ingress": [{
        "ports": [{"port": 80, "endPort": 70}, {"port": "http", "endPort": 90}],
        "from": [{}, {"podSelector": {}, "ipBlock": {"cidr": "10.0.0.0/8"}},
                 {"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.1.0.0/16"]}}]}]}}
    fields = _fields(NETPOL.validate(obj))
    for f in [("NotSupported", "spec.policyTypes[1]"), ("Invalid", "spec.ingress[0].ports[0].endPort"),
              ("Forbidden", "spec.ingress[0].ports[1].endPort"), ("Required", "spec.ingress[0].from[0]"),
              ("Forbidden", "spec.ingress[0].from[1]"), ("Invalid", "spec.ingress[0].from[2].ipBlock.except[0]")]:
        assert f in fields
