"""apps/v1 strategies: defaults, validation paths, tables, scale selectors."""

from __future__ import annotations

import copy

from kubeling.api.kinds import apps

DEPLOY, RS, STS, DS, CR = (r.strategy for r in apps.RESOURCES)


def _template(labels=None, restart=None):
    spec = {"containers": [{"name": "web", "image": "nginx:1.25"}]}
    if restart:
        spec["restartPolicy"] = restart
    return {"metadata": {"labels": labels if labels is not None else {"app": "web"}}, "spec": spec}


def _obj(kind, **spec):
    body = {"selector": {"matchLabels": {"app": "web"}}, "template": _template()}
    body.update(spec)
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "x", "namespace": "default"}, "spec": body}


def _defaulted(strategy, obj):
    strategy.default(obj)
    return obj


def _fields(errs):
    return [(e.type, e.field) for e in errs]


def test_deployment_defaults_are_upstreams_and_idempotent():
    obj = _defaulted(DEPLOY, _obj("Deployment"))
    spec = obj["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    assert spec["template"]["spec"]["restartPolicy"] == "Always"
    again = copy.deepcopy(obj)
    DEPLOY.default(again)
    assert again == obj
    assert DEPLOY.validate(obj) == []


def test_recreate_strategy_gets_no_rolling_update():
    obj = _defaulted(DEPLOY, _obj("Deployment", strategy={"type": "Recreate"}))
    assert obj["spec"]["strategy"] == {"type": "Recreate"}
    obj["spec"]["strategy"]["rollingUpdate"] = {}
    assert _fields(DEPLOY.validate(obj)) == [("Forbidden", "spec.strategy.rollingUpdate")]


def test_selector_must_match_template_labels():
    obj = _defaulted(DEPLOY, _obj("Deployment", template=_template({"app": "other"})))
    errs = DEPLOY.validate(obj)
    assert _fields(errs) == [("Invalid", "spec.template.metadata.labels")]
    assert "`selector` does not match template `labels`" in errs[0].message()


def test_selector_required_and_not_empty():
    obj = _defaulted(DEPLOY, _obj("Deployment"))
    del obj["spec"]["selector"]
    assert ("Required", "spec.selector") in _fields(DEPLOY.validate(obj))
    obj["spec"]["selector"] = {}
    errs = DEPLOY.validate(obj)
    assert _fields(errs) == [("Invalid", "spec.selector")]
    assert "empty selector is invalid for deployment" in errs[0].message()


def test_selector_is_immutable():
    old = _defaulted(DEPLOY, _obj("Deployment"))
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"matchLabels": {"app": "web", "tier": "x"}}
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    errs = DEPLOY.validate_update(new, old)
    assert _fields(errs) == [("Invalid", "spec.selector")]
    assert errs[0].message().endswith("field is immutable")


def test_rolling_update_bounds():
    obj = _defaulted(DEPLOY, _obj("Deployment", replicas=-1,
                                  strategy={"type": "RollingUpdate",
                                            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}}))
    errs = DEPLOY.validate(obj)
    assert ("Invalid", "spec.replicas") in _fields(errs)
    assert ("Invalid", "spec.strategy.rollingUpdate.maxUnavailable") in _fields(errs)
    obj["spec"]["strategy"]["rollingUpdate"] = {"maxUnavailable": "150%", "maxSurge": "x"}
    errs = DEPLOY.validate(obj)
    msgs = {e.field: e.message() for e in errs}
    assert "must not be greater than 100%" in msgs["spec.strategy.rollingUpdate.maxUnavailable"]
    assert "must be an integer or percentage" in msgs["spec.strategy.rollingUpdate.maxSurge"]


def test_progress_deadline_must_exceed_min_ready():
    obj = _defaulted(DEPLOY, _obj("Deployment", minReadySeconds=700))
    assert _fields(DEPLOY.validate(obj)) == [("Invalid", "spec.progressDeadlineSeconds")]


