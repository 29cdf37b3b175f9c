"""Node-pressure eviction and kubelet-failed pods, in parts: threshold syntax,
signal arithmetic (on made-up cgroup files and on this machine's real ones),
ranking, messages, the manager's conditions and transition period, and the
Failed status both eviction and activeDeadlineSeconds produce."""

from __future__ import annotations

import asyncio
import os
import pathlib
import shutil
import subprocess
import time
from typing import Any

import pytest

from kubeling.kubelet import eviction, node, pressure, terminal

Obj = dict[str, Any]
Mi = 1024 * 1024
Gi = 1024 * Mi


# ---- thresholds ----------------------------------------------------------------------------
def test_parse_defaults_and_custom() -> None:
    got = {t.signal: t for t in pressure.parse(pressure.DEFAULT_HARD)}
    assert got[pressure.MEMORY].amount == 100 * Mi and got[pressure.MEMORY].hard
    assert got[pressure.NODEFS].percent == 10 and got[pressure.IMAGEFS].percent == 15
    assert got[pressure.NODEFS_INODES].percent == 5
    custom = pressure.parse("memory.available<500Mi, nodefs.available<2Gi,pid.available<1k")
    assert [(t.signal, t.amount) for t in custom] == [(pressure.MEMORY, 500 * Mi), (pressure.NODEFS, 2 * Gi),
                                                      (pressure.PID, 1000)]
    soft = pressure.parse("memory.available<1Gi", grace_periods={pressure.MEMORY: 90})
    assert soft[0].grace_period == 90 and not soft[0].hard
    assert pressure.parse("") == []


