"""Pod and container conformance on the real node agent: image entrypoints and
arguments, logs, the kubelet's /etc/hosts, host IP and QoS class, the pod
lifecycle seen through a watch, label updates, status patches, service
environment variables, liveness restarts, subPathExpr, sysctls and pod
networking (HTTP and UDP, pod to pod and node to pod).

Upstream's tests use agnhost images; here the busybox test image does the
same work (httpd for HTTP). busybox has no UDP server, so the UDP ends run
the host's own Python through ``chroot`` into a read-only hostPath of ``/``:
the sockets still live in the pod's network namespace, which is what is
tested. Driven by stock kubectl and the official ``kubernetes`` client.
Needs root and runc; under CI a missing one fails.
"""

from __future__ import annotations

import functools
import json
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8sconfig
from kubernetes import watch as k8swatch

from tests.e2e import test_node as base
from tests.e2e.cluster import Server
from tests.kubelet import testimage

pytestmark = [pytest.mark.e2e, pytest.mark.root]

node = base.node  # a module-scoped server with its agent, of this module's own
get, wait, run_pod, pod_status, container = base.get, base.wait, base.run_pod, base.pod_status, base.container

PYTHON = os.path.realpath(sys.executable)  # run inside pods through chroot /host (see the module docstring)


def core_api(srv: Server) -> k8s.CoreV1Api:
    return k8s.CoreV1Api(k8sconfig.new_client_from_config(str(srv.kubeconfig)))


def apply(srv: Server, obj: dict[str, Any]) -> None:
    srv.kubectl("apply", "-f", "-", input=json.dumps(obj))


def pod(srv: Server, name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    meta = spec.pop("metadata", {})
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": name}, **meta},
            "spec": {"nodeName": base.node_name(srv), "containers": containers, **spec}}


def box(name: str, *command: str, **extra: Any) -> dict[str, Any]:
    """A busybox container."""
    return {"name": name, "image": "busybox", **({"command": list(command)} if command else {}), **extra}


def phase(srv: Server, name: str) -> str:
    return str(pod_status(srv, name).get("phase", ""))


def finished(srv: Server, name: str) -> str:
    return str(wait(lambda: phase(srv, name) if phase(srv, name) in ("Succeeded", "Failed") else "",
                    f"{name} finished", srv))


def running(srv: Server, name: str, timeout: float = 60.0) -> dict[str, Any]:
    return dict(wait(lambda: (s := pod_status(srv, name)).get("phase") == "Running" and s, f"{name} Running", srv,
                     timeout=timeout))


def logs(srv: Server, name: str, *args: str) -> str:
    return srv.kubectl("logs", name, *args).stdout