def test_workload_templates_must_restart_always():
    obj = _defaulted(DEPLOY, _obj("Deployment", template=_template(restart="Never")))
    errs = DEPLOY.validate(obj)
    assert _fields(errs) == [("NotSupported", "spec.template.spec.restartPolicy")]
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    obj["spec"]["template"]["spec"]["activeDeadlineSeconds"] = 5
    assert ("Forbidden", "spec.template.spec.activeDeadlineSeconds") in _fields(DEPLOY.validate(obj))


def test_pod_template_errors_carry_full_paths():
    obj = _defaulted(DEPLOY, _obj("Deployment"))
    obj["spec"]["template"]["spec"]["containers"][0]["name"] = "Bad_Name"
    assert any(f.startswith("spec.template.spec.containers[0].name") for _, f in _fields(DEPLOY.validate(obj)))


def test_deployment_status_relations():
    old = _defaulted(DEPLOY, _obj("Deployment"))
    new = copy.deepcopy(old)
    new["status"] = {"replicas": 1, "readyReplicas": 2, "availableReplicas": 1, "updatedReplicas": -1}
    fields = _fields(DEPLOY.validate_status_update(new, old))
    assert ("Invalid", "status.readyReplicas") in fields
    assert ("Invalid", "status.updatedReplicas") in fields


def test_deployment_table():
    obj = _defaulted(DEPLOY, _obj("Deployment", replicas=3))
    obj["status"] = {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
    cols = DEPLOY.columns()
    assert [c.name for c in cols] == ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images",
                                      "Selector"]
    cells = {c.name: c.cell(obj) for c in cols}
    assert cells["Ready"] == "2/3" and cells["Up-to-date"] == 3 and cells["Available"] == 2
    assert cells["Containers"] == "web" and cells["Images"] == "nginx:1.25" and cells["Selector"] == "app=web"
    assert [c.priority for c in cols][-3:] == [1, 1, 1]


def test_scale_selector_and_subresources():
    res = apps.RESOURCES[0]
    assert res.subresources == ("scale",) and res.scale is not None
    assert res.scale.selector(_obj("Deployment")) == "app=web"
    assert res.short_names == ("deploy",) and res.categories == ("all",)
    assert res.strategy.has_status and res.strategy.tracks_generation


def test_replicaset_defaults_table_and_field_selector():
    obj = _defaulted(RS, _obj("ReplicaSet"))
    assert obj["spec"]["replicas"] == 1 and "revisionHistoryLimit" not in obj["spec"]
    assert RS.validate(obj) == []
    obj["status"] = {"replicas": 1, "readyReplicas": 1}
    assert [c.cell(obj) for c in RS.columns()[1:4]] == [1, 1, 1]
    assert RS.field_values(obj) == {"status.replicas": "1"}
    assert RS.field_values({"metadata": {}}) == {"status.replicas": "0"}


def test_statefulset_defaults():
    obj = _obj("StatefulSet", serviceName="web",
               volumeClaimTemplates=[{"metadata": {"name": "data"},
                                      "spec": {"accessModes": ["ReadWriteOnce"],
                                               "resources": {"requests": {"storage": "1Gi"}}}}])
    STS.default(obj)
    spec = obj["spec"]
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    assert spec["revisionHistoryLimit"] == 10 and spec["replicas"] == 1
    assert spec["volumeClaimTemplates"][0]["spec"]["volumeMode"] == "Filesystem"
    assert spec["volumeClaimTemplates"][0]["status"] == {"phase": "Pending"}
    again = copy.deepcopy(obj)
    STS.default(again)
    assert again == obj
    assert STS.validate(obj) == []


