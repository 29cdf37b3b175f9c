"""Which pod sysctls the kubelet lets a pod set (upstream's sysctl admission,
``pkg/kubelet/sysctl``).

A sysctl is allowed when it is one of the *safe* set (namespaced, and unable
to affect other pods or the node) or matches the node's allowed unsafe list
(exact names, or prefixes written ``net.core.*``). Even then it must be
namespaced, and a ``net.*`` one may not be set by a hostNetwork pod nor an
IPC one by a hostIPC pod: those would change the node itself. A pod asking
for anything else is rejected before it runs: phase Failed, reason
``SysctlForbidden`` (:func:`refusal` is the kubelet's admission check).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubeling.api import validation
from kubeling.kubelet import terminal

Obj = dict[str, Any]

FORBIDDEN_REASON = "SysctlForbidden"

# Upstream's safe set (as of Kubernetes 1.32).
SAFE = frozenset({
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
})


def normalize(name: str) -> str:
    """The dotted spelling: a name whose first separator is ``/`` has its dots
    and slashes swapped (``net/ipv4/conf/eth0.100/rp_filter`` is
    ``net.ipv4.conf.eth0/100.rp_filter``)."""
    first = next((c for c in name if c in "./"), "")
    if first != "/":
        return name
    return name.translate(str.maketrans("./", "/."))




def _allowed(name: str, allowed_unsafe: Iterable[str]) -> bool:
    if name in SAFE:
        return True
    for pattern in allowed_unsafe:
        if pattern.endswith("*") and name.startswith(pattern[:-1]) or name == pattern:
            return True
    return False


def check(name: str, *, host_network: bool, host_ipc: bool, allowed_unsafe: Iterable[str] = ()) -> str:
    """Why the sysctl may not be set ("" when it may)."""
    name = normalize(name)
    if not _allowed(name, allowed_unsafe):
        return f'"{name}" not allowlisted'
    kind = validation.sysctl_namespace(name)
    if not kind:
        return f'"{name}" not allowed: not a namespaced sysctl'
    if kind == "net" and host_network:
        return f'"{name}" not allowed with host net enabled'
    if kind == "ipc" and host_ipc:
        return f'"{name}" not allowed with host ipc enabled'
    return ""


def admit(pod: Obj, *, allowed_unsafe: Iterable[str] = ()) -> tuple[str, str] | None:
    """None when the pod may run, else (reason, message) to reject it with."""
    spec = pod.get("spec") or {}
    allowed = list(allowed_unsafe)
    for s in (spec.get("securityContext") or {}).get("sysctls") or []:
        why = check(str(s.get("name", "")), host_network=bool(spec.get("hostNetwork")),
                    host_ipc=bool(spec.get("hostIPC")), allowed_unsafe=allowed)
        if why:
            return FORBIDDEN_REASON, f"forbidden sysctl: {why}"
    return None


def refusal(pod: Obj, *, allowed_unsafe: Iterable[str] = ()) -> terminal.Failure | None:
    """The pod admission check for the kubelet's ``admit`` hook: a pod asking
    for a forbidden sysctl fails before it runs (upstream's rejectPod)."""
    refused = admit(pod, allowed_unsafe=allowed_unsafe)
    if refused is None:
        return None
    reason, message = refused
    return terminal.Failure(reason, f"Pod was rejected: {message}", event_type="Warning")


def runtime_sysctls(pod: Obj) -> dict[str, str]:
    """The pod's sysctls as the runtime applies them (dotted names)."""
    spec = pod.get("spec") or {}
    return {normalize(str(s.get("name", ""))): str(s.get("value", ""))
            for s in (spec.get("securityContext") or {}).get("sysctls") or []}
