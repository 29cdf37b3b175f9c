"""Ephemeral containers and shared PID namespaces end to end: the
pods/ephemeralcontainers subresource and the kubelet starting what it adds
into the running pod (real runc), driven by the official client as the
conformance tests do and by `kubectl debug -it --target`; and
`shareProcessNamespace`. Needs root and runc; under CI a missing one fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.e2e.cluster import Server
from tests.e2e.test_node import (
    node,  # noqa: F401 - the module's own node fixture, used by name
    pod_status,
    run_pod,
    wait,
)
from tests.e2e.test_streaming import Terminal, kubectl, running

pytestmark = [pytest.mark.e2e, pytest.mark.root]


@pytest.fixture(scope="module")
def core(node: Server) -> Iterator[client.CoreV1Api]:  # noqa: F811 - the fixture above
    api = config.new_client_from_config(str(node.kubeconfig))
    try:
        yield client.CoreV1Api(api)
    finally:
        api.close()


def _debugger(name: str, *command: str) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "command": list(command), "stdin": True, "tty": True}


def _ephemeral_state(srv: Server, pod: str, name: str) -> dict[str, Any]:
    for st in pod_status(srv, pod).get("ephemeralContainerStatuses") or []:
        if st["name"] == name:
            return dict(st.get("state") or {})
    return {}


def _exec(core: client.CoreV1Api, pod: str, container: str, *command: str) -> str:
    from kubernetes.stream import stream

    return str(stream(core.connect_get_namespaced_pod_exec, pod, "default", container=container,
                      command=list(command), stderr=True, stdin=False, stdout=True, tty=False))


@pytest.mark.conformance("Ephemeral Container Creation")
def test_an_ephemeral_container_starts_in_a_running_pod(node: Server, core: client.CoreV1Api) -> None:  # noqa: F811
    run_pod(node, "eph-create", "sleep", "3600")
    running(node, "eph-create")
    body = {"spec": {"ephemeralContainers": [_debugger("debugger", "sh")]}}
    core.patch_namespaced_pod_ephemeralcontainers("eph-create", "default", body)
    wait(lambda: "running" in _ephemeral_state(node, "eph-create", "debugger"), "the debugger running", node)
    assert _exec(core, "eph-create", "debugger", "/bin/echo", "marco").strip() == "marco"
    # It shares the pod's network namespace: same IP, same loopback.
    ip = pod_status(node, "eph-create")["podIP"]
    assert ip in _exec(core, "eph-create", "debugger", "ip", "-4", "addr")


@pytest.mark.conformance("Ephemeral Container, update ephemeral containers")
def test_ephemeral_containers_are_added_not_changed(node: Server, core: client.CoreV1Api) -> None:  # noqa: F811
    run_pod(node, "eph-update", "sleep", "3600")
    running(node, "eph-update")
    pod = core.read_namespaced_pod_ephemeralcontainers("eph-update", "default")
    pod.spec.ephemeral_containers = [client.V1EphemeralContainer(name="debugger1", image="busybox",
                                                                 command=["sh"], stdin=True, tty=True)]
    core.replace_namespaced_pod_ephemeralcontainers("eph-update", "default", pod)
    wait(lambda: "running" in _ephemeral_state(node, "eph-update", "debugger1"), "debugger1 running", node)
    pod = core.read_namespaced_pod_ephemeralcontainers("eph-update", "default")
    assert [c.name for c in pod.spec.ephemeral_containers] == ["debugger1"]
    pod.spec.ephemeral_containers.append(client.V1EphemeralContainer(name="debugger2", image="busybox",
                                                                     command=["sh"], stdin=True, tty=True))
    core.replace_namespaced_pod_ephemeralcontainers("eph-update", "default", pod)
    pod = core.read_namespaced_pod_ephemeralcontainers("eph-update", "default")
    assert [c.name for c in pod.spec.ephemeral_containers] == ["debugger1", "debugger2"]
    wait(lambda: "running" in _ephemeral_state(node, "eph-update", "debugger2"), "debugger2 running", node)
    # Removing one is refused with a field error; a plain pod update cannot add one.
    def drop_first() -> None:
        pod = core.read_namespaced_pod_ephemeralcontainers("eph-update", "default")
        pod.spec.ephemeral_containers = pod.spec.ephemeral_containers[1:]
        core.replace_namespaced_pod_ephemeralcontainers("eph-update", "default", pod)

    def add_through_the_pod() -> None:
        whole = core.read_namespaced_pod("eph-update", "default")
        whole.spec.ephemeral_containers.append(client.V1EphemeralContainer(name="debugger3", image="busybox"))
        core.replace_namespaced_pod("eph-update", "default", whole)

    assert "may not be removed" in _refused(drop_first)
    assert "spec: Forbidden: pod updates may not change fields" in _refused(add_through_the_pod)
    names = [c.name for c in core.read_namespaced_pod("eph-update", "default").spec.ephemeral_containers]
    assert names == ["debugger1", "debugger2"]


def _refused(update: Callable[[], None]) -> str:
    """The 422 message of a read-modify-write; a conflict with the kubelet's status writes is retried."""
    for _ in range(10):
        with pytest.raises(ApiException) as err:
            update()
        if err.value.status != 409:
            assert err.value.status == 422, err.value.body
            return str(err.value.body)
    raise AssertionError("every attempt conflicted")


