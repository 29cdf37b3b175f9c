"""Pod specs, templates and the Pod kind: defaults, validation, update rules, table."""

from __future__ import annotations

import copy

from kubeling.api.kinds import core, pod

STRAT = core.PodStrategy()


def fields(errs):
    return [(e.type, e.field) for e in errs]


def new_pod(**spec):
    base = {"containers": [{"name": "app", "image": "nginx:1.25"}]}
    base.update(spec)
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"}, "spec": base}
    STRAT.default(obj)
    return obj


def test_pod_defaults():
    obj = new_pod()
    spec = obj["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["securityContext"] == {}
    assert spec["enableServiceLinks"] is True
    assert "preemptionPolicy" not in spec  # set by priority admission, not defaulting
    c = spec["containers"][0]
    assert c["imagePullPolicy"] == "IfNotPresent"
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "File"
    assert c["resources"] == {}


def test_pull_policy_follows_tag():
    for image, policy in [("nginx", "Always"), ("nginx:latest", "Always"), ("reg:5000/nginx", "Always"),
                          ("reg:5000/nginx:1", "IfNotPresent"), ("nginx@sha256:abc", "IfNotPresent")]:
        c = {"name": "a", "image": image}
        pod.default_container(c)
        assert c["imagePullPolicy"] == policy, image


def test_container_defaults_probes_ports_env_volumes():
    spec = {
        "containers": [{
            "name": "a", "image": "x",
            "ports": [{"containerPort": 80}],
            "env": [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "livenessProbe": {"httpGet": {"port": 80}},
            "readinessProbe": {"grpc": {"port": 9000}},
        }],
        "volumes": [{"name": "a", "configMap": {"name": "c"}}, {"name": "b", "secret": {"secretName": "s"}},
                    {"name": "c"}, {"name": "d", "hostPath": {"path": "/x"}}],
    }
    pod.default_pod_spec(spec)
    c = spec["containers"][0]
    assert c["ports"][0]["protocol"] == "TCP"
    assert c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    assert c["livenessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 1,
                                  "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    assert c["readinessProbe"]["grpc"]["service"] == ""
    v = spec["volumes"]
    assert v[0]["configMap"]["defaultMode"] == 420
    assert v[1]["secret"]["defaultMode"] == 420
    assert v[2]["emptyDir"] == {}
    assert v[3]["hostPath"]["type"] == ""


def test_defaults_are_idempotent():
    obj = new_pod(hostNetwork=True, containers=[{"name": "a", "image": "x", "ports": [{"containerPort": 8080}],
                                                 "resources": {"limits": {"cpu": "1"}}}])
    again = copy.deepcopy(obj)
    STRAT.default(again)
    assert again == obj
    c = obj["spec"]["containers"][0]
    assert c["ports"][0]["hostPort"] == 8080
    assert c["resources"]["requests"] == {"cpu": "1"}


def test_template_defaults_skip_pod_only_fields():
    t = {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "a", "image": "x",
                                                                       "resources": {"limits": {"cpu": "1"}}}]}}
    pod.default_pod_template(t)
    assert "enableServiceLinks" not in t["spec"]
    assert "requests" not in t["spec"]["containers"][0]["resources"]
    assert t["spec"]["restartPolicy"] == "Always"


