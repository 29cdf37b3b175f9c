"""The scheduling framework's vocabulary: statuses, per-pod and per-node
precomputed views, the cycle state and the plugin extension points.

Contract (kube-scheduler's framework, reshaped for Python speed):

* A :class:`PodInfo` is computed once per pod object (requests, ports,
  affinity terms) and a :class:`NodeInfo` keeps a node's aggregates (requested
  resources, pod count, used host ports) current as pods come and go, so a
  filter is a few attribute reads.
* Filters are per node: ``filter(state, pod, node_info) -> Status | None``,
  ``None`` meaning the node passes. Scores are per batch of nodes:
  ``score(state, pod, nodes) -> list[int]`` (0..100 after normalizing), which
  keeps the interpreter in tight comprehensions.
* ``pre_filter``/``pre_score`` may answer :data:`SKIP`: the plugin then has
  nothing to say about this pod and is left out of the cycle (upstream's Skip).
* Plugins never mutate the pod or node dicts; they read the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from kubeling.lib import labels
from kubeling.scheduler import resources

Obj = dict[str, Any]

MAX_NODE_SCORE = 100

# Status codes (upstream framework.Code).
UNSCHEDULABLE = "Unschedulable"
UNRESOLVABLE = "UnschedulableAndUnresolvable"
SKIP_CODE = "Skip"
ERROR = "Error"


class Status:
    """Why a plugin refused (``reasons`` are what the FailedScheduling message counts)."""

    __slots__ = ("code", "plugin", "reasons")

    def __init__(self, code: str, *reasons: str, plugin: str = "") -> None:
        self.code = code
        self.reasons = reasons
        self.plugin = plugin

    @property
    def unresolvable(self) -> bool:
        return self.code == UNRESOLVABLE

    def __repr__(self) -> str:
        return f"Status({self.code!r}, {', '.join(self.reasons)!r}, plugin={self.plugin!r})"


SKIP = Status(SKIP_CODE)


def unschedulable(*reasons: str) -> Status:
    return Status(UNSCHEDULABLE, *reasons)


def unresolvable(*reasons: str) -> Status:
    return Status(UNRESOLVABLE, *reasons)


class CycleState(dict[str, Any]):
    """Data one plugin computes in a pre-phase and reads in later phases of one cycle."""


def _host_ports(spec: Obj) -> tuple[tuple[str, str, int], ...]:
    out = []
    for c in spec.get("containers") or []:
        for p in c.get("ports") or []:
            hp = p.get("hostPort") or 0
            if hp > 0:
                out.append((p.get("hostIP") or "0.0.0.0", p.get("protocol") or "TCP", int(hp)))
    return tuple(out)


class PodInfo:
    """What scheduling needs of one pod, computed once."""

    __slots__ = ("affinity", "anti_affinity", "compiled", "images", "key", "labels", "name", "namespace", "node_name",
                 "nz_cpu", "nz_mem", "pod", "ports", "preferred_affinity", "preferred_anti_affinity", "priority",
                 "requests", "start_time", "terminating", "uid")

    def __init__(self, pod: Obj, *, priority: int | None = None) -> None:
        md = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        self.pod = pod
        self.compiled: dict[str, Any] = {}  # per-plugin derived data (compiled selectors)
        self.name: str = md.get("name", "")
        self.namespace: str = md.get("namespace", "")
        self.key = f"{self.namespace}/{self.name}"
        self.uid: str = md.get("uid", "")
        self.labels: dict[str, str] = md.get("labels") or {}
        self.node_name: str = spec.get("nodeName") or ""
        self.terminating = bool(md.get("deletionTimestamp"))
        p = spec.get("priority")
        self.priority: int = priority if priority is not None else int(p) if p is not None else 0
        self.requests: dict[str, int] = resources.pod_requests(spec)
        self.nz_cpu = self.requests.get("cpu") or resources.DEFAULT_MILLI_CPU
        self.nz_mem = self.requests.get("memory") or resources.DEFAULT_MEMORY
        self.ports = _host_ports(spec)
        self.images = tuple(c.get("image") or "" for c in spec.get("containers") or [])
        st = pod.get("status") or {}
        self.start_time: str = st.get("startTime") or md.get("creationTimestamp") or ""
        aff = spec.get("affinity") or {}
        pa = aff.get("podAffinity") or {}
        paa = aff.get("podAntiAffinity") or {}
        self.affinity: list[Obj] = pa.get("requiredDuringSchedulingIgnoredDuringExecution") or []
        self.anti_affinity: list[Obj] = paa.get("requiredDuringSchedulingIgnoredDuringExecution") or []
        self.preferred_affinity: list[Obj] = pa.get("preferredDuringSchedulingIgnoredDuringExecution") or []
        self.preferred_anti_affinity: list[Obj] = paa.get("preferredDuringSchedulingIgnoredDuringExecution") or []

    @property
    def has_affinity(self) -> bool:
        return bool(self.affinity or self.anti_affinity or self.preferred_affinity or self.preferred_anti_affinity)

    def __repr__(self) -> str:
        return f"<PodInfo {self.key}>"


class NodeInfo:
    """One node and the pods on it (bound or assumed), with running totals."""

    __slots__ = ("alloc", "alloc_cpu", "alloc_mem", "allowed_pods", "generation", "images", "labels", "match_cache",
                 "name",
                 "node", "nz_cpu", "nz_mem", "pods", "pods_with_affinity", "pods_with_anti_affinity", "ports",
                 "req_cpu", "req_mem", "requested", "taints", "unschedulable")

    def __init__(self, node: Obj | None = None) -> None:
        self.pods: dict[str, PodInfo] = {}
        self.requested: dict[str, int] = {}
        self.req_cpu = self.req_mem = 0
        self.nz_cpu = self.nz_mem = 0
        self.ports: dict[tuple[str, str, int], int] = {}
        self.pods_with_affinity: dict[str, PodInfo] = {}
        self.pods_with_anti_affinity: dict[str, PodInfo] = {}
        self.generation = 0
        # (namespace, id(selector)) -> (generation, count, selector): pods matching a
        # selector, valid while the node's generation is unchanged (topology spread).
        self.match_cache: dict[tuple[str, int], tuple[int, int, Any]] = {}
        self.name = ""
        self.node: Obj = {}
        self.set_node(node or {"metadata": {"name": ""}})

    def set_node(self, node: Obj) -> None:
        md = node.get("metadata") or {}
        spec = node.get("spec") or {}
        st = node.get("status") or {}
        self.node = node
        self.name = md.get("name", "")
        self.labels: dict[str, str] = md.get("labels") or {}
        self.taints: list[Obj] = spec.get("taints") or []
        self.unschedulable = bool(spec.get("unschedulable"))
        self.alloc = resources.node_allocatable(st)
        self.alloc_cpu = self.alloc.get("cpu", 0)
        self.alloc_mem = self.alloc.get("memory", 0)
        self.allowed_pods = self.alloc.get("pods", 0)
        self.images: dict[str, int] = resources.node_images(st)
        self.generation += 1

    def add_pod(self, pi: PodInfo) -> None:
        if pi.key in self.pods:
            self.remove_pod(self.pods[pi.key])
        self.pods[pi.key] = pi
        self._account(pi, 1)

    def remove_pod(self, pi: PodInfo) -> bool:
        old = self.pods.pop(pi.key, None)
        if old is None:
            return False
        self._account(old, -1)
        return True

    def _account(self, pi: PodInfo, sign: int) -> None:
        req = self.requested
        for name, v in pi.requests.items():
            req[name] = req.get(name, 0) + sign * v
        self.req_cpu = req.get("cpu", 0)
        self.req_mem = req.get("memory", 0)
        self.nz_cpu += sign * pi.nz_cpu
        self.nz_mem += sign * pi.nz_mem
        for port in pi.ports:
            n = self.ports.get(port, 0) + sign
            if n > 0:
                self.ports[port] = n
            else:
                self.ports.pop(port, None)
        if pi.has_affinity:
            if sign > 0:
                self.pods_with_affinity[pi.key] = pi
            else:
                self.pods_with_affinity.pop(pi.key, None)
        if pi.anti_affinity:
            if sign > 0:
                self.pods_with_anti_affinity[pi.key] = pi
            else:
                self.pods_with_anti_affinity.pop(pi.key, None)
        self.generation += 1

    def clone(self) -> NodeInfo:
        """An independent copy for what-if questions (preemption, nominated pods)."""
        ni = NodeInfo.__new__(NodeInfo)
        ni.node, ni.name, ni.labels, ni.taints = self.node, self.name, self.labels, self.taints
        ni.unschedulable, ni.alloc, ni.alloc_cpu, ni.alloc_mem = (self.unschedulable, self.alloc, self.alloc_cpu,
                                                                  self.alloc_mem)
        ni.allowed_pods, ni.images, ni.generation = self.allowed_pods, self.images, self.generation
        ni.pods = dict(self.pods)
        ni.requested = dict(self.requested)
        ni.req_cpu, ni.req_mem, ni.nz_cpu, ni.nz_mem = self.req_cpu, self.req_mem, self.nz_cpu, self.nz_mem
        ni.ports = dict(self.ports)
        ni.pods_with_affinity = dict(self.pods_with_affinity)
        ni.pods_with_anti_affinity = dict(self.pods_with_anti_affinity)
        ni.match_cache = dict(self.match_cache)  # its own: the clone's generations diverge
        return ni

    def __repr__(self) -> str:
        return f"<NodeInfo {self.name} pods={len(self.pods)}>"


class Snapshot(Protocol):
    """What plugins may read of the whole cluster during a cycle."""

    def node_infos(self) -> list[NodeInfo]: ...

    def get(self, name: str) -> NodeInfo | None: ...

    def have_pods_with_affinity(self) -> list[NodeInfo]: ...

    def have_pods_with_anti_affinity(self) -> list[NodeInfo]: ...

    def image_spread(self, image: str) -> int: ...


class Handle:
    """Given to plugin factories: the cluster view and lookups plugins need.
    ``default_selector(pod)``: the selector of the workloads and Services that
    select the pod (for default spreading), or None."""

    def __init__(self, snapshot: Snapshot, *,
                 namespace_labels: Callable[[str], dict[str, str] | None] = lambda ns: None,
                 default_selector: Callable[[PodInfo], labels.Selector | None] = lambda pod: None) -> None:
        self.snapshot = snapshot
        self.namespace_labels = namespace_labels
        self.default_selector = default_selector


class Plugin(Protocol):
    NAME: str


class PreFilterPlugin(Plugin, Protocol):
    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None: ...


NodeFilter = Callable[[NodeInfo], "Status | None"]
# Runs one plugin's filter on a node: True if it passes; a refusal is recorded.
Keep = Callable[[NodeInfo], bool]


class FilterPlugin(Plugin, Protocol):
    """``filter`` is the rule. A plugin may also offer the batch form
    ``filter_nodes(state, pod, nodes, keep) -> passing nodes`` (in order), deciding
    the easy cases inline and calling ``keep(node)`` (its own rule, recorded) for
    the rest: a comprehension over thousands of nodes beats a call per node."""

    def filter(self, state: CycleState, pod: PodInfo, ni: NodeInfo) -> Status | None: ...


class PreScorePlugin(Plugin, Protocol):
    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> Status | None: ...


class ScorePlugin(Plugin, Protocol):
    def score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> list[int]: ...


class NormalizeScorePlugin(Plugin, Protocol):
    def normalize(self, state: CycleState, pod: PodInfo, scores: list[int]) -> None: ...


def default_normalize(scores: list[int], *, reverse: bool = False) -> None:
    """Scale to 0..100 by the maximum (upstream's DefaultNormalizeScore), in place."""
    top = max(scores, default=0)
    if top == 0:
        if reverse:
            scores[:] = [MAX_NODE_SCORE] * len(scores)
        return
    for i, s in enumerate(scores):
        v = MAX_NODE_SCORE * s // top
        scores[i] = MAX_NODE_SCORE - v if reverse else v
