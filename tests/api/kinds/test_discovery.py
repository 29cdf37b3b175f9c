"""discovery.k8s.io/v1 EndpointSlices."""

import copy

from kubeling.api.kinds import discovery

ES = discovery.RESOURCES[0].strategy


def _slice(**extra):
    obj = {"metadata": {"name": "s", "namespace": "d"}, "addressType": "IPv4",
           "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}}],
           "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
    obj.update(extra)
    return obj


def _fields(errs):
    return [(e.type, e.field) for e in errs]


def test_defaults_and_valid_slice():
    obj = _slice(ports=[{"port": 80}])
    ES.default(obj)
    assert obj["ports"] == [{"port": 80, "name": "", "protocol": "TCP"}]
    again = copy.deepcopy(obj)
    ES.default(again)
    assert again == obj and ES.validate(obj) == []


def test_validation():
    obj = _slice(addressType="IPv5", endpoints=[{"addresses": []}, {"addresses": ["x"], "hostname": "A_B"}],
                 ports=[{"name": "a", "protocol": "TCP"}, {"name": "a", "protocol": "ICMP"}])
    fields = _fields(ES.validate(obj))
    assert ("NotSupported", "addressType") in fields
    assert ("Required", "endpoints[0].addresses") in fields
    assert ("Invalid", "endpoints[1].hostname") in fields
    assert ("Duplicate", "ports[1].name") in fields and ("NotSupported", "ports[1].protocol") in fields
    assert _fields(ES.validate(_slice(endpoints=[{"addresses": ["fe80::1"]}]))) == [
        ("Invalid", "endpoints[0].addresses[0]")]
    assert ("Required", "addressType") in _fields(ES.validate({"metadata": {}}))


def test_address_type_is_immutable():
    old = _slice()
    new = _slice(addressType="IPv6", endpoints=[])
    assert _fields(ES.validate_update(new, old)) == [("Invalid", "addressType")]


def test_table():
    obj = _slice(endpoints=[{"addresses": [f"10.0.0.{i}"]} for i in range(5)])
    cells = [c.cell(obj) for c in ES.columns()][1:4]
    assert cells == ["IPv4", "80", "10.0.0.0,10.0.0.1,10.0.0.2 + 2 more..."]
    assert discovery.ports_cell({}) == "<unset>" and discovery.endpoints_cell({}) == "<unset>"
