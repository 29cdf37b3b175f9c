"""OpenAPI definitions and documents, unknown-field pruning and type checks."""

from __future__ import annotations

import copy
import re

import orjson
import pytest

from kubeling.api import openapi, registry
from kubeling.api.schemas import core_pod, core_v1, core_volume, meta_v1

C = "io.k8s.api.core.v1."
MINE = {**meta_v1.DEFINITIONS, **core_pod.DEFINITIONS, **core_volume.DEFINITIONS, **core_v1.DEFINITIONS}


class _Status(registry.Strategy):
    has_status = True


RESOURCES = [
    registry.Resource(
        "", "v1", "Pod", "pods", True, _Status(), subresources=("binding", "eviction"), schema=C + "Pod"
    ),
    registry.Resource("", "v1", "Service", "services", True, _Status(), schema=C + "Service"),
    registry.Resource("", "v1", "Node", "nodes", False, _Status()),  # schema found by name
    registry.Resource("", "v1", "ConfigMap", "configmaps", True, registry.Strategy(), schema=C + "ConfigMap"),
]


def test_every_ref_resolves_and_definitions_serialize() -> None:
    defs = openapi.definitions()
    missing = {(name, r) for name, s in defs.items() for r in openapi._refs(s) if r not in defs}
    assert not missing
    orjson.dumps(defs)


def test_top_level_kinds_have_gvk() -> None:
    for name, schema in MINE.items():
        props = schema.get("properties", {})
        if {"apiVersion", "kind", "metadata"} <= set(props) and not name.endswith("PartialObjectMetadata"):
            assert schema.get("x-kubernetes-group-version-kind"), name
    assert MINE[C + "Pod"]["x-kubernetes-group-version-kind"] == [
        {"group": "", "version": "v1", "kind": "Pod"}
    ]
    assert MINE[C + "PodList"]["x-kubernetes-group-version-kind"][0]["kind"] == "PodList"


def test_merge_keys_match_upstream() -> None:
    def field(defn: str, name: str) -> dict:
        return MINE[defn]["properties"][name]

    cases = [
        (C + "PodSpec", "containers", "name"),
        (C + "PodSpec", "initContainers", "name"),
        (C + "PodSpec", "volumes", "name"),
        (C + "PodSpec", "imagePullSecrets", "name"),
        (C + "PodSpec", "hostAliases", "ip"),
        (C + "Container", "env", "name"),
        (C + "Container", "ports", "containerPort"),
        (C + "Container", "volumeMounts", "mountPath"),
        (C + "ServiceSpec", "ports", "port"),
        (C + "NodeStatus", "conditions", "type"),
        (C + "NodeStatus", "addresses", "type"),
        (C + "PodStatus", "conditions", "type"),
        (meta_v1.M + "ObjectMeta", "ownerReferences", "uid"),
    ]
    for defn, name, key in cases:
        assert field(defn, name)["x-kubernetes-patch-merge-key"] == key, (defn, name)
        assert field(defn, name)["x-kubernetes-patch-strategy"].startswith("merge")
    assert field(C + "PodSpec", "volumes")["x-kubernetes-patch-strategy"] == "merge,retainKeys"
    assert field(meta_v1.M + "ObjectMeta", "finalizers")["x-kubernetes-patch-strategy"] == "merge"
    assert "x-kubernetes-patch-merge-key" not in field(C + "PodSpec", "tolerations")


def test_fields_match_the_official_client_models() -> None:
    models = pytest.importorskip("kubernetes.client.models")
    # Fields newer than the API level kubeling serves.
    newer = {
        "evictionResponders",
        "hostnameOverride",
        "schedulingGroup",
        "user",
        "defaultUser",
        "mode",
        "protocol",
        "userAnnotations",
        "podPreemptionPolicy",
        "declaredFeatures",
        "runningInUserNamespace",
        "healthStatus",
        "allocatedResources",
        "extendedResourceClaimStatus",
        "resources",
        "volumeHealth",
        "nodeAllocatableResourceClaimStatuses",
        "message",
        "bindMountOptions",
        "volumeStatus",
        "shardInfo",
    }
    checked = 0
    for name, schema in MINE.items():
        short = name.rsplit(".", 1)[1]
        cls = getattr(models, "V1" + short, None) or getattr(models, "CoreV1" + short, None)
        if cls is None:
            continue
        checked += 1
        theirs = set(cls.attribute_map.values())
        mine = set(schema.get("properties", {}))
        assert not mine - theirs, (name, mine - theirs)
        assert not (theirs - mine) - newer, (name, theirs - mine)
    assert checked > 150


