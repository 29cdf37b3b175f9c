"""The resource metrics API, ``metrics.k8s.io/v1beta1``, served in-process.

Upstream gets it from metrics-server behind the aggregation layer (k3s bundles
one); kubeling answers it in the API server itself, reading each node's
kubelet ``/stats/summary`` over the kubelet connection of
:class:`kubeling.apiserver.proxy.KubeletProxy` when asked. Served, read-only:

    GET /apis/metrics.k8s.io                                   APIGroup
    GET /apis/metrics.k8s.io/v1beta1                           APIResourceList
    GET /apis/metrics.k8s.io/v1beta1/nodes[/{name}]            NodeMetrics(List)
    GET /apis/metrics.k8s.io/v1beta1/pods                      PodMetricsList, every namespace
    GET /apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods[/{name}]

``labelSelector`` and ``fieldSelector`` select the nodes or pods themselves, as
metrics-server does. Usage is CPU in nanocores (``usageNanoCores``, a rate the
kubelet computes between its samples) and memory as the working set. Nodes and
pods the kubelet has no CPU rate for yet are left out (``kubectl top`` then
says the metrics are not available yet), as metrics-server leaves them out.
The ``window`` is the kubelet's housekeeping interval, the nominal span its
rates are computed over.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from kubeling.api import errors
from kubeling.apiserver import handlers, listing
from kubeling.lib import timeutil

log = logging.getLogger("kubeling.apiserver.metricsapi")
Obj = dict[str, Any]

GROUP = "metrics.k8s.io"
VERSION = "v1beta1"
GROUP_VERSION = f"{GROUP}/{VERSION}"
PREFIX = f"/apis/{GROUP}"
WINDOW = "10s"
SUMMARY_PATH = "/stats/summary"
_RESOURCES = (("nodes", "NodeMetrics", False), ("pods", "PodMetrics", True))


def api_group() -> Obj:
    """The entry of ``/apis`` (APIGroupList) for this group."""
    v = {"groupVersion": GROUP_VERSION, "version": VERSION}
    return {"name": GROUP, "versions": [v], "preferredVersion": v}


def aggregated_item() -> Obj:
    """The entry of the aggregated ``/apis`` discovery (APIGroupDiscovery)."""
    resources = [{"resource": plural, "responseKind": {"group": GROUP, "version": VERSION, "kind": kind},
                  "scope": "Namespaced" if namespaced else "Cluster", "singularResource": "",
                  "verbs": ["get", "list"]} for plural, kind, namespaced in _RESOURCES]
    return {"metadata": {"name": GROUP, "creationTimestamp": None},
            "versions": [{"version": VERSION, "resources": resources, "freshness": "Current"}]}


def resource_list() -> Obj:
    resources = [{"name": plural, "singularName": "", "namespaced": namespaced, "kind": kind,
                  "verbs": ["get", "list"]} for plural, kind, namespaced in _RESOURCES]
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": GROUP_VERSION, "resources": resources}


def cpu_quantity(nanocores: int) -> str:
    return f"{nanocores}n"


def memory_quantity(n: int) -> str:
    return f"{n // 1024}Ki" if n % 1024 == 0 else str(n)


def node_metrics(node: Obj, summary: Obj) -> Obj | None:
    """NodeMetrics from a kubelet summary; None when it has no CPU rate yet."""
    stats = summary.get("node") or {}
    cpu, mem = stats.get("cpu") or {}, stats.get("memory") or {}
    if "usageNanoCores" not in cpu or "workingSetBytes" not in mem:
        return None
    md = node.get("metadata") or {}
    return {
        "kind": "NodeMetrics", "apiVersion": GROUP_VERSION,
        "metadata": {"name": md.get("name", ""), "creationTimestamp": timeutil.rfc3339(),
                     "labels": dict(md.get("labels") or {})},
        "timestamp": cpu.get("time") or timeutil.rfc3339(), "window": WINDOW,
        "usage": {"cpu": cpu_quantity(int(cpu["usageNanoCores"])),
                  "memory": memory_quantity(int(mem["workingSetBytes"]))},
    }


def pod_metrics(pod: Obj, stats: Obj) -> Obj | None:
    """PodMetrics from a pod's entry of a summary; None when a container lacks data."""
    containers = []
    stamp = ""
    for c in stats.get("containers") or []:
        cpu, mem = c.get("cpu") or {}, c.get("memory") or {}
        if "usageNanoCores" not in cpu or "workingSetBytes" not in mem:
            return None
        stamp = max(stamp, str(cpu.get("time") or ""))
        containers.append({"name": c.get("name", ""), "usage": {
            "cpu": cpu_quantity(int(cpu["usageNanoCores"])), "memory": memory_quantity(int(mem["workingSetBytes"]))}})
    if not containers:
        return None
    md = pod.get("metadata") or {}
    return {
        "kind": "PodMetrics", "apiVersion": GROUP_VERSION,
        "metadata": {"name": md.get("name", ""), "namespace": md.get("namespace", ""),
                     "creationTimestamp": timeutil.rfc3339(), "labels": dict(md.get("labels") or {})},
        "timestamp": stamp or timeutil.rfc3339(), "window": WINDOW, "containers": containers,
    }