def sh(srv: Server, name: str, cname: str, script: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    return srv.kubectl("exec", name, "-c", cname, "--", "sh", "-c", script, check=check)


def waiting_reason(srv: Server, name: str) -> str:
    return str(container(srv, name).get("state", {}).get("waiting", {}).get("reason", ""))


def config_error(srv: Server, name: str) -> bool:
    return waiting_reason(srv, name) == "CreateContainerConfigError"


# ---- containers: the image's entrypoint and arguments ------------------------------------------


@pytest.fixture(scope="module")
def entrypoint_image(node: Server) -> str:
    """An image whose Entrypoint prints its arguments after a marker, with default arguments in Cmd."""
    ref = "docker.io/library/entrypoint-tester:1"
    archive = node.data_dir.parent / "entrypoint-tester.tar"
    testimage.oci_layout(archive, [testimage.busybox_layer(gzipped=True)], names=[ref],
                         cmd=["default", "arguments"], config_extra={"Entrypoint": ["echo", "[entrypoint]"]})
    subprocess.run([sys.executable, "-m", "kubeling", "image", "import", "--data-dir", str(node.data_dir),
                    str(archive)], check=True, capture_output=True)
    return "entrypoint-tester:1"


@pytest.mark.conformance("Containers, without command and arguments")
@pytest.mark.conformance("Containers, with arguments")
@pytest.mark.conformance("Containers, with command")
@pytest.mark.conformance("Containers, with command and arguments")
def test_image_entrypoint_and_cmd_against_command_and_args(node: Server, entrypoint_image: str) -> None:
    cases = {
        "ep-defaults": ({}, "[entrypoint] default arguments"),
        "ep-args": ({"args": ["override", "arguments"]}, "[entrypoint] override arguments"),
        "ep-command": ({"command": ["echo", "[replaced]"]}, "[replaced]"),  # the image's Cmd is dropped too
        "ep-both": ({"command": ["echo", "[replaced]"], "args": ["override", "arguments"]},
                    "[replaced] override arguments"),
    }
    for name, (fields, _) in cases.items():
        apply(node, pod(node, name, [{"name": "c", "image": entrypoint_image, **fields}], restartPolicy="Never"))
    for name, (_, expected) in cases.items():
        assert finished(node, name) == "Succeeded"
        assert logs(node, name) == expected + "\n", name


# ---- logs, /etc/hosts, host IP and QoS ---------------------------------------------------------


@pytest.mark.conformance("Kubelet, log output, default")
def test_stdout_and_stderr_go_to_the_pod_log(node: Server) -> None:
    apply(node, pod(node, "busybox-logs", [box("c", "sh", "-c", "echo 'Hello World'; echo 'on stderr' >&2; "
                                                                "sleep 3600")], terminationGracePeriodSeconds=1))
    running(node, "busybox-logs")
    got = wait(lambda: "on stderr" in (out := logs(node, "busybox-logs")) and out, "both lines in the log", node)
    assert "Hello World\n" in got and "on stderr\n" in got


# Upstream's check: the file starts with the kubelet's header.
MANAGED_HEADER = "# Kubernetes-managed hosts file."


@pytest.mark.conformance("Kubelet, managed etc hosts")
def test_kubelet_manages_etc_hosts_unless_mounted_or_host_network(node: Server) -> None:
    host_hosts = {"name": "host-etc-hosts", "hostPath": {"path": "/etc/hosts", "type": "FileOrCreate"}}
    original = {"name": "host-etc-hosts", "mountPath": "/etc/hosts-original"}
    sleeper = ("sh", "-c", "sleep 3600")
    apply(node, pod(node, "etc-hosts", [
        box("busybox-1", *sleeper, volumeMounts=[original]),
        box("busybox-2", *sleeper, volumeMounts=[original]),
        box("busybox-3", *sleeper, volumeMounts=[original, {"name": "host-etc-hosts", "mountPath": "/etc/hosts"}]),
    ], volumes=[host_hosts], terminationGracePeriodSeconds=1))
    apply(node, pod(node, "etc-hosts-hostnet", [
        box("busybox-1", *sleeper, volumeMounts=[original]),
        box("busybox-2", *sleeper, volumeMounts=[original]),
    ], volumes=[host_hosts], hostNetwork=True, terminationGracePeriodSeconds=1))
    status = running(node, "etc-hosts")
    running(node, "etc-hosts-hostnet")

    def managed(name: str, cname: str) -> bool:
        hosts = sh(node, name, cname, "cat /etc/hosts").stdout
        original = sh(node, name, cname, "cat /etc/hosts-original").stdout
        assert hosts and original
        # upstream's check: the kubelet's header, and not the node's own file
        return hosts.startswith(MANAGED_HEADER) and hosts != original

    assert managed("etc-hosts", "busybox-1") and managed("etc-hosts", "busybox-2")
    hosts = sh(node, "etc-hosts", "busybox-1", "cat /etc/hosts").stdout
    assert f"{status['podIP']}\tetc-hosts" in hosts
    assert not managed("etc-hosts", "busybox-3")
    assert not managed("etc-hosts-hostnet", "busybox-1") and not managed("etc-hosts-hostnet", "busybox-2")


@pytest.mark.conformance("Pods, assigned hostip")
@pytest.mark.conformance("Pods, QOS")
def test_pod_gets_the_host_ip_and_its_qos_class(node: Server) -> None:
    resources = {"requests": {"cpu": "100m", "memory": "100Mi"}, "limits": {"cpu": "100m", "memory": "100Mi"}}
    apply(node, pod(node, "qos-hostip", [box("c", "sleep", "3600", resources=resources)],
                    terminationGracePeriodSeconds=1))
    assert get(node, "pod", "qos-hostip")["status"]["qosClass"] == "Guaranteed"
    status = running(node, "qos-hostip")
    node_obj = get(node, "nodes")["items"][0]
    internal = next(a["address"] for a in node_obj["status"]["addresses"] if a["type"] == "InternalIP")
    socket.inet_aton(status["hostIP"])  # a valid IPv4 address
    assert status["hostIP"] == internal and status["hostIPs"] == [{"ip": internal}]
    assert status["qosClass"] == "Guaranteed"


# ---- the pod through the API: watch, update, status patch --------------------------------------

TERM_OK = ("sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait")  # leaves promptly on SIGTERM


@pytest.mark.conformance("Pods, lifecycle")
def test_pod_submitted_seen_running_and_removed_through_a_watch(node: Server) -> None:
    api = core_api(node)
    value = str(time.time_ns())
    selector = f"time={value}"
    assert api.list_namespaced_pod("default", label_selector=selector).items == []
    start = api.list_namespaced_pod("default", label_selector=selector).metadata.resource_version
    events: list[tuple[str, Any]] = []
    w = k8swatch.Watch()

    def consume() -> None:
        for ev in w.stream(api.list_namespaced_pod, "default", label_selector=selector, resource_version=start,
                           timeout_seconds=120):
            events.append((ev["type"], ev["object"]))
            if ev["type"] == "DELETED":
                w.stop()

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    body = pod(node, "pod-submit-remove", [box("c", *TERM_OK)], metadata={"labels": {"name": "foo", "time": value}})
    api.create_namespaced_pod("default", body)
    assert len(api.list_namespaced_pod("default", label_selector=selector).items) == 1
    wait(lambda: events, "the ADDED event", node)
    assert events[0][0] == "ADDED"
    running(node, "pod-submit-remove")
    api.delete_namespaced_pod("pod-submit-remove", "default", grace_period_seconds=30)
    t.join(timeout=90)
    assert not t.is_alive(), [e[0] for e in events]
    kind, last = events[-1]
    assert kind == "DELETED"
    assert last.metadata.deletion_timestamp is not None
    assert last.spec.termination_grace_period_seconds
    # graceful: at some point the pod was seen terminating before it went away
    assert any(k == "MODIFIED" and o.metadata.deletion_timestamp for k, o in events)
    assert api.list_namespaced_pod("default", label_selector=selector).items == []


@pytest.mark.conformance("Pods, update")
def test_pod_label_update(node: Server) -> None:
    api = core_api(node)
    value = str(time.time_ns())
    api.create_namespaced_pod("default", pod(node, "pod-update", [box("c", *TERM_OK)],
                                             metadata={"labels": {"name": "foo", "time": value}}))
    running(node, "pod-update")
    assert len(api.list_namespaced_pod("default", label_selector=f"time={value}").items) == 1
    new_value = str(time.time_ns())
    current = api.read_namespaced_pod("pod-update", "default")
    current.metadata.labels["time"] = new_value
    api.replace_namespaced_pod("pod-update", "default", current)
    running(node, "pod-update")
    found = api.list_namespaced_pod("default", label_selector=f"time={new_value}").items
    assert [p.metadata.name for p in found] == ["pod-update"]
    assert api.list_namespaced_pod("default", label_selector=f"time={value}").items == []


@pytest.mark.conformance("Pods, patching status")
def test_patch_pod_status(node: Server) -> None:
    api = core_api(node)
    api.create_namespaced_pod("default", pod(node, "pod-patch-status", [box("c", *TERM_OK)],
                                             terminationGracePeriodSeconds=1))
    running(node, "pod-patch-status")
    patched = api.patch_namespaced_pod_status(
        "pod-patch-status", "default",
        {"metadata": {"annotations": {"patchedstatus": "true"}},
         "status": {"message": "Patched by e2e test", "reason": "E2E"}})
    assert patched.status is not None
    assert patched.status.message == "Patched by e2e test" and patched.status.reason == "E2E"
    again = api.read_namespaced_pod_status("pod-patch-status", "default").status
    assert again is not None
    assert again.message == "Patched by e2e test" and again.reason == "E2E" and again.phase == "Running"


# ---- service environment variables -------------------------------------------------------------


@pytest.mark.conformance("Pods, service environment variables")
def test_containers_get_service_environment_variables(node: Server) -> None:
    apply(node, pod(node, "server-envvars", [box("srv", "httpd", "-f", "-p", "8080", "-h", "/var/www",
                                                 ports=[{"containerPort": 8080}])],
                    metadata={"labels": {"name": "server-envvars"}}, terminationGracePeriodSeconds=1))
    running(node, "server-envvars")
    apply(node, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "fooservice"},
                 "spec": {"ports": [{"port": 8765, "targetPort": 8080}], "selector": {"name": "server-envvars"}}})
    ip = get(node, "service", "fooservice")["spec"]["clusterIP"]
    master = get(node, "service", "kubernetes")["spec"]
    env_cmd = ("sh", "-c", "env | sort")

    def env_of(name: str, **spec: Any) -> dict[str, str]:
        apply(node, pod(node, name, [box("env3cont", *env_cmd)], restartPolicy="Never", **spec))
        assert finished(node, name) == "Succeeded"
        return dict(line.split("=", 1) for line in logs(node, name).splitlines() if "=" in line)

    # The kubelet learns of the new Service through its informer: retry as upstream does.
    env: dict[str, str] = {}
    for attempt in range(3):
        env = env_of(f"client-envvars-{attempt}")
        if "FOOSERVICE_SERVICE_HOST" in env:
            break
    expected = {
        "FOOSERVICE_SERVICE_HOST": ip, "FOOSERVICE_SERVICE_PORT": "8765",
        "FOOSERVICE_PORT": f"tcp://{ip}:8765", "FOOSERVICE_PORT_8765_TCP": f"tcp://{ip}:8765",
        "FOOSERVICE_PORT_8765_TCP_PROTO": "tcp", "FOOSERVICE_PORT_8765_TCP_PORT": "8765",
        "FOOSERVICE_PORT_8765_TCP_ADDR": ip,
        "KUBERNETES_SERVICE_HOST": master["clusterIP"],
        "KUBERNETES_SERVICE_PORT": str(master["ports"][0]["port"]),
    }
    assert {k: env.get(k) for k in expected} == expected
    # The API server's own Service stays visible without service links; the others do not.
    unlinked = env_of("client-nolinks", enableServiceLinks=False)
    assert "FOOSERVICE_SERVICE_HOST" not in unlinked
    assert unlinked["KUBERNETES_SERVICE_HOST"] == master["clusterIP"]


