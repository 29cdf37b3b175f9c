"""API server benchmarks (issue: the API server). Prints one JSON line per figure.

    python bench/bench_api.py [--runs 3]

Figures: cold start to /readyz; idle RSS of `kubeling server --disable-agent`;
ConfigMap creates from 32 concurrent clients (rate, p99); a 10,000-object
list; 100 watchers each seeing 1,000 events (p99 delivery latency).
Each figure is the median over --runs fresh servers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

import aiohttp
import yaml


class Server:
    def __init__(self, data_dir: pathlib.Path) -> None:
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kubeling", "server", "--data-dir", str(self.data_dir), "--https-port", "0",
             "--bind-address", "127.0.0.1", "--disable-agent"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cfg = self.data_dir / "kubeconfig"
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited")
            if cfg.exists():
                try:
                    doc = yaml.safe_load(cfg.read_text())
                    self.url = doc["clusters"][0]["cluster"]["server"]
                    self.token_file = self.data_dir / "tls" / "admin.token"
                    import urllib.request

                    ctx = ssl.create_default_context(cafile=str(self.data_dir / "tls" / "ca.crt"))
                    with urllib.request.urlopen(self.url + "/readyz", context=ctx, timeout=1) as r:
                        if r.status == 200:
                            return time.perf_counter() - t0
                except Exception:
                    pass
            time.sleep(0.01)

    def rss_mb(self) -> float:
        assert self.proc is not None
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def session(self) -> aiohttp.ClientSession:
        ctx = ssl.create_default_context(cafile=str(self.data_dir / "tls" / "ca.crt"))
        token = self.token_file.read_text().strip()
        return aiohttp.ClientSession(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"},
            connector=aiohttp.TCPConnector(ssl=ctx, limit=0))

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait()


def p99(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * 0.99))]


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"generateName":"cm-"},"data":{"k":"%s"}}'
wrk.headers["Content-Type"] = "application/json"
""" % ("v" * 64)


def creates_wrk(srv: Server, *, clients: int = 32, seconds: int = 10) -> dict[str, float]:
    """32 concurrent keep-alive clients (wrk, one thread) POSTing ConfigMaps for 10 s.

    wrk is used instead of a Python client so that the load generator does not
    eat the CPU the server is measured on (this machine has 2 cores)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT)
    token = srv.token_file.read_text().strip()
    out = subprocess.run(
        ["wrk", "-t1", f"-c{clients}", f"-d{seconds}s", "--latency", "-s", f.name,
         "-H", f"Authorization: Bearer {token}", srv.url + "/api/v1/namespaces/default/configmaps"],
        capture_output=True, text=True, check=True).stdout
    os.unlink(f.name)
    rate = float(out.split("Requests/sec:")[1].split()[0])
    p99 = out.split(" 99%")[1].split()[0]
    p99_ms = float(p99[:-2]) if p99.endswith("ms") else float(p99[:-1]) * 1000 if p99.endswith("s") else float(p99[:-2]) / 1000
    errors = int(out.split("Non-2xx or 3xx responses:")[1].split()[0]) if "Non-2xx" in out else 0
    return {"creates_per_s": rate, "create_p99_ms": p99_ms, "create_errors": errors}


async def creates(srv: Server, *, clients: int = 32, total: int = 6400) -> dict[str, float]:
    lat: list[float] = []
    per = total // clients
    async with srv.session() as s:
        async def worker(w: int) -> None:
            for i in range(per):
                body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{w}-{i}"},
                        "data": {"k": "v" * 64}}
                t0 = time.perf_counter()
                async with s.post("/api/v1/namespaces/default/configmaps", json=body) as r:
                    await r.read()
                    assert r.status == 201, r.status
                lat.append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(clients)))
        dt = time.perf_counter() - t0
    return {"creates_per_s": len(lat) / dt, "create_p99_ms": p99(lat) * 1000}


async def big_list(srv: Server, *, n: int = 10000) -> dict[str, float]:
    async with srv.session() as s:
        sem = asyncio.Semaphore(64)

        async def make(i: int) -> None:
            async with sem:
                body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"l-{i}", "labels": {"a": "b"}},
                        "data": {"k": "v"}}
                async with s.post("/api/v1/namespaces/kube-public/configmaps", json=body) as r:
                    await r.read()

        await asyncio.gather(*(make(i) for i in range(n)))
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            async with s.get("/api/v1/namespaces/kube-public/configmaps") as r:
                data = await r.read()
            times.append(time.perf_counter() - t0)
            assert len(json.loads(data)["items"]) >= n
    return {"list_10k_ms": statistics.median(times) * 1000}


async def watchers(srv: Server, *, n_watchers: int = 100, n_events: int = 1000) -> dict[str, float]:
    lat: list[float] = []
    async with srv.session() as s:
        async with s.post("/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace",
                                                       "metadata": {"name": "w"}}) as r:
            await r.read()
        async with s.get("/api/v1/namespaces/w/configmaps") as r:
            rv = (await r.json())["metadata"]["resourceVersion"]
        sent: dict[str, float] = {}
        ready = 0

        async def watch() -> None:
            nonlocal ready
            async with s.get(f"/api/v1/namespaces/w/configmaps?watch=1&resourceVersion={rv}",
                             timeout=aiohttp.ClientTimeout(total=None)) as r:
                ready += 1
                seen = 0
                async for line in r.content:
                    ev = json.loads(line)
                    name = ev["object"]["metadata"]["name"]
                    lat.append(time.perf_counter() - sent[name])
                    seen += 1
                    if seen == n_events:
                        return

        tasks = [asyncio.create_task(watch()) for _ in range(n_watchers)]
        while ready < n_watchers:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        for i in range(n_events):
            name = f"e-{i}"
            sent[name] = time.perf_counter()
            async with s.post("/api/v1/namespaces/w/configmaps", json={
                    "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}) as r:
                await r.read()
        await asyncio.wait_for(asyncio.gather(*tasks), 300)
    return {"watch_delivery_p99_ms": p99(lat) * 1000, "watch_events_seen": len(lat)}


async def one_run() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        srv = Server(pathlib.Path(d) / "data")
        out: dict[str, float] = {}
        try:
            out["cold_start_s"] = srv.start()
            await asyncio.sleep(2)
            out["idle_rss_mb"] = srv.rss_mb()
            if shutil.which("wrk"):
                out.update(creates_wrk(srv))
            else:
                out.update(await creates(srv))
            out.update(await big_list(srv))
            out.update(await watchers(srv))
            out["rss_after_mb"] = srv.rss_mb()
        finally:
            srv.stop()
        # Fresh data dir start (first start makes the CA and certificates).
        return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    runs = [asyncio.run(one_run()) for _ in range(args.runs)]
    keys = runs[0].keys()
    summary = {k: round(statistics.median(r[k] for r in runs), 3) for k in keys}
    print(json.dumps({"runs": runs, "median": summary, "cpus": os.cpu_count()}, indent=1))


if __name__ == "__main__":
    main()
