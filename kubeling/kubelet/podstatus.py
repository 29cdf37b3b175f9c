"""Pod status from what the runtime reports (upstream's ``generateAPIPodStatus``
and ``getPhase``), as pure functions over plain dicts.

The kubelet hands in, per container name, the newest runtime status and the
one before it (for ``lastState``), plus what it knows itself (waiting
reasons such as ImagePullBackOff or CrashLoopBackOff, readiness).
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

from kubeling.kubelet.runtime import protocol as cri
from kubeling.lib import timeutil

Obj = dict[str, Any]


@dataclasses.dataclass
class ContainerView:
    """What the kubelet knows about one container of the pod."""

    spec: Obj
    current: cri.ContainerStatus | None = None
    previous: cri.ContainerStatus | None = None
    waiting_reason: str = ""  # why it is not running now (ContainerCreating, CrashLoopBackOff …)
    waiting_message: str = ""
    ready: bool = False
    started: bool | None = None
    restart_count: int = 0
    termination_message: str = ""  # of the current run, once it exited
    previous_message: str = ""  # of the previous run (lastState)


def _time(ns: int) -> str:
    return timeutil.rfc3339(datetime.datetime.fromtimestamp(ns / 1e9, datetime.UTC))


def _terminated(st: cri.ContainerStatus, message: str = "") -> Obj:
    out: Obj = {"exitCode": st.exit_code, "reason": st.reason or ("Completed" if st.exit_code == 0 else "Error"),
                "containerID": f"runc://{st.id}"}
    if st.started_at:
        out["startedAt"] = _time(st.started_at)
    if st.finished_at:
        out["finishedAt"] = _time(st.finished_at)
    if message or st.message:
        out["message"] = message or st.message
    return out


def container_status(view: ContainerView) -> Obj:
    spec = view.spec
    out: Obj = {"name": spec["name"], "image": spec.get("image", ""), "imageID": "", "ready": view.ready,
                "restartCount": view.restart_count, "started": bool(view.started)}
    cur = view.current
    if cur is not None:
        out["containerID"] = f"runc://{cur.id}"
        out["imageID"] = cur.image_ref or cur.image_id
    if view.waiting_reason or cur is None or cur.state == cri.ContainerState.CREATED:
        waiting: Obj = {"reason": view.waiting_reason or "ContainerCreating"}
        if view.waiting_message:
            waiting["message"] = view.waiting_message
        out["state"] = {"waiting": waiting}
        if cur is not None and cur.state == cri.ContainerState.EXITED:
            out["lastState"] = {"terminated": _terminated(cur, view.termination_message)}
    elif cur.state == cri.ContainerState.RUNNING:
        out["state"] = {"running": {"startedAt": _time(cur.started_at or cur.created_at)}}
    else:
        out["state"] = {"terminated": _terminated(cur, view.termination_message)}
        out["started"] = False
    if "lastState" not in out:
        prev = view.previous
        out["lastState"] = {"terminated": _terminated(prev, view.previous_message)} if prev is not None else {}
    return out


def phase(spec: Obj, init: list[ContainerView], main: list[ContainerView], *, init_done: bool) -> str:
    """Upstream's getPhase for a pod that is not being deleted."""
    policy = spec.get("restartPolicy") or "Always"
    if not init_done:
        failed_init = any(v.current is not None and v.current.state == cri.ContainerState.EXITED
                          and v.current.exit_code != 0 for v in init)
        if failed_init and policy == "Never":
            return "Failed"
        return "Pending"
    running = waiting = stopped = succeeded = 0
    for v in main:
        cur = v.current
        if cur is None or (cur.state == cri.ContainerState.CREATED):
            if v.previous is not None:
                stopped += 1  # restarting after a termination
            else:
                waiting += 1
        elif cur.state == cri.ContainerState.RUNNING and not v.waiting_reason:
            running += 1
        elif cur.state == cri.ContainerState.EXITED:
            stopped += 1
            if cur.exit_code == 0:
                succeeded += 1
        else:
            waiting += 1
    if waiting > 0:
        return "Pending"
    if running > 0:
        return "Running"
    if stopped > 0:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _condition(old: list[Obj], type_: str, status: bool, now: str, reason: str = "") -> Obj:
    value = "True" if status else "False"
    prev = next((c for c in old if c.get("type") == type_), None)
    since = prev["lastTransitionTime"] if prev and prev.get("status") == value and prev.get(
        "lastTransitionTime") else now
    cond: Obj = {"type": type_, "status": value, "lastProbeTime": None, "lastTransitionTime": since}
    if reason:
        cond["reason"] = reason
    return cond


def conditions(pod: Obj, *, init_done: bool, containers_ready: bool, phase_: str, sandbox_ready: bool) -> list[Obj]:
    """Our four conditions (plus PodReadyToStartContainers), keeping other
    writers' conditions (PodScheduled, DisruptionTarget, readiness gates)."""
    old = list((pod.get("status") or {}).get("conditions") or [])
    now = timeutil.rfc3339()
    ours = {"PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"}
    terminal = phase_ in ("Succeeded", "Failed")
    gates = [g.get("conditionType") for g in (pod.get("spec") or {}).get("readinessGates") or []]
    gates_ok = all(any(c.get("type") == g and c.get("status") == "True" for c in old) for g in gates)
    ready = containers_ready and gates_ok and not terminal
    reason_cr = "" if containers_ready else ("PodCompleted" if terminal else "ContainersNotReady")
    reason_ready = "" if ready else ("PodCompleted" if terminal else
                                     "ContainersNotReady" if not containers_ready else "ReadinessGatesNotReady")
    new = [
        _condition(old, "PodReadyToStartContainers", sandbox_ready, now),
        _condition(old, "Initialized", init_done, now, "" if init_done else "ContainersNotInitialized"),
        _condition(old, "ContainersReady", containers_ready and not terminal, now, reason_cr),
        _condition(old, "Ready", ready, now, reason_ready),
    ]
    return [c for c in old if c.get("type") not in ours] + new
