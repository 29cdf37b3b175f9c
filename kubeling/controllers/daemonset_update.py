"""DaemonSet rolling update planning (upstream's ``pkg/controller/daemon/update.go``).

Pure: given the nodes, the daemon pods per node and the current revision's
hash, say which old pods to delete and on which nodes to start new pods.

- ``maxSurge`` 0: old pods are deleted, the manage pass then starts their
  replacements. Unavailable old pods are always replaced; available ones only
  while fewer than ``maxUnavailable`` nodes are without an available daemon.
- ``maxSurge`` > 0: a new pod starts next to the old one (on at most
  ``maxSurge`` nodes at a time, but always where the old pod is unavailable),
  and the old pod is deleted once the new one is available.

Percentages are of the number of nodes that should run the daemon, rounded
up; if both come out 0, one node may be unavailable.
"""

from __future__ import annotations

import datetime
from typing import Any

from kubeling.controllers import daemonset_util as du
from kubeling.controllers import podutil

Obj = dict[str, Any]


def limits(ds: Obj, desired: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as pod counts."""
    ru = ((ds.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}
    surge = du.scaled(ru.get("maxSurge"), desired)
    unavailable = du.scaled(ru.get("maxUnavailable", 1), desired)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def _split(pods: list[Obj], hash_: str, generation: int | None) -> tuple[Obj | None, Obj | None, bool]:
    """(new pod, old pod, ok) on one node; not ok if there are two of a kind (the manage pass cleans up)."""
    new = old = None
    for pod in pods:
        if podutil.is_terminating(pod):
            continue
        if du.is_updated(pod, hash_, generation):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


def plan(ds: Obj, nodes: list[Obj], node_pods: dict[str, list[Obj]], hash_: str,
         now: datetime.datetime) -> tuple[list[Obj], list[str]]:
    """(old pods to delete, node names to start a new pod on)."""
    min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
    generation = du.template_generation(ds)
    by_node = {n: list(p) for n, p in node_pods.items()}
    desired = 0
    for node in nodes:
        run, _ = du.should_run(ds, node)
        if run:
            desired += 1
            by_node.setdefault(node["metadata"]["name"], [])
    max_surge, max_unavailable = limits(ds, desired)

    def available(pod: Obj) -> bool:
        return podutil.is_available(pod, min_ready, now)

    if max_surge == 0:
        unavailable = 0
        replace: list[Obj] = []
        candidates: list[Obj] = []
        for name in sorted(by_node):
            new, old, ok = _split(by_node[name], hash_, generation)
            if not ok or (new is None) == (old is None):
                # Nothing or two pods here: the manage pass fixes it; count it unavailable.
                unavailable += 1
            elif new is not None:
                unavailable += not available(new)
            elif old is not None and not available(old):
                replace.append(old)
            elif unavailable < max_unavailable and old is not None:
                candidates.append(old)
        room = max(0, min(max_unavailable - unavailable, len(candidates)))
        return replace + candidates[:room], []

    delete: list[Obj] = []
    create: list[str] = []
    surging = 0
    waiting: list[tuple[str, Obj]] = []
    for name in sorted(by_node):
        new, old, ok = _split(by_node[name], hash_, generation)
        if not ok or old is None:
            continue
        if new is None:
            waiting.append((name, old))
        elif available(new):
            delete.append(old)
        else:
            surging += 1
    for name, old in waiting:
        if not available(old):
            create.append(name)
        elif surging < max_surge:
            surging += 1
            create.append(name)
    return delete, create
