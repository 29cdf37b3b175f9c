"""NodePorts: host ports a pod asks for must be free on the node.

Two uses of one port and protocol clash when their host IPs are equal or
either is 0.0.0.0 (all addresses); a different protocol or two distinct
specific IPs do not clash.
"""

from __future__ import annotations

from collections.abc import Iterable

from kubeling.scheduler import framework

NAME = "NodePorts"
REASON = "node(s) didn't have free ports for the requested pod ports"
ANY_IP = "0.0.0.0"


def conflicts(wanted: Iterable[tuple[str, str, int]], used: Iterable[tuple[str, str, int]]) -> bool:
    used = list(used)
    for ip, proto, port in wanted:
        for uip, uproto, uport in used:
            if port == uport and proto == uproto and (ip == uip or ip == ANY_IP or uip == ANY_IP):
                return True
    return False


class NodePorts:
    NAME = NAME

    def __init__(self, handle: framework.Handle) -> None:
        self.handle = handle

    def pre_filter(self, state: framework.CycleState, pod: framework.PodInfo) -> framework.Status | None:
        return None if pod.ports else framework.SKIP

    def filter(self, state: framework.CycleState, pod: framework.PodInfo,
               ni: framework.NodeInfo) -> framework.Status | None:
        if ni.ports and conflicts(pod.ports, ni.ports):
            return framework.unschedulable(REASON)
        return None
