"""The official `kubernetes` Python client against a real server."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from tests.e2e.cluster import Server

pytestmark = pytest.mark.e2e


@pytest.fixture
def api(server: Server) -> Iterator[client.ApiClient]:
    c = config.new_client_from_config(str(server.kubeconfig))
    yield c
    c.close()


def test_list_create_patch_watch_delete(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    apps = client.AppsV1Api(api)
    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py", labels={"via": "python"}), data={"a": "1"})
    created = core.create_namespaced_config_map(namespace, cm)
    assert created.metadata.uid and created.data == {"a": "1"}

    listed = core.list_namespaced_config_map(namespace, label_selector="via=python")
    assert [i.metadata.name for i in listed.items] == ["py"]
    start_rv = listed.metadata.resource_version

    events: list[tuple[str, str, dict[str, str] | None]] = []
    w = watch.Watch()

    def consume() -> None:
        for ev in w.stream(core.list_namespaced_config_map, namespace, resource_version=start_rv,
                           timeout_seconds=20):
            events.append((ev["type"], ev["object"].metadata.name, ev["object"].data))
            if ev["type"] == "DELETED":
                w.stop()

    t = threading.Thread(target=consume)
    t.start()
    patched = core.patch_namespaced_config_map("py", namespace, {"data": {"b": "2"}})
    assert patched.data == {"a": "1", "b": "2"}
    core.delete_namespaced_config_map("py", namespace)
    t.join(timeout=30)
    assert [e[0] for e in events] == ["MODIFIED", "DELETED"]
    assert events[0][2] == {"a": "1", "b": "2"}
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("py", namespace)
    assert exc.value.status == 404

    dep = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="d"),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels={"app": "d"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "d"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]),
            ),
        ),
    )
    made = apps.create_namespaced_deployment(namespace, dep)
    assert made.spec.template.spec.containers[0].image_pull_policy == "Always"  # :latest implied
    scale = apps.read_namespaced_deployment_scale("d", namespace)
    assert scale.spec.replicas == 1
    apps.patch_namespaced_deployment_scale("d", namespace, {"spec": {"replicas": 4}})
    assert apps.read_namespaced_deployment("d", namespace).spec.replicas == 4
    with pytest.raises(ApiException) as exc:
        apps.create_namespaced_deployment(namespace, dep)
    assert exc.value.status == 409 and exc.value.reason == "Conflict"
    apps.delete_namespaced_deployment("d", namespace)


def test_invalid_object_reports_every_field(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "Bad_Name"}, {"name": "ok", "image": "busybox",
                                                           "ports": [{"containerPort": 70000}]}]}}
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_pod(namespace, pod)
    assert exc.value.status == 422
    import json

    status = json.loads(exc.value.body)
    assert status["kind"] == "Status" and status["reason"] == "Invalid"
    fields = {c["field"] for c in status["details"]["causes"]}
    assert {"spec.containers[0].name", "spec.containers[0].image", "spec.containers[1].ports[0].containerPort"} <= fields
