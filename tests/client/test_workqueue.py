from __future__ import annotations

import asyncio

import pytest

from kubeling.client import workqueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_dedupes_waiting_keys() -> None:
    q = workqueue.WorkQueue()
    q.add("a")
    q.add("b")
    q.add("a")
    assert len(q) == 2
    assert await q.get() == "a"
    assert await q.get() == "b"


async def test_key_is_never_processed_twice_and_readded_after_done() -> None:
    q = workqueue.WorkQueue()
    q.add("a")
    key = await q.get()
    q.add("a")  # changed while a worker holds it
    assert len(q) == 0  # not handed to a second worker
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    assert not second.done()
    q.done(key)
    assert await asyncio.wait_for(second, 1) == "a"  # the change is not lost
    q.done("a")
    assert len(q) == 0


async def test_rate_limited_backoff_grows_and_forget_resets() -> None:
    clock = FakeClock()
    q = workqueue.WorkQueue(clock=clock)
    assert [q.when("k") for _ in range(4)] == [0.005, 0.01, 0.02, 0.04]
    assert q.num_requeues("k") == 4
    q.forget("k")
    assert q.num_requeues("k") == 0
    q2 = workqueue.WorkQueue(base_delay=1, max_delay=3, clock=clock)
    assert [q2.when("x") for _ in range(4)] == [1, 2, 3, 3]


async def test_add_after_with_fake_clock() -> None:
    clock = FakeClock()
    q = workqueue.WorkQueue(clock=clock)
    q.add_after("later", 10)
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0.02)
    assert not getter.done()
    clock.now += 10
    q.tick()
    assert await asyncio.wait_for(getter, 1) == "later"


async def test_shutdown_ends_getters() -> None:
    q = workqueue.WorkQueue()
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0.01)
    q.shut_down()
    with pytest.raises(workqueue.ShutDown):
        await asyncio.wait_for(getter, 1)
    q.add("ignored")
    assert len(q) == 0


async def test_many_workers_share_keys_without_overlap() -> None:
    q = workqueue.WorkQueue()
    active: set[str] = set()
    overlaps = 0
    handled = 0

    async def worker() -> None:
        nonlocal overlaps, handled
        while True:
            try:
                key = await q.get()
            except workqueue.ShutDown:
                return
            if key in active:
                overlaps += 1
            active.add(str(key))
            await asyncio.sleep(0.001)
            active.discard(str(key))
            handled += 1
            q.done(key)

    workers = [asyncio.create_task(worker()) for _ in range(4)]
    for i in range(200):
        q.add(f"k{i % 7}")
        if i % 10 == 0:
            await asyncio.sleep(0.002)
    await asyncio.sleep(0.2)
    q.shut_down()
    await asyncio.gather(*workers)
    assert overlaps == 0 and handled >= 7
