"""Conformance tests that demand a resource API: discovery, then create, get,
list, watch, update, patch, delete and deletecollection (and status where asked)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.e2e.cluster import Server

pytestmark = pytest.mark.e2e
MERGE = {"Content-Type": "application/merge-patch+json"}


class Api:
    def __init__(self, server: Server) -> None:
        self.base = server.url
        self.ca = str(server.data_dir / "tls" / "ca.crt")
        self.s = requests.Session()
        self.s.headers["Authorization"] = "Bearer " + (server.data_dir / "tls" / "admin.token").read_text().strip()

    def __call__(self, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None,
                 expect: int | None = None, **kw: Any) -> Any:
        data = None if body is None else json.dumps(body)
        h = {"Content-Type": "application/json", **(headers or {})}
        r = self.s.request(method, self.base + path, data=data, headers=h, verify=self.ca, timeout=30, **kw)
        if expect is not None:
            assert r.status_code == expect, (method, path, r.status_code, r.text[:500])
        return r.json() if r.content and "stream" not in kw else r


@pytest.fixture
def api(server: Server) -> Iterator[Api]:
    a = Api(server)
    yield a
    a.s.close()


def read_modify_write(api: Api, path: str, change: Any, attempts: int = 10) -> Any:
    """GET, change, PUT; again on 409 (controllers write the same objects), as
    upstream's e2e tests do with RetryOnConflict."""
    for _ in range(attempts):
        obj = api("GET", path, expect=200)
        change(obj)
        got = api("PUT", path, obj)
        if got.get("code") != 409:
            assert got.get("kind") != "Status", got
            return got
    raise AssertionError(f"PUT {path} kept conflicting")