def test_status_on_create_and_qos():
    obj = new_pod()
    obj["status"] = {"phase": "Running"}
    STRAT.prepare_for_create(obj)
    assert obj["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    g = new_pod(containers=[{"name": "a", "image": "x", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}])
    assert core.pod_qos_class(g) == "Guaranteed"
    b = new_pod(containers=[{"name": "a", "image": "x", "resources": {"requests": {"cpu": "100m"}}}])
    assert core.pod_qos_class(b) == "Burstable"


def test_valid_pod():
    obj = new_pod(volumes=[{"name": "data", "emptyDir": {}}],
                  containers=[{"name": "a", "image": "x", "volumeMounts": [{"name": "data", "mountPath": "/d"}],
                               "ports": [{"name": "http", "containerPort": 80}],
                               "env": [{"name": "A", "value": "1"}],
                               "resources": {"requests": {"cpu": "100m"}, "limits": {"cpu": "1"}},
                               "readinessProbe": {"tcpSocket": {"port": "http"}}}],
                  initContainers=[{"name": "init", "image": "busybox"}])
    assert STRAT.validate(obj) == []


def test_containers_required():
    obj = new_pod(containers=[])
    assert fields(STRAT.validate(obj)) == [("Required", "spec.containers")]


def test_container_names_images():
    obj = new_pod(containers=[{"name": "a", "image": "x"}, {"name": "a", "image": " x"}, {"image": "y"},
                              {"name": "Bad", "image": "y"}],
                  initContainers=[{"name": "a", "image": "x"}])
    assert fields(STRAT.validate(obj)) == [
        ("Duplicate", "spec.containers[0].name"),
        ("Duplicate", "spec.containers[1].name"),
        ("Invalid", "spec.containers[1].image"),
        ("Required", "spec.containers[2].name"),
        ("Invalid", "spec.containers[3].name"),
    ]
    obj = new_pod(containers=[{"name": "a"}])
    assert ("Required", "spec.containers[0].image") in fields(STRAT.validate(obj))


def test_ports():
    obj = new_pod(containers=[{"name": "a", "image": "x", "ports": [
        {"containerPort": 0}, {"containerPort": 70000, "name": "http"}, {"containerPort": 80, "name": "http"},
        {"containerPort": 81, "protocol": "ICMP"}, {"containerPort": 82, "name": "Bad_Name"},
    ]}])
    assert fields(STRAT.validate(obj)) == [
        ("Required", "spec.containers[0].ports[0].containerPort"),
        ("Invalid", "spec.containers[0].ports[1].containerPort"),
        ("Duplicate", "spec.containers[0].ports[2].name"),
        ("NotSupported", "spec.containers[0].ports[3].protocol"),
        ("Invalid", "spec.containers[0].ports[4].name"),
    ]


def test_host_ports_unique_and_host_network():
    obj = new_pod(containers=[{"name": "a", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]},
                              {"name": "b", "image": "x", "ports": [{"containerPort": 81, "hostPort": 8080}]}])
    assert fields(STRAT.validate(obj)) == [("Duplicate", "spec.containers[1].ports[0].hostPort")]
    obj = new_pod(hostNetwork=True, containers=[{"name": "a", "image": "x",
                                                 "ports": [{"containerPort": 80, "hostPort": 8080}]}])
    (e,) = STRAT.validate(obj)
    assert e.field == "spec.containers[0].ports[0].containerPort"
    assert "must match `hostPort` when `hostNetwork` is true" in e.message()


def test_env():
    obj = new_pod(containers=[{"name": "a", "image": "x", "env": [
        {"value": "x"}, {"name": "A=B"}, {"name": "C", "value": "v", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "D", "valueFrom": {}}, {"name": "E", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}},
        {"name": "F", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "a/b"}}},
    ]}])
    assert fields(STRAT.validate(obj)) == [
        ("Required", "spec.containers[0].env[0].name"),
        ("Invalid", "spec.containers[0].env[1].name"),
        ("Invalid", "spec.containers[0].env[2].valueFrom"),
        ("Invalid", "spec.containers[0].env[3].valueFrom"),
        ("NotSupported", "spec.containers[0].env[4].valueFrom.fieldRef.fieldPath"),
        ("Invalid", "spec.containers[0].env[5].valueFrom.configMapKeyRef.key"),
    ]


def test_volumes_and_mounts():
    obj = new_pod(
        volumes=[{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}},
                 {"name": "two", "emptyDir": {}, "hostPath": {"path": "/x"}},
                 {"name": "cm", "configMap": {"name": "c", "defaultMode": 0o1000}},
                 {"name": "hp", "hostPath": {"path": "/x", "type": "Weird"}}],
        containers=[{"name": "a", "image": "x", "volumeMounts": [
            {"name": "v", "mountPath": "/a"}, {"name": "missing", "mountPath": "/b"},
            {"name": "v", "mountPath": "/a"}, {"name": "v", "mountPath": "/c", "subPath": "../x"},
            {"name": "v"},
        ]}],
    )
    assert fields(STRAT.validate(obj)) == [
        ("Duplicate", "spec.volumes[1].name"),
        ("Forbidden", "spec.volumes[2].emptyDir"),  # hostPath comes first upstream
        ("Invalid", "spec.volumes[3].configMap.defaultMode"),
        ("NotSupported", "spec.volumes[4].hostPath.type"),
        ("NotFound", "spec.containers[0].volumeMounts[1].name"),
        ("Invalid", "spec.containers[0].volumeMounts[2].mountPath"),
        ("Invalid", "spec.containers[0].volumeMounts[3].subPath"),
        ("Required", "spec.containers[0].volumeMounts[4].mountPath"),
    ]


