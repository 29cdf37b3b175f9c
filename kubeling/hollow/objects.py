"""The objects a hollow kubelet writes: its Node, its Lease, and pod statuses.

Pure functions, no I/O. The shapes follow what a real kubelet reports (a
Node registered with capacity, nodeInfo, addresses and the four standard
conditions; a Lease in ``kube-node-lease`` named after the node; a pod
status with phase, IPs, conditions and one status per container), so that
controllers, the scheduler and kubectl cannot tell a hollow node from a real
one. Addresses are fake (node IPs from 10.200.0.0/13, pod IPs from the node's
``spec.podCIDR`` or else a /24 per node in 10.128.0.0/10): nothing ever
connects to them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
from typing import Any

import kubeling
from kubeling.lib import timeutil

Obj = dict[str, Any]

LEASE_NAMESPACE = "kube-node-lease"
HOLLOW_LABEL = "kubeling.io/hollow-node"  # value: the name prefix of the process that owns it
NODE_IP_BASE = ipaddress.IPv4Address("10.200.0.0")  # 10.200.0.0/13: half a million nodes
POD_FALLBACK_NET = ipaddress.IPv4Network("10.128.0.0/10")  # a /24 per node when it has no podCIDR
CONDITION_TYPES = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
_CONDITION_TEXT = {
    # type: (status, reason, message) as a healthy kubelet reports them
    "Ready": ("True", "KubeletReady", "kubelet is posting ready status"),
    "MemoryPressure": ("False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    "DiskPressure": ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    "PIDPressure": ("False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
}


@dataclasses.dataclass(frozen=True)
class NodeShape:
    """What every hollow node of one process looks like."""

    cpu: str = "4"
    memory: str = "16Gi"
    pods: int = 110
    ephemeral_storage: str = "100Gi"
    kubelet_version: str = kubeling.KUBE_VERSION
    prefix: str = "hollow-"


def node_name(prefix: str, index: int) -> str:
    return f"{prefix}{index}"


def node_ip(index: int) -> str:
    return str(NODE_IP_BASE + index + 1)


def fallback_pod_cidr(index: int) -> ipaddress.IPv4Network:
    """A /24 of 10.128.0.0/10 for node ``index`` (wrapping after 16384 nodes)."""
    n = index % (1 << (24 - POD_FALLBACK_NET.prefixlen))
    return ipaddress.IPv4Network((int(POD_FALLBACK_NET.network_address) + (n << 8), 24))


def node_conditions(now: str, *, previous: list[Obj] | None = None) -> list[Obj]:
    """The four healthy conditions, heartbeat ``now``; a transition time is kept
    from ``previous`` when the status did not change."""
    before = {c.get("type"): c for c in previous or [] if isinstance(c, dict)}
    out = []
    for ctype in CONDITION_TYPES:
        status, reason, message = _CONDITION_TEXT[ctype]
        old = before.get(ctype) or {}
        since = old.get("lastTransitionTime") if old.get("status") == status else None
        out.append({"type": ctype, "status": status, "reason": reason, "message": message,
                    "lastHeartbeatTime": now, "lastTransitionTime": since or now})
    return out


def node_is_ready(node: Obj) -> bool:
    for c in (node.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return bool(c.get("status") == "True")
    return False


def node_object(index: int, shape: NodeShape, *, now: str | None = None) -> Obj:
    name = node_name(shape.prefix, index)
    now = now or timeutil.rfc3339()
    resources = {"cpu": shape.cpu, "memory": shape.memory, "pods": str(shape.pods),
                 "ephemeral-storage": shape.ephemeral_storage}
    boot = hashlib.sha256(f"hollow/{name}".encode()).hexdigest()
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
                "type": "hollow", HOLLOW_LABEL: shape.prefix.rstrip("-") or "hollow",
            },
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {},
        "status": {
            "capacity": dict(resources),
            "allocatable": dict(resources),
            "conditions": node_conditions(now),
            "addresses": [{"type": "InternalIP", "address": node_ip(index)},
                          {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": boot[:32], "systemUUID": _uuid(boot[32:]), "bootID": _uuid(boot[:32]),
                "kernelVersion": "6.1.0-hollow", "osImage": "kubeling hollow node",
                "containerRuntimeVersion": "hollow://" + kubeling.__version__,
                "kubeletVersion": shape.kubelet_version, "kubeProxyVersion": shape.kubelet_version,
                "operatingSystem": "linux", "architecture": "amd64",
            },
        },
    }


def _uuid(hex32: str) -> str:
    h = hex32[:32]
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def lease_object(node: Obj, *, duration: int, now_micro: str | None = None) -> Obj:
    """The node's heartbeat Lease, owned by the Node so it goes when the node does."""
    md = node["metadata"]
    lease: Obj = {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": {"name": md["name"], "namespace": LEASE_NAMESPACE},
        "spec": {"holderIdentity": md["name"], "leaseDurationSeconds": duration,
                 "renewTime": now_micro or timeutil.rfc3339_micro()},
    }
    if md.get("uid"):
        lease["metadata"]["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Node", "name": md["name"], "uid": md["uid"]}]
    return lease


