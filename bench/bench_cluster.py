"""Cluster-scale benchmark on hollow nodes. Prints one JSON line per figure.

    python bench/bench_cluster.py [--nodes 5000] [--pods 10000] [--mode auto|deployments|direct]

Starts `kubeling server --disable-agent` (fresh temporary data dir) and
`kubeling hollow-nodes --count NODES`, then measures:

1. nodes: seconds from starting the hollow process until all NODES nodes
   exist with Ready=True;
2. pods: seconds until PODS pods are Running. ``deployments`` makes 10
   Deployments of PODS/10 replicas (needs the Deployment/ReplicaSet
   controllers and the scheduler); ``direct`` creates the pods itself with
   spec.nodeName spread over the hollow nodes (the API server + hollow kubelet
   path only); ``auto`` (default) probes with a one-replica Deployment and
   picks ``deployments`` if its pod gets scheduled within 20 s;
3. delete: seconds until no pod is left after deleting them all (direct: one
   DELETE collection; deployments: scale to 0), each pod going through
   graceful deletion and the hollow kubelet's final delete;
4. RSS (VmRSS) of the server and of the hollow process with the nodes only,
   with nodes + pods, and after the deletion.

The benchmark watches nodes and pods with the project's own informer (in this
process, on the same cores as everything else).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

from kubeling.client import config as configlib
from kubeling.client import informer as informerlib
from kubeling.client import rest
from kubeling.lib import timeutil

NAMESPACE = "bench"
Obj = dict[str, Any]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def emit(figure: str, value: float, unit: str, **extra: Any) -> None:
    print(json.dumps({"figure": figure, "value": round(value, 2), "unit": unit, **extra}), flush=True)


def emit_rss(figure: str, procs: Processes) -> None:
    rss = procs.rss()
    emit(figure + " (server)", rss.get("server", 0.0), "MB", hollow_mb=rss.get("hollow", 0.0))


class Processes:
    def __init__(self, work: pathlib.Path, *, server_args: tuple[str, ...] = ()) -> None:
        self.server_args = server_args
        self.work = work
        self.server: subprocess.Popen[bytes] | None = None
        self.hollow: subprocess.Popen[bytes] | None = None

    @property
    def kubeconfig(self) -> pathlib.Path:
        return self.work / "data" / "kubeconfig"

    def start_server(self) -> None:
        log = open(self.work / "server.log", "wb")  # noqa: SIM115 (lives as long as the process)
        self.server = subprocess.Popen(
            [sys.executable, "-m", "kubeling", "server", "--data-dir", str(self.work / "data"),
             "--https-port", "0", "--bind-address", "127.0.0.1", "--disable-agent", *self.server_args],
            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not self.kubeconfig.exists():
            if self.server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not start:\n" + (self.work / "server.log").read_text()[-3000:])
            time.sleep(0.05)

    def start_hollow(self, args: argparse.Namespace) -> None:
        log = open(self.work / "hollow.log", "wb")  # noqa: SIM115
        self.hollow = subprocess.Popen(
            [sys.executable, "-m", "kubeling", "hollow-nodes", "--kubeconfig", str(self.kubeconfig),
             "--count", str(args.nodes), "--heartbeat-interval", str(args.heartbeat_interval),
             "--concurrency", str(args.concurrency), "--pod-run-seconds", "1"],
            stdout=log, stderr=subprocess.STDOUT)

    def rss(self) -> dict[str, float]:
        out = {}
        for name, p in (("server", self.server), ("hollow", self.hollow)):
            if p is not None and p.poll() is None:
                out[name] = round(rss_mb(p.pid), 1)
        return out

    def check(self) -> None:
        for name, p in (("server", self.server), ("hollow-nodes", self.hollow)):
            if p is not None and p.poll() is not None:
                log = self.work / ("server.log" if name == "server" else "hollow.log")
                raise RuntimeError(f"{name} exited with {p.returncode}:\n{log.read_text()[-3000:]}")

    def stop(self) -> None:
        for p in (self.hollow, self.server):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


async def lease_lag(client: rest.Client) -> dict[str, float]:
    """How stale the hollow nodes' leases are (now - renewTime): 40 s would make a node NotReady."""
    items = (await client.list(rest.LEASES, namespace="kube-node-lease"))["items"]
    now = time.time()
    ages = sorted(now - parsed.timestamp() for it in items
                  if (parsed := timeutil.parse(str((it.get("spec") or {}).get("renewTime") or ""))))
    if not ages:
        return {}
    return {"lease_age_p50_s": round(ages[len(ages) // 2], 1), "lease_age_max_s": round(ages[-1], 1)}


def is_ready(node: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


async def until(cond: Any, procs: Processes, *, timeout: float, what: str, since: float | None = None,
                progress: Any = None) -> float:
    """Seconds from ``since`` (default: now) until ``cond()`` holds, checked every 50 ms;
    ``progress()`` is printed to stderr every 10 s."""
    t0 = time.perf_counter() if since is None else since
    shown = time.perf_counter()
    while not cond():
        procs.check()
        if progress is not None and time.perf_counter() - shown >= 10:
            shown = time.perf_counter()
            print(f"  {what}: {progress()} after {shown - t0:.0f} s", file=sys.stderr, flush=True)
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"{what}: not done after {timeout:.0f} s")
        await asyncio.sleep(0.05)
    return time.perf_counter() - t0


def pod_body(name: str, node: str | None) -> Obj:
    spec: Obj = {"containers": [{"name": "app", "image": "busybox",
                                 "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}],
                 "terminationGracePeriodSeconds": 30}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "bench"}},
            "spec": spec}


def deployment_body(name: str, replicas: int) -> Obj:
    tmpl = pod_body("", None)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": tmpl["spec"]}}}


async def bounded(n: int, coros: Any) -> None:
    it = iter(coros)

    async def runner() -> None:
        for c in it:
            await c

    await asyncio.gather(*(runner() for _ in range(n)))


async def probe_deployments(client: rest.Client, pods: informerlib.Informer) -> bool:
    """Do the Deployment controller and the scheduler run? One replica tells."""
    await client.create(rest.DEPLOYMENTS, deployment_body("probe", 1), namespace=NAMESPACE)
    deadline = time.monotonic() + 20
    ok = False
    while time.monotonic() < deadline and not ok:
        ok = any((p["metadata"].get("labels") or {}).get("app") == "probe" and p["spec"].get("nodeName")
                 for p in pods.store.list())
        await asyncio.sleep(0.2)
    await client.delete(rest.DEPLOYMENTS, "probe", namespace=NAMESPACE, propagation_policy="Background")
    # Scale the ReplicaSet down too, so its pod goes even if nothing collects garbage.
    for rs in (await client.list(rest.REPLICASETS, namespace=NAMESPACE))["items"]:
        try:
            await client.patch(rest.REPLICASETS, rs["metadata"]["name"], {"spec": {"replicas": 0}},
                               namespace=NAMESPACE)
        except rest.NotFound:
            pass
    return ok


async def bench(args: argparse.Namespace, procs: Processes) -> None:
    client = rest.Client(configlib.load_kubeconfig(procs.kubeconfig), connection_limit=args.concurrency + 4)
    try:
        await until(lambda: True, procs, timeout=1, what="start")
        await client.create(rest.NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": NAMESPACE}})
        nodes = informerlib.Informer(client, rest.NODES, label_selector="type=hollow")
        pods = informerlib.Informer(client, rest.PODS, namespace=NAMESPACE)
        nodes.start()
        pods.start()
        await informerlib.wait_for_sync(nodes, pods, timeout=30)

        # 1. nodes registered and Ready
        t0 = time.perf_counter()
        procs.start_hollow(args)
        t = await until(lambda: sum(is_ready(n) for n in nodes.store.list()) >= args.nodes, procs,
                        timeout=args.timeout, what="nodes Ready", since=t0,
                        progress=lambda: sum(is_ready(n) for n in nodes.store.list()))
        emit("nodes registered and Ready", t, "s", nodes=args.nodes,
             per_s=round(args.nodes / t, 1))
        await asyncio.sleep(args.settle)
        emit_rss("RSS with nodes", procs)

        mode = args.mode
        if mode == "auto":
            mode = "deployments" if await probe_deployments(client, pods) else "direct"
            await until(lambda: len(pods.store) == 0, procs, timeout=120, what="probe pod gone")

        # 2. pods Running
        def running() -> int:
            return sum((p.get("status") or {}).get("phase") == "Running" for p in pods.store.list())

        names = [n["metadata"]["name"] for n in nodes.store.list()]
        per = args.pods // args.deployments
        total = per * args.deployments if mode == "deployments" else args.pods
        t0 = time.perf_counter()
        if mode == "direct":
            await bounded(args.concurrency, (
                client.create(rest.PODS, pod_body(f"p-{i}", names[i % len(names)]), namespace=NAMESPACE)
                for i in range(args.pods)))
            created = time.perf_counter() - t0
        else:
            for d in range(args.deployments):
                await client.create(rest.DEPLOYMENTS, deployment_body(f"d-{d}", per), namespace=NAMESPACE)
            created = 0.0
        await until(lambda: running() >= total, procs, timeout=args.timeout, what="pods Running", since=t0,
                    progress=lambda: f"{len(pods.store)} pods, {running()} Running")
        t = time.perf_counter() - t0
        extra = {"create_s": round(created, 2)} if mode == "direct" else {"deployments": args.deployments}
        emit(f"pods Running ({mode})", t, "s", pods=total, per_s=round(total / t, 1), **extra,
             **await lease_lag(client))
        await asyncio.sleep(args.settle)
        emit_rss("RSS with nodes and pods", procs)

        # 3. delete every pod
        t0 = time.perf_counter()
        if mode == "direct":
            # One DELETE per pod, as kubectl delete --all does; each is a graceful deletion
            # the hollow kubelet completes with its final delete.
            await bounded(args.concurrency, (
                client.delete(rest.PODS, p["metadata"]["name"], namespace=NAMESPACE) for p in pods.store.list()))
        else:
            for d in range(args.deployments):
                await client.patch(rest.DEPLOYMENTS, f"d-{d}", {"spec": {"replicas": 0}}, namespace=NAMESPACE)
        requested = time.perf_counter() - t0
        t = await until(lambda: len(pods.store) == 0, procs, timeout=args.timeout, what="pods deleted", since=t0,
                  progress=lambda: f"{len(pods.store)} pods left")
        emit(f"pods deleted ({mode})", t, "s", pods=total, per_s=round(total / t, 1),
             requests_s=round(requested, 2), **await lease_lag(client))
        await asyncio.sleep(args.settle)
        emit_rss("RSS after deletion", procs)
        nodes.stop()
        pods.stop()
    finally:
        await client.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--deployments", type=int, default=10)
    ap.add_argument("--mode", choices=("auto", "deployments", "direct"), default="auto")
    ap.add_argument("--heartbeat-interval", type=float, default=10.0, help="hollow lease renewal period")
    ap.add_argument("--concurrency", type=int, default=64, help="requests in flight (hollow and benchmark each)")
    ap.add_argument("--settle", type=float, default=5.0, help="seconds to wait before reading RSS")
    ap.add_argument("--timeout", type=float, default=900.0, help="give up on a phase after this many seconds")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data)")
    ap.add_argument("--components-process", action="store_true",
                    help="run the server with --components-process (controllers and scheduler in a child)")
    args = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="kubeling-bench-cluster-"))
    procs = Processes(work, server_args=("--components-process",) if args.components_process else ())
    try:
        procs.start_server()
        asyncio.run(bench(args, procs))
    finally:
        procs.stop()
        if args.keep:
            print(f"logs and data in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
