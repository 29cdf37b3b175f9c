"""The kubelet's ``/stats/summary``: node, pod and container CPU and memory, in the
shape of upstream's Summary API (``stats.k8s.io/v1alpha1`` ``Summary``).

Sources, as the kubelet's cAdvisor reads them:

- containers: their cgroup ``/kubeling/<container id>`` (runc's cgroupfs
  driver, see ``runtime/runc.py``), cgroup v1 (``cpuacct``, ``memory``
  hierarchies) or v2 (the unified tree);
- node: ``/proc/stat`` (cumulative CPU time) and ``/proc/meminfo``;
- pods: the sum of their running containers.

CPU usage arrives as a cumulative counter; ``usageNanoCores`` is a rate, so
:class:`RateTracker` keeps the previous reading per cgroup and divides the
difference by the time between the two. A reading replaces the kept one only
once the window has passed ``min_window`` (so frequent requests do not shrink
it to noise); :meth:`Collector.run` samples in the background, as cAdvisor's
housekeeping does, so the first request already has a rate.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import os
import pathlib
import time
from collections.abc import Callable
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from kubeling.kubelet import podsync
from kubeling.kubelet.runtime import protocol as cri

log = logging.getLogger("kubeling.kubelet.stats")
Obj = dict[str, Any]

CGROUP_ROOT = pathlib.Path("/sys/fs/cgroup")
PROC_ROOT = pathlib.Path("/proc")
CGROUP_PARENT = "kubeling"
HOUSEKEEPING_SECONDS = 10.0


def _rfc3339(ns: int) -> str:
    return datetime.datetime.fromtimestamp(ns / 1e9, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read_int(path: pathlib.Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def read_kv(path: pathlib.Path) -> dict[str, int]:
    """``key value`` lines (memory.stat, cpu.stat, /proc/meminfo with its ``kB``)."""
    out: dict[str, int] = {}
    try:
        text = path.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        parts = line.replace(":", " ").split()
        if len(parts) >= 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


@dataclasses.dataclass(frozen=True)
class Reading:
    """One sample of a cgroup (or the node). ``cpu_ns`` is cumulative CPU time."""

    time_ns: int
    cpu_ns: int | None
    memory_usage: int | None = None
    working_set: int | None = None
    rss: int | None = None
    page_faults: int | None = None
    major_page_faults: int | None = None


class RateTracker:
    """Turns cumulative CPU readings into nanocores, per key."""

    def __init__(self, *, min_window_ns: int = 1_000_000_000) -> None:
        self.min_window_ns = min_window_ns
        self._prev: dict[str, tuple[int, int]] = {}

    def observe(self, key: str, time_ns: int, cumulative_ns: int) -> int | None:
        """The rate since the kept reading, or None when there is none yet (or the
        counter went back: a new cgroup under an old key)."""
        prev = self._prev.get(key)
        if prev is None or cumulative_ns < prev[1] or time_ns <= prev[0]:
            self._prev[key] = (time_ns, cumulative_ns)
            return None
        rate = (cumulative_ns - prev[1]) * 1_000_000_000 // (time_ns - prev[0])
        if time_ns - prev[0] >= self.min_window_ns:
            self._prev[key] = (time_ns, cumulative_ns)
        return rate

    def retain(self, keys: set[str]) -> None:
        """Forget readings of cgroups that are gone."""
        for k in list(self._prev):
            if k not in keys:
                del self._prev[k]


class CgroupReader:
    """Reads container cgroups under ``root`` (v1 hierarchies or the v2 tree)."""

    def __init__(self, root: pathlib.Path = CGROUP_ROOT) -> None:
        self.root = root
        self.v2 = (root / "cgroup.controllers").exists()

    def _v1(self, controller: str) -> pathlib.Path:
        for name in (controller, "cpu,cpuacct", "cpuacct,cpu") if controller == "cpuacct" else (controller,):
            if (self.root / name).is_dir():
                return self.root / name
        return self.root / controller

    def read(self, rel: str, *, now_ns: int) -> Reading | None:
        """None when the cgroup does not exist (the container is gone)."""
        rel = rel.strip("/")
        if self.v2:
            d = self.root / rel
            if not d.is_dir():
                return None
            cpu = read_kv(d / "cpu.stat").get("usage_usec")
            stat = read_kv(d / "memory.stat")
            usage = _read_int(d / "memory.current")
            inactive, anon = stat.get("inactive_file", 0), stat.get("anon")
            faults, major = stat.get("pgfault"), stat.get("pgmajfault")
            cpu_ns = cpu * 1000 if cpu is not None else None
        else:
            cpu_dir, mem_dir = self._v1("cpuacct") / rel, self._v1("memory") / rel
            if not cpu_dir.is_dir() and not mem_dir.is_dir():
                return None
            cpu_ns = _read_int(cpu_dir / "cpuacct.usage")
            stat = read_kv(mem_dir / "memory.stat")
            usage = _read_int(mem_dir / "memory.usage_in_bytes")
            inactive, anon = stat.get("total_inactive_file", 0), stat.get("total_rss")
            faults, major = stat.get("total_pgfault"), stat.get("total_pgmajfault")
        working = max(0, usage - inactive) if usage is not None else None
        return Reading(now_ns, cpu_ns, usage, working, anon, faults, major)


def read_node(proc: pathlib.Path = PROC_ROOT, *, now_ns: int) -> tuple[Reading, int]:
    """The node's reading and its memory capacity in bytes."""
    cpu_ns: int | None = None
    try:
        first = proc.joinpath("stat").read_text().splitlines()[0].split()
        # user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
        ticks = [int(v) for v in first[1:9]]
        busy = sum(ticks) - ticks[3] - ticks[4]
        cpu_ns = busy * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        pass
    mem = read_kv(proc / "meminfo")
    total = mem.get("MemTotal", 0) * 1024
    usage = total - mem.get("MemFree", 0) * 1024
    working = max(0, usage - mem.get("Inactive(file)", 0) * 1024)
    vm = read_kv(proc / "vmstat")
    return Reading(now_ns, cpu_ns, usage, working, mem.get("AnonPages", 0) * 1024,
                   vm.get("pgfault"), vm.get("pgmajfault")), total


