"""RuntimeClass conformance (upstream's test/e2e/common/node/runtimeclass.go),
driven with the official Python client and stock kubectl.

Rejection is the API server's business and runs against the shared API-only
server. Scheduling needs a node: those tests use the node agent (the `node`
fixture of tests/e2e/test_node.py; run them under the NODE E2E lock) and go one
step further than upstream's: kubeling's nodes offer the handler "runc", so the
pods also run to completion.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.e2e.cluster import Server

# `node`: the same module-scoped fixture (its own server for this module), not a second copy of it.
from tests.e2e.test_node import (
    node,  # noqa: F401 - the fixture, used by name
    wait,
)

pytestmark = pytest.mark.e2e


def _client(srv: Server) -> Iterator[client.ApiClient]:
    c = config.new_client_from_config(str(srv.kubeconfig))
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def api(server: Server) -> Iterator[client.ApiClient]:
    yield from _client(server)


@pytest.fixture(scope="module")
def node_api(node: Server) -> Iterator[client.ApiClient]:  # noqa: F811 - the imported fixture
    yield from _client(node)


def make_class(api: client.ApiClient, name: str, handler: str, overhead: dict[str, str] | None = None) -> str:
    body = client.V1RuntimeClass(metadata=client.V1ObjectMeta(name=name), handler=handler,
                                 overhead=client.V1Overhead(pod_fixed=overhead) if overhead else None)
    return str(client.NodeV1Api(api).create_runtime_class(body).metadata.name)


def class_pod(class_name: str) -> client.V1Pod:
    """Upstream's RuntimeClass test pod: one short-lived container, never restarted."""
    return client.V1Pod(
        metadata=client.V1ObjectMeta(generate_name="test-runtimeclass-"),
        spec=client.V1PodSpec(runtime_class_name=class_name, restart_policy="Never",
                              automount_service_account_token=False,
                              containers=[client.V1Container(name="test", image="busybox", command=["true"])]))


def expect_rejected(api: client.ApiClient, namespace: str, class_name: str) -> ApiException:
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(api).create_namespaced_pod(namespace, class_pod(class_name), dry_run="All")
    assert err.value.status == 403, err.value.body
    return err.value


def poll(cond: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


# --- admission ------------------------------------------------------------------------------

@pytest.mark.conformance("Pod with the non-existing RuntimeClass is rejected.")
def test_pod_with_missing_class_is_rejected(api: client.ApiClient, namespace: str) -> None:
    name = f"{namespace}-nonexistent"
    err = expect_rejected(api, namespace, name)
    status = json.loads(err.body)
    assert status["reason"] == "Forbidden"
    assert f'pod rejected: RuntimeClass "{name}" not found' in status["message"]
    assert client.CoreV1Api(api).list_namespaced_pod(namespace).items == []


@pytest.mark.conformance("Pod with the deleted RuntimeClass is rejected.")
def test_pod_with_deleted_class_is_rejected(api: client.ApiClient, namespace: str) -> None:
    nodes = client.NodeV1Api(api)
    name = make_class(api, f"{namespace}-delete-me", "runc")
    nodes.delete_runtime_class(name)

    def gone() -> bool:
        try:
            nodes.read_runtime_class(name)
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise
        return False

    poll(gone, f"RuntimeClass {name} to disappear")
    expect_rejected(api, namespace, name)


def test_kubectl_apply_get_and_explain(server: Server) -> None:
    manifest = {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "e2e-kubectl-rc"},
                "handler": "runc", "overhead": {"podFixed": {"cpu": "250m"}},
                "scheduling": {"nodeSelector": {"e2e": "yes"}}}
    try:
        assert "created" in server.kubectl("apply", "-f", "-", input=json.dumps(manifest)).stdout
        manifest["overhead"]["podFixed"]["cpu"] = "500m"
        assert "configured" in server.kubectl("apply", "-f", "-", input=json.dumps(manifest)).stdout
        lines = server.kubectl("get", "runtimeclass", "e2e-kubectl-rc").stdout.splitlines()
        assert lines[0].split() == ["NAME", "HANDLER", "AGE"]
        assert lines[1].split()[:2] == ["e2e-kubectl-rc", "runc"]
        got = json.loads(server.kubectl("get", "runtimeclass", "e2e-kubectl-rc", "-o", "json").stdout)
        assert got["overhead"] == {"podFixed": {"cpu": "500m"}}
        # The handler is fixed once created.
        manifest["handler"] = "kata"
        res = server.kubectl("apply", "-f", "-", input=json.dumps(manifest), check=False)
        assert res.returncode != 0 and "handler: Invalid value" in res.stderr and "immutable" in res.stderr
        explained = server.kubectl("explain", "runtimeclass.overhead").stdout
        assert "podFixed" in explained and "node.k8s.io" in explained
        assert "runtimeclasses" in server.kubectl("api-resources", "--api-group=node.k8s.io").stdout
    finally:
        server.kubectl("delete", "runtimeclass", "e2e-kubectl-rc", "--ignore-not-found", check=False)


