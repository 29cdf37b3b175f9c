"""storage.k8s.io/v1: StorageClasses and the CSI kinds."""

import copy

from kubeling.api.kinds import storage

SC, DRIVER, NODE, VA, CAP = (r.strategy for r in storage.RESOURCES)


def _fields(errs):
    return [(e.type, e.field) for e in errs]


def test_storage_class_defaults_validation_table():
    obj = {"metadata": {"name": "fast", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
           "provisioner": "rancher.io/local-path", "parameters": {"type": "ssd"}}
    SC.default(obj)
    assert (obj["reclaimPolicy"], obj["volumeBindingMode"]) == ("Delete", "Immediate")
    assert SC.validate(obj) == []
    cells = [c.cell(obj) for c in SC.columns()]
    assert cells[:5] == ["fast (default)", "rancher.io/local-path", "Delete", "Immediate", False]
    bad = {"reclaimPolicy": "Recycle", "volumeBindingMode": "Later"}
    assert _fields(SC.validate(bad)) == [("Required", "provisioner"), ("NotSupported", "reclaimPolicy"),
                                         ("NotSupported", "volumeBindingMode")]


def test_storage_class_update_rules():
    old = {"metadata": {"name": "s"}, "provisioner": "a.io/b", "parameters": {"x": "1"}}
    SC.default(old)
    new = copy.deepcopy(old)
    new.update(provisioner="c.io/d", parameters={"x": "2"}, reclaimPolicy="Retain",
               volumeBindingMode="WaitForFirstConsumer", allowVolumeExpansion=True)
    errs = SC.validate_update(new, old)
    assert _fields(errs) == [("Forbidden", "parameters"), ("Forbidden", "provisioner"),
                             ("Forbidden", "reclaimPolicy"), ("Invalid", "volumeBindingMode")]
    assert errs[0].message() == "Forbidden: updates to parameters are forbidden."
    ok = copy.deepcopy(old)
    ok["allowVolumeExpansion"] = True
    assert SC.validate_update(ok, old) == []


def test_csi_driver():
    obj = {"metadata": {"name": "csi.example.com"}, "spec": {}}
    DRIVER.default(obj)
    assert obj["spec"]["attachRequired"] is True and obj["spec"]["volumeLifecycleModes"] == ["Persistent"]
    assert DRIVER.validate(obj) == []
    new = copy.deepcopy(obj)
    new["spec"]["attachRequired"] = False
    assert _fields(DRIVER.validate_update(new, obj)) == [("Invalid", "spec.attachRequired")]
    assert [c.cell(obj) for c in DRIVER.columns()][1:3] == ["true", "false"]


def test_csi_node():
    obj = {"metadata": {"name": "n"}, "spec": {"drivers": [{"name": "csi.example.com", "nodeID": "n1"},
                                                           {"name": "csi.example.com"}]}}
    assert _fields(NODE.validate(obj)) == [("Duplicate", "spec.drivers[1].name"),
                                           ("Required", "spec.drivers[1].nodeID")]
    assert [c.cell(obj) for c in NODE.columns()][1] == 2


def test_volume_attachment():
    obj = {"metadata": {"name": "va"}, "spec": {"attacher": "csi.example.com", "nodeName": "node-1",
                                                 "source": {"persistentVolumeName": "pv1"}}}
    assert VA.validate(obj) == [] and VA.has_status
    bad = {"spec": {"source": {}}}
    assert _fields(VA.validate(bad)) == [("Required", "spec.attacher"), ("Invalid", "spec.source"),
                                         ("Required", "spec.nodeName")]
    new = copy.deepcopy(obj)
    new["spec"]["nodeName"] = "node-2"
    assert _fields(VA.validate_update(new, obj)) == [("Invalid", "spec")]
    obj["status"] = {"attached": True}
    assert [c.cell(obj) for c in VA.columns()][1:5] == ["csi.example.com", "pv1", "node-1", True]


def test_csi_storage_capacity():
    obj = {"metadata": {"name": "c", "namespace": "d"}, "storageClassName": "fast", "capacity": "10Gi"}
    assert CAP.validate(obj) == []
    assert _fields(CAP.validate({"capacity": "lots"})) == [("Required", "storageClassName"), ("Invalid", "capacity")]
