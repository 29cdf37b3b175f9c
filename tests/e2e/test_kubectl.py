"""Stock kubectl (1.32 on the PATH, and 1.27 / 1.33 for the core steps) against a real server."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import yaml

from tests.e2e.cluster import Server, kubectl_binary

pytestmark = pytest.mark.e2e

MANIFEST = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
  labels: {app: web, tier: config}
data:
  greeting: hello
  color: blue
---
apiVersion: v1
kind: Secret
metadata:
  name: app-secret
stringData:
  password: s3cret
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: httpd
        image: busybox:1.36
        command: ["httpd", "-f", "-p", "8080"]
        env:
        - {name: MODE, value: production}
        - {name: EXTRA, value: remove-me}
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
"""


def apply_manifest(server: Server, ns: str, manifest: str, version: str | None = None) -> str:
    return server.kubectl("-n", ns, "apply", "-f", "-", input=manifest, version=version).stdout


def test_apply_and_read_back(server: Server, namespace: str) -> None:
    out = apply_manifest(server, namespace, MANIFEST)
    assert "configmap/app-config created" in out
    assert "secret/app-secret created" in out
    assert "deployment.apps/web created" in out
    assert "service/web created" in out

    cm = yaml.safe_load(server.kubectl("-n", namespace, "get", "configmap", "app-config", "-o", "yaml").stdout)
    assert cm["data"] == {"greeting": "hello", "color": "blue"}
    assert cm["metadata"]["uid"] and int(cm["metadata"]["resourceVersion"]) > 0

    secret = json.loads(server.kubectl("-n", namespace, "get", "secret", "app-secret", "-o", "json").stdout)
    assert secret["type"] == "Opaque"
    assert secret["data"]["password"] == "czNjcmV0"  # stringData merged into data, base64
    assert "stringData" not in secret

    image = server.kubectl("-n", namespace, "get", "deploy", "web", "-o",
                           "jsonpath={.spec.template.spec.containers[0].image}").stdout
    assert image == "busybox:1.36"
    dep = json.loads(server.kubectl("-n", namespace, "get", "deploy", "web", "-o", "json").stdout)
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == "25%"
    assert dep["spec"]["revisionHistoryLimit"] == 10
    assert dep["metadata"]["generation"] == 1

    svc = json.loads(server.kubectl("-n", namespace, "get", "svc", "web", "-o", "json").stdout)
    ip = svc["spec"]["clusterIP"]
    assert ip.startswith("10.43.")
    wide = server.kubectl("-n", namespace, "get", "svc", "web", "-o", "wide").stdout
    assert "CLUSTER-IP" in wide and ip in wide and "80/TCP" in wide and "SELECTOR" in wide and "app=web" in wide


def test_selectors_and_chunking(server: Server, namespace: str) -> None:
    for i in range(7):
        tier = "front" if i % 2 else "back"
        server.kubectl("-n", namespace, "create", "configmap", f"cm-{i}", f"--from-literal=i={i}")
        server.kubectl("-n", namespace, "label", "configmap", f"cm-{i}", f"tier={tier}")
    names = server.kubectl("-n", namespace, "get", "cm", "-l", "tier=front", "-o", "name").stdout.split()
    assert names == ["configmap/cm-1", "configmap/cm-3", "configmap/cm-5"]
    names = server.kubectl("-n", namespace, "get", "cm", "-l", "tier notin (front),tier", "-o", "name").stdout.split()
    assert names == ["configmap/cm-0", "configmap/cm-2", "configmap/cm-4", "configmap/cm-6"]
    names = server.kubectl("-n", namespace, "get", "cm", "--field-selector", "metadata.name=cm-2",
                           "-o", "name").stdout.split()
    assert names == ["configmap/cm-2"]
    res = server.kubectl("-n", namespace, "get", "cm", "--field-selector", "data.i=2", check=False)
    assert res.returncode != 0 and "field label not supported" in res.stderr
    chunked = server.kubectl("-n", namespace, "get", "cm", "-l", "tier", "--chunk-size", "2", "-o", "name", "-v", "6")
    assert chunked.stdout.split() == [f"configmap/cm-{i}" for i in range(7)]
    assert chunked.stderr.count("limit=2") >= 4  # 7 objects in pages of 2


