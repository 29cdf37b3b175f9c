"""Pods and services for the Endpoints and EndpointSlice controller tests. There is
no kubelet here: the test plays it, setting pod IPs and readiness through the API."""

from __future__ import annotations

from typing import Any

from kubeling.client import rest

Obj = dict[str, Any]
NS = "default"


async def make_service(c: rest.Client, name: str, *, selector: dict[str, str] | None = None,
                       ports: list[Obj] | None = None, headless: bool = False, publish: bool = False,
                       labels: dict[str, str] | None = None) -> Obj:
    spec: Obj = {"ports": ports if ports is not None else [{"name": "http", "port": 80, "targetPort": 8080}]}
    if selector is not None:
        spec["selector"] = selector
    if headless:
        spec["clusterIP"] = "None"
    if publish:
        spec["publishNotReadyAddresses"] = True
    if not spec["ports"]:
        del spec["ports"]
    return await c.create(rest.SERVICES, {"apiVersion": "v1", "kind": "Service",
                                          "metadata": {"name": name, "labels": labels or {}}, "spec": spec},
                          namespace=NS)


async def make_pod(c: rest.Client, name: str, ip: str | None, *, labels: dict[str, str] | None = None,
                   ready: bool = True, node: str | None = None, ports: list[Obj] | None = None,
                   hostname: str | None = None, subdomain: str | None = None,
                   finalizers: list[str] | None = None) -> Obj:
    spec: Obj = {"containers": [{"name": "c", "image": "busybox", "ports": ports or []}]}
    if node:
        spec["nodeName"] = node
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    md: Obj = {"name": name, "labels": labels or {"app": "web"}}
    if finalizers:
        md["finalizers"] = finalizers
    pod = await c.create(rest.PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec}, namespace=NS)
    if ip is not None:
        pod = await set_pod_status(c, pod, ip=ip, ready=ready)
    return pod


async def set_pod_status(c: rest.Client, pod: Obj, *, ip: str, ready: bool) -> Obj:
    pod = await c.get(rest.PODS, pod["metadata"]["name"], namespace=NS)
    pod["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                     "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                                     "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
    return await c.update_status(rest.PODS, pod, namespace=NS)


async def make_node(c: rest.Client, name: str, *, zone: str | None = None) -> Obj:
    labels = {"topology.kubernetes.io/zone": zone} if zone else {}
    return await c.create(rest.NODES, {"apiVersion": "v1", "kind": "Node",
                                       "metadata": {"name": name, "labels": labels}})
