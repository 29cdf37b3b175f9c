"""The API server over raw HTTP: auth, errors as Status, resourceVersion semantics, watch, health."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.e2e.cluster import Server

pytestmark = pytest.mark.e2e


class Http:
    def __init__(self, server: Server) -> None:
        self.base = server.url
        self.ca = str(server.data_dir / "tls" / "ca.crt")
        token = (server.data_dir / "tls" / "admin.token").read_text().strip()
        self.s = requests.Session()
        self.s.verify = self.ca
        self.s.headers["Authorization"] = f"Bearer {token}"

    def req(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.s.request(method, self.base + path, timeout=30, verify=self.ca, **kw)


@pytest.fixture
def http(server: Server) -> Iterator[Http]:
    h = Http(server)
    yield h
    h.s.close()


def cm(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


@pytest.mark.conformance("Confirm a server version")
def test_health_version_metrics(server: Server, http: Http) -> None:
    for path in ("/healthz", "/livez", "/readyz"):
        r = requests.get(server.url + path, verify=http.ca, timeout=10)  # anonymous is allowed here
        assert r.status_code == 200 and r.text == "ok"
    v = http.req("GET", "/version").json()
    assert v["major"] == "1" and v["minor"].isdigit() and v["gitVersion"].startswith(f"v1.{v['minor']}.")
    http.req("GET", "/api/v1/namespaces")
    metrics = http.req("GET", "/metrics").text
    assert 'apiserver_request_total{code="200",group="",resource="namespaces",subresource="",verb="list"}' in metrics
    assert "apiserver_request_duration_seconds_bucket" in metrics
    assert "kubeling_storage_operation_duration_seconds" in metrics
    assert "apiserver_registered_watchers" in metrics


def test_authentication(server: Server, http: Http) -> None:
    r = requests.get(server.url + "/api/v1/namespaces", verify=http.ca, timeout=10)
    assert r.status_code == 401 and r.json()["kind"] == "Status" and r.json()["reason"] == "Unauthorized"
    r = requests.get(server.url + "/api/v1/namespaces", verify=http.ca, timeout=10,
                     headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    assert http.req("GET", "/api/v1/namespaces").status_code == 200


@pytest.mark.conformance("Server side field validation, typed object")
def test_errors_are_status_objects(http: Http, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    r = http.req("POST", base, data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["reason"] == "BadRequest"
    r = http.req("POST", base, data=b"x" * (3 * 1024 * 1024 + 10), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    r = http.req("POST", base, data=b"<xml/>", headers={"Content-Type": "application/xml"})
    assert r.status_code == 415 and r.json()["reason"] == "UnsupportedMediaType"
    r = http.req("PUT", base, json=cm("x"))
    assert r.status_code == 405 and r.json()["reason"] == "MethodNotAllowed"
    r = http.req("GET", f"/api/v1/namespaces/{namespace}/nosuchthings")
    assert r.status_code == 404 and r.json()["kind"] == "Status"
    r = http.req("POST", base + "?fieldValidation=Strict", json={**cm("s"), "extra": 1, "data": {"a": "b"}})
    assert r.status_code == 400 and 'unknown field "extra"' in r.json()["message"]
    r = http.req("POST", base + "?fieldValidation=Warn", json={**cm("w"), "extra": 1})
    assert r.status_code == 201 and 'unknown field \\"extra\\"' in r.headers["Warning"]
    assert "extra" not in r.json()
    r = http.req("POST", base + "?fieldValidation=Ignore", json={**cm("i"), "extra": 1})
    assert r.status_code == 201 and "Warning" not in r.headers
    r = http.req("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments",
                 json={"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad"},
                       "spec": {"replicas": "three", "selector": {}, "template": {}}})
    assert r.status_code == 400 and "replicas" in r.json()["message"]
    # The server is still fine after all that.
    assert http.req("GET", base).status_code == 200


def test_dry_run_and_delete_collection(http: Http, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    r = http.req("POST", base + "?dryRun=All", json=cm("dry", a="1"))
    assert r.status_code == 201 and r.json()["metadata"]["name"] == "dry"
    assert http.req("GET", base + "/dry").status_code == 404
    for i in range(4):
        http.req("POST", base, json={**cm(f"c{i}"), "metadata": {"name": f"c{i}", "labels": {"g": str(i % 2)}}})
    r = http.req("DELETE", base + "?labelSelector=g%3D0")
    assert r.status_code == 200
    left = sorted(i["metadata"]["name"] for i in http.req("GET", base).json()["items"])
    assert "c0" not in left and "c2" not in left and {"c1", "c3"} <= set(left)


@pytest.mark.conformance("API Chunking, server should return chunks of results for list calls")
def test_list_paging_and_resource_versions(http: Http, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    for i in range(5):
        assert http.req("POST", base, json=cm(f"p{i}")).status_code == 201
    first = http.req("GET", base + "?limit=2").json()
    assert len(first["items"]) == 2 and first["metadata"]["continue"]
    assert first["metadata"]["remainingItemCount"] >= 3
    # A write between pages is not visible: the pages are one snapshot.
    http.req("POST", base, json=cm("p9"))
    names = [i["metadata"]["name"] for i in first["items"]]
    token = first["metadata"]["continue"]
    while token:
        page = http.req("GET", base + f"?limit=2&continue={token}").json()
        assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue", "")
    assert [n for n in names if n.startswith("p")] == [f"p{i}" for i in range(5)]
    r = http.req("GET", base + "?continue=garbage")
    assert r.status_code == 400
    rv = int(first["metadata"]["resourceVersion"])
    exact = http.req("GET", base + f"?resourceVersion={rv}&resourceVersionMatch=Exact").json()
    assert "p9" not in [i["metadata"]["name"] for i in exact["items"]]
    latest = http.req("GET", base + "?resourceVersion=0").json()
    assert int(latest["metadata"]["resourceVersion"]) > rv


def test_stale_update_conflicts_and_generation(http: Http, namespace: str) -> None:
    base = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "g"},
           "spec": {"selector": {"matchLabels": {"a": "b"}},
                    "template": {"metadata": {"labels": {"a": "b"}},
                                 "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    made = http.req("POST", base, json=dep).json()
    assert made["metadata"]["generation"] == 1
    made["metadata"]["labels"] = {"only": "metadata"}
    upd = http.req("PUT", base + "/g", json=made)
    assert upd.status_code == 200 and upd.json()["metadata"]["generation"] == 1
    r = http.req("PUT", base + "/g", json=made)  # made still carries the old resourceVersion
    assert r.status_code == 409 and r.json()["reason"] == "Conflict"
    # The deployment controller writes status meanwhile: read-modify-write until no conflict.
    for _ in range(10):
        cur = http.req("GET", base + "/g").json()
        cur["spec"]["replicas"] = 7
        cur["status"] = {"replicas": 99}
        r = http.req("PUT", base + "/g", json=cur)
        if r.status_code != 409:
            break
    upd2 = r.json()
    assert upd2["metadata"]["generation"] == 2 and "replicas" not in upd2.get("status", {})
    for _ in range(10):
        cur = http.req("GET", base + "/g").json()
        cur["status"] = {"replicas": 3, "observedGeneration": 2}
        r = http.req("PUT", base + "/g/status", json=cur)
        if r.status_code != 409:
            break
    st = r.json()
    assert st["status"]["replicas"] == 3 and st["metadata"]["generation"] == 2
    r = http.req("PATCH", base + "/g", data=json.dumps({"spec": {"selector": {"matchLabels": {"x": "y"}}}}),
                 headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 422 and any(c["field"].startswith("spec.selector") for c in r.json()["details"]["causes"])


@pytest.mark.conformance("watch-configmaps-from-resource-version")
def test_watch_from_resource_version_and_gone(http: Http, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    created = http.req("POST", base, json=cm("w", v="1")).json()
    rv1 = created["metadata"]["resourceVersion"]
    http.req("PATCH", base + "/w", data=json.dumps({"data": {"v": "2"}}),
             headers={"Content-Type": "application/merge-patch+json"})
    http.req("DELETE", base + "/w")
    r = http.req("GET", base + f"?watch=1&resourceVersion={rv1}&timeoutSeconds=2", stream=True)
    events = [json.loads(line) for line in r.iter_lines() if line]
    assert [e["type"] for e in events] == ["MODIFIED", "DELETED"]
    assert events[0]["object"]["data"] == {"v": "2"}


@pytest.mark.conformance("watch-configmaps-label-changed")
def test_watch_label_selector_transitions(http: Http, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = http.req("GET", base).json()["metadata"]["resourceVersion"]
    seen: list[tuple[str, str]] = []

    def watch() -> None:
        r = http.req("GET", base + f"?watch=1&resourceVersion={rv}&labelSelector=w%3Dyes&timeoutSeconds=4",
                     stream=True)
        for line in r.iter_lines():
            if line:
                ev = json.loads(line)
                seen.append((ev["type"], ev["object"]["metadata"]["name"]))

    t = threading.Thread(target=watch)
    t.start()
    obj = {**cm("lab"), "metadata": {"name": "lab", "labels": {"w": "yes"}}}
    http.req("POST", base, json=obj)
    patch = {"Content-Type": "application/merge-patch+json"}
    http.req("PATCH", base + "/lab", data=json.dumps({"data": {"a": "1"}}), headers=patch)
    http.req("PATCH", base + "/lab", data=json.dumps({"metadata": {"labels": {"w": "no"}}}), headers=patch)
    http.req("PATCH", base + "/lab", data=json.dumps({"data": {"a": "2"}}), headers=patch)
    http.req("PATCH", base + "/lab", data=json.dumps({"metadata": {"labels": {"w": "yes"}}}), headers=patch)
    http.req("DELETE", base + "/lab")
    t.join(10)
    assert seen == [("ADDED", "lab"), ("MODIFIED", "lab"), ("DELETED", "lab"), ("ADDED", "lab"), ("DELETED", "lab")]


def test_bookmarks(http: Http, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = http.req("GET", base).json()["metadata"]["resourceVersion"]
    r = http.req("GET", base + f"?watch=1&resourceVersion={rv}&allowWatchBookmarks=true&timeoutSeconds=7",
                 stream=True)
    types = [json.loads(line)["type"] for line in r.iter_lines() if line]
    assert "BOOKMARK" in types


def test_kill_keeps_acknowledged_writes(fresh_server: Server) -> None:
    h = Http(fresh_server)
    acked = []
    for i in range(30):
        r = h.req("POST", "/api/v1/namespaces/default/configmaps", json=cm(f"ack{i}"))
        assert r.status_code == 201
        acked.append((f"ack{i}", int(r.json()["metadata"]["resourceVersion"])))
    fresh_server.stop(signal.SIGKILL)
    fresh_server.start()
    h = Http(fresh_server)
    items = h.req("GET", "/api/v1/namespaces/default/configmaps").json()["items"]
    got = {i["metadata"]["name"]: int(i["metadata"]["resourceVersion"]) for i in items}
    for name, rv in acked:
        assert got.get(name) == rv
    r = h.req("POST", "/api/v1/namespaces/default/configmaps", json=cm("after"))
    assert int(r.json()["metadata"]["resourceVersion"]) > max(rv for _, rv in acked)
    # The restarted server's watch cache starts at the current revision: a watch
    # from before the restart is too old and gets 410 Gone, so the client re-lists.
    r = h.req("GET", f"/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={acked[0][1]}"
              "&timeoutSeconds=2", stream=True)
    events = [json.loads(line) for line in r.iter_lines() if line]
    assert events[0]["type"] == "ERROR" and events[0]["object"]["code"] == 410
    assert events[0]["object"]["reason"] == "Expired"
    assert fresh_server.stop(signal.SIGTERM) == 0  # clean shutdown on SIGTERM


@pytest.mark.conformance(
    "API Chunking, server should support continue listing from the last key even if the original version "
    "has been compacted away")
def test_continue_after_compaction(tmp_path: Any) -> None:
    import time

    srv = Server(tmp_path / "data", extra_args=("--compact-interval", "0.2", "--keep-revisions", "1"))
    srv.start()
    try:
        h = Http(srv)
        base = "/api/v1/namespaces/default/podtemplates"
        tpl = {"apiVersion": "v1", "kind": "PodTemplate",
               "template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}
        for i in range(6):
            assert h.req("POST", base, json={**tpl, "metadata": {"name": f"t{i}"}}).status_code == 201
        first = h.req("GET", base + "?limit=2").json()
        assert len(first["items"]) == 2 and first["metadata"]["remainingItemCount"] == 4
        for i in range(6, 10):  # move the store on, then let compaction pass the first page's revision
            h.req("POST", base, json={**tpl, "metadata": {"name": f"t{i}"}})
        time.sleep(1.0)
        r = h.req("GET", base + f"?limit=2&continue={first['metadata']['continue']}")
        assert r.status_code == 410 and r.json()["reason"] == "Expired"
        token = r.json()["metadata"]["continue"]
        rest = h.req("GET", base + f"?limit=100&continue={token}").json()
        names = [i["metadata"]["name"] for i in first["items"] + rest["items"]]
        assert names == [f"t{i}" for i in range(10)]  # the newer objects show up: an inconsistent list
    finally:
        srv.stop()
