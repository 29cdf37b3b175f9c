"""NodeAffinity: ``spec.nodeSelector`` and required node affinity filter nodes
(matching lives in kubeling.api.podfit); preferred terms add their weights to
the score."""

from __future__ import annotations

from kubeling.api import podfit
from kubeling.scheduler import framework

NAME = "NodeAffinity"
REASON = "node(s) didn't match Pod's node affinity/selector"
_PREFERRED = "NodeAffinity/preferred"


def preferred_terms(pod: framework.Obj) -> list[framework.Obj]:
    aff = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    return aff.get("preferredDuringSchedulingIgnoredDuringExecution") or []


def preferred_score(terms: list[framework.Obj], node: framework.Obj) -> int:
    return sum(int(t.get("weight") or 0) for t in terms if podfit.term_matches(t.get("preference") or {}, node))


class NodeAffinity:
    NAME = NAME

    def __init__(self, handle: framework.Handle) -> None:
        self.handle = handle

    def pre_filter(self, state: framework.CycleState, pod: framework.PodInfo) -> framework.Status | None:
        spec = pod.pod.get("spec") or {}
        if not spec.get("nodeSelector") and podfit.required_affinity(pod.pod) is None:
            return framework.SKIP
        return None

    def filter(self, state: framework.CycleState, pod: framework.PodInfo,
               ni: framework.NodeInfo) -> framework.Status | None:
        return None if podfit.matches_node(pod.pod, ni.node) else framework.unresolvable(REASON)

    def pre_score(self, state: framework.CycleState, pod: framework.PodInfo,
                  nodes: list[framework.NodeInfo]) -> framework.Status | None:
        terms = preferred_terms(pod.pod)
        if not terms:
            return framework.SKIP
        state[_PREFERRED] = terms
        return None

    def score(self, state: framework.CycleState, pod: framework.PodInfo,
              nodes: list[framework.NodeInfo]) -> list[int]:
        terms = state[_PREFERRED]
        return [preferred_score(terms, ni.node) for ni in nodes]

    def normalize(self, state: framework.CycleState, pod: framework.PodInfo, scores: list[int]) -> None:
        framework.default_normalize(scores)
