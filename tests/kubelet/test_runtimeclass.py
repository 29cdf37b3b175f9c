"""The kubelet's RuntimeClass lookup: which handler a pod's sandbox gets, or why none."""

from __future__ import annotations

import pathlib

import pytest

from kubeling.client import rest
from kubeling.kubelet import runtimeclass
from tests.controllers.harness import Cluster, eventually


def pod(class_name: str = "") -> dict:
    spec: dict = {"containers": [{"name": "c", "image": "busybox"}]}
    if class_name:
        spec["runtimeClassName"] = class_name
    return {"metadata": {"name": "p", "namespace": "default"}, "spec": spec}


async def test_handler_lookup(tmp_path: pathlib.Path) -> None:
    cluster = Cluster(tmp_path / "data")
    await cluster.start()
    resolver = runtimeclass.Resolver(cluster.client)
    try:
        c = cluster.client
        for name, handler in (("plain", "runc"), ("vm", "kata")):
            await c.create(rest.RUNTIMECLASSES, {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
                                                 "metadata": {"name": name}, "handler": handler})
        resolver.start()
        await resolver.informer.wait_for_sync(timeout=10)
        assert resolver.handler(pod()) == "runc"

        async def plain_known() -> None:
            assert resolver.handler(pod("plain")) == "runc"

        await eventually(plain_known)
        with pytest.raises(runtimeclass.SandboxRefused) as err:
            resolver.handler(pod("vm"))
        assert runtimeclass.event_message(err.value) == (
            'Failed to create pod sandbox: failed to get sandbox runtime: no runtime for "kata" is configured')
        with pytest.raises(runtimeclass.SandboxRefused) as err:
            resolver.handler(pod("missing"))
        assert str(err.value) == 'runtimeclass.node.k8s.io "missing" not found'
        await c.delete(rest.RUNTIMECLASSES, "plain")

        async def plain_gone() -> None:
            assert resolver.informer.store.get_by_name("plain") is None

        await eventually(plain_gone)
        with pytest.raises(runtimeclass.SandboxRefused):
            resolver.handler(pod("plain"))
    finally:
        resolver.stop()
        await cluster.stop()


def test_pending_status_without_sandbox() -> None:
    p = pod("vm")
    p["spec"]["initContainers"] = [{"name": "init", "image": "busybox"}]
    p["status"] = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}]}
    st = runtimeclass.pending_status(p, node_ip="10.0.0.5", now="2026-01-01T00:00:00Z")
    assert (st["phase"], st["hostIP"], st["startTime"]) == ("Pending", "10.0.0.5", "2026-01-01T00:00:00Z")
    assert "podIP" not in st
    assert [c["state"] for c in st["initContainerStatuses"]] == [{"waiting": {"reason": "ContainerCreating"}}]
    assert [c["state"] for c in st["containerStatuses"]] == [{"waiting": {"reason": "PodInitializing"}}]
    conds = {c["type"]: c["status"] for c in st["conditions"]}
    assert conds == {"PodScheduled": "True", "PodReadyToStartContainers": "False", "Initialized": "False",
                     "ContainersReady": "False", "Ready": "False"}
