"""kubectl conformance behaviours that need only the API server (no pod runs).

Each test follows the description of the conformance test it is tagged with
(../shared/reference/conformance.yaml), driving the stock kubectl on the PATH.
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests.e2e.cluster import Server

pytestmark = pytest.mark.e2e


@pytest.mark.conformance("Kubectl, check version v1")
def test_api_versions_lists_v1(server: Server) -> None:
    versions = server.kubectl("api-versions").stdout.split()
    assert "v1" in versions and "apps/v1" in versions


@pytest.mark.conformance("Kubectl, version")
def test_version_reports_client_and_server(server: Server) -> None:
    out = json.loads(server.kubectl("version", "-o", "json").stdout)
    for side in ("clientVersion", "serverVersion"):
        v = out[side]
        assert v["major"] == "1" and v["minor"].rstrip("+").isdigit(), v
        assert v["gitVersion"].startswith("v1.") and v["platform"], v
        assert isinstance(v["gitCommit"], str) and isinstance(v["buildDate"], str), v  # kubeling leaves them empty
    text = server.kubectl("version").stdout
    assert "Client Version: v1." in text and "Server Version: v1." in text


@pytest.mark.conformance("Kubectl, cluster info")
def test_cluster_info(server: Server) -> None:
    out = server.kubectl("cluster-info").stdout
    assert "Kubernetes control plane" in out and "is running at" in out
    assert server.url in out


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: httpd-deployment
  labels: {app: httpd}
spec:
  replicas: 1
  selector: {matchLabels: {app: httpd}}
  template:
    metadata: {labels: {app: httpd}}
    spec:
      containers:
      - name: httpd
        image: IMAGE
"""


@pytest.mark.conformance("Kubectl, diff Deployment")
def test_diff_deployment(server: Server, namespace: str) -> None:
    live = DEPLOYMENT.replace("IMAGE", "registry.k8s.io/e2e-test-images/httpd:2.4.38-4")
    server.kubectl("apply", "-n", namespace, "-f", "-", input=live)
    declared = DEPLOYMENT.replace("IMAGE", "registry.k8s.io/e2e-test-images/busybox:1.36.1-1")
    res = server.kubectl("diff", "-n", namespace, "-f", "-", input=declared, check=False)
    assert res.returncode == 1, res.stderr  # 1: differences found, >1: kubectl failed
    removed = [line for line in res.stdout.splitlines() if line.startswith("-") and "image:" in line]
    added = [line for line in res.stdout.splitlines() if line.startswith("+") and "image:" in line]
    assert any("httpd:2.4.38-4" in line for line in removed), res.stdout
    assert any("busybox:1.36.1-1" in line for line in added), res.stdout
    # Nothing was changed by the diff.
    got = yaml.safe_load(server.kubectl("get", "deployment", "httpd-deployment", "-n", namespace, "-o",
                                        "yaml").stdout)
    assert got["spec"]["template"]["spec"]["containers"][0]["image"].endswith("httpd:2.4.38-4")
    server.kubectl("delete", "deployment", "httpd-deployment", "-n", namespace)


@pytest.mark.conformance("Kubectl, server-side dry-run Pod")
def test_server_side_dry_run_pod(server: Server, namespace: str) -> None:
    httpd = "registry.k8s.io/e2e-test-images/httpd:2.4.38-4"
    server.kubectl("run", "e2e-test-pod", "-n", namespace, f"--image={httpd}", "--restart=Never",
                   "--pod-running-timeout=2m0s")
    pod = json.loads(server.kubectl("get", "pod", "e2e-test-pod", "-n", namespace, "-o", "json").stdout)
    assert pod["spec"]["containers"][0]["image"] == httpd
    busybox = "registry.k8s.io/e2e-test-images/busybox:1.36.1-1"
    patch = json.dumps({"spec": {"containers": [{"name": "e2e-test-pod", "image": busybox}]}})
    out = server.kubectl("patch", "pod", "e2e-test-pod", "-n", namespace, "-p", patch, "--dry-run=server",
                         "-o", "json").stdout
    assert json.loads(out)["spec"]["containers"][0]["image"] == busybox  # what the change would give
    pod = json.loads(server.kubectl("get", "pod", "e2e-test-pod", "-n", namespace, "-o", "json").stdout)
    assert pod["spec"]["containers"][0]["image"] == httpd  # and it was not made
    server.kubectl("delete", "pod", "e2e-test-pod", "-n", namespace, "--grace-period=0", "--force",
                   "--wait=false")
