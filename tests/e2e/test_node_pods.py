"""The kubelet's pod features end to end (issue 4): probes, lifecycle hooks,
grace periods, termination messages, resources, restart policies and pod
status details, on real runc containers of the busybox test image, driven by
stock kubectl against `kubeling server` with its in-process agent.

The upstream conformance tests use agnhost images; here busybox commands
check the same behaviour (httpd for HTTP servers, its verbose log to see the
hooks' requests). Needs root and runc; under CI a missing one fails.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import json
import pathlib
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e import test_node as base
from tests.e2e.cluster import Server

pytestmark = [pytest.mark.e2e, pytest.mark.root]

node = base.node  # the module-scoped server with its agent (a fresh one for this module)
get, wait, run_pod, pod_status, container = base.get, base.wait, base.run_pod, base.pod_status, base.container


def events_of(srv: Server, name: str) -> list[dict[str, Any]]:
    items = get(srv, "events")["items"]
    return [e for e in items if e["involvedObject"].get("name") == name]


def reasons(srv: Server, name: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in events_of(srv, name):
        out.setdefault(e["reason"], []).append(e["message"])
    return out


def cond(status: dict[str, Any], type_: str) -> str:
    return next((c["status"] for c in status.get("conditions") or [] if c["type"] == type_), "")


def running(srv: Server, name: str) -> dict[str, Any] | None:
    st = pod_status(srv, name)
    return st if st.get("phase") == "Running" else None


def log_of(srv: Server, pod: str, cname: str = "c") -> str:
    dirs = list((srv.data_dir / "logs" / "pods").glob(f"default_{pod}_*"))
    return "".join(p.read_text() for d in dirs for p in (d / cname).glob("*.log"))


@pytest.fixture(scope="module")
def server_pod(node: Server) -> Iterator[str]:
    """An httpd pod whose verbose log shows each request's path (the hooks' target)."""
    base.run_pod(node, "hook-server", "sh", "-c",
                 "mkdir -p /tmp/www && touch /tmp/www/poststart /tmp/www/prestop && "
                 "exec httpd -f -vv -p 8080 -h /tmp/www")
    ip = wait(lambda: (s := running(node, "hook-server")) and s["containerStatuses"][0]["ready"] and s["podIP"],
              "the hook server", node)
    yield str(ip)
    node.kubectl("delete", "pod", "hook-server", "--wait=false", check=False)


# ---- probes --------------------------------------------------------------------------------

@pytest.mark.conformance("Pod liveness probe, using local file, restart")
@pytest.mark.conformance("Pod liveness probe, using local file, no restart")
def test_exec_liveness_probe_restarts_only_the_failing_container(node: Server) -> None:
    probe = {"exec": {"command": ["cat", "/tmp/health"]}, "initialDelaySeconds": 1, "periodSeconds": 1,
             "failureThreshold": 1, "timeoutSeconds": 5}
    run_pod(node, "live-exec", "sh", "-c", "echo ok > /tmp/health; sleep 4; rm -f /tmp/health; sleep 600",
            container={"livenessProbe": probe})
    run_pod(node, "live-exec-ok", "sh", "-c", "echo ok > /tmp/health; sleep 600",
            container={"livenessProbe": probe})
    # A probe command that outlives timeoutSeconds is a failure too.
    run_pod(node, "live-exec-timeout", "sleep", "600", terminationGracePeriodSeconds=1,
            container={"livenessProbe": {"exec": {"command": ["sh", "-c", "sleep 10"]}, "timeoutSeconds": 1,
                                         "periodSeconds": 1, "failureThreshold": 1}})
    cs = wait(lambda: (c := container(node, "live-exec")).get("restartCount", 0) >= 1 and c, "a restart", node)
    assert cs["lastState"]["terminated"]["exitCode"] == 137  # sleep ignores SIGTERM as pid 1: SIGKILL after grace
    ev = wait(lambda: (r := reasons(node, "live-exec")).get("Killing") and r, "the Killing event", node)
    assert any(m.startswith("Liveness probe failed:") for m in ev["Unhealthy"])
    assert "Container c failed liveness probe, will be restarted" in ev["Killing"]
    # The healthy twin was probed all this time (every second) and never restarted.
    ok = container(node, "live-exec-ok")
    assert ok["restartCount"] == 0 and ok["ready"] and "Unhealthy" not in reasons(node, "live-exec-ok")
    wait(lambda: container(node, "live-exec-timeout").get("restartCount", 0) >= 1, "a restart after timeouts", node)
    assert any("timed out" in m for m in reasons(node, "live-exec-timeout")["Unhealthy"])
    cleanup(node, "live-exec", "live-exec-ok", "live-exec-timeout")


@pytest.mark.conformance("Pod liveness probe, using http endpoint, restart")
@pytest.mark.conformance("Pod liveness probe, using http endpoint, failure")
def test_http_liveness_probe_by_port_name(node: Server) -> None:
    def probe(path: str) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": "http", "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
                "periodSeconds": 1, "failureThreshold": 2, "timeoutSeconds": 5}
    script = ("mkdir -p /tmp/www; touch /tmp/www/healthz; (sleep 4; rm /tmp/www/healthz) & "
              "exec httpd -f -p 8080 -h /tmp/www")
    ports = [{"name": "http", "containerPort": 8080}]
    run_pod(node, "live-http", "sh", "-c", script, container={"ports": ports, "livenessProbe": probe("/healthz")})
    run_pod(node, "live-http-ok", "sh", "-c", "mkdir -p /tmp/www && touch /tmp/www/healthz && "
            "exec httpd -f -p 8080 -h /tmp/www", container={"ports": ports, "livenessProbe": probe("/healthz")})
    wait(lambda: container(node, "live-http").get("restartCount", 0) >= 1, "a restart", node)
    ev = wait(lambda: (r := reasons(node, "live-http")).get("Unhealthy") and r, "Unhealthy", node)
    assert any("HTTP probe failed with statuscode: 404" in m for m in ev["Unhealthy"]), ev
    ok = container(node, "live-http-ok")
    assert ok["restartCount"] == 0 and ok["ready"]
    cleanup(node, "live-http", "live-http-ok")


@pytest.mark.conformance("Pod liveness probe, using tcp socket, no restart")
def test_tcp_liveness_probe(node: Server) -> None:
    run_pod(node, "live-tcp", "httpd", "-f", "-p", "8080", "-h", "/var/www",
            container={"livenessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1, "failureThreshold": 3,
                                         "initialDelaySeconds": 1, "timeoutSeconds": 5}})
    run_pod(node, "live-tcp-bad", "httpd", "-f", "-p", "8080", "-h", "/var/www",
            container={"livenessProbe": {"tcpSocket": {"port": 8081}, "periodSeconds": 1, "failureThreshold": 1}})
    wait(lambda: container(node, "live-tcp-bad").get("restartCount", 0) >= 1, "a restart of the bad one", node)
    msgs = reasons(node, "live-tcp-bad")["Unhealthy"]
    assert any(re.search(r"dial tcp [0-9.]+:8081: connect: connection refused", m) for m in msgs)
    ok = container(node, "live-tcp")
    assert ok["restartCount"] == 0 and ok["ready"]
    cleanup(node, "live-tcp", "live-tcp-bad")


def cleanup(srv: Server, *pods: str) -> None:
    """Delete a test's pods so their probes do not load the node for later tests."""
    srv.kubectl("delete", "pod", *pods, "--wait=false", check=False)


