"""Core (v1), storage and node conformance behaviours that an API server alone provides.

Each test follows the description of the conformance test it is tagged with
(../shared/reference/conformance.yaml). Pods here are never scheduled nor run:
only what the API does with them is checked.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.e2e.cluster import Server
from tests.e2e.test_conformance_apimachinery import MERGE, Raw, raw, resource_api_operations, watch_lines

pytestmark = pytest.mark.e2e
__all__ = ["raw"]  # the fixture, shared with the apimachinery module

POD_SPEC = {"containers": [{"name": "c", "image": "busybox"}]}


def wait_for(cond: Any, what: str, *, timeout: float = 30.0) -> Any:
    """Poll ``cond`` until it returns something truthy (no assertion on how long it took)."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


# --- Node ---------------------------------------------------------------------

@pytest.mark.conformance("Node, resource lifecycle")
def test_node_lifecycle(raw: Raw) -> None:
    name = "e2e-fake-node"
    raw.ok("POST", "/api/v1/nodes", {"metadata": {"name": name}}, expect=201)
    try:
        assert raw.ok("GET", f"/api/v1/nodes/{name}")["metadata"]["name"] == name
        patched = raw.ok("PATCH", f"/api/v1/nodes/{name}", {"metadata": {"labels": {name: "patched"}}},
                         headers=MERGE)
        assert patched["metadata"]["labels"][name] == "patched"
        found = raw.ok("GET", f"/api/v1/nodes?labelSelector={name}%3Dpatched")["items"]
        assert [n["metadata"]["name"] for n in found] == [name]
        cur = raw.ok("GET", f"/api/v1/nodes/{name}")
        cur["metadata"]["labels"][name] = "updated"
        assert raw.ok("PUT", f"/api/v1/nodes/{name}", cur)["metadata"]["labels"][name] == "updated"
        assert raw.ok("GET", f"/api/v1/nodes/{name}")["metadata"]["labels"][name] == "updated"
        raw.ok("DELETE", f"/api/v1/nodes/{name}")
        assert raw("GET", f"/api/v1/nodes/{name}").status_code == 404
    finally:
        raw("DELETE", f"/api/v1/nodes/{name}")


# --- PersistentVolumes and claims ---------------------------------------------

def _pv(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name, "labels": {"e2e-pv": "true", **labels}},
            "spec": {"capacity": {"storage": "3M"}, "accessModes": ["ReadWriteOnce"],
                     "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "e2e-manual",
                     "hostPath": {"path": "/tmp/e2e-pv"}}}


def _pvc(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "labels": {"e2e-pvc": "true", **labels}},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "e2e-manual",
                     "resources": {"requests": {"storage": "1M"}}}}


