"""DefaultPreemption (the PostFilter): when no node fits a pod, find a node
where evicting lower-priority pods would make it fit, evict them, and
nominate the node for the pod (``status.nominatedNodeName``).

Choosing (upstream's rules, in order):

1. Pods with ``preemptionPolicy: Never`` never preempt; neither does a pod
   whose nominated node still has lower-priority pods terminating (it waits).
2. Nodes refused for an unresolvable reason (affinity, taints, ...) are not
   helpful; on the others every lower-priority pod is removed in a what-if
   copy of the node; if the pod then fits, victims are *reprieved* one by one,
   most important first, as long as it still fits.
3. Among candidate nodes: the lowest highest-victim priority, then the lowest
   sum of victim priorities, then the fewest victims, then the latest start
   of the most important victims, then the first found.

Victims get the ``DisruptionTarget`` condition and a ``Preempted`` event,
then are deleted; lower-priority pods nominated to the same node lose their
nomination. The computation is pure (cache + filters); ``execute`` writes.

PodDisruptionBudgets are not consulted when choosing (upstream prefers
candidates that violate fewer of them).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random

from kubeling.client import events, rest
from kubeling.lib import timeutil
from kubeling.scheduler import algorithm as algorithmlib
from kubeling.scheduler import framework

log = logging.getLogger(__name__)

NAME = "DefaultPreemption"
NOT_HELPFUL = "Preemption is not helpful for scheduling"
NO_VICTIMS = "No preemption victims found for incoming pod"
NEVER = "not eligible due to preemptionPolicy=Never."
TERMINATING = "not eligible due to a terminating pod on the nominated node."
MIN_CANDIDATE_PERCENTAGE = 10
MIN_CANDIDATE_ABSOLUTE = 100
_PRIORITY_OFFSET = 2**31  # keeps sums of (possibly negative) priorities comparable, as upstream


@dataclasses.dataclass
class Candidate:
    node: str
    victims: list[framework.PodInfo]


def _importance(p: framework.PodInfo) -> tuple[int, str]:
    return (-p.priority, p.start_time)


class DefaultPreemption:
    NAME = NAME

    def __init__(self, algo: algorithmlib.Algorithm, *, rng: random.Random | None = None) -> None:
        self.algo = algo
        self.rng = rng or random.Random()

    def eligible(self, pod: framework.PodInfo, statuses: dict[str, framework.Status]) -> str:
        """Empty when ``pod`` may preempt, else why not. A pod already nominated
        waits for its victims to go, unless its node has become hopeless."""
        if (pod.pod.get("spec") or {}).get("preemptionPolicy") == "Never":
            return NEVER
        nominated = (pod.pod.get("status") or {}).get("nominatedNodeName")
        st = statuses.get(nominated or "")
        if nominated and not (st is not None and st.unresolvable):
            ni = self.algo.cache.get(nominated)
            if ni is not None and any(p.terminating and p.priority < pod.priority for p in ni.pods.values()):
                return TERMINATING
        return ""

    def fits_without(self, pod: framework.PodInfo, ni: framework.NodeInfo,
                     removed: list[framework.PodInfo]) -> framework.Status | None:
        """Would ``pod`` pass every filter on ``ni`` were ``removed`` gone? The pods
        are taken off the cached node for the question (the cycle is synchronous:
        nothing else sees it) and put back; pre-filters run again so counts that
        span nodes (pod affinity, topology spread) see the removal too."""
        for p in removed:
            ni.remove_pod(p)
        try:
            state = framework.CycleState()
            filters, refused = self.algo.active_filters(state, pod)
            if refused is not None:
                return refused
            return self.algo.run_filters(state, pod, filters, ni)
        finally:
            for p in removed:
                ni.add_pod(p)

    def select_victims(self, pod: framework.PodInfo,
                       ni: framework.NodeInfo) -> tuple[list[framework.PodInfo], framework.Status | None]:
        potential = sorted((p for p in ni.pods.values() if p.priority < pod.priority), key=_importance)
        if not potential:
            return [], framework.unresolvable(NO_VICTIMS)
        st = self.fits_without(pod, ni, potential)
        if st is not None:
            return [], st
        kept: set[str] = set()
        victims = []
        for p in potential:  # most important first: keep whatever can stay
            kept.add(p.key)
            if self.fits_without(pod, ni, [q for q in potential if q.key not in kept]) is not None:
                kept.discard(p.key)
                victims.append(p)
        return victims, None

    def find(self, pod: framework.PodInfo,
             statuses: dict[str, framework.Status]) -> tuple[Candidate | None, str]:
        """The node and victims to evict, or None with the message for the event."""
        why = self.eligible(pod, statuses)
        if why:
            return None, why
        nodes = self.algo.cache.node_infos()
        verdicts: dict[str, framework.Status] = {}
        potential = []
        for ni in nodes:
            st = statuses.get(ni.name)
            if st is not None and st.unresolvable:
                verdicts[ni.name] = framework.unresolvable(NOT_HELPFUL)
            else:
                potential.append(ni)
        want = min(max(len(nodes) * MIN_CANDIDATE_PERCENTAGE // 100, MIN_CANDIDATE_ABSOLUTE), len(nodes))
        candidates: list[Candidate] = []
        offset = self.rng.randrange(len(potential)) if potential else 0
        for i in range(len(potential)):
            ni = potential[(offset + i) % len(potential)]
            victims, st = self.select_victims(pod, ni)
            if st is None:
                candidates.append(Candidate(ni.name, victims))
                if len(candidates) >= want:
                    break
            else:
                verdicts[ni.name] = st
        if not candidates:
            return None, algorithmlib.reasons_message(len(nodes), verdicts)
        return pick(candidates), ""


def pick(candidates: list[Candidate]) -> Candidate:
    def rank(c: Candidate) -> tuple[int, int, int, str]:
        if not c.victims:
            return (-_PRIORITY_OFFSET * 2, 0, 0, "")
        top = max(v.priority for v in c.victims)
        total = sum(v.priority + _PRIORITY_OFFSET for v in c.victims)
        earliest_top = min(v.start_time for v in c.victims if v.priority == top)
        # Later start of the most important victims is better: invert the string order.
        inverted = "".join(chr(0x10FFFF - ord(ch)) for ch in earliest_top)
        return (top, total, len(c.victims), inverted)
    return min(candidates, key=rank)


def disruption_condition(profile: str) -> framework.Obj:
    return {"type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
            "message": f"{profile}: preempting to accommodate a higher priority pod",
            "lastTransitionTime": timeutil.rfc3339()}


async def execute(client: rest.Client, recorder: events.Recorder, pod: framework.PodInfo, candidate: Candidate,
                  *, profile: str, lower_nominated: list[framework.PodInfo]) -> None:
    """Evict the victims, drop weaker nominations to the node, nominate it for ``pod``."""
    async def evict(v: framework.PodInfo) -> None:
        try:
            await client.patch(rest.PODS, v.name, {"status": {"conditions": [disruption_condition(profile)]}},
                               namespace=v.namespace, subresource="status", patch_type="strategic")
            await client.delete(rest.PODS, v.name, namespace=v.namespace,
                                preconditions={"uid": v.uid} if v.uid else None)
        except rest.NotFound:
            return
        recorder.event(v.pod, events.NORMAL, "Preempted",
                       f"Preempted by pod {pod.uid} on node {candidate.node}")

    await asyncio.gather(*(evict(v) for v in candidate.victims))
    for p in lower_nominated:
        try:
            await client.patch(rest.PODS, p.name, {"status": {"nominatedNodeName": None}},
                               namespace=p.namespace, subresource="status", patch_type="merge")
        except rest.NotFound:
            pass
    await client.patch(rest.PODS, pod.name, {"status": {"nominatedNodeName": candidate.node}},
                       namespace=pod.namespace, subresource="status", patch_type="merge")
