"""Sub-paths of atomically written volumes (configMap, secret, downwardAPI,
projected) and many such volumes in one pod, as the storage conformance tests
exercise them, on the real node agent and runc. Needs root and runc; under CI
a missing one fails.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.e2e.cluster import Server
from tests.e2e.test_node import (
    node,  # noqa: F401 - the module's own node fixture, used by name
    node_name,
    pod_status,
    wait,
)

pytestmark = [pytest.mark.e2e, pytest.mark.root]


def _apply(srv: Server, obj: dict[str, Any]) -> None:
    srv.kubectl("apply", "-f", "-", input=json.dumps(obj))


def _run_to_completion(srv: Server, name: str, volumes: list[dict[str, Any]], mounts: list[dict[str, Any]],
                       script: str) -> str:
    """Run a pod that prints what it reads; its log once it Succeeded."""
    _apply(srv, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                 "spec": {"nodeName": node_name(srv), "restartPolicy": "Never", "volumes": volumes,
                          "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", script],
                                          "volumeMounts": mounts}]}})
    phase = wait(lambda: pod_status(srv, name).get("phase") in ("Succeeded", "Failed")
                 and pod_status(srv, name)["phase"], f"{name} finished", srv, timeout=90)
    log = srv.kubectl("logs", name).stdout
    assert phase == "Succeeded", (phase, log, pod_status(srv, name))
    return log.rstrip("\n")


@pytest.mark.conformance("SubPath: Reading content from a configmap volume.")
def test_subpath_of_a_configmap_volume(node: Server) -> None:  # noqa: F811
    node.kubectl("create", "configmap", "sp-cm", "--from-literal=configmap-key=configmap-value")
    vol = [{"name": "v", "configMap": {"name": "sp-cm"}}]
    # A sub-path mounted on a new file, and one mounted over a file the image already has.
    log = _run_to_completion(node, "sp-cm-pod", vol,
                             [{"name": "v", "mountPath": "/test-volume/sub", "subPath": "configmap-key"},
                              {"name": "v", "mountPath": "/etc/passwd", "subPath": "configmap-key"}],
                             "cat /test-volume/sub; echo; cat /etc/passwd; echo; ls /test-volume")
    assert log.split("\n")[:3] == ["configmap-value", "configmap-value", "sub"], log


@pytest.mark.conformance("SubPath: Reading content from a secret volume.")
def test_subpath_of_a_secret_volume(node: Server) -> None:  # noqa: F811
    _apply(node, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sp-secret"},
                  "data": {"secret-key": base64.b64encode(b"secret-value").decode()}})
    log = _run_to_completion(node, "sp-secret-pod", [{"name": "v", "secret": {"secretName": "sp-secret"}}],
                             [{"name": "v", "mountPath": "/test-volume/sub", "subPath": "secret-key"}],
                             "cat /test-volume/sub")
    assert log == "secret-value", log


@pytest.mark.conformance("SubPath: Reading content from a downwardAPI volume.")
def test_subpath_of_a_downward_api_volume(node: Server) -> None:  # noqa: F811
    vol = [{"name": "v", "downwardAPI": {"items": [{"path": "downward/podname",
                                                    "fieldRef": {"fieldPath": "metadata.name"}}]}}]
    log = _run_to_completion(node, "sp-downward-pod", vol,
                             [{"name": "v", "mountPath": "/test-volume", "subPath": "downward"}],
                             "cat /test-volume/podname")
    assert log == "sp-downward-pod", log


@pytest.mark.conformance("SubPath: Reading content from a projected volume.")
def test_subpath_of_a_projected_volume(node: Server) -> None:  # noqa: F811
    node.kubectl("create", "configmap", "sp-proj", "--from-literal=projected-key=projected-value")
    vol = [{"name": "v", "projected": {"sources": [{"configMap": {"name": "sp-proj"}}]}}]
    log = _run_to_completion(node, "sp-projected-pod", vol,
                             [{"name": "v", "mountPath": "/test-volume/sub", "subPath": "projected-key"}],
                             "cat /test-volume/sub")
    assert log == "projected-value", log


@pytest.mark.conformance("EmptyDir Wrapper Volume, Secret and ConfigMap volumes, no conflict")
def test_secret_and_configmap_volumes_side_by_side(node: Server) -> None:  # noqa: F811
    _apply(node, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "wrapper-secret"},
                  "data": {"data-1": base64.b64encode(b"value-1").decode()}})
    node.kubectl("create", "configmap", "wrapper-cm", "--from-literal=data-1=value-1")
    vols = [{"name": "s", "secret": {"secretName": "wrapper-secret"}},
            {"name": "c", "configMap": {"name": "wrapper-cm"}}]
    log = _run_to_completion(node, "wrapper-pod", vols,
                             [{"name": "s", "mountPath": "/etc/secret-volume", "readOnly": True},
                              {"name": "c", "mountPath": "/etc/configmap-volume", "readOnly": True}],
                             "cat /etc/secret-volume/data-1; echo; cat /etc/configmap-volume/data-1")
    assert log == "value-1\nvalue-1", log


@pytest.mark.conformance("EmptyDir Wrapper Volume, ConfigMap volumes, no race")
def test_many_configmap_volumes_in_replicated_pods(node: Server) -> None:  # noqa: F811
    """50 ConfigMaps, each a volume of every pod of a 5-replica ReplicationController: every pod
    starts (none stuck waiting for its volumes) and sees every volume's data."""
    for i in range(50):
        node.kubectl("create", "configmap", f"racey-configmap-{i}", f"--from-literal=data-1=value-{i}")
    volumes = [{"name": f"racey-configmap-{i}", "configMap": {"name": f"racey-configmap-{i}"}} for i in range(50)]
    mounts = [{"name": f"racey-configmap-{i}", "mountPath": f"/etc/config-{i}"} for i in range(50)]
    _apply(node, {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "wrapped-volume-race"},
                  "spec": {"replicas": 5, "selector": {"app": "wrapped-volume-race"},
                           "template": {"metadata": {"labels": {"app": "wrapped-volume-race"}},
                                        "spec": {"nodeName": node_name(node), "volumes": volumes,
                                                 "containers": [{"name": "c", "image": "busybox",
                                                                 "command": ["sleep", "3600"],
                                                                 "volumeMounts": mounts}]}}}})

    def all_running() -> list[str]:
        pods = json.loads(node.kubectl("get", "pods", "-l", "app=wrapped-volume-race", "-o", "json").stdout)["items"]
        names = [p["metadata"]["name"] for p in pods if p["status"].get("phase") == "Running"]
        return names if len(names) == 5 else []

    names = wait(all_running, "5 pods with 50 configMap volumes Running", node, timeout=180)
    for name in names:
        out = node.kubectl("exec", name, "--", "sh", "-c", "cat /etc/config-0/data-1 /etc/config-49/data-1").stdout
        assert out == "value-0value-49", out
    node.kubectl("delete", "rc", "wrapped-volume-race", "--wait=false")
