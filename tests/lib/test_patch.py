"""JSON merge patch, JSON patch and strategic merge patch."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeling.lib import patch as patchlib
from kubeling.lib import strategicpatch

# ---- a small Pod-like schema ------------------------------------------------------------------


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/definitions/{name}"}


def _wrapped(name: str) -> dict[str, Any]:
    return {"description": "wrapped the way upstream documents fields", "allOf": [_ref(name)]}


def _merge_list(item: dict[str, Any], key: str, strategy: str = "merge") -> dict[str, Any]:
    return {"type": "array", "items": item, "x-kubernetes-patch-merge-key": key,
            "x-kubernetes-patch-strategy": strategy}


STRING = {"type": "string"}
DEFS: dict[str, dict[str, Any]] = {
    "t.Pod": {"type": "object", "properties": {
        "apiVersion": STRING, "kind": STRING,
        "metadata": _wrapped("t.ObjectMeta"),
        "spec": _wrapped("t.PodSpec"),
    }},
    "t.ObjectMeta": {"type": "object", "properties": {
        "name": STRING,
        "labels": {"type": "object", "additionalProperties": STRING},
        "annotations": {"type": "object", "additionalProperties": STRING},
        "finalizers": {"type": "array", "items": STRING, "x-kubernetes-patch-strategy": "merge"},
        "ownerReferences": _merge_list(_ref("t.OwnerReference"), "uid"),
    }},
    "t.OwnerReference": {"type": "object", "properties": {"uid": STRING, "name": STRING}},
    "t.PodSpec": {"type": "object", "properties": {
        "containers": _merge_list(_ref("t.Container"), "name"),
        "volumes": _merge_list(_ref("t.Volume"), "name", "merge,retainKeys"),
        "tolerations": {"type": "array", "items": _ref("t.Toleration")},
        "nodeSelector": {"type": "object", "additionalProperties": STRING},
    }},
    "t.Container": {"type": "object", "properties": {
        "name": STRING, "image": STRING,
        "args": {"type": "array", "items": STRING},
        "ports": _merge_list(_ref("t.ContainerPort"), "containerPort"),
        "env": _merge_list(_ref("t.EnvVar"), "name"),
        "resources": _wrapped("t.Resources"),
    }},
    "t.ContainerPort": {"type": "object", "properties": {"containerPort": {"type": "integer"}, "protocol": STRING}},
    "t.EnvVar": {"type": "object", "properties": {"name": STRING, "value": STRING,
                                                    "valueFrom": {"type": "object"}}},
    "t.Resources": {"type": "object", "properties": {
        "limits": {"type": "object", "additionalProperties": STRING},
        "requests": {"type": "object", "additionalProperties": STRING},
    }},
    "t.Volume": {"type": "object", "properties": {
        "name": STRING,
        "emptyDir": {"type": "object", "properties": {"medium": STRING}},
        "hostPath": {"type": "object", "properties": {"path": STRING}},
        "configMap": {"type": "object", "properties": {"name": STRING}},
    }},
    "t.Toleration": {"type": "object", "properties": {"key": STRING, "operator": STRING}},
}
META = patchlib.OpenAPIPatchMeta(DEFS, "t.Pod")


def smp(original: dict[str, Any], patch: dict[str, Any], meta: Any = META) -> dict[str, Any]:
    before_o, before_p = copy.deepcopy(original), copy.deepcopy(patch)
    out = patchlib.strategic_merge_patch(original, patch, meta)
    assert original == before_o and patch == before_p, "inputs must not change"
    return out


def pod(**spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}


# ---- meta -----------------------------------------------------------------------------------------


def test_openapi_meta() -> None:
    spec = META.field("spec")
    assert spec is not None
    assert spec.list_strategy("containers") == ("name", frozenset({"merge"}))
    assert spec.list_strategy("volumes") == ("name", frozenset({"merge", "retainKeys"}))
    assert spec.list_strategy("tolerations") == ("", frozenset())
    container = spec.field("containers")
    assert container is not None and container.list_strategy("env") == ("name", frozenset({"merge"}))
    md = META.field("metadata")
    assert md is not None and md.list_strategy("finalizers") == ("", frozenset({"merge"}))
    assert META.field("nope") is None
    labels = md.field("labels")
    assert labels is not None and labels.field("anything") is not None
    unknown = patchlib.OpenAPIPatchMeta(DEFS, "t.Missing")
    assert not unknown.known and unknown.field("spec") is None
    # metas reached through a $ref are shared
    assert spec.field("containers") is container


def test_the_real_definitions_work_if_present() -> None:
    try:
        from kubeling.api.schemas import core_pod
    except Exception:  # noqa: BLE001 - the api layer may be mid-change; this is a bonus check
        pytest.skip("kubeling.api.schemas not importable")
    spec = patchlib.OpenAPIPatchMeta(core_pod.DEFINITIONS, "io.k8s.api.core.v1.PodSpec")
    assert spec.list_strategy("containers")[0] == "name"
    container = spec.field("containers")
    assert container is not None and container.list_strategy("ports")[0] == "containerPort"


# ---- maps -----------------------------------------------------------------------------------------


def test_maps_merge_and_null_deletes() -> None:
    out = smp({"metadata": {"name": "p", "labels": {"a": "1", "b": "2"}}},
              {"metadata": {"labels": {"a": None, "c": "3", "zz": None}}})
    assert out == {"metadata": {"name": "p", "labels": {"b": "2", "c": "3"}}}


def test_patch_replace_and_delete_in_map() -> None:
    orig = pod(nodeSelector={"a": "1", "b": "2"})
    out = smp(orig, {"spec": {"nodeSelector": {"$patch": "replace", "c": "3"}}})
    assert out["spec"]["nodeSelector"] == {"c": "3"}
    out = smp(orig, {"spec": {"nodeSelector": {"$patch": "delete"}}})
    assert out["spec"]["nodeSelector"] == {}
    out = smp(orig, {"spec": {"nodeSelector": {"$patch": "merge", "c": "3"}}})
    assert out["spec"]["nodeSelector"] == {"a": "1", "b": "2", "c": "3"}
    with pytest.raises(patchlib.PatchError):
        smp(orig, {"spec": {"nodeSelector": {"$patch": "frobnicate"}}})


def test_new_values_carry_no_nulls_or_directives() -> None:
    out = smp(pod(), {"spec": {"nodeSelector": {"a": "1", "b": None},
                               "containers": [{"name": "c", "env": [{"name": "X", "$patch": "delete"}]}]}})
    assert out["spec"]["nodeSelector"] == {"a": "1"}
    assert out["spec"]["containers"] == [{"name": "c", "env": []}]


def test_type_change_replaces() -> None:
    assert smp({"a": "x"}, {"a": {"b": 1, "c": None}}, None) == {"a": {"b": 1}}
    assert smp({"a": {"b": 1}}, {"a": [1]}, None) == {"a": [1]}


# ---- lists ----------------------------------------------------------------------------------------


def test_merge_list_by_key() -> None:
    orig = pod(containers=[{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}])
    out = smp(orig, {"spec": {"containers": [{"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}]}})
    assert out["spec"]["containers"] == [
        {"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1"}]


def test_nested_merge_lists() -> None:
    orig = pod(containers=[{"name": "a", "ports": [{"containerPort": 80, "protocol": "TCP"}],
                            "env": [{"name": "X", "value": "1"}]}])
    out = smp(orig, {"spec": {"containers": [{"name": "a", "ports": [{"containerPort": 443}],
                                              "env": [{"name": "X", "value": "2"}]}]}})
    c = out["spec"]["containers"][0]
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 443}]
    assert c["env"] == [{"name": "X", "value": "2"}]


def test_delete_element_by_key() -> None:
    orig = pod(containers=[{"name": "a"}, {"name": "b"}, {"name": "c"}])
    out = smp(orig, {"spec": {"containers": [{"$patch": "delete", "name": "b"}]}})
    assert out["spec"]["containers"] == [{"name": "a"}, {"name": "c"}]
    with pytest.raises(patchlib.PatchError, match="merge key"):
        smp(orig, {"spec": {"containers": [{"$patch": "delete"}]}})


def test_replace_whole_list() -> None:
    orig = pod(containers=[{"name": "a", "image": "x"}, {"name": "b"}])
    out = smp(orig, {"spec": {"containers": [{"name": "z", "image": "z", "args": None}, {"$patch": "replace"}]}})
    assert out["spec"]["containers"] == [{"name": "z", "image": "z"}]


def test_element_without_merge_key_is_an_error() -> None:
    with pytest.raises(patchlib.PatchError, match="merge key"):
        smp(pod(containers=[{"name": "a"}]), {"spec": {"containers": [{"image": "x"}]}})


def test_lists_without_strategy_replace() -> None:
    orig = pod(tolerations=[{"key": "a"}], containers=[{"name": "a", "args": ["x", "y"]}])
    out = smp(orig, {"spec": {"tolerations": [{"key": "b"}], "containers": [{"name": "a", "args": ["z"]}]}})
    assert out["spec"]["tolerations"] == [{"key": "b"}]
    assert out["spec"]["containers"][0]["args"] == ["z"]


def test_primitive_merge_list_unions_and_deletes() -> None:
    orig = {"metadata": {"finalizers": ["a", "b"]}}
    assert smp(orig, {"metadata": {"finalizers": ["b", "c"]}})["metadata"]["finalizers"] == ["a", "b", "c"]
    out = smp(orig, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a", "zz"]}})
    assert out["metadata"]["finalizers"] == ["b"]
    out = smp({"metadata": {}}, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
    assert out["metadata"] == {}
    assert smp(orig, {"metadata": {"finalizers": None}})["metadata"] == {}


def test_set_element_order_for_primitives() -> None:
    orig = {"metadata": {"finalizers": ["a", "b", "c"]}}
    out = smp(orig, {"metadata": {"$setElementOrder/finalizers": ["c", "a", "d"], "finalizers": ["d"],
                                  "$deleteFromPrimitiveList/finalizers": ["b"]}})
    assert out["metadata"]["finalizers"] == ["c", "a", "d"]


def test_set_element_order_for_maps() -> None:
    orig = pod(containers=[{"name": "a"}, {"name": "b"}, {"name": "c"}])
    out = smp(orig, {"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "b"}, {"name": "a"}]}})
    assert [c["name"] for c in out["spec"]["containers"]] == ["c", "b", "a"]
    # server-only elements keep their place relative to the ordered ones
    orig = pod(containers=[{"name": "a"}, {"name": "server"}, {"name": "b"}])
    out = smp(orig, {"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}, {"name": "new"}],
                              "containers": [{"name": "new"}]}})
    assert [c["name"] for c in out["spec"]["containers"]] == ["a", "server", "b", "new"]


def test_set_element_order_must_agree_with_the_patch() -> None:
    orig = pod(containers=[{"name": "a"}, {"name": "b"}])
    with pytest.raises(patchlib.PatchError, match="order"):
        smp(orig, {"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                            "containers": [{"name": "b"}, {"name": "a"}]}})


def test_retain_keys() -> None:
    orig = pod(volumes=[{"name": "v", "emptyDir": {"medium": "Memory"}}])
    patch = {"spec": {"volumes": [{"name": "v", "$retainKeys": ["name", "hostPath"],
                                   "hostPath": {"path": "/data"}}]}}
    assert smp(orig, patch)["spec"]["volumes"] == [{"name": "v", "hostPath": {"path": "/data"}}]
    bad = {"spec": {"volumes": [{"name": "v", "$retainKeys": ["name"], "hostPath": {"path": "/x"}}]}}
    with pytest.raises(patchlib.PatchError, match="retainKeys"):
        smp(orig, bad)


def test_kubectl_apply_removes_an_env_var() -> None:
    """What kubectl apply sends after `env: [A, B]` became `env: [A]` in the manifest."""
    live = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{old}"},
                     "labels": {"app": "web"}},
        "spec": {"containers": [
            {"name": "app", "image": "nginx",
             "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "FROM_SERVER", "value": "x"}],
             "resources": {}},
            {"name": "sidecar", "image": "busybox"},
        ]},
    }
    patch = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{new}"}},
        "spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
            "containers": [{
                "name": "app",
                "$setElementOrder/env": [{"name": "A"}],
                "env": [{"$patch": "delete", "name": "B"}],
            }],
        },
    }
    out = smp(live, patch)
    app = out["spec"]["containers"][0]
    assert app["env"] == [{"name": "A", "value": "1"}, {"name": "FROM_SERVER", "value": "x"}]
    assert [c["name"] for c in out["spec"]["containers"]] == ["app", "sidecar"]
    assert out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] == "{new}"
    assert out["metadata"]["labels"] == {"app": "web"}
    assert not any(k.startswith("$") for k in app)


def test_kubectl_apply_changes_image_and_adds_container() -> None:
    live = pod(containers=[{"name": "app", "image": "nginx:1", "ports": [{"containerPort": 80}]}])
    patch = {"spec": {
        "$setElementOrder/containers": [{"name": "init"}, {"name": "app"}],
        "containers": [{"name": "init", "image": "busybox"}, {"name": "app", "image": "nginx:2"}],
    }}
    out = smp(live, patch)
    assert out["spec"]["containers"] == [
        {"name": "init", "image": "busybox"},
        {"name": "app", "image": "nginx:2", "ports": [{"containerPort": 80}]},
    ]


def test_unknown_fields_without_meta_behave_like_merge_patch() -> None:
    orig = {"spec": {"items": [{"name": "a"}], "m": {"x": 1}}}
    out = smp(orig, {"spec": {"items": [{"name": "b"}], "m": {"x": None, "y": 2}}}, None)
    assert out == {"spec": {"items": [{"name": "b"}], "m": {"y": 2}}}
    out = smp(orig, {"spec": {"items": [{"name": "b"}]}}, patchlib.OpenAPIPatchMeta(DEFS, "t.Missing"))
    assert out["spec"]["items"] == [{"name": "b"}]


def test_top_level_directives() -> None:
    assert smp({"a": 1}, {"$patch": "delete"}) == {}
    assert smp({"a": 1}, {"$patch": "replace", "b": 2}) == {"b": 2}


def test_bad_inputs() -> None:
    with pytest.raises(patchlib.PatchError):
        patchlib.strategic_merge_patch({}, [], None)  # type: ignore[arg-type]
    with pytest.raises(patchlib.PatchError):
        smp({"metadata": {"finalizers": [["x"]]}}, {"metadata": {"finalizers": [["y"]]}})
    with pytest.raises(patchlib.PatchError):
        smp({"a": 1}, {"$setElementOrder/": []})


# ---- JSON merge patch and JSON patch ----------------------------------------------------------------


def test_json_merge_patch_rfc7386_examples() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}}
    assert patchlib.json_merge_patch(target, {"a": "z", "c": {"f": None}}) == {"a": "z", "c": {"d": "e"}}
    assert patchlib.json_merge_patch({"a": ["b"]}, {"a": "c"}) == {"a": "c"}
    assert patchlib.json_merge_patch({"a": "b"}, ["c"]) == ["c"]
    assert patchlib.json_merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}
    assert patchlib.json_merge_patch([1, 2], {"a": "b", "c": None}) == {"a": "b"}
    assert patchlib.json_merge_patch({}, {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}
    assert target == {"a": "b", "c": {"d": "e", "f": "g"}}


def test_json_patch() -> None:
    doc = {"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 1, "items": [1, 2]}}
    ops = [
        {"op": "test", "path": "/spec/replicas", "value": 1},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "add", "path": "/metadata/labels/b", "value": "2"},
        {"op": "remove", "path": "/metadata/labels/a"},
        {"op": "add", "path": "/spec/items/-", "value": 3},
        {"op": "copy", "from": "/spec/replicas", "path": "/spec/copy"},
        {"op": "move", "from": "/spec/copy", "path": "/spec/moved"},
    ]
    out = patchlib.json_patch(doc, ops)
    assert out == {"metadata": {"labels": {"b": "2"}}, "spec": {"replicas": 3, "items": [1, 2, 3], "moved": 3}}
    assert doc["spec"]["replicas"] == 1


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ([{"op": "test", "path": "/a", "value": 2}], "test"),
        ([{"op": "remove", "path": "/missing"}], "cannot be applied"),
        ([{"op": "replace", "path": "/missing/deeper", "value": 1}], "cannot be applied"),
        ([{"op": "frob", "path": "/a"}], "invalid"),
        ([{"path": "/a"}], "no 'op'"),
        ([{"op": "add"}], "no 'path'"),
        ({"op": "add"}, "list of operations"),
        (["x"], "not an object"),
        ([{"op": "add", "path": "a", "value": 1}], ""),
    ],
)
def test_json_patch_errors(ops: Any, message: str) -> None:
    with pytest.raises(patchlib.PatchError, match=message):
        patchlib.json_patch({"a": 1}, ops)


# ---- properties -----------------------------------------------------------------------------------

_keys = st.sampled_from(["a", "b", "c", "d"])
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3))
_json = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(_keys, inner, max_size=3)), max_leaves=12)
_no_lists = st.recursive(st.one_of(st.booleans(), st.integers(-5, 5), st.text(max_size=3)),
                         lambda inner: st.dictionaries(_keys, st.one_of(st.none(), inner), max_size=3),
                         max_leaves=12)
_docs = st.dictionaries(_keys, _json, max_size=4)


@given(_json)
def test_merge_patch_empty_is_identity_on_objects(doc: Any) -> None:
    if isinstance(doc, dict):
        assert patchlib.json_merge_patch(doc, {}) == doc


def _diff(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """A merge patch taking a to b (b without nulls, since merge patch cannot produce them)."""
    out: dict[str, Any] = {}
    for k in a.keys() - b.keys():
        out[k] = None
    for k, v in b.items():
        if k in a and a[k] == v:
            continue
        if isinstance(v, dict) and isinstance(a.get(k), dict):
            out[k] = _diff(a[k], v)
        else:
            out[k] = v
    return out


def _strip_nulls(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _strip_nulls(x) for k, x in v.items() if x is not None}
    return v


@given(_docs, _docs)
def test_merge_patch_applies_its_diff(a: dict[str, Any], b: dict[str, Any]) -> None:
    b = _strip_nulls(b)
    patch = _diff(a, b)
    assert patchlib.json_merge_patch(a, patch) == b
    # applying a merge patch twice changes nothing more
    once = patchlib.json_merge_patch(a, patch)
    assert patchlib.json_merge_patch(once, patch) == once


@given(st.dictionaries(_keys, _no_lists, max_size=4), st.dictionaries(_keys, _no_lists, max_size=4))
def test_smp_without_lists_or_directives_is_a_merge_patch(original: dict[str, Any], patch: dict[str, Any]) -> None:
    assert strategicpatch.strategic_merge_patch(original, patch, None) == patchlib.json_merge_patch(original, patch)
    assert strategicpatch.strategic_merge_patch(original, patch, META) == patchlib.json_merge_patch(original, patch)


@given(_docs)
def test_smp_empty_patch_is_identity(doc: dict[str, Any]) -> None:
    assert strategicpatch.strategic_merge_patch(doc, {}, None) == doc
