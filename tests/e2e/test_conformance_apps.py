"""apps/v1 and batch/v1 conformance behaviours that an API server alone provides.

Each test follows the description of the conformance test it is tagged with
(../shared/reference/conformance.yaml): the ones that only create, list,
patch and delete workload objects or read and write their status
subresource. Whether pods appear for them is the controllers' business and is
not checked here. Status writes add conditions (as upstream's tests do), which
a controller writing status keeps.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.e2e.test_conformance_apimachinery import MERGE, Raw, raw, watch_lines

pytestmark = pytest.mark.e2e
__all__ = ["raw"]  # the fixture, shared with the apimachinery module

TEMPLATE = {"metadata": {"labels": {"app": "e2e"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def workload(kind: str, name: str, **labels: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": "e2e"}}, "template": TEMPLATE}
    if kind in ("ReplicaSet", "Deployment", "StatefulSet"):
        spec["replicas"] = 1
    if kind == "StatefulSet":
        spec["serviceName"] = "e2e"
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "labels": labels}, "spec": spec}


def retry_conflicts(fn: Any, attempts: int = 5) -> Any:
    """Read-modify-write, again if someone else (a controller) wrote in between."""
    for _ in range(attempts - 1):
        try:
            return fn()
        except AssertionError as e:
            if "409" not in str(e):
                raise
    return fn()


def check_status_subresource(raw: Raw, coll: str, name: str) -> None:
    """Read, update and patch status; every write is visible to the next read."""
    st = raw.ok("GET", f"{coll}/{name}/status")
    assert st["metadata"]["name"] == name

    def update() -> Any:
        cur = raw.ok("GET", f"{coll}/{name}/status")
        cur.setdefault("status", {}).setdefault("conditions", []).append(
            {"type": "StatusUpdate", "status": "True", "reason": "E2E", "message": "Set from e2e test"})
        return raw.ok("PUT", f"{coll}/{name}/status", cur)

    updated = retry_conflicts(update)
    assert "StatusUpdate" in [c["type"] for c in updated["status"]["conditions"]]
    got = raw.ok("GET", f"{coll}/{name}/status")
    assert "StatusUpdate" in [c["type"] for c in got["status"]["conditions"]]

    cur = raw.ok("GET", f"{coll}/{name}/status")
    conds = cur["status"]["conditions"] + [{"type": "StatusPatched", "status": "True", "reason": "E2E",
                                            "message": "Patched from e2e test"}]
    patched = raw.ok("PATCH", f"{coll}/{name}/status", {"status": {"conditions": conds}}, headers=MERGE)
    assert {"StatusUpdate", "StatusPatched"} <= {c["type"] for c in patched["status"]["conditions"]}
    got = raw.ok("GET", f"{coll}/{name}")
    assert {"StatusUpdate", "StatusPatched"} <= {c["type"] for c in got["status"]["conditions"]}
    # A status write never changes the spec.
    before = got["spec"]

    def ignored_spec_change() -> Any:
        cur = raw.ok("GET", f"{coll}/{name}/status")
        cur["spec"]["template"]["metadata"]["labels"] = {**cur["spec"]["template"]["metadata"]["labels"],
                                                         "ignored": "true"}
        return raw.ok("PUT", f"{coll}/{name}/status", cur)

    assert retry_conflicts(ignored_spec_change)["spec"] == before


@pytest.mark.conformance("DaemonSet, list and delete a collection of DaemonSets")
@pytest.mark.conformance("ReplicaSet, list and delete a collection of ReplicaSets")
@pytest.mark.parametrize("kind,plural", [("DaemonSet", "daemonsets"), ("ReplicaSet", "replicasets")])
def test_list_and_delete_collection(raw: Raw, namespace: str, kind: str, plural: str) -> None:
    coll = f"/apis/apps/v1/namespaces/{namespace}/{plural}"
    raw.ok("POST", coll, workload(kind, "e2e-wl", e2e=plural), expect=201)
    raw.ok("POST", coll, workload(kind, "other", e2e="other"), expect=201)
    everywhere = raw.ok("GET", f"/apis/apps/v1/{plural}?labelSelector=e2e%3D{plural}")["items"]
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in everywhere
            if o["metadata"]["namespace"] == namespace] == [(namespace, "e2e-wl")]
    raw.ok("DELETE", f"{coll}?labelSelector=e2e%3D{plural}")
    assert [o["metadata"]["name"] for o in raw.ok("GET", coll)["items"]] == ["other"]
    raw.ok("DELETE", f"{coll}/other")


@pytest.mark.conformance("StatefulSet, list, patch and delete a collection of StatefulSets")
def test_statefulset_list_patch_delete_collection(raw: Raw, namespace: str) -> None:
    coll = f"/apis/apps/v1/namespaces/{namespace}/statefulsets"
    raw.ok("POST", coll, workload("StatefulSet", "e2e-ss", e2e="statefulsets"), expect=201)
    listed = raw.ok("GET", "/apis/apps/v1/statefulsets?labelSelector=e2e%3Dstatefulsets")["items"]
    assert [o["metadata"]["name"] for o in listed if o["metadata"]["namespace"] == namespace] == ["e2e-ss"]
    p = raw.ok("PATCH", f"{coll}/e2e-ss", {"metadata": {"labels": {"e2e-ss": "patched"}},
                                          "spec": {"template": {"spec": {"containers": [
                                              {"name": "c", "image": "busybox:1.36"}]}}}},
               headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert p["metadata"]["labels"]["e2e-ss"] == "patched"
    assert p["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.36"
    raw.ok("DELETE", f"{coll}?labelSelector=e2e%3Dstatefulsets")
    assert raw.ok("GET", f"{coll}?labelSelector=e2e%3Dstatefulsets")["items"] == []


@pytest.mark.conformance("DaemonSet, status sub-resource")
@pytest.mark.conformance("ReplicaSet, status sub-resource")
@pytest.mark.conformance("StatefulSet, status sub-resource")
@pytest.mark.conformance("Deployment, status sub-resource")
@pytest.mark.parametrize("kind,plural", [("DaemonSet", "daemonsets"), ("ReplicaSet", "replicasets"),
                                         ("StatefulSet", "statefulsets"), ("Deployment", "deployments")])
def test_status_subresource(raw: Raw, namespace: str, kind: str, plural: str) -> None:
    coll = f"/apis/apps/v1/namespaces/{namespace}/{plural}"
    raw.ok("POST", coll, workload(kind, "e2e-status"), expect=201)
    assert f"{plural}/status" in [r["name"] for r in raw.ok("GET", "/apis/apps/v1")["resources"]]
    check_status_subresource(raw, coll, "e2e-status")
    raw.ok("DELETE", f"{coll}/e2e-status")


# --- batch/v1 -----------------------------------------------------------------------

def job(name: str, *, suspend: bool, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": labels},
            "spec": {"suspend": suspend, "parallelism": 1, "completions": 1, "backoffLimit": 6,
                     "template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "c", "image": "busybox"}]}}}}


@pytest.mark.conformance("Jobs, manage lifecycle")
def test_job_lifecycle(raw: Raw, namespace: str) -> None:
    coll = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    made = raw.ok("POST", coll, job("e2e-job", suspend=True, **{"e2e-job-label": "e2e-job"}), expect=201)
    assert made["spec"]["suspend"] is True
    p = raw.ok("PATCH", f"{coll}/e2e-job", {"metadata": {"labels": {"e2e-job-patched": "true"}}}, headers=MERGE)
    assert p["metadata"]["labels"]["e2e-job-patched"] == "true"
    assert raw.ok("GET", f"{coll}/e2e-job")["metadata"]["labels"]["e2e-job-patched"] == "true"

    def replace() -> Any:
        cur = raw.ok("GET", f"{coll}/e2e-job")
        cur["metadata"].setdefault("annotations", {})["updated"] = "true"
        return raw.ok("PUT", f"{coll}/e2e-job", cur)

    assert retry_conflicts(replace)["metadata"]["annotations"]["updated"] == "true"
    assert raw.ok("GET", f"{coll}/e2e-job")["metadata"]["annotations"]["updated"] == "true"
    everywhere = raw.ok("GET", "/apis/batch/v1/jobs?labelSelector=e2e-job-label%3De2e-job")["items"]
    assert [(j["metadata"]["namespace"], j["metadata"]["name"]) for j in everywhere
            if j["metadata"]["namespace"] == namespace] == [(namespace, "e2e-job")]
    raw.ok("DELETE", f"{coll}?labelSelector=e2e-job-label%3De2e-job")
    assert raw.ok("GET", f"{coll}?labelSelector=e2e-job-label%3De2e-job")["items"] == []


@pytest.mark.conformance("Jobs, apply changes to status")
def test_job_status(raw: Raw, namespace: str) -> None:
    coll = f"/apis/batch/v1/namespaces/{namespace}/jobs"
    raw.ok("POST", coll, job("e2e-job-status", suspend=False), expect=201)
    start = "2024-01-01T00:00:00Z"
    p = raw.ok("PATCH", f"{coll}/e2e-job-status/status",
               {"metadata": {"annotations": {"patchedstatus": "true"}}, "status": {"startTime": start}},
               headers=MERGE)
    assert p["status"]["startTime"] == start
    assert p["metadata"].get("annotations", {}).get("patchedstatus") == "true"  # metadata rides along, as upstream

    def update() -> Any:
        cur = raw.ok("GET", f"{coll}/e2e-job-status/status")
        cur["status"]["startTime"] = "2024-01-01T00:00:10Z"
        return raw.ok("PUT", f"{coll}/e2e-job-status/status", cur)

    assert retry_conflicts(update)["status"]["startTime"] == "2024-01-01T00:00:10Z"
    got = raw.ok("GET", f"{coll}/e2e-job-status/status")
    assert got["metadata"]["name"] == "e2e-job-status"
    assert got["status"]["startTime"] == "2024-01-01T00:00:10Z"
    raw.ok("DELETE", f"{coll}/e2e-job-status", {"propagationPolicy": "Background"})


@pytest.mark.conformance("CronJob API Operations")
def test_cronjob_api_operations(raw: Raw, namespace: str) -> None:
    groups = raw.ok("GET", "/apis")["groups"]
    assert "batch/v1" in [v["groupVersion"] for g in groups if g["name"] == "batch" for v in g["versions"]]
    assert {"cronjobs", "cronjobs/status"} <= {r["name"] for r in raw.ok("GET", "/apis/batch/v1")["resources"]}
    coll = f"/apis/batch/v1/namespaces/{namespace}/cronjobs"
    sel = "labelSelector=special-label%3De2e"
    rv = raw.ok("GET", coll)["metadata"]["resourceVersion"]
    events: list[tuple[str, str]] = []
    done = threading.Event()

    def watch() -> None:
        for ev in watch_lines(raw, f"{coll}?watch=1&{sel}&resourceVersion={rv}&timeoutSeconds=15", done):
            events.append((ev["type"], ev["object"]["metadata"]["name"]))
            if [t for t, _ in events].count("DELETED") == 3:
                return

    t = threading.Thread(target=watch)
    t.start()

    def cronjob(name: str) -> dict[str, Any]:
        # Suspended and yearly: nothing should run while the test does.
        return {"apiVersion": "batch/v1", "kind": "CronJob",
                "metadata": {"name": name, "labels": {"special-label": "e2e"}},
                "spec": {"schedule": "0 0 1 1 *", "suspend": True, "concurrencyPolicy": "Allow",
                         "jobTemplate": {"spec": {"template": {"spec": {
                             "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}}}

    for i in range(3):
        raw.ok("POST", coll, cronjob(f"e2e-cj-{i}"), expect=201)
    got = raw.ok("GET", f"{coll}/e2e-cj-0")
    assert got["spec"]["schedule"] == "0 0 1 1 *"
    assert len(raw.ok("GET", f"{coll}?{sel}")["items"]) == 3
    everywhere = raw.ok("GET", f"/apis/batch/v1/cronjobs?{sel}")["items"]
    assert len([c for c in everywhere if c["metadata"]["namespace"] == namespace]) == 3

    p = raw.ok("PATCH", f"{coll}/e2e-cj-0", {"metadata": {"annotations": {"patched": "true"}}}, headers=MERGE)
    assert p["metadata"]["annotations"]["patched"] == "true"

    def update() -> Any:
        cur = raw.ok("GET", f"{coll}/e2e-cj-0")
        cur["metadata"]["annotations"]["updated"] = "true"
        return raw.ok("PUT", f"{coll}/e2e-cj-0", cur)

    assert retry_conflicts(update)["metadata"]["annotations"]["updated"] == "true"

    # status: get, patch, update
    st = raw.ok("GET", f"{coll}/e2e-cj-0/status")
    assert st["metadata"]["name"] == "e2e-cj-0"
    when = "2024-01-01T00:00:00Z"
    ps = raw.ok("PATCH", f"{coll}/e2e-cj-0/status", {"metadata": {"annotations": {"patchedstatus": "true"}},
                                                     "status": {"lastScheduleTime": when}}, headers=MERGE)
    assert ps["status"]["lastScheduleTime"] == when
    assert ps["metadata"]["annotations"].get("patchedstatus") == "true"  # metadata rides along, as upstream

    def update_status() -> Any:
        cur = raw.ok("GET", f"{coll}/e2e-cj-0/status")
        cur["status"]["lastScheduleTime"] = "2024-01-02T00:00:00Z"
        return raw.ok("PUT", f"{coll}/e2e-cj-0/status", cur)

    assert retry_conflicts(update_status)["status"]["lastScheduleTime"] == "2024-01-02T00:00:00Z"
    assert raw.ok("GET", f"{coll}/e2e-cj-0")["status"]["lastScheduleTime"] == "2024-01-02T00:00:00Z"

    raw.ok("DELETE", f"{coll}/e2e-cj-0")
    assert raw("GET", f"{coll}/e2e-cj-0").status_code == 404
    raw.ok("DELETE", f"{coll}?{sel}")
    assert raw.ok("GET", f"{coll}?{sel}")["items"] == []
    t.join(20)
    done.set()
    assert [e for e in events if e[0] == "ADDED"] == [("ADDED", f"e2e-cj-{i}") for i in range(3)]
    assert ("MODIFIED", "e2e-cj-0") in events
    assert sorted(n for ty, n in events if ty == "DELETED") == [f"e2e-cj-{i}" for i in range(3)]
