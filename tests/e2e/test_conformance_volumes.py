"""Conformance for configMap, secret, downward API and projected volumes on a
real node: `kubeling server` with its in-process agent runs the pods as runc
containers of the busybox test image, driven by stock kubectl.

Upstream's tests use agnhost's ``mounttest``; here busybox prints the same
facts (``content of file "…": …`` and ``mode of file "…": -r--------``) and the
test reads them with ``kubectl logs``. Several volumes share one pod where each
volume still proves its own entry. Needs root and runc; under CI a missing one
fails.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from kubeling.lib import quantity
from tests.e2e import test_node as base
from tests.e2e.cluster import Server

pytestmark = [pytest.mark.e2e, pytest.mark.root]

node = base.node  # a fresh module-scoped server with its agent for this module
wait, pod_status = base.wait, base.pod_status

UPDATE_WAIT = 120.0  # configMap/secret changes reach volumes on the kubelet's periodic resync
DATA = {"data-1": "value-1", "data-2": "value-2", "data-3": "value-3"}
RESOURCES = {"requests": {"cpu": "250m", "memory": "32Mi"}, "limits": {"cpu": "1250m", "memory": "64Mi"}}


# ---- helpers ---------------------------------------------------------------------------------

def show(*paths: str) -> str:
    """Shell printing each file's content and mode the way upstream's mounttest does."""
    return "; ".join(f'echo "content of file \\"{p}\\": $(cat {p})"; echo "mode of file \\"{p}\\": $(stat -L -c %A {p})"'
                     for p in paths)


def facts(text: str) -> dict[str, str]:
    """``content of file "P": X`` lines → {"content P": X, "mode P": …}."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        for what in ("content", "mode"):
            prefix = f'{what} of file "'
            if line.startswith(prefix) and '": ' in line:
                path, value = line[len(prefix):].split('": ', 1)
                out[f"{what} {path}"] = value
    return out


def ctr(name: str, script: str, mounts: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "command": ["sh", "-c", script],
            "volumeMounts": [{"name": v, "mountPath": p, "readOnly": True} for v, p in mounts.items()], **extra}


