"""The scheduling queue: priority order, backoff, unschedulable pods and moves."""

from __future__ import annotations

from kubeling.client import clock as clocklib
from kubeling.scheduler import queue as queuelib
from tests.scheduler import objects as o


def make(clock: clocklib.FakeClock) -> queuelib.SchedulingQueue:
    return queuelib.SchedulingQueue(clock=clock)


def test_pops_by_priority_then_age() -> None:
    clock = clocklib.FakeClock()
    q = make(clock)
    q.add(o.info(o.pod("low", priority=1)))
    clock.step(1)
    q.add(o.info(o.pod("high-late", priority=10)))
    q.add(o.info(o.pod("low-late", priority=1)))
    q.add(o.info(o.pod("high-later", priority=10)))
    order = [q.pop_nowait().info.name for _ in range(4)]  # type: ignore[union-attr]
    assert order == ["high-late", "high-later", "low", "low-late"]
    assert q.pop_nowait() is None


def test_backoff_doubles_up_to_ten_seconds() -> None:
    clock = clocklib.FakeClock()
    q = make(clock)
    q.add(o.info(o.pod("p")))
    waits = []
    qp = q.pop_nowait()
    for _ in range(6):
        assert qp is not None
        q.add_backoff(qp)
        assert q.where("default/p") == queuelib.BACKOFF
        start = clock.now()
        while (got := q.pop_nowait()) is None:
            clock.step(0.5)
        assert got is qp
        waits.append(clock.now() - start)
    assert waits == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_unschedulable_waits_for_an_event() -> None:
    clock = clocklib.FakeClock()
    q = make(clock)
    q.add(o.info(o.pod("p")))
    qp = q.pop_nowait()
    assert qp is not None
    q.add_unschedulable(qp)
    assert q.where("default/p") == queuelib.UNSCHEDULABLE
    clock.step(60)
    assert q.pop_nowait() is None
    q.move_all_to_active("NodeAdd")
    assert q.pop_nowait() is qp  # its 1 s backoff has passed: straight to activeQ


def test_move_during_the_cycle_sends_pod_to_backoff_not_unschedulable() -> None:
    clock = clocklib.FakeClock()
    q = make(clock)
    q.add(o.info(o.pod("p")))
    qp = q.pop_nowait()
    assert qp is not None
    q.move_all_to_active("NodeAdd")  # a node arrived while the pod was being tried
    q.add_unschedulable(qp)
    assert q.where("default/p") == queuelib.BACKOFF
    clock.step(1)
    assert q.pop_nowait() is qp


def test_event_moves_only_pods_it_can_help() -> None:
    clock = clocklib.FakeClock()
    q = make(clock)
    q.add(o.info(o.pod("a")))
    q.add(o.info(o.pod("b")))
    qa, qb = q.pop_nowait(), q.pop_nowait()
    assert qa is not None and qb is not None
    q.add_unschedulable(qa, plugins={"InterPodAffinity"})
    q.add_unschedulable(qb, plugins={"NodeResourcesFit"})
    clock.step(5)
    q.move_all_to_active("AssignedPodAdd", only_plugins=frozenset({"InterPodAffinity"}))
    assert q.where("default/a") == queuelib.ACTIVE
    assert q.where("default/b") == queuelib.UNSCHEDULABLE


def test_unschedulable_pods_are_flushed_after_five_minutes() -> None:
    clock = clocklib.FakeClock()
    q = make(clock)
    q.add(o.info(o.pod("p")))
    qp = q.pop_nowait()
    assert qp is not None
    q.add_unschedulable(qp)
    clock.step(299)
    q.flush_unschedulable()
    assert q.where("default/p") == queuelib.UNSCHEDULABLE
    clock.step(1)
    q.flush_unschedulable()
    assert q.where("default/p") == queuelib.ACTIVE


def test_update_of_unschedulable_pod_requeues_it_and_delete_forgets() -> None:
    clock = clocklib.FakeClock()
    q = make(clock)
    q.add(o.info(o.pod("p")))
    qp = q.pop_nowait()
    assert qp is not None
    q.add_unschedulable(qp)
    clock.step(2)
    q.update(o.info(o.pod("p", labels={"new": "label"})))
    assert q.where("default/p") == queuelib.ACTIVE
    q.delete("default/p")
    assert q.pop_nowait() is None and len(q) == 0
