"""Filter + score + select without the API: sampling, rotation, messages."""

from __future__ import annotations

import random

import pytest

from kubeling.scheduler import algorithm
from tests.scheduler import objects as o


@pytest.mark.parametrize(("nodes", "want"), [(50, 50), (100, 100), (500, 230), (1000, 420), (5000, 500),
                                             (6000, 300), (20000, 1000)])
def test_num_feasible_nodes_to_find(nodes: int, want: int) -> None:
    assert algorithm.num_feasible_to_find(nodes) == want


def test_explicit_percentage() -> None:
    assert algorithm.num_feasible_to_find(1000, 100) == 1000
    assert algorithm.num_feasible_to_find(1000, 1) == 100  # never fewer than 100


def _algo(nodes: list[dict], pods: list[dict] = ()) -> algorithm.Algorithm:  # type: ignore[assignment]
    c = o.cache_of(nodes, pods)
    return algorithm.Algorithm(o.profile(c), c, rng=random.Random(0))


def test_picks_the_only_fitting_node() -> None:
    algo = _algo([o.node("small", cpu="1"), o.node("big", cpu="8")])
    node, _ = algo.schedule(o.info(o.pod("p", cpu="2")))
    assert node == "big"


def test_prefers_least_allocated() -> None:
    algo = _algo([o.node("a"), o.node("b")], [o.pod("x", cpu="3", memory="6Gi", node_name="a")])
    assert algo.schedule(o.info(o.pod("p", cpu="100m", memory="100Mi")))[0] == "b"


def test_fit_error_message_has_upstream_shape() -> None:
    nodes = [o.node("a", cpu="1"), o.node("b", cpu="1", labels={"disk": "hdd"}),
             o.node("c", cpu="1", labels={"disk": "hdd"})]
    algo = _algo(nodes)
    p = o.pod("p", cpu="2", spec={"nodeSelector": {"disk": "hdd"}})
    # a: selector mismatch; b, c: too little cpu
    with pytest.raises(algorithm.FitError) as err:
        algo.schedule(o.info(p))
    assert str(err.value) == ("0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
                              "2 Insufficient cpu.")
    err.value.post_filter_message = ("preemption: 0/3 nodes are available: 3 Preemption is not helpful for "
                                     "scheduling.")
    assert str(err.value).endswith("2 Insufficient cpu. preemption: 0/3 nodes are available: "
                                   "3 Preemption is not helpful for scheduling.")


def test_no_nodes() -> None:
    with pytest.raises(algorithm.FitError) as err:
        _algo([]).schedule(o.info(o.pod("p")))
    assert str(err.value) == "no nodes available to schedule pods"


def test_rotation_spreads_evaluation_over_all_nodes() -> None:
    nodes = [o.node(f"n{i:03}") for i in range(200)]
    algo = _algo(nodes)
    # 200 nodes: 100 feasible nodes are looked for each cycle, starting where the last stopped
    assert algorithm.num_feasible_to_find(200) == 100
    starts = []
    for i in range(3):
        starts.append(algo.next_start)
        algo.schedule(o.info(o.pod(f"p{i}")))
    assert starts == [0, 100, 0] and algo.next_start == 100


def test_nominated_pods_hold_their_space() -> None:
    c = o.cache_of([o.node("only", cpu="1")])
    waiting = o.info(o.pod("vip", cpu="800m", priority=100))
    algo = algorithm.Algorithm(o.profile(c), c, nominated=lambda n: [waiting] if n == "only" else [])
    with pytest.raises(algorithm.FitError):
        algo.schedule(o.info(o.pod("small", cpu="500m", priority=1)))
    # an equally important pod is not held back... by itself, and a more important one ignores it
    assert algo.schedule(o.info(o.pod("vip", cpu="800m", priority=100)))[0] == "only"
    assert algo.schedule(o.info(o.pod("boss", cpu="500m", priority=1000)))[0] == "only"
