"""Eviction signals and thresholds (upstream's ``pkg/kubelet/eviction/api`` and
the signal half of its helpers), as pure functions over real readings.

Signals, each an *available* amount against a *capacity*:

* ``memory.available``: the machine's memory minus the working set of the
  root memory cgroup (usage minus inactive file pages: page cache the kernel
  can drop at once does not count), as the kubelet computes it from cAdvisor;
* ``nodefs.available`` / ``nodefs.inodesFree``: the filesystem of the agent's
  data directory (pod volumes, logs, container layers);
* ``imagefs.available`` / ``imagefs.inodesFree``: the filesystem of the image
  store (usually the same one);
* ``pid.available``: the kernel's process-id limit minus the tasks that exist.

A threshold is written as upstream's flags take it: ``signal<quantity`` or
``signal<percent%`` (of the capacity), comma separated, e.g.
``memory.available<500Mi,nodefs.available<10%``. It is met when the signal's
available amount is below the threshold's value.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re

from kubeling.kubelet import stats
from kubeling.lib import quantity

MEMORY = "memory.available"
NODEFS = "nodefs.available"
NODEFS_INODES = "nodefs.inodesFree"
IMAGEFS = "imagefs.available"
IMAGEFS_INODES = "imagefs.inodesFree"
PID = "pid.available"
SIGNALS = (MEMORY, NODEFS, NODEFS_INODES, IMAGEFS, IMAGEFS_INODES, PID)

# The node condition each signal drives, and the resource it is reported as.
CONDITION = {MEMORY: "MemoryPressure", NODEFS: "DiskPressure", NODEFS_INODES: "DiskPressure",
             IMAGEFS: "DiskPressure", IMAGEFS_INODES: "DiskPressure", PID: "PIDPressure"}
RESOURCE = {MEMORY: "memory", NODEFS: "ephemeral-storage", NODEFS_INODES: "inodes",
            IMAGEFS: "ephemeral-storage", IMAGEFS_INODES: "inodes", PID: "pids"}

# Upstream's Linux defaults; used only when no hard threshold is given at all
# (giving any replaces them all, as the kubelet documents).
DEFAULT_HARD = "memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%," \
               "imagefs.inodesFree<5%"

CGROUP_ROOT = pathlib.Path("/sys/fs/cgroup")
PROC_ROOT = pathlib.Path("/proc")


class ThresholdError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class Threshold:
    signal: str
    amount: int | None = None  # absolute (bytes, inodes or pids) ...
    percent: float | None = None  # ... or a share of the capacity
    grace_period: float = 0.0  # soft thresholds must stay met this long; hard ones: 0
    text: str = ""  # as written (``100Mi``, ``10%``), for messages

    @property
    def hard(self) -> bool:
        return self.grace_period == 0

    def value(self, capacity: int) -> int:
        if self.amount is not None:
            return self.amount
        return int(capacity * (self.percent or 0.0) / 100)

    def met(self, obs: Observation) -> bool:
        return obs.available < self.value(obs.capacity)

    def quantity_text(self, capacity: int) -> str:
        """The threshold as a quantity, percentages resolved against the capacity."""
        return self.text if self.amount is not None else format_amount(self.signal, self.value(capacity))


@dataclasses.dataclass(frozen=True)
class Observation:
    available: int
    capacity: int


_ITEM = re.compile(r"^\s*([a-zA-Z.]+)\s*<\s*(\S+)\s*$")


def parse(text: str, *, grace_periods: dict[str, float] | None = None) -> list[Threshold]:
    """Thresholds from flag syntax; ``grace_periods`` (signal -> seconds) makes them soft."""
    out: list[Threshold] = []
    seen: set[str] = set()
    for item in (p for p in text.split(",") if p.strip()):
        m = _ITEM.match(item)
        if not m:
            raise ThresholdError(f"eviction threshold {item.strip()!r}: want SIGNAL<QUANTITY or SIGNAL<PERCENT%")
        signal, value = m.groups()
        if signal not in SIGNALS:
            raise ThresholdError(f"eviction threshold {item.strip()!r}: unknown signal {signal!r} "
                                 f"(one of {', '.join(SIGNALS)})")
        if signal in seen:
            raise ThresholdError(f"eviction threshold for {signal} given twice")
        seen.add(signal)
        grace = (grace_periods or {}).get(signal, 0.0)
        if grace_periods is not None and grace <= 0:
            raise ThresholdError(f"soft eviction threshold {signal} needs a grace period")
        if value.endswith("%"):
            try:
                pct = float(value[:-1])
            except ValueError:
                raise ThresholdError(f"eviction threshold {item.strip()!r}: bad percentage") from None
            if not 0 <= pct <= 100:
                raise ThresholdError(f"eviction threshold {item.strip()!r}: percentage must be within 0-100%")
            out.append(Threshold(signal, percent=pct, grace_period=grace, text=value))
            continue
        try:
            q = quantity.parse(value)
        except quantity.QuantityError as exc:
            raise ThresholdError(f"eviction threshold {item.strip()!r}: {exc}") from None
        if q.nanos < 0:
            raise ThresholdError(f"eviction threshold {item.strip()!r}: must not be negative")
        out.append(Threshold(signal, amount=-(-q.nanos // quantity.NANO), grace_period=grace, text=value))
    return out


_DURATION = re.compile(r"(\d+(?:\.\d*)?)(ms|h|m|s)")


def parse_duration(text: str) -> float:
    """Seconds from a Go duration (``5m0s``, ``30s``, ``1h``) or a bare number of seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ThresholdError(f"{text!r} is not a duration (like 30s, 5m0s)")
    return total


