"""HorizontalPodAutoscaler: v2 defaults and validation, v1 <-> v2 conversion, table."""

from __future__ import annotations

import copy

from kubeling.api.kinds import autoscaling

V2, V1 = autoscaling.RESOURCES
HPA = V2.strategy


def _hpa(**spec):
    body = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 5}
    body.update(spec)
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "d"}, "spec": body}


def _fields(errs):
    return [(e.type, e.field) for e in errs]


def test_resources_share_storage():
    assert V1.version == "v1" and V2.version == "v2"
    assert V1.storage_version == V2.storage_version == "v2"
    assert V1.storage_prefix == V2.storage_prefix
    assert V1.strategy is V2.strategy and V1.short_names == ("hpa",)


def test_defaults():
    obj = _hpa()
    HPA.default(obj)
    assert obj["spec"]["minReplicas"] == 1
    assert obj["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
    assert "behavior" not in obj["spec"]
    again = copy.deepcopy(obj)
    HPA.default(again)
    assert again == obj
    assert HPA.validate(obj) == []


def test_behavior_defaults():
    obj = _hpa(behavior={"scaleDown": {"stabilizationWindowSeconds": 60}})
    HPA.default(obj)
    b = obj["spec"]["behavior"]
    assert b["scaleUp"]["policies"] == [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                        {"type": "Percent", "value": 100, "periodSeconds": 15}]
    assert b["scaleDown"] == {"stabilizationWindowSeconds": 60, "selectPolicy": "Max",
                              "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}
    assert HPA.validate(obj) == []


def test_validation():
    obj = _hpa(minReplicas=6, scaleTargetRef={"name": "a/b"})
    HPA.default(obj)
    obj["spec"]["metrics"].append({"type": "Pods"})
    obj["spec"]["metrics"].append({"type": "Resource", "resource": {"name": "memory",
                                                                    "target": {"type": "Utilization"}}})
    fields = _fields(HPA.validate(obj))
    assert ("Required", "spec.scaleTargetRef.kind") in fields
    assert ("Invalid", "spec.scaleTargetRef.name") in fields
    assert ("Invalid", "spec.maxReplicas") in fields
    assert ("Required", "spec.metrics[1].pods") in fields
    assert ("Required", "spec.metrics[2].resource.target.averageUtilization") in fields
    obj = _hpa(minReplicas=0, maxReplicas=0)
    fields = _fields(HPA.validate(obj))
    assert ("Invalid", "spec.minReplicas") in fields and ("Invalid", "spec.maxReplicas") in fields


def test_v1_to_v2_and_back():
    v1 = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler",
          "metadata": {"name": "web", "namespace": "d"},
          "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5,
                   "targetCPUUtilizationPercentage": 50},
          "status": {"currentReplicas": 2, "desiredReplicas": 2, "currentCPUUtilizationPercentage": 40}}
    v2 = V1.convert(copy.deepcopy(v1), "v2")
    assert v2["spec"]["metrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]
    assert v2["status"]["currentMetrics"][0]["resource"]["current"] == {"averageUtilization": 40}
    assert "targetCPUUtilizationPercentage" not in v2["spec"]
    back = V1.convert(v2, "v1")
    assert back["spec"] == v1["spec"] and back["status"] == v1["status"]
    assert "annotations" not in back["metadata"]


def test_v2_extras_survive_a_v1_round_trip():
    obj = _hpa(behavior={"scaleDown": {"stabilizationWindowSeconds": 60}})
    HPA.default(obj)
    obj["spec"]["metrics"].append({"type": "Pods", "pods": {"metric": {"name": "qps"},
                                                            "target": {"type": "AverageValue", "averageValue": "1k"}}})
    obj["status"] = {"currentReplicas": 1, "desiredReplicas": 1,
                     "conditions": [{"type": "AbleToScale", "status": "True"}]}
    v1 = autoscaling.convert(copy.deepcopy(obj), "v1")
    assert v1["spec"]["targetCPUUtilizationPercentage"] == 80
    assert autoscaling.METRICS_ANNOTATION in v1["metadata"]["annotations"]
    assert "metrics" not in v1["spec"] and "behavior" not in v1["spec"]
    assert autoscaling.convert(v1, "v2") == obj


def test_conversion_is_a_no_op_for_the_same_shape():
    obj = _hpa()
    assert autoscaling.convert(obj, "v2") is obj


def test_table():
    obj = _hpa()
    HPA.default(obj)
    obj["status"] = {"currentReplicas": 2, "currentMetrics": [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 35}}}]}
    cells = {c.name: c.cell(obj) for c in HPA.columns()}
    assert (cells["Reference"], cells["Targets"], cells["MinPods"], cells["MaxPods"], cells["Replicas"]) == (
        "Deployment/web", "cpu: 35%/80%", 1, 5, 2)
    v1 = autoscaling.convert(copy.deepcopy(obj), "v1")
    assert autoscaling.targets_cell(v1) == "cpu: 35%/80%"
    del obj["status"]
    assert autoscaling.targets_cell(obj) == "cpu: <unknown>/80%"