# ---- pods -------------------------------------------------------------------------------
def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def _image_id(image: str) -> str:
    repo = image.split("@", 1)[0]
    last = repo.rsplit("/", 1)[-1]
    if ":" in last:
        repo = repo[: len(repo) - len(last)] + last.split(":", 1)[0]
    if "/" not in repo:
        repo = "docker.io/library/" + repo
    elif "." not in repo.split("/", 1)[0] and ":" not in repo.split("/", 1)[0]:
        repo = "docker.io/" + repo
    return f"{repo}@sha256:{_digest('image', image)}"


def _container_id(uid: str, name: str) -> str:
    return "hollow://" + _digest(uid, name)[:64]


def _running(c: Obj, uid: str, started: str) -> Obj:
    return {"name": c.get("name", ""), "image": c.get("image", ""), "imageID": _image_id(str(c.get("image", ""))),
            "containerID": _container_id(uid, str(c.get("name", ""))), "ready": True, "started": True,
            "restartCount": 0, "lastState": {}, "state": {"running": {"startedAt": started}}}


def _terminated(c: Obj, uid: str, started: str, finished: str) -> Obj:
    cid = _container_id(uid, str(c.get("name", "")))
    return {"name": c.get("name", ""), "image": c.get("image", ""), "imageID": _image_id(str(c.get("image", ""))),
            "containerID": cid, "ready": False, "started": False, "restartCount": 0, "lastState": {},
            "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": started,
                                     "finishedAt": finished, "containerID": cid}}}


def _cond(ctype: str, status: str, now: str, reason: str = "") -> Obj:
    c: Obj = {"type": ctype, "status": status, "lastProbeTime": None, "lastTransitionTime": now}
    if reason:
        c["reason"] = reason
    return c


def _keep_transitions(conds: list[Obj], old: list[Obj]) -> list[Obj]:
    """Keep each condition's lastTransitionTime when its status did not change."""
    before = {c.get("type"): c for c in old if isinstance(c, dict)}
    for c in conds:
        prev = before.get(c["type"])
        if prev and prev.get("status") == c["status"] and prev.get("lastTransitionTime"):
            c["lastTransitionTime"] = prev["lastTransitionTime"]
    return conds


def readiness_gates_met(pod: Obj) -> bool:
    gates = [g.get("conditionType") for g in (pod.get("spec") or {}).get("readinessGates") or []]
    have = {c.get("type"): c.get("status") for c in (pod.get("status") or {}).get("conditions") or []}
    return all(have.get(g) == "True" for g in gates)


def running_status(pod: Obj, *, host_ip: str, pod_ip: str, now: str | None = None) -> Obj:
    """The status of a pod whose containers have all started and are ready."""
    now = now or timeutil.rfc3339()
    spec = pod.get("spec") or {}
    old = pod.get("status") or {}
    uid = str(pod["metadata"].get("uid", ""))
    started = old.get("startTime") or now
    ready = readiness_gates_met(pod)
    conds = [_cond("PodReadyToStartContainers", "True", now), _cond("Initialized", "True", now),
             _cond("Ready", "True" if ready else "False", now, "" if ready else "ReadinessGatesNotReady"),
             _cond("ContainersReady", "True", now), _cond("PodScheduled", "True", now)]
    # Conditions others own (readiness gates, DisruptionTarget) are kept as they are.
    ours = {c["type"] for c in conds}
    extra = [c for c in old.get("conditions") or [] if isinstance(c, dict) and c.get("type") not in ours]
    status: Obj = {
        "phase": "Running", "hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}], "startTime": started,
        "conditions": _keep_transitions(conds, old.get("conditions") or []) + extra,
        "containerStatuses": [_running(c, uid, started) for c in spec.get("containers") or []],
    }
    if spec.get("initContainers"):
        status["initContainerStatuses"] = [_terminated(c, uid, started, started)
                                           for c in spec["initContainers"]]
    return status


def finished_status(pod: Obj, *, host_ip: str, pod_ip: str, now: str | None = None) -> Obj:
    """The status of a pod whose containers all exited 0 (phase Succeeded)."""
    now = now or timeutil.rfc3339()
    spec = pod.get("spec") or {}
    old = pod.get("status") or {}
    uid = str(pod["metadata"].get("uid", ""))
    started = old.get("startTime") or now
    conds = [_cond("PodReadyToStartContainers", "False", now), _cond("Initialized", "True", now),
             _cond("Ready", "False", now, "PodCompleted"), _cond("ContainersReady", "False", now, "PodCompleted"),
             _cond("PodScheduled", "True", now)]
    ours = {c["type"] for c in conds}
    extra = [c for c in old.get("conditions") or [] if isinstance(c, dict) and c.get("type") not in ours]
    status: Obj = {
        "phase": "Succeeded", "hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "startTime": started,
        "conditions": _keep_transitions(conds, old.get("conditions") or []) + extra,
        "containerStatuses": [_terminated(c, uid, started, now) for c in spec.get("containers") or []],
    }
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    if spec.get("initContainers"):
        status["initContainerStatuses"] = [_terminated(c, uid, started, started)
                                           for c in spec["initContainers"]]
    return status
