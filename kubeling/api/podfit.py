"""Pure pod-to-node matching rules shared by the scheduler and the DaemonSet
controller (upstream keeps these in ``component-helpers/scheduling/corev1``):
node selectors and required node affinity, and taints against tolerations.

Everything takes plain JSON dicts and never mutates them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Obj = dict[str, Any]

NO_SCHEDULE = "NoSchedule"
PREFER_NO_SCHEDULE = "PreferNoSchedule"
NO_EXECUTE = "NoExecute"


def _requirement_matches(req: Mapping[str, Any], values: Mapping[str, str]) -> bool:
    key = req.get("key", "")
    op = req.get("operator", "")
    wanted = req.get("values") or []
    present = key in values
    if op == "In":
        return present and values[key] in wanted
    if op == "NotIn":
        return not present or values[key] not in wanted
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt"):
        # Both sides must be integers; anything else does not match (as upstream).
        if not present or len(wanted) != 1:
            return False
        try:
            have, bound = int(values[key]), int(wanted[0])
        except ValueError:
            return False
        return have > bound if op == "Gt" else have < bound
    return False


def term_matches(term: Mapping[str, Any], node: Obj) -> bool:
    """One NodeSelectorTerm: all its matchExpressions (labels) and matchFields
    (only ``metadata.name``) hold. A term with neither matches nothing."""
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    md = node.get("metadata") or {}
    labels = md.get("labels") or {}
    if not all(_requirement_matches(r, labels) for r in exprs):
        return False
    return all(_requirement_matches(r, {"metadata.name": md.get("name", "")}) for r in fields)


def node_selector_matches(selector: Mapping[str, Any] | None, node: Obj) -> bool:
    """A NodeSelector: any of its terms matches (no terms: nothing matches)."""
    if selector is None:
        return True
    return any(term_matches(t, node) for t in selector.get("nodeSelectorTerms") or [])


def required_affinity(pod: Obj) -> Obj | None:
    aff = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    return aff.get("requiredDuringSchedulingIgnoredDuringExecution")  # type: ignore[no-any-return]


def matches_node(pod: Obj, node: Obj) -> bool:
    """spec.nodeSelector and required node affinity both admit the node."""
    spec = pod.get("spec") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    return node_selector_matches(required_affinity(pod), node)


def toleration_tolerates(tol: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    """One toleration against one taint (an empty effect tolerates every effect;
    an empty key with Exists tolerates every taint)."""
    effect = tol.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = tol.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = tol.get("operator") or "Equal"
    if op == "Exists":
        return True
    if op == "Equal":
        return (tol.get("value") or "") == (taint.get("value") or "")
    return False


def tolerates(tolerations: Iterable[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    return any(toleration_tolerates(t, taint) for t in tolerations)


def untolerated_taint(taints: Iterable[Mapping[str, Any]], tolerations: Iterable[Mapping[str, Any]],
                      effects: tuple[str, ...] = (NO_SCHEDULE, NO_EXECUTE)) -> Mapping[str, Any] | None:
    """The first taint with one of ``effects`` that no toleration tolerates, or None."""
    tols = list(tolerations)
    for taint in taints:
        if taint.get("effect") in effects and not tolerates(tols, taint):
            return taint
    return None


def node_taints(node: Obj) -> list[Obj]:
    return list((node.get("spec") or {}).get("taints") or [])


def pod_tolerations(pod: Obj) -> list[Obj]:
    return list((pod.get("spec") or {}).get("tolerations") or [])
