"""The kubelet's stats: the CPU rate, cgroup v1/v2 and /proc parsing on fake
trees, the Summary shape from a fake runtime listing, and (root) the real
cgroup of a runc container burning CPU."""

from __future__ import annotations

import asyncio
import collections.abc
import pathlib
from typing import Any

import pytest

from kubeling.kubelet import podsync, stats
from kubeling.kubelet.runtime import protocol as P
from tests.kubelet.conftest import require_root_runc

S = 1_000_000_000


def _write(path: pathlib.Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_rate_needs_two_samples_and_keeps_a_minimum_window() -> None:
    t = stats.RateTracker(min_window_ns=S)
    assert t.observe("c", 10 * S, 5 * S) is None
    # Half a core for two seconds.
    assert t.observe("c", 12 * S, 6 * S) == S // 2
    # 0.5 s later: still measured against the kept reading (window too short to replace it).
    assert t.observe("c", 12 * S + S // 2, 6 * S + S // 2) == S
    assert t.observe("c", 13 * S, 6 * S + S // 2) == S // 2
    # A counter going back is a new cgroup under the key: start over.
    assert t.observe("c", 14 * S, S) is None
    assert t.observe("c", 16 * S, 5 * S) == 2 * S
    t.retain(set())
    assert t.observe("c", 17 * S, 6 * S) is None


def _v1_container(root: pathlib.Path, cid: str, *, cpu_ns: int, usage: int, inactive: int) -> None:
    _write(root / "cpuacct" / "kubeling" / cid / "cpuacct.usage", f"{cpu_ns}\n")
    mem = root / "memory" / "kubeling" / cid
    _write(mem / "memory.usage_in_bytes", f"{usage}\n")
    _write(mem / "memory.stat", f"cache 10\nrss 20\ntotal_rss 4096\ntotal_inactive_file {inactive}\n"
                                "total_pgfault 7\ntotal_pgmajfault 1\n")


def test_cgroup_v1_reading(tmp_path: pathlib.Path) -> None:
    _v1_container(tmp_path, "abc", cpu_ns=123, usage=10_000, inactive=3_000)
    r = stats.CgroupReader(tmp_path).read("/kubeling/abc", now_ns=5)
    assert r == stats.Reading(5, 123, 10_000, 7_000, 4096, 7, 1)
    assert stats.CgroupReader(tmp_path).read("kubeling/gone", now_ns=5) is None


def test_cgroup_v2_reading(tmp_path: pathlib.Path) -> None:
    _write(tmp_path / "cgroup.controllers", "cpu memory pids\n")
    d = tmp_path / "kubeling" / "abc"
    _write(d / "cpu.stat", "usage_usec 250\nuser_usec 200\nsystem_usec 50\n")
    _write(d / "memory.current", "8192\n")
    _write(d / "memory.stat", "anon 4096\nfile 4096\ninactive_file 1024\npgfault 3\npgmajfault 0\n")
    r = stats.CgroupReader(tmp_path).read("kubeling/abc", now_ns=1)
    assert r == stats.Reading(1, 250_000, 8192, 7168, 4096, 3, 0)


def _fake_proc(root: pathlib.Path, *, busy_ticks: int) -> None:
    # user nice system idle iowait irq softirq steal
    _write(root / "stat", f"cpu  {busy_ticks} 0 0 999 5 0 0 0 0 0\ncpu0 1 0 0 0 0 0 0 0 0 0\nbtime 1700000000\n")
    _write(root / "meminfo", "MemTotal:       1000 kB\nMemFree:         400 kB\nMemAvailable:    700 kB\n"
                             "Inactive(file):  100 kB\nAnonPages:       200 kB\n")
    _write(root / "vmstat", "pgfault 11\npgmajfault 2\n")


def test_node_reading(tmp_path: pathlib.Path) -> None:
    import os

    _fake_proc(tmp_path, busy_ticks=300)
    r, capacity = stats.read_node(tmp_path, now_ns=9)
    assert capacity == 1000 * 1024
    assert r.cpu_ns == 300 * S // os.sysconf("SC_CLK_TCK")
    assert (r.memory_usage, r.working_set, r.rss) == (600 * 1024, 500 * 1024, 200 * 1024)
    assert (r.page_faults, r.major_page_faults) == (11, 2)
    assert stats.boot_time_ns(tmp_path) == 1_700_000_000 * S


class FakeRuntime:
    """Only the two listings the collector reads."""

    def __init__(self, sandboxes: list[P.PodSandboxStatus], containers: list[P.ContainerStatus]) -> None:
        self.sandboxes, self.containers = sandboxes, containers

    async def list_pod_sandboxes(self) -> list[P.PodSandboxStatus]:
        return self.sandboxes

    async def list_containers(self, flt: P.ContainerFilter | None = None) -> list[P.ContainerStatus]:
        return self.containers


def _container(cid: str, sandbox: str, name: str, state: P.ContainerState = P.ContainerState.RUNNING
               ) -> P.ContainerStatus:
    return P.ContainerStatus(id=cid, sandbox_id=sandbox, metadata=P.ContainerMetadata(name=name), state=state,
                             created_at=1_700_000_100 * S, started_at=1_700_000_101 * S,
                             labels={podsync.NAME_LABEL: name})


async def test_summary_shape_and_rates(tmp_path: pathlib.Path) -> None:
    cg, proc = tmp_path / "cg", tmp_path / "proc"
    _fake_proc(proc, busy_ticks=100)
    _v1_container(cg, "c1", cpu_ns=0, usage=2048, inactive=0)
    _v1_container(cg, "c2", cpu_ns=0, usage=4096, inactive=1024)
    sb = P.PodSandboxStatus(id="sb1", metadata=P.PodSandboxMetadata(name="web", namespace="ns1", uid="u1"),
                            state=P.SandboxState.READY, created_at=1_700_000_000 * S)
    gone = P.PodSandboxStatus(id="sb2", metadata=P.PodSandboxMetadata(name="old", namespace="ns1", uid="u2"),
                              state=P.SandboxState.NOTREADY, created_at=0)
    rt = FakeRuntime([sb, gone], [_container("c1", "sb1", "app"), _container("c2", "sb1", "side"),
                                  _container("c3", "sb1", "done", P.ContainerState.EXITED)])
    now = [1_800_000_000 * S]
    col = stats.Collector(rt, node_name=lambda: "n1", cgroups=stats.CgroupReader(cg), proc=proc,  # type: ignore[arg-type]
                          clock=lambda: now[0])
    first = await col.summary()
    assert "usageNanoCores" not in first["node"]["cpu"]
    assert "usageNanoCores" not in first["pods"][0]["containers"][0]["cpu"]

    now[0] += 2 * S
    _v1_container(cg, "c1", cpu_ns=S, usage=2048, inactive=0)         # half a core
    _v1_container(cg, "c2", cpu_ns=S // 10, usage=4096, inactive=1024)  # 0.05 cores
    _fake_proc(proc, busy_ticks=100 + 2 * _clk_tck())                  # one core
    got = await col.summary()
    node = got["node"]
    assert node["nodeName"] == "n1"
    assert node["startTime"] == "2023-11-14T22:13:20Z"
    assert node["cpu"]["usageNanoCores"] == S
    assert node["memory"]["availableBytes"] == 1000 * 1024 - node["memory"]["workingSetBytes"]
    assert [p["podRef"] for p in got["pods"]] == [{"name": "web", "namespace": "ns1", "uid": "u1"}]
    pod = got["pods"][0]
    assert [c["name"] for c in pod["containers"]] == ["app", "side"]
    app, side = pod["containers"]
    assert app["cpu"] == {"time": "2027-01-15T08:00:02Z", "usageNanoCores": S // 2, "usageCoreNanoSeconds": S}
    assert side["cpu"]["usageNanoCores"] == S // 20
    assert side["memory"]["workingSetBytes"] == 3072 and side["memory"]["usageBytes"] == 4096
    assert app["startTime"] == "2023-11-14T22:15:01Z"
    assert pod["cpu"]["usageNanoCores"] == S // 2 + S // 20
    assert pod["cpu"]["usageCoreNanoSeconds"] == S + S // 10
    assert pod["memory"]["workingSetBytes"] == 2048 + 3072
    assert pod["startTime"] == "2023-11-14T22:13:20Z"


def _clk_tck() -> int:
    import os

    return os.sysconf("SC_CLK_TCK")


# ---- a real container (root) ------------------------------------------------------------

@pytest.fixture
async def runtime(tmp_path: pathlib.Path, busybox_archive: pathlib.Path) -> collections.abc.AsyncIterator[Any]:
    require_root_runc()
    from kubeling.kubelet import network as networklib
    from kubeling.kubelet.images import importer
    from kubeling.kubelet.images import store as storelib
    from kubeling.kubelet.runtime import runc

    data = tmp_path / "data"
    store = storelib.Store(data)
    importer.import_archive(store, str(busybox_archive))
    net = networklib.BridgeNetwork(data, pod_cidr="10.42.231.0/24", bridge="klstat0")
    rt = runc.RuncRuntime(data, images=store, network=net)
    try:
        yield rt
    finally:
        for sb in await rt.list_pod_sandboxes():
            await rt.remove_pod_sandbox(sb.id)
        await net.destroy_node()


async def test_real_container_burning_cpu(runtime: Any, tmp_path: pathlib.Path) -> None:
    meta = P.PodSandboxMetadata(name="burn", namespace="default", uid="uid-burn")
    sb_cfg = P.PodSandboxConfig(metadata=meta, log_directory=str(tmp_path / "logs"),
                                network=P.NamespaceMode.NODE, ipc=P.NamespaceMode.NODE)
    sb = await runtime.run_pod_sandbox(sb_cfg)
    cfg = P.ContainerConfig(metadata=P.ContainerMetadata(name="spin"), image="busybox:test",
                            command=["sh", "-c", "while :; do :; done"], log_path="spin/0.log",
                            labels={podsync.NAME_LABEL: "spin"})
    cid = await runtime.create_container(sb, cfg, sb_cfg)
    await runtime.start_container(cid)
    col = stats.Collector(runtime, node_name=lambda: "here")
    await col.summary()
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        await asyncio.sleep(1.5)
        got = await col.summary()
        pods = [p for p in got["pods"] if p["podRef"]["uid"] == "uid-burn"]
        spin = pods[0]["containers"][0] if pods and pods[0]["containers"] else {}
        # A busy loop on a 2-core machine: well above a tenth of a core.
        if spin.get("cpu", {}).get("usageNanoCores", 0) > S // 10:
            break
        assert asyncio.get_running_loop().time() < deadline, got
    assert spin["name"] == "spin"
    assert spin["cpu"]["usageCoreNanoSeconds"] > 0
    assert spin["memory"]["workingSetBytes"] > 0
    assert pods[0]["cpu"]["usageNanoCores"] == spin["cpu"]["usageNanoCores"]
    assert got["node"]["cpu"]["usageNanoCores"] >= S // 10
    assert 0 < got["node"]["memory"]["workingSetBytes"] < got["node"]["memory"]["workingSetBytes"] + \
        got["node"]["memory"]["availableBytes"]
