"""Node-pressure eviction (upstream's kubelet eviction manager).

Every ``interval`` seconds :meth:`Manager.synchronize` reads the signals
(:mod:`kubeling.kubelet.pressure`) and compares them with the thresholds:

* node conditions: a met threshold makes its condition (MemoryPressure,
  DiskPressure, PIDPressure) True; it turns False only once no threshold of
  it has been met for the pressure transition period, so a node near the
  line does not flap. A change is posted at once (``on_change``);
* soft thresholds act only once met for their grace period, hard ones at once;
* for a disk signal the node first reclaims (dead containers of finished
  pods, unused images) and looks again;
* then one pod per round is evicted: the active pods, critical ones
  (static, mirror, system-critical priority) left out, ranked as upstream
  does — pods using more than they request first, then lower priority first,
  then by how far usage exceeds the request (working set for memory; volumes,
  logs and writable layers for disk). The pod fails for good through
  :meth:`PodSyncer.fail <kubeling.kubelet.podsync.PodSyncer.fail>`: reason
  ``Evicted``, upstream's message, a DisruptionTarget condition, grace 0 for
  a hard threshold; the round waits (up to 30 s) until its containers and
  volumes are gone, so the next round measures what the eviction freed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import pathlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from kubeling.api import podfit, quotausage
from kubeling.client import events
from kubeling.kubelet import pressure, staticpods, terminal
from kubeling.lib import quantity

Obj = dict[str, Any]
log = logging.getLogger("kubeling.kubelet.eviction")

INTERVAL = 10.0
TRANSITION_PERIOD = 300.0
CLEANUP_TIMEOUT = 30.0  # upstream's podCleanupTimeout
SYSTEM_CRITICAL_PRIORITY = 2_000_000_000
TRUE_CONDITION = {  # reason, message of each pressure condition when True
    "MemoryPressure": ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available"),
    "DiskPressure": ("KubeletHasDiskPressure", "kubelet has disk pressure"),
    "PIDPressure": ("KubeletHasInsufficientPID", "kubelet has insufficient PID available"),
}
# Which met threshold is acted on first: memory, then disk, then pids (upstream's order).
_ORDER = {pressure.MEMORY: 0, pressure.NODEFS: 1, pressure.NODEFS_INODES: 2, pressure.IMAGEFS: 3,
          pressure.IMAGEFS_INODES: 4, pressure.PID: 5}


@dataclasses.dataclass
class Config:
    hard: list[pressure.Threshold] = dataclasses.field(
        default_factory=lambda: pressure.parse(pressure.DEFAULT_HARD))
    soft: list[pressure.Threshold] = dataclasses.field(default_factory=list)
    transition_period: float = TRANSITION_PERIOD
    interval: float = INTERVAL
    max_pod_grace_period: float = 0.0  # soft evictions: the most a pod's own grace may be (0: no cap)

    @classmethod
    def from_flags(cls, *, hard: str | None = None, transition_period: str | None = None, soft: str = "",
                   soft_grace_period: str = "", max_pod_grace_period: float = 0.0,
                   interval: float = INTERVAL) -> Config:
        """From the kubelet's flags: ``--eviction-hard`` (None: upstream's defaults;
        any value replaces them all), ``--eviction-pressure-transition-period``,
        ``--eviction-soft`` with ``--eviction-soft-grace-period``
        (``signal=duration,...``) and ``--eviction-max-pod-grace-period``."""
        cfg = cls(interval=interval, max_pod_grace_period=max_pod_grace_period)
        if hard is not None:
            cfg.hard = pressure.parse(hard)
        if transition_period is not None:
            cfg.transition_period = pressure.parse_duration(transition_period)
        graces: dict[str, float] = {}
        for item in (i for i in soft_grace_period.split(",") if i.strip()):
            signal, sep, value = item.partition("=")
            if not sep or signal.strip() not in pressure.SIGNALS:
                raise pressure.ThresholdError(f"eviction soft grace period {item.strip()!r}: want SIGNAL=DURATION")
            graces[signal.strip()] = pressure.parse_duration(value)
        cfg.soft = pressure.parse(soft, grace_periods=graces)
        if set(graces) - {t.signal for t in cfg.soft}:
            raise pressure.ThresholdError("eviction soft grace period given for a signal without a soft threshold")
        return cfg


def is_critical(pod: Obj) -> bool:
    """Upstream's IsCriticalPod: static and mirror pods, system-critical priority."""
    ann = pod["metadata"].get("annotations") or {}
    if staticpods.is_mirror(pod) or ann.get(staticpods.SOURCE, "api") != "api":
        return True
    return int((pod.get("spec") or {}).get("priority") or 0) >= SYSTEM_CRITICAL_PRIORITY