# ---- liveness over HTTP, restarted again and again ---------------------------------------------


@pytest.mark.conformance("Pod liveness probe, using http endpoint, multiple restarts (slow)")
def test_http_liveness_failures_restart_the_container_again_and_again(node: Server) -> None:
    # /healthz answers for 10 s after each start, then 404s; every failure restarts the container.
    script = ("mkdir -p /w && echo ok > /w/healthz && (sleep 10; rm -f /w/healthz) & "
              "exec httpd -f -p 8080 -h /w")
    probe = {"httpGet": {"path": "/healthz", "port": 8080}, "initialDelaySeconds": 5, "failureThreshold": 1,
             "periodSeconds": 1}
    apply(node, pod(node, "liveness-http", [box("c", "sh", "-c", script, livenessProbe=probe)],
                    terminationGracePeriodSeconds=1))
    seen = [0]

    def restarted_more() -> bool:
        count = int(container(node, "liveness-http").get("restartCount", 0))
        assert count >= seen[-1], f"restart count went down: {seen} then {count}"
        if count > seen[-1]:
            seen.append(count)
        return count >= 5

    # the crash-loop back-off grows 10, 20, 40 s between restarts
    wait(restarted_more, "5 restarts", node, timeout=400)
    assert seen == sorted(seen) and seen[-1] >= 5
    events = node.kubectl("get", "events", "--field-selector", "involvedObject.name=liveness-http",
                          "-o", "jsonpath={range .items[*]}{.reason}: {.message}{'\\n'}{end}").stdout
    everything = node.kubectl("get", "events", "-o", "wide", check=False).stdout  # for the failure message
    assert "Unhealthy: Liveness probe failed" in events and "failed liveness probe, will be restarted" in events, \
        everything


