"""NodeName: a pod that names its node (``spec.nodeName``) fits only that node."""

from __future__ import annotations

from kubeling.scheduler import framework

NAME = "NodeName"
REASON = "node(s) didn't match the requested node name"
_KEY = "NodeName/wanted"


def fits(pod: framework.PodInfo, ni: framework.NodeInfo) -> bool:
    wanted = (pod.pod.get("spec") or {}).get("nodeName")
    return not wanted or wanted == ni.name


class NodeName:
    NAME = NAME

    def __init__(self, handle: framework.Handle) -> None:
        self.handle = handle

    def pre_filter(self, state: framework.CycleState, pod: framework.PodInfo) -> framework.Status | None:
        return None if (pod.pod.get("spec") or {}).get("nodeName") else framework.SKIP

    def filter(self, state: framework.CycleState, pod: framework.PodInfo,
               ni: framework.NodeInfo) -> framework.Status | None:
        return None if fits(pod, ni) else framework.unresolvable(REASON)
