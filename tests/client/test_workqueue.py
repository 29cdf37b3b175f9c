from __future__ import annotations

import asyncio

import pytest

from kubeling.client import clock as clocklib
from kubeling.client import workqueue


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def fake_queue(**kw: object) -> tuple[workqueue.WorkQueue[str], clocklib.FakeClock]:
    clock = clocklib.FakeClock()
    return workqueue.WorkQueue(clock=clock, **kw), clock  # type: ignore[arg-type]


async def test_waiting_keys_are_deduplicated_and_fifo() -> None:
    q: workqueue.WorkQueue[str] = workqueue.WorkQueue()
    for k in ("a", "b", "a", "c", "b"):
        q.add(k)
    assert len(q) == 3 and q.len() == 3
    assert [await q.get() for _ in range(3)] == ["a", "b", "c"]
    assert len(q) == 0 and q.processing == 3


async def test_key_held_by_a_worker_is_not_handed_out_again() -> None:
    q: workqueue.WorkQueue[str] = workqueue.WorkQueue()
    q.add("a")
    assert await q.get() == "a"
    q.add("a")  # changed while being processed
    q.add("a")
    assert len(q) == 0
    second = asyncio.create_task(q.get())
    await settle()
    assert not second.done()
    q.done("a")  # ... so it is queued again, once
    assert await asyncio.wait_for(second, 5) == "a"
    q.done("a")
    assert len(q) == 0 and q.processing == 0


async def test_done_without_readd_forgets_the_key() -> None:
    q: workqueue.WorkQueue[str] = workqueue.WorkQueue()
    q.add("a")
    await q.get()
    q.done("a")
    assert len(q) == 0
    q.add("a")  # after done, a new add queues it normally
    assert len(q) == 1


async def test_other_keys_flow_while_one_is_processing() -> None:
    q: workqueue.WorkQueue[str] = workqueue.WorkQueue()
    q.add("a")
    await q.get()
    q.add("a")
    q.add("b")
    assert await q.get() == "b"


async def test_getters_wake_in_turn() -> None:
    q: workqueue.WorkQueue[str] = workqueue.WorkQueue()
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await settle()
    q.add("x")
    q.add("y")
    await settle()
    got = sorted(g.result() for g in getters if g.done())
    assert got == ["x", "y"]
    q.shut_down()
    with pytest.raises(workqueue.ShutDown):
        await asyncio.gather(*getters)


async def test_cancelled_getter_does_not_swallow_a_key() -> None:
    q: workqueue.WorkQueue[str] = workqueue.WorkQueue()
    g1 = asyncio.create_task(q.get())
    g2 = asyncio.create_task(q.get())
    await settle()
    q.add("k")
    g1.cancel()
    await settle()
    assert g2.done() and g2.result() == "k"


async def test_default_backoff_is_5ms_doubling_to_1000s() -> None:
    q, _ = fake_queue()
    delays = [q.rate_limiter.when("k") for _ in range(20)]
    assert delays[:4] == [0.005, 0.01, 0.02, 0.04]
    assert delays[-1] == 1000.0 and max(delays) == 1000.0
    assert q.num_requeues("k") == 20
    q.forget("k")
    assert q.num_requeues("k") == 0
    assert q.rate_limiter.when("k") == 0.005
    limiter = workqueue.ItemExponentialLimiter(base_delay=1, max_delay=3)
    assert [limiter.when("x") for _ in range(4)] == [1, 2, 3, 3]
    assert [limiter.when("other") for _ in range(2)] == [1, 2]  # per key
    assert workqueue.ItemExponentialLimiter().when("big") == 0.005
    big = workqueue.ItemExponentialLimiter()
    for _ in range(200):
        d = big.when("x")
    assert d == 1000.0


async def test_add_rate_limited_waits_the_backoff() -> None:
    q, clock = fake_queue()
    q.add_rate_limited("k")  # 5 ms
    assert len(q) == 0 and q.delayed == 1
    clock.step(0.004)
    assert len(q) == 0
    clock.step(0.001)
    assert len(q) == 1 and q.delayed == 0
    assert await q.get() == "k"
    q.add_rate_limited("k")  # 10 ms now; held, so it is queued after done
    clock.step(0.01)
    assert len(q) == 0
    q.done("k")
    assert len(q) == 1
    assert q.num_requeues("k") == 2