# ---- subPathExpr -------------------------------------------------------------------------------

WORKDIR = [{"name": "workdir1", "emptyDir": {}}]


def expansion_pod(srv: Server, name: str, command: list[str], env: list[dict[str, Any]],
                  mounts: list[dict[str, Any]], **meta: Any) -> dict[str, Any]:
    return pod(srv, name, [box("dapi-container", *command, env=env, volumeMounts=mounts)], restartPolicy="Never",
               volumes=WORKDIR, terminationGracePeriodSeconds=1, metadata=meta)


@pytest.mark.conformance("VolumeSubpathEnvExpansion, subpath expansion")
def test_subpath_expr_from_an_env_var(node: Server) -> None:
    name = "var-expansion-subpath"
    apply(node, expansion_pod(node, name, ["sh", "-c", f"test -d /testcontainer/{name}; echo $?"],
                              [{"name": "POD_NAME", "value": name}],
                              [{"name": "workdir1", "mountPath": "/logscontainer", "subPathExpr": "$(POD_NAME)"},
                               {"name": "workdir1", "mountPath": "/testcontainer"}]))
    assert finished(node, name) == "Succeeded"
    assert logs(node, name) == "0\n"


@pytest.mark.conformance("VolumeSubpathEnvExpansion, subpath with backticks")
@pytest.mark.conformance("VolumeSubpathEnvExpansion, subpath with absolute path")
def test_subpath_expr_leaving_the_volume_fails_the_container(node: Server) -> None:
    for name, value in (("var-expansion-backsteps", ".."), ("var-expansion-absolute", "/tmp")):
        apply(node, expansion_pod(node, name, [], [{"name": "POD_NAME", "value": value}],
                                  [{"name": "workdir1", "mountPath": "/logscontainer",
                                    "subPathExpr": "$(POD_NAME)"}]))
    for name in ("var-expansion-backsteps", "var-expansion-absolute"):
        wait(functools.partial(config_error, node, name), f"{name} config error", node)
        cs = container(node, name)
        assert cs["restartCount"] == 0 and "containerID" not in cs
    assert "must not contain '..'" in container(node, "var-expansion-backsteps")["state"]["waiting"]["message"]
    assert "absolute" in container(node, "var-expansion-absolute")["state"]["waiting"]["message"]
    node.kubectl("delete", "pod", "var-expansion-backsteps", "var-expansion-absolute", "--wait=true")