@pytest.mark.conformance("PersistentVolumes(Claims), lifecycle")
def test_pv_pvc_lifecycle(raw: Raw, namespace: str) -> None:
    pvs, pvcs = "/api/v1/persistentvolumes", f"/api/v1/namespaces/{namespace}/persistentvolumeclaims"
    pv_name = f"e2e-pv-{namespace}"[:63]
    try:
        made_pv = raw.ok("POST", pvs, _pv(pv_name, ns=namespace), expect=201)
        made_pvc = raw.ok("POST", pvcs, _pvc("claim"), expect=201)
        assert [p["metadata"]["name"] for p in raw.ok("GET", f"{pvs}?labelSelector=ns%3D{namespace}")["items"]] == [
            pv_name]
        assert [p["metadata"]["name"] for p in raw.ok("GET", pvcs)["items"]] == ["claim"]
        p = raw.ok("PATCH", f"{pvs}/{pv_name}", {"metadata": {"labels": {"e2e-pv-patched": "true"}}}, headers=MERGE)
        assert p["metadata"]["labels"]["e2e-pv-patched"] == "true"
        p = raw.ok("PATCH", f"{pvcs}/claim", {"metadata": {"labels": {"e2e-pvc-patched": "true"}}}, headers=MERGE)
        assert p["metadata"]["labels"]["e2e-pvc-patched"] == "true"
        assert raw.ok("GET", f"{pvs}/{pv_name}")["metadata"]["uid"] == made_pv["metadata"]["uid"]
        assert raw.ok("GET", f"{pvcs}/claim")["metadata"]["uid"] == made_pvc["metadata"]["uid"]
        raw.ok("DELETE", f"{pvcs}/claim")
        wait_for(lambda: raw("GET", f"{pvcs}/claim").status_code == 404, "the claim to go")
        raw.ok("DELETE", f"{pvs}/{pv_name}")
        wait_for(lambda: raw("GET", f"{pvs}/{pv_name}").status_code == 404, "the volume to go")

        raw.ok("POST", pvs, _pv(pv_name, ns=namespace), expect=201)
        raw.ok("POST", pvcs, _pvc("claim"), expect=201)
        # The PV binder binds the pair meanwhile: read-modify-write retries on conflicts, as upstream's test does.
        for path, label in ((f"{pvs}/{pv_name}", "e2e-pv-updated"), (f"{pvcs}/claim", "e2e-pvc-updated")):
            for _ in range(10):
                cur = raw.ok("GET", path)
                cur["metadata"]["labels"][label] = "true"
                r = raw("PUT", path, cur)
                if r.status_code != 409:
                    break
            assert r.status_code == 200 and r.json()["metadata"]["labels"][label] == "true"
        raw.ok("DELETE", f"{pvcs}?labelSelector=e2e-pvc%3Dtrue")
        wait_for(lambda: raw.ok("GET", pvcs)["items"] == [], "the claims to go")
        raw.ok("DELETE", f"{pvs}?labelSelector=ns%3D{namespace}")
        wait_for(lambda: raw.ok("GET", f"{pvs}?labelSelector=ns%3D{namespace}")["items"] == [], "the volumes to go")
    finally:
        raw("DELETE", f"{pvs}/{pv_name}")


@pytest.mark.conformance("PersistentVolumes(Claims), apply changes to a pv/pvc status")
def test_pv_pvc_status(raw: Raw, namespace: str) -> None:
    pvs, pvcs = "/api/v1/persistentvolumes", f"/api/v1/namespaces/{namespace}/persistentvolumeclaims"
    pv_name = f"e2e-pvs-{namespace}"[:63]
    try:
        raw.ok("POST", pvs, _pv(pv_name, ns=namespace), expect=201)
        raw.ok("POST", pvcs, _pvc("claim"), expect=201)
        assert len(raw.ok("GET", f"{pvs}?labelSelector=ns%3D{namespace}")["items"]) == 1
        assert len(raw.ok("GET", pvcs)["items"]) == 1
        phases = {"Pending", "Available", "Bound", "Released", "Failed", "Lost"}
        assert raw.ok("GET", f"{pvcs}/claim/status")["status"]["phase"] in phases
        assert raw.ok("GET", f"{pvs}/{pv_name}/status")["status"]["phase"] in phases

        cond = {"type": "StatusPatched", "status": "True", "reason": "E2E", "message": "patched by e2e"}
        p = raw.ok("PATCH", f"{pvcs}/claim/status", {"status": {"conditions": [cond]}}, headers=MERGE)
        assert [c["type"] for c in p["status"]["conditions"]] == ["StatusPatched"]
        p = raw.ok("PATCH", f"{pvs}/{pv_name}/status", {"status": {"reason": "E2EPatched", "message": "patched"}},
                   headers=MERGE)
        assert (p["status"]["reason"], p["status"]["message"]) == ("E2EPatched", "patched")

        cur = raw.ok("GET", f"{pvcs}/claim/status")
        cur["status"]["conditions"].append({"type": "StatusUpdated", "status": "True", "reason": "E2E",
                                            "message": "updated by e2e"})
        u = raw.ok("PUT", f"{pvcs}/claim/status", cur)
        assert [c["type"] for c in u["status"]["conditions"]] == ["StatusPatched", "StatusUpdated"]
        cur = raw.ok("GET", f"{pvs}/{pv_name}/status")
        cur["status"].update(reason="E2EUpdated", message="updated")
        u = raw.ok("PUT", f"{pvs}/{pv_name}/status", cur)
        assert (u["status"]["reason"], u["status"]["message"]) == ("E2EUpdated", "updated")
        assert raw.ok("GET", f"{pvs}/{pv_name}")["status"]["reason"] == "E2EUpdated"
    finally:
        raw("DELETE", f"{pvcs}/claim")
        raw("DELETE", f"{pvs}/{pv_name}")


