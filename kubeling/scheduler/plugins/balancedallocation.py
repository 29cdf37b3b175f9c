"""NodeResourcesBalancedAllocation: prefer nodes whose cpu and memory would be
used in similar fractions after placing the pod (score 100 * (1 - standard
deviation of the fractions)). Pods requesting nothing are skipped."""

from __future__ import annotations

from kubeling.scheduler import framework

NAME = "NodeResourcesBalancedAllocation"


def balanced(cpu_cap: int, cpu: int, mem_cap: int, mem: int) -> int:
    f_cpu = min(cpu / cpu_cap, 1.0) if cpu_cap > 0 else 1.0
    f_mem = min(mem / mem_cap, 1.0) if mem_cap > 0 else 1.0
    # For two resources the standard deviation is half their difference.
    return int((1.0 - abs(f_cpu - f_mem) / 2) * framework.MAX_NODE_SCORE)


class BalancedAllocation:
    NAME = NAME

    def __init__(self, handle: framework.Handle) -> None:
        self.handle = handle

    def pre_score(self, state: framework.CycleState, pod: framework.PodInfo,
                  nodes: list[framework.NodeInfo]) -> framework.Status | None:
        return None if pod.requests.get("cpu") or pod.requests.get("memory") else framework.SKIP

    def score(self, state: framework.CycleState, pod: framework.PodInfo,
              nodes: list[framework.NodeInfo]) -> list[int]:
        # balanced() inlined: this runs for every feasible node of every pod.
        cpu, mem, top = pod.requests.get("cpu", 0), pod.requests.get("memory", 0), framework.MAX_NODE_SCORE
        out = []
        for ni in nodes:
            cc, mc = ni.alloc_cpu, ni.alloc_mem
            fc = (ni.req_cpu + cpu) / cc if cc > 0 else 1.0
            fm = (ni.req_mem + mem) / mc if mc > 0 else 1.0
            fc = fc if fc < 1.0 else 1.0  # noqa: FURB136 - no min() call: this loop is hot
            fm = fm if fm < 1.0 else 1.0  # noqa: FURB136
            d = fc - fm if fc > fm else fm - fc
            out.append(int((1.0 - d / 2) * top))
        return out
