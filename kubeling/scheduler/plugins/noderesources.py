"""NodeResourcesFit: the pod's requests (containers, init containers, overhead;
see kubeling.scheduler.resources) must fit in what the node has left of its
allocatable, counting the pod-count limit and extended resources. Scoring is
LeastAllocated: the more cpu and memory stay free after placing the pod, the
better (requests of zero count as upstream's non-zero defaults)."""

from __future__ import annotations

from kubeling.scheduler import framework

NAME = "NodeResourcesFit"
TOO_MANY_PODS = "Too many pods"


def insufficient(name: str) -> str:
    return f"Insufficient {name}"


def fit_reasons(pod: framework.PodInfo, ni: framework.NodeInfo) -> list[str]:
    """Every reason ``pod`` does not fit on ``ni`` (empty: it fits)."""
    reasons = []
    if len(ni.pods) + 1 > ni.allowed_pods:
        reasons.append(TOO_MANY_PODS)
    alloc, used = ni.alloc, ni.requested
    for name, want in pod.requests.items():
        if want > alloc.get(name, 0) - used.get(name, 0):
            reasons.append(insufficient(name))
    return reasons


def least_allocated(cpu_cap: int, cpu: int, mem_cap: int, mem: int) -> int:
    """Mean over cpu and memory of the free share (0..100) left after placing the pod."""
    s_cpu = (cpu_cap - cpu) * framework.MAX_NODE_SCORE // cpu_cap if 0 < cpu_cap and cpu <= cpu_cap else 0
    s_mem = (mem_cap - mem) * framework.MAX_NODE_SCORE // mem_cap if 0 < mem_cap and mem <= mem_cap else 0
    return (s_cpu + s_mem) // 2


class NodeResourcesFit:
    NAME = NAME

    def __init__(self, handle: framework.Handle) -> None:
        self.handle = handle

    def filter(self, state: framework.CycleState, pod: framework.PodInfo,
               ni: framework.NodeInfo) -> framework.Status | None:
        reasons = fit_reasons(pod, ni)
        return framework.unschedulable(*reasons) if reasons else None

    def filter_nodes(self, state: framework.CycleState, pod: framework.PodInfo,
                     nodes: list[framework.NodeInfo], keep: framework.Keep) -> list[framework.NodeInfo]:
        """The batch form: the common case (cpu and/or memory only) inline, the rule for the rest."""
        req = pod.requests
        if any(k not in ("cpu", "memory") for k in req):
            return [ni for ni in nodes if keep(ni)]
        cpu, mem = req.get("cpu", 0), req.get("memory", 0)
        return [ni for ni in nodes
                if (len(ni.pods) < ni.allowed_pods and cpu <= ni.alloc_cpu - ni.req_cpu
                    and mem <= ni.alloc_mem - ni.req_mem) or keep(ni)]

    def score(self, state: framework.CycleState, pod: framework.PodInfo,
              nodes: list[framework.NodeInfo]) -> list[int]:
        # least_allocated() inlined: this runs for every feasible node of every pod.
        cpu, mem, top = pod.nz_cpu, pod.nz_mem, framework.MAX_NODE_SCORE
        out = []
        for ni in nodes:
            cc, cr, mc, mr = ni.alloc_cpu, ni.nz_cpu + cpu, ni.alloc_mem, ni.nz_mem + mem
            out.append(((cc - cr) * top // cc if 0 < cc and cr <= cc else 0)
                       + ((mc - mr) * top // mc if 0 < mc and mr <= mc else 0) >> 1)
        return out
