"""Kubelet-initiated pod failures end to end: node-pressure eviction for memory
and disk, and ``activeDeadlineSeconds``, on `kubeling server` with its agent
running real runc containers (root and runc needed; under CI a missing one
fails).

The thresholds are set from the machine's real free memory and disk at the
start of each test, a margin below what is free, and a pod really uses more
than the margin; a well-behaved pod beside it keeps running.

Run under the node e2e lock (one kubelet-bearing server per machine).
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from kubeling.kubelet import pressure
from tests.e2e.cluster import Server
from tests.e2e.test_node import _cleanup_node, _node_ready, _require, get, node_name, pod_status, wait
from tests.kubelet import testimage

pytestmark = [pytest.mark.e2e, pytest.mark.root]

MiB = 1024 * 1024
MARGIN = 1536 * MiB  # what may still be used before the threshold is crossed
HOG = 3072 * MiB  # what the offending pod uses: well past the margin
TRANSITION = "30s"  # long enough to see the pressure while it lasts


def _start(tmp: pathlib.Path, *args: str) -> Server:
    data = tmp / "data"
    data.mkdir()
    archive = tmp / "busybox.tar"
    testimage.busybox_layout(archive, names=["docker.io/library/busybox:latest"])
    subprocess.run([sys.executable, "-m", "kubeling", "image", "import", "--data-dir", str(data), str(archive)],
                   check=True, capture_output=True)
    srv = Server(data, agent=True, extra_args=args)
    srv.start()
    try:
        wait(lambda: _node_ready(srv), "the node Ready with a pod CIDR", srv)
    except BaseException:
        _stop(srv)
        raise
    return srv


def _stop(srv: Server) -> None:
    srv.stop()
    _cleanup_node(srv.data_dir)


@pytest.fixture
def memory_node(tmp_path: pathlib.Path) -> Iterator[Server]:
    _require()
    # Threshold: what is free now less the margin (the server's own start-up is
    # well inside the margin).
    threshold = (pressure.memory().available - MARGIN) // MiB
    srv = _start(tmp_path, "--eviction-hard", f"memory.available<{threshold}Mi",
                 "--eviction-pressure-transition-period", TRANSITION)
    yield srv
    _stop(srv)


@pytest.fixture
def disk_node(tmp_path: pathlib.Path) -> Iterator[Server]:
    _require()
    space, _ = pressure.filesystem(tmp_path)
    threshold = (space.available - MARGIN) // MiB
    srv = _start(tmp_path, "--eviction-hard", f"nodefs.available<{threshold}Mi",
                 "--eviction-pressure-transition-period", TRANSITION)
    yield srv
    _stop(srv)


@pytest.fixture(scope="module")
def plain_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _require()
    srv = _start(tmp_path_factory.mktemp("plain"))  # upstream's default thresholds: nothing is near them here
    yield srv
    _stop(srv)


def _pod(srv: Server, name: str, script: str, *, requests: dict[str, str] | None = None,
         volume: dict[str, Any] | None = None, **spec: Any) -> None:
    container: dict[str, Any] = {"name": name, "image": "busybox", "command": ["sh", "-c", script]}
    if requests:
        container["resources"] = {"requests": requests}
    if volume is not None:
        container["volumeMounts"] = [{"name": "scratch", "mountPath": "/scratch"}]
        spec["volumes"] = [{"name": "scratch", "emptyDir": volume}]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
           "spec": {"nodeName": node_name(srv), "terminationGracePeriodSeconds": 5, "containers": [container],
                    **spec}}
    srv.kubectl("apply", "-f", "-", input=json.dumps(pod))


def _condition(srv: Server, type_: str) -> dict[str, Any]:
    conds = get(srv, "node", node_name(srv))["status"]["conditions"]
    return next(c for c in conds if c["type"] == type_)


def _running(srv: Server, name: str) -> bool:
    return pod_status(srv, name).get("phase") == "Running"


def _evicted_events(srv: Server, name: str) -> list[dict[str, Any]]:
    return [e for e in get(srv, "events", "--field-selector", f"involvedObject.name={name}")["items"]
            if e["reason"] == "Evicted"]


def _assert_evicted(srv: Server, name: str, resource: str) -> dict[str, Any]:
    status = pod_status(srv, name)
    assert status["phase"] == "Failed" and status["reason"] == "Evicted"
    assert status["message"].startswith(f"The node was low on resource: {resource}. Threshold quantity: ")
    assert f"Container {name} was using " in status["message"]
    assert ", request is 0, has larger consumption of " + resource in status["message"]
    disruption = next(c for c in status["conditions"] if c["type"] == "DisruptionTarget")
    assert disruption["status"] == "True" and disruption["reason"] == "TerminationByKubelet"
    term = status["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] != 0
    wait(lambda: _evicted_events(srv, name), f"an Evicted event on {name}", srv)
    assert _evicted_events(srv, name)[0]["type"] == "Warning"
    return status


def test_memory_hog_is_evicted_and_pressure_clears(memory_node: Server) -> None:
    srv = memory_node
    assert _condition(srv, "MemoryPressure")["status"] == "False"
    _pod(srv, "steady", "sleep 3600", requests={"memory": "64Mi"})
    wait(lambda: _running(srv, "steady"), "steady Running", srv)
    # The hog fills a memory-backed emptyDir: tmpfs pages are charged to its container.
    _pod(srv, "hog", f"dd if=/dev/zero of=/scratch/fill bs=1M count={HOG // MiB}; sleep 3600",
         volume={"medium": "Memory"})
    wait(lambda: _condition(srv, "MemoryPressure")["status"] == "True", "MemoryPressure True", srv, timeout=120)
    cond = _condition(srv, "MemoryPressure")
    assert cond["reason"] == "KubeletHasInsufficientMemory"
    assert cond["message"] == "kubelet has insufficient memory available"
    # Under memory pressure the node is tainted and refuses a new BestEffort pod.
    _pod(srv, "late", "sleep 3600")
    wait(lambda: pod_status(srv, "late").get("phase") == "Failed", "late refused", srv, timeout=60)
    late = pod_status(srv, "late")
    assert late["reason"] == "Evicted" and late["message"] == "The node had condition: [MemoryPressure]. "
    wait(lambda: any(t["key"] == "node.kubernetes.io/memory-pressure" and t["effect"] == "NoSchedule"
                     for t in get(srv, "node", node_name(srv))["spec"].get("taints") or []),
         "the memory-pressure taint", srv)
    wait(lambda: pod_status(srv, "hog").get("phase") == "Failed", "hog evicted", srv, timeout=120)
    status = _assert_evicted(srv, "hog", "memory")
    assert "has larger consumption of memory. " in status["message"]
    wait(lambda: _condition(srv, "MemoryPressure")["status"] == "False", "MemoryPressure False again", srv,
         timeout=120)
    assert _condition(srv, "MemoryPressure")["reason"] == "KubeletHasSufficientMemory"
    wait(lambda: not any(t["key"] == "node.kubernetes.io/memory-pressure"
                         for t in get(srv, "node", node_name(srv))["spec"].get("taints") or []),
         "the memory-pressure taint removed", srv)
    assert _running(srv, "steady")
    # An evicted pod stays Failed: it is not started again.
    assert pod_status(srv, "hog")["phase"] == "Failed"


def test_disk_filler_is_evicted_and_its_emptydir_freed(disk_node: Server) -> None:
    srv = disk_node
    assert _condition(srv, "DiskPressure")["status"] == "False"
    _pod(srv, "steady", "sleep 3600", requests={"ephemeral-storage": "64Mi"})
    wait(lambda: _running(srv, "steady"), "steady Running", srv)
    _pod(srv, "filler", f"dd if=/dev/zero of=/scratch/fill bs=1M count={HOG // MiB}; sync; sleep 3600", volume={})
    uid = get(srv, "pod", "filler")["metadata"]["uid"]
    scratch = srv.data_dir / "pods" / uid / "volumes" / "scratch"
    wait(lambda: _condition(srv, "DiskPressure")["status"] == "True", "DiskPressure True", srv, timeout=180)
    cond = _condition(srv, "DiskPressure")
    assert cond["reason"] == "KubeletHasDiskPressure" and cond["message"] == "kubelet has disk pressure"
    wait(lambda: pod_status(srv, "filler").get("phase") == "Failed", "filler evicted", srv, timeout=180)
    _assert_evicted(srv, "filler", "ephemeral-storage")
    assert not scratch.exists()
    wait(lambda: _condition(srv, "DiskPressure")["status"] == "False", "DiskPressure False again", srv, timeout=120)
    assert _running(srv, "steady")
    node_events = [e for e in get(srv, "events", "--field-selector", "involvedObject.kind=Node")["items"]
                   if e["reason"] == "EvictionThresholdMet"]
    assert any(e["message"] == "Attempting to reclaim ephemeral-storage" for e in node_events)


@pytest.mark.conformance("Pods, ActiveDeadlineSeconds")
def test_active_deadline_seconds_can_be_set_on_a_running_pod(plain_node: Server) -> None:
    srv = plain_node
    _pod(srv, "deadline", "sleep 3600", restartPolicy="Always")
    wait(lambda: _running(srv, "deadline"), "deadline Running", srv)
    assert _condition(srv, "MemoryPressure")["status"] == "False"
    assert _condition(srv, "DiskPressure")["status"] == "False"
    srv.kubectl("patch", "pod", "deadline", "-p", '{"spec":{"activeDeadlineSeconds":5}}')
    wait(lambda: pod_status(srv, "deadline").get("phase") == "Failed", "deadline Failed", srv, timeout=120)
    status = pod_status(srv, "deadline")
    assert status["reason"] == "DeadlineExceeded"
    assert status["message"] == "Pod was active on the node longer than the specified deadline"
    assert "terminated" in status["containerStatuses"][0]["state"]
    assert not any(c["type"] == "DisruptionTarget" for c in status["conditions"])
    events = get(srv, "events", "--field-selector", "involvedObject.name=deadline,reason=DeadlineExceeded")["items"]
    assert events and events[0]["message"] == status["message"]
    # Lowering it further is allowed, raising it is not (the API's rule).
    srv.kubectl("patch", "pod", "deadline", "-p", '{"spec":{"activeDeadlineSeconds":4}}')
    res = srv.kubectl("patch", "pod", "deadline", "-p", '{"spec":{"activeDeadlineSeconds":50}}', check=False)
    assert res.returncode != 0
    # Failed for good: restartPolicy Always does not bring it back.
    assert pod_status(srv, "deadline")["phase"] == "Failed"


def test_active_deadline_from_creation(plain_node: Server) -> None:
    srv = plain_node
    _pod(srv, "short", "sleep 3600", restartPolicy="Never", activeDeadlineSeconds=3)
    wait(lambda: pod_status(srv, "short").get("phase") == "Failed", "short Failed", srv, timeout=120)
    status = pod_status(srv, "short")
    assert status["reason"] == "DeadlineExceeded" and status["startTime"]