def boot_time_ns(proc: pathlib.Path = PROC_ROOT) -> int:
    for line in proc.joinpath("stat").read_text().splitlines():
        if line.startswith("btime "):
            return int(line.split()[1]) * 1_000_000_000
    return 0


def node_name_of_cert(path: pathlib.Path) -> str:
    """The node a kubelet serving certificate was issued to (``CN=system:node:<name>``)."""
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    except (OSError, ValueError, IndexError):
        return ""
    return str(cn).removeprefix("system:node:")


def _cpu(r: Reading, rate: int | None) -> Obj:
    out: Obj = {"time": _rfc3339(r.time_ns)}
    if rate is not None:
        out["usageNanoCores"] = rate
    if r.cpu_ns is not None:
        out["usageCoreNanoSeconds"] = r.cpu_ns
    return out


def _memory(r: Reading, *, capacity: int | None = None) -> Obj:
    out: Obj = {"time": _rfc3339(r.time_ns)}
    for key, val in (("usageBytes", r.memory_usage), ("workingSetBytes", r.working_set), ("rssBytes", r.rss),
                     ("pageFaults", r.page_faults), ("majorPageFaults", r.major_page_faults)):
        if val is not None:
            out[key] = val
    if capacity and r.working_set is not None:
        out["availableBytes"] = max(0, capacity - r.working_set)
    return out


def _sum(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else a + b


def _add(a: Reading, b: Reading) -> Reading:
    """Two cgroups' readings as one (a pod's from its containers')."""
    return Reading(a.time_ns, *(_sum(getattr(a, f.name), getattr(b, f.name))
                                for f in dataclasses.fields(Reading)[1:]))


class Collector:
    """Builds summaries from the runtime's running containers and their cgroups."""

    def __init__(self, runtime: cri.RuntimeService, *, node_name: Callable[[], str],
                 cgroups: CgroupReader | None = None, proc: pathlib.Path = PROC_ROOT,
                 clock: Callable[[], int] = time.time_ns, tracker: RateTracker | None = None) -> None:
        self.runtime = runtime
        self.node_name = node_name
        self.cgroups = cgroups or CgroupReader()
        self.proc = proc
        self.clock = clock
        self.tracker = tracker or RateTracker()

    async def run(self, *, interval: float = HOUSEKEEPING_SECONDS) -> None:
        """Sample in the background so rates exist before the first request."""
        while True:
            try:
                await self.summary()
            except (cri.RuntimeError_, OSError) as exc:
                log.warning("stats housekeeping: %s", exc)
            await asyncio.sleep(interval)

    async def summary(self) -> Obj:
        sandboxes = {sb.id: sb for sb in await self.runtime.list_pod_sandboxes()
                     if sb.state == cri.SandboxState.READY}
        containers = [c for c in await self.runtime.list_containers()
                      if c.state == cri.ContainerState.RUNNING and c.sandbox_id in sandboxes]
        return await asyncio.to_thread(self._build, sandboxes, containers)

    def _build(self, sandboxes: dict[str, cri.PodSandboxStatus], containers: list[cri.ContainerStatus]) -> Obj:
        now = self.clock()
        seen: set[str] = {"node"}
        node_r, capacity = read_node(self.proc, now_ns=now)
        node_rate = self.tracker.observe("node", now, node_r.cpu_ns) if node_r.cpu_ns is not None else None
        by_pod: dict[str, list[Obj]] = {}
        pod_r: dict[str, tuple[Reading, int | None]] = {}
        for c in sorted(containers, key=lambda c: c.metadata.name):
            r = self.cgroups.read(f"{CGROUP_PARENT}/{c.id}", now_ns=now)
            if r is None:
                continue
            seen.add(c.id)
            rate = self.tracker.observe(c.id, now, r.cpu_ns) if r.cpu_ns is not None else None
            by_pod.setdefault(c.sandbox_id, []).append({
                "name": c.labels.get(podsync.NAME_LABEL, c.metadata.name),
                "startTime": _rfc3339(c.started_at or c.created_at),
                "cpu": _cpu(r, rate), "memory": _memory(r),
            })
            prev, prev_rate = pod_r.get(c.sandbox_id, (Reading(now, None), None))
            pod_r[c.sandbox_id] = (_add(prev, r), _sum(prev_rate, rate))
        self.tracker.retain(seen)
        pods: list[Obj] = []
        for sb_id, sb in sandboxes.items():
            r, rate = pod_r.get(sb_id, (Reading(now, None), None))
            md = sb.metadata
            pods.append({
                "podRef": {"name": md.name, "namespace": md.namespace, "uid": md.uid},
                "startTime": _rfc3339(sb.created_at),
                "containers": by_pod.get(sb_id, []),
                "cpu": _cpu(r, rate), "memory": _memory(r),
            })
        pods.sort(key=lambda p: (p["podRef"]["namespace"], p["podRef"]["name"]))
        try:
            start = _rfc3339(boot_time_ns(self.proc))
        except (OSError, ValueError):
            start = _rfc3339(now)
        return {
            "node": {"nodeName": self.node_name(), "startTime": start,
                     "cpu": _cpu(node_r, node_rate), "memory": _memory(node_r, capacity=capacity)},
            "pods": pods,
        }