# --- Pods (never scheduled) ----------------------------------------------------

@pytest.mark.conformance("Pods, delete a collection")
def test_pods_delete_collection(raw: Raw, namespace: str) -> None:
    pods = f"/api/v1/namespaces/{namespace}/pods"
    for i in range(3):
        raw.ok("POST", pods, {"metadata": {"name": f"pod{i}", "labels": {"type": "Testing"}}, "spec": POD_SPEC},
               expect=201)
    assert len(raw.ok("GET", f"{pods}?labelSelector=type%3DTesting")["items"]) == 3
    raw.ok("DELETE", f"{pods}?labelSelector=type%3DTesting")
    # Pods that never reached a node need no kubelet to confirm their end.
    wait_for(lambda: raw.ok("GET", f"{pods}?labelSelector=type%3DTesting")["items"] == [], "the pods to go")


@pytest.mark.conformance("Pods, completes the lifecycle of a Pod and the PodStatus")
def test_pod_and_podstatus_lifecycle(raw: Raw, namespace: str) -> None:
    pods = f"/api/v1/namespaces/{namespace}/pods"
    rv = raw.ok("GET", pods)["metadata"]["resourceVersion"]
    events: list[str] = []
    done = threading.Event()

    def watch() -> None:
        for ev in watch_lines(raw, f"{pods}?watch=1&labelSelector=test-pod-static%3Dtrue&resourceVersion={rv}"
                                   "&timeoutSeconds=15", done):
            events.append(ev["type"])
            if ev["type"] == "DELETED":
                return

    t = threading.Thread(target=watch)
    t.start()
    raw.ok("POST", pods, {"metadata": {"name": "pod-test", "labels": {"test-pod-static": "true"}},
                          "spec": POD_SPEC}, expect=201)
    found = raw.ok("GET", "/api/v1/pods?labelSelector=test-pod-static%3Dtrue")["items"]
    assert [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in found
            if p["metadata"]["namespace"] == namespace] == [(namespace, "pod-test")]
    patched = raw.ok("PATCH", f"{pods}/pod-test",
                     {"metadata": {"labels": {"test-pod": "patched"}},
                      "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}},
                     headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert patched["metadata"]["labels"]["test-pod"] == "patched"
    assert patched["spec"]["containers"][0]["image"] == "busybox:1.36"
    status = raw.ok("GET", f"{pods}/pod-test/status")
    status["status"].setdefault("conditions", []).append(
        {"type": "PodReady", "status": "True", "reason": "E2E", "message": "replaced by e2e"})
    replaced = raw.ok("PUT", f"{pods}/pod-test/status", status)
    assert ("PodReady", "True") in [(c["type"], c["status"]) for c in replaced["status"]["conditions"]]
    assert replaced["spec"]["containers"][0]["image"] == "busybox:1.36"
    raw.ok("DELETE", f"{pods}/pod-test", {"gracePeriodSeconds": 0})
    wait_for(lambda: raw("GET", f"{pods}/pod-test").status_code == 404, "the pod to go")
    t.join(20)
    done.set()
    assert events[0] == "ADDED" and "MODIFIED" in events and events[-1] == "DELETED"


@pytest.mark.conformance("namespace-deletion-removes-pods")
def test_namespace_deletion_removes_pods(raw: Raw) -> None:
    ns = f"nsdel-pods-{int(time.time() * 1000) % 100000}"
    raw.ok("POST", "/api/v1/namespaces", {"metadata": {"name": ns}}, expect=201)
    raw.ok("POST", f"/api/v1/namespaces/{ns}/pods", {"metadata": {"name": "doomed"}, "spec": POD_SPEC}, expect=201)
    raw.ok("DELETE", f"/api/v1/namespaces/{ns}")
    wait_for(lambda: raw("GET", f"/api/v1/namespaces/{ns}").status_code == 404, "the namespace to go", timeout=60)
    raw.ok("POST", "/api/v1/namespaces", {"metadata": {"name": ns}}, expect=201)
    try:
        assert raw.ok("GET", f"/api/v1/namespaces/{ns}/pods")["items"] == []
    finally:
        raw("DELETE", f"/api/v1/namespaces/{ns}")


# --- ConfigMap, ResourceQuota, Services ---------------------------------------

@pytest.mark.conformance("ConfigMap Volume, immutability")
def test_configmap_immutability(raw: Raw, namespace: str) -> None:
    coll = f"/api/v1/namespaces/{namespace}/configmaps"
    raw.ok("POST", coll, {"metadata": {"name": "imm"}, "data": {"data-1": "value-1"}}, expect=201)
    assert raw.ok("PATCH", f"{coll}/imm", {"data": {"data-1": "value-2"}}, headers=MERGE)["data"] == {
        "data-1": "value-2"}
    assert raw.ok("PATCH", f"{coll}/imm", {"immutable": True}, headers=MERGE)["immutable"] is True
    r = raw("PATCH", f"{coll}/imm", {"data": {"data-1": "value-3"}}, headers=MERGE)
    assert r.status_code == 422, r.text
    r = raw("PATCH", f"{coll}/imm", {"immutable": False}, headers=MERGE)
    assert r.status_code == 422, r.text
    got = raw.ok("PATCH", f"{coll}/imm", {"metadata": {"labels": {"label1": "value1"}}}, headers=MERGE)
    assert got["metadata"]["labels"] == {"label1": "value1"} and got["data"] == {"data-1": "value-2"}
    raw.ok("DELETE", f"{coll}/imm")
    assert raw("GET", f"{coll}/imm").status_code == 404


@pytest.mark.conformance("ResourceQuota, manage lifecycle of a ResourceQuota")
def test_resourcequota_lifecycle(raw: Raw, namespace: str) -> None:
    coll = f"/api/v1/namespaces/{namespace}/resourcequotas"
    raw.ok("POST", coll, {"metadata": {"name": "e2e-quota", "labels": {"e2e-rq-label": "e2e-quota"}},
                          "spec": {"hard": {"cpu": "1", "memory": "500Mi"}}}, expect=201)
    everywhere = raw.ok("GET", "/api/v1/resourcequotas?labelSelector=e2e-rq-label%3De2e-quota")["items"]
    assert [(q["metadata"]["namespace"], q["metadata"]["name"]) for q in everywhere
            if q["metadata"]["namespace"] == namespace] == [(namespace, "e2e-quota")]
    p = raw.ok("PATCH", f"{coll}/e2e-quota", {"metadata": {"labels": {"e2e-rq": "patched"}},
                                              "spec": {"hard": {"cpu": "2", "memory": "1Gi"}}}, headers=MERGE)
    assert p["metadata"]["labels"]["e2e-rq"] == "patched"
    assert p["spec"]["hard"] == {"cpu": "2", "memory": "1Gi"}
    got = raw.ok("GET", f"{coll}/e2e-quota")
    assert got["spec"]["hard"] == {"cpu": "2", "memory": "1Gi"}
    raw.ok("DELETE", f"{coll}?labelSelector=e2e-rq-label%3De2e-quota")
    assert raw.ok("GET", f"{coll}?labelSelector=e2e-rq-label%3De2e-quota")["items"] == []


@pytest.mark.conformance("Service, deletes a collection of services")
def test_service_delete_collection(raw: Raw, namespace: str) -> None:
    coll = f"/api/v1/namespaces/{namespace}/services"
    for i, labels in enumerate([{"e2e-test-service": "delete"}] * 2 + [{"e2e-test-service": "keep"}]):
        raw.ok("POST", coll, {"metadata": {"name": f"e2e-svc-{i}", "labels": labels},
                              "spec": {"type": "ClusterIP", "ports": [{"name": "http", "port": 80,
                                                                        "targetPort": 8080}]}}, expect=201)
    assert len(raw.ok("GET", coll)["items"]) == 3
    raw.ok("DELETE", f"{coll}?labelSelector=e2e-test-service%3Ddelete")
    assert [s["metadata"]["name"] for s in raw.ok("GET", coll)["items"]] == ["e2e-svc-2"]


@pytest.mark.conformance("Find Kubernetes Service in default Namespace")
@pytest.mark.conformance("Kubernetes Service")
def test_kubernetes_service_exists(raw: Raw) -> None:
    everywhere = raw.ok("GET", "/api/v1/services")["items"]
    assert ("default", "kubernetes") in [(s["metadata"]["namespace"], s["metadata"]["name"]) for s in everywhere]
    svc = raw.ok("GET", "/api/v1/namespaces/default/services/kubernetes")
    assert svc["spec"]["type"] == "ClusterIP" and svc["spec"]["clusterIP"]
    assert [(p["name"], p["port"], p["protocol"]) for p in svc["spec"]["ports"]] == [("https", 443, "TCP")]


@pytest.mark.conformance("EndpointSlice API")
def test_kubernetes_service_points_at_api_server(raw: Raw, server: Server) -> None:
    # The API server keeps Endpoints and an EndpointSlice for default/kubernetes
    # naming each API server; here, the one the tests talk to.
    groups = raw.ok("GET", "/apis")["groups"]
    assert "discovery.k8s.io/v1" in [v["groupVersion"] for g in groups for v in g["versions"]]
    assert "endpointslices" in [r["name"] for r in raw.ok("GET", "/apis/discovery.k8s.io/v1")["resources"]]
    port = int(server.url.rsplit(":", 1)[1])
    ep = raw.ok("GET", "/api/v1/namespaces/default/endpoints/kubernetes")
    assert [a["ip"] for s in ep["subsets"] for a in s["addresses"]]
    assert [p["port"] for s in ep["subsets"] for p in s["ports"]] == [port]
    slices = raw.ok("GET", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
                           "?labelSelector=kubernetes.io%2Fservice-name%3Dkubernetes")["items"]
    assert len(slices) == 1
    assert [p["port"] for p in slices[0]["ports"]] == [port]
    assert {a for e in slices[0]["endpoints"] for a in e["addresses"]} == {
        a["ip"] for s in ep["subsets"] for a in s["addresses"]}


@pytest.mark.conformance("EndpointSlice API")
def test_endpointslice_api_operations(raw: Raw, namespace: str) -> None:
    def make(name: str) -> dict[str, Any]:
        return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": {"name": name},
                "addressType": "IPv4", "endpoints": [{"addresses": ["1.2.3.4", "5.6.7.8"]}],
                "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
    resource_api_operations(raw, "discovery.k8s.io", "v1", "endpointslices", make, namespace=namespace)
    # All namespaces are listed too.
    raw.ok("POST", f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices",
           {**make("e2e-all"), "metadata": {"name": "e2e-all", "labels": {"e2e-all": namespace}}}, expect=201)
    everywhere = raw.ok("GET", f"/apis/discovery.k8s.io/v1/endpointslices?labelSelector=e2e-all%3D{namespace}")
    assert [s["metadata"]["name"] for s in everywhere["items"]] == ["e2e-all"]


@pytest.mark.conformance("Replication Controller, lifecycle")
def test_replication_controller_lifecycle(raw: Raw, namespace: str) -> None:
    coll = f"/api/v1/namespaces/{namespace}/replicationcontrollers"
    rv = raw.ok("GET", coll)["metadata"]["resourceVersion"]
    events: list[str] = []
    done = threading.Event()

    def watch() -> None:
        for ev in watch_lines(raw, f"{coll}?watch=1&labelSelector=test-rc-static%3Dtrue&resourceVersion={rv}"
                                   "&timeoutSeconds=15", done):
            events.append(ev["type"])
            if ev["type"] == "DELETED":
                return

    t = threading.Thread(target=watch)
    t.start()
    rc = {"metadata": {"name": "rc-test", "labels": {"test-rc-static": "true"}},
          "spec": {"replicas": 1, "selector": {"test-rc-static": "true"},
                   "template": {"metadata": {"labels": {"test-rc-static": "true"}}, "spec": POD_SPEC}}}
    raw.ok("POST", coll, rc, expect=201)
    got = raw.ok("GET", f"{coll}/rc-test")
    assert got["spec"]["replicas"] == 1 and got["spec"]["selector"] == {"test-rc-static": "true"}
    p = raw.ok("PATCH", f"{coll}/rc-test", {"metadata": {"labels": {"test-rc": "patched"}},
                                            "spec": {"replicas": 0}}, headers=MERGE)
    assert p["metadata"]["labels"]["test-rc"] == "patched" and p["spec"]["replicas"] == 0
    ps = raw.ok("PATCH", f"{coll}/rc-test/status", {"status": {"readyReplicas": 0, "availableReplicas": 0,
                                                               "replicas": 0}}, headers=MERGE)
    assert ps["status"]["replicas"] == 0
    # The replication controller writes status meanwhile: retry a stale read, as upstream's tests do.
    for _ in range(10):
        scale = raw.ok("GET", f"{coll}/rc-test/scale")
        scale["spec"]["replicas"] = 2
        r = raw("PUT", f"{coll}/rc-test/scale", scale)
        if r.status_code != 409:
            break
    assert r.status_code == 200 and r.json()["spec"]["replicas"] == 2
    assert raw.ok("GET", f"{coll}/rc-test")["spec"]["replicas"] == 2
    found = raw.ok("GET", "/api/v1/replicationcontrollers?labelSelector=test-rc-static%3Dtrue")["items"]
    assert [r["metadata"]["name"] for r in found if r["metadata"]["namespace"] == namespace] == ["rc-test"]
    raw.ok("DELETE", f"{coll}?labelSelector=test-rc-static%3Dtrue")
    wait_for(lambda: raw("GET", f"{coll}/rc-test").status_code == 404, "the rc to go")
    t.join(20)
    done.set()
    assert events[0] == "ADDED" and events.count("MODIFIED") >= 3 and events[-1] == "DELETED"


# --- storage.k8s.io -------------------------------------------------------------

@pytest.mark.conformance("CSIDriver, lifecycle")
def test_csidriver_lifecycle(raw: Raw, namespace: str) -> None:
    coll = "/apis/storage.k8s.io/v1/csidrivers"
    names = [f"{namespace}-{i}.e2e.example.com"[-63:].lstrip("-.") for i in range(2)]
    try:
        for n in names:
            raw.ok("POST", coll, {"metadata": {"name": n, "labels": {"e2e-csi": namespace}}, "spec": {}}, expect=201)
        p = raw.ok("PATCH", f"{coll}/{names[0]}", {"metadata": {"labels": {"patched": "true"}}}, headers=MERGE)
        assert p["metadata"]["labels"]["patched"] == "true"
        cur = raw.ok("GET", f"{coll}/{names[0]}")
        cur["metadata"]["labels"]["updated"] = "true"
        assert raw.ok("PUT", f"{coll}/{names[0]}", cur)["metadata"]["labels"]["updated"] == "true"
        listed = raw.ok("GET", f"{coll}?labelSelector=e2e-csi%3D{namespace}")["items"]
        assert sorted(d["metadata"]["name"] for d in listed) == sorted(names)
        raw.ok("DELETE", f"{coll}/{names[0]}")
        assert raw("GET", f"{coll}/{names[0]}").status_code == 404
        raw.ok("DELETE", f"{coll}?labelSelector=e2e-csi%3D{namespace}")
        assert raw.ok("GET", f"{coll}?labelSelector=e2e-csi%3D{namespace}")["items"] == []
    finally:
        for n in names:
            raw("DELETE", f"{coll}/{n}")


@pytest.mark.conformance("CSINode, lifecycle")
def test_csinode_lifecycle(raw: Raw, namespace: str) -> None:
    coll = "/apis/storage.k8s.io/v1/csinodes"
    name = f"e2e-csinode-{namespace}"[:63].rstrip("-")
    obj = {"metadata": {"name": name, "labels": {"e2e-csinode": namespace}},
           "spec": {"drivers": [{"name": "e2e.example.com", "nodeID": name, "topologyKeys": []}]}}
    try:
        raw.ok("POST", coll, obj, expect=201)
        assert raw.ok("GET", f"{coll}/{name}")["metadata"]["name"] == name
        p = raw.ok("PATCH", f"{coll}/{name}", {"metadata": {"labels": {"patched": "true"}}}, headers=MERGE)
        assert p["metadata"]["labels"]["patched"] == "true"
        assert [n["metadata"]["name"] for n in raw.ok("GET", f"{coll}?labelSelector=e2e-csinode%3D{namespace}")[
            "items"]] == [name]
        raw.ok("DELETE", f"{coll}/{name}")
        assert raw("GET", f"{coll}/{name}").status_code == 404
        raw.ok("POST", coll, obj, expect=201)
        assert raw.ok("GET", f"{coll}/{name}")["metadata"]["name"] == name
        cur = raw.ok("GET", f"{coll}/{name}")
        cur["metadata"]["labels"]["updated"] = "true"
        assert raw.ok("PUT", f"{coll}/{name}", cur)["metadata"]["labels"]["updated"] == "true"
        raw.ok("DELETE", f"{coll}?labelSelector=e2e-csinode%3D{namespace}")
        assert raw("GET", f"{coll}/{name}").status_code == 404
    finally:
        raw("DELETE", f"{coll}/{name}")


def _volume_attachment(name: str, label: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"e2e-va": label}},
            "spec": {"attacher": "e2e.example.com", "nodeName": "e2e-no-such-node",
                     "source": {"persistentVolumeName": f"pv-{name}"}}}


