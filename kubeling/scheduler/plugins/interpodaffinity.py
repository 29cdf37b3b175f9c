"""InterPodAffinity: pods placed relative to other pods by topology domain.

Filter (required terms, by ``topologyKey`` domain of each node):
* existing pods' anti-affinity: no pod already in the node's domain may have
  a required anti-affinity term that selects the incoming pod;
* the pod's anti-affinity: no pod its terms select may be in the domain;
* the pod's affinity: every term must find a selected pod in the domain —
  unless no pod anywhere matches and the pod matches its own terms (the first
  pod of a group that wants to be together).

Score: preferred terms of the pod (+/- weight per selected pod in the
domain), and symmetrically existing pods' preferred terms and required
affinity (weight 1) that select the incoming pod; min-max normalized.
"""

from __future__ import annotations

from collections import defaultdict

from kubeling.scheduler import framework
from kubeling.scheduler.plugins import affinityterms

NAME = "InterPodAffinity"
REASON_EXISTING_ANTI = "node(s) didn't satisfy existing pods anti-affinity rules"
REASON_ANTI = "node(s) didn't match pod anti-affinity rules"
REASON_AFFINITY = "node(s) didn't match pod affinity rules"
HARD_POD_AFFINITY_WEIGHT = 1
_PRE = "InterPodAffinity/pre"
_SCORE = "InterPodAffinity/score"

Pair = tuple[str, str]


class _PreState:
    __slots__ = ("affinity", "affinity_counts", "anti", "anti_counts", "existing_anti", "self_match")

    def __init__(self) -> None:
        self.existing_anti: dict[Pair, int] = defaultdict(int)
        self.affinity_counts: dict[Pair, int] = defaultdict(int)
        self.anti_counts: dict[Pair, int] = defaultdict(int)
        self.affinity: list[affinityterms.Term] = []
        self.anti: list[affinityterms.Term] = []
        self.self_match = False


class InterPodAffinity:
    NAME = NAME

    def __init__(self, handle: framework.Handle) -> None:
        self.handle = handle

    # ---- filter ---------------------------------------------------------------------
    def pre_filter(self, state: framework.CycleState, pod: framework.PodInfo) -> framework.Status | None:
        snap, nsl = self.handle.snapshot, self.handle.namespace_labels
        pre = _PreState()
        for ni in snap.have_pods_with_anti_affinity():
            for other in ni.pods_with_anti_affinity.values():
                for t in affinityterms.required_anti_affinity(other):
                    val = ni.labels.get(t.topology_key)
                    if val is not None and t.matches(pod, nsl):
                        pre.existing_anti[(t.topology_key, val)] += 1
        pre.affinity = affinityterms.required_affinity(pod)
        pre.anti = affinityterms.required_anti_affinity(pod)
        if pre.affinity or pre.anti:
            for ni in snap.node_infos():
                if not ni.pods:
                    continue
                for other in ni.pods.values():
                    for t in pre.affinity:
                        val = ni.labels.get(t.topology_key)
                        if val is not None and t.matches(other, nsl):
                            pre.affinity_counts[(t.topology_key, val)] += 1
                    for t in pre.anti:
                        val = ni.labels.get(t.topology_key)
                        if val is not None and t.matches(other, nsl):
                            pre.anti_counts[(t.topology_key, val)] += 1
            pre.self_match = all(t.matches(pod, nsl) for t in pre.affinity)
        if not pre.existing_anti and not pre.affinity and not pre.anti:
            return framework.SKIP
        state[_PRE] = pre
        return None

    def filter(self, state: framework.CycleState, pod: framework.PodInfo,
               ni: framework.NodeInfo) -> framework.Status | None:
        pre: _PreState = state[_PRE]
        lbl = ni.labels
        if pre.existing_anti:
            for (key, wanted), n in pre.existing_anti.items():
                if n > 0 and lbl.get(key) == wanted:
                    return framework.unschedulable(REASON_EXISTING_ANTI)
        for t in pre.anti:
            val = lbl.get(t.topology_key)
            if val is not None and pre.anti_counts.get((t.topology_key, val), 0) > 0:
                return framework.unschedulable(REASON_ANTI)
        if pre.affinity:
            found = True
            for t in pre.affinity:
                val = lbl.get(t.topology_key)
                if val is None:
                    return framework.unresolvable(REASON_AFFINITY)
                if pre.affinity_counts.get((t.topology_key, val), 0) <= 0:
                    found = False
            if not found and not (not pre.affinity_counts and pre.self_match):
                return framework.unresolvable(REASON_AFFINITY)
        return None

    # ---- score ----------------------------------------------------------------------
    def pre_score(self, state: framework.CycleState, pod: framework.PodInfo,
                  nodes: list[framework.NodeInfo]) -> framework.Status | None:
        snap, nsl = self.handle.snapshot, self.handle.namespace_labels
        mine = affinityterms.preferred(pod)
        sources = snap.node_infos() if mine else snap.have_pods_with_affinity()
        if not mine and not sources:
            return framework.SKIP
        topo: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for ni in sources:
            others = ni.pods.values() if mine else ni.pods_with_affinity.values()
            for other in others:
                for t in mine:
                    val = ni.labels.get(t.topology_key)
                    if val is not None and t.matches(other, nsl):
                        topo[t.topology_key][val] += t.weight
                if not other.has_affinity:
                    continue
                for t in affinityterms.required_affinity(other):
                    val = ni.labels.get(t.topology_key)
                    if val is not None and t.matches(pod, nsl):
                        topo[t.topology_key][val] += HARD_POD_AFFINITY_WEIGHT
                for t in affinityterms.preferred(other):
                    val = ni.labels.get(t.topology_key)
                    if val is not None and t.matches(pod, nsl):
                        topo[t.topology_key][val] += t.weight
        if not topo:
            return framework.SKIP
        state[_SCORE] = topo
        return None

    def score(self, state: framework.CycleState, pod: framework.PodInfo,
              nodes: list[framework.NodeInfo]) -> list[int]:
        topo: dict[str, dict[str, int]] = state[_SCORE]
        out = []
        for ni in nodes:
            s = 0
            for key, vals in topo.items():
                val = ni.labels.get(key)
                if val is not None:
                    s += vals.get(val, 0)
            out.append(s)
        return out

    def normalize(self, state: framework.CycleState, pod: framework.PodInfo, scores: list[int]) -> None:
        if not scores:
            return
        lo, hi = min(scores), max(scores)
        diff = hi - lo
        for i, s in enumerate(scores):
            scores[i] = int(framework.MAX_NODE_SCORE * (s - lo) / diff) if diff > 0 else 0
