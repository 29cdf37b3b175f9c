"""Service and Ingress conformance behaviours that an API server alone provides.

Each test follows the description of the conformance test it is tagged with
(../shared/reference/conformance.yaml). Writes to a status subresource carry a
metadata annotation too, as upstream's tests do: it must be kept.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from tests.e2e.test_conformance_apimachinery import MERGE, Raw, raw, watch_lines

pytestmark = pytest.mark.e2e
__all__ = ["raw"]  # the fixture, shared with the apimachinery module


@pytest.mark.conformance("Service, complete ServiceStatus lifecycle")
def test_service_status_lifecycle(raw: Raw, namespace: str) -> None:
    coll = f"/api/v1/namespaces/{namespace}/services"
    sel = "labelSelector=test-service-static%3Dtrue"
    raw.ok("POST", coll, {"metadata": {"name": "svc-status", "labels": {"test-service-static": "true"}},
                          "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "protocol": "TCP",
                                                                      "port": 80, "targetPort": 80}],
                                   "selector": {"test-service-static": "true"}}}, expect=201)
    listed = raw.ok("GET", f"/api/v1/services?{sel}")
    assert [s["metadata"]["name"] for s in listed["items"] if s["metadata"]["namespace"] == namespace] == [
        "svc-status"]
    rv = listed["metadata"]["resourceVersion"]
    seen: list[dict[str, Any]] = []
    done = threading.Event()

    def watch() -> None:
        for ev in watch_lines(raw, f"{coll}?watch=1&{sel}&resourceVersion={rv}&timeoutSeconds=15", done):
            seen.append(ev)
            if ev["type"] == "DELETED":
                return

    t = threading.Thread(target=watch)
    t.start()
    st = raw.ok("GET", f"{coll}/svc-status/status")
    assert st["metadata"]["name"] == "svc-status"
    lb = {"ingress": [{"ip": "203.0.113.1"}]}
    p = raw.ok("PATCH", f"{coll}/svc-status/status", {"metadata": {"annotations": {"patchedstatus": "true"}},
                                                      "status": {"loadBalancer": lb}}, headers=MERGE)
    assert p["status"]["loadBalancer"]["ingress"][0]["ip"] == "203.0.113.1"
    assert p["metadata"].get("annotations", {}).get("patchedstatus") == "true"

    cur = raw.ok("GET", f"{coll}/svc-status/status")
    cur["status"]["conditions"] = [{"type": "StatusUpdate", "status": "True", "reason": "E2E",
                                    "message": "Set from e2e test", "lastTransitionTime": "2024-01-01T00:00:00Z"}]
    u = raw.ok("PUT", f"{coll}/svc-status/status", cur)
    assert [c["type"] for c in u["status"]["conditions"]] == ["StatusUpdate"]
    assert u["status"]["loadBalancer"]["ingress"][0]["ip"] == "203.0.113.1"

    p = raw.ok("PATCH", f"{coll}/svc-status", {"metadata": {"labels": {"test-service": "patched"}},
                                               "spec": {"ports": [{"name": "http8080", "port": 8080,
                                                                   "targetPort": 8080, "protocol": "TCP"}]}},
               headers={"Content-Type": "application/strategic-merge-patch+json"})
    assert p["metadata"]["labels"]["test-service"] == "patched"
    assert [(x["name"], x["port"]) for x in p["spec"]["ports"]][-1] == ("http8080", 8080)
    raw.ok("DELETE", f"{coll}/svc-status")
    t.join(20)
    done.set()
    modified = [e["object"] for e in seen if e["type"] == "MODIFIED"]
    assert any(o["metadata"].get("annotations", {}).get("patchedstatus") == "true" for o in modified)
    assert any([c["type"] for c in o.get("status", {}).get("conditions", [])] == ["StatusUpdate"] for o in modified)
    assert seen[-1]["type"] == "DELETED"


@pytest.mark.conformance("Ingress API")
def test_ingress_status_keeps_metadata(raw: Raw, namespace: str) -> None:
    coll = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses"
    raw.ok("POST", coll, {"metadata": {"name": "ing"},
                          "spec": {"defaultBackend": {"service": {"name": "default-backend",
                                                                  "port": {"number": 8080}}}}}, expect=201)
    lb = {"ingress": [{"ip": "169.1.1.1"}]}
    p = raw.ok("PATCH", f"{coll}/ing/status", {"metadata": {"annotations": {"patchedstatus": "true"}},
                                               "status": {"loadBalancer": lb}}, headers=MERGE)
    assert p["status"]["loadBalancer"] == lb
    assert p["metadata"].get("annotations", {}).get("patchedstatus") == "true"
    cur = raw.ok("GET", f"{coll}/ing/status")
    cur["status"]["loadBalancer"] = {"ingress": [{"ip": "169.1.1.2"}]}
    u = raw.ok("PUT", f"{coll}/ing/status", cur)
    assert u["status"]["loadBalancer"]["ingress"][0]["ip"] == "169.1.1.2"
    raw.ok("DELETE", f"{coll}/ing")