def contains(actual: Any, expected: Any) -> bool:
    """``expected`` is part of ``actual`` (defaults may have added more)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and contains(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(
            contains(a, e) for a, e in zip(actual, expected))
    if isinstance(actual, str) and isinstance(expected, str) and actual != expected:
        return False
    return bool(actual == expected)


def crud(api: Api, group_version: str, plural: str, obj: dict[str, Any], patch: dict[str, Any], *,
         namespace: str | None, status: dict[str, Any] | None = None) -> None:
    """Every verb on one resource, as the '<Kind> API' conformance tests demand."""
    prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    if group_version != "v1":
        group = group_version.split("/")[0]
        assert group in [g["name"] for g in api("GET", "/apis")["groups"]]
        assert group_version in [v["groupVersion"] for v in api("GET", f"/apis/{group}")["versions"]]
    names = [r["name"] for r in api("GET", prefix)["resources"]]
    assert plural in names and (status is None or f"{plural}/status" in names)
    coll = f"{prefix}/namespaces/{namespace}/{plural}" if namespace else f"{prefix}/{plural}"
    label = {"e2e-api": plural}
    rv = api("GET", coll)["metadata"]["resourceVersion"]
    events: list[str] = []

    def watch() -> None:
        r = api("GET", coll + f"?watch=1&resourceVersion={rv}&labelSelector=e2e-api%3D{plural}&timeoutSeconds=5",
                stream=True)
        for line in r.iter_lines(chunk_size=None):  # deliver each event as it arrives
            if line:
                events.append(json.loads(line)["type"])
                if events.count("DELETED") == 3:
                    r.close()
                    return

    t = threading.Thread(target=watch)
    t.start()
    made = []
    for i in range(3):
        o = json.loads(json.dumps(obj))
        o["metadata"] = {**o.get("metadata", {}), "name": f"{obj['metadata']['name']}-{i}", "labels": label}
        made.append(api("POST", coll, o, expect=201))
    name = made[0]["metadata"]["name"]
    got = api("GET", f"{coll}/{name}", expect=200)
    assert got["metadata"]["uid"] == made[0]["metadata"]["uid"]
    assert len(api("GET", coll + f"?labelSelector=e2e-api%3D{plural}", expect=200)["items"]) == 3

    def mark(o: dict[str, Any]) -> None:
        o["metadata"].setdefault("annotations", {})["updated"] = "true"

    assert read_modify_write(api, f"{coll}/{name}", mark)["metadata"]["annotations"]["updated"] == "true"
    patched = api("PATCH", f"{coll}/{name}", patch, headers=MERGE, expect=200)
    assert contains(patched, patch), (patched, patch)
    if status is not None:
        st = api("GET", f"{coll}/{name}/status", expect=200)
        p = api("PATCH", f"{coll}/{name}/status", {"status": status}, headers=MERGE, expect=200)
        assert contains(p["status"], status), (p["status"], status)
        def keep(o: dict[str, Any]) -> None:
            o["metadata"].setdefault("annotations", {})["status-update"] = "kept"

        u = read_modify_write(api, f"{coll}/{name}/status", keep)
        assert u["metadata"]["annotations"]["status-update"] == "kept"  # metadata changes are kept, as upstream
    api("DELETE", f"{coll}/{name}", expect=200)
    api("GET", f"{coll}/{name}", expect=404)
    api("DELETE", coll + f"?labelSelector=e2e-api%3D{plural}", expect=200)
    assert api("GET", coll + f"?labelSelector=e2e-api%3D{plural}")["items"] == []
    t.join(10)
    assert events.count("ADDED") == 3 and events.count("DELETED") == 3 and "MODIFIED" in events


@pytest.mark.conformance("Ingress API")
def test_ingress_api(api: Api, namespace: str) -> None:
    ing = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "ing"},
           "spec": {"defaultBackend": {"service": {"name": "default-backend", "port": {"number": 8080}}}}}
    crud(api, "networking.k8s.io/v1", "ingresses", ing, {"metadata": {"annotations": {"patched": "true"}}},
         namespace=namespace, status={"loadBalancer": {"ingress": [{"ip": "169.1.1.1"}]}})


@pytest.mark.conformance("IngressClass API")
def test_ingressclass_api(api: Api) -> None:
    ic = {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "e2e-ic"},
          "spec": {"controller": "example.com/e2e"}}
    crud(api, "networking.k8s.io/v1", "ingressclasses", ic, {"metadata": {"annotations": {"patched": "true"}}},
         namespace=None)


@pytest.mark.conformance("CSIStorageCapacity API")
def test_csistoragecapacity_api(api: Api, namespace: str) -> None:
    cap = {"apiVersion": "storage.k8s.io/v1", "kind": "CSIStorageCapacity", "metadata": {"name": "cap"},
           "storageClassName": "e2e", "capacity": "1Gi"}
    crud(api, "storage.k8s.io/v1", "csistoragecapacities", cap, {"capacity": "2Gi"}, namespace=namespace)


@pytest.mark.conformance("PodDisruptionBudget: create, update, patch, and delete object")
@pytest.mark.conformance("PodDisruptionBudget: list and delete collection")
@pytest.mark.conformance("PodDisruptionBudget: update and patch status")
def test_pdb_api(api: Api, namespace: str) -> None:
    pdb = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "pdb"},
           "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "x"}}}}
    crud(api, "policy/v1", "poddisruptionbudgets", pdb, {"spec": {"minAvailable": 2}}, namespace=namespace,
         status={"disruptionsAllowed": 1, "currentHealthy": 2, "desiredHealthy": 1, "expectedPods": 2,
                 "observedGeneration": 1})


@pytest.mark.conformance("LimitRange, list, patch and delete a LimitRange by collection")
def test_limitrange_api(api: Api, namespace: str) -> None:
    lr = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr"},
          "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "100m"}}]}}
    crud(api, "v1", "limitranges", lr, {"spec": {"limits": [{"type": "Container", "default": {"cpu": "1"}}]}},
         namespace=namespace)


@pytest.mark.conformance("ResourceQuota, update and delete")
@pytest.mark.conformance("ResourceQuota, apply changes to a ResourceQuota status")
def test_resourcequota_api(api: Api, namespace: str) -> None:
    q = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
         "spec": {"hard": {"cpu": "1", "memory": "500Mi"}}}
    crud(api, "v1", "resourcequotas", q, {"spec": {"hard": {"cpu": "2", "memory": "1Gi"}}}, namespace=namespace,
         status={"hard": {"cpu": "2", "memory": "1Gi"}})


@pytest.mark.conformance("ServiceAccount lifecycle test")
@pytest.mark.conformance("ServiceAccount, update a ServiceAccount")
def test_serviceaccount_api(api: Api, namespace: str) -> None:
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa"}}
    crud(api, "v1", "serviceaccounts", sa, {"automountServiceAccountToken": False}, namespace=namespace)


@pytest.mark.conformance("Service, complete ServiceStatus lifecycle")
def test_service_status_lifecycle(api: Api, namespace: str) -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"},
           "spec": {"ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": "x"}}}
    crud(api, "v1", "services", svc, {"spec": {"ports": [{"port": 81, "targetPort": 8081}]}}, namespace=namespace,
         status={"loadBalancer": {"ingress": [{"ip": "203.0.113.1"}]}})


@pytest.mark.conformance("Endpoint resource lifecycle")
def test_endpoints_api(api: Api, namespace: str) -> None:
    ep = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "ep"},
          "subsets": [{"addresses": [{"ip": "10.0.0.24"}], "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}]}
    crud(api, "v1", "endpoints", ep, {"subsets": [{"addresses": [{"ip": "10.0.0.25"}],
                                                   "ports": [{"name": "http-test", "port": 8080, "protocol": "TCP"}]}]},
         namespace=namespace)


@pytest.mark.conformance("StorageClass, lifecycle")
def test_storageclass_api(api: Api) -> None:
    sc = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "e2e-sc"},
          "provisioner": "e2e-fake-provisioner"}
    crud(api, "storage.k8s.io/v1", "storageclasses", sc, {"metadata": {"labels": {"e2e-api": "storageclasses",
                                                                                   "patched": "yes"}}},
         namespace=None)


@pytest.mark.conformance("Replication Controller, get and update ReplicationController scale")
def test_rc_scale(api: Api, namespace: str) -> None:
    rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc"},
          "spec": {"replicas": 1, "selector": {"app": "rc"},
                   "template": {"metadata": {"labels": {"app": "rc"}},
                                "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    base = f"/api/v1/namespaces/{namespace}/replicationcontrollers"
    api("POST", base, rc, expect=201)
    scale = api("GET", f"{base}/rc/scale", expect=200)
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 1
    # The replication controller writes status meanwhile: retry a stale read.
    for _ in range(10):
        scale = api("GET", f"{base}/rc/scale", expect=200)
        scale["spec"]["replicas"] = 2
        got = api("PUT", f"{base}/rc/scale", scale)
        if got.get("code") != 409:
            break
    assert got["kind"] == "Scale" and got["spec"]["replicas"] == 2
    assert api("GET", f"{base}/rc", expect=200)["spec"]["replicas"] == 2


@pytest.mark.conformance("Scheduler, Verify PriorityClass endpoints")
def test_priorityclass_endpoints(api: Api) -> None:
    base = "/apis/scheduling.k8s.io/v1/priorityclasses"
    for i in range(2):
        api("POST", base, {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                           "metadata": {"name": f"e2e-pc-{i}"}, "value": 100 + i}, expect=201)
    assert {"e2e-pc-0", "e2e-pc-1"} <= {i["metadata"]["name"] for i in api("GET", base)["items"]}
    api("PATCH", f"{base}/e2e-pc-0", {"description": "patched"}, headers=MERGE, expect=200)
    r = api("PATCH", f"{base}/e2e-pc-0", {"value": 999}, headers=MERGE)
    assert r["code"] == 422  # value is immutable
    cur = api("GET", f"{base}/e2e-pc-1")
    cur["description"] = "updated"
    api("PUT", f"{base}/e2e-pc-1", cur, expect=200)
    cur = api("GET", f"{base}/e2e-pc-1")
    cur["value"] = 5
    assert api("PUT", f"{base}/e2e-pc-1", cur)["code"] == 422
    for i in range(2):
        api("DELETE", f"{base}/e2e-pc-{i}", expect=200)
