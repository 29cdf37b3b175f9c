"""Shared validation helpers and ObjectMeta rules."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeling.api import meta, validation


def fields(errs):
    return [(e.type, e.field) for e in errs]


@pytest.mark.parametrize("value", ["a", "abc-123", "1abc", "a" * 63])
def test_dns1123_label_ok(value):
    assert validation.dns1123_label(value) == []


@pytest.mark.parametrize("value", ["", "A", "-a", "a-", "a.b", "a_b", "a" * 64])
def test_dns1123_label_bad(value):
    assert validation.dns1123_label(value)


def test_dns1123_label_message_names_the_rule_and_regex():
    (msg,) = validation.dns1123_label("Abc")
    assert msg.startswith("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'")
    assert "'[a-z0-9]([-a-z0-9]*[a-z0-9])?'" in msg
    assert validation.dns1123_label("a" * 64) == ["must be no more than 63 characters"]


@pytest.mark.parametrize("value", ["example.com", "a", "a-b.c-d", "x" * 253])
def test_dns1123_subdomain_ok(value):
    assert validation.dns1123_subdomain(value) == []


@pytest.mark.parametrize("value", ["", "Example.com", "a..b", ".a", "a.", "x" * 254])
def test_dns1123_subdomain_bad(value):
    assert validation.dns1123_subdomain(value)


def test_dns1035_label():
    assert validation.dns1035_label("svc-1") == []
    assert validation.dns1035_label("1svc")


@pytest.mark.parametrize("value", ["app", "app.kubernetes.io/name", "A_b.c", "example.com/X"])
def test_qualified_name_ok(value):
    assert validation.qualified_name(value) == []


def test_qualified_name_bad():
    assert validation.qualified_name("/x") == ["prefix part must be non-empty"]
    assert validation.qualified_name("x/") == ["name part must be non-empty"]
    assert validation.qualified_name("a/b/c")[0].startswith("a qualified name must consist of")
    assert validation.qualified_name("Bad_/x")[0].startswith("prefix part a lowercase RFC 1123 subdomain")
    assert validation.qualified_name("x" * 64) == ["name part must be no more than 63 characters"]
    assert validation.qualified_name("-x")[0].startswith("name part must consist of alphanumeric")


def test_label_value():
    assert validation.label_value("") == []
    assert validation.label_value("My_value.1") == []
    assert validation.label_value("-x")
    assert validation.label_value("x" * 64) == ["must be no more than 63 characters"]


def test_c_identifier_and_env_names():
    assert validation.c_identifier("MY_VAR1") == []
    assert validation.c_identifier("1X")
    # relaxed rule: any printable ASCII but '='
    assert validation.env_var_name("1-weird.name:ok") == []
    assert validation.env_var_name("A=B")
    assert validation.env_var_name("")
    assert validation.env_var_name("tab\there")


def test_config_map_key():
    assert validation.config_map_key("key.name_1-x") == []
    assert validation.config_map_key("a/b")
    assert validation.config_map_key(".") == ["must not be '.'"]
    assert validation.config_map_key("..") == ["must not be '..'"]
    assert validation.config_map_key("..x") == ["must not start with '..'"]


def test_ports():
    assert validation.port_number(1) == validation.port_number(65535) == []
    for bad in (0, 65536, -1, "80", True, None):
        assert validation.port_number(bad) == ["must be between 1 and 65535, inclusive"]
    assert validation.port_name("http") == []
    assert "must contain at least one letter (a-z)" in validation.port_name("123")
    assert "must not contain consecutive hyphens" in validation.port_name("a--b")
    assert "must not begin or end with a hyphen" in validation.port_name("-a")
    assert validation.port_name("a" * 16) == ["must be no more than 15 characters"]


def test_validate_labels_paths():
    errs = validation.validate_labels({"ok": "v", "bad key!": "v", "k": "-bad"}, "metadata.labels")
    assert fields(errs) == [("Invalid", "metadata.labels"), ("Invalid", "metadata.labels")]
    assert errs[0].value == "bad key!"
    assert errs[1].value == "-bad"
    assert fields(validation.validate_labels("x", "p")) == [("TypeInvalid", "p")]
    assert validation.validate_labels(None, "p") == []


def test_validate_annotations():
    assert validation.validate_annotations({"Example.com/Key": "any value at all !"}, "a") == []
    assert fields(validation.validate_annotations({"a b": ""}, "a")) == [("Invalid", "a")]
    big = {"k": "x" * (256 * 1024)}
    errs = validation.validate_annotations(big, "metadata.annotations")
    assert fields(errs) == [("TooLong", "metadata.annotations")]
    assert "262144" in errs[0].message()


def test_validate_label_selector():
    p = "spec.selector"
    assert validation.validate_label_selector({"matchLabels": {"a": "b"}}, p) == []
    errs = validation.validate_label_selector(
        {
            "matchExpressions": [
                {"key": "a", "operator": "In"},
                {"key": "b", "operator": "Exists", "values": ["x"]},
                {"key": "c", "operator": "Near", "values": ["x"]},
                {"key": "bad key", "operator": "NotIn", "values": ["-v"]},
            ]
        },
        p,
    )
    assert fields(errs) == [
        ("Required", "spec.selector.matchExpressions[0].values"),
        ("Forbidden", "spec.selector.matchExpressions[1].values"),
        ("Invalid", "spec.selector.matchExpressions[2].operator"),
        ("Invalid", "spec.selector.matchExpressions[3].key"),
        ("Invalid", "spec.selector.matchExpressions[3].values[0]"),
    ]


def test_selector_matches():
    sel = {"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "NotIn", "values": ["2"]}]}
    assert validation.selector_matches(sel, {"a": "1"})
    assert not validation.selector_matches(sel, {"a": "1", "b": "2"})
    assert validation.selector_matches({}, {"x": "y"})


def test_numbers_and_immutable():
    assert validation.validate_nonnegative(0, "p") == []
    (e,) = validation.validate_nonnegative(-1, "p")
    assert e.message() == "Invalid value: -1: must be greater than or equal to 0"
    (e,) = validation.validate_positive(0, "p")
    assert e.message() == "Invalid value: 0: must be greater than 0"
    assert validation.validate_immutable("a", "a", "p") == []
    (e,) = validation.validate_immutable("b", "a", "spec.x")
    assert e.error() == 'spec.x: Invalid value: "b": field is immutable'


@pytest.mark.parametrize(
    "text,value",
    [("500m", Decimal("0.5")), ("1Gi", Decimal(2**30)), ("2", Decimal(2)), ("1e3", Decimal(1000)),
     ("1.5k", Decimal(1500)), (3, Decimal(3))],
)
def test_quantity_value(text, value):
    assert validation.quantity_value(text) == value


def test_validate_quantity():
    assert validation.validate_quantity("100Mi", "p") == []
    (e,) = validation.validate_quantity("lots", "spec.x")
    assert e.field == "spec.x" and "quantities must match the regular expression" in e.message()
    (e,) = validation.validate_quantity("-1", "spec.x")
    assert "greater than or equal to 0" in e.message()
    assert validation.validate_quantity("-1", "p", nonnegative=False) == []


@given(st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?\Z"))
def test_generated_labels_are_valid(value):
    assert validation.dns1123_label(value) == []
    assert validation.dns1123_subdomain(value) == []
    assert validation.qualified_name(value) == []


# ---- ObjectMeta ------------------------------------------------------------------


def test_meta_ok():
    md = {"name": "x", "namespace": "default", "labels": {"a": "b"}, "finalizers": ["kubernetes", "a.io/b"]}
    assert meta.validate_object_meta(md, namespaced=True) == []


def test_meta_name_required_and_format():
    (e,) = meta.validate_object_meta({"namespace": "d"}, namespaced=True)
    assert e.error() == "metadata.name: Required value: name or generateName is required"
    assert meta.validate_object_meta({"generateName": "web-", "namespace": "d"}, namespaced=True) == []
    assert fields(meta.validate_object_meta({"name": "Bad", "namespace": "d"}, namespaced=True)) == [
        ("Invalid", "metadata.name")
    ]
    assert fields(meta.validate_object_meta({"generateName": "Bad-", "name": "x", "namespace": "d"},
                                            namespaced=True)) == [("Invalid", "metadata.generateName")]
    errs = meta.validate_object_meta({"name": "a.b", "namespace": "d"}, namespaced=True,
                                     name_fn=validation.dns1123_label)
    assert fields(errs) == [("Invalid", "metadata.name")]


def test_meta_namespace_rules():
    assert fields(meta.validate_object_meta({"name": "x"}, namespaced=True)) == [("Required", "metadata.namespace")]
    assert fields(meta.validate_object_meta({"name": "x", "namespace": "Bad"}, namespaced=True)) == [
        ("Invalid", "metadata.namespace")
    ]
    (e,) = meta.validate_object_meta({"name": "x", "namespace": "d"}, namespaced=False)
    assert e.error() == "metadata.namespace: Forbidden: not allowed on this type"


def test_meta_owner_references():
    good = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u1", "controller": True}
    md = {"name": "x", "namespace": "d", "ownerReferences": [good, {**good, "name": "rs2"}, {"apiVersion": "v1"}]}
    errs = meta.validate_object_meta(md, namespaced=True)
    assert fields(errs) == [
        ("Invalid", "metadata.ownerReferences"),
        ("Invalid", "metadata.ownerReferences.kind"),
        ("Invalid", "metadata.ownerReferences.name"),
        ("Invalid", "metadata.ownerReferences.uid"),
    ]
    assert 'Only one reference can have Controller set to true' in errs[0].message()


def test_meta_finalizers_and_types():
    md = {"name": "x", "namespace": "d", "finalizers": ["custom", "orphan", "foregroundDeletion", "bad/x/y"],
          "generation": -1, "resourceVersion": 5}
    errs = meta.validate_object_meta(md, namespaced=True)
    assert fields(errs) == [
        ("Invalid", "metadata.generation"),
        ("TypeInvalid", "metadata.resourceVersion"),
        ("Invalid", "metadata.finalizers"),
        ("Invalid", "metadata.finalizers"),
        ("Invalid", "metadata.finalizers"),
    ]
    assert "neither a standard finalizer name nor is it fully qualified" in errs[2].message()
    assert "cannot be both set" in errs[4].message()


def test_meta_update():
    old = {"name": "x", "namespace": "d", "uid": "1", "creationTimestamp": "2024-01-01T00:00:00Z"}
    assert meta.validate_object_meta_update(dict(old, labels={"a": "b"}), old) == []
    assert meta.validate_object_meta_update({**old, "namespace": None}, {**old, "namespace": ""}) == []
    errs = meta.validate_object_meta_update({**old, "uid": "2", "name": "y"}, old)
    assert fields(errs) == [("Invalid", "metadata.name"), ("Invalid", "metadata.uid")]
    assert errs[0].message().endswith("field is immutable")
    deleting = {**old, "deletionTimestamp": "2024-01-02T00:00:00Z", "finalizers": ["a.io/x"]}
    errs = meta.validate_object_meta_update({**deleting, "finalizers": ["a.io/x", "b.io/y"]}, deleting)
    assert fields(errs) == [("Forbidden", "metadata.finalizers")]
    assert "no new finalizers can be added if the object is being deleted" in errs[0].message()


def test_default_object_meta():
    obj = {"metadata": None}
    meta.default_object_meta(obj)
    assert obj == {"metadata": {}}
