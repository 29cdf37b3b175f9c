"""Storage benchmarks (the SQLite backend and the watch cache). Prints one JSON line per figure.

    python bench/bench_storage.py [--creates 20000] [--updates 100000]

Figures:
  creates       32 concurrent tasks creating keys directly on the backend: rate and p99 latency
  file_size     DB file (with WAL and shm) after --updates updates of one key, background
                compaction running with the server defaults (keep_revisions=1000,
                compact_interval=60 s, compact_every=2000 revisions)
  fanout        100 cache watchers x 1,000 events: p99 delay from the write's ack to delivery
  cache_list    a 10,000-object list from the watch cache
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from kubeling.apiserver import watchcache
from kubeling.storage import sqlite

VALUE = json.dumps({"kind": "ConfigMap", "apiVersion": "v1",
                    "metadata": {"name": "x", "namespace": "bench", "labels": {"app": "bench"}},
                    "data": {"k": "v" * 400}}).encode()


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98] if len(samples) > 1 else samples[0]


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


def files_size(path: pathlib.Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


async def bench_creates(tmp: pathlib.Path, total: int, clients: int = 32) -> None:
    be = sqlite.Backend(str(tmp / "creates.db"), compact_interval=60)
    await be.start()
    lat: list[float] = []
    per = total // clients

    async def client(c: int) -> None:
        for i in range(per):
            t = time.perf_counter()
            await be.create(f"/registry/core/configmaps/bench/c{c}-{i}", VALUE)
            lat.append(time.perf_counter() - t)

    t0 = time.perf_counter()
    await asyncio.gather(*[client(c) for c in range(clients)])
    dt = time.perf_counter() - t0
    await be.close()
    emit(figure="creates", clients=clients, count=per * clients, per_second=round(per * clients / dt),
         p50_ms=round(statistics.median(lat) * 1000, 2), p99_ms=round(p99(lat) * 1000, 2))


async def bench_file_size(tmp: pathlib.Path, updates: int) -> None:
    path = tmp / "lease.db"
    be = sqlite.Backend(str(path), compact_interval=60.0, keep_revisions=1000)  # the server defaults
    await be.start()
    key = "/registry/coordination.k8s.io/leases/kube-node-lease/node-1"
    rev = await be.create(key, VALUE)
    peak = 0
    t0 = time.perf_counter()
    for i in range(updates):
        rev = await be.update(key, VALUE, expected_revision=rev)
        if i % 5000 == 0:
            peak = max(peak, files_size(path))
    dt = time.perf_counter() - t0
    await asyncio.sleep(1.5)  # let one more compaction round run
    size = files_size(path)
    await be.close()
    emit(figure="file_size", updates=updates, sequential_updates_per_second=round(updates / dt),
         final_bytes=size, peak_bytes=max(peak, size), final_mib=round(size / 2**20, 2))


async def bench_fanout(tmp: pathlib.Path, watchers: int = 100, events: int = 1000) -> None:
    be = sqlite.Backend(str(tmp / "fanout.db"), compact_interval=60)
    await be.start()
    cacher = watchcache.Cacher(be)
    await cacher.start()
    cache = cacher.resource("/registry/core/configmaps/")
    _, start = cache.list()
    acked: dict[int, float] = {}
    delays: list[float] = []

    async def watch(w: watchcache.Watcher) -> None:
        n = 0
        async for ev in w:
            delays.append(time.perf_counter() - acked.get(ev.revision, time.perf_counter()))
            n += 1
            if n == events:
                return

    tasks = [asyncio.create_task(watch(cache.watch(revision=start))) for _ in range(watchers)]

    async def writer(c: int) -> None:
        for i in range(events // 10):
            rev = await be.create(f"/registry/core/configmaps/bench/f{c}-{i}", VALUE)
            acked[rev] = time.perf_counter()

    t0 = time.perf_counter()
    await asyncio.gather(*[writer(c) for c in range(10)])
    await asyncio.gather(*tasks)
    dt = time.perf_counter() - t0
    await cacher.stop()
    await be.close()
    emit(figure="fanout", watchers=watchers, events=events, deliveries=len(delays), seconds=round(dt, 2),
         p50_ms=round(statistics.median(delays) * 1000, 2), p99_ms=round(p99(delays) * 1000, 2))


async def bench_cache_list(tmp: pathlib.Path, objects: int = 10_000) -> None:
    be = sqlite.Backend(str(tmp / "list.db"), compact_interval=60)
    await be.start()
    for start in range(0, objects, 500):
        await asyncio.gather(*[be.create(f"/registry/core/configmaps/bench/l{i:05}", VALUE)
                               for i in range(start, min(start + 500, objects))])
    t0 = time.perf_counter()
    cacher = watchcache.Cacher(be)
    await cacher.start()
    fill = time.perf_counter() - t0
    cache = cacher.resource("/registry/core/configmaps/")
    samples = []
    for _ in range(20):
        t = time.perf_counter()
        objs, _ = cache.list("/registry/core/configmaps/bench/")
        samples.append(time.perf_counter() - t)
    assert len(objs) == objects
    await cacher.stop()
    await be.close()
    emit(figure="cache_list", objects=objects, fill_ms=round(fill * 1000, 1),
         list_ms=round(statistics.median(samples) * 1000, 3))


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--creates", type=int, default=20_000)
    ap.add_argument("--updates", type=int, default=100_000)
    args = ap.parse_args()
    try:
        import uvloop  # the server runs on uvloop when it is installed
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    with tempfile.TemporaryDirectory(prefix="kubeling-bench-") as d:
        tmp = pathlib.Path(d)
        await bench_creates(tmp, args.creates)
        await bench_file_size(tmp, args.updates)
        await bench_fanout(tmp)
        await bench_cache_list(tmp)
    emit(figure="env", python=sys.version.split()[0], cpus=os.cpu_count())


if __name__ == "__main__":
    asyncio.run(main())