ANNOTATED: list[dict[str, Any]] = [{"name": "POD_NAME", "value": "foo"},
             {"name": "ANNOTATION", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                                "fieldPath": "metadata.annotations['mysubpath']"}}}]
ANNOTATED_MOUNTS: list[dict[str, Any]] = [{"name": "workdir1", "mountPath": "/subpath_mount", "subPathExpr": "$(ANNOTATION)/$(POD_NAME)"},
                    {"name": "workdir1", "mountPath": "/volume_mount"}]


@pytest.mark.conformance("VolumeSubpathEnvExpansion, subpath ready from failed state")
def test_failing_subpath_expr_starts_once_the_annotation_is_set(node: Server) -> None:
    name = "var-expansion-fixed"
    apply(node, expansion_pod(node, name, ["sh", "-c", "tail -f /dev/null"], ANNOTATED, ANNOTATED_MOUNTS,
                              annotations={"notmysubpath": "mypath"}))
    wait(functools.partial(config_error, node, name), "the config error", node)
    assert phase(node, name) == "Pending"
    node.kubectl("annotate", "pod", name, "mysubpath=mypath")
    running(node, name)
    assert sh(node, name, "dapi-container", "test -d /volume_mount/mypath/foo && echo there").stdout == "there\n"
    node.kubectl("delete", "pod", name, "--wait=true")


