"""Checks of the OpenAPI definitions of the non-core API groups
(kubeling/api/schemas/{apps_v1,batch_v1,autoscaling,...}.py).

Structure is checked against itself (refs resolve, kinds carry their gvk,
nothing is shared or unserializable) and, where the official Python client is
installed, field names and types against its generated models, which are
built from upstream's OpenAPI document. Required fields are not taken from the
client: newer releases changed them, and kubeling follows v1.32.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from kubeling.api import schemas

GROUP_MODULES = [
    "apps_v1",
    "batch_v1",
    "autoscaling",
    "coordination_v1",
    "discovery_v1",
    "events_v1",
    "policy_v1",
    "networking_v1",
    "scheduling_v1",
    "storage_v1",
    "rbac_v1",
    "node_v1",
]

#: Definitions the group modules use but the meta/core modules provide.
EXTERNAL = {
    "io.k8s.api.core.v1.EventSource",
    "io.k8s.api.core.v1.ObjectReference",
    "io.k8s.api.core.v1.PersistentVolumeClaim",
    "io.k8s.api.core.v1.PersistentVolumeSpec",
    "io.k8s.api.core.v1.PodTemplateSpec",
    "io.k8s.api.core.v1.Toleration",
    "io.k8s.api.core.v1.TopologySelectorTerm",
    "io.k8s.api.core.v1.TypedLocalObjectReference",
    "io.k8s.apimachinery.pkg.api.resource.Quantity",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Condition",
    "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions",
    "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
    "io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta",
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime",
    "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time",
    "io.k8s.apimachinery.pkg.runtime.RawExtension",
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString",
}

#: Every top-level kind (and its list) the group modules must define: name -> (group, version, kind).
KINDS: dict[str, tuple[str, str, str]] = {}


def _kinds(prefix: str, group: str, version: str, *names: str) -> None:
    for name in names:
        KINDS[prefix + name] = (group, version, name)
        if name not in ("Scale", "Eviction"):
            KINDS[prefix + name + "List"] = (group, version, name + "List")


_kinds(
    "io.k8s.api.apps.v1.",
    "apps",
    "v1",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "ControllerRevision",
)
_kinds("io.k8s.api.batch.v1.", "batch", "v1", "Job", "CronJob")
_kinds("io.k8s.api.autoscaling.v1.", "autoscaling", "v1", "HorizontalPodAutoscaler", "Scale")
_kinds("io.k8s.api.autoscaling.v2.", "autoscaling", "v2", "HorizontalPodAutoscaler")
_kinds("io.k8s.api.coordination.v1.", "coordination.k8s.io", "v1", "Lease")
_kinds("io.k8s.api.discovery.v1.", "discovery.k8s.io", "v1", "EndpointSlice")
_kinds("io.k8s.api.events.v1.", "events.k8s.io", "v1", "Event")
_kinds("io.k8s.api.policy.v1.", "policy", "v1", "PodDisruptionBudget", "Eviction")
_kinds("io.k8s.api.networking.v1.", "networking.k8s.io", "v1", "Ingress", "IngressClass", "NetworkPolicy")
_kinds("io.k8s.api.scheduling.v1.", "scheduling.k8s.io", "v1", "PriorityClass")
_kinds("io.k8s.api.node.v1.", "node.k8s.io", "v1", "RuntimeClass")
_kinds(
    "io.k8s.api.storage.v1.",
    "storage.k8s.io",
    "v1",
    "StorageClass",
    "VolumeAttachment",
    "CSIDriver",
    "CSINode",
    "CSIStorageCapacity",
)
_kinds(
    "io.k8s.api.rbac.v1.",
    "rbac.authorization.k8s.io",
    "v1",
    "Role",
    "RoleBinding",
    "ClusterRole",
    "ClusterRoleBinding",
)


def _modules() -> list[ModuleType]:
    return [importlib.import_module(f"kubeling.api.schemas.{name}") for name in GROUP_MODULES]


def _merged() -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for module in _modules():
        merged.update(module.DEFINITIONS)
    return merged


DEFS = _merged()


def _walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _refs(node: Any) -> set[str]:
    out = set()
    for sub in _walk(node):
        if isinstance(sub, dict) and "$ref" in sub:
            ref = sub["$ref"]
            assert ref.startswith("#/definitions/"), ref
            out.add(ref.removeprefix("#/definitions/"))
    return out


def _target(schema: dict[str, Any]) -> dict[str, Any]:
    """A property schema with a described ref (allOf wrapper) unwrapped."""
    if "allOf" in schema:
        assert len(schema["allOf"]) == 1
        return schema["allOf"][0]  # type: ignore[no-any-return]
    return schema


def test_modules_do_not_overlap() -> None:
    seen: dict[str, str] = {}
    for module in _modules():
        assert isinstance(module.DEFINITIONS, dict) and module.DEFINITIONS
        for name in module.DEFINITIONS:
            assert name.startswith("io.k8s.api."), name
            assert name not in seen, f"{name} defined in {seen[name]} and {module.__name__}"
            seen[name] = module.__name__


def test_json_round_trip() -> None:
    assert json.loads(json.dumps(DEFS)) == DEFS


def test_no_subschema_is_shared() -> None:
    # A later pass (v2 -> v3 ref rewriting, say) may edit schemas in place; a
    # dict shared between two places would be edited twice.
    seen: set[int] = set()
    for sub in _walk(DEFS):
        if isinstance(sub, (dict, list)):
            assert id(sub) not in seen, sub
            seen.add(id(sub))


def test_every_definition_is_described_object() -> None:
    for name, schema in DEFS.items():
        assert schema["type"] == "object", name
        assert schema["description"].strip(), name
        for field, prop in schema["properties"].items():
            assert prop.get("description", "").strip(), f"{name}.{field}"
        for field in schema.get("required", []):
            assert field in schema["properties"], f"{name} requires unknown field {field}"


def test_local_refs_resolve() -> None:
    for name in _refs(DEFS):
        if name.startswith("io.k8s.api.") and ".core." not in name:
            assert name in DEFS, name


def test_external_refs_are_declared() -> None:
    assert _refs(DEFS) - set(DEFS) == EXTERNAL


def _all_package_definitions() -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for info in pkgutil.iter_modules(schemas.__path__):
        module = importlib.import_module(f"{schemas.__name__}.{info.name}")
        merged.update(getattr(module, "DEFINITIONS", {}))
    return merged


@pytest.mark.parametrize("name", sorted(EXTERNAL))
def test_external_ref_is_provided(name: str) -> None:
    assert name in _all_package_definitions(), f"no schema module defines {name}"


def test_whole_package_resolves() -> None:
    everything = _all_package_definitions()
    missing = {name for name in _refs(DEFS) if name not in everything}
    assert missing <= EXTERNAL
    # Definitions the meta/core modules provide must not be redefined here.
    assert not (set(DEFS) & (set(everything) - set(DEFS)))


@pytest.mark.parametrize("name", sorted(KINDS))
def test_kind_has_gvk(name: str) -> None:
    group, version, kind = KINDS[name]
    schema = DEFS[name]
    assert schema["x-kubernetes-group-version-kind"] == [{"group": group, "version": version, "kind": kind}]
    props = schema["properties"]
    assert {"apiVersion", "kind", "metadata"} <= set(props)
    meta = _target(props["metadata"])["$ref"]
    if kind.endswith("List"):
        assert meta.endswith("meta.v1.ListMeta")
        assert props["items"]["items"] == {"$ref": "#/definitions/" + name.removesuffix("List")}
        assert schema["required"] == ["items"]
    else:
        assert meta.endswith("meta.v1.ObjectMeta")


def test_only_kinds_have_gvk() -> None:
    tagged = {name for name, schema in DEFS.items() if "x-kubernetes-group-version-kind" in schema}
    assert tagged == set(KINDS)
    for name, schema in DEFS.items():
        if {"apiVersion", "kind", "metadata"} <= set(schema["properties"]):
            assert name in KINDS, name


def test_map_lists_have_required_keys() -> None:
    for name, schema in DEFS.items():
        for field, prop in schema["properties"].items():
            if prop.get("x-kubernetes-list-type") != "map":
                continue
            keys = prop["x-kubernetes-list-map-keys"]
            item = prop["items"]["$ref"].removeprefix("#/definitions/")
            if item in DEFS:
                assert set(keys) <= set(DEFS[item].get("required", [])), f"{name}.{field}"
            if "x-kubernetes-patch-merge-key" in prop:
                assert prop["x-kubernetes-patch-merge-key"] in keys


def _prop(definition: str, field: str) -> dict[str, Any]:
    return DEFS[definition]["properties"][field]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "definition,field,strategy,merge_key,list_type",
    [
        ("io.k8s.api.apps.v1.DeploymentStatus", "conditions", "merge", "type", "map"),
        ("io.k8s.api.apps.v1.ReplicaSetStatus", "conditions", "merge", "type", "map"),
        ("io.k8s.api.apps.v1.StatefulSetStatus", "conditions", "merge", "type", "map"),
        ("io.k8s.api.apps.v1.DaemonSetStatus", "conditions", "merge", "type", "map"),
        ("io.k8s.api.batch.v1.JobStatus", "conditions", "merge", "type", "atomic"),
        ("io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus", "conditions", "merge", "type", "map"),
        ("io.k8s.api.policy.v1.PodDisruptionBudgetStatus", "conditions", "merge", "type", "map"),
        ("io.k8s.api.storage.v1.CSINodeSpec", "drivers", "merge", "name", "map"),
        ("io.k8s.api.apps.v1.StatefulSetSpec", "volumeClaimTemplates", None, None, "atomic"),
        ("io.k8s.api.batch.v1.PodFailurePolicy", "rules", None, None, "atomic"),
        ("io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement", "values", None, None, "set"),
        ("io.k8s.api.discovery.v1.Endpoint", "addresses", None, None, "set"),
        ("io.k8s.api.rbac.v1.Role", "rules", None, None, "atomic"),
    ],
)
def test_list_patch_metadata(
    definition: str, field: str, strategy: str | None, merge_key: str | None, list_type: str
) -> None:
    prop = _prop(definition, field)
    assert prop["type"] == "array"
    assert prop.get("x-kubernetes-patch-strategy") == strategy
    assert prop.get("x-kubernetes-patch-merge-key") == merge_key
    assert prop["x-kubernetes-list-type"] == list_type


def test_struct_patch_metadata() -> None:
    assert (
        _prop("io.k8s.api.apps.v1.DeploymentSpec", "strategy")["x-kubernetes-patch-strategy"] == "retainKeys"
    )
    assert (
        _prop("io.k8s.api.policy.v1.PodDisruptionBudgetSpec", "selector")["x-kubernetes-patch-strategy"]
        == "replace"
    )
    atomic = {name for name, schema in DEFS.items() if schema.get("x-kubernetes-map-type") == "atomic"}
    assert atomic == {
        "io.k8s.api.autoscaling.v1.CrossVersionObjectReference",
        "io.k8s.api.discovery.v1.EndpointPort",
        "io.k8s.api.networking.v1.ServiceBackendPort",
        "io.k8s.api.rbac.v1.Subject",
        "io.k8s.api.rbac.v1.RoleRef",
    }


@pytest.mark.parametrize(
    "definition,field,values",
    [
        ("io.k8s.api.apps.v1.DeploymentStrategy", "type", {"Recreate", "RollingUpdate"}),
        ("io.k8s.api.apps.v1.StatefulSetSpec", "podManagementPolicy", {"OrderedReady", "Parallel"}),
        ("io.k8s.api.batch.v1.JobSpec", "completionMode", {"NonIndexed", "Indexed"}),
        ("io.k8s.api.batch.v1.PodFailurePolicyRule", "action", {"FailJob", "FailIndex", "Ignore", "Count"}),
        ("io.k8s.api.batch.v1.CronJobSpec", "concurrencyPolicy", {"Allow", "Forbid", "Replace"}),
        ("io.k8s.api.discovery.v1.EndpointSlice", "addressType", {"IPv4", "IPv6", "FQDN"}),
        (
            "io.k8s.api.networking.v1.HTTPIngressPath",
            "pathType",
            {"Exact", "Prefix", "ImplementationSpecific"},
        ),
        (
            "io.k8s.api.policy.v1.PodDisruptionBudgetSpec",
            "unhealthyPodEvictionPolicy",
            {"IfHealthyBudget", "AlwaysAllow"},
        ),
        ("io.k8s.api.storage.v1.StorageClass", "volumeBindingMode", {"Immediate", "WaitForFirstConsumer"}),
    ],
)
def test_enums(definition: str, field: str, values: set[str]) -> None:
    assert set(_prop(definition, field)["enum"]) == values


@pytest.mark.parametrize(
    "definition,required",
    [
        ("io.k8s.api.apps.v1.DeploymentSpec", ["selector", "template"]),
        ("io.k8s.api.apps.v1.StatefulSetSpec", ["selector", "template", "serviceName"]),
        (
            "io.k8s.api.apps.v1.DaemonSetStatus",
            ["currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"],
        ),
        ("io.k8s.api.apps.v1.ControllerRevision", ["revision"]),
        ("io.k8s.api.batch.v1.JobSpec", ["template"]),
        ("io.k8s.api.batch.v1.CronJobSpec", ["schedule", "jobTemplate"]),
        ("io.k8s.api.batch.v1.PodFailurePolicyOnPodConditionsPattern", ["type", "status"]),
        ("io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerSpec", ["scaleTargetRef", "maxReplicas"]),
        ("io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerStatus", ["desiredReplicas"]),
        ("io.k8s.api.discovery.v1.EndpointSlice", ["addressType", "endpoints"]),
        ("io.k8s.api.events.v1.Event", ["eventTime"]),
        ("io.k8s.api.networking.v1.NetworkPolicySpec", ["podSelector"]),
        ("io.k8s.api.networking.v1.HTTPIngressPath", ["pathType", "backend"]),
        (
            "io.k8s.api.policy.v1.PodDisruptionBudgetStatus",
            ["disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"],
        ),
        ("io.k8s.api.scheduling.v1.PriorityClass", ["value"]),
        ("io.k8s.api.node.v1.RuntimeClass", ["handler"]),
        ("io.k8s.api.storage.v1.StorageClass", ["provisioner"]),
        ("io.k8s.api.rbac.v1.RoleBinding", ["roleRef"]),
        ("io.k8s.api.rbac.v1.RoleRef", ["apiGroup", "kind", "name"]),
        ("io.k8s.api.rbac.v1.PolicyRule", ["verbs"]),
    ],
)
def test_required_fields(definition: str, required: list[str]) -> None:
    # v1.32's required sets; later releases relaxed several of them.
    assert set(DEFS[definition].get("required", [])) == set(required)


# --- comparison with the official client's generated models ----------------------------

#: Fields the client knows that upstream added after v1.32 (kubeling serves v1.32).
NEWER_THAN_132 = {
    ("io.k8s.api.apps.v1.DeploymentStatus", "terminatingReplicas"),
    ("io.k8s.api.apps.v1.ReplicaSetStatus", "terminatingReplicas"),
    ("io.k8s.api.batch.v1.JobSpec", "scheduling"),
    ("io.k8s.api.autoscaling.v2.HPAScalingRules", "tolerance"),
    ("io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerCondition", "observedGeneration"),
    ("io.k8s.api.discovery.v1.EndpointHints", "forNodes"),
    ("io.k8s.api.storage.v1.VolumeError", "errorCode"),
    ("io.k8s.api.storage.v1.CSIDriverSpec", "nodeAllocatableUpdatePeriodSeconds"),
    ("io.k8s.api.storage.v1.CSIDriverSpec", "preventPodSchedulingIfMissing"),
    ("io.k8s.api.storage.v1.CSIDriverSpec", "serviceAccountTokenInSecrets"),
    ("io.k8s.api.storage.v1.CSINode", "status"),
}

#: How the client's models spell definitions it maps to plain Python types.
_CLIENT_SCALARS = {
    "io.k8s.apimachinery.pkg.apis.meta.v1.Time": "datetime",
    "io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime": "datetime",
    "io.k8s.apimachinery.pkg.api.resource.Quantity": "str",
    "io.k8s.apimachinery.pkg.util.intstr.IntOrString": "object",
    "io.k8s.apimachinery.pkg.runtime.RawExtension": "object",
}


def _client_class_name(client: ModuleType, definition: str) -> str:
    # The generator names io.k8s.api.apps.v1.Deployment "V1Deployment", and
    # prefixes the group ("EventsV1Event") where two groups share a name.
    parts = definition.split(".")
    name, version = parts[-1], parts[-2].capitalize()
    group = "" if definition.startswith("io.k8s.apimachinery.") else parts[3].capitalize()
    for candidate in (group + version + name, version + name):
        if hasattr(client, candidate):
            return candidate
    raise AssertionError(f"the client has no model for {definition}")


def _client_type(client: ModuleType, schema: dict[str, Any]) -> str:
    schema = _target(schema)
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/definitions/")
        return _CLIENT_SCALARS.get(name) or _client_class_name(client, name)
    if schema["type"] == "array":
        return f"List[{_client_type(client, schema['items'])}]"
    if schema["type"] == "object":
        return f"Dict[str, {_client_type(client, schema['additionalProperties'])}]"
    return {"integer": "int", "string": "str", "boolean": "bool", "number": "float"}[schema["type"]]


@pytest.mark.parametrize("name", sorted(DEFS))
def test_matches_official_client(name: str) -> None:
    client = pytest.importorskip("kubernetes.client")
    model = getattr(client, _client_class_name(client, name))
    theirs = {json_name: model.openapi_types[attr] for attr, json_name in model.attribute_map.items()}
    ours = DEFS[name]["properties"]
    for field, schema in ours.items():
        assert field in theirs, f"{name}.{field} is not an upstream field"
        assert _client_type(client, schema) == theirs[field], f"{name}.{field}"
    for field in theirs:
        assert field in ours or (name, field) in NEWER_THAN_132, f"{name}.{field} is missing"
