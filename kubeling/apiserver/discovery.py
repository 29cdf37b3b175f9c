"""Discovery documents: /api, /apis, /api/v1, /apis/<g>/<v> and the aggregated
``apidiscovery.k8s.io`` form (v2, and v2beta1 for kubectl 1.27-1.29).

All documents are computed once from the resource table; they are static.
"""

from __future__ import annotations

import hashlib
from typing import Any

from kubeling.api import registry
from kubeling.apiserver import metricsapi

Obj = dict[str, Any]

# Preferred order of groups in /apis, roughly as upstream lists them.
_GROUP_ORDER = [
    "apps", "events.k8s.io", "autoscaling", "batch", "policy", "rbac.authorization.k8s.io",
    "storage.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "networking.k8s.io",
    "scheduling.k8s.io", "node.k8s.io",
]


def _storage_hash(res: registry.Resource) -> str:
    digest = hashlib.sha256(f"{res.group}/{res.storage_version or res.version}/{res.plural}".encode()).digest()
    import base64

    return base64.b64encode(digest[:8]).decode()


class Discovery:
    def __init__(self, resources: list[registry.Resource]) -> None:
        self.resources = resources
        self.groups: dict[str, list[str]] = {}
        for r in resources:
            versions = self.groups.setdefault(r.group, [])
            if r.version not in versions:
                versions.append(r.version)
        for g, versions in self.groups.items():
            # Highest version first: v2 > v1 > v1beta1 (the preferred one leads).
            versions.sort(key=_version_key, reverse=True)

    def _group_names(self) -> list[str]:
        names = [g for g in self.groups if g]
        return sorted(names, key=lambda g: (_GROUP_ORDER.index(g) if g in _GROUP_ORDER else 99, g))

    def api_versions(self, server_address: str) -> Obj:
        return {
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
        }

    def api_group(self, group: str) -> Obj:
        versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in self.groups[group]]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": versions,
            "preferredVersion": versions[0],
        }

    def api_group_list(self) -> Obj:
        groups = []
        for g in self._group_names():
            d = self.api_group(g)
            del d["kind"], d["apiVersion"]
            groups.append(d)
        groups.append(metricsapi.api_group())  # served in-process, see metricsapi
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def resource_list(self, group: str, version: str) -> Obj | None:
        items = [r for r in self.resources if r.group == group and r.version == version]
        if not items:
            return None
        out: list[Obj] = []
        for r in items:
            entry: Obj = {
                "name": r.plural,
                "singularName": r.singular_name,
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": list(r.verbs),
                "storageVersionHash": _storage_hash(r),
            }
            if r.short_names:
                entry["shortNames"] = list(r.short_names)
            if r.categories:
                entry["categories"] = list(r.categories)
            out.append(entry)
            for sub, kind, verbs in _subresources(r):
                sub_entry: Obj = {
                    "name": f"{r.plural}/{sub}",
                    "singularName": "",
                    "namespaced": r.namespaced,
                    "kind": kind["kind"],
                    "verbs": verbs,
                }
                if kind.get("group") != r.group or kind.get("version") != r.version:
                    sub_entry["group"] = kind["group"]
                    sub_entry["version"] = kind["version"]
                out.append(sub_entry)
        gv = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}

    def aggregated(self, *, core: bool, version: str) -> Obj:
        """APIGroupDiscoveryList for /api (core=True) or /apis."""
        names = [""] if core else self._group_names()
        items = []
        for g in names:
            if g not in self.groups:
                continue
            versions = []
            for v in self.groups[g]:
                resources = []
                for r in self.resources:
                    if r.group != g or r.version != v:
                        continue
                    entry: Obj = {
                        "resource": r.plural,
                        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                        "scope": "Namespaced" if r.namespaced else "Cluster",
                        "singularResource": r.singular_name,
                        "verbs": list(r.verbs),
                    }
                    if r.short_names:
                        entry["shortNames"] = list(r.short_names)
                    if r.categories:
                        entry["categories"] = list(r.categories)
                    subs = [
                        {"subresource": sub, "responseKind": kind, "verbs": verbs}
                        for sub, kind, verbs in _subresources(r)
                    ]
                    if subs:
                        entry["subresources"] = subs
                    resources.append(entry)
                versions.append({"version": v, "resources": resources, "freshness": "Current"})
            items.append({"metadata": {"name": g, "creationTimestamp": None}, "versions": versions})
        if not core:
            items.append(metricsapi.aggregated_item())  # served in-process, see metricsapi
        return {
            "kind": "APIGroupDiscoveryList",
            "apiVersion": f"apidiscovery.k8s.io/{version}",
            "metadata": {},
            "items": items,
        }


def _subresources(r: registry.Resource) -> list[tuple[str, Obj, list[str]]]:
    subs: list[tuple[str, Obj, list[str]]] = []
    own = {"group": r.group, "version": r.version, "kind": r.kind}
    if r.has_status:
        subs.append(("status", own, ["get", "patch", "update"]))
    for sub in r.subresources:
        if sub == "scale":
            subs.append(("scale", {"group": "autoscaling", "version": "v1", "kind": "Scale"},
                         ["get", "patch", "update"]))
        elif sub == "binding":
            subs.append(("binding", {"group": "", "version": "v1", "kind": "Binding"}, ["create"]))
        elif sub == "eviction":
            subs.append(("eviction", {"group": "policy", "version": "v1", "kind": "Eviction"}, ["create"]))
        elif sub == "log":
            subs.append(("log", {"group": "", "version": "v1", "kind": "Pod"}, ["get"]))
        elif sub in ("exec", "attach", "portforward"):
            kind = {"exec": "PodExecOptions", "attach": "PodAttachOptions",
                    "portforward": "PodPortForwardOptions"}[sub]
            subs.append((sub, {"group": "", "version": "v1", "kind": kind}, ["create", "get"]))
    if r.kind == "Namespace" and not r.group:
        subs.append(("finalize", own, ["update"]))
    return subs


def _version_key(v: str) -> tuple[int, int, int]:
    """Kubernetes version priority: GA > beta > alpha, then by numbers."""
    import re

    m = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", v)
    if not m:
        return (-1, 0, 0)
    major = int(m.group(1))
    stage = {"alpha": 0, "beta": 1, None: 2}[m.group(2)]
    return (stage, major, int(m.group(3) or 0))