def _grpc_health_server(status: int) -> Any:
    grpc = pytest.importorskip("grpc")
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(2))
    handler = grpc.method_handlers_generic_handler("grpc.health.v1.Health", {
        "Check": grpc.unary_unary_rpc_method_handler(lambda _req, _ctx: bytes([0x08, status]))})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("0.0.0.0:0")
    server.start()
    return server, port


@pytest.mark.conformance("Pod liveness probe, using grpc call, success")
@pytest.mark.conformance("Pod liveness probe, using grpc call, failure")
def test_grpc_liveness_probe(node: Server) -> None:
    # hostNetwork pods: the pod IP is the node's, where this test serves grpc.health.v1.
    serving, port = _grpc_health_server(1)
    try:
        run_pod(node, "live-grpc", "sleep", "600", hostNetwork=True,
                container={"livenessProbe": {"grpc": {"port": port}, "periodSeconds": 1, "failureThreshold": 3,
                                             "timeoutSeconds": 5}})
        run_pod(node, "live-grpc-bad", "sleep", "600", hostNetwork=True,
                container={"livenessProbe": {"grpc": {"port": 1}, "periodSeconds": 1, "failureThreshold": 1,
                                             "terminationGracePeriodSeconds": 1}})
        wait(lambda: container(node, "live-grpc-bad").get("restartCount", 0) >= 1, "a restart", node)
        assert any("health rpc" in m or "failed to connect" in m for m in reasons(node, "live-grpc-bad")["Unhealthy"])
        ok = container(node, "live-grpc")
        assert ok["restartCount"] == 0 and ok["ready"]
        assert "Unhealthy" not in (ev := reasons(node, "live-grpc")), ev
    finally:
        serving.stop(0)
        cleanup(node, "live-grpc", "live-grpc-bad")