def _request(container: Obj, resource: str) -> int:
    value = ((container.get("resources") or {}).get("requests") or {}).get(resource)
    return quantity.parse(str(value)).nanos // quantity.NANO if value is not None else 0


def pod_request(pod: Obj, resource: str) -> int:
    """The pod's effective request: its containers' sum, or its largest init container's."""
    spec = pod.get("spec") or {}
    main = sum(_request(c, resource) for c in spec.get("containers") or [])
    return max([main] + [_request(c, resource) for c in spec.get("initContainers") or []])


def rank(pods: list[Obj], usage: dict[str, int], resource: str) -> list[Obj]:
    """Upstream's ranking: pods using more than they request first; then lower
    priority first; then the larger excess. A pod without a reading (nothing of
    it runs yet) counts as using nothing, as its empty pod cgroup would upstream."""

    def key(pod: Obj) -> tuple[int, int, int]:
        excess = usage.get(pod["metadata"]["uid"], 0) - pod_request(pod, resource)
        priority = int((pod.get("spec") or {}).get("priority") or 0)
        return (0 if excess > 0 else 1, priority, -excess)

    return sorted(pods, key=key)


def message(pod: Obj, *, threshold: pressure.Threshold, observed: pressure.Observation,
            container_usage: dict[str, int]) -> str:
    """Upstream's eviction message, containers above their request named."""
    resource = pressure.RESOURCE[threshold.signal]
    text = (f"The node was low on resource: {resource}. Threshold quantity: "
            f"{threshold.quantity_text(observed.capacity)}, available: "
            f"{pressure.format_amount(threshold.signal, observed.available)}. ")
    if resource not in ("memory", "ephemeral-storage"):
        return text
    for c in (pod.get("spec") or {}).get("containers") or []:
        used = container_usage.get(c["name"])
        if used is None or used <= _request(c, resource):
            continue
        req = ((c.get("resources") or {}).get("requests") or {}).get(resource)
        text += (f"Container {c['name']} was using {pressure.format_bytes(used)}, request is "
                 f"{quantity.canonical(str(req)) if req is not None else '0'}, "
                 f"has larger consumption of {resource}. ")
    return text


def du(path: pathlib.Path) -> int:
    """Bytes of disk used under ``path``, not crossing into other filesystems
    (a memory-backed emptyDir is memory, not disk)."""
    try:
        dev = path.lstat().st_dev
    except OSError:
        return 0
    total = 0
    stack = [str(path)]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if st.st_dev != dev:
                        continue
                    total += st.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
        except OSError:
            continue
    return total


@dataclasses.dataclass
class Usage:
    """One resource's usage, per pod uid and per (pod uid, container name)."""

    pods: dict[str, int] = dataclasses.field(default_factory=dict)
    containers: dict[tuple[str, str], int] = dataclasses.field(default_factory=dict)


