"""The resource metrics API (``metrics.k8s.io/v1beta1``) and ``kubectl top``.

The shape tests need no server; the discovery test a plain server; the last
runs a CPU-burning busybox pod on the in-process agent (root and runc; under CI
a missing one fails) and reads it with stock kubectl's ``top``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from kubeling.apiserver import metricsapi
from tests.e2e import test_node
from tests.e2e.cluster import Server
from tests.kubelet import testimage


def test_metrics_from_a_summary() -> None:
    node = {"metadata": {"name": "n1", "labels": {"a": "b"}}}
    summary = {"node": {"cpu": {"time": "2026-01-01T00:00:00Z", "usageNanoCores": 250_000_000},
                        "memory": {"workingSetBytes": 2048 * 1024}}}
    got = metricsapi.node_metrics(node, summary)
    assert got is not None
    assert got["kind"] == "NodeMetrics" and got["apiVersion"] == "metrics.k8s.io/v1beta1"
    assert got["metadata"]["name"] == "n1" and got["metadata"]["labels"] == {"a": "b"}
    assert got["usage"] == {"cpu": "250000000n", "memory": "2048Ki"}
    assert got["timestamp"] == "2026-01-01T00:00:00Z" and got["window"]
    # No rate yet (one sample): left out, as metrics-server leaves it out.
    assert metricsapi.node_metrics(node, {"node": {"cpu": {}, "memory": {"workingSetBytes": 1}}}) is None

    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u"}}
    stats = {"podRef": {"name": "p", "namespace": "ns", "uid": "u"}, "containers": [
        {"name": "a", "cpu": {"usageNanoCores": 5}, "memory": {"workingSetBytes": 1000}},
        {"name": "b", "cpu": {"usageNanoCores": 7}, "memory": {"workingSetBytes": 4096}}]}
    pm = metricsapi.pod_metrics(pod, stats)
    assert pm is not None and pm["kind"] == "PodMetrics" and pm["metadata"]["namespace"] == "ns"
    assert pm["containers"] == [{"name": "a", "usage": {"cpu": "5n", "memory": "1000"}},
                                {"name": "b", "usage": {"cpu": "7n", "memory": "4Ki"}}]
    stats["containers"].append({"name": "c", "cpu": {}, "memory": {"workingSetBytes": 1}})
    assert metricsapi.pod_metrics(pod, stats) is None


@pytest.mark.e2e
def test_discovery_lists_the_metrics_group(server: Server, namespace: str) -> None:
    res = server.kubectl("api-resources", "--api-group=metrics.k8s.io", "-o", "wide").stdout
    lines = {line.split()[0]: line for line in res.splitlines()[1:]}
    assert "NodeMetrics" in lines["nodes"] and "false" in lines["nodes"].split()
    assert "PodMetrics" in lines["pods"] and "true" in lines["pods"].split()
    group = json.loads(server.kubectl("get", "--raw", "/apis/metrics.k8s.io").stdout)
    assert group["preferredVersion"]["groupVersion"] == "metrics.k8s.io/v1beta1"
    listed = json.loads(server.kubectl("get", "--raw", "/apis").stdout)
    assert "metrics.k8s.io" in [g["name"] for g in listed["groups"]]
    empty = json.loads(server.kubectl("get", "--raw", f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods")
                       .stdout)
    assert empty == {"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": []}
    missing = server.kubectl("top", "pod", "nope", "-n", namespace, check=False)
    assert missing.returncode != 0 and "not found" in missing.stderr
    wrong = server.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/services", check=False)
    assert wrong.returncode != 0 and "could not find the requested resource" in wrong.stderr


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    test_node._require()
    data = tmp_path_factory.mktemp("top") / "data"
    data.mkdir()
    archive = data.parent / "busybox.tar"
    testimage.busybox_layout(archive, names=["docker.io/library/busybox:latest"])
    subprocess.run([sys.executable, "-m", "kubeling", "image", "import", "--data-dir", str(data), str(archive)],
                   check=True, capture_output=True)
    srv = Server(data, agent=True)
    srv.start()
    try:
        test_node.wait(lambda: test_node._node_ready(srv), "the node Ready with a pod CIDR", srv)
        yield srv
    finally:
        srv.stop()
        test_node._cleanup_node(data)


def _cpu_millicores(text: str) -> int:
    assert text.endswith("m"), text
    return int(text[:-1])


@pytest.mark.e2e
@pytest.mark.root
def test_kubectl_top_shows_a_busy_pod_and_the_node(node: Server) -> None:
    test_node.run_pod(node, "burn", "sh", "-c", "while :; do :; done")
    test_node.run_pod(node, "idle", "sleep", "3600")
    test_node.wait(lambda: all(test_node.pod_status(node, p).get("phase") == "Running" for p in ("burn", "idle")),
                   "burn and idle Running", node)

    def top_pods() -> dict[str, list[str]] | None:
        res = node.kubectl("top", "pod", "--no-headers", check=False)
        if res.returncode != 0:
            return None
        rows = {line.split()[0]: line.split()[1:] for line in res.stdout.splitlines() if line.strip()}
        burn = rows.get("burn")
        return rows if burn and "idle" in rows and _cpu_millicores(burn[0]) >= 100 else None

    rows = test_node.wait(top_pods, "kubectl top pod showing burn busy", node, timeout=90)
    assert rows["burn"][1].endswith("Mi")
    assert _cpu_millicores(rows["idle"][0]) < _cpu_millicores(rows["burn"][0])

    by_container = node.kubectl("top", "pod", "burn", "--containers", "--no-headers").stdout.split()
    assert by_container[:2] == ["burn", "c"] and _cpu_millicores(by_container[2]) >= 100

    name = test_node.node_name(node)
    res = node.kubectl("top", "node", "--no-headers").stdout.split()
    assert res[0] == name
    assert _cpu_millicores(res[1]) >= 100 and res[2].endswith("%")
    assert res[3].endswith("Mi") and res[4].endswith("%")

    raw = json.loads(node.kubectl("get", "--raw", f"/apis/metrics.k8s.io/v1beta1/nodes/{name}").stdout)
    assert raw["kind"] == "NodeMetrics" and raw["usage"]["cpu"].endswith("n")
    sel = json.loads(node.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%3Dburn")
                     .stdout)
    assert [i["metadata"]["name"] for i in sel["items"]] == ["burn"]
    node.kubectl("delete", "pod", "burn", "idle", "--grace-period=0", "--force", check=False)