@pytest.mark.conformance("VolumeSubpathEnvExpansion, subpath test writes")
def test_subpath_expr_writes_land_in_the_sub_directory(node: Server) -> None:
    name = "var-expansion-writes"
    apply(node, expansion_pod(node, name, ["sh", "-c", "tail -f /dev/null"], ANNOTATED, ANNOTATED_MOUNTS,
                              annotations={"mysubpath": "mypath"}))
    running(node, name)
    sh(node, name, "dapi-container", "touch /volume_mount/mypath/foo/test.log")
    assert sh(node, name, "dapi-container", "test -f /subpath_mount/test.log", check=False).returncode == 0
    node.kubectl("annotate", "pod", name, "mysubpath=mynewpath", "--overwrite")
    time.sleep(2)  # a few syncs with the changed annotation: the running container is left alone
    assert running(node, name)["containerStatuses"][0]["restartCount"] == 0
    node.kubectl("delete", "pod", name, "--wait=true")
    uid_dirs = list((node.data_dir / "pods").glob("*/volumes/workdir1/mypath"))
    assert uid_dirs == []  # the volume went with the pod


# ---- sysctls -----------------------------------------------------------------------------------


@pytest.mark.conformance("Sysctl, test sysctls")
def test_safe_sysctl_is_set_in_the_pod(node: Server) -> None:
    apply(node, pod(node, "sysctl-shm", [box("test-container", "/bin/sysctl", "kernel.shm_rmid_forced")],
                    restartPolicy="Never",
                    securityContext={"sysctls": [{"name": "kernel.shm_rmid_forced", "value": "1"}]}))
    assert finished(node, "sysctl-shm") == "Succeeded"
    assert "kernel.shm_rmid_forced = 1" in logs(node, "sysctl-shm")
    # the node's own value is untouched: the sysctl lives in the pod's IPC namespace
    assert pathlib.Path("/proc/sys/kernel/shm_rmid_forced").read_text().strip() == "0"


@pytest.mark.conformance("Sysctls, reject invalid sysctls")
def test_invalid_sysctl_names_are_rejected_by_the_api(node: Server) -> None:
    sysctls = [{"name": "foo-", "value": "bar"}, {"name": "kernel.shmmax", "value": "100000000"},
               {"name": "safe-and-unsafe", "value": "100000000"}, {"name": "bar..", "value": "42"}]
    res = node.kubectl("create", "-f", "-", check=False, input=json.dumps(
        pod(node, "sysctl-invalid", [box("test-container")], restartPolicy="Never",
            securityContext={"sysctls": sysctls})))
    assert res.returncode != 0
    assert 'Invalid value: "foo-"' in res.stderr and 'Invalid value: "bar.."' in res.stderr, res.stderr
    assert "safe-and-unsafe" not in res.stderr and "kernel.shmmax" not in res.stderr
    assert node.kubectl("get", "pod", "sysctl-invalid", check=False).returncode != 0


# ---- networking: HTTP and UDP between pods and from the node -----------------------------------

UDP_SERVER = ("import socket\n"
              "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
              "s.bind(('', 8081))\n"
              "while True:\n"
              "    data, peer = s.recvfrom(1024)\n"
              "    if data.strip() == b'hostname':\n"
              "        s.sendto(socket.gethostname().encode(), peer)\n")