def test_kubectl_debug_it_attaches_to_a_new_ephemeral_container(node: Server) -> None:  # noqa: F811
    run_pod(node, "eph-debug", "sleep", "3600")
    running(node, "eph-debug")
    term = Terminal(["kubectl", "--kubeconfig", str(node.kubeconfig), "debug", "-it", "eph-debug",
                     "--image=busybox", "-c", "dbg", "--target=c", "--profile=general", "--", "sh"])
    try:
        term.send(b"echo dbg-$((6*7)); hostname; ps -o pid,args\n")
        term.expect(b"dbg-42")
        term.expect(b"eph-debug")
        # --target: the debugger sees the target container's processes, its init as PID 1.
        term.expect(b"    1 sleep 3600")
        term.send(b"exit\n")
        assert term.exit_status() == 0
    finally:
        term.close()
    wait(lambda: "terminated" in _ephemeral_state(node, "eph-debug", "dbg"), "dbg terminated", node)
    # An ephemeral container is never restarted; the pod runs on.
    assert pod_status(node, "eph-debug")["phase"] == "Running"


def test_share_process_namespace(node: Server) -> None:  # noqa: F811
    """shareProcessNamespace: the containers see and signal each other's processes; PID 1 is
    the pod's pause process (catatonit), not one of theirs."""
    run_pod(node, "shared-pid", "sleep", "3600", shareProcessNamespace=True,
            containers=[{"name": "c", "image": "busybox", "command": ["sleep", "3600"]},
                        {"name": "side", "image": "busybox", "command": ["sh", "-c", "sleep 3601"]}])
    running(node, "shared-pid")
    ps = kubectl(node, "exec", "shared-pid", "-c", "side", "--", "ps", "-o", "pid,args").stdout
    assert "sleep 3600" in ps and "sleep 3601" in ps, ps
    init = [line.split(None, 1)[1] for line in ps.splitlines() if line.split()[0] == "1"]
    assert len(init) == 1 and init[0].endswith("catatonit -P"), ps
    # Killing the other container's process from here ends that container; the kubelet restarts it.
    pid = next(line.split()[0] for line in ps.splitlines() if line.endswith("sleep 3600"))
    kubectl(node, "exec", "shared-pid", "-c", "side", "--", "kill", pid)
    wait(lambda: (pod_status(node, "shared-pid").get("containerStatuses") or [{}])[0].get("restartCount", 0) >= 1,
         "container c restarted", node)
