"""policy/v1 PodDisruptionBudgets."""

from kubeling.api.kinds import policy

PDB = policy.RESOURCES[0].strategy


def _fields(errs):
    return [(e.type, e.field) for e in errs]


def test_validation():
    ok = {"metadata": {"name": "p"}, "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"a": "b"}}}}
    assert PDB.validate(ok) == []
    both = {"spec": {"minAvailable": 1, "maxUnavailable": 1}}
    errs = PDB.validate(both)
    assert _fields(errs) == [("Invalid", "spec")]
    assert "minAvailable and maxUnavailable cannot be both set" in errs[0].message()
    bad = {"spec": {"maxUnavailable": "120%", "unhealthyPodEvictionPolicy": "Never"}}
    assert _fields(PDB.validate(bad)) == [("Invalid", "spec.maxUnavailable"),
                                          ("NotSupported", "spec.unhealthyPodEvictionPolicy")]
    assert _fields(PDB.validate({"spec": {"minAvailable": -1}})) == [("Invalid", "spec.minAvailable")]


def test_status_and_table():
    obj = {"metadata": {"name": "p"}, "spec": {"minAvailable": 2}, "status": {"disruptionsAllowed": 1}}
    assert PDB.validate_status_update(obj, obj) == []
    assert [c.cell(obj) for c in PDB.columns()][1:4] == ["2", "N/A", 1]
    neg = {"status": {"disruptionsAllowed": -1}}
    assert _fields(PDB.validate_status_update(neg, obj)) == [("Invalid", "status.disruptionsAllowed")]
    assert PDB.has_status and PDB.tracks_generation