# --- scheduling on a real node ---------------------------------------------------------------

def _scheduled_pod(node: Server, api: client.ApiClient, namespace: str, class_name: str) -> client.V1Pod:  # noqa: F811
    core = client.CoreV1Api(api)
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    made = core.create_namespaced_pod(namespace, class_pod(class_name))

    def scheduled() -> client.V1Pod | None:
        pods = core.list_namespaced_pod(namespace).items
        return pods[0] if len(pods) == 1 and pods[0].spec.node_name else None

    pod = wait(scheduled, "the RuntimeClass pod scheduled", node)
    assert pod.metadata.name == made.metadata.name
    # The class's handler is runc, which kubeling's nodes run: the pod goes all the way.
    wait(lambda: core.read_namespaced_pod(pod.metadata.name, namespace).status.phase == "Succeeded",
         "the RuntimeClass pod Succeeded", node, timeout=120)
    return pod  # type: ignore[no-any-return]


@pytest.mark.root
@pytest.mark.conformance("Can schedule a pod requesting existing RuntimeClass.")
def test_schedules_pod_of_class_without_overhead(node: Server, node_api: client.ApiClient) -> None:  # noqa: F811
    name = make_class(node_api, "e2e-rc-plain-preconfigured-handler", "runc")
    try:
        pod = _scheduled_pod(node, node_api, "e2e-rc-plain", name)
        assert not pod.spec.overhead
    finally:
        client.NodeV1Api(node_api).delete_runtime_class(name)
        client.CoreV1Api(node_api).delete_namespace("e2e-rc-plain")


@pytest.mark.root
@pytest.mark.conformance("RuntimeClass Overhead field must be respected.")
def test_schedules_pod_of_class_with_overhead(node: Server, node_api: client.ApiClient) -> None:  # noqa: F811
    name = make_class(node_api, "e2e-rc-overhead-preconfigured-handler", "runc",
                      overhead={"cpu": "10m", "memory": "1Mi"})
    try:
        pod = _scheduled_pod(node, node_api, "e2e-rc-overhead", name)
        assert pod.spec.overhead == {"cpu": "10m", "memory": "1Mi"}
    finally:
        client.NodeV1Api(node_api).delete_runtime_class(name)
        client.CoreV1Api(node_api).delete_namespace("e2e-rc-overhead")


@pytest.mark.root
def test_pod_with_unconfigured_handler_stays_pending(node: Server, node_api: client.ApiClient) -> None:  # noqa: F811
    # Upstream's "[Feature:RuntimeHandler]" test: the class exists, but no node offers its handler.
    core = client.CoreV1Api(node_api)
    ns = "e2e-rc-unconfigured"
    name = make_class(node_api, f"{ns}-class", f"{ns}-handler")
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    try:
        pod = core.create_namespaced_pod(ns, class_pod(name))

        def refused() -> Any:
            evs = core.list_namespaced_event(ns, field_selector=f"involvedObject.name={pod.metadata.name},"
                                                                "reason=FailedCreatePodSandBox").items
            return evs[0] if evs else None

        event = wait(refused, "a FailedCreatePodSandBox event", node)
        assert f'no runtime for "{ns}-handler" is configured' in event.message
        status = core.read_namespaced_pod(pod.metadata.name, ns).status
        assert status.phase == "Pending"
        assert status.container_statuses[0].state.waiting.reason == "ContainerCreating"
    finally:
        client.NodeV1Api(node_api).delete_runtime_class(name)
        core.delete_namespace(ns)