@pytest.mark.parametrize("text", ["memory.available>1Gi", "memory.free<1Gi", "memory.available<1Gi,memory.available<2Gi",
                                  "nodefs.available<101%", "nodefs.available<x%", "memory.available<lots",
                                  "memory.available<-1Gi"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(pressure.ThresholdError):
        pressure.parse(text)


def test_soft_thresholds_need_a_grace_period() -> None:
    with pytest.raises(pressure.ThresholdError):
        pressure.parse("memory.available<1Gi", grace_periods={})


def test_durations() -> None:
    assert pressure.parse_duration("5m0s") == 300
    assert pressure.parse_duration("1h2m3s") == 3723
    assert pressure.parse_duration("1.5s") == 1.5
    assert pressure.parse_duration("250ms") == 0.25
    assert pressure.parse_duration("10") == 10
    for bad in ("", "5x", "m5", "5m junk"):
        with pytest.raises(pressure.ThresholdError):
            pressure.parse_duration(bad)


def test_threshold_values_and_text() -> None:
    pct, = pressure.parse("nodefs.available<10%")
    obs = pressure.Observation(available=5 * Gi, capacity=100 * Gi)
    assert pct.value(obs.capacity) == 10 * Gi and pct.met(obs)
    assert pct.quantity_text(obs.capacity) == "10Gi"
    assert not pct.met(pressure.Observation(available=10 * Gi, capacity=100 * Gi))  # met only below
    mem, = pressure.parse("memory.available<100Mi")
    assert mem.quantity_text(0) == "100Mi"
    assert pressure.format_bytes(1536 * 1024) == "1536Ki"
    assert pressure.format_bytes(1000) == "1k"
    assert pressure.format_amount(pressure.PID, 4096) == "4096"


# ---- signals ----------------------------------------------------------------------------------
def _files(root: pathlib.Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_memory_signal_arithmetic_v1(tmp_path: pathlib.Path) -> None:
    cg, proc = tmp_path / "cg", tmp_path / "proc"
    _files(cg, {"memory/memory.usage_in_bytes": f"{3 * Gi}\n",
                "memory/memory.stat": f"cache 5\ntotal_inactive_file {1 * Gi}\ntotal_rss 7\n"})
    _files(proc, {"meminfo": f"MemTotal:  {8 * Gi // 1024} kB\nMemFree:  {1 * Gi // 1024} kB\n"})
    # available = capacity - (usage - inactive file)
    assert pressure.memory(cg, proc) == pressure.Observation(available=6 * Gi, capacity=8 * Gi)


def test_memory_signal_on_this_machine() -> None:
    obs = pressure.memory()
    total = next(int(line.split()[1]) * 1024 for line in pathlib.Path("/proc/meminfo").read_text().splitlines()
                 if line.startswith("MemTotal:"))
    assert obs.capacity == total
    assert 0 < obs.available <= obs.capacity
    root = pathlib.Path("/sys/fs/cgroup/memory")
    if (root / "memory.usage_in_bytes").exists():
        usage = int((root / "memory.usage_in_bytes").read_text())
        # Readings move between the two reads: the working set is near usage minus inactive file.
        assert obs.capacity - obs.available <= usage + 256 * Mi


def test_filesystem_and_pid_signals_on_this_machine(tmp_path: pathlib.Path) -> None:
    space, inodes = pressure.filesystem(tmp_path)
    du = shutil.disk_usage(tmp_path)
    assert space.capacity == du.total
    assert abs(space.available - du.free) < 256 * Mi
    st = os.statvfs(tmp_path)
    if st.f_files:
        assert inodes is not None and inodes.capacity == st.f_files
    pids = pressure.pids()
    limits = [int(pathlib.Path(f"/proc/sys/kernel/{n}").read_text()) for n in ("pid_max", "threads-max")]
    assert pids.capacity == min(limits)
    assert 0 < pids.available < pids.capacity
    observed = pressure.observe(nodefs=tmp_path, imagefs=tmp_path)
    assert {pressure.MEMORY, pressure.NODEFS, pressure.IMAGEFS, pressure.PID} <= set(observed)


def test_du_counts_disk_not_other_filesystems(tmp_path: pathlib.Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(os.urandom(Mi))
    assert eviction.du(tmp_path) >= Mi
    assert eviction.du(tmp_path / "missing") == 0
    if os.geteuid() != 0:
        return
    mnt = tmp_path / "mem"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(mnt)], check=True)
    try:
        (mnt / "g").write_bytes(os.urandom(4 * Mi))
        assert eviction.du(tmp_path) < 3 * Mi
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


# ---- ranking and messages --------------------------------------------------------------------
def _pod(name: str, *, memory: str | None = None, priority: int = 0, annotations: dict[str, str] | None = None,
         containers: int = 1) -> Obj:
    res = {"requests": {"memory": memory}} if memory else {}
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "annotations": annotations or {}},
            "spec": {"priority": priority, "containers": [{"name": f"{name}{i or ''}", "resources": res}
                                                          for i in range(containers)]},
            "status": {"phase": "Running"}}


def test_rank_memory_as_upstream() -> None:
    pods = [_pod("under", memory="1Gi"), _pod("nolimit"), _pod("important", memory="10Mi", priority=1000),
            _pod("big", memory="100Mi"), _pod("nostats", memory="1Gi")]
    usage = {"uid-under": 500 * Mi, "uid-nolimit": 100 * Mi, "uid-important": 900 * Mi, "uid-big": 900 * Mi}
    # Above request first, by priority, larger excess first; then within request (no reading: nothing used).
    assert [p["metadata"]["name"] for p in eviction.rank(pods, usage, "memory")] == \
        ["big", "nolimit", "important", "under", "nostats"]


def test_pod_request_counts_init_containers() -> None:
    pod = _pod("p", memory="100Mi", containers=2)
    assert eviction.pod_request(pod, "memory") == 200 * Mi
    pod["spec"]["initContainers"] = [{"name": "i", "resources": {"requests": {"memory": "1Gi"}}}]
    assert eviction.pod_request(pod, "memory") == Gi


def test_message_names_containers_over_their_request() -> None:
    pod = _pod("hog", containers=2)
    pod["spec"]["containers"][1]["resources"] = {"requests": {"memory": "64Mi"}}
    t, = pressure.parse("memory.available<500Mi")
    text = eviction.message(pod, threshold=t, observed=pressure.Observation(400 * Mi, 8 * Gi),
                            container_usage={"hog": 600 * Mi, "hog1": 10 * Mi})
    assert text == ("The node was low on resource: memory. Threshold quantity: 500Mi, available: 400Mi. "
                    "Container hog was using 600Mi, request is 0, has larger consumption of memory. ")
    pid, = pressure.parse("pid.available<1000")
    assert eviction.message(pod, threshold=pid, observed=pressure.Observation(10, 4096), container_usage={}) == \
        "The node was low on resource: pids. Threshold quantity: 1000, available: 10. "


