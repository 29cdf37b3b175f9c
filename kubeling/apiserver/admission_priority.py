"""Priority admission (upstream's ``Priority`` plugin).

On pod creation ``spec.priorityClassName`` is resolved to ``spec.priority``
and ``spec.preemptionPolicy``; a pod without a class gets the class marked
``globalDefault`` (or priority 0). A class that does not exist is refused
with 403, as upstream. The two built-in ``system-`` classes are created at
start by :func:`bootstrap_classes`.
"""

from __future__ import annotations

from typing import Any

from kubeling.api import errors, registry
from kubeling.api.kinds import scheduling
from kubeling.apiserver import admission, store

Obj = dict[str, Any]
PREFIX = "/registry/scheduling.k8s.io/priorityclasses/"


class Priority:
    def __init__(self, api: Any) -> None:
        self.api = api

    def _classes(self) -> list[Obj]:
        items, _ = self.api.cacher.resource(PREFIX).list("")
        return [c.obj for c in items]

    async def admit(self, ctx: store.Context, op: str, res: registry.Resource, obj: Obj, old: Obj | None) -> None:
        if op != "CREATE" or res.plural != "pods" or res.group != "":
            return
        spec = obj.setdefault("spec", {})
        name = spec.get("priorityClassName") or ""
        if name:
            pc = await admission.lookup(self.api, PREFIX, name)
            if pc is None:
                raise errors.APIError(403, "Forbidden",
                                      f'pods "{obj["metadata"].get("name", "")}" is forbidden: no PriorityClass '
                                      f"with name {name} was found",
                                      details={"name": obj["metadata"].get("name", ""), "kind": "pods"})
        else:
            pc = next((c for c in self._classes() if c.get("globalDefault")), None)
            if pc is not None:
                spec["priorityClassName"] = pc["metadata"]["name"]
        value = int(pc.get("value", 0)) if pc else 0
        if spec.get("priority") is not None and spec["priority"] != value:
            raise errors.APIError(403, "Forbidden",
                                  f'pods "{obj["metadata"].get("name", "")}" is forbidden: the integer value of '
                                  "priority must not be provided in pod spec; priority admission controller "
                                  "computed " + str(value) + " from the given PriorityClass name",
                                  details={"name": obj["metadata"].get("name", ""), "kind": "pods"})
        spec["priority"] = value
        policy = (pc or {}).get("preemptionPolicy") or "PreemptLowerPriority"
        spec.setdefault("preemptionPolicy", policy)

    async def released(self, res: registry.Resource, obj: Obj) -> None:
        return None


def bootstrap_objects() -> list[Obj]:
    """The built-in classes the API server keeps (upstream's SystemPriorityClasses)."""
    return [{"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
             "metadata": {"name": name}, "value": value, "globalDefault": False,
             "description": "Used for system critical pods that must not be moved from their current node."
             if name == "system-node-critical" else "Used for system critical pods that must run in the cluster, "
                                                    "but can be moved to another node if necessary."}
            for name, value in scheduling.SYSTEM_CLASSES.items()]
