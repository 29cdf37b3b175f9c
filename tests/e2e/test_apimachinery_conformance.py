"""API-only Kubernetes conformance behaviours, driven by the official Python client.

Each test follows the description of the conformance test it is tagged with
(../shared/reference/conformance.yaml); only behaviour an API server alone
provides is covered here (no controllers, no kubelet).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from tests.e2e.cluster import Server

pytestmark = pytest.mark.e2e


@pytest.fixture
def api(server: Server) -> Iterator[client.ApiClient]:
    c = config.new_client_from_config(str(server.kubeconfig))
    yield c
    c.close()


def _raw(server: Server, path: str, accept: str) -> tuple[int, str, Any]:
    token = (server.data_dir / "tls" / "admin.token").read_text().strip()
    r = requests.get(server.url + path, headers={"Accept": accept, "Authorization": f"Bearer {token}"},
                     verify=str(server.data_dir / "tls" / "ca.crt"), timeout=10)
    return r.status_code, r.headers.get("Content-Type", ""), r.json()


@pytest.mark.conformance("ConfigMap lifecycle")
def test_configmap_lifecycle(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "lc", "labels": {"test-configmap-static": "true"}},
                                                  "data": {"valueName": "value"}})
    core.patch_namespaced_config_map("lc", namespace, {"metadata": {"labels": {"test-configmap": "patched"}},
                                                       "data": {"valueName": "value1"}})
    got = core.read_namespaced_config_map("lc", namespace)
    assert got.data == {"valueName": "value1"} and got.metadata.labels["test-configmap"] == "patched"
    found = core.list_config_map_for_all_namespaces(label_selector="test-configmap-static=true")
    assert [(i.metadata.name, i.data["valueName"]) for i in found.items if i.metadata.namespace == namespace] == [
        ("lc", "value1")]
    core.delete_collection_namespaced_config_map(namespace, label_selector="test-configmap-static=true")
    assert core.list_namespaced_config_map(namespace, label_selector="test-configmap-static=true").items == []


@pytest.mark.conformance("ConfigMap, with empty-key")
@pytest.mark.conformance("Secrets, with empty-key")
def test_empty_keys_are_refused(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "e"}, "data": {"": "value"}})
    assert exc.value.status == 422
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_secret(namespace, {"metadata": {"name": "e"}, "data": {"": "dmFsdWU="}})
    assert exc.value.status == 422


@pytest.mark.conformance("Secret patching")
def test_secret_patching(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_secret(namespace, {"metadata": {"name": "ps", "labels": {"testsecret-constant": "true"}},
                                              "data": {"key": "dmFsdWU="}, "type": "Opaque"})
    listed = core.list_secret_for_all_namespaces(label_selector="testsecret-constant=true")
    assert [i.metadata.name for i in listed.items if i.metadata.namespace == namespace] == ["ps"]
    core.patch_namespaced_secret("ps", namespace, {"metadata": {"labels": {"testsecret": "true"}},
                                                   "data": {"key": "dmFsdWUy"}})
    got = core.read_namespaced_secret("ps", namespace)
    assert got.data == {"key": "dmFsdWUy"} and got.metadata.labels["testsecret"] == "true"
    core.delete_collection_namespaced_secret(namespace, label_selector="testsecret-constant=true")
    listed = core.list_secret_for_all_namespaces(label_selector="testsecret-constant=true")
    assert [i for i in listed.items if i.metadata.namespace == namespace] == []


@pytest.mark.conformance("Secrets Volume, immutability")
def test_secret_immutability(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_secret(namespace, {"metadata": {"name": "im"}, "data": {"k": "djE="}})
    core.patch_namespaced_secret("im", namespace, {"data": {"k": "djI="}})
    core.patch_namespaced_secret("im", namespace, {"immutable": True})
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_secret("im", namespace, {"data": {"k": "djM="}})
    assert exc.value.status == 422
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_secret("im", namespace, {"immutable": False})
    assert exc.value.status == 422
    core.patch_namespaced_secret("im", namespace, {"metadata": {"labels": {"ok": "yes"}}})
    core.delete_namespaced_secret("im", namespace)


@pytest.mark.conformance("PodTemplate lifecycle")
@pytest.mark.conformance("PodTemplate, replace")
def test_podtemplate_lifecycle_and_replace(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    tpl = {"metadata": {"name": "pt", "labels": {"podtemplate-static": "true"}},
           "template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
    core.create_namespaced_pod_template(namespace, tpl)
    core.patch_namespaced_pod_template("pt", namespace, {"metadata": {"labels": {"podtemplate": "patched"}}})
    got = core.read_namespaced_pod_template("pt", namespace)
    assert got.metadata.labels["podtemplate"] == "patched"
    found = core.list_pod_template_for_all_namespaces(label_selector="podtemplate-static=true")
    assert [i.metadata.name for i in found.items if i.metadata.namespace == namespace] == ["pt"]
    got.metadata.annotations = {"updated": "true"}
    replaced = core.replace_namespaced_pod_template("pt", namespace, got)
    assert replaced.metadata.annotations == {"updated": "true"}
    core.delete_namespaced_pod_template("pt", namespace)
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_pod_template("pt", namespace)
    assert exc.value.status == 404


@pytest.mark.conformance("PodTemplate, delete a collection")
def test_podtemplate_delete_collection(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    for i in range(3):
        core.create_namespaced_pod_template(namespace, {
            "metadata": {"name": f"pt{i}", "labels": {"podtemplate-set": "true"}},
            "template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}})
    assert len(core.list_namespaced_pod_template(namespace, label_selector="podtemplate-set=true").items) == 3
    core.delete_collection_namespaced_pod_template(namespace, label_selector="podtemplate-set=true")
    assert core.list_namespaced_pod_template(namespace, label_selector="podtemplate-set=true").items == []


@pytest.mark.conformance("Namespace patching")
@pytest.mark.conformance("Namespace, apply update to a namespace")
@pytest.mark.conformance("Namespace, apply changes to a namespace status")
@pytest.mark.conformance("Namespace, apply finalizer to a namespace")
def test_namespace_patch_update_status_finalizer(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    core.patch_namespace(namespace, {"metadata": {"labels": {"testLabel": "testValue"}}})
    assert core.read_namespace(namespace).metadata.labels["testLabel"] == "testValue"
    ns = core.read_namespace(namespace)
    ns.metadata.labels["e2e"] = "updated"
    assert core.replace_namespace(namespace, ns).metadata.labels["e2e"] == "updated"
    st = core.read_namespace_status(namespace)
    assert st.status.phase == "Active"
    cond = {"type": "StatusPatch", "status": "True", "reason": "E2E", "message": "patched"}
    patched = core.patch_namespace_status(namespace, {"status": {"conditions": [cond]}})
    assert [(c.type, c.message) for c in patched.status.conditions] == [("StatusPatch", "patched")]
    cur = core.read_namespace_status(namespace)
    cur.status.conditions.append(client.V1NamespaceCondition(type="StatusUpdate", status="True", reason="E2E",
                                                             message="updated"))
    updated = core.replace_namespace_status(namespace, cur)
    assert {c.type for c in updated.status.conditions} == {"StatusPatch", "StatusUpdate"}
    cur = core.read_namespace(namespace)
    cur.spec.finalizers = list(cur.spec.finalizers or []) + ["e2e.example.com/fakeFinalizer"]
    fin = core.replace_namespace_finalize(namespace, cur)
    assert "e2e.example.com/fakeFinalizer" in fin.spec.finalizers
    cur = core.read_namespace(namespace)
    cur.spec.finalizers = [f for f in cur.spec.finalizers if f != "e2e.example.com/fakeFinalizer"]
    fin = core.replace_namespace_finalize(namespace, cur)
    assert "e2e.example.com/fakeFinalizer" not in (fin.spec.finalizers or [])


@pytest.mark.conformance("Event, manage lifecycle of an Event")
@pytest.mark.conformance("Event, delete a collection")
def test_core_event_lifecycle(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    ev = {"metadata": {"name": "ev1", "labels": {"testevent-set": "true"}},
          "involvedObject": {"kind": "Pod", "name": "p", "namespace": namespace},
          "reason": "Testing", "message": "original", "type": "Normal", "count": 1,
          "source": {"component": "e2e"}, "firstTimestamp": "2024-01-01T00:00:00Z",
          "lastTimestamp": "2024-01-01T00:00:00Z"}
    core.create_namespaced_event(namespace, ev)
    listed = core.list_event_for_all_namespaces(label_selector="testevent-set=true")
    assert [i.metadata.name for i in listed.items if i.metadata.namespace == namespace] == ["ev1"]
    core.patch_namespaced_event("ev1", namespace, {"message": "patched"})
    assert core.read_namespaced_event("ev1", namespace).message == "patched"
    cur = core.read_namespaced_event("ev1", namespace)
    cur.series = client.CoreV1EventSeries(count=2, last_observed_time="2024-01-01T00:00:01.000000Z")
    assert core.replace_namespaced_event("ev1", namespace, cur).series.count == 2
    core.delete_namespaced_event("ev1", namespace)
    assert core.list_namespaced_event(namespace, label_selector="testevent-set=true").items == []
    for i in range(3):
        core.create_namespaced_event(namespace, {**ev, "metadata": {"name": f"evc{i}",
                                                                   "labels": {"testevent-set": "true"}}})
    assert len(core.list_namespaced_event(namespace, label_selector="testevent-set=true").items) == 3
    core.delete_collection_namespaced_event(namespace, label_selector="testevent-set=true")
    assert core.list_namespaced_event(namespace, label_selector="testevent-set=true").items == []


@pytest.mark.conformance("watch-configmaps-with-multiple-watchers")
def test_multiple_watchers(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    seen: dict[str, list[tuple[str, str]]] = {"A": [], "B": [], "AB": []}
    selectors = {"A": "watch-this-configmap=multiple-watchers-A", "B": "watch-this-configmap=multiple-watchers-B",
                 "AB": "watch-this-configmap in (multiple-watchers-A,multiple-watchers-B)"}

    def run(name: str) -> None:
        w = watch.Watch()
        for ev in w.stream(core.list_namespaced_config_map, namespace, label_selector=selectors[name],
                           resource_version=rv, timeout_seconds=5):
            seen[name].append((ev["type"], ev["object"].metadata.name))

    threads = [threading.Thread(target=run, args=(n,)) for n in seen]
    for t in threads:
        t.start()
    for who in ("A", "B"):
        name = f"cm-{who.lower()}"
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "labels": {
            "watch-this-configmap": f"multiple-watchers-{who}"}}})
        core.patch_namespaced_config_map(name, namespace, {"data": {"mutation": "1"}})
        core.delete_namespaced_config_map(name, namespace)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "other", "labels": {"x": "y"}}})
    for t in threads:
        t.join(15)
    assert seen["A"] == [("ADDED", "cm-a"), ("MODIFIED", "cm-a"), ("DELETED", "cm-a")]
    assert seen["B"] == [("ADDED", "cm-b"), ("MODIFIED", "cm-b"), ("DELETED", "cm-b")]
    assert seen["AB"] == seen["A"] + seen["B"]


@pytest.mark.conformance("watch-configmaps-closed-and-restarted")
def test_watch_reopened_from_last_resource_version(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    sel = "watch-this-configmap=watch-closed-and-restarted"
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "wr", "labels": {
        "watch-this-configmap": "watch-closed-and-restarted"}}})
    core.patch_namespaced_config_map("wr", namespace, {"data": {"mutation": "1"}})
    first: list[Any] = []
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_config_map, namespace, label_selector=sel, resource_version=rv,
                       timeout_seconds=5):
        first.append(ev)
        if len(first) == 2:
            w.stop()
    last_rv = first[-1]["object"].metadata.resource_version
    core.patch_namespaced_config_map("wr", namespace, {"data": {"mutation": "2"}})
    core.delete_namespaced_config_map("wr", namespace)
    second = []
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_config_map, namespace, label_selector=sel, resource_version=last_rv,
                       timeout_seconds=5):
        second.append((ev["type"], (ev["object"].data or {}).get("mutation")))
        if len(second) == 2:
            w.stop()
    assert [e["type"] for e in first] == ["ADDED", "MODIFIED"]
    assert second == [("MODIFIED", "2"), ("DELETED", "2")]


@pytest.mark.conformance("Discovery, confirm the groupVersion and a resource from each apiGroup")
@pytest.mark.conformance("Discovery, confirm the PreferredVersion for each api group")
def test_discovery_documents(api: client.ApiClient, server: Server) -> None:
    groups = client.ApisApi(api).get_api_versions().groups
    assert groups
    for g in groups:
        assert g.preferred_version and g.preferred_version.group_version in {v.group_version for v in g.versions}
        for v in g.versions:
            _, _, doc = _raw(server, f"/apis/{v.group_version}", "application/json")
            assert doc["groupVersion"] == v.group_version
            assert any("/" not in r["name"] and r["kind"] and r["verbs"] for r in doc["resources"])
    _, _, core = _raw(server, "/api/v1", "application/json")
    assert core["groupVersion"] == "v1" and any(r["name"] == "pods" for r in core["resources"])


@pytest.mark.conformance("Aggregated Discovery Interface")
@pytest.mark.conformance("Aggregated Discovery Endpoint Accept Headers")
def test_aggregated_discovery(server: Server) -> None:
    builtin = {("", "v1", "pods"), ("", "v1", "namespaces"), ("apps", "v1", "deployments"),
               ("batch", "v1", "cronjobs"), ("rbac.authorization.k8s.io", "v1", "clusterroles"),
               ("coordination.k8s.io", "v1", "leases"), ("discovery.k8s.io", "v1", "endpointslices"),
               ("autoscaling", "v2", "horizontalpodautoscalers"), ("policy", "v1", "poddisruptionbudgets")}
    for version in ("v2", "v2beta1"):
        accept = f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList,application/json"
        found = set()
        for path in ("/api", "/apis"):
            status, ctype, doc = _raw(server, path, accept)
            assert status == 200 and f"v={version}" in ctype and "as=APIGroupDiscoveryList" in ctype
            assert doc["kind"] == "APIGroupDiscoveryList"
            for item in doc["items"]:
                for v in item["versions"]:
                    for r in v["resources"]:
                        found.add((item["metadata"].get("name", ""), v["version"], r["resource"]))
        assert builtin <= found
    # Without the aggregated Accept header the unaggregated documents are served.
    status, ctype, doc = _raw(server, "/apis", "application/json")
    assert doc["kind"] == "APIGroupList"


@pytest.mark.conformance("Server side field validation, typed unknown metadata")
def test_typed_unknown_metadata_is_rejected(server: Server, namespace: str) -> None:
    token = (server.data_dir / "tls" / "admin.token").read_text().strip()
    r = requests.post(f"{server.url}/apis/apps/v1/namespaces/{namespace}/deployments?fieldValidation=Strict",
                      verify=str(server.data_dir / "tls" / "ca.crt"), timeout=10,
                      headers={"Authorization": f"Bearer {token}"},
                      json={"apiVersion": "apps/v1", "kind": "Deployment",
                            "metadata": {"name": "d", "unknownMeta": "x"},
                            "spec": {"selector": {"matchLabels": {"a": "b"}},
                                     "template": {"metadata": {"labels": {"a": "b"}, "unknownSubMeta": "y"},
                                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
    assert r.status_code == 400
    msg = r.json()["message"]
    assert 'unknown field "metadata.unknownMeta"' in msg
    assert 'unknown field "spec.template.metadata.unknownSubMeta"' in msg