def test_critical_pods() -> None:
    assert eviction.is_critical(_pod("s", annotations={"kubernetes.io/config.source": "file"}))
    assert eviction.is_critical(_pod("m", annotations={"kubernetes.io/config.mirror": "abc"}))
    assert eviction.is_critical(_pod("c", priority=2_000_001_000))
    assert not eviction.is_critical(_pod("n", priority=1_000_000_000))


# ---- the manager ------------------------------------------------------------------------------
class World:
    """Readings and pods the manager sees, and what it did."""

    def __init__(self, pods: list[Obj], *, hard: str = "memory.available<1Gi", soft: str = "",
                 grace: float = 0.0) -> None:
        self.now = 1000.0
        self.available = 4 * Gi
        self.pods = pods
        self.usage = eviction.Usage()
        self.failed: list[tuple[str, terminal.Failure]] = []
        self.resynced: list[str] = []
        self.changes = 0
        self.reclaims = 0
        self.after_reclaim: int | None = None
        soft_t = pressure.parse(soft, grace_periods={t.split("<")[0]: grace for t in soft.split(",") if t}) \
            if soft else []
        cfg = eviction.Config(hard=pressure.parse(hard), soft=soft_t, transition_period=30.0)
        self.manager = eviction.Manager(
            cfg, nodefs=pathlib.Path("/"), imagefs=pathlib.Path("/"), pods=lambda: self.pods, fail=self.fail,
            resync=self.resynced.append, memory_usage=self.get_usage, disk_usage=self.get_disk,
            reclaim=self.reclaim, on_change=self.changed, observe=self.observe, clock=lambda: self.now)

    def observe(self) -> dict[str, pressure.Observation]:
        obs = pressure.Observation(self.available, 16 * Gi)
        return {pressure.MEMORY: obs, pressure.NODEFS: obs}

    def fail(self, uid: str, failure: terminal.Failure) -> terminal.Failure:
        self.failed.append((uid, failure))
        failure.done.set()  # the pod syncer's part: containers and volumes gone
        return failure

    async def get_usage(self) -> eviction.Usage:
        return self.usage

    async def get_disk(self, pods: list[Obj]) -> eviction.Usage:
        return self.usage

    async def reclaim(self) -> None:
        self.reclaims += 1
        if self.after_reclaim is not None:
            self.available = self.after_reclaim

    def changed(self) -> None:
        self.changes += 1


def test_manager_evicts_one_pod_and_keeps_pressure_for_the_transition_period() -> None:
    async def main() -> None:
        w = World([_pod("steady", memory="1Gi"), _pod("hog"), _pod("static", annotations={
            "kubernetes.io/config.source": "file"})])
        w.usage = eviction.Usage(pods={"uid-steady": 100 * Mi, "uid-hog": 3 * Gi, "uid-static": 5 * Gi},
                                 containers={("uid-hog", "hog"): 3 * Gi})
        assert await w.manager.synchronize() is None and w.manager.under_pressure() == frozenset()
        w.available = 512 * Mi
        evicted = await w.manager.synchronize()
        assert evicted is not None and evicted["metadata"]["name"] == "hog"  # the static pod is critical
        assert w.manager.conditions() == {"MemoryPressure": ("KubeletHasInsufficientMemory",
                                                             "kubelet has insufficient memory available")}
        assert w.changes == 1 and w.resynced == ["default/hog"]
        uid, failure = w.failed[0]
        assert uid == "uid-hog" and failure.reason == "Evicted" and failure.grace == 0 and failure.disruption
        assert failure.message.startswith("The node was low on resource: memory. Threshold quantity: 1Gi, "
                                          "available: 512Mi. Container hog was using 3Gi")
        w.pods = [w.pods[0], w.pods[2]]
        w.available = 4 * Gi
        w.now += 20  # inside the transition period: still under pressure
        assert await w.manager.synchronize() is None
        assert w.manager.under_pressure() == {"MemoryPressure"} and w.changes == 1
        w.now += 11
        await w.manager.synchronize()
        assert w.manager.under_pressure() == frozenset() and w.changes == 2
        assert len(w.failed) == 1

    asyncio.run(main())