class Manager:
    def __init__(self, config: Config, *, nodefs: pathlib.Path, imagefs: pathlib.Path,
                 pods: Callable[[], list[Obj]], fail: Callable[[str, terminal.Failure], terminal.Failure],
                 resync: Callable[[str], None],
                 memory_usage: Callable[[], Awaitable[Usage]], disk_usage: Callable[[list[Obj]], Awaitable[Usage]],
                 reclaim: Callable[[], Awaitable[None]] | None = None, recorder: events.Recorder | None = None,
                 node_name: str = "", on_change: Callable[[], None] | None = None,
                 observe: Callable[[], dict[str, pressure.Observation]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.pods = pods  # the pods bound to this node (API pods and static pods)
        self.fail = fail  # PodSyncer.fail
        self.resync = resync
        self.memory_usage = memory_usage
        self.disk_usage = disk_usage
        self.reclaim = reclaim
        self.recorder = recorder
        self.node_ref: Obj = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node_name, "uid": node_name}}
        self.on_change = on_change
        self.observe = observe or (lambda: pressure.observe(nodefs=nodefs, imagefs=imagefs))
        self.clock = clock
        self._first_met: dict[str, float] = {}  # signal -> when its (soft) threshold was first met
        self._last_met: dict[str, float] = {}  # condition -> when a threshold of it was last met
        self._pressure: frozenset[str] = frozenset()

    def under_pressure(self) -> frozenset[str]:
        """The pressure conditions that are True now."""
        return self._pressure

    def conditions(self) -> dict[str, tuple[str, str]]:
        """The True pressure conditions as type -> (reason, message), for the node status."""
        return {c: TRUE_CONDITION[c] for c in self._pressure}

    def admit(self, pod: Obj) -> terminal.Failure | None:
        """Upstream's eviction admission of a pod about to start: under memory
        pressure alone, BestEffort pods are refused unless they tolerate the
        memory-pressure taint; under any other pressure every pod is; critical
        pods always start. A refusal fails the pod with reason Evicted."""
        if not self._pressure or is_critical(pod):
            return None
        if self._pressure == {"MemoryPressure"}:
            if not quotausage.is_best_effort(pod):
                return None
            taint = {"key": "node.kubernetes.io/memory-pressure", "effect": "NoSchedule"}
            if podfit.tolerates(podfit.pod_tolerations(pod), taint):
                return None
        conds = " ".join(c for c in TRUE_CONDITION if c in self._pressure)
        return terminal.Failure(terminal.EVICTED_REASON, f"The node had condition: [{conds}]. ", grace=0,
                                event_type=events.WARNING)

    async def run(self) -> None:
        while True:
            try:
                await self.synchronize()
            except Exception:  # a bad round (a runtime or stats error) must not stop the node
                log.exception("eviction manager: synchronize failed")
            await asyncio.sleep(self.config.interval)

    def _met(self, observed: dict[str, pressure.Observation]) -> list[pressure.Threshold]:
        return [t for t in self.config.hard + self.config.soft
                if t.signal in observed and t.met(observed[t.signal])]

    async def synchronize(self) -> Obj | None:
        """One round; returns the pod evicted, if any."""
        observed = await asyncio.to_thread(self.observe)
        met = self._met(observed)
        now = self.clock()
        for t in met:
            self._last_met[pressure.CONDITION[t.signal]] = now
            self._first_met.setdefault(t.signal, now)
        for signal in [s for s in self._first_met if s not in {t.signal for t in met}]:
            del self._first_met[signal]
        conditions = frozenset(c for c, at in self._last_met.items()
                               if at == now or now - at < self.config.transition_period)
        if conditions != self._pressure:
            log.info("node pressure: %s", ", ".join(sorted(conditions)) or "none")
            self._pressure = conditions
            if self.on_change is not None:
                self.on_change()
        due = [t for t in met if now - self._first_met[t.signal] >= t.grace_period]
        if not due:
            return None
        threshold = min(due, key=lambda t: (_ORDER[t.signal], not t.hard))
        resource = pressure.RESOURCE[threshold.signal]
        if self.recorder is not None:
            self.recorder.event(self.node_ref, events.WARNING, "EvictionThresholdMet",
                                f"Attempting to reclaim {resource}")
        if threshold.signal != pressure.MEMORY and threshold.signal != pressure.PID and self.reclaim is not None:
            await self.reclaim()
            observed = await asyncio.to_thread(self.observe)
            if not any(t.signal == threshold.signal for t in self._met(observed)):
                log.info("eviction manager: reclaiming node resources relieved %s", threshold.signal)
                return None
        return await self._evict_one(threshold, observed[threshold.signal], resource)

    async def _evict_one(self, threshold: pressure.Threshold, observed: pressure.Observation,
                         resource: str) -> Obj | None:
        active = [p for p in self.pods() if not p["metadata"].get("deletionTimestamp")
                  and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        if resource == "memory":
            usage = await self.memory_usage()
        elif resource == "ephemeral-storage":
            usage = await self.disk_usage(active)
        else:
            usage = Usage(pods={p["metadata"]["uid"]: 0 for p in active})  # no per-pod reading: by priority
        ranked = rank(active, usage.pods, resource)
        for pod in ranked:
            if is_critical(pod):
                continue
            md = pod["metadata"]
            mine = {name: v for (uid, name), v in usage.containers.items() if uid == md["uid"]}
            text = message(pod, threshold=threshold, observed=observed, container_usage=mine)
            grace: float = 0.0
            if not threshold.hard:
                value = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
                own = 30.0 if value is None else float(value)
                cap = self.config.max_pod_grace_period
                grace = min(own, cap) if cap > 0 else own
            log.warning("evicting pod %s/%s: %s", md.get("namespace"), md["name"], text)
            failure = self.fail(md["uid"], terminal.Failure(
                terminal.EVICTED_REASON, text, grace=grace, disruption=True, event_type=events.WARNING))
            self.resync(f"{md.get('namespace', '')}/{md['name']}")
            try:
                await asyncio.wait_for(failure.done.wait(), CLEANUP_TIMEOUT)
            except TimeoutError:
                log.warning("evicted pod %s/%s was not cleaned up within %.0fs", md.get("namespace"), md["name"],
                            CLEANUP_TIMEOUT)
            return pod
        log.error("eviction manager: no pod to evict for %s (only critical pods)", resource)
        return None
