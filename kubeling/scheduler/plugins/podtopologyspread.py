"""PodTopologySpread: keep matching pods evenly spread over topology domains.

For each ``topologySpreadConstraints`` entry (``labelSelector`` plus
``matchLabelKeys``, in the pod's namespace) the pods matching it are counted
per domain (value of ``topologyKey``) over the nodes that qualify: with
``nodeAffinityPolicy: Honor`` (default) only nodes the pod's node
selector/affinity admit, with ``nodeTaintsPolicy: Honor`` (default Ignore) only
nodes whose taints it tolerates, and only nodes carrying every constraint's
key.

* ``DoNotSchedule``: a node passes if placing the pod there keeps
  ``count(domain) + self - min(count)`` within ``maxSkew``; with fewer than
  ``minDomains`` domains the minimum counts as 0. A node without the key is
  unresolvable.
* ``ScheduleAnyway``: fewer matching pods in the node's domain scores higher
  (each constraint weighted by log(number of domains + 2)).

A pod with no constraints at all gets upstream's system defaults for scoring
(hostname maxSkew 3, zone maxSkew 5, ScheduleAnyway), selecting the pods of
the Services, ReplicationControllers, ReplicaSets and StatefulSets that
select it (``Handle.default_selector``); nothing selects it: skipped.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from kubeling.api import podfit
from kubeling.lib import labels
from kubeling.scheduler import framework, selectors

NAME = "PodTopologySpread"
REASON = "node(s) didn't match pod topology spread constraints"
REASON_MISSING_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"
DO_NOT_SCHEDULE = "DoNotSchedule"
SCHEDULE_ANYWAY = "ScheduleAnyway"
HOSTNAME = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
# Upstream's system default constraints (ScheduleAnyway, for pods without their own).
SYSTEM_DEFAULTS = ((HOSTNAME, 3), (ZONE, 5))
_PRE = "PodTopologySpread/pre"
_SCORE = "PodTopologySpread/score"


class Constraint:
    __slots__ = ("honor_affinity", "honor_taints", "key", "max_skew", "min_domains", "selector")

    def __init__(self, c: dict[str, Any], pod: framework.PodInfo) -> None:
        self.key: str = c.get("topologyKey") or ""
        self.max_skew = int(c.get("maxSkew") or 1)
        self.min_domains = int(c.get("minDomains") or 1)
        self.honor_affinity = (c.get("nodeAffinityPolicy") or "Honor") == "Honor"
        self.honor_taints = (c.get("nodeTaintsPolicy") or "Ignore") == "Honor"
        try:
            sel = labels.from_label_selector(c.get("labelSelector"))
            extra = [labels.Requirement.make(k, labels.IN, [pod.labels[k]])
                     for k in c.get("matchLabelKeys") or [] if k in pod.labels]
            self.selector = selectors.intern(sel.add(*extra) if extra else sel)
        except labels.SelectorError:
            self.selector = labels.NOTHING


def default_constraints(pod: framework.PodInfo, selector: labels.Selector) -> list[Constraint]:
    out = []
    for key, skew in SYSTEM_DEFAULTS:
        c = Constraint({"topologyKey": key, "maxSkew": skew, "whenUnsatisfiable": SCHEDULE_ANYWAY}, pod)
        c.selector = selector
        out.append(c)
    return out


def constraints(pod: framework.PodInfo, when: str) -> list[Constraint]:
    key = "spread/" + when
    got = pod.compiled.get(key)
    if got is None:
        got = pod.compiled[key] = [Constraint(c, pod) for c in (pod.pod.get("spec") or {}).get(
            "topologySpreadConstraints") or [] if c.get("whenUnsatisfiable", DO_NOT_SCHEDULE) == when]
    return got


def _qualifies(c: Constraint, pod: framework.PodInfo, ni: framework.NodeInfo, tolerations: list[Any]) -> bool:
    if c.honor_affinity and not podfit.matches_node(pod.pod, ni.node):
        return False
    return not (c.honor_taints and ni.taints and podfit.untolerated_taint(ni.taints, tolerations) is not None)


def count_matching(c: Constraint, pod: framework.PodInfo, ni: framework.NodeInfo) -> int:
    """Pods on the node in the pod's namespace that the constraint selects. Cached
    on the node until its pods change: consecutive pods of one workload ask the
    same question of hundreds of unchanged nodes."""
    sel = c.selector
    key = (pod.namespace, id(sel))
    hit = ni.match_cache.get(key)
    if hit is not None and hit[0] == ni.generation and hit[2] is sel:
        return int(hit[1])
    n = sum(1 for p in ni.pods.values()
            if p.namespace == pod.namespace and not p.terminating and sel.matches(p.labels))
    ni.match_cache[key] = (ni.generation, n, sel)
    return n


def _counts(cs: list[Constraint], pod: framework.PodInfo,
            nodes: list[framework.NodeInfo]) -> list[dict[str, int]]:
    """Per constraint: matching pods per domain value over the qualifying nodes."""
    tols = podfit.pod_tolerations(pod.pod)
    keys = [c.key for c in cs]
    out: list[dict[str, int]] = [defaultdict(int) for _ in cs]
    for ni in nodes:
        lbl = ni.labels
        if not all(k in lbl for k in keys):
            continue
        for i, c in enumerate(cs):
            if _qualifies(c, pod, ni, tols):
                out[i][lbl[c.key]] += count_matching(c, pod, ni)
    return out


class PodTopologySpread:
    NAME = NAME

    def __init__(self, handle: framework.Handle) -> None:
        self.handle = handle

    def pre_filter(self, state: framework.CycleState, pod: framework.PodInfo) -> framework.Status | None:
        cs = constraints(pod, DO_NOT_SCHEDULE)
        if not cs:
            return framework.SKIP
        counts = _counts(cs, pod, self.handle.snapshot.node_infos())
        mins = []
        for c, per_domain in zip(cs, counts, strict=True):
            low = min(per_domain.values(), default=0)
            mins.append(0 if len(per_domain) < c.min_domains else low)
        state[_PRE] = (cs, counts, mins)
        return None

    def filter(self, state: framework.CycleState, pod: framework.PodInfo,
               ni: framework.NodeInfo) -> framework.Status | None:
        cs, counts, mins = state[_PRE]
        for c, per_domain, low in zip(cs, counts, mins, strict=True):
            val = ni.labels.get(c.key)
            if val is None:
                return framework.unresolvable(REASON_MISSING_LABEL)
            self_match = 1 if c.selector.matches(pod.labels) else 0
            if per_domain.get(val, 0) + self_match - low > c.max_skew:
                return framework.unschedulable(REASON)
        return None

    def _score_constraints(self, pod: framework.PodInfo) -> tuple[list[Constraint], bool]:
        """The ScheduleAnyway constraints, or upstream's system defaults for a pod
        with no constraints at all (when something selects it); and whether they
        are the defaults."""
        if (pod.pod.get("spec") or {}).get("topologySpreadConstraints"):
            return constraints(pod, SCHEDULE_ANYWAY), False
        sel = self.handle.default_selector(pod)
        if sel is None:
            return [], True
        return default_constraints(pod, sel), True

    def pre_score(self, state: framework.CycleState, pod: framework.PodInfo,
                  nodes: list[framework.NodeInfo]) -> framework.Status | None:
        cs, defaulted = self._score_constraints(pod)
        if not cs:
            return framework.SKIP
        ignored: set[str] = set()
        pairs: list[dict[str, int]] = [{} for _ in cs]
        sizes = [0] * len(cs)
        for ni in nodes:
            lbl = ni.labels
            if not defaulted and not all(c.key in lbl for c in cs):
                ignored.add(ni.name)  # user constraints need every key on the node
                continue
            for i, c in enumerate(cs):
                if c.key != HOSTNAME and c.key in lbl:
                    pairs[i].setdefault(lbl[c.key], 0)
        for i, c in enumerate(cs):
            sizes[i] = len(nodes) - len(ignored) if c.key == HOSTNAME else len(pairs[i])
        # Domains other than the node itself: count over all nodes, but only the
        # domains some candidate is in (per-node counts are done in score()).
        # Skipped when no candidate has such a domain (e.g. nodes without zone
        # labels): then there is nothing to count, and the walk over every node
        # would dominate scheduling on large clusters.
        wide = [i for i, c in enumerate(cs) if c.key != HOSTNAME and pairs[i]]
        if wide:
            tols = podfit.pod_tolerations(pod.pod)
            for ni in self.handle.snapshot.node_infos():
                if not ni.pods:
                    continue
                for i in wide:
                    c = cs[i]
                    val = ni.labels.get(c.key)
                    if val is None or val not in pairs[i] or not _qualifies(c, pod, ni, tols):
                        continue
                    pairs[i][val] += count_matching(c, pod, ni)
        weights = [math.log(n + 2) for n in sizes]
        state[_SCORE] = (cs, pairs, weights, ignored)
        return None

    def score(self, state: framework.CycleState, pod: framework.PodInfo,
              nodes: list[framework.NodeInfo]) -> list[int]:
        cs, pairs, weights, ignored = state[_SCORE]
        out = []
        for ni in nodes:
            if ni.name in ignored:
                out.append(-1)  # ignored: scores 0 after normalizing
                continue
            s = 0.0
            for c, per_domain, w in zip(cs, pairs, weights, strict=True):
                val = ni.labels.get(c.key)
                if val is None:
                    continue
                cnt = count_matching(c, pod, ni) if c.key == HOSTNAME else per_domain.get(val, 0)
                s += cnt * w + (c.max_skew - 1)
            out.append(round(s))
        return out

    def normalize(self, state: framework.CycleState, pod: framework.PodInfo, scores: list[int]) -> None:
        valid = [s for s in scores if s >= 0]
        if not valid:
            scores[:] = [0] * len(scores)
            return
        lo, hi = min(valid), max(valid)
        for i, s in enumerate(scores):
            if s < 0:
                scores[i] = 0
            elif hi == 0:
                scores[i] = framework.MAX_NODE_SCORE
            else:
                scores[i] = framework.MAX_NODE_SCORE * (hi + lo - s) // hi
