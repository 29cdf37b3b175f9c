"""NodeUnschedulable: a cordoned node (``spec.unschedulable``) takes only pods
that tolerate the ``node.kubernetes.io/unschedulable:NoSchedule`` taint."""

from __future__ import annotations

from kubeling.api import podfit
from kubeling.scheduler import framework

NAME = "NodeUnschedulable"
REASON = "node(s) were unschedulable"
_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": podfit.NO_SCHEDULE}


def fits(pod: framework.PodInfo, ni: framework.NodeInfo) -> bool:
    return not ni.unschedulable or podfit.tolerates(podfit.pod_tolerations(pod.pod), _TAINT)


class NodeUnschedulable:
    NAME = NAME

    def __init__(self, handle: framework.Handle) -> None:
        self.handle = handle

    def filter(self, state: framework.CycleState, pod: framework.PodInfo,
               ni: framework.NodeInfo) -> framework.Status | None:
        if not ni.unschedulable or fits(pod, ni):
            return None
        return framework.unresolvable(REASON)

    def filter_nodes(self, state: framework.CycleState, pod: framework.PodInfo,
                     nodes: list[framework.NodeInfo], keep: framework.Keep) -> list[framework.NodeInfo]:
        return [ni for ni in nodes if not ni.unschedulable or keep(ni)]