def test_enums_and_numbers():
    obj = new_pod(restartPolicy="Sometimes", dnsPolicy="Maybe", terminationGracePeriodSeconds=-1,
                  activeDeadlineSeconds=0)
    assert fields(STRAT.validate(obj)) == [
        ("NotSupported", "spec.restartPolicy"),
        ("NotSupported", "spec.dnsPolicy"),
        ("Invalid", "spec.terminationGracePeriodSeconds"),
        ("Invalid", "spec.activeDeadlineSeconds"),
    ]
    obj = new_pod(dnsPolicy="None")
    assert fields(STRAT.validate(obj)) == [("Required", "spec.dnsConfig")]


def test_resources():
    obj = new_pod(containers=[{"name": "a", "image": "x", "resources": {
        "requests": {"cpu": "2", "memory": "lots", "gpu": "1"}, "limits": {"cpu": "1"}}}])
    errs = STRAT.validate(obj)
    assert fields(errs) == [
        ("Invalid", "spec.containers[0].resources.requests[memory]"),
        ("Invalid", "spec.containers[0].resources.requests[gpu]"),
        ("Invalid", "spec.containers[0].resources.requests[cpu]"),
    ]
    assert errs[2].message() == 'Invalid value: "2": must be less than or equal to cpu limit of 1'


def test_probes():
    obj = new_pod(containers=[{"name": "a", "image": "x",
                               "livenessProbe": {"successThreshold": 2},
                               "readinessProbe": {"exec": {"command": ["true"]}, "httpGet": {"port": 80}},
                               "startupProbe": {"tcpSocket": {"port": 0}}}],
                  initContainers=[{"name": "i", "image": "x", "readinessProbe": {"exec": {"command": ["x"]}}}])
    assert fields(STRAT.validate(obj)) == [
        ("Forbidden", "spec.initContainers[0].readinessProbe"),
        ("Required", "spec.containers[0].livenessProbe"),
        ("Invalid", "spec.containers[0].livenessProbe.successThreshold"),
        ("Forbidden", "spec.containers[0].readinessProbe.httpGet"),
        ("Invalid", "spec.containers[0].startupProbe.tcpSocket.port"),
    ]