def _pod() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "p",
            "labels": {"a": "b"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "u", "bogus": 1}],
            "managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {"f:x": {}}}}],
        },
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "i",
                    "ports": [{"containerPort": 80, "junk": True}],
                    "resources": {"limits": {"cpu": "1", "memory": 1024}},
                    "livenessProbe": {"httpGet": {"port": "http", "path": "/"}},
                },
                {
                    "name": "d",
                    "image": "i",
                    "foo": "bar",
                    "env": [
                        {"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP", "extra": 1}}}
                    ],
                },
            ],
            "volumes": [{"name": "v", "emptyDir": {"sizeLimit": "1Gi", "nope": 1}}],
            "nodeSelector": {"disk": "ssd"},
            "unknownTop": 1,
        },
        "status": {"phase": "Pending", "whatever": 1},
        "extra": {},
    }


def test_prune_unknown_on_pod() -> None:
    obj = _pod()
    found = openapi.prune_unknown(obj, C + "Pod")
    assert found == [
        "metadata.ownerReferences[0].bogus",
        "spec.containers[0].ports[0].junk",
        "spec.containers[1].foo",
        "spec.containers[1].env[0].valueFrom.fieldRef.extra",
        "spec.volumes[0].emptyDir.nope",
        "spec.unknownTop",
        "status.whatever",
        "extra",
    ]
    expected = _pod()
    del expected["metadata"]["ownerReferences"][0]["bogus"]
    del expected["spec"]["containers"][0]["ports"][0]["junk"]
    del expected["spec"]["containers"][1]["foo"]
    del expected["spec"]["containers"][1]["env"][0]["valueFrom"]["fieldRef"]["extra"]
    del expected["spec"]["volumes"][0]["emptyDir"]["nope"]
    del expected["spec"]["unknownTop"], expected["status"]["whatever"], expected["extra"]
    assert obj == expected  # known fields, maps, quantities and FieldsV1 content kept
    assert openapi.prune_unknown(obj, C + "Pod") == []


def test_prune_unknown_on_service_and_unknown_definition() -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {
            "selector": {"app": "x"},
            "ports": [{"port": 80, "targetPort": 8080, "nodePorts": 1}],
            "clusterIp": "1.2.3.4",
        },
    }
    assert openapi.prune_unknown(svc, C + "Service") == ["spec.ports[0].nodePorts", "spec.clusterIp"]
    assert svc["spec"] == {"selector": {"app": "x"}, "ports": [{"port": 80, "targetPort": 8080}]}
    assert openapi.prune_unknown({"a": 1}, "io.example.Nothing") == []


def test_preserve_unknown_fields_is_respected() -> None:
    event = {"type": "ADDED", "object": {"anything": {"goes": 1}}}
    assert openapi.prune_unknown(event, meta_v1.M + "WatchEvent") == []
    assert event["object"] == {"anything": {"goes": 1}}


def test_type_errors() -> None:
    pod = _pod()
    pod["spec"]["containers"][0]["ports"][0]["containerPort"] = "80"
    pod["spec"]["containers"][1]["stdin"] = "yes"
    pod["spec"]["nodeSelector"] = {"disk": 1}
    pod["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"] = 1.5
    pod["metadata"]["labels"] = None  # nulls decode to zero values
    errs = dict(openapi.type_errors(pod, C + "Pod"))
    assert errs["spec.containers[0].ports[0].containerPort"] == (
        "json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports.containerPort "
        "of type int32"
    )
    assert "of type bool" in errs["spec.containers[1].stdin"]
    assert "Go struct field PodSpec.spec.nodeSelector of type string" in errs["spec.nodeSelector.disk"]
    assert "spec.containers[0].livenessProbe.httpGet.port" in errs
    assert len(errs) == 4
    assert openapi.type_errors(_pod(), C + "Pod") == []

    assert openapi.type_errors({"spec": "x"}, C + "Pod") == [
        ("spec", "json: cannot unmarshal string into Go struct field Pod.spec of type v1.PodSpec")
    ]
    bad_secret = {"data": {"k": "not base64!"}}
    assert openapi.type_errors(bad_secret, C + "Secret")[0][0] == "data.k"
    assert openapi.type_errors({"data": {"k": "aGk="}}, C + "Secret") == []