async def test_add_after_wakes_a_waiting_getter() -> None:
    q, clock = fake_queue()
    q.add_after("later", 10)
    getter = asyncio.create_task(q.get())
    await settle()
    assert not getter.done()
    clock.step(9.9)
    await settle()
    assert not getter.done()
    clock.step(0.1)
    assert await asyncio.wait_for(getter, 5) == "later"


async def test_add_after_keeps_the_earliest_time_per_key() -> None:
    q, clock = fake_queue()
    q.add_after("k", 10)
    q.add_after("k", 3)
    q.add_after("k", 20)
    assert q.delayed == 1
    clock.step(3)
    assert len(q) == 1
    clock.step(20)  # the superseded timers add nothing more
    assert len(q) == 1
    q.add_after("now", 0)
    assert len(q) == 2


async def test_add_after_while_queued_does_not_duplicate() -> None:
    q, clock = fake_queue()
    q.add("k")
    q.add_after("k", 1)
    clock.step(1)
    assert len(q) == 1


async def test_real_clock_delay() -> None:
    q: workqueue.WorkQueue[str] = workqueue.WorkQueue()
    q.add_after("k", 0.001)
    assert await asyncio.wait_for(q.get(), 5) == "k"


async def test_shutdown_drains_queue_then_raises_and_ignores_adds() -> None:
    q, clock = fake_queue()
    q.add("a")
    q.add_after("b", 1)
    q.shut_down()
    assert q.shutting_down
    q.add("c")
    clock.step(5)  # the delayed key was dropped
    assert len(q) == 1
    assert await q.get() == "a"
    with pytest.raises(workqueue.ShutDown):
        await q.get()


async def test_shutdown_ends_waiting_getters() -> None:
    q: workqueue.WorkQueue[str] = workqueue.WorkQueue()
    getters = [asyncio.create_task(q.get()) for _ in range(2)]
    await settle()
    q.shut_down()
    for g in getters:
        with pytest.raises(workqueue.ShutDown):
            await asyncio.wait_for(g, 5)


async def test_shut_down_with_drain_waits_for_held_keys() -> None:
    q: workqueue.WorkQueue[str] = workqueue.WorkQueue()
    q.add("a")
    await q.get()
    drained = asyncio.create_task(q.shut_down_with_drain())
    await settle()
    assert not drained.done()
    q.done("a")
    await asyncio.wait_for(drained, 5)


async def test_custom_rate_limiter() -> None:
    class Fixed:
        def __init__(self) -> None:
            self.forgotten: list[object] = []

        def when(self, key: object) -> float:
            return 7.0

        def forget(self, key: object) -> None:
            self.forgotten.append(key)

        def num_requeues(self, key: object) -> int:
            return 42

    limiter = Fixed()
    q, clock = fake_queue(rate_limiter=limiter)
    q.add_rate_limited("k")
    clock.step(6.9)
    assert len(q) == 0
    clock.step(0.1)
    assert len(q) == 1
    q.forget("k")
    assert limiter.forgotten == ["k"] and q.num_requeues("k") == 42


async def test_many_workers_never_overlap_on_a_key_and_lose_no_change() -> None:
    q: workqueue.WorkQueue[str] = workqueue.WorkQueue()
    active: set[str] = set()
    overlaps = 0
    seen_version: dict[str, int] = {}
    version: dict[str, int] = {}

    async def worker() -> None:
        nonlocal overlaps
        while True:
            try:
                key = await q.get()
            except workqueue.ShutDown:
                return
            if key in active:
                overlaps += 1
            active.add(key)
            v = version[key]
            await asyncio.sleep(0)
            seen_version[key] = v
            active.discard(key)
            q.done(key)

    workers = [asyncio.create_task(worker()) for _ in range(4)]
    for i in range(300):
        key = f"k{i % 7}"
        version[key] = i
        q.add(key)
        if i % 3 == 0:
            await asyncio.sleep(0)
    await q.shut_down_with_drain()
    await asyncio.gather(*workers)
    assert overlaps == 0
    assert seen_version == version  # every key was processed after its last change


async def test_fake_clock_sleep_and_timers() -> None:
    clock = clocklib.FakeClock(start=0)
    fired: list[float] = []
    clock.call_at(5, lambda: fired.append(clock.now()))
    t = clock.call_at(3, lambda: fired.append(-1))
    t.cancel()
    sleeper = asyncio.create_task(clock.sleep(4))
    await settle()
    assert clock.pending == 2
    clock.step(4)
    await settle()
    assert sleeper.done() and fired == []
    clock.set(10)
    assert fired == [10]
    await clock.sleep(0)