@pytest.mark.conformance("VolumeAttachment, lifecycle")
def test_volumeattachment_lifecycle(raw: Raw, namespace: str) -> None:
    coll = "/apis/storage.k8s.io/v1/volumeattachments"
    names = [f"va-{i}-{namespace}"[:63].rstrip("-") for i in range(3)]
    try:
        raw.ok("POST", coll, _volume_attachment(names[0], namespace), expect=201)
        assert raw.ok("GET", f"{coll}/{names[0]}")["metadata"]["name"] == names[0]
        p = raw.ok("PATCH", f"{coll}/{names[0]}", {"metadata": {"labels": {"patched": "true"}}}, headers=MERGE)
        assert p["metadata"]["labels"]["patched"] == "true"
        listed = raw.ok("GET", f"{coll}?labelSelector=e2e-va%3D{namespace}")["items"]
        assert [v["metadata"]["name"] for v in listed] == [names[0]]
        raw.ok("DELETE", f"{coll}/{names[0]}")
        assert raw("GET", f"{coll}/{names[0]}").status_code == 404
        for n in names[1:]:
            raw.ok("POST", coll, _volume_attachment(n, namespace), expect=201)
            cur = raw.ok("GET", f"{coll}/{n}")
            cur["metadata"]["labels"]["updated"] = "true"
            assert raw.ok("PUT", f"{coll}/{n}", cur)["metadata"]["labels"]["updated"] == "true"
        raw.ok("DELETE", f"{coll}?labelSelector=e2e-va%3D{namespace}")
        assert raw.ok("GET", f"{coll}?labelSelector=e2e-va%3D{namespace}")["items"] == []
    finally:
        for n in names:
            raw("DELETE", f"{coll}/{n}")