def test_v3_index_and_document() -> None:
    index = openapi.v3_index(RESOURCES)
    url = index["paths"]["api/v1"]["serverRelativeURL"]
    assert re.fullmatch(r"/openapi/v3/api/v1\?hash=[0-9A-F]{128}", url)
    doc = openapi.v3_document("v1", RESOURCES)
    assert doc["openapi"].startswith("3.")
    schemas = doc["components"]["schemas"]
    for name in (C + "Pod", C + "PodList", C + "Node", C + "Service", meta_v1.M + "DeleteOptions"):
        assert name in schemas
    text = orjson.dumps(doc).decode()
    assert "#/definitions/" not in text
    for r in re.findall(r'"\$ref":"#/components/schemas/([^"]+)"', text):
        assert r in schemas
    patch = doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert patch["x-kubernetes-action"] == "patch"
    assert {"name": "fieldValidation", "in": "query"}.items() <= next(
        p for p in patch["parameters"] if p["name"] == "fieldValidation"
    ).items()
    assert set(patch["requestBody"]["content"]) == set(openapi.PATCH_MEDIA)
    served = openapi.v3_served("v1", RESOURCES)
    assert served.hash in url and orjson.loads(served.body) == doc
    assert openapi.v3_served("v1", RESOURCES) is served  # cached


def test_v2_document_paths_and_actions() -> None:
    doc = openapi.v2_document(RESOURCES)
    assert doc["swagger"] == "2.0" and doc["info"]["title"] == "Kubernetes"
    paths = doc["paths"]
    actions = {
        ("/api/v1/namespaces/{namespace}/pods", "get"): "list",
        ("/api/v1/namespaces/{namespace}/pods", "post"): "post",
        ("/api/v1/namespaces/{namespace}/pods", "delete"): "deletecollection",
        ("/api/v1/namespaces/{namespace}/pods/{name}", "get"): "get",
        ("/api/v1/namespaces/{namespace}/pods/{name}", "put"): "put",
        ("/api/v1/namespaces/{namespace}/pods/{name}", "patch"): "patch",
        ("/api/v1/namespaces/{namespace}/pods/{name}", "delete"): "delete",
        ("/api/v1/watch/namespaces/{namespace}/pods", "get"): "watchlist",
        ("/api/v1/watch/namespaces/{namespace}/pods/{name}", "get"): "watch",
        ("/api/v1/pods", "get"): "list",
        ("/api/v1/namespaces/{namespace}/pods/{name}/status", "patch"): "patch",
        ("/api/v1/namespaces/{namespace}/pods/{name}/binding", "post"): "post",
        ("/api/v1/nodes/{name}", "get"): "get",
    }
    for (path, method), action in actions.items():
        assert paths[path][method]["x-kubernetes-action"] == action, (path, method)
    create = paths["/api/v1/namespaces/{namespace}/pods"]["post"]
    assert {p["name"] for p in create["parameters"]} >= {"body", "dryRun", "fieldManager", "fieldValidation"}
    assert create["operationId"] == "createCoreV1NamespacedPod"
    binding = paths["/api/v1/namespaces/{namespace}/pods/{name}/binding"]["post"]
    assert binding["x-kubernetes-group-version-kind"]["kind"] == "Binding"
    # v2 keeps refs bare with the description beside them, as upstream does.
    containers = doc["definitions"][C + "PodSpec"]["properties"]["affinity"]
    assert containers["$ref"] == "#/definitions/" + C + "Affinity" and "allOf" not in containers
    assert openapi.v2_served(RESOURCES).body == openapi.v2_served(RESOURCES).body


def test_v2_protobuf_encodes() -> None:
    served = openapi.v2_served_protobuf(RESOURCES)
    assert served.body.startswith(b"\x0a\x032.0")  # field 1 (swagger) = "2.0"
    assert b"fieldValidation" in served.body and b"x-kubernetes-group-version-kind" in served.body


def test_gv_paths() -> None:
    assert openapi.gv_path("v1") == "api/v1" and openapi.gv_path("apps/v1") == "apis/apps/v1"
    assert openapi.gv_of_path("apis/apps/v1") == "apps/v1" and openapi.gv_of_path("api/v1") == "v1"
    assert openapi.gv_of_path("apis/apps") == ""


def test_definitions_are_not_mutated_by_pruning() -> None:
    before = copy.deepcopy(openapi.definitions()[C + "Container"])
    openapi.prune_unknown(_pod(), C + "Pod")
    assert openapi.definitions()[C + "Container"] == before
