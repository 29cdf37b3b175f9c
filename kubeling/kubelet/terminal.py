"""Pods the kubelet itself fails for good: phase ``Failed`` with a reason.

Two things end a pod this way, as upstream's kubelet does:

* ``spec.activeDeadlineSeconds`` (upstream's active-deadline sync handler):
  once the pod has been active longer than that since ``status.startTime``
  it fails with reason ``DeadlineExceeded``;
* node-pressure eviction (:mod:`kubeling.kubelet.eviction`): reason
  ``Evicted``, a ``DisruptionTarget`` condition (``TerminationByKubelet``)
  and grace period 0 for a hard threshold; also a new pod the node refuses
  to start under pressure (``Evicted``, "The node had condition: [...]").

Both become a :class:`Failure`, which :class:`~kubeling.kubelet.podsync.PodSyncer`
carries out: it kills the containers, releases the sandbox and the pod's
volumes (an evicted pod must give back its emptyDir), and reports the status
built by :func:`failed_status`. A ``Failed`` pod is never started again.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from kubeling.kubelet import podstatus
from kubeling.lib import timeutil

Obj = dict[str, Any]

DEADLINE_REASON = "DeadlineExceeded"
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"
EVICTED_REASON = "Evicted"
DISRUPTION_REASON = "TerminationByKubelet"


@dataclasses.dataclass
class Failure:
    reason: str
    message: str
    grace: float | None = None  # seconds for the containers to stop; None: the pod's own
    disruption: bool = False  # add the DisruptionTarget condition (evictions)
    event_type: str = "Normal"
    event: bool = True  # record an Event (reason, message) on the pod when carried out
    done: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)  # containers and volumes gone


def deadline_left(pod: Obj, now: float) -> float | None:
    """Seconds until the pod's active deadline (<= 0: passed); None without one
    or before the pod has a start time."""
    deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
    started = timeutil.parse((pod.get("status") or {}).get("startTime") or "")
    if deadline is None or started is None:
        return None
    return started.timestamp() + float(deadline) - now


def deadline_failure(pod: Obj, now: float) -> Failure | None:
    left = deadline_left(pod, now)
    if left is None or left > 0:
        return None
    return Failure(DEADLINE_REASON, DEADLINE_MESSAGE)


def failed_status(pod: Obj, failure: Failure, *, containers: list[Obj], init_containers: list[Obj]) -> Obj:
    """The status of the failed pod: phase, reason, message, the containers'
    final states and the conditions (plus DisruptionTarget for evictions)."""
    old = pod.get("status") or {}
    status: Obj = {**old, "phase": "Failed", "reason": failure.reason, "message": failure.message}
    if any(c.get("containerID") for c in containers):  # a pod refused before it ran shows none
        status["containerStatuses"] = containers
    if init_containers:
        status["initContainerStatuses"] = init_containers
    conds = [c for c in old.get("conditions") or [] if c.get("type") != "DisruptionTarget"]
    if failure.disruption:
        prev = next((c for c in old.get("conditions") or [] if c.get("type") == "DisruptionTarget"), None)
        since = prev["lastTransitionTime"] if prev and prev.get("status") == "True" else timeutil.rfc3339()
        conds.append({"type": "DisruptionTarget", "status": "True", "reason": DISRUPTION_REASON,
                      "message": failure.message, "lastProbeTime": None, "lastTransitionTime": since})
    init_done = any(c.get("type") == "Initialized" and c.get("status") == "True" for c in conds) or \
        not (pod.get("spec") or {}).get("initContainers")
    seen = {**pod, "status": {**old, "conditions": conds}}
    status["conditions"] = podstatus.conditions(seen, init_done=init_done, containers_ready=False, phase_="Failed",
                                                sandbox_ready=False)
    return status