def format_amount(signal: str, amount: int) -> str:
    """As upstream prints it: bytes as a binary quantity, counts as plain numbers."""
    if RESOURCE[signal] in ("memory", "ephemeral-storage"):
        return format_bytes(amount)
    return str(amount)


def format_bytes(amount: int) -> str:
    return str(quantity.Quantity.from_int(amount, quantity.BINARY_SI))


# ---- readings ----------------------------------------------------------------------------
def memory(cgroup_root: pathlib.Path = CGROUP_ROOT, proc: pathlib.Path = PROC_ROOT) -> Observation:
    capacity = stats.read_kv(proc / "meminfo").get("MemTotal", 0) * 1024
    v1 = cgroup_root / "memory"
    if (v1 / "memory.usage_in_bytes").exists():
        usage = int((v1 / "memory.usage_in_bytes").read_text())
        inactive = stats.read_kv(v1 / "memory.stat").get("total_inactive_file", 0)
    else:
        # cgroup v2 has no root memory.current: the machine's own accounting stands in.
        mem = stats.read_kv(proc / "meminfo")
        usage = capacity - mem.get("MemFree", 0) * 1024
        inactive = mem.get("Inactive(file)", 0) * 1024
    working_set = max(0, usage - inactive)
    return Observation(available=max(0, capacity - working_set), capacity=capacity)


def filesystem(path: str | os.PathLike[str]) -> tuple[Observation, Observation | None]:
    """(bytes, inodes) of the filesystem holding ``path``; inodes None where the
    filesystem does not count them."""
    st = os.statvfs(path)
    space = Observation(available=st.f_bavail * st.f_frsize, capacity=st.f_blocks * st.f_frsize)
    inodes = Observation(available=st.f_favail, capacity=st.f_files) if st.f_files else None
    return space, inodes


def pids(proc: pathlib.Path = PROC_ROOT) -> Observation:
    limits = []
    for name in ("sys/kernel/pid_max", "sys/kernel/threads-max"):
        try:
            limits.append(int((proc / name).read_text()))
        except (OSError, ValueError):
            continue
    capacity = min(limits) if limits else 0
    try:
        # The fourth field of loadavg is running/total scheduling entities (every task).
        tasks = int((proc / "loadavg").read_text().split()[3].split("/")[1])
    except (OSError, ValueError, IndexError):
        tasks = 0
    return Observation(available=max(0, capacity - tasks), capacity=capacity)


def observe(*, nodefs: pathlib.Path, imagefs: pathlib.Path, cgroup_root: pathlib.Path = CGROUP_ROOT,
            proc: pathlib.Path = PROC_ROOT) -> dict[str, Observation]:
    """Every signal, read now."""
    out = {MEMORY: memory(cgroup_root, proc), PID: pids(proc)}
    for path, space_sig, inode_sig in ((nodefs, NODEFS, NODEFS_INODES), (imagefs, IMAGEFS, IMAGEFS_INODES)):
        space, inodes = filesystem(path)
        out[space_sig] = space
        if inodes is not None:
            out[inode_sig] = inodes
    return out
