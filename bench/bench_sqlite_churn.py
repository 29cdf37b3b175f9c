"""SQLite store under churn: 100,000 updates of a few keys (node leases) with compaction running.

    python bench/bench_sqlite_churn.py [--updates 100000]

Prints the update rate and the size of the database files (db + WAL) at the
end: compaction must keep the file bounded (kine's SQLite file grows without
bound under lease churn).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import tempfile
import time

from kubeling.storage import sqlite


def size(path: pathlib.Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


async def run(updates: int, concurrency: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        path = pathlib.Path(d) / "state.db"
        be = sqlite.Backend(str(path), compact_interval=1.0, keep_revisions=1000)
        await be.start()
        value = json.dumps({"kind": "Lease", "spec": {"holderIdentity": "node-1", "pad": "x" * 200}}).encode()
        keys = [f"/registry/coordination.k8s.io/leases/kube-node-lease/node-{i}" for i in range(concurrency)]
        revs = {k: await be.create(k, value) for k in keys}
        per = updates // concurrency
        peak = 0
        t0 = time.perf_counter()

        async def churn(key: str) -> None:
            nonlocal peak
            for i in range(per):
                revs[key] = await be.update(key, value, expected_revision=revs[key])
                if i % 5000 == 0:
                    peak = max(peak, size(path))

        await asyncio.gather(*(churn(k) for k in keys))
        dt = time.perf_counter() - t0
        await asyncio.sleep(2.5)  # let the background compaction catch up
        final = size(path)
        await be.close()
        return {"updates": per * concurrency, "updates_per_s": round(per * concurrency / dt),
                "peak_file_mb": round(max(peak, final) / 2**20, 2), "final_file_mb": round(final / 2**20, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--updates", type=int, default=100_000)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    print(json.dumps({**asyncio.run(run(args.updates, args.concurrency)), "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