def test_tolerations():
    obj = new_pod(tolerations=[
        {"operator": "Equal", "value": "x"},
        {"key": "k", "operator": "Exists", "value": "v"},
        {"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5},
        {"key": "k", "operator": "Exists", "effect": "Sometimes"},
        {"operator": "Exists"},
    ])
    assert fields(STRAT.validate(obj)) == [
        ("Invalid", "spec.tolerations[0].operator"),
        ("Invalid", "spec.tolerations[1].operator"),
        ("Invalid", "spec.tolerations[2].effect"),
        ("NotSupported", "spec.tolerations[3].effect"),
    ]


def test_pod_template_validation():
    t = {"metadata": {"labels": {"bad key": "v"}}, "spec": {"containers": [{"name": "a", "image": "x"}]}}
    pod.default_pod_template(t)
    assert fields(pod.validate_pod_template(t, "spec.template")) == [("Invalid", "spec.template.metadata.labels")]
    t["spec"]["containers"][0]["name"] = ""
    assert ("Required", "spec.template.spec.containers[0].name") in fields(
        pod.validate_pod_template(t, "spec.template"))
    assert fields(pod.validate_pod_template(None, "spec.template")) == [("Required", "spec.template")]


def test_pod_update_rules():
    old = new_pod(activeDeadlineSeconds=100, tolerations=[{"key": "k", "operator": "Exists"}])
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "nginx:1.26"
    new["spec"]["activeDeadlineSeconds"] = 50
    new["spec"]["tolerations"].append({"key": "k2", "operator": "Exists"})
    assert STRAT.validate_update(new, old) == []

    bad = copy.deepcopy(old)
    bad["spec"]["restartPolicy"] = "Never"
    (e,) = STRAT.validate_update(bad, old)
    assert e.field == "spec" and e.type == "Forbidden"
    assert "pod updates may not change fields other than `spec.containers[*].image`" in e.message()
    assert "spec.restartPolicy" in e.message()

    more = copy.deepcopy(old)
    more["spec"]["activeDeadlineSeconds"] = 200
    del more["spec"]["tolerations"][0]
    assert fields(STRAT.validate_update(more, old)) == [
        ("Invalid", "spec.activeDeadlineSeconds"), ("Forbidden", "spec.tolerations[0]")]

    added = copy.deepcopy(old)
    added["spec"]["containers"].append({"name": "b", "image": "x"})
    assert ("Forbidden", "spec.containers") in fields(STRAT.validate_update(added, old))


def test_pod_status_update():
    old = new_pod()
    old["status"] = {"phase": "Succeeded"}
    new = copy.deepcopy(old)
    new["status"] = {"phase": "Running", "podIP": "nope"}
    assert fields(STRAT.validate_status_update(new, old)) == [
        ("Forbidden", "status.phase"), ("Invalid", "status.podIP")]


def _status_pod(**status):
    obj = new_pod(containers=[{"name": "a", "image": "x"}, {"name": "b", "image": "x"}])
    obj["status"] = status
    return obj


def test_pod_table_cells():
    p = _status_pod(phase="Pending")
    assert core.pod_ready_cell(p) == "0/2"
    assert core.pod_status_cell(p) == "Pending"
    running = {"running": {"startedAt": "2024-01-01T00:00:00Z"}}
    p = _status_pod(phase="Running", containerStatuses=[
        {"name": "a", "ready": True, "state": running, "restartCount": 1},
        {"name": "b", "ready": True, "state": running, "restartCount": 2}])
    assert (core.pod_ready_cell(p), core.pod_status_cell(p), core.pod_restarts_cell(p)) == ("2/2", "Running", 3)
    p = _status_pod(phase="Pending", containerStatuses=[
        {"name": "a", "ready": False, "state": {"waiting": {"reason": "ContainerCreating"}}}])
    assert core.pod_status_cell(p) == "ContainerCreating"
    p = _status_pod(phase="Running", containerStatuses=[
        {"name": "a", "ready": False, "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "restartCount": 4,
         "lastState": {"terminated": {"finishedAt": "2020-01-01T00:00:00Z"}}}])
    assert core.pod_status_cell(p) == "CrashLoopBackOff"
    assert core.pod_restarts_cell(p).startswith("4 (")
    p = _status_pod(phase="Succeeded", containerStatuses=[
        {"name": "a", "state": {"terminated": {"reason": "Completed", "exitCode": 0}}}])
    assert core.pod_status_cell(p) == "Completed"
    p["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert core.pod_status_cell(p) == "Completed"
    p = _status_pod(phase="Running")
    p["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    assert core.pod_status_cell(p) == "Terminating"


def test_pod_table_init_containers():
    p = new_pod(initContainers=[{"name": "i1", "image": "x"}, {"name": "i2", "image": "x"}])
    p["status"] = {"phase": "Pending", "initContainerStatuses": [
        {"name": "i1", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
        {"name": "i2", "state": {"running": {}}}]}
    assert core.pod_status_cell(p) == "Init:1/2"
    p["status"]["initContainerStatuses"][1]["state"] = {"terminated": {"exitCode": 1, "reason": "Error"}}
    assert core.pod_status_cell(p) == "Init:Error"
    p["status"]["initContainerStatuses"][1]["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
    assert core.pod_status_cell(p) == "Init:CrashLoopBackOff"


def test_pod_columns_and_field_values():
    cols = STRAT.columns()
    assert [c.name for c in cols] == ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node",
                                      "Nominated Node", "Readiness Gates"]
    assert [c.priority for c in cols] == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    p = new_pod(nodeName="n1", readinessGates=[{"conditionType": "x.io/ready"}])
    p["status"] = {"phase": "Running", "podIP": "10.42.0.5", "conditions": [{"type": "x.io/ready", "status": "True"}]}
    cells = {c.name: c.cell(p) for c in cols}
    assert cells["IP"] == "10.42.0.5" and cells["Node"] == "n1" and cells["Nominated Node"] == "<none>"
    assert cells["Readiness Gates"] == "1/1"
    fv = STRAT.field_values(p)
    assert fv["spec.nodeName"] == "n1" and fv["status.phase"] == "Running"
    assert fv["spec.restartPolicy"] == "Always" and fv["spec.hostNetwork"] == "false"
    assert fv["spec.schedulerName"] == "default-scheduler" and fv["status.podIP"] == "10.42.0.5"