def test_label_annotate_patch_scale(server: Server, namespace: str) -> None:
    apply_manifest(server, namespace, MANIFEST)
    server.kubectl("-n", namespace, "label", "deploy", "web", "team=blue")
    server.kubectl("-n", namespace, "annotate", "deploy", "web", "note=hi")
    server.kubectl("-n", namespace, "patch", "deploy", "web", "-p",
                   '{"spec":{"template":{"spec":{"containers":[{"name":"httpd","image":"busybox:1.37"}]}}}}')
    server.kubectl("-n", namespace, "patch", "cm", "app-config", "--type", "merge", "-p", '{"data":{"color":null}}')
    server.kubectl("-n", namespace, "patch", "svc", "web", "--type", "json",
                   "-p", '[{"op":"add","path":"/metadata/labels","value":{"patched":"yes"}}]')
    server.kubectl("-n", namespace, "scale", "deploy", "web", "--replicas", "5")
    dep = json.loads(server.kubectl("-n", namespace, "get", "deploy", "web", "-o", "json").stdout)
    assert dep["metadata"]["labels"]["team"] == "blue"
    assert dep["metadata"]["annotations"]["note"] == "hi"
    c = dep["spec"]["template"]["spec"]["containers"]
    assert len(c) == 1 and c[0]["image"] == "busybox:1.37" and c[0]["command"][0] == "httpd"  # merged by name
    assert dep["spec"]["replicas"] == 5
    assert dep["metadata"]["generation"] == 3  # template change + scale; labels/annotations don't count
    cm = json.loads(server.kubectl("-n", namespace, "get", "cm", "app-config", "-o", "json").stdout)
    assert cm["data"] == {"greeting": "hello"}
    svc = json.loads(server.kubectl("-n", namespace, "get", "svc", "web", "-o", "json").stdout)
    assert svc["metadata"]["labels"] == {"patched": "yes"}


def test_conflicts_and_errors(server: Server, namespace: str) -> None:
    server.kubectl("-n", namespace, "create", "configmap", "c1", "--from-literal=a=1")
    stale = json.loads(server.kubectl("-n", namespace, "get", "cm", "c1", "-o", "json").stdout)
    server.kubectl("-n", namespace, "patch", "cm", "c1", "--type", "merge", "-p", '{"data":{"a":"2"}}')
    stale["data"]["a"] = "3"
    res = server.kubectl("-n", namespace, "replace", "-f", "-", input=json.dumps(stale), check=False)
    assert res.returncode != 0
    assert "the object has been modified; please apply your changes to the latest version" in res.stderr

    res = server.kubectl("-n", namespace, "create", "configmap", "c1", check=False)
    assert res.returncode != 0 and 'configmaps "c1" already exists' in res.stderr

    res = server.kubectl("-n", namespace, "get", "cm", "nope", check=False)
    assert res.returncode != 0 and 'configmaps "nope" not found' in res.stderr

    bad = MANIFEST.split("---")[3].replace("name: web", "name: Bad_Name", 1)
    res = server.kubectl("-n", namespace, "apply", "-f", "-", input=bad, check=False)
    assert res.returncode != 0
    assert 'Service "Bad_Name" is invalid' in res.stderr and "metadata.name" in res.stderr

    dep = yaml.safe_load(MANIFEST.split("---")[2])
    dep["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    res = server.kubectl("-n", namespace, "apply", "-f", "-", input=yaml.safe_dump(dep), check=False)
    assert res.returncode != 0 and "spec.template.metadata.labels" in res.stderr

    res = server.kubectl("-n", namespace, "apply", "-f", "-", check=False, input=yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "dataa": {"a": "b"}}))
    assert res.returncode != 0 and 'unknown field "dataa"' in res.stderr


