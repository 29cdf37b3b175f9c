"""The other core/v1 kinds: RESOURCES table, defaults, validation, tables, field selectors."""

from __future__ import annotations

import base64
import copy

import pytest

from kubeling.api.kinds import core

BY_PLURAL = {r.plural: r for r in core.RESOURCES}


def fields(errs):
    return [(e.type, e.field) for e in errs]


def strat(plural):
    return BY_PLURAL[plural].strategy


@pytest.mark.parametrize(
    "plural,kind,namespaced,short,cats,has_status",
    [
        ("pods", "Pod", True, ("po",), ("all",), True),
        ("services", "Service", True, ("svc",), ("all",), True),
        ("endpoints", "Endpoints", True, ("ep",), (), False),
        ("configmaps", "ConfigMap", True, ("cm",), (), False),
        ("secrets", "Secret", True, (), (), False),
        ("serviceaccounts", "ServiceAccount", True, ("sa",), (), False),
        ("events", "Event", True, ("ev",), (), False),
        ("namespaces", "Namespace", False, ("ns",), (), True),
        ("nodes", "Node", False, ("no",), (), True),
        ("persistentvolumes", "PersistentVolume", False, ("pv",), (), True),
        ("persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), (), True),
        ("limitranges", "LimitRange", True, ("limits",), (), False),
        ("resourcequotas", "ResourceQuota", True, ("quota",), (), True),
        ("replicationcontrollers", "ReplicationController", True, ("rc",), ("all",), True),
        ("podtemplates", "PodTemplate", True, (), (), False),
    ],
)
def test_resource_table(plural, kind, namespaced, short, cats, has_status):
    r = BY_PLURAL[plural]
    assert (r.kind, r.namespaced, r.short_names, r.categories, r.has_status) == (
        kind, namespaced, short, cats, has_status)
    assert r.group == "" and r.version == "v1"
    assert r.schema == f"io.k8s.api.core.v1.{kind}"
    # listing asks for the supported field-selector keys with an empty object
    assert isinstance(r.strategy.field_values({"metadata": {}}), dict)
    assert r.strategy.columns()


def test_subresources_and_scale():
    assert BY_PLURAL["pods"].subresources == ("binding", "eviction", "log", "exec", "attach", "portforward",
                                                  "ephemeralcontainers")
    rc = BY_PLURAL["replicationcontrollers"]
    assert rc.subresources == ("scale",) and rc.strategy.tracks_generation
    assert rc.scale.selector({"spec": {"selector": {"b": "2", "a": "1"}}}) == "a=1,b=2"
    assert BY_PLURAL["nodes"].strategy.reset_status_on_create is False
    assert "deletecollection" not in BY_PLURAL["namespaces"].verbs


def test_column_names():
    names = {p: [c.name for c in strat(p).columns()] for p in BY_PLURAL}
    assert names["configmaps"] == ["Name", "Data", "Age"]
    assert names["secrets"] == ["Name", "Type", "Data", "Age"]
    assert names["namespaces"] == ["Name", "Status", "Age"]
    assert names["nodes"] == ["Name", "Status", "Roles", "Age", "Version", "Internal-IP", "External-IP",
                              "OS-Image", "Kernel-Version", "Container-Runtime"]
    assert names["endpoints"] == ["Name", "Endpoints", "Age"]
    assert [c.name for c in strat("events").columns() if c.priority == 0] == [
        "Last Seen", "Type", "Reason", "Object", "Message"]
    assert names["serviceaccounts"] == ["Name", "Secrets", "Age"]
    assert names["persistentvolumes"][:6] == ["Name", "Capacity", "Access Modes", "Reclaim Policy", "Status", "Claim"]
    assert names["persistentvolumeclaims"][:5] == ["Name", "Status", "Volume", "Capacity", "Access Modes"]
    assert names["replicationcontrollers"] == ["Name", "Desired", "Current", "Ready", "Age", "Containers",
                                               "Images", "Selector"]
    assert names["resourcequotas"] == ["Name", "Age", "Request", "Limit"]
    assert names["limitranges"] == ["Name", "Created At"]
    assert names["podtemplates"] == ["Template", "Containers", "Images", "Pod Labels"]


# ---- configmaps and secrets --------------------------------------------------------


def test_configmap_validation():
    s = strat("configmaps")
    assert s.validate({"data": {"a.conf": "x"}, "binaryData": {"b": base64.b64encode(b"x").decode()}}) == []
    errs = s.validate({"data": {"bad/key": "x", "dup": "1"}, "binaryData": {"dup": "eA==", "c": "!!"}})
    assert fields(errs) == [("Invalid", "data[bad/key]"), ("Invalid", "data[dup]"), ("Invalid", "binaryData[c]")]
    assert fields(s.validate({"data": {"big": "x" * (1024 * 1024 + 1)}})) == [("TooLong", "")]
    assert s.columns()[1].cell({"data": {"a": "1"}, "binaryData": {"b": ""}}) == 2


def test_configmap_immutable():
    s = strat("configmaps")
    old = {"data": {"a": "1"}, "immutable": True}
    assert s.validate_update(copy.deepcopy(old), old) == []
    assert fields(s.validate_update({"data": {"a": "2"}, "immutable": True}, old)) == [("Forbidden", "data")]
    assert fields(s.validate_update({"data": {"a": "1"}}, old)) == [("Forbidden", "immutable")]
    assert s.validate_update({"data": {"a": "2"}}, {"data": {"a": "1"}}) == []


def test_secret_defaults_and_validation():
    s = strat("secrets")
    obj = {"stringData": {"user": "admin"}, "data": {"x": "eQ=="}}
    s.default(obj)
    assert obj == {"type": "Opaque", "data": {"x": "eQ==", "user": base64.b64encode(b"admin").decode()}}
    again = copy.deepcopy(obj)
    s.default(again)
    assert again == obj
    assert s.validate(obj) == []
    assert fields(s.validate({"type": "Opaque", "data": {"a": "not base64!"}})) == [("Invalid", "data[a]")]
    assert fields(s.validate({"type": "kubernetes.io/tls", "data": {"tls.crt": ""}})) == [
        ("Required", "data[tls.key]")]
    assert fields(s.validate({"type": "kubernetes.io/service-account-token", "metadata": {}})) == [
        ("Required", "metadata.annotations[kubernetes.io/service-account.name]")]
    assert fields(s.validate_update({"type": "Other", "data": {}}, {"type": "Opaque", "data": {}})) == [
        ("Invalid", "type")]
    assert s.field_values({"type": "Opaque"}) == {"type": "Opaque"}


# ---- namespaces ------------------------------------------------------------------


def test_namespace():
    s = strat("namespaces")
    obj = {"metadata": {"name": "team-a"}}
    s.default(obj)
    s.prepare_for_create(obj)
    assert obj["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a"}
    assert obj["spec"] == {"finalizers": ["kubernetes"]}
    assert obj["status"] == {"phase": "Active"}
    assert s.validate(obj) == []
    assert fields(s.validate({"metadata": {"name": "a.b"}})) == [("Invalid", "metadata.name")]
    assert fields(s.validate({"metadata": {"name": "a"}, "spec": {"finalizers": ["nope"]}})) == [
        ("Invalid", "spec.finalizers")]
    assert s.field_values(obj) == {"status.phase": "Active"}
    assert s.columns()[1].cell(obj) == "Active"


def test_namespace_finalize_subresource():
    s = strat("namespaces")
    old = {"metadata": {"name": "a", "labels": {"x": "y"}}, "spec": {"finalizers": ["kubernetes"]},
           "status": {"phase": "Terminating"}}
    new = {"metadata": {"name": "a"}, "spec": {}}
    s.prepare_for_subresource("finalize", new, old)
    assert new == {"metadata": {"name": "a", "labels": {"x": "y"}}, "spec": {}, "status": {"phase": "Terminating"}}


# ---- nodes -----------------------------------------------------------------------


def test_node():
    s = strat("nodes")
    node = {"metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/control-plane": "",
                                                   "kubernetes.io/role": "worker"}},
            "spec": {"unschedulable": True, "taints": [{"key": "k", "effect": "NoSchedule"},
                                                       {"key": "k", "effect": "NoSchedule"},
                                                       {"key": "k2", "effect": "Never"}]},
            "status": {"capacity": {"cpu": "4", "memory": "8Gi"},
                       "conditions": [{"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                       "nodeInfo": {"kubeletVersion": "v1.32.0"}}}
    s.default(node)
    assert node["status"]["allocatable"] == {"cpu": "4", "memory": "8Gi"}
    assert fields(s.validate(node)) == [("Duplicate", "spec.taints[1]"), ("NotSupported", "spec.taints[2].effect")]
    cells = {c.name: c.cell(node) for c in s.columns()}
    assert cells["Status"] == "Ready,SchedulingDisabled"
    assert cells["Roles"] == "control-plane,worker"
    assert cells["Version"] == "v1.32.0"
    assert cells["Internal-IP"] == "10.0.0.1" and cells["External-IP"] == "<none>"
    assert core.node_status_cell({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}) == "NotReady"
    assert core.node_status_cell({}) == "Unknown"
    assert s.field_values(node) == {"spec.unschedulable": "true"}
    old = {"spec": {"podCIDR": "10.42.0.0/24"}}
    assert fields(s.validate_update({"spec": {"podCIDR": "10.42.1.0/24"}}, old)) == [("Forbidden", "spec.podCIDR")]
    assert s.validate_update({"spec": {"podCIDR": "10.42.0.0/24"}}, {"spec": {}}) == []


# ---- endpoints, events, service accounts ---------------------------------------------


def test_endpoints():
    s = strat("endpoints")
    ep = {"subsets": [{"addresses": [{"ip": "10.42.0.1"}, {"ip": "10.42.0.2"}], "ports": [{"port": 80}]}]}
    s.default(ep)
    assert ep["subsets"][0]["ports"][0]["protocol"] == "TCP"
    assert s.validate(ep) == []
    assert core.endpoints_cell(ep) == "10.42.0.1:80,10.42.0.2:80"
    many = {"subsets": [{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(5)], "ports": [{"port": 80}]}]}
    assert core.endpoints_cell(many) == "10.0.0.0:80,10.0.0.1:80,10.0.0.2:80 + 2 more..."
    assert core.endpoints_cell({}) == "<none>"
    bad = {"subsets": [{"addresses": [{"ip": "127.0.0.1"}, {"ip": "x"}],
                        "ports": [{"port": 0, "protocol": "TCP"}, {"port": 1, "name": "a", "protocol": "TCP"}]}]}
    assert fields(s.validate(bad)) == [
        ("Invalid", "subsets[0].addresses[0].ip"), ("Invalid", "subsets[0].addresses[1].ip"),
        ("Required", "subsets[0].ports[0].name"), ("Invalid", "subsets[0].ports[0].port")]


def test_events():
    s = strat("events")
    ev = {"metadata": {"name": "e", "namespace": "default"}, "type": "Normal", "reason": "Started",
          "message": "Started container", "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default",
                                                              "uid": "u", "fieldPath": "spec.containers{a}"},
          "source": {"component": "kubelet", "host": "n1"}, "lastTimestamp": "2024-01-01T00:00:00Z", "count": 2}
    assert s.validate(ev) == []
    other = copy.deepcopy(ev)
    other["involvedObject"]["namespace"] = "kube-system"
    assert fields(s.validate(other)) == [("Invalid", "involvedObject.namespace")]
    cells = {c.name: c.cell(ev) for c in s.columns()}
    assert cells["Object"] == "pod/web" and cells["Reason"] == "Started" and cells["Source"] == "kubelet, n1"
    assert cells["Count"] == 2
    fv = s.field_values(ev)
    assert fv["involvedObject.kind"] == "Pod" and fv["involvedObject.name"] == "web"
    assert fv["involvedObject.fieldPath"] == "spec.containers{a}" and fv["source"] == "kubelet"
    assert fv["reason"] == "Started" and fv["type"] == "Normal"


def test_serviceaccount():
    s = strat("serviceaccounts")
    assert s.validate({"secrets": [{"name": "tok"}]}) == []
    assert s.columns()[1].cell({"secrets": [{"name": "a"}]}) == 1


# ---- storage ---------------------------------------------------------------------------


def test_persistent_volume():
    s = strat("persistentvolumes")
    pv = {"spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/d"},
                   "claimRef": {"namespace": "default", "name": "c"}}}
    s.default(pv)
    s.prepare_for_create(pv)
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == "Retain" and pv["spec"]["volumeMode"] == "Filesystem"
    assert pv["status"] == {"phase": "Pending"}
    assert s.validate(pv) == []
    assert fields(s.validate({"spec": {"persistentVolumeReclaimPolicy": "Retain"}})) == [
        ("Required", "spec.accessModes"), ("Required", "spec.capacity"), ("Required", "spec")]
    changed = copy.deepcopy(pv)
    changed["spec"]["hostPath"]["path"] = "/other"
    assert fields(s.validate_update(changed, pv)) == [("Forbidden", "spec.persistentvolumesource")]
    cells = {c.name: c.cell(pv) for c in s.columns()}
    assert cells["Access Modes"] == "RWO" and cells["Claim"] == "default/c" and cells["Status"] == "Pending"


