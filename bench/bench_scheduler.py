"""Scheduler throughput.

``algorithm`` mode (default): N fake nodes in the scheduler cache and M pods
through filter + score + select + assume, no API — the scheduling algorithm's
own speed (upstream scheduler_perf's SchedulingBasic shape: pods asking for
100m cpu / 500Mi memory, nodes with 4 cpu / 32Gi / 110 pods).

``e2e`` mode: ``kubeling server`` (API only) in its own process, N Node
objects and M pending pods created through the API, then the Scheduler is
started in this process; pods/s counts from its start (caches synced) to the
last binding answered.

    python bench/bench_scheduler.py --nodes 5000 --pods 3000
    python bench/bench_scheduler.py --mode e2e --nodes 1000 --pods 1000
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import random
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from kubeling.scheduler import algorithm, framework, registry
from kubeling.scheduler import cache as cachelib

Obj = dict[str, Any]


def make_node(i: int) -> Obj:
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": f"node-{i}", "labels": {"kubernetes.io/hostname": f"node-{i}",
                                                           "topology.kubernetes.io/zone": f"zone-{i % 3}"}},
            "spec": {},
            "status": {"capacity": {"cpu": "4", "memory": "32Gi", "pods": "110"},
                       "allocatable": {"cpu": "4", "memory": "32Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}}


def make_pod(i: int, namespace: str = "bench") -> Obj:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"pod-{i}", "namespace": namespace, "uid": f"uid-{i}"},
            "spec": {"schedulerName": "default-scheduler",
                     "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                                     "resources": {"requests": {"cpu": "100m", "memory": "500Mi"}}}]}}


class _Snap:
    def __init__(self, cache: cachelib.Cache) -> None:
        self.cache = cache


def bench_algorithm(nodes: int, pods: int) -> tuple[float, float]:
    """(pods per wall second, pods per CPU second: the figure that other load on the machine does not skew)."""
    cache = cachelib.Cache()
    for i in range(nodes):
        cache.add_node(make_node(i))
    profile = registry.default_profile(framework.Handle(cache))
    algo = algorithm.Algorithm(profile, cache, rng=random.Random(1))
    infos = [framework.PodInfo(make_pod(i)) for i in range(pods)]
    t0, c0 = time.perf_counter(), time.process_time()
    for pi in infos:
        node, _ = algo.schedule(pi)
        cache.assume(pi, node)
    return pods / (time.perf_counter() - t0), pods / (time.process_time() - c0)


async def bench_e2e(nodes: int, pods: int) -> tuple[float, float]:
    """A real API server in its own process (as kube-scheduler talks to kube-apiserver);
    N nodes and M pending pods are created first, then the scheduler starts and the
    clock runs until every pod is bound. Returns (pods/s, scheduler CPU s per 1000 pods)."""
    import socket
    import subprocess

    from kubeling.client import rest
    from kubeling.scheduler import scheduler

    with tempfile.TemporaryDirectory() as tmp:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        data = pathlib.Path(tmp) / "data"
        argv = [sys.executable, "-m", "kubeling", "server", "--data-dir", str(data), "--https-port", str(port),
                "--bind-address", "127.0.0.1", "--disable-agent", "--disable-controllers", "--disable-scheduler"]
        # Started once, before anything is measured.
        server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
        try:
            kubeconfig = data / "kubeconfig"
            for _ in range(300):
                if kubeconfig.exists():
                    break
                await asyncio.sleep(0.1)
            client = rest.Client.from_kubeconfig(str(kubeconfig))
            for _ in range(100):
                try:
                    await client.get(rest.NAMESPACES, "default")
                    break
                except (rest.ApiError, rest.TransportError):
                    await asyncio.sleep(0.1)
            await client.create(rest.NAMESPACES, {"metadata": {"name": "bench"}})
            sem = asyncio.Semaphore(32)

            async def create(ref: rest.ResourceRef, obj: Obj, ns: str | None = None) -> None:
                async with sem:
                    await client.create(ref, obj, namespace=ns)

            await asyncio.gather(*(create(rest.NODES, make_node(i)) for i in range(nodes)))
            await asyncio.gather(*(create(rest.PODS, make_pod(i), "bench") for i in range(pods)))
            sched = scheduler.Scheduler(client)
            task = asyncio.create_task(sched.run())
            await sched.ready.wait()
            t0, c0 = time.perf_counter(), time.process_time()
            while sched.scheduled < pods:
                await asyncio.sleep(0.01)
            elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await client.close()
            return pods / elapsed, cpu * 1000 / pods
        finally:
            server.terminate()
            server.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=["algorithm", "e2e"], default="algorithm")
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--pods", type=int, default=3000)
    args = ap.parse_args()
    if args.mode == "algorithm":
        wall, cpu = bench_algorithm(args.nodes, args.pods)
        print(f"algorithm: {args.pods} pods on {args.nodes} nodes: {wall:.0f} pods/s ({cpu:.0f} per CPU second)")
    else:
        rate, cpu_ms = asyncio.run(bench_e2e(args.nodes, args.pods))
        print(f"e2e: {args.pods} pods on {args.nodes} nodes: {rate:.0f} pods/s "
              f"(scheduler process: {cpu_ms:.2f} CPU ms per pod)")


if __name__ == "__main__":
    main()
