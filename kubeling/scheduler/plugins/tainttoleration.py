"""TaintToleration: NoSchedule/NoExecute taints the pod does not tolerate rule
the node out; untolerated PreferNoSchedule taints lower its score (fewer is
better)."""

from __future__ import annotations

from kubeling.api import podfit
from kubeling.scheduler import framework

NAME = "TaintToleration"
_PREFER_KEY = "TaintToleration/preferTolerations"


def reason(taint: framework.Obj) -> str:
    return f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}"


def untolerated_preferred(taints: list[framework.Obj], tolerations: list[framework.Obj]) -> int:
    return sum(1 for t in taints
               if t.get("effect") == podfit.PREFER_NO_SCHEDULE and not podfit.tolerates(tolerations, t))


class TaintToleration:
    NAME = NAME

    def __init__(self, handle: framework.Handle) -> None:
        self.handle = handle

    def filter(self, state: framework.CycleState, pod: framework.PodInfo,
               ni: framework.NodeInfo) -> framework.Status | None:
        if not ni.taints:
            return None
        taint = podfit.untolerated_taint(ni.taints, podfit.pod_tolerations(pod.pod))
        return None if taint is None else framework.unresolvable(reason(dict(taint)))

    def filter_nodes(self, state: framework.CycleState, pod: framework.PodInfo,
                     nodes: list[framework.NodeInfo], keep: framework.Keep) -> list[framework.NodeInfo]:
        return [ni for ni in nodes if not ni.taints or keep(ni)]

    def pre_score(self, state: framework.CycleState, pod: framework.PodInfo,
                  nodes: list[framework.NodeInfo]) -> framework.Status | None:
        # Tolerations that could matter for PreferNoSchedule (empty effect counts too).
        state[_PREFER_KEY] = [t for t in podfit.pod_tolerations(pod.pod)
                              if t.get("effect") in (None, "", podfit.PREFER_NO_SCHEDULE)]
        return None

    def score(self, state: framework.CycleState, pod: framework.PodInfo,
              nodes: list[framework.NodeInfo]) -> list[int]:
        tols = state[_PREFER_KEY]
        return [untolerated_preferred(ni.taints, tols) if ni.taints else 0 for ni in nodes]

    def normalize(self, state: framework.CycleState, pod: framework.PodInfo, scores: list[int]) -> None:
        framework.default_normalize(scores, reverse=True)