def test_apply_removes_field(server: Server, namespace: str) -> None:
    apply_manifest(server, namespace, MANIFEST)
    smaller = MANIFEST.replace("        - {name: EXTRA, value: remove-me}\n", "").replace("  color: blue\n", "")
    out = apply_manifest(server, namespace, smaller)
    assert "deployment.apps/web configured" in out and "configmap/app-config configured" in out
    dep = json.loads(server.kubectl("-n", namespace, "get", "deploy", "web", "-o", "json").stdout)
    assert dep["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "MODE", "value": "production"}]
    cm = json.loads(server.kubectl("-n", namespace, "get", "cm", "app-config", "-o", "json").stdout)
    assert cm["data"] == {"greeting": "hello"}
    out = apply_manifest(server, namespace, smaller)
    assert "deployment.apps/web unchanged" in out


def test_get_watch_sees_changes(server: Server, namespace: str) -> None:
    server.kubectl("-n", namespace, "create", "configmap", "w0")
    proc = subprocess.Popen(
        [kubectl_binary(), "--kubeconfig", str(server.kubeconfig), "-n", namespace, "get", "cm", "-w",
         "-o", "name"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        server.kubectl("-n", namespace, "create", "configmap", "w1")
        server.kubectl("-n", namespace, "label", "configmap", "w0", "seen=yes")
        seen: list[str] = []
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(seen) < 3:
            line = proc.stdout.readline().strip()
            if line:
                seen.append(line)
        assert "configmap/w0" in seen and "configmap/w1" in seen
        assert seen.count("configmap/w0") >= 2  # initial listing, then the label change
    finally:
        proc.kill()
        proc.wait()


def test_explain_api_resources_get_all(server: Server, namespace: str) -> None:
    out = server.kubectl("explain", "pods.spec.containers").stdout
    assert "image" in out and "FIELDS" in out.upper()
    out = server.kubectl("explain", "deployment.spec.strategy").stdout
    assert "rollingUpdate" in out
    out = server.kubectl("api-resources").stdout
    for line in ("deployments ", "deploy", "apps/v1", "cronjobs", "cj", "batch/v1", "leases", "endpointslices",
                 "horizontalpodautoscalers", "clusterrolebindings", "priorityclasses", "storageclasses"):
        assert line in out
    apply_manifest(server, namespace, MANIFEST)
    out = server.kubectl("-n", namespace, "get", "all").stdout
    assert "service/web" in out and "deployment.apps/web" in out
    assert "configmap" not in out


@pytest.mark.conformance("namespace-deletion-removes-services")
def test_delete_namespace_removes_contents(server: Server) -> None:
    ns = "doomed"
    server.kubectl("create", "namespace", ns)
    apply_manifest(server, ns, MANIFEST)
    server.kubectl("delete", "namespace", ns, "--timeout=60s")
    res = server.kubectl("get", "namespace", ns, check=False)
    assert res.returncode != 0 and "not found" in res.stderr
    for kind in ("configmaps", "secrets", "deployments", "services"):
        out = server.kubectl("get", kind, "-A", "-o", "json").stdout
        assert not [i for i in json.loads(out)["items"] if i["metadata"]["namespace"] == ns]
    res = server.kubectl("-n", ns, "create", "configmap", "late", check=False)
    assert res.returncode != 0 and "not found" in res.stderr


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_core_steps_other_kubectl_versions(server: Server, version: str) -> None:
    ns = f"kubectl-{version.replace('.', '-')}"
    server.kubectl("create", "namespace", ns, version=version)
    out = apply_manifest(server, ns, MANIFEST, version=version)
    assert "deployment.apps/web created" in out
    got = server.kubectl("-n", ns, "get", "deploy,svc,cm", version=version).stdout
    assert "deployment.apps/web" in got and "service/web" in got and "app-config" in got
    server.kubectl("-n", ns, "scale", "deploy", "web", "--replicas", "3", version=version)
    assert server.kubectl("-n", ns, "get", "deploy", "web", "-o", "jsonpath={.spec.replicas}",
                          version=version).stdout == "3"
    server.kubectl("-n", ns, "patch", "cm", "app-config", "-p", '{"data":{"k":"v"}}', version=version)
    smaller = MANIFEST.replace("        - {name: EXTRA, value: remove-me}\n", "")
    assert "deployment.apps/web configured" in apply_manifest(server, ns, smaller, version=version)
    dep = json.loads(server.kubectl("-n", ns, "get", "deploy", "web", "-o", "json", version=version).stdout)
    assert dep["spec"]["replicas"] == 2  # apply sets the manifest's replicas again, as upstream
    assert len(dep["spec"]["template"]["spec"]["containers"][0]["env"]) == 1
    assert "image" in server.kubectl("explain", "pod.spec.containers", version=version).stdout
    server.kubectl("delete", "namespace", ns, "--timeout=60s", version=version)


def test_restart_keeps_objects(fresh_server: Server) -> None:
    srv = fresh_server
    srv.kubectl("create", "namespace", "keep")
    for i in range(5):
        srv.kubectl("-n", "keep", "create", "configmap", f"k{i}", f"--from-literal=i={i}")
    before = json.loads(srv.kubectl("-n", "keep", "get", "cm", "-o", "json").stdout)
    rv_before = max(int(i["metadata"]["resourceVersion"]) for i in before["items"])
    srv.stop()
    srv.start()
    after = json.loads(srv.kubectl("-n", "keep", "get", "cm", "-o", "json").stdout)
    names = sorted(i["metadata"]["name"] for i in after["items"])
    assert [n for n in names if n[0] == "k" and n[1:].isdigit()] == [f"k{i}" for i in range(5)]
    assert {i["metadata"]["uid"] for i in after["items"]} >= {i["metadata"]["uid"] for i in before["items"]}
    srv.kubectl("-n", "keep", "create", "configmap", "k9")
    new = json.loads(srv.kubectl("-n", "keep", "get", "cm", "k9", "-o", "json").stdout)
    assert int(new["metadata"]["resourceVersion"]) > rv_before


@pytest.mark.parametrize("version", [None, "1.33"])
def test_typed_creates_protobuf(server: Server, version: str | None) -> None:
    """kubectl 1.32+ sends these bodies as Kubernetes protobuf; the results match the JSON path."""
    ns = f"pb-{(version or 'default').replace('.', '-')}"
    k = lambda *a: server.kubectl(*a, version=version)  # noqa: E731
    k("create", "namespace", ns)
    k("-n", ns, "create", "configmap", "c", "--from-literal=a=b")
    k("-n", ns, "create", "secret", "generic", "s", "--from-literal=a=b")
    k("-n", ns, "create", "deployment", "d", "--image=busybox", "--port=80", "--replicas=2")
    k("-n", ns, "create", "service", "clusterip", "svc", "--tcp=80:8080")
    k("-n", ns, "create", "job", "j", "--image=busybox")
    k("-n", ns, "create", "cronjob", "cj", "--image=busybox", "--schedule=*/5 * * * *")
    k("-n", ns, "create", "role", "r", "--verb=get", "--resource=pods")
    k("-n", ns, "create", "quota", "q", "--hard=pods=2")
    k("-n", ns, "create", "poddisruptionbudget", "p", "--selector=a=b", "--min-available=1")
    k("-n", ns, "create", "ingress", "i", "--rule=foo.com/=svc:80")
    k("-n", ns, "create", "serviceaccount", "sa")
    get = lambda *a: json.loads(k("-n", ns, "get", *a, "-o", "json").stdout)  # noqa: E731
    assert get("cm", "c")["data"] == {"a": "b"}
    assert get("secret", "s")["data"] == {"a": "Yg=="}
    dep = get("deploy", "d")
    assert dep["spec"]["replicas"] == 2
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]  # no zero-valued hostPort, as JSON
    assert "stdin" not in c and "generation" not in dep["spec"]["template"]["metadata"]
    svc = get("svc", "svc")
    assert svc["spec"]["ports"][0]["targetPort"] == 8080 and svc["spec"]["clusterIP"].startswith("10.43.")
    assert get("cronjob", "cj")["spec"]["schedule"] == "*/5 * * * *"
    ing = get("ingress", "i")
    assert ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"]["number"] == 80
    assert get("pdb", "p")["spec"]["minAvailable"] == 1
    assert get("quota", "q")["spec"]["hard"] == {"pods": "2"}
    k("delete", "namespace", ns, "--wait=false")
