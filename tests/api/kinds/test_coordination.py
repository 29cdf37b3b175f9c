"""coordination.k8s.io/v1 Leases."""

from kubeling.api.kinds import coordination

LEASE = coordination.RESOURCES[0].strategy


def test_lease_validation_and_table():
    obj = {"metadata": {"name": "n"}, "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 40}}
    assert LEASE.validate(obj) == []
    assert [c.cell(obj) for c in LEASE.columns()][:2] == ["n", "node-1"]
    obj["spec"] = {"leaseDurationSeconds": 0, "leaseTransitions": -1, "preferredHolder": "x"}
    assert [(e.type, e.field) for e in LEASE.validate(obj)] == [
        ("Invalid", "spec.leaseDurationSeconds"), ("Invalid", "spec.leaseTransitions"),
        ("Forbidden", "spec.preferredHolder")]
    assert LEASE.validate({"metadata": {"name": "n"}}) == []
