"""One scheduling decision, without the API: filter, score, select a host.

* Only a sample of nodes is searched for feasible ones (upstream's
  percentageOfNodesToScore, adaptive by default: 50% minus 1% per 125 nodes,
  at least 5%, and never fewer than 100 nodes), starting where the previous
  cycle stopped so every node gets its turn.
* A plugin whose ``pre_filter``/``pre_score`` answers SKIP sits the cycle out.
* Pods nominated to a node (after preemption) with priority at least the
  pod's are counted on it while filtering, so the space they wait for is not
  given away.
* Ties between top scores are broken at random.
* No fit raises :class:`FitError` carrying each node's refusal, which formats
  to upstream's ``0/N nodes are available: ...`` message.
"""

from __future__ import annotations

import collections
import functools
import random
from collections.abc import Callable

from kubeling.scheduler import cache as cachelib
from kubeling.scheduler import framework, registry

NO_NODES = "no nodes available to schedule pods"
MIN_FEASIBLE_NODES_TO_FIND = 100
MIN_FEASIBLE_PERCENTAGE = 5
DEFAULT_PERCENTAGE = 50

Nominator = Callable[[str], list[framework.PodInfo]]


def reasons_message(num_nodes: int, statuses: dict[str, framework.Status]) -> str:
    hist: collections.Counter[str] = collections.Counter()
    for st in statuses.values():
        hist.update(st.reasons)
    parts = sorted(f"{n} {r}" for r, n in hist.items())
    return f"0/{num_nodes} nodes are available: {', '.join(parts)}."


class FitError(Exception):
    def __init__(self, pod: framework.PodInfo, num_nodes: int, statuses: dict[str, framework.Status]) -> None:
        super().__init__()
        self.pod = pod
        self.num_nodes = num_nodes
        self.statuses = statuses
        self.post_filter_message = ""

    def __str__(self) -> str:
        if self.num_nodes == 0:
            return NO_NODES
        msg = reasons_message(self.num_nodes, self.statuses)
        return f"{msg} {self.post_filter_message}" if self.post_filter_message else msg