def test_soft_threshold_waits_for_its_grace_period() -> None:
    async def main() -> None:
        pod = _pod("p")
        pod["spec"]["terminationGracePeriodSeconds"] = 20
        w = World([pod], hard="memory.available<100Mi", soft="memory.available<1Gi", grace=60)
        w.manager.config.max_pod_grace_period = 10
        w.available = 512 * Mi
        assert await w.manager.synchronize() is None
        assert w.manager.under_pressure() == {"MemoryPressure"}  # the condition does not wait
        w.now += 59
        assert await w.manager.synchronize() is None
        w.now += 1
        assert await w.manager.synchronize() is not None
        assert w.failed[0][1].grace == 10  # the pod's own 20 s, capped

    asyncio.run(main())


def test_disk_pressure_reclaims_before_evicting() -> None:
    async def main() -> None:
        w = World([_pod("p")], hard="nodefs.available<1Gi")
        w.available = 512 * Mi
        w.after_reclaim = 2 * Gi
        assert await w.manager.synchronize() is None
        assert w.reclaims == 1 and not w.failed and w.manager.under_pressure() == {"DiskPressure"}
        w.after_reclaim = None
        w.available = 512 * Mi
        w.usage = eviction.Usage(pods={"uid-p": Gi})
        assert await w.manager.synchronize() is not None
        assert w.reclaims == 2
        assert w.failed[0][1].message.startswith("The node was low on resource: ephemeral-storage. ")

    asyncio.run(main())


def test_only_critical_pods_means_no_eviction() -> None:
    async def main() -> None:
        w = World([_pod("c", priority=2_000_000_000)])
        w.available = 0
        assert await w.manager.synchronize() is None and not w.failed

    asyncio.run(main())


def test_config_from_flags() -> None:
    assert {t.signal for t in eviction.Config.from_flags().hard} == {
        pressure.MEMORY, pressure.NODEFS, pressure.NODEFS_INODES, pressure.IMAGEFS, pressure.IMAGEFS_INODES}
    cfg = eviction.Config.from_flags(hard="memory.available<500Mi", transition_period="30s")
    assert [t.signal for t in cfg.hard] == [pressure.MEMORY] and cfg.transition_period == 30
    assert eviction.Config.from_flags(hard="").hard == []


# ---- node conditions and the Failed status ---------------------------------------------------
def test_node_pressure_conditions() -> None:
    conds = {c["type"]: c for c in node.conditions()}
    assert conds["MemoryPressure"]["status"] == "False"
    assert conds["MemoryPressure"]["reason"] == "KubeletHasSufficientMemory"
    pressed = node.conditions(list(conds.values()), pressure={"DiskPressure": eviction.TRUE_CONDITION["DiskPressure"]})
    got = {c["type"]: c for c in pressed}
    assert got["DiskPressure"]["status"] == "True" and got["DiskPressure"]["reason"] == "KubeletHasDiskPressure"
    assert got["DiskPressure"]["message"] == "kubelet has disk pressure"
    assert got["MemoryPressure"]["lastTransitionTime"] == conds["MemoryPressure"]["lastTransitionTime"]
    assert got["Ready"]["status"] == "True"