def make_pod(srv: Server, name: str, containers: list[dict[str, Any]], volumes: list[dict[str, Any]], *,
             labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None, **spec: Any) -> None:
    md: dict[str, Any] = {"name": name, "labels": labels or {"app": name}}
    if annotations:
        md["annotations"] = annotations
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": md,
           "spec": {"nodeName": base.node_name(srv), "restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                    "containers": containers, "volumes": volumes, **spec}}
    srv.kubectl("apply", "-f", "-", input=json.dumps(pod))


def logs(srv: Server, pod: str, container: str, *, tail: int | None = None) -> str:
    args = ["logs", pod, "-c", container] + ([f"--tail={tail}"] if tail is not None else [])
    res = srv.kubectl(*args, check=False)
    return res.stdout if res.returncode == 0 else ""


def succeeded(srv: Server, pod: str) -> None:
    st = wait(lambda: (s := pod_status(srv, pod)).get("phase") in ("Succeeded", "Failed") and s, f"{pod} done", srv,
              timeout=120)
    assert st["phase"] == "Succeeded", (pod, st)


def wait_last(srv: Server, pod: str, container: str, want: str, *, timeout: float = 60.0) -> None:
    """Wait until the container's latest log line is ``want``."""
    wait(lambda: logs(srv, pod, container, tail=1).strip() == want, f"{pod}/{container} printing {want!r}", srv,
         timeout=timeout)


def wait_running(srv: Server, pod: str) -> None:
    wait(lambda: pod_status(srv, pod).get("phase") == "Running", f"{pod} Running", srv, timeout=120)


def projected(*sources: dict[str, Any], mode: int | None = None) -> dict[str, Any]:
    proj: dict[str, Any] = {"sources": list(sources)}
    if mode is not None:
        proj["defaultMode"] = mode
    return {"projected": proj}


def literals(data: dict[str, str]) -> list[str]:
    return [f"--from-literal={k}={v}" for k, v in data.items()]


# ---- projected configMap ---------------------------------------------------------------------

@pytest.mark.conformance("Projected Volume, ConfigMap, volume mode 0400")
@pytest.mark.conformance("Projected Volume, ConfigMap, mapped")
@pytest.mark.conformance("Projected Volume, ConfigMap, mapped, volume mode 0400")
@pytest.mark.conformance("Projected Volume, ConfigMap, multiple volume paths")
@pytest.mark.conformance("Projected Volume, ConfigMap, non-root user")
@pytest.mark.conformance("Projected Volume, ConfigMap, mapped, non-root user")
def test_projected_configmap_modes_mappings_and_users(node: Server) -> None:
    node.kubectl("create", "configmap", "pcm", *literals(DATA))
    whole = {"configMap": {"name": "pcm"}}
    mapped = {"configMap": {"name": "pcm", "items": [{"key": "data-2", "path": "path/to/data-2"}]}}
    volumes = [{"name": "whole", **projected(whole)},
               {"name": "whole-0400", **projected(whole, mode=0o400)},
               {"name": "mapped", **projected(mapped)},
               {"name": "mapped-0400", **projected(mapped, mode=0o400)},
               {"name": "second", **projected(whole)}]
    root_mounts = {"whole-0400": "/etc/w0400", "mapped": "/etc/mapped", "mapped-0400": "/etc/m0400",
                   "whole": "/etc/projected-configmap-volume", "second": "/etc/projected-configmap-volume-2"}
    root = ctr("root", show("/etc/w0400/data-1", "/etc/mapped/path/to/data-2", "/etc/m0400/path/to/data-2",
                            "/etc/projected-configmap-volume/data-1", "/etc/projected-configmap-volume-2/data-1")
               + '; echo "mapped holds: $(ls /etc/mapped)"', root_mounts)
    nonroot = ctr("nonroot", 'echo "uid=$(id -u)"; ' + show("/etc/whole/data-1", "/etc/mapped/path/to/data-2"),
                  {"whole": "/etc/whole", "mapped": "/etc/mapped"}, securityContext={"runAsUser": 1000})
    make_pod(node, "projected-cm", [root, nonroot], volumes)
    succeeded(node, "projected-cm")

    got = facts(out := logs(node, "projected-cm", "root"))
    # defaultMode 0400 on the projection
    assert got["content /etc/w0400/data-1"] == "value-1" and got["mode /etc/w0400/data-1"] == "-r--------"
    # a key mapped to a nested path, default mode; the other keys are not there
    assert got["content /etc/mapped/path/to/data-2"] == "value-2"
    assert got["mode /etc/mapped/path/to/data-2"] == "-rw-r--r--"
    assert "mapped holds: path\n" in out
    # mapped with defaultMode 0400
    assert got["content /etc/m0400/path/to/data-2"] == "value-2"
    assert got["mode /etc/m0400/path/to/data-2"] == "-r--------"
    # the same configMap in two projected volumes of one pod
    assert got["content /etc/projected-configmap-volume/data-1"] == "value-1"
    assert got["content /etc/projected-configmap-volume-2/data-1"] == "value-1"
    got = facts(out := logs(node, "projected-cm", "nonroot"))
    assert "uid=1000\n" in out
    assert got["content /etc/whole/data-1"] == "value-1" and got["mode /etc/whole/data-1"] == "-rw-r--r--"
    assert got["content /etc/mapped/path/to/data-2"] == "value-2"
    assert got["mode /etc/mapped/path/to/data-2"] == "-rw-r--r--"


@pytest.mark.conformance("Projected Volume, ConfigMap, update")
def test_projected_configmap_update_reaches_the_running_pod(node: Server) -> None:
    node.kubectl("create", "configmap", "pcm-upd", "--from-literal=data-1=value-1")
    f = "/etc/projected-configmap-volume/data-1"
    make_pod(node, "projected-cm-upd",
             [ctr("c", f'while true; do echo "content of file \\"{f}\\": $(cat {f})"; sleep 1; done',
                  {"v": "/etc/projected-configmap-volume"})],
             [{"name": "v", **projected({"configMap": {"name": "pcm-upd"}})}])
    want = f'content of file "{f}": '
    wait_last(node, "projected-cm-upd", "c", want + "value-1")
    cm = json.loads(node.kubectl("get", "configmap", "pcm-upd", "-o", "json").stdout)
    cm["data"]["data-1"] = "value-2"
    node.kubectl("replace", "-f", "-", input=json.dumps(cm))
    wait_last(node, "projected-cm-upd", "c", want + "value-2", timeout=UPDATE_WAIT)
    node.kubectl("delete", "pod", "projected-cm-upd", "--wait=false")


# ---- projected secret ------------------------------------------------------------------------

@pytest.mark.conformance("Projected Volume, Secrets, volume mode 0400")
@pytest.mark.conformance("Projected Volume, Secrets, mapped")
@pytest.mark.conformance("Projected Volume, Secrets, mapped, volume mode 0400")
@pytest.mark.conformance("Projected Volume, Secrets, mapped, multiple paths")
@pytest.mark.conformance("Project Volume, Secrets, non-root, custom fsGroup")
def test_projected_secret_modes_mappings_and_fs_group(node: Server) -> None:
    node.kubectl("create", "secret", "generic", "psec", *literals(DATA))
    whole = {"secret": {"name": "psec"}}
    mapped = {"secret": {"name": "psec", "items": [{"key": "data-1", "path": "new-path-data-1"}]}}
    volumes = [{"name": "whole-0400", **projected(whole, mode=0o400)},
               {"name": "mapped", **projected(mapped)},
               {"name": "mapped-0400", **projected(mapped, mode=0o400)},
               {"name": "one", **projected(whole)},
               {"name": "two", **projected(whole)}]
    mounts = {"whole-0400": "/etc/w0400", "mapped": "/etc/mapped", "mapped-0400": "/etc/m0400",
              "one": "/etc/projected-secret-volume", "two": "/etc/projected-secret-volume-2"}
    make_pod(node, "projected-secret", [ctr("c", show(
        "/etc/w0400/data-1", "/etc/mapped/new-path-data-1", "/etc/m0400/new-path-data-1",
        "/etc/projected-secret-volume/data-1", "/etc/projected-secret-volume-2/data-1")
        + '; echo "mapped holds: $(ls /etc/mapped)"', mounts)], volumes)
    # fsGroup 1001, uid 1000, defaultMode 0440: the file is readable through the group only.
    f = "/etc/projected-secret-volume/data-1"
    make_pod(node, "projected-secret-fsgroup",
             [ctr("c", f'echo "uid=$(id -u)"; echo "group of file=$(stat -L -c %g {f})"; ' + show(f),
                  {"v": "/etc/projected-secret-volume"})],
             [{"name": "v", **projected(whole, mode=0o440)}], securityContext={"runAsUser": 1000, "fsGroup": 1001})
    succeeded(node, "projected-secret")
    succeeded(node, "projected-secret-fsgroup")

    got = facts(out := logs(node, "projected-secret", "c"))
    assert got["content /etc/w0400/data-1"] == "value-1" and got["mode /etc/w0400/data-1"] == "-r--------"
    assert got["content /etc/mapped/new-path-data-1"] == "value-1"
    assert got["mode /etc/mapped/new-path-data-1"] == "-rw-r--r--"
    assert "mapped holds: new-path-data-1\n" in out
    assert got["content /etc/m0400/new-path-data-1"] == "value-1"
    assert got["mode /etc/m0400/new-path-data-1"] == "-r--------"
    for path in ("/etc/projected-secret-volume/data-1", "/etc/projected-secret-volume-2/data-1"):
        assert got[f"content {path}"] == "value-1" and got[f"mode {path}"] == "-rw-r--r--"
    got = facts(out := logs(node, "projected-secret-fsgroup", "c"))
    assert "uid=1000\n" in out and "group of file=1001\n" in out
    assert got[f"content {f}"] == "value-1" and got[f"mode {f}"] == "-r--r-----"


# ---- projected downward API ------------------------------------------------------------------

RESOURCE_FILES = {"cpu_limit": "limits.cpu", "cpu_request": "requests.cpu",
                  "memory_limit": "limits.memory", "memory_request": "requests.memory"}


def _resource_items(container: str) -> list[dict[str, Any]]:
    return [{"path": path, "resourceFieldRef": {"containerName": container, "resource": res}}
            for path, res in RESOURCE_FILES.items()]


@pytest.mark.conformance("Projected Volume, DownwardAPI, CPU limits")
@pytest.mark.conformance("Projected Volume, DownwardAPI, CPU request")
@pytest.mark.conformance("Projected Volume, DownwardAPI, memory limits")
@pytest.mark.conformance("Projected Volume, DownwardAPI, memory request")
@pytest.mark.conformance("Projected Volume, DownwardAPI, CPU limit, node allocatable")
@pytest.mark.conformance("Projected Volume, DownwardAPI, memory limit, node allocatable")
@pytest.mark.conformance("Projected Volume, DownwardAPI, volume mode 0400")
def test_projected_downward_api_resources_and_modes(node: Server) -> None:
    podname = {"path": "podname", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}
    volumes = [
        {"name": "podinfo", **projected({"downwardAPI": {"items": [podname, *_resource_items("client")]}})},
        {"name": "defaults", **projected({"downwardAPI": {"items": _resource_items("no-resources")}})},
        # "set DefaultMode on files": the projection's defaultMode
        {"name": "default-mode", **projected({"downwardAPI": {"items": [podname]}}, mode=0o400)},
        # "set mode on item file": one item's mode; its sibling keeps the default
        {"name": "item-mode", **projected({"downwardAPI": {"items": [{**podname, "mode": 0o400},
                                                                    _resource_items("client")[0]]}})}]
    files = [f"/etc/podinfo/{p}" for p in ("podname", "cpu_limit", "cpu_request", "memory_limit", "memory_request")]
    client = ctr("client", show(*files, "/etc/default-mode/podname", "/etc/item-mode/podname",
                                "/etc/item-mode/cpu_limit"),
                 {"podinfo": "/etc/podinfo", "default-mode": "/etc/default-mode", "item-mode": "/etc/item-mode"},
                 resources=RESOURCES)
    bare = ctr("no-resources", show("/etc/podinfo/cpu_limit", "/etc/podinfo/memory_limit"),
               {"defaults": "/etc/podinfo"})
    make_pod(node, "projected-downward", [client, bare], volumes)
    succeeded(node, "projected-downward")

    got = facts(logs(node, "projected-downward", "client"))
    assert got["content /etc/podinfo/podname"] == "projected-downward"
    # without a divisor, cpu rounds up to whole cores: 1250m -> 2, 250m -> 1
    assert got["content /etc/podinfo/cpu_limit"] == "2"
    assert got["content /etc/podinfo/cpu_request"] == "1"
    assert got["content /etc/podinfo/memory_limit"] == "67108864"
    assert got["content /etc/podinfo/memory_request"] == "33554432"
    assert got["content /etc/default-mode/podname"] == "projected-downward"
    assert got["mode /etc/default-mode/podname"] == "-r--------"
    assert got["mode /etc/item-mode/podname"] == "-r--------"
    assert got["mode /etc/item-mode/cpu_limit"] == "-rw-r--r--"
    assert got["mode /etc/podinfo/podname"] == "-rw-r--r--"

    # A container without limits sees the node's allocatable instead.
    allocatable = base.get(node, "nodes")["items"][0]["status"]["allocatable"]
    cpu_cores = -(-quantity.parse(str(allocatable["cpu"])).nanos // 10**9)
    memory_bytes = quantity.parse(str(allocatable["memory"])).nanos // 10**9
    got = facts(logs(node, "projected-downward", "no-resources"))
    assert int(got["content /etc/podinfo/cpu_limit"]) == cpu_cores >= 1
    assert int(got["content /etc/podinfo/memory_limit"]) == memory_bytes > 0


@pytest.mark.conformance("Projected Volume, DownwardAPI, update labels")
@pytest.mark.conformance("Projected Volume, DownwardAPI, update annotation")
def test_projected_downward_api_follows_labels_and_annotations(node: Server) -> None:
    items = [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
             {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}}]
    make_pod(node, "projected-meta",
             [ctr("client", "while true; do cat /etc/podinfo/labels; echo; cat /etc/podinfo/annotations; echo; "
                            "sleep 1; done", {"podinfo": "/etc/podinfo"})],
             [{"name": "podinfo", **projected({"downwardAPI": {"items": items}})}],
             labels={"key1": "value1", "key2": "value2"}, annotations={"builder": "bar"})

    def seen(*lines: str) -> bool:
        out = logs(node, "projected-meta", "client", tail=20).splitlines()
        return all(line in out for line in lines)
    wait(lambda: seen('key1="value1"', 'key2="value2"', 'builder="bar"'), "the labels and annotations", node)
    node.kubectl("label", "pod", "projected-meta", "key3=value3")
    node.kubectl("annotate", "pod", "projected-meta", "--overwrite", "builder=foo")
    wait(lambda: seen('key3="value3"', 'builder="foo"'), "the new label and annotation in the volume", node,
         timeout=UPDATE_WAIT)
    node.kubectl("delete", "pod", "projected-meta", "--wait=false")


# ---- optional sources created, updated and deleted under a running pod -----------------------

KINDS = {  # pod name -> (object kind, projected?)
    "optional-cm": ("configmap", False),
    "optional-secret": ("secret", False),
    "optional-projected-cm": ("configmap", True),
    "optional-projected-secret": ("secret", True),
}


def _optional_volume(name: str, kind: str, obj: str, is_projected: bool) -> dict[str, Any]:
    if kind == "configmap":
        src: dict[str, Any] = {"configMap": {"name": obj, "optional": True}}
    elif is_projected:
        src = {"secret": {"name": obj, "optional": True}}
    else:
        src = {"secret": {"secretName": obj, "optional": True}}
    return {"name": name, **(projected(src) if is_projected else src)}


def _looping(name: str, path: str, mount: str) -> dict[str, Any]:
    script = (f'while true; do if v=$(cat {path} 2>/dev/null); then echo "content of file \\"{path}\\": $v"; '
              f'else echo "Error reading file {path}"; fi; sleep 1; done')
    return ctr(name, script, {name: mount})


def _create(srv: Server, kind: str, name: str, data: dict[str, str]) -> None:
    args = ["create", kind] + (["generic"] if kind == "secret" else []) + [name, *literals(data)]
    srv.kubectl(*args)


@pytest.mark.conformance("ConfigMap Volume, create, update and delete")
@pytest.mark.conformance("Secrets Volume, create, update and delete")
@pytest.mark.conformance("Projected Volume, ConfigMap, create, update and delete")
@pytest.mark.conformance("Projected Volume, Secrets, create, update delete")
def test_optional_sources_created_updated_and_deleted(node: Server) -> None:
    for pod, (kind, is_projected) in KINDS.items():
        _create(node, kind, f"{pod}-del", {"data-1": "value-1"})
        _create(node, kind, f"{pod}-upd", {"data-1": "value-1"})
        root = f"/etc/{pod}-volumes"
        containers = [_looping(c, f"{root}/{c}/{key}", f"{root}/{c}")
                      for c, key in (("delete", "data-1"), ("update", "data-3"), ("create", "data-1"))]
        objects = {"delete": f"{pod}-del", "update": f"{pod}-upd", "create": f"{pod}-create"}
        make_pod(node, pod, containers, [_optional_volume(c, kind, obj, is_projected) for c, obj in objects.items()])

    def content(pod: str, c: str, key: str, value: str) -> str:
        return f'content of file "/etc/{pod}-volumes/{c}/{key}": {value}'

    def error(pod: str, c: str, key: str) -> str:
        return f"Error reading file /etc/{pod}-volumes/{c}/{key}"

    # At start the optional object that does not exist yet gives an empty volume, the others their data.
    for pod in KINDS:
        wait_running(node, pod)
        wait_last(node, pod, "create", error(pod, "create", "data-1"))
        wait_last(node, pod, "update", error(pod, "update", "data-3"))
        wait_last(node, pod, "delete", content(pod, "delete", "data-1", "value-1"))

    for pod, (kind, _) in KINDS.items():
        node.kubectl("delete", kind, f"{pod}-del")
        obj = json.loads(node.kubectl("get", kind, f"{pod}-upd", "-o", "json").stdout)
        obj["data"] = ({"data-3": "value-3"} if kind == "configmap"
                       else {"data-3": base64.b64encode(b"value-3").decode()})
        node.kubectl("replace", "-f", "-", input=json.dumps(obj))
        _create(node, kind, f"{pod}-create", {"data-1": "value-1"})

    for pod in KINDS:
        wait_last(node, pod, "create", content(pod, "create", "data-1", "value-1"), timeout=UPDATE_WAIT)
        wait_last(node, pod, "update", content(pod, "update", "data-3", "value-3"), timeout=UPDATE_WAIT)
        wait_last(node, pod, "delete", error(pod, "delete", "data-1"), timeout=UPDATE_WAIT)
        # the key the update removed went away with it
        listing = node.kubectl("exec", pod, "-c", "update", "--", "ls", f"/etc/{pod}-volumes/update").stdout
        assert listing.split() == ["data-3"], (pod, listing)
    for pod in KINDS:
        node.kubectl("delete", "pod", pod, "--wait=false")
