"""Issue 3's end-to-end suite: stock kubectl against `kubeling server --disable-agent`
with its controllers and scheduler, and hollow nodes standing in for kubelets.

One cluster is shared by the module (three hollow nodes in one process, one
more in a second process that a test kills to stop its heartbeats); each test
works in its own namespace. Waiting is by polling the API with generous
limits: the limits turn a hang into a failure, they are not assertions on
speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e.cluster import Server

pytestmark = pytest.mark.e2e

GRACE = "4"  # --node-monitor-grace-period for the suite: a silent node is noticed in seconds
TOLERATION = "2"  # --default-toleration-seconds: its pods are evicted soon after


class Hollow:
    """A `kubeling hollow-nodes` process."""

    def __init__(self, srv: Server, prefix: str, count: int, *extra: str) -> None:
        self.log = srv.data_dir.parent / f"hollow-{prefix}.log"
        self._out = open(self.log, "ab")  # noqa: SIM115 - lives as long as the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kubeling", "hollow-nodes", "--kubeconfig", str(srv.kubeconfig),
             "--count", str(count), "--name-prefix", prefix, "--pod-run-seconds", "1",
             "--heartbeat-interval", "1", *extra],
            stdout=self._out, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._out.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, Hollow]]]:
    srv = Server(tmp_path_factory.mktemp("workloads") / "data",
                 extra_args=("--node-monitor-grace-period", GRACE, "--default-toleration-seconds", TOLERATION))
    srv.start()
    hollows = {"main": Hollow(srv, "node-", 3), "doomed": Hollow(srv, "doomed-", 1)}
    try:
        wait(lambda: len(ready_nodes(srv)) == 4, "4 Ready nodes", srv)
        yield srv, hollows
    finally:
        for h in hollows.values():
            h.stop()
        srv.stop()


@pytest.fixture
def ns(cluster: tuple[Server, dict[str, Hollow]], request: pytest.FixtureRequest) -> Iterator[str]:
    srv, _ = cluster
    name = "w-" + request.node.name.lower().replace("_", "-")[5:40].strip("-")
    srv.kubectl("create", "namespace", name)
    yield name
    srv.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def srv(cluster: tuple[Server, dict[str, Hollow]]) -> Server:
    return cluster[0]


# ---- helpers ------------------------------------------------------------------------
def get(srv: Server, *args: str) -> Any:
    return json.loads(srv.kubectl("get", *args, "-o", "json").stdout)


def ready_nodes(srv: Server) -> list[str]:
    return [n["metadata"]["name"] for n in get(srv, "nodes")["items"]
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))]


def wait(cond: Callable[[], Any], what: str, srv: Server, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n--- server log tail:\n"
                         f"{srv.log_path.read_text()[-3000:]}")


def pods(srv: Server, ns: str, selector: str = "") -> list[dict[str, Any]]:
    args = ["pods", "-n", ns] + (["-l", selector] if selector else [])
    return list(get(srv, *args)["items"])


def running(srv: Server, ns: str, selector: str = "") -> list[dict[str, Any]]:
    return [p for p in pods(srv, ns, selector)
            if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")]


def apply(srv: Server, ns: str, obj: dict[str, Any]) -> None:
    srv.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(obj))


def deployment(name: str, replicas: int, image: str = "busybox:1", **strategy: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "replicas": replicas, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}},
                     "spec": {"containers": [{"name": "c", "image": image}]}}}
    if strategy:
        spec["strategy"] = strategy
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": spec}


def available(srv: Server, ns: str, name: str) -> int:
    return int(get(srv, "deployment", name, "-n", ns).get("status", {}).get("availableReplicas") or 0)


# ---- deployments --------------------------------------------------------------------
def test_deployment_scales(srv: Server, ns: str) -> None:
    apply(srv, ns, deployment("web", 3))
    wait(lambda: len(running(srv, ns, "app=web")) == 3, "3 running pods", srv)
    srv.kubectl("scale", "deployment/web", "-n", ns, "--replicas=10")
    wait(lambda: len(running(srv, ns, "app=web")) == 10 and available(srv, ns, "web") == 10, "10 pods", srv)
    srv.kubectl("scale", "deployment/web", "-n", ns, "--replicas=2")
    wait(lambda: len(pods(srv, ns, "app=web")) == 2 and available(srv, ns, "web") == 2, "2 pods", srv)
    events = srv.kubectl("get", "events", "-n", ns).stdout
    assert "ScalingReplicaSet" in events and "SuccessfulCreate" in events


def test_rolling_update_keeps_availability_and_undo(srv: Server, ns: str) -> None:
    apply(srv, ns, deployment("roll", 4, type="RollingUpdate", rollingUpdate={"maxUnavailable": 0, "maxSurge": 1}))
    wait(lambda: available(srv, ns, "roll") == 4, "4 available", srv)
    srv.kubectl("rollout", "status", "deployment/roll", "-n", ns, "--timeout=60s")
    watcher = subprocess.Popen(
        ["kubectl", "--kubeconfig", str(srv.kubeconfig), "get", "deployment", "roll", "-n", ns, "-w",
         "-o", "jsonpath={.status.availableReplicas} {.status.observedGeneration}{\"\\n\"}"],
        stdout=subprocess.PIPE, text=True)
    try:
        srv.kubectl("set", "image", "deployment/roll", "-n", ns, "c=busybox:2")
        srv.kubectl("rollout", "status", "deployment/roll", "-n", ns, "--timeout=90s")
    finally:
        watcher.terminate()
        out, _ = watcher.communicate(timeout=10)
    seen = [int(line.split()[0] or 0) for line in out.splitlines() if line.strip()]
    assert seen and min(seen) >= 4, f"availability dropped during the rollout: {seen}"
    images = {p["spec"]["containers"][0]["image"] for p in running(srv, ns, "app=roll")}
    assert images == {"busybox:2"}
    history = srv.kubectl("rollout", "history", "deployment/roll", "-n", ns).stdout
    assert "1" in history.split() and "2" in history.split()
    srv.kubectl("rollout", "undo", "deployment/roll", "-n", ns)
    srv.kubectl("rollout", "status", "deployment/roll", "-n", ns, "--timeout=90s")
    dep = get(srv, "deployment", "roll", "-n", ns)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1"
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    wait(lambda: {p["spec"]["containers"][0]["image"] for p in pods(srv, ns, "app=roll")} == {"busybox:1"},
         "old image back", srv)


def test_deleted_pod_is_replaced(srv: Server, ns: str) -> None:
    apply(srv, ns, deployment("keep", 2))
    wait(lambda: len(running(srv, ns, "app=keep")) == 2, "2 running", srv)
    victim = running(srv, ns, "app=keep")[0]["metadata"]["name"]
    srv.kubectl("delete", "pod", victim, "-n", ns)
    wait(lambda: len(running(srv, ns, "app=keep")) == 2
         and victim not in {p["metadata"]["name"] for p in pods(srv, ns, "app=keep")}, "a replacement", srv)


# ---- jobs ---------------------------------------------------------------------------
def test_job_completes(srv: Server, ns: str) -> None:
    apply(srv, ns, {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "five"},
                    "spec": {"completions": 5, "parallelism": 2,
                             "template": {"spec": {"restartPolicy": "Never",
                                                   "containers": [{"name": "c", "image": "busybox"}]}}}})
    srv.kubectl("wait", "--for=condition=Complete", "job/five", "-n", ns, "--timeout=90s")
    job = get(srv, "job", "five", "-n", ns)
    assert job["status"]["succeeded"] == 5
    assert len([p for p in pods(srv, ns, "job-name=five") if p["status"]["phase"] == "Succeeded"]) == 5


def test_cronjob_spawns_jobs_and_keeps_history(srv: Server, ns: str) -> None:
    srv.kubectl("create", "cronjob", "tick", "-n", ns, "--image=busybox", "--schedule=* * * * *", "--", "true")
    srv.kubectl("patch", "cronjob", "tick", "-n", ns, "--type=merge",
                "-p", '{"spec":{"successfulJobsHistoryLimit":1}}')
    # Runs at each minute: two runs prove both spawning and history pruning.
    wait(lambda: get(srv, "cronjob", "tick", "-n", ns).get("status", {}).get("lastSuccessfulTime"), "a first run", srv,
         timeout=90)
    first = {j["metadata"]["name"] for j in get(srv, "jobs", "-n", ns)["items"]}
    wait(lambda: {j["metadata"]["name"] for j in get(srv, "jobs", "-n", ns)["items"]
                  if j.get("status", {}).get("succeeded")} - first, "a second run", srv, timeout=90)
    wait(lambda: len(get(srv, "jobs", "-n", ns)["items"]) == 1, "history trimmed to 1", srv)
    srv.kubectl("create", "job", "manual", "-n", ns, "--from=cronjob/tick")
    srv.kubectl("wait", "--for=condition=Complete", "job/manual", "-n", ns, "--timeout=60s")


# ---- daemonsets and statefulsets ----------------------------------------------------
def test_daemonset_one_pod_per_node_and_follows_new_node(cluster: tuple[Server, dict[str, Hollow]],
                                                          ns: str) -> None:
    srv, hollows = cluster
    apply(srv, ns, {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
                    "spec": {"selector": {"matchLabels": {"app": "agent"}},
                             "template": {"metadata": {"labels": {"app": "agent"}},
                                          "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})

    def per_node() -> dict[str, int]:
        out: dict[str, int] = {}
        for p in running(srv, ns, "app=agent"):
            out[p["spec"]["nodeName"]] = out.get(p["spec"]["nodeName"], 0) + 1
        return out

    nodes = set(ready_nodes(srv))
    wait(lambda: per_node() == dict.fromkeys(nodes, 1), "one pod per node", srv)
    hollows["extra"] = Hollow(srv, "extra-", 1)
    wait(lambda: "extra-0" in per_node() and set(per_node().values()) == {1}, "a pod on the new node", srv)
    hollows["extra"].stop()
    srv.kubectl("delete", "node", "extra-0")


def test_statefulset_ordered_create_and_reverse_delete(srv: Server, ns: str) -> None:
    apply(srv, ns, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                    "spec": {"clusterIP": "None", "selector": {"app": "sts"}, "ports": [{"port": 80}]}})
    apply(srv, ns, {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
                    "spec": {"replicas": 3, "serviceName": "web", "selector": {"matchLabels": {"app": "sts"}},
                             "template": {"metadata": {"labels": {"app": "sts"}},
                                          "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    wait(lambda: len(running(srv, ns, "app=sts")) == 3, "3 running", srv)
    created = sorted(pods(srv, ns, "app=sts"), key=lambda p: p["metadata"]["creationTimestamp"])
    names = [p["metadata"]["name"] for p in pods(srv, ns, "app=sts")]
    assert sorted(names) == ["web-0", "web-1", "web-2"]
    # Each was created only after the previous one was running and ready.
    ready_at = {p["metadata"]["name"]: next(c["lastTransitionTime"] for c in p["status"]["conditions"]
                                            if c["type"] == "Ready") for p in created}
    starts = {p["metadata"]["name"]: p["metadata"]["creationTimestamp"] for p in created}
    assert ready_at["web-0"] <= starts["web-1"] and ready_at["web-1"] <= starts["web-2"]
    watcher = subprocess.Popen(
        ["kubectl", "--kubeconfig", str(srv.kubeconfig), "get", "pods", "-n", ns, "-l", "app=sts",
         "--watch-only", "-o", "jsonpath={.metadata.name} {.metadata.deletionTimestamp}{\"\\n\"}"],
        stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1)
        srv.kubectl("scale", "statefulset/web", "-n", ns, "--replicas=0")
        wait(lambda: not pods(srv, ns, "app=sts"), "all gone", srv)
    finally:
        watcher.terminate()
        out, _ = watcher.communicate(timeout=10)
    order: list[str] = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] not in order:
            order.append(parts[0])
    assert order == ["web-2", "web-1", "web-0"], out


# ---- garbage collection -------------------------------------------------------------
def test_cascading_and_orphan_deletion(srv: Server, ns: str) -> None:
    apply(srv, ns, deployment("casc", 2))
    apply(srv, ns, deployment("orph", 2))
    wait(lambda: len(running(srv, ns, "app=casc")) == 2 and len(running(srv, ns, "app=orph")) == 2, "pods", srv)
    srv.kubectl("delete", "deployment", "casc", "-n", ns)
    wait(lambda: not pods(srv, ns, "app=casc") and not get(srv, "rs", "-n", ns, "-l", "app=casc")["items"],
         "cascade", srv)
    srv.kubectl("delete", "deployment", "orph", "-n", ns, "--cascade=orphan")
    wait(lambda: not get(srv, "deployments", "-n", ns)["items"], "deployment gone", srv)
    rs = get(srv, "rs", "-n", ns, "-l", "app=orph")["items"]
    assert len(rs) == 1 and not rs[0]["metadata"].get("ownerReferences")
    time.sleep(1)
    assert len(running(srv, ns, "app=orph")) == 2


def test_foreground_deletion_waits_for_dependents(srv: Server, ns: str) -> None:
    apply(srv, ns, {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "fg"},
                    "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "fg"}},
                             "template": {"metadata": {"labels": {"app": "fg"}},
                                          "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    wait(lambda: len(running(srv, ns, "app=fg")) == 2, "pods", srv)
    srv.kubectl("delete", "rs", "fg", "-n", ns, "--cascade=foreground")
    assert not pods(srv, ns, "app=fg") and not get(srv, "rs", "-n", ns)["items"]


# ---- scheduling ---------------------------------------------------------------------
def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"containers": [{"name": "c", "image": "busybox", **spec.pop("container", {})}], **spec}}


def test_unschedulable_pod_stays_pending_with_event(srv: Server, ns: str) -> None:
    apply(srv, ns, pod("huge", container={"resources": {"requests": {"cpu": "1000"}}}))

    def failed() -> str:
        out = srv.kubectl("get", "events", "-n", ns, "--field-selector", "reason=FailedScheduling",
                          "-o", "jsonpath={.items[*].message}").stdout
        return out

    message = wait(failed, "a FailedScheduling event", srv)
    assert "0/" in message and "Insufficient cpu" in message, message
    p = get(srv, "pod", "huge", "-n", ns)
    assert p["status"]["phase"] == "Pending" and not p["spec"].get("nodeName")
    cond = next(c for c in p["status"]["conditions"] if c["type"] == "PodScheduled")
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    assert "FailedScheduling" in srv.kubectl("describe", "pod", "huge", "-n", ns).stdout


def test_taints_tolerations_and_affinity(srv: Server, ns: str) -> None:
    srv.kubectl("taint", "nodes", "node-0", "dedicated=db:NoSchedule", "--overwrite")
    srv.kubectl("label", "nodes", "node-1", "disk=ssd", "--overwrite")
    try:
        apply(srv, ns, pod("db", tolerations=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}],
                           nodeSelector={"kubernetes.io/hostname": "node-0"}))
        apply(srv, ns, pod("fast", affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}}))
        for i in range(4):
            apply(srv, ns, pod(f"plain-{i}"))
        wait(lambda: len(running(srv, ns)) == 6, "6 running", srv)
        where = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in running(srv, ns)}
        assert where["db"] == "node-0" and where["fast"] == "node-1"
        assert all(where[f"plain-{i}"] != "node-0" for i in range(4)), where
        # Anti-affinity and topology spread across hostnames.
        spread = {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
                  "labelSelector": {"matchLabels": {"tier": "spread"}}}
        dep = deployment("spread", 4)
        dep["spec"]["template"]["metadata"]["labels"]["tier"] = "spread"
        dep["spec"]["template"]["spec"]["topologySpreadConstraints"] = [spread]
        dep["spec"]["template"]["spec"]["tolerations"] = [{"key": "dedicated", "operator": "Exists"}]
        dep["spec"]["template"]["spec"]["nodeSelector"] = {"kubeling.test/pool": "main"}
        for n in ("node-0", "node-1", "node-2"):
            srv.kubectl("label", "nodes", n, "kubeling.test/pool=main", "--overwrite")
        apply(srv, ns, dep)
        wait(lambda: len(running(srv, ns, "app=spread")) == 4, "spread pods", srv)
        counts: dict[str, int] = {}
        for p in running(srv, ns, "app=spread"):
            counts[p["spec"]["nodeName"]] = counts.get(p["spec"]["nodeName"], 0) + 1
        assert set(counts) == {"node-0", "node-1", "node-2"} and max(counts.values()) - min(counts.values()) <= 1
        anti = pod("solo-a", affinity={"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"role": "solo"}}, "topologyKey": "kubernetes.io/hostname"}]}})
        anti["metadata"]["labels"]["role"] = "solo"
        other = json.loads(json.dumps(anti))
        other["metadata"]["name"] = "solo-b"
        apply(srv, ns, anti)
        apply(srv, ns, other)
        wait(lambda: len(running(srv, ns, "role=solo")) == 2, "solo pods", srv)
        assert len({p["spec"]["nodeName"] for p in running(srv, ns, "role=solo")}) == 2
    finally:
        srv.kubectl("taint", "nodes", "node-0", "dedicated-", check=False)
        srv.kubectl("label", "nodes", "node-1", "disk-", check=False)


# ---- node failure (last: it kills a node) -------------------------------------------
def test_pods_of_a_silent_node_are_replaced(cluster: tuple[Server, dict[str, Hollow]], ns: str) -> None:
    srv, hollows = cluster
    dep = deployment("survive", 4)
    apply(srv, ns, dep)
    wait(lambda: len(running(srv, ns, "app=survive")) == 4, "4 running", srv)
    # Move them so at least one is on the doomed node: cordon the others, restart the rollout.
    if not any(p["spec"]["nodeName"] == "doomed-0" for p in running(srv, ns, "app=survive")):
        for n in ("node-0", "node-1", "node-2"):
            srv.kubectl("cordon", n)
        srv.kubectl("rollout", "restart", "deployment/survive", "-n", ns)
        wait(lambda: any(p["spec"]["nodeName"] == "doomed-0" for p in running(srv, ns, "app=survive")),
             "a pod on doomed-0", srv)
        for n in ("node-0", "node-1", "node-2"):
            srv.kubectl("uncordon", n)
        srv.kubectl("rollout", "status", "deployment/survive", "-n", ns, "--timeout=60s")
    hollows["doomed"].stop()
    wait(lambda: "doomed-0" not in ready_nodes(srv), "doomed-0 NotReady", srv)
    node = get(srv, "node", "doomed-0")
    assert any(t["key"] == "node.kubernetes.io/unreachable" and t["effect"] == "NoExecute"
               for t in node["spec"].get("taints", []))
    wait(lambda: len([p for p in running(srv, ns, "app=survive") if p["spec"]["nodeName"] != "doomed-0"]) == 4,
         "4 running elsewhere", srv, timeout=120)


def test_drain(srv: Server, ns: str) -> None:
    apply(srv, ns, deployment("drained", 3))
    wait(lambda: len(running(srv, ns, "app=drained")) == 3, "3 running", srv)
    target = running(srv, ns, "app=drained")[0]["spec"]["nodeName"]
    srv.kubectl("drain", target, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=60s")
    try:
        assert get(srv, "node", target)["spec"].get("unschedulable") is True
        wait(lambda: len(running(srv, ns, "app=drained")) == 3
             and all(p["spec"]["nodeName"] != target for p in running(srv, ns, "app=drained")), "moved", srv)
    finally:
        srv.kubectl("uncordon", target)