@pytest.mark.conformance("VolumeAttachment, apply changes to a volumeattachment status")
def test_volumeattachment_status(raw: Raw, namespace: str) -> None:
    coll = "/apis/storage.k8s.io/v1/volumeattachments"
    name = f"va-status-{namespace}"[:63].rstrip("-")
    try:
        raw.ok("POST", coll, _volume_attachment(name, namespace), expect=201)
        p = raw.ok("PATCH", f"{coll}/{name}", {"metadata": {"labels": {"patched": "true"}}}, headers=MERGE)
        assert p["metadata"]["labels"]["patched"] == "true"
        st = raw.ok("GET", f"{coll}/{name}/status")
        assert st.get("status", {}).get("attached", False) is False
        p = raw.ok("PATCH", f"{coll}/{name}/status", {"status": {"attached": True}}, headers=MERGE)
        assert p["status"]["attached"] is True
        cur = raw.ok("GET", f"{coll}/{name}/status")
        cur["status"]["attached"] = False
        assert raw.ok("PUT", f"{coll}/{name}/status", cur)["status"]["attached"] is False
        assert raw.ok("GET", f"{coll}/{name}")["status"]["attached"] is False
        raw.ok("DELETE", f"{coll}/{name}")
        assert raw("GET", f"{coll}/{name}").status_code == 404
    finally:
        raw("DELETE", f"{coll}/{name}")


# --- node.k8s.io ------------------------------------------------------------------

@pytest.mark.conformance("RuntimeClass API")
def test_runtimeclass_api(raw: Raw) -> None:
    def make(name: str) -> dict[str, Any]:
        return {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": name},
                "handler": "e2e-handler"}
    resource_api_operations(raw, "node.k8s.io", "v1", "runtimeclasses", make)