def test_statefulset_validation():
    obj = _defaulted(STS, _obj("StatefulSet", podManagementPolicy="Sometimes"))
    obj["spec"]["updateStrategy"] = {"type": "OnDelete", "rollingUpdate": {"partition": 1}}
    obj["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] = "Keep"
    fields = _fields(STS.validate(obj))
    assert ("Invalid", "spec.podManagementPolicy") in fields
    assert ("Invalid", "spec.updateStrategy.rollingUpdate") in fields
    assert ("NotSupported", "spec.persistentVolumeClaimRetentionPolicy.whenDeleted") in fields
    obj = _defaulted(STS, _obj("StatefulSet"))
    obj["spec"]["selector"] = {}
    errs = STS.validate(obj)
    assert "empty selector is invalid for statefulset" in errs[0].message()


def test_statefulset_update_only_some_fields():
    old = _defaulted(STS, _obj("StatefulSet", serviceName="web"))
    new = copy.deepcopy(old)
    new["spec"]["replicas"] = 5
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:2"
    new["spec"]["updateStrategy"]["rollingUpdate"]["partition"] = 2
    assert STS.validate_update(new, old) == []
    new["spec"]["serviceName"] = "other"
    errs = STS.validate_update(new, old)
    assert _fields(errs) == [("Forbidden", "spec")]
    assert "updates to statefulset spec for fields other than 'replicas'" in errs[0].message()


def test_statefulset_table():
    obj = _defaulted(STS, _obj("StatefulSet", replicas=3))
    obj["status"] = {"readyReplicas": 1}
    assert [c.name for c in STS.columns() if c.priority == 0] == ["Name", "Ready", "Age"]
    assert STS.columns()[1].cell(obj) == "1/3"


def test_daemonset_defaults_and_strategy_rules():
    obj = _defaulted(DS, _obj("DaemonSet"))
    assert obj["spec"]["updateStrategy"] == {"type": "RollingUpdate",
                                             "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
    assert obj["spec"]["revisionHistoryLimit"] == 10 and "replicas" not in obj["spec"]
    assert DS.validate(obj) == []
    obj["spec"]["updateStrategy"]["rollingUpdate"] = {"maxUnavailable": 0, "maxSurge": 0}
    assert _fields(DS.validate(obj)) == [("Required", "spec.updateStrategy.rollingUpdate.maxUnavailable")]
    obj["spec"]["updateStrategy"]["rollingUpdate"] = {"maxUnavailable": 1, "maxSurge": 1}
    assert _fields(DS.validate(obj)) == [("Invalid", "spec.updateStrategy.rollingUpdate.maxSurge")]
    obj["spec"]["updateStrategy"] = {"type": "Sometimes"}
    assert _fields(DS.validate(obj)) == [("NotSupported", "spec.updateStrategy.type")]


def test_daemonset_table():
    obj = _defaulted(DS, _obj("DaemonSet"))
    obj["spec"]["template"]["spec"]["nodeSelector"] = {"b": "2", "a": "1"}
    obj["status"] = {"desiredNumberScheduled": 3, "currentNumberScheduled": 2, "numberReady": 1,
                     "updatedNumberScheduled": 2, "numberAvailable": 1}
    cells = {c.name: c.cell(obj) for c in DS.columns()}
    assert [cells[k] for k in ("Desired", "Current", "Ready", "Up-to-date", "Available")] == [3, 2, 1, 2, 1]
    assert cells["Node Selector"] == "a=1,b=2"
    del obj["spec"]["template"]["spec"]["nodeSelector"]
    assert {c.name: c.cell(obj) for c in DS.columns()}["Node Selector"] == "<none>"


def test_controller_revision():
    obj = {"metadata": {"name": "r", "namespace": "d",
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "ds",
                                             "uid": "u", "controller": True}]},
           "revision": 2}
    assert _fields(CR.validate(obj)) == [("Required", "data")]
    obj["data"] = {"spec": {}}
    new = copy.deepcopy(obj)
    new["data"] = {"spec": {"x": 1}}
    assert _fields(CR.validate_update(new, obj)) == [("Invalid", "data")]
    cells = [c.cell(obj) for c in CR.columns()]
    assert cells[1:3] == ["daemonset.apps/ds", 2]


def test_int_or_percent_helpers():
    assert apps.int_or_percent_value("30%") == 30
    assert apps.int_or_percent_value(3) == 3
    assert apps.int_or_percent_value("x") is None
    assert apps.validate_int_or_percent(-1, "p")[0].message() == "Invalid value: -1: must be greater than or equal to 0"