@pytest.mark.conformance("Pod readiness probe, failure")
def test_readiness_probe_drives_ready_and_endpoints(node: Server) -> None:
    flip = {"exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 1}
    run_pod(node, "ready-flip", "sh", "-c", "httpd -p 8080 -h /var/www; sleep 600", container={"readinessProbe": flip})
    run_pod(node, "ready-never", "sleep", "600",
            container={"readinessProbe": {"exec": {"command": ["false"]}, "periodSeconds": 1}})
    node.kubectl("expose", "pod", "ready-flip", "--port=8080", "--name=ready-flip")
    st = wait(lambda: running(node, "ready-flip"), "Running", node)
    assert cond(st, "Ready") == "False" and not st["containerStatuses"][0]["ready"]
    # Becoming ready: the file appears; the endpoints list the pod.
    subprocess_exec(node, "ready-flip", "touch", "/tmp/ready")
    wait(lambda: cond(pod_status(node, "ready-flip"), "Ready") == "True", "Ready", node)
    st = pod_status(node, "ready-flip")
    assert cond(st, "ContainersReady") == "True" and st["containerStatuses"][0]["ready"]
    wait(lambda: _endpoint_ips(node, "ready-flip")[0] == [st["podIP"]], "the pod in the endpoints", node)
    # Failing again: Ready and ContainersReady go False, the endpoints move it to notReadyAddresses.
    subprocess_exec(node, "ready-flip", "rm", "/tmp/ready")
    wait(lambda: cond(pod_status(node, "ready-flip"), "Ready") == "False", "not Ready", node)
    st = pod_status(node, "ready-flip")
    assert cond(st, "ContainersReady") == "False" and st["containerStatuses"][0]["restartCount"] == 0
    wait(lambda: _endpoint_ips(node, "ready-flip") == ([], [st["podIP"]]), "the pod not ready in endpoints", node)
    never = wait(lambda: running(node, "ready-never"), "Running", node)
    wait(lambda: "Unhealthy" in reasons(node, "ready-never"), "failed readiness probes", node)
    never = pod_status(node, "ready-never")
    assert cond(never, "Ready") == "False" and never["containerStatuses"][0]["restartCount"] == 0
    assert any(m.startswith("Readiness probe failed") for m in reasons(node, "ready-never")["Unhealthy"])
    cleanup(node, "ready-flip", "ready-never")


def subprocess_exec(srv: Server, pod: str, *cmd: str) -> None:
    """Run a command in the pod's container through runc (kubectl exec belongs to another test file)."""
    cid = pod_status(srv, pod)["containerStatuses"][0]["containerID"].removeprefix("runc://")
    subprocess.run(["runc", "--root", str(srv.data_dir / "run" / "runc"), "exec", cid, *cmd], check=True,
                   capture_output=True, timeout=30)


def _endpoint_ips(srv: Server, name: str) -> tuple[list[str], list[str]]:
    res = srv.kubectl("get", "endpoints", name, "-o", "json", check=False)
    if res.returncode != 0:
        return [], []
    subsets = json.loads(res.stdout).get("subsets") or []
    ready = [a["ip"] for s in subsets for a in s.get("addresses") or []]
    not_ready = [a["ip"] for s in subsets for a in s.get("notReadyAddresses") or []]
    return ready, not_ready


@pytest.mark.conformance("Pod readiness probe, with initial delay")
def test_readiness_initial_delay(node: Server) -> None:
    run_pod(node, "ready-delay", "sleep", "600",
            container={"readinessProbe": {"exec": {"command": ["true"]}, "initialDelaySeconds": 3,
                                          "periodSeconds": 1}})
    wait(lambda: cond(pod_status(node, "ready-delay"), "Ready") == "True", "Ready", node)
    st = pod_status(node, "ready-delay")
    started = base_time(st["containerStatuses"][0]["state"]["running"]["startedAt"])
    ready_at = base_time(next(c["lastTransitionTime"] for c in st["conditions"] if c["type"] == "Ready"))
    assert ready_at - started >= 3  # never ready before the initial delay
    assert st["containerStatuses"][0]["restartCount"] == 0
    cleanup(node, "ready-delay")


def base_time(text: str) -> float:
    return datetime.datetime.fromisoformat(text).timestamp()


def test_startup_probe_gates_liveness_and_restarts_on_failure(node: Server) -> None:
    # Starts after ~3 s: until then `started` is false and the failing liveness probe is not run.
    run_pod(node, "startup-ok", "sh", "-c", "sleep 3; touch /tmp/started; sleep 600",
            container={"startupProbe": {"exec": {"command": ["test", "-f", "/tmp/started"]}, "periodSeconds": 1,
                                        "failureThreshold": 30},
                       "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1}})
    run_pod(node, "startup-bad", "sleep", "600",
            container={"startupProbe": {"exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 2},
                       "livenessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1}})
    early = wait(lambda: (c := container(node, "startup-ok")).get("state", {}).get("running") and c, "running", node)
    assert early["started"] is False or early["ready"]  # once ready, it had started
    wait(lambda: container(node, "startup-ok").get("ready"), "ready after the startup probe", node)
    assert container(node, "startup-ok")["started"] is True
    wait(lambda: container(node, "startup-bad").get("restartCount", 0) >= 1, "a restart", node)
    ev = reasons(node, "startup-bad")
    assert "Container c failed startup probe, will be restarted" in ev["Killing"]
    assert any(m.startswith("Startup probe failed") for m in ev["Unhealthy"])
    assert not any(m.startswith("Liveness") for m in ev["Unhealthy"])
    assert container(node, "startup-bad")["started"] is False
    cleanup(node, "startup-ok", "startup-bad")


# ---- lifecycle -----------------------------------------------------------------------------

@pytest.mark.conformance("Pod Lifecycle, post start exec hook")
@pytest.mark.conformance("Pod Lifecycle, prestop exec hook")
@pytest.mark.conformance("Pods, prestop hook")
def test_exec_hooks_reach_a_server_pod(node: Server, server_pod: str) -> None:
    hooks = {"postStart": {"exec": {"command": ["wget", "-qO-", f"http://{server_pod}:8080/poststart"]}},
             "preStop": {"exec": {"command": ["wget", "-qO-", f"http://{server_pod}:8080/prestop"]}}}
    run_pod(node, "hook-exec", "sleep", "600", container={"lifecycle": hooks})
    wait(lambda: running(node, "hook-exec"), "Running", node)
    wait(lambda: "url:/poststart" in log_of(node, "hook-server"), "the postStart request", node)
    assert "url:/prestop" not in log_of(node, "hook-server")
    node.kubectl("delete", "pod", "hook-exec", "--wait=true", timeout=90)
    assert "url:/prestop" in log_of(node, "hook-server")


@pytest.mark.conformance("Pod Lifecycle, post start http hook")
@pytest.mark.conformance("Pod Lifecycle, prestop http hook")
def test_http_hooks_reach_a_server_pod(node: Server, server_pod: str) -> None:
    def get_(path: str) -> dict[str, Any]:
        return {"httpGet": {"host": server_pod, "port": 8080, "path": path}}
    run_pod(node, "hook-http", "sleep", "600",
            container={"lifecycle": {"postStart": get_("/poststart"), "preStop": get_("/prestop")}})
    wait(lambda: running(node, "hook-http"), "Running", node)
    before = log_of(node, "hook-server").count("url:/prestop")
    assert "url:/poststart" in log_of(node, "hook-server")
    node.kubectl("delete", "pod", "hook-http", "--wait=true", timeout=90)
    assert log_of(node, "hook-server").count("url:/prestop") == before + 1


def test_failing_post_start_hook_kills_the_container(node: Server) -> None:
    run_pod(node, "hook-fail", "sleep", "600", terminationGracePeriodSeconds=1,
            container={"lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "echo nope; exit 3"]}}}})
    wait(lambda: container(node, "hook-fail").get("restartCount", 0) >= 1, "a restart", node)
    ev = wait(lambda: (r := reasons(node, "hook-fail")).get("FailedPostStartHook") and r, "the event", node)
    assert "exited with 3" in ev["FailedPostStartHook"][0]
    assert "FailedPostStartHook" in ev["Killing"]
    cleanup(node, "hook-fail")


def test_delete_sends_sigterm_and_records_container_events(node: Server) -> None:
    # A shell that traps SIGTERM exits at once (exit 143 semantics of its trap); one that ignores it is killed.
    run_pod(node, "term", "sh", "-c", "trap 'exit 7' TERM; while true; do sleep 1; done",
            terminationGracePeriodSeconds=30)
    wait(lambda: running(node, "term"), "Running", node)
    node.kubectl("delete", "pod", "term", "--wait=true", timeout=60)
    ev = reasons(node, "term")
    for reason in ("Pulled", "Created", "Started", "Killing"):
        assert reason in ev, ev
    assert ev["Created"] == ["Created container c"] and ev["Started"] == ["Started container c"]
    assert ev["Killing"] == ["Stopping container c"]
    assert ev["Pulled"] == ['Container image "busybox" already present on machine']


# ---- termination messages ------------------------------------------------------------------

@pytest.mark.conformance("Container Runtime, TerminationMessage, from log output of succeeding container")
@pytest.mark.conformance("Container Runtime, TerminationMessage, from file of succeeding container")
@pytest.mark.conformance("Container Runtime, TerminationMessage, from container's log output of failing container")
@pytest.mark.conformance("Container Runtime, TerminationMessagePath, non-root user and non-default path")
def test_termination_messages(node: Server) -> None:
    fallback = {"terminationMessagePolicy": "FallbackToLogsOnError"}
    run_pod(node, "tm-ok-log", "sh", "-c", "echo -n OK", restart="Never", container=fallback)
    run_pod(node, "tm-ok-file", "sh", "-c", "echo -n OK > /dev/termination-log", restart="Never",
            container=fallback)
    run_pod(node, "tm-fail-log", "sh", "-c", "echo -n DONE; exit 1", restart="Never", container=fallback)
    run_pod(node, "tm-custom", "sh", "-c", "echo -n DONE > /dev/termination-custom-log", restart="Never",
            container={"terminationMessagePath": "/dev/termination-custom-log",
                       "securityContext": {"runAsUser": 1000}})

    def terminated(name: str) -> dict[str, Any]:
        return dict(wait(lambda: container(node, name).get("state", {}).get("terminated"), f"{name} done", node))
    assert "message" not in terminated("tm-ok-log") or terminated("tm-ok-log")["message"] == ""
    assert terminated("tm-ok-file")["message"] == "OK"
    failing = terminated("tm-fail-log")
    assert failing["exitCode"] == 1 and failing["message"] == "DONE"
    custom = terminated("tm-custom")
    assert custom["exitCode"] == 0 and custom["message"] == "DONE"


# ---- resources -----------------------------------------------------------------------------

def test_memory_hog_is_oomkilled_and_cpu_limit_reaches_the_cgroup(node: Server) -> None:
    run_pod(node, "hog", "sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived",
            restart="Never", container={"resources": {"limits": {"memory": "20Mi"}}})
    run_pod(node, "capped", "sleep", "600", container={"resources": {"limits": {"cpu": "250m", "memory": "64Mi"}}})
    term = wait(lambda: container(node, "hog").get("state", {}).get("terminated"), "the hog's end", node)
    assert term["reason"] == "OOMKilled" and term["exitCode"] == 137
    assert pod_status(node, "hog")["phase"] == "Failed"
    out = node.kubectl("get", "pod", "hog").stdout
    assert "OOMKilled" in out
    st = wait(lambda: running(node, "capped"), "capped Running", node)
    cid = st["containerStatuses"][0]["containerID"].removeprefix("runc://")
    cg = next(p for p in (pathlib.Path("/sys/fs/cgroup/cpu/kubeling") / cid, pathlib.Path("/sys/fs/cgroup/kubeling")
                          / cid) if p.exists())
    if (cg / "cpu.cfs_quota_us").exists():
        assert (cg / "cpu.cfs_quota_us").read_text().strip() == "25000"
        assert (cg / "cpu.cfs_period_us").read_text().strip() == "100000"
    else:
        assert (cg / "cpu.max").read_text().split() == ["25000", "100000"]
    assert st["qosClass"] == "Guaranteed"
    cleanup(node, "capped")


# ---- status details and restart policies ---------------------------------------------------

def test_crash_loop_back_off_grows(node: Server) -> None:
    run_pod(node, "crashy", "sh", "-c", "exit 2")
    first = wait(lambda: "back-off 10s" in container(node, "crashy").get("state", {}).get("waiting", {}).get(
        "message", ""), "the first back-off", node)
    assert first
    cs = wait(lambda: (c := container(node, "crashy")) and "back-off 20s" in c.get("state", {}).get(
        "waiting", {}).get("message", "") and c, "a longer back-off", node, timeout=90)
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff" and cs["restartCount"] >= 2
    assert cs["lastState"]["terminated"]["exitCode"] == 2
    assert any(m.startswith("Back-off restarting failed container c in pod crashy_default")
               for m in reasons(node, "crashy")["BackOff"])
    cleanup(node, "crashy")


@pytest.mark.conformance("init-container-starts-app-restartnever-pod")
def test_init_containers_on_a_restart_never_pod(node: Server) -> None:
    inits = [{"name": "init1", "image": "busybox", "command": ["true"]},
             {"name": "init2", "image": "busybox", "command": ["true"]}]
    run_pod(node, "init-never", "true", restart="Never", initContainers=inits)
    st = wait(lambda: (s := pod_status(node, "init-never")).get("phase") == "Succeeded" and s, "Succeeded", node)
    assert [c["state"]["terminated"]["exitCode"] for c in st["initContainerStatuses"]] == [0, 0]
    assert st["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert all(c["restartCount"] == 0 for c in st["initContainerStatuses"] + st["containerStatuses"])
    assert cond(st, "Initialized") == "True"


@pytest.mark.conformance("init-container-starts-app-restartalways-pod")
def test_init_containers_on_a_restart_always_pod(node: Server) -> None:
    inits = [{"name": "init1", "image": "busybox", "command": ["true"]},
             {"name": "init2", "image": "busybox", "command": ["true"]}]
    run_pod(node, "init-always", "sleep", "600", initContainers=inits)
    st = wait(lambda: (s := running(node, "init-always")) and cond(s, "Ready") == "True" and s, "Ready", node)
    assert [c["state"]["terminated"]["reason"] for c in st["initContainerStatuses"]] == ["Completed", "Completed"]
    assert cond(st, "Initialized") == "True" and st["containerStatuses"][0]["state"]["running"]
    cleanup(node, "init-always")


@pytest.mark.conformance("init-container-fails-stops-app-restartnever-pod")
@pytest.mark.conformance("init-container-fails-stops-app-restartalways-pod")
def test_failing_init_containers_keep_app_containers_from_starting(node: Server) -> None:
    inits = [{"name": "init1", "image": "busybox", "command": ["false"]},
             {"name": "init2", "image": "busybox", "command": ["true"]}]
    run_pod(node, "init-fail-never", "sleep", "600", restart="Never", initContainers=inits)
    run_pod(node, "init-fail-always", "sleep", "600", initContainers=inits)
    st = wait(lambda: (s := pod_status(node, "init-fail-never")).get("phase") == "Failed" and s, "Failed", node)
    assert st["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 1
    assert st["initContainerStatuses"][1]["state"]["waiting"]["reason"] == "PodInitializing"
    assert st["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    assert cond(st, "Initialized") == "False"
    st = wait(lambda: (s := pod_status(node, "init-fail-always")) and
              (s.get("initContainerStatuses") or [{}])[0].get("restartCount", 0) >= 2 and s,
              "init1 restarted", node, timeout=90)
    assert st["phase"] == "Pending" and cond(st, "Initialized") == "False"
    assert "containerID" not in st["containerStatuses"][0]
    assert st["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    assert "running" not in st["initContainerStatuses"][1]["state"]
    cleanup(node, "init-fail-always")


@pytest.mark.conformance("Container Runtime, Restart Policy, Pod Phases")
@pytest.mark.conformance("Kubelet, failed pod, terminated reason")
@pytest.mark.conformance("Kubelet, failed pod, delete")
def test_restart_policies(node: Server) -> None:
    for policy in ("Always", "OnFailure", "Never"):
        run_pod(node, f"rp-{policy.lower()}-ok", "true", restart=policy)
        run_pod(node, f"rp-{policy.lower()}-bad", "false", restart=policy)
    # Always restarts both; OnFailure restarts the failing one only; Never restarts neither.
    wait(lambda: container(node, "rp-always-ok").get("restartCount", 0) >= 1, "Always restarts exit 0", node)
    wait(lambda: container(node, "rp-always-bad").get("restartCount", 0) >= 1, "Always restarts exit 1", node)
    wait(lambda: container(node, "rp-onfailure-bad").get("restartCount", 0) >= 1, "OnFailure restarts", node)
    wait(lambda: pod_status(node, "rp-onfailure-ok").get("phase") == "Succeeded", "OnFailure exit 0", node)
    wait(lambda: pod_status(node, "rp-never-ok").get("phase") == "Succeeded", "Never exit 0", node)
    wait(lambda: pod_status(node, "rp-never-bad").get("phase") == "Failed", "Never exit 1", node)
    assert pod_status(node, "rp-always-ok")["phase"] == "Running"
    assert pod_status(node, "rp-onfailure-bad")["phase"] == "Running"
    assert container(node, "rp-onfailure-ok")["restartCount"] == 0
    assert container(node, "rp-never-bad")["restartCount"] == 0
    assert container(node, "rp-never-bad")["state"]["terminated"]["exitCode"] == 1
    assert container(node, "rp-never-bad")["state"]["terminated"]["reason"] == "Error"
    node.kubectl("delete", "pod", "rp-never-bad", "--wait=true")
    assert node.kubectl("get", "pod", "rp-never-bad", check=False).returncode != 0
    cleanup(node, "rp-always-ok", "rp-always-bad", "rp-onfailure-bad")


# ---- static pods ---------------------------------------------------------------------------

def test_static_pod_from_the_manifest_folder_and_its_mirror(node: Server) -> None:
    folder = node.data_dir / "manifests"
    folder.mkdir(exist_ok=True)
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "static-web", "labels": {"tier": "static"}},
                "spec": {"containers": [{"name": "c", "image": "busybox",
                                         "command": ["httpd", "-f", "-p", "8080", "-h", "/var/www"]}]}}
    (folder / "web.yaml").write_text(json.dumps(manifest))
    name = f"static-web-{base.node_name(node)}"
    st = wait(lambda: (r := node.kubectl("get", "pod", name, "-o", "json", check=False)).returncode == 0 and
              (p := json.loads(r.stdout))["status"].get("phase") == "Running" and p, "the mirror pod Running", node)
    ann = st["metadata"]["annotations"]
    assert ann["kubernetes.io/config.source"] == "file"
    assert ann["kubernetes.io/config.mirror"] == ann["kubernetes.io/config.hash"] != st["metadata"]["uid"]
    assert st["metadata"]["ownerReferences"][0]["kind"] == "Node"
    first_id = st["status"]["containerStatuses"][0]["containerID"]
    # Deleting the mirror pod does not stop the static pod: the mirror comes back, same container.
    node.kubectl("delete", "pod", name, "--wait=false")
    again = wait(lambda: (r := node.kubectl("get", "pod", name, "-o", "json", check=False)).returncode == 0 and
                 (p := json.loads(r.stdout))["metadata"]["uid"] != st["metadata"]["uid"] and
                 p["status"].get("containerStatuses") and p, "the mirror pod recreated", node)
    assert again["status"]["containerStatuses"][0]["containerID"] == first_id
    assert again["status"]["containerStatuses"][0]["restartCount"] == 0
    # Removing the manifest stops the pod and removes the mirror.
    (folder / "web.yaml").unlink()
    wait(lambda: node.kubectl("get", "pod", name, check=False).returncode != 0, "the mirror pod gone", node)
    cid = first_id.removeprefix("runc://")
    root = node.data_dir / "run" / "runc"
    wait(lambda: cid not in subprocess.run(["runc", "--root", str(root), "list", "-q"], capture_output=True,
                                           text=True, check=False).stdout.split(),
         "the static pod's container gone", node)


# ---- environment, downward API and volumes as the conformance tests check them -----------

def output(srv: Server, pod: str, cname: str = "c") -> str:
    """What the container wrote, from its CRI-format log files."""
    text = []
    for line in log_of(srv, pod, cname).splitlines():
        parts = line.split(" ", 3)
        if len(parts) == 4:
            text.append(parts[3] + ("" if parts[2] == "P" else "\n"))
    return "".join(text)


def one_shot(srv: Server, name: str, script: str, **spec: Any) -> None:
    run_pod(srv, name, "sh", "-c", script, restart="Never", **spec)


def succeeded(srv: Server, name: str) -> str:
    """Wait for the pod to succeed; its output."""
    st = wait(lambda: (s := pod_status(srv, name)).get("phase") in ("Succeeded", "Failed") and s, f"{name} done", srv)
    assert st["phase"] == "Succeeded", (name, st, output(srv, name))
    return output(srv, name)


def env_of(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def field(path: str) -> dict[str, Any]:
    return {"fieldRef": {"fieldPath": path}}


def resource(name: str, divisor: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"containerName": "c", "resource": name}
    if divisor:
        ref["divisor"] = divisor
    return {"resourceFieldRef": ref}


RESOURCES = {"requests": {"cpu": "250m", "memory": "32Mi"}, "limits": {"cpu": "1250m", "memory": "64Mi"}}


@pytest.mark.conformance("Environment variables, expansion")
@pytest.mark.conformance("Environment variables, command expansion")
@pytest.mark.conformance("Environment variables, command argument expansion")
@pytest.mark.conformance("DownwardAPI, environment for name, namespace and ip")
@pytest.mark.conformance("DownwardAPI, environment for host ip")
@pytest.mark.conformance("DownwardAPI, environment for Pod UID")
@pytest.mark.conformance("DownwardAPI, environment for CPU and memory limits and requests")
@pytest.mark.conformance("DownwardAPI, environment for default CPU and memory limits and requests")
@pytest.mark.conformance("ConfigMap, from environment field")
@pytest.mark.conformance("ConfigMap, from environment variables")
@pytest.mark.conformance("Secrets, pod environment field")
@pytest.mark.conformance("Secrets, pod environment from source")
def test_environment_expansion_downward_api_configmap_and_secret_env(node: Server) -> None:
    node.kubectl("create", "configmap", "env-cm", "--from-literal=data-1=value-1", "--from-literal=data-2=value-2")
    node.kubectl("create", "secret", "generic", "env-secret", "--from-literal=data-1=value-1")
    run_pod(node, "env-expand", "env", restart="Never", container={"env": [
        {"name": "FOO", "value": "foo-value"}, {"name": "BAR", "value": "bar-value"},
        {"name": "FOOBAR", "value": "$(FOO);;$(BAR)"}]})
    run_pod(node, "env-cmd", "sh", "-c", 'TEST_VAR=wrong echo "$(TEST_VAR)"', restart="Never",
            container={"env": [{"name": "TEST_VAR", "value": "test-value"}]})
    run_pod(node, "env-args", "sh", restart="Never",
            container={"args": ["-c", 'TEST_VAR=wrong echo "$(TEST_VAR)"'],
                       "env": [{"name": "TEST_VAR", "value": "test-value"}]})
    downward = [{"name": n, "valueFrom": v} for n, v in (
        ("POD_NAME", field("metadata.name")), ("POD_NAMESPACE", field("metadata.namespace")),
        ("POD_IP", field("status.podIP")), ("HOST_IP", field("status.hostIP")), ("POD_UID", field("metadata.uid")),
        ("CPU_LIMIT", resource("limits.cpu")), ("MEMORY_LIMIT", resource("limits.memory")),
        ("CPU_REQUEST", resource("requests.cpu")), ("MEMORY_REQUEST", resource("requests.memory")))]
    run_pod(node, "env-downward", "env", restart="Never", container={"env": downward, "resources": RESOURCES})
    run_pod(node, "env-default-limits", "env", restart="Never", container={"env": downward})
    run_pod(node, "env-cm", "env", restart="Never", container={
        "env": [{"name": "CONFIG_DATA_1", "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "data-1"}}},
                {"name": "SECRET_DATA", "valueFrom": {"secretKeyRef": {"name": "env-secret", "key": "data-1"}}}],
        "envFrom": [{"configMapRef": {"name": "env-cm"}}, {"prefix": "p_", "configMapRef": {"name": "env-cm"}},
                    {"prefix": "s_", "secretRef": {"name": "env-secret"}}]})

    env = env_of(succeeded(node, "env-expand"))
    assert env["FOOBAR"] == "foo-value;;bar-value"
    assert succeeded(node, "env-cmd").strip() == "test-value"
    assert succeeded(node, "env-args").strip() == "test-value"
    env = env_of(succeeded(node, "env-downward"))
    pod = get(node, "pod", "env-downward")
    assert env["POD_NAME"] == "env-downward" and env["POD_NAMESPACE"] == "default"
    assert env["POD_IP"] == pod["status"]["podIP"] and env["HOST_IP"] == pod["status"]["hostIP"]
    assert env["POD_UID"] == pod["metadata"]["uid"]
    assert (env["CPU_LIMIT"], env["MEMORY_LIMIT"], env["CPU_REQUEST"], env["MEMORY_REQUEST"]) == \
        ("2", "67108864", "1", "33554432")
    env = env_of(succeeded(node, "env-default-limits"))
    allocatable = get(node, "nodes")["items"][0]["status"]["allocatable"]
    assert env["CPU_LIMIT"] == allocatable["cpu"]
    assert int(env["MEMORY_LIMIT"]) == int(allocatable["memory"].removesuffix("Ki")) * 1024
    assert env["CPU_REQUEST"] == "0" and env["MEMORY_REQUEST"] == "0"
    env = env_of(succeeded(node, "env-cm"))
    assert env["CONFIG_DATA_1"] == "value-1" and env["data-1"] == "value-1" and env["data-2"] == "value-2"
    assert env["p_data-1"] == "value-1" and env["SECRET_DATA"] == "value-1" and env["s_data-1"] == "value-1"


EMPTYDIR_SCRIPT = ("cd /test-volume && echo 'mount-tester new file' > test-file && chmod {mode} test-file && "
                   "ls -l test-file | cut -d' ' -f1 && cat test-file && stat -f -c %T /test-volume && "
                   "ls -ld /test-volume | cut -d' ' -f1 && id -u")


@pytest.mark.conformance("EmptyDir, medium default, volume mode 0644")
@pytest.mark.conformance("EmptyDir, medium memory, volume mode 0644")
@pytest.mark.conformance("EmptyDir, medium default, volume mode 0666")
@pytest.mark.conformance("EmptyDir, medium memory, volume mode 0666")
@pytest.mark.conformance("EmptyDir, medium default, volume mode 0777")
@pytest.mark.conformance("EmptyDir, medium memory, volume mode 0777")
@pytest.mark.conformance("EmptyDir, medium memory, volume mode 0644, non-root user")
@pytest.mark.conformance("EmptyDir, medium memory, volume mode 0666,, non-root user")
@pytest.mark.conformance("EmptyDir, medium memory, volume mode 0777, non-root user")
@pytest.mark.conformance("EmptyDir, medium default, volume mode default")
@pytest.mark.conformance("EmptyDir, medium memory, volume mode default")
@pytest.mark.conformance("EmptyDir, Shared volumes between containers")
def test_emptydir_modes_media_users_and_sharing(node: Server) -> None:
    cases = []
    for medium in ("", "Memory"):
        for mode in ("0644", "0666", "0777"):
            for uid in (0, 1001):
                name = f"ed-{medium.lower() or 'disk'}-{mode}-{uid}"
                cases.append((name, medium, mode, uid))
                one_shot(node, name, EMPTYDIR_SCRIPT.format(mode=mode),
                         container={"volumeMounts": [{"name": "v", "mountPath": "/test-volume"}],
                                    "securityContext": {"runAsUser": uid}},
                         volumes=[{"name": "v", "emptyDir": {"medium": medium} if medium else {}}])
    # The main container waits for what its sidecar writes into the shared volume.
    mount = [{"name": "v", "mountPath": "/share"}]
    node.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ed-shared"},
        "spec": {"nodeName": base.node_name(node), "restartPolicy": "Never", "volumes": [{"name": "v", "emptyDir": {}}],
                 "containers": [
                     {"name": "c", "image": "busybox", "volumeMounts": mount, "command": [
                         "sh", "-c", "until [ -f /share/shareddata.txt ]; do sleep 0.2; done; cat /share/shareddata.txt"]},
                     {"name": "sub", "image": "busybox", "volumeMounts": mount, "command": [
                         "sh", "-c", "echo Hello from the busy-box sub-container > /share/shareddata.txt"]}]}}))
    want_perms = {"0644": "-rw-r--r--", "0666": "-rw-rw-rw-", "0777": "-rwxrwxrwx"}
    for name, medium, mode, uid in cases:
        lines = succeeded(node, name).splitlines()
        assert lines[0] == want_perms[mode], (name, lines)
        assert lines[1] == "mount-tester new file"
        if medium == "Memory":
            assert lines[2] == "tmpfs", (name, lines)
        else:
            assert lines[2] != "tmpfs"
        assert lines[3] == "drwxrwxrwx"  # the volume itself: mode default
        assert lines[4] == str(uid)
    assert succeeded(node, "ed-shared").strip() == "Hello from the busy-box sub-container"


def show(*paths: str) -> str:
    """A script printing each file's content and mode as `path=…` and `path.mode=…` lines."""
    return "; ".join(f'echo "{p}=$(cat {p})"; echo "{p}.mode=$(stat -L -c %A {p})"' for p in paths)


def vol_pod(srv: Server, name: str, script: str, volumes: list[dict[str, Any]], mounts: dict[str, str], *,
            uid: int | None = None, restart: str = "Never", resources: dict[str, Any] | None = None,
            **spec: Any) -> None:
    container: dict[str, Any] = {"volumeMounts": [{"name": v, "mountPath": p} for v, p in mounts.items()]}
    if resources:
        container["resources"] = resources
    if uid is not None:
        container["securityContext"] = {"runAsUser": uid}
    run_pod(srv, name, "sh", "-c", script, restart=restart, container=container, volumes=volumes, **spec)


@pytest.mark.conformance("ConfigMap Volume, without mapping")
@pytest.mark.conformance("ConfigMap Volume, without mapping, non-root user")
@pytest.mark.conformance("ConfigMap Volume, without mapping, volume mode set")
@pytest.mark.conformance("ConfigMap Volume, with mapping")
@pytest.mark.conformance("ConfigMap Volume, with mapping, volume mode set")
@pytest.mark.conformance("ConfigMap Volume, with mapping, non-root user")
@pytest.mark.conformance("ConfigMap Volume, multiple volume maps")
@pytest.mark.conformance("ConfigMap Volume, text data, binary data")
@pytest.mark.conformance("ConfigMap Volume, update")
def test_configmap_volumes(node: Server, tmp_path: pathlib.Path) -> None:
    binary = tmp_path / "dump.bin"
    binary.write_bytes(bytes([0xDE, 0xCA, 0xFE, 0xBA, 0xD0, 0xFE, 0xCA, 0xFE, 0x00]))
    node.kubectl("create", "configmap", "vol-cm", "--from-literal=data-1=value-1", "--from-literal=data-2=value-2",
                 f"--from-file=dump.bin={binary}")
    cm = {"name": "cm", "configMap": {"name": "vol-cm"}}
    mapped = {"name": "cm", "configMap": {"name": "vol-cm", "items": [{"key": "data-2", "path": "path/to/data-2"}]}}
    m = {"cm": "/etc/configmap-volume"}
    vol_pod(node, "cm-plain", show("/etc/configmap-volume/data-1"), [cm], m)
    vol_pod(node, "cm-nonroot", show("/etc/configmap-volume/data-1"), [cm], m, uid=1000)
    vol_pod(node, "cm-mode", show("/etc/configmap-volume/data-1"),
            [{"name": "cm", "configMap": {"name": "vol-cm", "defaultMode": 0o400}}], m)
    vol_pod(node, "cm-mapped", show("/etc/configmap-volume/path/to/data-2"), [mapped], m)
    vol_pod(node, "cm-mapped-nonroot", show("/etc/configmap-volume/path/to/data-2"), [mapped], m, uid=1000)
    vol_pod(node, "cm-mapped-mode", show("/etc/configmap-volume/path/to/data-2"),
            [{"name": "cm", "configMap": {"name": "vol-cm", "items": [{"key": "data-2", "path": "path/to/data-2",
                                                                        "mode": 0o400}]}}], m)
    vol_pod(node, "cm-multi", show("/etc/cm-1/data-1", "/etc/cm-2/data-1"),
            [{"name": "one", "configMap": {"name": "vol-cm"}}, {"name": "two", "configMap": {"name": "vol-cm"}}],
            {"one": "/etc/cm-1", "two": "/etc/cm-2"})
    vol_pod(node, "cm-binary", "cat /etc/configmap-volume/data-1; echo; od -An -tx1 /etc/configmap-volume/dump.bin",
            [cm], m)
    vol_pod(node, "cm-update", "while true; do cat /etc/configmap-volume/data-1; echo; sleep 0.5; done", [cm], m,
            restart="Always")

    def values(name: str) -> dict[str, str]:
        return env_of(succeeded(node, name))
    for name, uid_path in (("cm-plain", "/etc/configmap-volume/data-1"), ("cm-nonroot", "/etc/configmap-volume/data-1")):
        got = values(name)
        assert got[uid_path] == "value-1" and got[uid_path + ".mode"] == "-rw-r--r--"
    assert values("cm-mode")["/etc/configmap-volume/data-1.mode"] == "-r--------"
    for name, mode in (("cm-mapped", "-rw-r--r--"), ("cm-mapped-nonroot", "-rw-r--r--"), ("cm-mapped-mode", "-r--------")):
        got = values(name)
        assert got["/etc/configmap-volume/path/to/data-2"] == "value-2"
        assert got["/etc/configmap-volume/path/to/data-2.mode"] == mode, name
    got = values("cm-multi")
    assert got["/etc/cm-1/data-1"] == got["/etc/cm-2/data-1"] == "value-1"
    lines = succeeded(node, "cm-binary").split("\n")
    assert lines[0] == "value-1" and lines[1].split() == ["de", "ca", "fe", "ba", "d0", "fe", "ca", "fe", "00"]
    wait(lambda: "value-1" in output(node, "cm-update"), "the first value", node)
    node.kubectl("patch", "configmap", "vol-cm", "--type=merge", "-p", '{"data":{"data-1":"value-2"}}')
    wait(lambda: "value-2" in output(node, "cm-update"), "the updated value in the running pod", node, timeout=90)
    node.kubectl("delete", "pod", "cm-update", "--wait=false")


@pytest.mark.conformance("Secrets Volume, default")
@pytest.mark.conformance("Secrets Volume, volume mode 0400")
@pytest.mark.conformance("Secrets Volume, mapping")
@pytest.mark.conformance("Secrets Volume, mapping, volume mode 0400")
@pytest.mark.conformance("Secrets Volume, mapping multiple volume paths")
@pytest.mark.conformance("Secrets Volume, volume mode 0440, fsGroup 1001 and uid 1000")
@pytest.mark.conformance("Secrets Volume, volume mode default, secret with same name in different namespace")
def test_secret_volumes(node: Server) -> None:
    node.kubectl("create", "secret", "generic", "vol-secret", "--from-literal=data-1=value-1")
    node.kubectl("create", "namespace", "secret-other")
    node.kubectl("create", "secret", "generic", "vol-secret", "-n", "secret-other", "--from-literal=data-1=other",
                 "--from-literal=only-there=x")
    sec = {"name": "s", "secret": {"secretName": "vol-secret"}}
    m = {"s": "/etc/secret-volume"}
    f = "/etc/secret-volume/data-1"
    vol_pod(node, "sec-plain", show(f) + "; ls /etc/secret-volume", [sec], m)
    vol_pod(node, "sec-0400", show(f), [{"name": "s", "secret": {"secretName": "vol-secret", "defaultMode": 0o400}}], m)
    vol_pod(node, "sec-map", show("/etc/secret-volume/new-path-data-1"),
            [{"name": "s", "secret": {"secretName": "vol-secret", "items": [{"key": "data-1",
                                                                              "path": "new-path-data-1"}]}}], m)
    vol_pod(node, "sec-map-0400", show("/etc/secret-volume/new-path-data-1"),
            [{"name": "s", "secret": {"secretName": "vol-secret", "items": [{"key": "data-1", "path": "new-path-data-1",
                                                                              "mode": 0o400}]}}], m)
    vol_pod(node, "sec-multi", show("/etc/secret-1/data-1", "/etc/secret-2/data-1"),
            [{"name": "a", "secret": {"secretName": "vol-secret"}}, {"name": "b", "secret": {"secretName": "vol-secret"}}],
            {"a": "/etc/secret-1", "b": "/etc/secret-2"})
    vol_pod(node, "sec-fsgroup", show(f) + f'; echo "group=$(stat -L -c %g {f})"',
            [{"name": "s", "secret": {"secretName": "vol-secret", "defaultMode": 0o440}}], m, uid=1000,
            securityContext={"fsGroup": 1001})
    got = env_of(out := succeeded(node, "sec-plain"))
    assert got[f] == "value-1" and got[f + ".mode"] == "-rw-r--r--"
    assert "only-there" not in out  # the pod's own namespace's secret, not the other one
    assert env_of(succeeded(node, "sec-0400"))[f + ".mode"] == "-r--------"
    for name, mode in (("sec-map", "-rw-r--r--"), ("sec-map-0400", "-r--------")):
        got = env_of(succeeded(node, name))
        assert got["/etc/secret-volume/new-path-data-1"] == "value-1"
        assert got["/etc/secret-volume/new-path-data-1.mode"] == mode
    got = env_of(succeeded(node, "sec-multi"))
    assert got["/etc/secret-1/data-1"] == got["/etc/secret-2/data-1"] == "value-1"
    got = env_of(succeeded(node, "sec-fsgroup"))
    assert got[f] == "value-1" and got[f + ".mode"] == "-r--r-----" and got["group"] == "1001"


@pytest.mark.conformance("DownwardAPI volume, pod name")
@pytest.mark.conformance("DownwardAPI volume, volume mode 0400")
@pytest.mark.conformance("DownwardAPI volume, file mode 0400")
@pytest.mark.conformance("DownwardAPI volume, CPU limits")
@pytest.mark.conformance("DownwardAPI volume, CPU request")
@pytest.mark.conformance("DownwardAPI volume, memory limits")
@pytest.mark.conformance("DownwardAPI volume, memory request")
@pytest.mark.conformance("DownwardAPI volume, CPU limit, default node allocatable")
@pytest.mark.conformance("DownwardAPI volume, memory limit, default node allocatable")
@pytest.mark.conformance("DownwardAPI volume, update label")
@pytest.mark.conformance("DownwardAPI volume, update annotations")
@pytest.mark.conformance("Projected Volume, multiple projections")
@pytest.mark.conformance("Projected Volume, ConfigMap, volume mode default")
@pytest.mark.conformance("Projected Volume, Secrets, volume mode default")
@pytest.mark.conformance("Projected Volume, DownwardAPI, pod name")
def test_downward_api_and_projected_volumes(node: Server) -> None:
    items = [{"path": "podname", "fieldRef": {"fieldPath": "metadata.name"}},
             {"path": "cpu_limit", "resourceFieldRef": {"containerName": "c", "resource": "limits.cpu",
                                                        "divisor": "1m"}},
             {"path": "cpu_request", "resourceFieldRef": {"containerName": "c", "resource": "requests.cpu",
                                                          "divisor": "1m"}},
             {"path": "memory_limit", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory"}},
             {"path": "memory_request", "resourceFieldRef": {"containerName": "c", "resource": "requests.memory"}}]
    m = {"podinfo": "/etc/podinfo"}
    files = [f"/etc/podinfo/{i['path']}" for i in items]
    vol_pod(node, "dw-res", show(*files), [{"name": "podinfo", "downwardAPI": {"items": items}}], m,
            resources=RESOURCES)
    vol_pod(node, "dw-default", show(*files), [{"name": "podinfo", "downwardAPI": {"items": items}}], m)
    vol_pod(node, "dw-volmode", show("/etc/podinfo/podname"),
            [{"name": "podinfo", "downwardAPI": {"defaultMode": 0o400, "items": items[:1]}}], m)
    vol_pod(node, "dw-filemode", show("/etc/podinfo/podname"),
            [{"name": "podinfo", "downwardAPI": {"items": [{**items[0], "mode": 0o400}]}}], m)
    vol_pod(node, "dw-update", "while true; do cat /etc/podinfo/labels /etc/podinfo/annotations; echo; sleep 0.5; done",
            [{"name": "podinfo", "downwardAPI": {"items": [
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}}]}}], m, restart="Always")
    node.kubectl("create", "configmap", "proj-cm", "--from-literal=cm-key=cm-value")
    node.kubectl("create", "secret", "generic", "proj-secret", "--from-literal=secret-key=secret-value")
    vol_pod(node, "proj-all", show("/all/podname", "/all/cm-key", "/all/secret-key"),
            [{"name": "all", "projected": {"sources": [{"secret": {"name": "proj-secret"}},
                                                       {"configMap": {"name": "proj-cm"}},
                                                       {"downwardAPI": {"items": items[:1]}}]}}], {"all": "/all"})

    got = env_of(succeeded(node, "dw-res"))
    assert got["/etc/podinfo/podname"] == "dw-res" and got["/etc/podinfo/podname.mode"] == "-rw-r--r--"
    assert (got["/etc/podinfo/cpu_limit"], got["/etc/podinfo/cpu_request"]) == ("1250", "250")
    assert (got["/etc/podinfo/memory_limit"], got["/etc/podinfo/memory_request"]) == ("67108864", "33554432")
    got = env_of(succeeded(node, "dw-default"))
    allocatable = get(node, "nodes")["items"][0]["status"]["allocatable"]
    assert got["/etc/podinfo/cpu_limit"] == str(int(allocatable["cpu"]) * 1000)
    assert int(got["/etc/podinfo/memory_limit"]) == int(allocatable["memory"].removesuffix("Ki")) * 1024
    assert env_of(succeeded(node, "dw-volmode"))["/etc/podinfo/podname.mode"] == "-r--------"
    assert env_of(succeeded(node, "dw-filemode"))["/etc/podinfo/podname.mode"] == "-r--------"
    got = env_of(succeeded(node, "proj-all"))
    assert (got["/all/podname"], got["/all/cm-key"], got["/all/secret-key"]) == ("proj-all", "cm-value", "secret-value")
    assert got["/all/podname.mode"] == got["/all/cm-key.mode"] == got["/all/secret-key.mode"] == "-rw-r--r--"
    wait(lambda: 'app="dw-update"' in output(node, "dw-update"), "the labels file", node)
    node.kubectl("label", "pod", "dw-update", "key1=value1")
    node.kubectl("annotate", "pod", "dw-update", "builder=foo")
    wait(lambda: 'key1="value1"' in output(node, "dw-update") and 'builder="foo"' in output(node, "dw-update"),
         "the updated labels and annotations", node, timeout=90)
    node.kubectl("delete", "pod", "dw-update", "--wait=false")


@pytest.mark.conformance("Security Context, runAsUser=65534")
@pytest.mark.conformance("Security Context, privileged=false.")
@pytest.mark.conformance("Security Context, readOnlyRootFilesystem=false.")
@pytest.mark.conformance("Security Context, test RunAsGroup at container level")
@pytest.mark.conformance("Security Context, test RunAsGroup at pod level")
@pytest.mark.conformance("Security Context, allowPrivilegeEscalation=false.")
@pytest.mark.conformance("Kubelet, pod with read only root file system")
@pytest.mark.conformance("Kubelet, hostAliases")
def test_security_contexts_and_host_aliases(node: Server) -> None:
    def sc(**kw: Any) -> dict[str, Any]:
        return {"securityContext": kw}
    one_shot(node, "sc-nobody", "id -u", container=sc(runAsUser=65534))
    one_shot(node, "sc-unprivileged", "ip link add dummy0 type dummy 2>&1; true", container=sc(privileged=False))
    one_shot(node, "sc-writable", "echo hi > /file && cat /file", container=sc(readOnlyRootFilesystem=False))
    one_shot(node, "sc-readonly", "echo hi > /file 2>&1; true", container=sc(readOnlyRootFilesystem=True))
    one_shot(node, "sc-group", "id -u; id -g", container=sc(runAsUser=1001, runAsGroup=2002))
    one_shot(node, "sc-pod-group", "id -u; id -g", securityContext={"runAsUser": 1001, "runAsGroup": 2002})
    one_shot(node, "sc-nonewprivs", "id -u; grep NoNewPrivs /proc/self/status",
             container=sc(runAsUser=1000, allowPrivilegeEscalation=False))
    one_shot(node, "host-aliases", "cat /etc/hosts",
             hostAliases=[{"ip": "123.45.67.89", "hostnames": ["foo", "bar"]}])
    assert succeeded(node, "sc-nobody").strip() == "65534"
    assert "Operation not permitted" in succeeded(node, "sc-unprivileged")
    assert succeeded(node, "sc-writable").strip() == "hi"
    assert "Read-only file system" in succeeded(node, "sc-readonly")
    assert succeeded(node, "sc-group").split() == ["1001", "2002"]
    assert succeeded(node, "sc-pod-group").split() == ["1001", "2002"]
    out = succeeded(node, "sc-nonewprivs").split()
    assert out[0] == "1000" and out[1:] == ["NoNewPrivs:", "1"]
    hosts = succeeded(node, "host-aliases")
    assert re.search(r"^123\.45\.67\.89\s+foo\s+bar\s*$", hosts, re.MULTILINE), hosts
