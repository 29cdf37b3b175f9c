"""rbac.authorization.k8s.io/v1: roles, bindings and their rules."""

import copy

from kubeling.api.kinds import rbac

CRB, CR, RB, ROLE = (r.strategy for r in rbac.RESOURCES)


def _fields(errs):
    return [(e.type, e.field) for e in errs]


def test_rules():
    role = {"metadata": {"name": "r", "namespace": "d"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
                      {"apiGroups": [""], "resources": ["pods"]},
                      {"verbs": ["get"]},
                      {"nonResourceURLs": ["/healthz"], "verbs": ["get"]}]}
    errs = ROLE.validate(role)
    assert _fields(errs) == [("Required", "rules[1].verbs"), ("Required", "rules[2].apiGroups"),
                             ("Required", "rules[2].resources"), ("Invalid", "rules[3].nonResourceURLs")]
    assert errs[0].message() == "Required value: verbs must contain at least one value"
    cluster_role = {"metadata": {"name": "system:x"}, "rules": role["rules"][3:]}
    assert CR.validate(cluster_role) == []
    cluster_role["rules"][0]["resources"] = ["pods"]
    assert _fields(CR.validate(cluster_role)) == [("Invalid", "rules[0].nonResourceURLs")]


def test_aggregation_rule():
    assert _fields(CR.validate({"aggregationRule": {}})) == [("Required", "aggregationRule.clusterRoleSelectors")]
    assert CR.validate({"aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}}) == []


def test_names_are_path_segments():
    assert CR.name_fn("system:controller:x") == []
    assert CR.name_fn("a/b")


def _binding(**extra):
    obj = {"metadata": {"name": "b", "namespace": "d"}, "roleRef": {"kind": "Role", "name": "r"},
           "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "sa"}]}
    obj.update(extra)
    return obj


def test_binding_defaults_and_validation():
    obj = _binding()
    RB.default(obj)
    assert obj["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
    assert obj["subjects"][0]["apiGroup"] == "rbac.authorization.k8s.io" and obj["subjects"][1]["apiGroup"] == ""
    again = copy.deepcopy(obj)
    RB.default(again)
    assert again == obj and RB.validate(obj) == []
    crb = copy.deepcopy(obj)
    fields = _fields(CRB.validate(crb))
    assert fields == [("NotSupported", "roleRef.kind"), ("Required", "subjects[1].namespace")]
    bad = _binding(subjects=[{"kind": "Robot", "name": "x"}, {"kind": "User", "apiGroup": "x", "name": ""}])
    RB.default(bad)
    assert _fields(RB.validate(bad)) == [("NotSupported", "subjects[0].kind"), ("Required", "subjects[1].name"),
                                         ("NotSupported", "subjects[1].apiGroup")]


def test_role_ref_cannot_change():
    old = _binding()
    RB.default(old)
    new = copy.deepcopy(old)
    new["roleRef"]["name"] = "other"
    errs = RB.validate_update(new, old)
    assert _fields(errs) == [("Invalid", "roleRef")]
    assert errs[0].message().endswith("cannot change roleRef")


def test_tables():
    obj = _binding()
    obj["subjects"][1]["namespace"] = "d"
    cells = {c.name: c.cell(obj) for c in RB.columns()}
    assert (cells["Role"], cells["Users"], cells["ServiceAccounts"], cells["Groups"]) == ("Role/r", "alice", "d/sa", "")
    role = {"metadata": {"name": "r", "creationTimestamp": "2024-05-01T12:00:00Z"}}
    assert [c.name for c in ROLE.columns()] == ["Name", "Created At"]
    assert ROLE.columns()[1].cell(role) == "2024-05-01T12:00:00Z"