UDP_CLIENT = ("import socket, sys\n"
              "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
              "s.settimeout(2)\n"
              "for _ in range(10):\n"
              "    s.sendto(b'hostname', (sys.argv[1], 8081))\n"
              "    try:\n"
              "        print(s.recvfrom(1024)[0].decode()); break\n"
              "    except socket.timeout:\n"
              "        pass\n")
HOST_ROOT = {"name": "host-root", "hostPath": {"path": "/", "type": "Directory"}}
HOST_ROOT_MOUNT = {"name": "host-root", "mountPath": "/host", "readOnly": True}


def _http_from_pod(srv: Server, ip: str) -> str:
    return sh(srv, "test-container-pod", "webserver", f"timeout 5 wget -qO- http://{ip}:8080/hostname",
              check=False).stdout.strip()


def _udp_from_pod(srv: Server, ip: str) -> str:
    return srv.kubectl("exec", "test-container-pod", "-c", "webserver", "--", "chroot", "/host", PYTHON, "-I",
                       "-c", UDP_CLIENT, ip, check=False).stdout.strip()


def _http_from_node(ip: str) -> str:
    try:
        with urllib.request.urlopen(f"http://{ip}:8080/hostname", timeout=2) as r:
            return str(r.read().decode().strip())
    except OSError:
        return ""


def _udp_from_node(ip: str) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        for _ in range(10):
            s.sendto(b"hostname", (ip, 8081))
            try:
                return s.recvfrom(1024)[0].decode()
            except TimeoutError:
                continue
    return ""


@pytest.fixture(scope="module")
def netservers(node: Server) -> dict[str, str]:
    """Two netserver pods (HTTP on 8080 and UDP on 8081 both answer the pod's
    hostname) and a test-container pod to dial from: name → pod IP."""
    names = ["netserver-0", "netserver-1"]
    for name in names:
        apply(node, pod(node, name, [
            box("http", "sh", "-c", "mkdir -p /srv && hostname > /srv/hostname && exec httpd -f -p 8080 -h /srv",
                ports=[{"containerPort": 8080, "protocol": "TCP"}]),
            box("udp", "chroot", "/host", PYTHON, "-I", "-c", UDP_SERVER, volumeMounts=[HOST_ROOT_MOUNT],
                ports=[{"containerPort": 8081, "protocol": "UDP"}]),
        ], volumes=[HOST_ROOT], terminationGracePeriodSeconds=1, metadata={"labels": {"selector": "netserver"}}))
    apply(node, pod(node, "test-container-pod", [box("webserver", "sleep", "3600",
                                                     volumeMounts=[HOST_ROOT_MOUNT])],
                    volumes=[HOST_ROOT], terminationGracePeriodSeconds=1))
    ips = {name: running(node, name)["podIP"] for name in names}
    running(node, "test-container-pod")
    return ips


@pytest.mark.conformance("Networking, intra pod http")
def test_pods_reach_each_other_over_http(node: Server, netservers: dict[str, str]) -> None:
    for name, ip in netservers.items():
        got = wait(functools.partial(_http_from_pod, node, ip), f"http from the test pod to {name}", node)
        assert got == name


@pytest.mark.conformance("Networking, intra pod udp")
def test_pods_reach_each_other_over_udp(node: Server, netservers: dict[str, str]) -> None:
    for name, ip in netservers.items():
        got = wait(functools.partial(_udp_from_pod, node, ip), f"udp from the test pod to {name}", node)
        assert got == name


# Upstream has two tests under this one test name: node to pod over http, and over udp.
@pytest.mark.conformance("Networking, intra pod http, from node")
def test_node_reaches_pods_over_http_and_udp(node: Server, netservers: dict[str, str]) -> None:
    for name, ip in netservers.items():
        assert wait(functools.partial(_http_from_node, ip), f"http from the node to {name}", node) == name
        assert wait(functools.partial(_udp_from_node, ip), f"udp from the node to {name}", node) == name