def num_feasible_to_find(num_nodes: int, percentage: int = 0) -> int:
    if num_nodes < MIN_FEASIBLE_NODES_TO_FIND:
        return num_nodes
    pct = percentage
    if pct <= 0:
        pct = max(DEFAULT_PERCENTAGE - num_nodes // 125, MIN_FEASIBLE_PERCENTAGE)
    n = num_nodes * pct // 100
    return max(n, MIN_FEASIBLE_NODES_TO_FIND) if n < num_nodes else num_nodes


class Algorithm:
    """``nominated(node)`` lists the pods nominated to a node; ``has_nominations()``
    says cheaply whether there are any (the fast path skips them altogether)."""

    def __init__(self, profile: registry.Profile, cache: cachelib.Cache, *, percentage: int = 0,
                 nominated: Nominator | None = None, has_nominations: Callable[[], bool] | None = None,
                 rng: random.Random | None = None) -> None:
        self.profile = profile
        self.cache = cache
        self.percentage = percentage
        self.nominated: Nominator = nominated or (lambda node: [])
        self.has_nominations: Callable[[], bool] = has_nominations or (lambda: nominated is not None)
        self.rng = rng or random.Random()
        self.next_start = 0

    def schedule(self, pod: framework.PodInfo) -> tuple[str, framework.CycleState]:
        """The chosen node's name; raises FitError when none fits."""
        nodes = self.cache.node_infos()
        state = framework.CycleState()
        if not nodes:
            raise FitError(pod, 0, {})
        feasible, statuses = self.find_nodes_that_fit(state, pod, nodes)
        if not feasible:
            raise FitError(pod, len(nodes), statuses)
        if len(feasible) == 1:
            return feasible[0].name, state
        totals = self.prioritize(state, pod, feasible)
        top = max(totals)
        best = [i for i, t in enumerate(totals) if t == top]
        return feasible[best[0] if len(best) == 1 else self.rng.choice(best)].name, state

    def run_filters(self, state: framework.CycleState, pod: framework.PodInfo,
                    filters: list[tuple[str, framework.NodeFilter]],
                    ni: framework.NodeInfo) -> framework.Status | None:
        """All filters on one node, counting nominated pods of at least equal priority."""
        nominated = [p for p in self.nominated(ni.name) if p.priority >= pod.priority and p.key != pod.key] \
            if self.has_nominations() else []
        if nominated:
            with_them = ni.clone()
            for p in nominated:
                with_them.add_pod(p)
            for name, f in filters:
                st = f(with_them)
                if st is not None:
                    st.plugin = name
                    return st
        for name, f in filters:
            st = f(ni)
            if st is not None:
                st.plugin = name
                return st
        return None

    def active_filters(self, state: framework.CycleState, pod: framework.PodInfo
                       ) -> tuple[list[tuple[str, framework.NodeFilter]], framework.Status | None]:
        skipped = set()
        for p in self.profile.pre_filter:
            st = p.pre_filter(state, pod)
            if st is framework.SKIP:
                skipped.add(p.NAME)
            elif st is not None:
                st.plugin = p.NAME
                return [], st
        out: list[tuple[str, framework.NodeFilter]] = [
            (p.NAME, functools.partial(p.filter, state, pod)) for p in self.profile.filter if p.NAME not in skipped]
        return out, None

    def find_nodes_that_fit(self, state: framework.CycleState, pod: framework.PodInfo,
                            nodes: list[framework.NodeInfo]
                            ) -> tuple[list[framework.NodeInfo], dict[str, framework.Status]]:
        filters, refused = self.active_filters(state, pod)
        if refused is not None:  # a pre-filter refused the pod outright: no node can take it
            return [], {ni.name: refused for ni in nodes}
        statuses: dict[str, framework.Status] = {}
        # A pod nominated to a node after preemption tries that node first.
        nominated_node = (pod.pod.get("status") or {}).get("nominatedNodeName")
        if nominated_node:
            ni = self.cache.get(nominated_node)
            if ni is not None and self.run_filters(state, pod, filters, ni) is None:
                return [ni], statuses
        n = len(nodes)
        need = num_feasible_to_find(n, self.percentage)
        start = self.next_start % n
        order = nodes[start:] + nodes[:start] if start else nodes
        feasible: list[framework.NodeInfo] = []
        processed = 0
        if self.has_nominations():
            for ni in order:
                processed += 1
                st = self.run_filters(state, pod, filters, ni)
                if st is None:
                    feasible.append(ni)
                    if len(feasible) >= need:
                        break
                else:
                    statuses[ni.name] = st
        else:
            batches = self._batch_filters(state, pod, filters, statuses)
            # Chunks of exactly the number still wanted: never more feasible nodes than
            # needed, and ``processed`` is exact for the rotation.
            while processed < n and len(feasible) < need:
                chunk = order[processed:processed + need - len(feasible)]
                processed += len(chunk)
                for batch in batches:
                    chunk = batch(chunk)
                    if not chunk:
                        break
                feasible.extend(chunk)
        self.next_start = (start + processed) % n
        return feasible, statuses

    def _batch_filters(self, state: framework.CycleState, pod: framework.PodInfo,
                       filters: list[tuple[str, framework.NodeFilter]], statuses: dict[str, framework.Status]
                       ) -> list[Callable[[list[framework.NodeInfo]], list[framework.NodeInfo]]]:
        plugins = {p.NAME: p for p in self.profile.filter}
        out: list[Callable[[list[framework.NodeInfo]], list[framework.NodeInfo]]] = []
        for name, f in filters:
            keep = _keeper(name, f, statuses)
            batch = getattr(plugins[name], "filter_nodes", None)
            if batch is not None:
                out.append(functools.partial(batch, state, pod, keep=keep))
            else:
                out.append(functools.partial(_generic_batch, keep))
        return out

    def prioritize(self, state: framework.CycleState, pod: framework.PodInfo,
                   feasible: list[framework.NodeInfo]) -> list[int]:
        skipped = set()
        for p in self.profile.pre_score:
            if p.pre_score(state, pod, feasible) is framework.SKIP:
                skipped.add(p.NAME)
        totals = [0] * len(feasible)
        for p, weight in self.profile.score:
            if p.NAME in skipped:
                continue
            scores = p.score(state, pod, feasible)
            normalize = getattr(p, "normalize", None)
            if normalize is not None:
                normalize(state, pod, scores)
            totals = [t + s * weight for t, s in zip(totals, scores, strict=True)]
        return totals


def _keeper(name: str, f: framework.NodeFilter, statuses: dict[str, framework.Status]) -> framework.Keep:
    def keep(ni: framework.NodeInfo) -> bool:
        st = f(ni)
        if st is None:
            return True
        st.plugin = name
        statuses[ni.name] = st
        return False
    return keep


def _generic_batch(keep: framework.Keep, nodes: list[framework.NodeInfo]) -> list[framework.NodeInfo]:
    return [ni for ni in nodes if keep(ni)]
