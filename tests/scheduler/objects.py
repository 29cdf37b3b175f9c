"""Pod and Node dicts for scheduler tests."""

from __future__ import annotations

from typing import Any

from kubeling.scheduler import cache as cachelib
from kubeling.scheduler import framework, registry

Obj = dict[str, Any]


def node(name: str, *, cpu: str = "4", memory: str = "8Gi", pods: str = "110", labels: dict[str, str] | None = None,
         taints: list[Obj] | None = None, unschedulable: bool = False, images: list[Obj] | None = None) -> Obj:
    alloc = {"cpu": cpu, "memory": memory, "pods": pods}
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
            "spec": {**({"taints": taints} if taints else {}), **({"unschedulable": True} if unschedulable else {})},
            "status": {"capacity": dict(alloc), "allocatable": alloc, "images": images or [],
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def pod(name: str, *, namespace: str = "default", cpu: str | None = None, memory: str | None = None,
        labels: dict[str, str] | None = None, node_name: str = "", priority: int | None = None,
        spec: Obj | None = None, ports: list[Obj] | None = None, image: str = "busybox") -> Obj:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    container: Obj = {"name": "c", "image": image}
    if requests:
        container["resources"] = {"requests": requests}
    if ports:
        container["ports"] = ports
    s: Obj = {"containers": [container], **(spec or {})}
    if node_name:
        s["nodeName"] = node_name
    if priority is not None:
        s["priority"] = priority
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "labels": labels or {},
                         "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": s}


def info(p: Obj) -> framework.PodInfo:
    return framework.PodInfo(p)


def node_info(n: Obj, *pods: Obj) -> framework.NodeInfo:
    ni = framework.NodeInfo(n)
    for p in pods:
        ni.add_pod(framework.PodInfo(p))
    return ni


def cache_of(nodes: list[Obj], pods: list[Obj] = ()) -> cachelib.Cache:  # type: ignore[assignment]
    c = cachelib.Cache()
    for n in nodes:
        c.add_node(n)
    for p in pods:
        c.add_pod(framework.PodInfo(p))
    return c


def profile(c: cachelib.Cache) -> registry.Profile:
    return registry.default_profile(framework.Handle(c))
