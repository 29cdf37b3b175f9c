"""scheduling.k8s.io/v1 PriorityClasses."""

import copy

from kubeling.api.kinds import scheduling

PC = scheduling.RESOURCES[0].strategy


def _pc(name="high", value=1000, **extra):
    obj = {"metadata": {"name": name}, "value": value}
    obj.update(extra)
    PC.default(obj)
    return obj


def _fields(errs):
    return [(e.type, e.field) for e in errs]


def test_defaults_and_table():
    obj = _pc()
    assert obj["preemptionPolicy"] == "PreemptLowerPriority"
    assert PC.validate(obj) == []
    cells = {c.name: c.cell(obj) for c in PC.columns()}
    assert [c.name for c in PC.columns()] == ["Name", "Value", "Global-Default", "Age", "PreemptionPolicy"]
    assert (cells["Value"], cells["Global-Default"], cells["PreemptionPolicy"]) == (1000, False,
                                                                                    "PreemptLowerPriority")


def test_user_and_system_values():
    assert _fields(PC.validate(_pc(value=2_000_000_000))) == [("Forbidden", "value")]
    assert PC.validate(_pc("system-node-critical", 2_000_001_000)) == []
    errs = PC.validate(_pc("system-mine", 5))
    assert _fields(errs) == [("Forbidden", "metadata.name")]
    assert "reserved for system use only" in errs[0].message()
    assert _fields(PC.validate(_pc(preemptionPolicy="Sometimes"))) == [("NotSupported", "preemptionPolicy")]


def test_update_keeps_value_and_policy():
    old = _pc()
    new = copy.deepcopy(old)
    new["value"] = 5
    new["preemptionPolicy"] = "Never"
    errs = PC.validate_update(new, old)
    assert _fields(errs) == [("Forbidden", "value"), ("Invalid", "preemptionPolicy")]
    assert errs[0].message() == "Forbidden: may not be changed in an update."