def test_persistent_volume_claim():
    s = strat("persistentvolumeclaims")
    pvc = {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    s.default(pvc)
    s.prepare_for_create(pvc)
    assert pvc["spec"]["volumeMode"] == "Filesystem" and pvc["status"] == {"phase": "Pending"}
    assert s.validate(pvc) == []
    assert fields(s.validate({"spec": {}})) == [("Required", "spec.accessModes"),
                                                ("Required", "spec.resources[storage]")]
    zero = {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "0"}}}}
    assert fields(s.validate(zero)) == [("Invalid", "spec.resources[storage]")]
    # binding sets volumeName once; other spec changes are refused
    bound = copy.deepcopy(pvc)
    bound["spec"]["volumeName"] = "pv1"
    assert s.validate_update(bound, pvc) == []
    grown = copy.deepcopy(pvc)
    grown["spec"]["resources"]["requests"]["storage"] = "2Gi"
    assert fields(s.validate_update(grown, pvc)) == [("Forbidden", "spec")]
    pvc_bound = copy.deepcopy(bound)
    pvc_bound["status"] = {"phase": "Bound"}
    grown = copy.deepcopy(pvc_bound)
    grown["spec"]["resources"]["requests"]["storage"] = "2Gi"
    assert s.validate_update(grown, pvc_bound) == []