def test_deadline() -> None:
    started = time.time() - 100
    pod: Obj = {"metadata": {"name": "p"}, "spec": {},
                "status": {"startTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))}}
    assert terminal.deadline_left(pod, time.time()) is None
    pod["spec"]["activeDeadlineSeconds"] = 300
    left = terminal.deadline_left(pod, time.time())
    assert left is not None and 190 < left <= 201
    assert terminal.deadline_failure(pod, time.time()) is None
    pod["spec"]["activeDeadlineSeconds"] = 50
    failure = terminal.deadline_failure(pod, time.time())
    assert failure is not None and failure.reason == "DeadlineExceeded"
    assert failure.message == "Pod was active on the node longer than the specified deadline"
    assert terminal.deadline_failure({"metadata": {}, "spec": {"activeDeadlineSeconds": 1}, "status": {}},
                                     time.time()) is None


def test_failed_status() -> None:
    pod: Obj = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]},
                "status": {"phase": "Running", "startTime": "2026-01-01T00:00:00Z",
                           "conditions": [{"type": "PodScheduled", "status": "True"},
                                          {"type": "Initialized", "status": "True", "lastTransitionTime": "x"},
                                          {"type": "Ready", "status": "True", "lastTransitionTime": "x"}]}}
    cs = [{"name": "c", "containerID": "runc://x", "state": {"terminated": {"exitCode": 137}}}]
    failure = terminal.Failure("Evicted", "The node was low on resource: memory. ", grace=0, disruption=True)
    status = terminal.failed_status(pod, failure, containers=cs, init_containers=[])
    assert status["phase"] == "Failed" and status["reason"] == "Evicted" and status["containerStatuses"] == cs
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["DisruptionTarget"]["status"] == "True"
    assert conds["DisruptionTarget"]["reason"] == "TerminationByKubelet"
    assert conds["DisruptionTarget"]["message"] == failure.message
    assert conds["Ready"]["status"] == "False" and conds["Initialized"]["status"] == "True"
    assert conds["PodScheduled"]["status"] == "True" and status["startTime"] == "2026-01-01T00:00:00Z"
    deadline = terminal.failed_status(pod, terminal.Failure("DeadlineExceeded", "m"), containers=cs,
                                      init_containers=[])
    assert "DisruptionTarget" not in {c["type"] for c in deadline["conditions"]}
    refused = terminal.failed_status(pod, terminal.Failure("Evicted", "m"), init_containers=[],
                                     containers=[{"name": "c", "state": {"waiting": {"reason": "ContainerCreating"}}}])
    assert "containerStatuses" not in refused  # it never ran


def test_admission_under_pressure() -> None:
    async def main() -> None:
        w = World([])
        best_effort, burstable = _pod("be"), _pod("bu", memory="10Mi")
        tolerant = _pod("tol")
        tolerant["spec"]["tolerations"] = [{"key": "node.kubernetes.io/memory-pressure", "operator": "Exists",
                                            "effect": "NoSchedule"}]
        critical = _pod("crit", priority=2_000_000_000)
        assert w.manager.admit(best_effort) is None  # no pressure
        w.available = 0
        await w.manager.synchronize()
        refusal = w.manager.admit(best_effort)
        assert refusal is not None and refusal.reason == "Evicted"
        assert refusal.message == "The node had condition: [MemoryPressure]. "
        assert w.manager.admit(burstable) is None and w.manager.admit(tolerant) is None
        assert w.manager.admit(critical) is None
        disk = World([], hard="memory.available<1Gi,nodefs.available<1Gi")
        disk.available = 0
        await disk.manager.synchronize()
        refusal = disk.manager.admit(burstable)
        assert refusal is not None and refusal.message == "The node had condition: [MemoryPressure DiskPressure]. "
        assert disk.manager.admit(critical) is None

    asyncio.run(main())


def test_config_soft_flags() -> None:
    cfg = eviction.Config.from_flags(soft="memory.available<1Gi", soft_grace_period="memory.available=1m30s",
                                     max_pod_grace_period=10)
    assert [(t.signal, t.grace_period) for t in cfg.soft] == [(pressure.MEMORY, 90)]
    assert cfg.max_pod_grace_period == 10
    for soft, grace in (("memory.available<1Gi", ""), ("", "memory.available=1m"),
                        ("memory.available<1Gi", "memory.available")):
        with pytest.raises(pressure.ThresholdError):
            eviction.Config.from_flags(soft=soft, soft_grace_period=grace)
