"""Pure DaemonSet rules (upstream's ``pkg/controller/daemon/util`` and
``NodeShouldRunDaemonPod``), on JSON dicts.

- Every daemon pod tolerates what a node's lifecycle puts on it: not-ready and
  unreachable (NoExecute, forever), disk/memory/PID pressure and
  unschedulable (NoSchedule), and network-unavailable for host-network pods.
  So a cordoned node still runs its daemons, as upstream.
- A pod is pinned to its node by a required node affinity term
  ``matchFields metadata.name In [<node>]``; the scheduler binds it.
- A node should run the daemon if the template's nodeName (if any), node
  selector, required node affinity and NoSchedule/NoExecute taints admit it;
  a pod already there may stay unless a NoExecute taint is not tolerated.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from kubeling.api import podfit
from kubeling.controllers import history

Obj = dict[str, Any]

HASH_LABEL = history.HASH_LABEL
TEMPLATE_GENERATION_LABEL = "pod-template-generation"
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"

_NODE_NAME_FIELD = "metadata.name"

# (key, effect) of the tolerations every daemon pod gets (operator Exists).
_DAEMON_TOLERATIONS = (
    ("node.kubernetes.io/not-ready", podfit.NO_EXECUTE),
    ("node.kubernetes.io/unreachable", podfit.NO_EXECUTE),
    ("node.kubernetes.io/disk-pressure", podfit.NO_SCHEDULE),
    ("node.kubernetes.io/memory-pressure", podfit.NO_SCHEDULE),
    ("node.kubernetes.io/pid-pressure", podfit.NO_SCHEDULE),
    ("node.kubernetes.io/unschedulable", podfit.NO_SCHEDULE),
)
_HOST_NETWORK_TOLERATION = ("node.kubernetes.io/network-unavailable", podfit.NO_SCHEDULE)


def template_generation(ds: Obj) -> int | None:
    raw = ((ds.get("metadata") or {}).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _same_toleration(a: Obj, b: Obj) -> bool:
    return all((a.get(k) or "") == (b.get(k) or "") for k in ("key", "effect", "value")) and \
        (a.get("operator") or "Equal") == (b.get("operator") or "Equal")


def add_daemon_tolerations(spec: Obj) -> None:
    """Add (or replace identical) daemon tolerations in a pod spec, in place."""
    wanted = list(_DAEMON_TOLERATIONS)
    if spec.get("hostNetwork"):
        wanted.append(_HOST_NETWORK_TOLERATION)
    tols: list[Obj] = list(spec.get("tolerations") or [])
    for key, effect in wanted:
        tol = {"key": key, "operator": "Exists", "effect": effect}
        tols = [t for t in tols if not _same_toleration(t, tol)]
        tols.append(tol)
    spec["tolerations"] = tols


def pod_template(ds: Obj, hash_: str) -> Obj:
    """The template daemon pods are made from: the DaemonSet's, plus the
    generation and revision labels and the daemon tolerations."""
    template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
    md = template.setdefault("metadata", {})
    labels = md.setdefault("labels", {})
    gen = template_generation(ds)
    if gen is not None:
        labels[TEMPLATE_GENERATION_LABEL] = str(gen)
    if hash_:
        labels[HASH_LABEL] = hash_
    add_daemon_tolerations(template.setdefault("spec", {}))
    return template


def pin_to_node(spec: Obj, node_name: str) -> None:
    """Replace the required node affinity with one selecting ``node_name`` by name, in place.
    (Only called for nodes the original terms admit, so nothing is lost.)"""
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [{
        "matchFields": [{"key": _NODE_NAME_FIELD, "operator": "In", "values": [node_name]}]}]}


def target_node(pod: Obj) -> str | None:
    """The node a daemon pod is for: spec.nodeName, or its pinning affinity term."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    terms = (podfit.required_affinity(pod) or {}).get("nodeSelectorTerms") or []
    for term in terms:
        for req in term.get("matchFields") or []:
            values = req.get("values") or []
            if req.get("key") == _NODE_NAME_FIELD and req.get("operator") == "In" and len(values) == 1:
                return str(values[0])
    return None


def should_run(ds: Obj, node: Obj) -> tuple[bool, bool]:
    """(a daemon pod should be started on ``node``, a daemon pod there may keep running)."""
    spec = copy.deepcopy(((ds.get("spec") or {}).get("template") or {}).get("spec") or {})
    name = (node.get("metadata") or {}).get("name")
    if spec.get("nodeName") and spec["nodeName"] != name:
        return False, False
    add_daemon_tolerations(spec)
    pod = {"spec": spec}
    if not podfit.matches_node(pod, node):
        return False, False
    taints = podfit.node_taints(node)
    tolerations = podfit.pod_tolerations(pod)
    if podfit.untolerated_taint(taints, tolerations) is not None:
        # Running pods are evicted only by NoExecute taints they do not tolerate.
        return False, podfit.untolerated_taint(taints, tolerations, (podfit.NO_EXECUTE,)) is None
    return True, True


def is_updated(pod: Obj, hash_: str, generation: int | None) -> bool:
    """The pod was made from the current template (upstream's IsPodUpdated)."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    by_generation = generation is not None and labels.get(TEMPLATE_GENERATION_LABEL) == str(generation)
    return (bool(hash_) and labels.get(HASH_LABEL) == hash_) or by_generation


def scaled(value: Any, total: int) -> int:
    """An int-or-percent against ``total``, percentages rounded up (as upstream's maxUnavailable/maxSurge)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        try:
            return math.ceil(int(text[:-1]) * total / 100)
        except ValueError:
            return 0
    try:
        return int(text)
    except ValueError:
        return 0


def creation_order_key(pod: Obj) -> tuple[int, str, str]:
    """Scheduled before unscheduled, then oldest first, then by name (upstream's podByCreationTimestampAndPhase)."""
    md = pod.get("metadata") or {}
    return (0 if (pod.get("spec") or {}).get("nodeName") else 1, md.get("creationTimestamp") or "", md.get("name") or "")
