"""The node agent end to end (issue 4): `kubeling server` with its in-process
agent runs pods as real runc containers from the busybox test image, driven
by stock kubectl. Needs root and runc; under CI a missing one fails.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from kubeling.kubelet.runtime import sandbox
from tests.e2e.cluster import Server
from tests.kubelet import testimage

pytestmark = [pytest.mark.e2e, pytest.mark.root]


def _require() -> None:
    missing = [what for what, ok in (("root", os.geteuid() == 0), ("runc", shutil.which("runc") is not None),
                                     ("busybox-static", testimage.BUSYBOX.exists())) if not ok]
    if missing:
        if os.environ.get("CI"):
            pytest.fail("needs " + ", ".join(missing))
        pytest.skip("needs " + ", ".join(missing))


def _cleanup_node(data_dir: pathlib.Path) -> None:
    """Containers outlive the agent by design: remove what the test left."""
    root = data_dir / "run" / "runc"
    if root.exists():
        ids = subprocess.run(["runc", "--root", str(root), "list", "-q"], capture_output=True, text=True).stdout
        for cid in ids.split():
            subprocess.run(["runc", "--root", str(root), "delete", "-f", cid], capture_output=True)
    # Pod-wide PID namespaces are held by a process (catatonit) that outlives the agent too.
    for record in (data_dir / "sandboxes").glob("*/sandbox.json"):
        holder = json.loads(record.read_text()).get("pid_holder")
        if holder:
            sandbox.stop_pid_holder(holder)
    mounts = [line.split()[1] for line in pathlib.Path("/proc/self/mounts").read_text().splitlines()
              if line.split()[1].startswith(str(data_dir))]
    for m in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _require()
    data = tmp_path_factory.mktemp("node") / "data"
    data.mkdir()
    archive = data.parent / "busybox.tar"
    testimage.busybox_layout(archive, names=["docker.io/library/busybox:latest", "docker.io/library/busybox:1"])
    subprocess.run([sys.executable, "-m", "kubeling", "image", "import", "--data-dir", str(data), str(archive)],
                   check=True, capture_output=True)
    srv = Server(data, agent=True)
    srv.start()
    try:
        wait(lambda: _node_ready(srv), "the node Ready with a pod CIDR", srv)
        yield srv
    finally:
        srv.stop()
        _cleanup_node(data)


def _node_ready(srv: Server) -> bool:
    nodes = get(srv, "nodes")["items"]
    if not nodes:
        return False
    n = nodes[0]
    if not n["spec"].get("podCIDR"):
        # Until the node IPAM controller assigns one (older servers): do it as an admin would.
        srv.kubectl("patch", "node", n["metadata"]["name"], "--type=merge",
                    "-p", '{"spec":{"podCIDR":"10.42.0.0/24","podCIDRs":["10.42.0.0/24"]}}', check=False)
        return False
    return any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"])


def get(srv: Server, *args: str) -> Any:
    return json.loads(srv.kubectl("get", *args, "-o", "json").stdout)


def wait(cond: Callable[[], Any], what: str, srv: Server, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n--- server log tail:\n{srv.log_path.read_text()[-3000:]}")


def node_name(srv: Server) -> str:
    return str(get(srv, "nodes")["items"][0]["metadata"]["name"])


def run_pod(srv: Server, name: str, *command: str, restart: str = "Always", **spec: Any) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
           "spec": {"nodeName": node_name(srv), "restartPolicy": restart,
                    "containers": [{"name": "c", "image": "busybox", "command": list(command),
                                    **spec.pop("container", {})}], **spec}}
    srv.kubectl("apply", "-f", "-", input=json.dumps(pod))


def pod_status(srv: Server, name: str) -> dict[str, Any]:
    return dict(get(srv, "pod", name)["status"])


def container(srv: Server, name: str) -> dict[str, Any]:
    """The first container's status ({} before the kubelet reported one)."""
    return dict((pod_status(srv, name).get("containerStatuses") or [{}])[0])


