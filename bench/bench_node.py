"""Node agent benchmark (issue: the node agent). Needs root and runc. Prints one JSON line per figure.

    python bench/bench_node.py [--pods 100] [--runs 3]

Starts `kubeling server` with its in-process agent on a fresh data dir with the
busybox test image imported, then measures:

1. pod startup latency: 100 pods created one after another (each waits for the
   previous), create → status.phase Running as seen by a watch; p50 and p99;
2. 100 pods created at once: seconds until all are Running;
3. RSS of the server process (API server + controllers + scheduler + agent)
   idle, and with the 100 pods running; the per-container shims' PSS (shared
   interpreter pages split among them) summed separately.

Each figure is the median over --runs fresh servers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kubeling.client import config as configlib
from kubeling.client import rest
from tests.kubelet import testimage

NS = "default"


def rss_mb(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pss_mb(pid: int) -> float:
    """Proportional set size: shared pages (the interpreter) split among their users."""
    for line in pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def shims_pss_mb() -> float:
    total = 0.0
    for p in pathlib.Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes()
        except OSError:
            continue
        if b"runtime/shim.py" in cmd:
            total += pss_mb(int(p.name))
    return total


def pod(name: str, node: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"bench": "node"}},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 0,
                     "containers": [{"name": "c", "image": "busybox:1", "command": ["sleep", "3600"]}]}}


class Node:
    def __init__(self, work: pathlib.Path) -> None:
        self.data = work / "data"
        self.data.mkdir(parents=True)
        archive = work / "busybox.tar"
        testimage.busybox_layout(archive, names=["docker.io/library/busybox:1"])
        subprocess.run([sys.executable, "-m", "kubeling", "image", "import", "--data-dir", str(self.data),
                        str(archive)], check=True, capture_output=True)
        self.log = open(work / "server.log", "wb")  # noqa: SIM115 - lives as long as the server
        self.proc = subprocess.Popen([sys.executable, "-m", "kubeling", "server", "--data-dir", str(self.data),
                                      "--https-port", "0", "--bind-address", "127.0.0.1"],
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        root = self.data / "run" / "runc"
        ids = subprocess.run(["runc", "--root", str(root), "list", "-q"], capture_output=True, text=True).stdout
        for cid in ids.split():
            subprocess.run(["runc", "--root", str(root), "delete", "-f", cid], capture_output=True)
        mounts = [line.split()[1] for line in pathlib.Path("/proc/self/mounts").read_text().splitlines()
                  if line.split()[1].startswith(str(self.data))]
        for m in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)


async def wait_ready(client: rest.Client) -> str:
    while True:
        try:
            nodes = (await client.list(rest.NODES))["items"]
        except rest.ClientError:
            nodes = []
        for n in nodes:
            ready = any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))
            if ready and n["spec"].get("podCIDR"):
                return str(n["metadata"]["name"])
        await asyncio.sleep(0.2)


async def running_times(client: rest.Client, names: set[str], started: dict[str, float]) -> dict[str, float]:
    """Watch pods until every name is Running; the time each was first seen Running."""
    seen: dict[str, float] = {}
    async with client.watch(rest.PODS, namespace=NS, label_selector="bench=node") as w:
        async for ev in w:
            if ev.type not in ("ADDED", "MODIFIED"):
                continue
            name = ev.object["metadata"]["name"]
            if name in names and name not in seen and (ev.object.get("status") or {}).get("phase") == "Running":
                seen[name] = time.perf_counter()
                if len(seen) == len(names):
                    return seen
    return seen


async def one_run(n: int) -> dict[str, float]:
    work = pathlib.Path(tempfile.mkdtemp(prefix="kubeling-bench-node-"))
    node = Node(work)
    try:
        while not (node.data / "kubeconfig").exists():
            await asyncio.sleep(0.05)
        async with rest.Client(configlib.load_kubeconfig(node.data / "kubeconfig")) as c:
            name = await asyncio.wait_for(wait_ready(c), 60)
            await asyncio.sleep(3)
            idle = rss_mb(node.proc.pid)
            # 1. one after another
            lat = []
            for i in range(n):
                started = {f"seq-{i}": time.perf_counter()}
                watcher = asyncio.create_task(running_times(c, {f"seq-{i}"}, started))
                await asyncio.sleep(0)
                t0 = time.perf_counter()
                await c.create(rest.PODS, pod(f"seq-{i}", name), namespace=NS)
                seen = await asyncio.wait_for(watcher, 60)
                lat.append(seen[f"seq-{i}"] - t0)
            await c.delete_collection(rest.PODS, namespace=NS, label_selector="bench=node", grace_period_seconds=0)
            while (await c.list(rest.PODS, namespace=NS))["items"]:
                await asyncio.sleep(0.2)
            # 2. all at once
            names = {f"par-{i}" for i in range(n)}
            watcher = asyncio.create_task(running_times(c, names, {}))
            await asyncio.sleep(0.1)
            t0 = time.perf_counter()
            await asyncio.gather(*(c.create(rest.PODS, pod(x, name), namespace=NS) for x in names))
            seen = await asyncio.wait_for(watcher, 300)
            all_running = max(seen.values()) - t0
            await asyncio.sleep(3)
            busy = rss_mb(node.proc.pid)
            shims = shims_pss_mb()
        lat.sort()
        return {"p50": statistics.median(lat), "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
                "all_at_once": all_running, "rss_idle": idle, "rss_busy": busy, "shims": shims}
    finally:
        node.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    runs = [asyncio.run(one_run(args.pods)) for _ in range(args.runs)]
    units = {"p50": "s", "p99": "s", "all_at_once": "s", "rss_idle": "MB", "rss_busy": "MB", "shims": "MB"}
    for key, unit in units.items():
        vals = [r[key] for r in runs]
        print(json.dumps({"figure": key, "median": round(statistics.median(vals), 3), "unit": unit,
                          "runs": [round(v, 3) for v in vals], "pods": args.pods}), flush=True)


if __name__ == "__main__":
    main()
