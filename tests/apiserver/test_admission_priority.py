"""Priority admission resolves priorityClassName and refuses unknown classes."""

from __future__ import annotations

import pathlib

import pytest

from kubeling.client import rest
from tests.controllers.harness import Cluster


def pod(name: str, **spec: object) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}


async def test_priority_resolution(tmp_path: pathlib.Path) -> None:
    cluster = Cluster(tmp_path / "data")
    await cluster.start()
    try:
        c = cluster.client
        names = [p["metadata"]["name"] for p in (await c.list(rest.PRIORITYCLASSES))["items"]]
        assert {"system-node-critical", "system-cluster-critical"} <= set(names)
        made = await c.create(rest.PODS, pod("crit", priorityClassName="system-cluster-critical"), namespace="default")
        assert made["spec"]["priority"] == 2_000_000_000
        assert made["spec"]["preemptionPolicy"] == "PreemptLowerPriority"
        assert (await c.create(rest.PODS, pod("plain"), namespace="default"))["spec"]["priority"] == 0
        with pytest.raises(rest.Forbidden) as err:
            await c.create(rest.PODS, pod("bad", priorityClassName="missing"), namespace="default")
        assert "no PriorityClass with name missing was found" in err.value.message
        await c.create(rest.PRIORITYCLASSES, {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                              "metadata": {"name": "dflt"}, "value": 7, "globalDefault": True,
                                              "preemptionPolicy": "Never"})
        made = await c.create(rest.PODS, pod("defaulted"), namespace="default")
        assert (made["spec"]["priorityClassName"], made["spec"]["priority"], made["spec"]["preemptionPolicy"]) == \
            ("dflt", 7, "Never")
    finally:
        await cluster.stop()
