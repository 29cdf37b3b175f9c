"""Request paths -> (resource, namespace, name, subresource).

    /api/v1/<plural>[/<name>[/<sub>]]
    /api/v1/namespaces/<ns>/<plural>[/<name>[/<sub>]]
    /apis/<group>/<version>/...   (same shapes)
    /api/v1/watch/...             (the legacy watch prefix)

``/api/v1/namespaces/<name>/<sub>`` is a namespace subresource (status,
finalize) unless ``<sub>`` is a namespaced resource of that group/version.
"""

from __future__ import annotations

import dataclasses

from kubeling.api import errors, registry

# Served by the node's kubelet through the API server (kubeling.apiserver.proxy).
POD_STREAMING = ("log", "exec", "attach", "portforward")


@dataclasses.dataclass(frozen=True)
class Route:
    resource: registry.Resource
    namespace: str  # "" for cluster-scoped resources and all-namespace lists
    name: str
    subresource: str
    legacy_watch: bool


class Resolver:
    def __init__(self, resources: list[registry.Resource]) -> None:
        self._by_gvr: dict[tuple[str, str, str], registry.Resource] = {
            (r.group, r.version, r.plural): r for r in resources
        }

    def lookup(self, group: str, version: str, plural: str) -> registry.Resource | None:
        return self._by_gvr.get((group, version, plural))

    def resolve(self, path: str) -> Route | None:
        """None if the path is not a resource path (discovery etc.); 404 APIError if
        it looks like one but names nothing we serve."""
        parts = [p for p in path.split("/") if p]
        if len(parts) < 2:
            return None
        if parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        if not rest:
            return None
        legacy_watch = False
        if rest[0] == "watch":
            legacy_watch = True
            rest = rest[1:]
            if not rest:
                raise errors.APIError(404, "NotFound", "the server could not find the requested resource")
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            candidate = self.lookup(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                namespace = rest[1]
                rest = rest[2:]
        res = self.lookup(group, version, rest[0])
        if res is None or len(rest) > 3:
            raise errors.APIError(404, "NotFound", "the server could not find the requested resource")
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if sub and sub != "status" and sub not in res.subresources and not (
            res.kind == "Namespace" and sub == "finalize"
        ) and not (res.kind == "Pod" and not res.group and sub in POD_STREAMING):
            raise errors.APIError(404, "NotFound", "the server could not find the requested resource")
        if sub == "status" and not res.has_status:
            raise errors.APIError(404, "NotFound", "the server could not find the requested resource")
        return Route(res, namespace, name, sub, legacy_watch)