def _not_found(resource: str, name: str) -> errors.APIError:
    return errors.not_found_error(resource, GROUP, name)


class MetricsAPI:
    def __init__(self, api: Any) -> None:
        self.api = api  # the APIServer: resolver, backend, cacher, kubelet_proxy (duck-typed)

    async def serve(self, request: web.Request) -> web.Response:
        if request.method not in ("GET", "HEAD"):
            raise errors.method_not_allowed("the server does not allow this method on the requested resource")
        if request.query.get("watch") in ("true", "1"):
            raise errors.method_not_allowed("watch is not supported on metrics.k8s.io resources")
        parts = [p for p in request.path.split("/") if p][2:]
        if not parts:
            return handlers.json_response({"kind": "APIGroup", "apiVersion": "v1", **api_group()})
        if parts[0] != VERSION:
            raise errors.APIError(404, "NotFound", "the server could not find the requested resource")
        rest = parts[1:]
        if not rest:
            return handlers.json_response(resource_list())
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
            if rest[0] != "pods":
                raise errors.APIError(404, "NotFound", "the server could not find the requested resource")
        if rest[0] not in ("nodes", "pods") or len(rest) > 2:
            raise errors.APIError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) == 2 else ""
        if rest[0] == "nodes":
            return await self._nodes(request, name)
        return await self._pods(request, namespace, name)

    async def _objects(self, plural: str, namespace: str, query: Any) -> list[Obj]:
        res = self.api.resolver.lookup("", "v1", plural)
        params = listing.ListParams(label_selector=query.get("labelSelector", ""),
                                    field_selector=query.get("fieldSelector", ""))
        result = await listing.list_objects(res, self.api.backend, self.api.cacher, namespace, params)
        return list(result.items)

    async def _summaries(self, node_names: set[str]) -> dict[str, Obj]:
        names = sorted(node_names)
        got = await asyncio.gather(*(self.api.kubelet_proxy.get_json(n, SUMMARY_PATH) for n in names),
                                   return_exceptions=True)
        out: dict[str, Obj] = {}
        for name, summary in zip(names, got, strict=True):
            if isinstance(summary, BaseException):
                log.warning("no stats from the kubelet of node %s: %s", name, summary)
            else:
                out[name] = summary
        return out

    async def _nodes(self, request: web.Request, name: str) -> web.Response:
        if name:
            try:
                nodes = [await self.api.stores[("", "v1", "nodes")].get("", name)]
            except errors.APIError as exc:
                raise _not_found("nodes", name) from exc
        else:
            nodes = await self._objects("nodes", "", request.query)
        summaries = await self._summaries({n["metadata"]["name"] for n in nodes})
        items = [m for n in nodes if n["metadata"]["name"] in summaries
                 if (m := node_metrics(n, summaries[n["metadata"]["name"]])) is not None]
        if name:
            if not items:
                raise _not_found("nodes", name)
            return handlers.json_response(items[0])
        return handlers.json_response({"kind": "NodeMetricsList", "apiVersion": GROUP_VERSION,
                                       "metadata": {}, "items": items})

    async def _pods(self, request: web.Request, namespace: str, name: str) -> web.Response:
        if name:
            try:
                pods = [await self.api.stores[("", "v1", "pods")].get(namespace, name)]
            except errors.APIError as exc:
                raise _not_found("pods", name) from exc
        else:
            pods = await self._objects("pods", namespace, request.query)
        pods = [p for p in pods if (p.get("spec") or {}).get("nodeName")]
        summaries = await self._summaries({p["spec"]["nodeName"] for p in pods})
        by_uid: dict[str, Obj] = {}
        for summary in summaries.values():
            for ps in summary.get("pods") or []:
                by_uid[(ps.get("podRef") or {}).get("uid", "")] = ps
        items = []
        for p in pods:
            stats = by_uid.get(p["metadata"].get("uid", ""))
            if stats is not None and (m := pod_metrics(p, stats)) is not None:
                items.append(m)
        if name:
            if not items:
                raise _not_found("pods", name)
            return handlers.json_response(items[0])
        return handlers.json_response({"kind": "PodMetricsList", "apiVersion": GROUP_VERSION,
                                       "metadata": {}, "items": items})