def test_httpd_pod_runs_and_answers_on_its_ip(node: Server) -> None:
    run_pod(node, "web", "httpd", "-f", "-p", "8080", "-h", "/var/www")
    status = wait(lambda: (s := pod_status(node, "web")).get("phase") == "Running" and s.get("podIP") and s,
                  "web Running", node)
    assert status["podIP"].startswith("10.42.")
    cs = status["containerStatuses"][0]
    assert cs["ready"] and cs["state"]["running"] and cs["containerID"].startswith("runc://")
    assert {c["type"]: c["status"] for c in status["conditions"]}["Ready"] == "True"
    with urllib.request.urlopen(f"http://{status['podIP']}:8080/index.html", timeout=5) as r:
        assert b"hello from busybox httpd" in r.read()


def test_exit_codes_and_completed_pods(node: Server) -> None:
    run_pod(node, "ok", "sh", "-c", "echo done", restart="Never")
    run_pod(node, "bad", "sh", "-c", "exit 3", restart="Never")
    wait(lambda: pod_status(node, "ok").get("phase") == "Succeeded", "ok Succeeded", node)
    wait(lambda: pod_status(node, "bad").get("phase") == "Failed", "bad Failed", node)
    term = pod_status(node, "bad")["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 3 and term["reason"] == "Error"
    ok = pod_status(node, "ok")["containerStatuses"][0]["state"]["terminated"]
    assert ok["exitCode"] == 0 and ok["reason"] == "Completed"


def test_killed_container_restarts_and_counts(node: Server) -> None:
    run_pod(node, "sleeper", "sleep", "3600")
    wait(lambda: pod_status(node, "sleeper").get("phase") == "Running", "sleeper Running", node)
    cid = pod_status(node, "sleeper")["containerStatuses"][0]["containerID"].removeprefix("runc://")
    subprocess.run(["runc", "--root", str(node.data_dir / "run" / "runc"), "kill", cid, "KILL"], check=True)
    cs = wait(lambda: (c := container(node, "sleeper")).get("restartCount", 0) >= 1
              and c["state"].get("running") and c, "a restart", node)
    last = cs["lastState"]["terminated"]
    assert last["exitCode"] == 137


def test_crashing_container_backs_off(node: Server) -> None:
    run_pod(node, "crash", "sh", "-c", "exit 1")
    wait(lambda: container(node, "crash").get("state", {}).get("waiting", {}).get("reason") == "CrashLoopBackOff",
         "CrashLoopBackOff", node)
    cs = container(node, "crash")
    assert cs["restartCount"] >= 1 and cs["lastState"]["terminated"]["exitCode"] == 1
    assert "back-off" in cs["state"]["waiting"]["message"]


def test_env_configmap_volume_and_init_containers(node: Server) -> None:
    node.kubectl("create", "configmap", "conf", "--from-literal=greeting=hello")
    run_pod(node, "cfg", "sh", "-c", "cat /init/mark /conf/greeting; echo \" $GREETING $POD\"; sleep 3600",
            container={"env": [{"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "conf",
                                                                                       "key": "greeting"}}},
                               {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                       "volumeMounts": [{"name": "conf", "mountPath": "/conf"},
                                        {"name": "work", "mountPath": "/init"}]},
            initContainers=[{"name": "first", "image": "busybox", "command": ["sh", "-c", "echo -n init- > /w/mark"],
                             "volumeMounts": [{"name": "work", "mountPath": "/w"}]}],
            volumes=[{"name": "conf", "configMap": {"name": "conf"}}, {"name": "work", "emptyDir": {}}])
    wait(lambda: pod_status(node, "cfg").get("phase") == "Running", "cfg Running", node)
    status = pod_status(node, "cfg")
    assert status["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    log_dir = next((node.data_dir / "logs" / "pods").glob("default_cfg_*"))
    wait(lambda: (log_dir / "c" / "0.log").exists() and "init-hello hello cfg" in (log_dir / "c" / "0.log").read_text(),
         "the container's output", node)


def test_delete_stops_within_grace_and_frees_address(node: Server) -> None:
    run_pod(node, "gone", "sleep", "3600", terminationGracePeriodSeconds=2)
    ip = wait(lambda: pod_status(node, "gone").get("podIP"), "an IP", node)
    wait(lambda: pod_status(node, "gone").get("phase") == "Running", "Running", node)
    # sleep as PID 1 ignores SIGTERM: the kubelet must SIGKILL it after the 2 s grace.
    node.kubectl("delete", "pod", "gone", "--wait=true", timeout=60)
    assert node.kubectl("get", "pod", "gone", check=False).returncode != 0
    ipam = json.loads((node.data_dir / "network" / "kubeling0" / "ipam.json").read_text())
    assert ip not in ipam["allocated"]


def test_image_pulled_from_a_registry_and_missing_image_backs_off(node: Server, tmp_path: pathlib.Path) -> None:
    from tests.kubelet import registryhelper

    registryhelper.require_registry()
    reg = registryhelper.Registry(tmp_path / "registry")
    try:
        built = registryhelper.image([testimage.busybox_layer(gzipped=True)], cmd=["sh"])
        reg.push("team/tools", "v1", built)
        run_pod(node, "pulled", "sleep", "3600", container={"image": f"{reg.host}/team/tools:v1"})
        wait(lambda: pod_status(node, "pulled").get("phase") == "Running", "pulled image Running", node)
        cs = container(node, "pulled")
        assert cs["imageID"].endswith(built.digest)
        events = node.kubectl("get", "events", "--field-selector", "involvedObject.name=pulled").stdout
        assert "Pulling" in events and "Successfully pulled" in events
        run_pod(node, "missing", "true", container={"image": f"{reg.host}/team/tools:nope"})
        # ErrImagePull (with the registry's words) first, ImagePullBackOff on the retries.
        wait(lambda: container(node, "missing").get("state", {}).get("waiting", {}).get("reason")
             == "ImagePullBackOff", "ImagePullBackOff", node)
        events = node.kubectl("get", "events", "--field-selector", "involvedObject.name=missing",
                              "-o", "jsonpath={range .items[*]}{.reason}: {.message}{'\\n'}{end}").stdout
        assert "manifest unknown" in events and "Error: ErrImagePull" in events, events
    finally:
        reg.stop()


def test_restarted_agent_keeps_pods_running(node: Server) -> None:
    run_pod(node, "survivor", "sleep", "3600")
    wait(lambda: pod_status(node, "survivor").get("phase") == "Running", "survivor Running", node)
    before = container(node, "survivor")
    node.stop()  # the server and its in-process agent; containers outlive them by design
    node.start()
    wait(lambda: _node_ready(node), "the node Ready again", node)
    time.sleep(3)  # a few PLEG and housekeeping rounds of the new agent
    after = container(node, "survivor")
    assert after["containerID"] == before["containerID"] and after["restartCount"] == 0
    assert after["state"].get("running") and pod_status(node, "survivor")["phase"] == "Running"
    runc_ids = subprocess.run(["runc", "--root", str(node.data_dir / "run" / "runc"), "list", "-q"],
                              capture_output=True, text=True).stdout.split()
    assert before["containerID"].removeprefix("runc://") in runc_ids


def test_httpd_deployment_answers_the_host_and_another_pod(node: Server) -> None:
    node.kubectl("create", "deployment", "webd", "--image=busybox:1", "--replicas=2",
                 "--", "httpd", "-f", "-p", "8080", "-h", "/var/www")

    def running_ips() -> list[str]:
        items = get(node, "pods", "-l", "app=webd")["items"]
        return [p["status"]["podIP"] for p in items
                if p["status"].get("phase") == "Running" and p["status"].get("podIP")]

    ips = wait(lambda: (got := running_ips()) and len(got) == 2 and got, "2 running httpd pods", node)
    for ip in ips:
        with urllib.request.urlopen(f"http://{ip}:8080/index.html", timeout=5) as r:
            assert b"hello from busybox httpd" in r.read()
    run_pod(node, "client", "sh", "-c", f"wget -qO- http://{ips[0]}:8080/index.html && "
                                        f"wget -qO- http://{ips[1]}:8080/index.html", restart="Never",
            container={"image": "busybox:1"})
    wait(lambda: pod_status(node, "client").get("phase") in ("Succeeded", "Failed"), "the client done", node)
    assert pod_status(node, "client")["phase"] == "Succeeded"
    assert node.kubectl("logs", "client").stdout.count("hello from busybox httpd") == 2
