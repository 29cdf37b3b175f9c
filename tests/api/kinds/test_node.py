"""node.k8s.io/v1 RuntimeClasses: validation, immutability, table, schema."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.api import openapi, resources
from kubeling.api.kinds import node
from tests.api import test_protobuf

RC = node.RESOURCES[0].strategy


def _rc(name: str = "gvisor", handler: Any = "runsc", **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"metadata": {"name": name}, "handler": handler, **extra}
    RC.default(obj)
    return obj


def _fields(errs: list[Any]) -> list[tuple[str, str]]:
    return [(e.type, e.field) for e in errs]


def test_served_cluster_scoped_with_handler_column() -> None:
    res = next(r for r in resources.all_resources() if r.group == "node.k8s.io")
    assert (res.version, res.kind, res.plural, res.namespaced) == ("v1", "RuntimeClass", "runtimeclasses", False)
    obj = _rc()
    assert [c.name for c in RC.columns()] == ["Name", "Handler", "Age"]
    assert {c.name: c.cell(obj) for c in RC.columns()}["Handler"] == "runsc"


def test_valid_class_with_overhead_and_scheduling() -> None:
    obj = _rc(overhead={"podFixed": {"cpu": "10m", "memory": "1Mi"}},
              scheduling={"nodeSelector": {"sandbox": "yes"},
                          "tolerations": [{"key": "sandbox", "operator": "Exists", "effect": "NoSchedule"}]})
    assert RC.validate(obj) == []


@pytest.mark.parametrize("handler", ["", None, "Runc", "run_c", "a" * 64, "-runc"])
def test_handler_must_be_a_dns_label(handler: Any) -> None:
    errs = RC.validate(_rc(handler=handler))
    assert _fields(errs) and all(f == ("Invalid", "handler") for f in _fields(errs))


def test_overhead_and_scheduling_are_checked() -> None:
    errs = RC.validate(_rc(overhead={"podFixed": {"cpu": "-1", "bogus": "1"}}))
    assert sorted(_fields(errs)) == [("Invalid", "overhead.limits[bogus]"),
                                     ("Invalid", "overhead.limits[cpu]")]
    errs = RC.validate(_rc(scheduling={"nodeSelector": {"bad key!": "v"},
                                       "tolerations": [{"operator": "Equal", "value": "x"}]}))
    assert _fields(errs) == [("Invalid", "scheduling.nodeSelector"),
                             ("Invalid", "scheduling.tolerations[0].operator")]


def test_handler_is_immutable() -> None:
    old = _rc()
    assert RC.validate_update(_rc(overhead={"podFixed": {"cpu": "1"}}), old) == []
    errs = RC.validate_update(_rc(handler="kata"), old)
    assert _fields(errs) == [("Invalid", "handler")]
    assert "field is immutable" in errs[0].message()


def test_openapi_definitions() -> None:
    defs = openapi.definitions()
    rc = defs["io.k8s.api.node.v1.RuntimeClass"]
    assert rc["required"] == ["handler"]
    assert rc["x-kubernetes-group-version-kind"] == [{"group": "node.k8s.io", "version": "v1",
                                                      "kind": "RuntimeClass"}]
    assert set(rc["properties"]) == {"apiVersion", "kind", "metadata", "handler", "overhead", "scheduling"}
    assert set(defs["io.k8s.api.node.v1.Scheduling"]["properties"]) == {"nodeSelector", "tolerations"}
    assert set(defs["io.k8s.api.node.v1.Overhead"]["properties"]) == {"podFixed"}


def test_fields_match_the_official_client() -> None:
    client = pytest.importorskip("kubernetes.client")
    defs = openapi.definitions()
    for model, name in ((client.V1RuntimeClass, "RuntimeClass"), (client.V1Overhead, "Overhead"),
                        (client.V1Scheduling, "Scheduling"), (client.V1RuntimeClassList, "RuntimeClassList")):
        assert set(model.attribute_map.values()) == set(defs[f"io.k8s.api.node.v1.{name}"]["properties"])


def test_protobuf_bodies_decode() -> None:
    # What client-go based tools (kubectl 1.32+) send: the same object as JSON would carry.
    test_protobuf.roundtrip({
        "apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "vm"}, "handler": "kata",
        "overhead": {"podFixed": {"cpu": "250m", "memory": "120Mi"}},
        "scheduling": {"nodeSelector": {"runtime": "kata"},
                       "tolerations": [{"key": "kata", "operator": "Exists", "effect": "NoSchedule"}]}})
