"""RuntimeClass admission: unknown classes refused, overhead and scheduling copied into pods."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeling.apiserver import admission_runtimeclass
from kubeling.client import rest
from tests.controllers.harness import Cluster


@pytest.fixture
async def cluster(tmp_path: pathlib.Path) -> AsyncIterator[Cluster]:
    c = Cluster(tmp_path / "data")
    await c.start()
    yield c
    await c.stop()


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}


async def make_class(c: rest.Client, name: str, handler: str = "runc", **extra: Any) -> dict[str, Any]:
    return await c.create(rest.RUNTIMECLASSES, {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                                                "metadata": {"name": name}, "handler": handler, **extra})


async def test_unknown_and_deleted_classes_are_forbidden(cluster: Cluster) -> None:
    c = cluster.client
    with pytest.raises(rest.Forbidden) as err:
        await c.create(rest.PODS, pod("p", runtimeClassName="missing"), namespace="default", dry_run=True)
    assert err.value.message == 'pods "p" is forbidden: pod rejected: RuntimeClass "missing" not found'
    await make_class(c, "gone")
    assert (await c.create(rest.PODS, pod("ok", runtimeClassName="gone"), namespace="default",
                           dry_run=True))["spec"]["runtimeClassName"] == "gone"
    await c.delete(rest.RUNTIMECLASSES, "gone")
    with pytest.raises(rest.Forbidden):
        await c.create(rest.PODS, pod("p", runtimeClassName="gone"), namespace="default")


async def test_overhead_is_set_and_checked(cluster: Cluster) -> None:
    c = cluster.client
    await make_class(c, "plain")
    await make_class(c, "heavy", overhead={"podFixed": {"cpu": "10m", "memory": "1Mi"}})
    made = await c.create(rest.PODS, pod("a", runtimeClassName="heavy"), namespace="default")
    assert made["spec"]["overhead"] == {"cpu": "10m", "memory": "1Mi"}
    # The same values spelled differently agree with the class.
    same = await c.create(rest.PODS, pod("b", runtimeClassName="heavy",
                                         overhead={"cpu": "0.01", "memory": "1048576"}), namespace="default")
    assert same["spec"]["overhead"] == {"cpu": "10m", "memory": "1Mi"}
    assert "overhead" not in (await c.create(rest.PODS, pod("c", runtimeClassName="plain"),
                                             namespace="default"))["spec"]
    cases = [
        (pod("d", runtimeClassName="heavy", overhead={"cpu": "20m", "memory": "1Mi"}),
         "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead"),
        (pod("e", runtimeClassName="plain", overhead={"cpu": "1m"}),
         "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead"),
        (pod("f", overhead={"cpu": "1m"}),
         "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead"),
    ]
    for body, message in cases:
        with pytest.raises(rest.Forbidden) as err:
            await c.create(rest.PODS, body, namespace="default")
        assert err.value.message.endswith(message), err.value.message


async def test_scheduling_is_merged(cluster: Cluster) -> None:
    c = cluster.client
    tol = {"key": "sandboxed", "operator": "Exists", "effect": "NoSchedule"}
    await make_class(c, "sandbox", scheduling={"nodeSelector": {"sandbox": "yes"}, "tolerations": [tol]})
    made = await c.create(rest.PODS, pod("a", runtimeClassName="sandbox", nodeSelector={"zone": "z1"}),
                          namespace="default")
    assert made["spec"]["nodeSelector"] == {"zone": "z1", "sandbox": "yes"}
    assert tol in made["spec"]["tolerations"]
    # A toleration the pod already has that covers the class's keeps the list free of duplicates.
    wide = {"operator": "Exists"}
    made = await c.create(rest.PODS, pod("b", runtimeClassName="sandbox", tolerations=[wide]), namespace="default")
    assert made["spec"]["tolerations"] == [wide]
    with pytest.raises(rest.Forbidden) as err:
        await c.create(rest.PODS, pod("c", runtimeClassName="sandbox", nodeSelector={"sandbox": "no"}),
                       namespace="default")
    assert err.value.message.endswith(
        "conflict: runtimeClass.scheduling.nodeSelector[sandbox] = yes; pod.spec.nodeSelector[sandbox] = no")


async def test_updates_and_other_resources_are_left_alone(cluster: Cluster) -> None:
    c = cluster.client
    await make_class(c, "heavy", overhead={"podFixed": {"cpu": "10m"}})
    made = await c.create(rest.PODS, pod("a", runtimeClassName="heavy"), namespace="default")
    await c.delete(rest.RUNTIMECLASSES, "heavy")
    made["metadata"]["labels"] = {"updated": "yes"}
    assert (await c.update(rest.PODS, made))["metadata"]["labels"] == {"updated": "yes"}


def test_merge_tolerations() -> None:
    merge = admission_runtimeclass.merge_tolerations
    a = {"key": "k", "operator": "Equal", "value": "v", "effect": "NoSchedule"}
    any_effect = {"key": "k", "operator": "Exists"}
    assert merge([a], [a]) == [a]
    assert merge([a], [any_effect]) == [any_effect]
    assert merge([any_effect], [a]) == [any_effect]
    bounded = {"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}
    longer = {**bounded, "tolerationSeconds": 600}
    # Tolerating a taint for longer covers tolerating it for less time.
    assert merge([bounded], [longer]) == [longer]
    assert merge([longer], [bounded]) == [longer]
    unbounded = {"key": "k", "operator": "Exists", "effect": "NoExecute"}
    assert merge([bounded], [unbounded]) == [unbounded]
    other = {"key": "other", "operator": "Exists"}
    assert merge([a], [other]) == [a, other]