# ---- limit ranges and quotas -------------------------------------------------------------


def test_limit_range():
    s = strat("limitranges")
    ok = {"spec": {"limits": [{"type": "Container", "min": {"cpu": "100m"}, "max": {"cpu": "2"},
                               "default": {"cpu": "1"}, "defaultRequest": {"cpu": "500m"}}]}}
    assert s.validate(ok) == []
    bad = {"spec": {"limits": [
        {"type": "Container", "min": {"cpu": "2"}, "max": {"cpu": "1"}, "default": {"cpu": "3"}},
        {"type": "Pod", "default": {"cpu": "1"}},
        {"type": "Other", "max": {"memory": "x"}},
    ]}}
    errs = s.validate(bad)
    assert fields(errs) == [
        ("Invalid", "spec.limits[0].min[cpu]"),
        ("Invalid", "spec.limits[0].default[cpu]"),
        ("Forbidden", "spec.limits[1].default"),
        ("NotSupported", "spec.limits[2].type"),
        ("Invalid", "spec.limits[2].max[memory]"),
    ]
    assert errs[0].message().endswith("min value 2 is greater than max value 1")


def test_resource_quota():
    s = strat("resourcequotas")
    assert s.validate({"spec": {"hard": {"pods": "10", "requests.cpu": "1"}}}) == []
    assert fields(s.validate({"spec": {"hard": {"pods": "many"}, "scopes": ["Sometimes"]}})) == [
        ("Invalid", "spec.hard[pods]"), ("NotSupported", "spec.scopes[0]")]
    q = {"status": {"hard": {"pods": "10", "limits.cpu": "2", "requests.cpu": "1"},
                    "used": {"pods": "1", "limits.cpu": "500m"}}}
    cells = {c.name: c.cell(q) for c in s.columns()}
    assert cells["Request"] == "pods: 1/10, requests.cpu: 0/1"
    assert cells["Limit"] == "limits.cpu: 500m/2"


