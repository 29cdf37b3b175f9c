"""Services: defaults, validation, update rules, table."""

from __future__ import annotations

import copy

from kubeling.api.kinds import service

STRAT = service.ServiceStrategy()


def fields(errs):
    return [(e.type, e.field) for e in errs]


def svc(**spec):
    base = {"selector": {"app": "web"}, "ports": [{"port": 80}]}
    base.update(spec)
    obj = {"metadata": {"name": "web", "namespace": "default"}, "spec": base}
    STRAT.default(obj)
    return obj


def test_defaults():
    s = svc()["spec"]
    assert s["type"] == "ClusterIP"
    assert s["sessionAffinity"] == "None"
    assert s["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert s["internalTrafficPolicy"] == "Cluster"
    assert s["ipFamilyPolicy"] == "SingleStack" and s["ipFamilies"] == ["IPv4"]
    assert "externalTrafficPolicy" not in s
    np = svc(type="NodePort")["spec"]
    assert np["externalTrafficPolicy"] == "Cluster"
    lb = svc(type="LoadBalancer")["spec"]
    assert lb["allocateLoadBalancerNodePorts"] is True
    aff = svc(sessionAffinity="ClientIP")["spec"]
    assert aff["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    en = svc(type="ExternalName", externalName="example.com", ports=[])["spec"]
    assert "ipFamilies" not in en and "internalTrafficPolicy" not in en
    v6 = svc(clusterIP="fd00::10")["spec"]
    assert v6["clusterIPs"] == ["fd00::10"] and v6["ipFamilies"] == ["IPv6"]


def test_defaults_idempotent():
    for obj in (svc(), svc(type="LoadBalancer", sessionAffinity="ClientIP"), svc(ports=[{"port": 80, "targetPort": "http"}])):
        again = copy.deepcopy(obj)
        STRAT.default(again)
        assert again == obj


def test_valid():
    assert STRAT.validate(svc()) == []
    assert STRAT.validate(svc(type="NodePort", ports=[{"port": 80, "nodePort": 30080}])) == []
    assert STRAT.validate(svc(clusterIP="None", ports=[])) == []
    assert STRAT.validate(svc(type="ExternalName", externalName="db.example.com.", ports=[])) == []


def test_ports_rules():
    obj = svc(ports=[{"port": 80}, {"port": 80, "name": "a"}, {"name": "a", "port": 0, "protocol": "ICMP"},
                     {"name": "b", "port": 81, "targetPort": 70000}, {"name": "c", "port": 82, "nodePort": 30001}])
    assert fields(STRAT.validate(obj)) == [
        ("Required", "spec.ports[0].name"),
        ("Duplicate", "spec.ports[1]"),
        ("Duplicate", "spec.ports[2].name"),
        ("Invalid", "spec.ports[2].port"),
        ("NotSupported", "spec.ports[2].protocol"),
        ("Invalid", "spec.ports[2].targetPort"),  # defaulted from the bad port, as upstream
        ("Invalid", "spec.ports[3].targetPort"),
        ("Forbidden", "spec.ports[4].nodePort"),
    ]
    assert fields(STRAT.validate(svc(ports=[]))) == [("Required", "spec.ports")]


def test_node_port_range_and_type():
    errs = STRAT.validate(svc(type="NodePort", ports=[{"port": 80, "nodePort": 80}]))
    assert fields(errs) == [("Invalid", "spec.ports[0].nodePort")]
    assert "30000-32767" in errs[0].message()
    assert fields(STRAT.validate(svc(type="Magic"))) == [("NotSupported", "spec.type")]


def test_external_name_and_cluster_ip():
    assert fields(STRAT.validate(svc(type="ExternalName", ports=[]))) == [("Required", "spec.externalName")]
    assert fields(STRAT.validate(svc(clusterIP="nope"))) == [("Invalid", "spec.clusterIPs[0]")]
    assert fields(STRAT.validate(svc(sessionAffinity="Sticky"))) == [("NotSupported", "spec.sessionAffinity")]
    assert fields(STRAT.validate(svc(externalTrafficPolicy="Local"))) == [("Invalid", "spec.externalTrafficPolicy")]


def test_name_must_be_dns1035():
    obj = svc()
    obj["metadata"]["name"] = "1web"
    assert fields(STRAT.validate(obj)) == [("Invalid", "metadata.name")]
    obj["metadata"]["name"] = "Web"  # the store reports the subdomain rule; not twice
    assert STRAT.validate(obj) == []


def test_cluster_ip_immutable():
    old = svc(clusterIP="10.43.0.5")
    new = copy.deepcopy(old)
    new["spec"]["clusterIP"] = "10.43.0.6"
    new["spec"]["clusterIPs"] = ["10.43.0.6"]
    errs = STRAT.validate_update(new, old)
    assert fields(errs) == [("Invalid", "spec.clusterIP")]
    assert errs[0].message().endswith("field is immutable")
    ok = copy.deepcopy(old)
    ok["spec"]["ports"][0]["port"] = 8080
    assert STRAT.validate_update(ok, old) == []


def test_table():
    assert [c.name for c in STRAT.columns()] == ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age",
                                                 "Selector"]
    obj = svc(type="NodePort", clusterIP="10.43.0.5", ports=[{"port": 80, "nodePort": 30080, "name": "a"},
                                                               {"port": 53, "protocol": "UDP", "name": "b"}])
    assert service.cluster_ip_cell(obj) == "10.43.0.5"
    assert service.external_ip_cell(obj) == "<none>"
    assert service.ports_cell(obj) == "80:30080/TCP,53/UDP"
    assert service.selector_cell(obj) == "app=web"
    lb = svc(type="LoadBalancer")
    assert service.external_ip_cell(lb) == "<pending>"
    lb["status"] = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}
    assert service.external_ip_cell(lb) == "1.2.3.4"
    en = svc(type="ExternalName", externalName="example.com", ports=[])
    assert (service.cluster_ip_cell(en), service.external_ip_cell(en), service.ports_cell(en)) == (
        "<none>", "example.com", "<none>")
