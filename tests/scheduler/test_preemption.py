"""Choosing preemption victims and nodes (pure: cache + filters)."""

from __future__ import annotations

import random

import pytest

from kubeling.scheduler import algorithm, framework, preemption
from tests.scheduler import objects as o


def _setup(nodes: list[dict], pods: list[dict]) -> tuple[algorithm.Algorithm, preemption.DefaultPreemption]:
    c = o.cache_of(nodes, pods)
    algo = algorithm.Algorithm(o.profile(c), c, rng=random.Random(0))
    return algo, preemption.DefaultPreemption(algo, rng=random.Random(0))


def _find(algo: algorithm.Algorithm, pre: preemption.DefaultPreemption,
          pod: dict) -> tuple[preemption.Candidate | None, str]:
    pi = framework.PodInfo(pod)
    with pytest.raises(algorithm.FitError) as err:
        algo.schedule(pi)
    return pre.find(pi, err.value.statuses)


def test_evicts_the_fewest_lowest_priority_pods() -> None:
    nodes = [o.node("a", cpu="2"), o.node("b", cpu="2")]
    pods = [o.pod("a-low", cpu="1", priority=1, node_name="a"), o.pod("a-mid", cpu="1", priority=5, node_name="a"),
            o.pod("b-mid1", cpu="1", priority=5, node_name="b"), o.pod("b-mid2", cpu="1", priority=5, node_name="b")]
    algo, pre = _setup(nodes, pods)
    cand, msg = _find(algo, pre, o.pod("vip", cpu="1", priority=10))
    assert msg == "" and cand is not None
    assert cand.node == "a" and [v.name for v in cand.victims] == ["a-low"]


def test_reprieves_victims_that_can_stay() -> None:
    algo, pre = _setup([o.node("a", cpu="3")], [o.pod("x", cpu="1", priority=1, node_name="a"),
                                                o.pod("y", cpu="1", priority=2, node_name="a"),
                                                o.pod("z", cpu="1", priority=3, node_name="a")])
    cand, _ = _find(algo, pre, o.pod("vip", cpu="2", priority=10))
    assert cand is not None and sorted(v.name for v in cand.victims) == ["x", "y"]


def test_never_preempts_equal_or_higher_priority() -> None:
    algo, pre = _setup([o.node("a", cpu="1")], [o.pod("x", cpu="1", priority=10, node_name="a")])
    cand, msg = _find(algo, pre, o.pod("p", cpu="1", priority=10))
    assert cand is None
    assert msg == "0/1 nodes are available: 1 No preemption victims found for incoming pod."


def test_unresolvable_nodes_are_not_helpful() -> None:
    # a: evicting "low" would not free enough cpu; b: tainted (unresolvable), so not even tried
    algo, pre = _setup([o.node("a", cpu="1"), o.node("b", cpu="1", taints=[{"key": "k", "effect": "NoSchedule"}])],
                       [o.pod("low", cpu="1", priority=0, node_name="a")])
    cand, msg = _find(algo, pre, o.pod("p", cpu="2", priority=10))
    assert cand is None
    assert msg == ("0/2 nodes are available: 1 Insufficient cpu, 1 Preemption is not helpful for scheduling.")


def test_preemption_policy_never() -> None:
    algo, pre = _setup([o.node("a", cpu="1")], [o.pod("x", cpu="1", priority=1, node_name="a")])
    cand, msg = _find(algo, pre, o.pod("p", cpu="1", priority=10, spec={"preemptionPolicy": "Never"}))
    assert cand is None and msg == "not eligible due to preemptionPolicy=Never."


def test_pick_prefers_lower_victim_priority_then_fewer_victims() -> None:
    def v(name: str, prio: int, start: str = "2026-01-01T00:00:00Z") -> framework.PodInfo:
        p = o.pod(name, priority=prio)
        p["status"] = {"startTime": start}
        return framework.PodInfo(p)
    a = preemption.Candidate("a", [v("a1", 5)])
    b = preemption.Candidate("b", [v("b1", 1), v("b2", 1)])
    c = preemption.Candidate("c", [v("c1", 1)])
    assert preemption.pick([a, b, c]).node == "c"
    early = preemption.Candidate("early", [v("e", 1, "2026-01-01T00:00:00Z")])
    late = preemption.Candidate("late", [v("l", 1, "2026-01-02T00:00:00Z")])
    assert preemption.pick([early, late]).node == "late"


def test_evicting_an_anti_affine_pod_counts() -> None:
    # The only node holds a low-priority pod whose anti-affinity refuses the preemptor;
    # evicting it (not for resources) is what makes room.
    anti = {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "vip"}}, "topologyKey": "kubernetes.io/hostname"}]}}}
    algo, pre = _setup([o.node("a")], [o.pod("grumpy", priority=1, node_name="a", spec=anti),
                                       o.pod("calm", priority=1, node_name="a")])
    cand, msg = _find(algo, pre, o.pod("vip", priority=10, labels={"app": "vip"}))
    assert msg == "" and cand is not None and [v.name for v in cand.victims] == ["grumpy"]
    ni = algo.cache.get("a")
    assert ni is not None and len(ni.pods) == 2 and ni.pods_with_anti_affinity  # the cache is left as it was


def test_a_nominated_pod_waits_for_its_victims_to_terminate() -> None:
    leaving = o.pod("leaving", cpu="1", priority=1, node_name="a")
    leaving["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    algo, pre = _setup([o.node("a", cpu="1")], [leaving])
    p = o.pod("vip", cpu="1", priority=10)
    p["status"] = {"nominatedNodeName": "a"}
    cand, msg = _find(algo, pre, p)
    assert cand is None and msg == "not eligible due to a terminating pod on the nominated node."
