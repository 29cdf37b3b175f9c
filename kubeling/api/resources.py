"""The table of every served resource, assembled from the per-group modules."""

from __future__ import annotations

import functools

from kubeling.api import registry
from kubeling.api.kinds import (
    apps,
    autoscaling,
    batch,
    coordination,
    core,
    discovery,
    events,
    networking,
    node,
    policy,
    rbac,
    scheduling,
    storage,
)

_MODULES = (core, apps, batch, autoscaling, coordination, discovery, events, policy, networking, scheduling,
            storage, rbac, node)


@functools.cache
def _table() -> tuple[registry.Resource, ...]:
    out: list[registry.Resource] = []
    seen: set[tuple[str, str, str]] = set()
    for mod in _MODULES:
        for res in mod.RESOURCES:
            gvr = (res.group, res.version, res.plural)
            if gvr in seen:
                raise ValueError(f"resource {gvr} is registered twice")
            seen.add(gvr)
            out.append(res)
    return tuple(out)


def all_resources() -> list[registry.Resource]:
    return list(_table())