# ---- replication controllers and pod templates ---------------------------------------------


def rc(**spec):
    base = {"template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "a", "image": "nginx"}]}}}
    base.update(spec)
    obj = {"metadata": {"name": "web", "namespace": "default"}, "spec": base}
    strat("replicationcontrollers").default(obj)
    return obj


def test_rc_defaults():
    obj = rc()
    assert obj["spec"]["replicas"] == 1
    assert obj["spec"]["selector"] == {"app": "web"}
    assert obj["metadata"]["labels"] == {"app": "web"}
    assert obj["spec"]["template"]["spec"]["restartPolicy"] == "Always"
    again = copy.deepcopy(obj)
    strat("replicationcontrollers").default(again)
    assert again == obj


def test_rc_validation():
    s = strat("replicationcontrollers")
    assert s.validate(rc()) == []
    errs = s.validate(rc(selector={"app": "other"}, replicas=-1))
    assert fields(errs) == [("Invalid", "spec.replicas"), ("Invalid", "spec.template.metadata.labels")]
    assert "`selector` does not match template `labels`" in errs[1].message()
    bad = rc()
    bad["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    bad["spec"]["template"]["spec"]["activeDeadlineSeconds"] = 5
    assert fields(s.validate(bad)) == [("NotSupported", "spec.template.spec.restartPolicy"),
                                       ("Forbidden", "spec.template.spec.activeDeadlineSeconds")]
    assert fields(s.validate({"spec": {"template": None}})) == [("Required", "spec.selector"),
                                                                ("Required", "spec.template")]
    st = {"status": {"replicas": 1, "readyReplicas": 2}}
    assert fields(s.validate_status_update(st, {})) == [("Invalid", "status.readyReplicas")]


def test_rc_generation_table_fields():
    s = strat("replicationcontrollers")
    obj = rc()
    s.prepare_for_create(obj)
    assert obj["metadata"]["generation"] == 1
    new = copy.deepcopy(obj)
    new["spec"]["replicas"] = 3
    s.prepare_for_update(new, obj)
    assert new["metadata"]["generation"] == 2
    new["status"] = {"replicas": 2, "readyReplicas": 1}
    cells = {c.name: c.cell(new) for c in s.columns()}
    assert (cells["Desired"], cells["Current"], cells["Ready"]) == (3, 2, 1)
    assert cells["Containers"] == "a" and cells["Images"] == "nginx" and cells["Selector"] == "app=web"
    assert s.field_values(new) == {"status.replicas": "2"}


def test_pod_template_kind():
    s = strat("podtemplates")
    obj = {"template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}
    s.default(obj)
    assert s.validate(obj) == []
    empty = {"template": {"spec": {"containers": []}}}
    s.default(empty)
    assert fields(s.validate(empty)) == [("Required", "template.spec.containers")]
    obj["metadata"] = {"name": "t"}
    cells = [c.cell(obj) for c in s.columns()]
    assert cells == ["t", "c", "x", "a=b"]
