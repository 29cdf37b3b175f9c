"""The request limiter shared by a hollow fleet's loops."""

from __future__ import annotations

import asyncio

from kubeling.hollow import limiter


async def test_never_more_than_size_calls_at_once() -> None:
    lim = limiter.Limiter(3)
    running = peak = 0

    async def work() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001)
        running -= 1

    await asyncio.gather(*(lim.call(work, urgent=i % 2 == 0) for i in range(50)))
    assert peak == 3 and lim.active == 0 and lim.waiting == 0


async def test_urgent_callers_go_first_when_a_slot_frees() -> None:
    lim = limiter.Limiter(1)
    gate = asyncio.Event()
    order: list[str] = []

    async def hold() -> None:
        await gate.wait()

    async def note(name: str) -> None:
        order.append(name)

    first = asyncio.ensure_future(lim.call(hold))
    await asyncio.sleep(0)
    waiters = [asyncio.ensure_future(lim.call(note, "pod-1")), asyncio.ensure_future(lim.call(note, "pod-2")),
               asyncio.ensure_future(lim.call(note, "lease", urgent=True))]
    await asyncio.sleep(0)
    assert lim.waiting == 3
    gate.set()
    await asyncio.gather(first, *waiters)
    assert order == ["lease", "pod-1", "pod-2"]


async def test_a_cancelled_waiter_gives_its_turn_away() -> None:
    lim = limiter.Limiter(1)
    gate = asyncio.Event()

    async def hold() -> None:
        await gate.wait()

    async def value() -> int:
        return 7

    first = asyncio.ensure_future(lim.call(hold))
    await asyncio.sleep(0)
    doomed = asyncio.ensure_future(lim.call(value))
    later = asyncio.ensure_future(lim.call(value))
    await asyncio.sleep(0)
    doomed.cancel()
    gate.set()
    assert await later == 7
    await asyncio.gather(first, doomed, return_exceptions=True)
    assert lim.active == 0 and lim.waiting == 0
