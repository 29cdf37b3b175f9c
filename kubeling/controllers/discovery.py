"""What the API serves, read from its discovery documents (``GET /api/v1``,
``GET /apis`` and ``GET /apis/<group>/<version>``) through the REST client.

:class:`Resources` answers the two questions the garbage collector and the
disruption controller ask: which resources can be listed, watched and
deleted (the GC's monitors), and which resource an ownerReference's
``apiVersion``/``kind`` names (to look an owner up, or find its ``scale``
subresource). Only the preferred version of each group gets a monitor (one
informer per resource, as upstream's GC); a reference naming another served
version of a group still resolves, to that version.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kubeling.client import rest

Obj = dict[str, Any]

# Events are written in bulk and nobody owns them in a way worth tracking (upstream's GC
# ignores them too).
IGNORED = {("", "events"), ("events.k8s.io", "events")}


@dataclasses.dataclass
class Resources:
    # (apiVersion, kind) -> resource, for every served version.
    by_kind: dict[tuple[str, str], rest.ResourceRef] = dataclasses.field(default_factory=dict)
    # (group, kind) -> resource in the group's preferred version.
    by_group_kind: dict[tuple[str, str], rest.ResourceRef] = dataclasses.field(default_factory=dict)
    # Resources in preferred versions that support list, watch and delete.
    deletable: list[rest.ResourceRef] = dataclasses.field(default_factory=list)
    # Resources (by (group, plural)) that have a ``scale`` subresource.
    scalable: set[tuple[str, str]] = dataclasses.field(default_factory=set)

    def resolve(self, api_version: str, kind: str) -> rest.ResourceRef | None:
        """The resource an ownerReference (``apiVersion``, ``kind``) points at, if served."""
        ref = self.by_kind.get((api_version, kind))
        if ref is None:
            group = api_version.rpartition("/")[0]
            ref = self.by_group_kind.get((group, kind))
        return ref

    def has_scale(self, ref: rest.ResourceRef) -> bool:
        return (ref.group, ref.plural) in self.scalable


async def discover(client: rest.Client) -> Resources:
    out = Resources()
    versions: list[tuple[str, bool]] = [("v1", True)]
    apis = await client.request("GET", "/apis")
    for group in (apis or {}).get("groups") or []:
        preferred = (group.get("preferredVersion") or {}).get("groupVersion")
        for v in group.get("versions") or []:
            gv = v.get("groupVersion")
            if gv:
                versions.append((gv, gv == preferred))
    for gv, preferred in versions:
        path = "/api/v1" if gv == "v1" else f"/apis/{gv}"
        try:
            doc = await client.request("GET", path)
        except rest.NotFound:
            continue  # a group version that went away between the two reads
        _add(out, gv, (doc or {}).get("resources") or [], preferred=preferred)
    return out


def _add(out: Resources, gv: str, resources: list[Obj], *, preferred: bool) -> None:
    group = gv.rpartition("/")[0]
    for r in resources:
        name = str(r.get("name") or "")
        if "/" in name:
            base, _, sub = name.partition("/")
            if sub == "scale":
                out.scalable.add((group, base))
            continue
        kind = str(r.get("kind") or "")
        ref = rest.ResourceRef.of(gv, name, namespaced=bool(r.get("namespaced")), kind=kind)
        out.by_kind.setdefault((gv, kind), ref)
        verbs = set(r.get("verbs") or [])
        if preferred:
            out.by_group_kind[(group, kind)] = ref
            if {"list", "watch", "delete"} <= verbs and (group, name) not in IGNORED:
                out.deletable.append(ref)
        else:
            out.by_group_kind.setdefault((group, kind), ref)
