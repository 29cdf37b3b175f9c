"""What an object charges against a ResourceQuota (upstream's quota evaluators).

Shared by the ResourceQuota admission plugin (which charges a create against
``status.used``) and the ResourceQuota controller (which recomputes
``status.used`` from what exists), so both count the same way:

* every object counts ``count/<resource>[.<group>]``; the core kinds that had
  quota before that syntax also count under their bare name (``pods``,
  ``services``, ``configmaps``, ``secrets``, ``persistentvolumeclaims``,
  ``replicationcontrollers``, ``resourcequotas``);
* pods that are not terminal count ``pods`` and their compute resources:
  ``requests.X`` (and bare ``cpu``/``memory``/``ephemeral-storage``) and
  ``limits.X``, each the larger of the containers' sum and the largest init
  container, plus the pod overhead;
* services count ``services.nodeports`` and ``services.loadbalancers``;
* claims count ``requests.storage`` and per-class
  ``<class>.storageclass.storage.k8s.io/{requests.storage,persistentvolumeclaims}``.

Scopes (Terminating, NotTerminating, BestEffort, NotBestEffort and the
PriorityClass scope selector) apply to pods only; a scoped quota matches no
other kind.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kubeling.lib import quantity

Obj = dict[str, Any]
Usage = dict[str, quantity.Quantity]

LEGACY_COUNTS = frozenset({"pods", "services", "configmaps", "secrets", "persistentvolumeclaims",
                           "replicationcontrollers", "resourcequotas"})
STANDARD_COMPUTE = ("cpu", "memory", "ephemeral-storage")
# Quota on these makes every container declare the matching request/limit.
CONSTRAINED = frozenset({"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"})
STORAGE_CLASS_SUFFIX = ".storageclass.storage.k8s.io/"
ONE = quantity.Quantity.from_int(1)
ZERO = quantity.Quantity.from_int(0)


def group_resource(plural: str, group: str) -> str:
    return f"{plural}.{group}" if group else plural


def parse(value: Any) -> quantity.Quantity:
    try:
        return quantity.parse(value)
    except (quantity.QuantityError, TypeError, ValueError):
        return ZERO


def parse_list(values: Mapping[str, Any] | None) -> Usage:
    return {k: parse(v) for k, v in (values or {}).items()}


def format_list(values: Mapping[str, quantity.Quantity]) -> dict[str, str]:
    return {k: str(v) for k, v in values.items()}


def is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _add(total: Usage, key: str, q: quantity.Quantity) -> None:
    total[key] = total.get(key, ZERO) + q


def _containers(spec: Obj, key: str) -> list[Obj]:
    return [c for c in spec.get(key) or [] if isinstance(c, dict)]


def container_usage(container: Obj) -> Usage:
    """The quota names one container's requests and limits stand for."""
    res = container.get("resources") or {}
    out: Usage = {}
    for name, v in (res.get("requests") or {}).items():
        q = parse(v)
        out[f"requests.{name}"] = q
        if name in STANDARD_COMPUTE:
            out[name] = q
    for name, v in (res.get("limits") or {}).items():
        if name in STANDARD_COMPUTE:
            out[f"limits.{name}"] = parse(v)
    return out


def pod_compute(pod: Obj) -> Usage:
    spec = pod.get("spec") or {}
    total: Usage = {}
    for c in _containers(spec, "containers"):
        for k, q in container_usage(c).items():
            _add(total, k, q)
    for c in _containers(spec, "initContainers"):
        for k, q in container_usage(c).items():
            if q > total.get(k, ZERO):
                total[k] = q
    for name, v in (spec.get("overhead") or {}).items():
        q = parse(v)
        if name in STANDARD_COMPUTE:
            _add(total, name, q)
            _add(total, f"requests.{name}", q)
            if f"limits.{name}" in total:
                _add(total, f"limits.{name}", q)
    return total


def usage(plural: str, group: str, obj: Obj) -> Usage:
    """Every quota resource ``obj`` (of resource ``plural`` in ``group``) consumes."""
    out: Usage = {f"count/{group_resource(plural, group)}": ONE}
    if not group and plural in LEGACY_COUNTS and plural != "pods":
        out[plural] = ONE
    if group:
        return out
    spec = obj.get("spec") or {}
    if plural == "pods":
        if is_terminal(obj):
            return out
        out["pods"] = ONE
        out.update(pod_compute(obj))
    elif plural == "services":
        stype = spec.get("type") or "ClusterIP"
        ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
        out["services.nodeports"] = quantity.Quantity.from_int(len(ports) if stype in ("NodePort", "LoadBalancer")
                                                               else 0)
        out["services.loadbalancers"] = ONE if stype == "LoadBalancer" else ZERO
    elif plural == "persistentvolumeclaims":
        storage = parse(((spec.get("resources") or {}).get("requests") or {}).get("storage", "0"))
        out["requests.storage"] = storage
        cls = spec.get("storageClassName")
        if cls:
            out[f"{cls}{STORAGE_CLASS_SUFFIX}requests.storage"] = storage
            out[f"{cls}{STORAGE_CLASS_SUFFIX}persistentvolumeclaims"] = ONE
    return out


def is_best_effort(pod: Obj) -> bool:
    """QoS BestEffort: no container asks for or limits cpu or memory."""
    spec = pod.get("spec") or {}
    for c in _containers(spec, "containers") + _containers(spec, "initContainers"):
        res = c.get("resources") or {}
        for part in ("requests", "limits"):
            if any(k in ("cpu", "memory") for k in (res.get(part) or {})):
                return False
    return True


def _scope_matches(scope: str, pod: Obj, *, operator: str = "Exists", values: Iterable[str] = ()) -> bool:
    spec = pod.get("spec") or {}
    if scope == "Terminating":
        return spec.get("activeDeadlineSeconds") is not None
    if scope == "NotTerminating":
        return spec.get("activeDeadlineSeconds") is None
    if scope == "BestEffort":
        return is_best_effort(pod)
    if scope == "NotBestEffort":
        return not is_best_effort(pod)
    if scope == "PriorityClass":
        name = spec.get("priorityClassName") or ""
        vals = set(values)
        if operator == "In":
            return name in vals
        if operator == "NotIn":
            return name not in vals
        if operator == "DoesNotExist":
            return not name
        return bool(name)
    if scope == "CrossNamespacePodAffinity":
        aff = spec.get("affinity") or {}
        terms: list[Any] = []
        for kind in ("podAffinity", "podAntiAffinity"):
            a = aff.get(kind) or {}
            terms += a.get("requiredDuringSchedulingIgnoredDuringExecution") or []
            terms += [w.get("podAffinityTerm") or {} for w in a.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
        return any(t.get("namespaces") or t.get("namespaceSelector") is not None for t in terms if isinstance(t, dict))
    return False


def scopes_match(quota: Obj, plural: str, group: str, obj: Obj) -> bool:
    """Whether a quota's scopes admit ``obj`` (unscoped quotas admit everything)."""
    spec = quota.get("spec") or {}
    scopes = list(spec.get("scopes") or [])
    exprs = [e for e in (spec.get("scopeSelector") or {}).get("matchExpressions") or [] if isinstance(e, dict)]
    if not scopes and not exprs:
        return True
    if group or plural != "pods":
        return False
    if not all(_scope_matches(s, obj) for s in scopes):
        return False
    return all(_scope_matches(e.get("scopeName") or "", obj, operator=e.get("operator") or "Exists",
                              values=e.get("values") or []) for e in exprs)


def missing_constraints(pod: Obj, hard: Iterable[str]) -> str:
    """Upstream's "must specify ..." text when quota on cpu/memory meets a container
    without the matching request or limit; "" when every container declares them."""
    required = CONSTRAINED & set(hard)
    if not required:
        return ""
    spec = pod.get("spec") or {}
    missing: dict[str, set[str]] = {}
    for c in _containers(spec, "containers") + _containers(spec, "initContainers"):
        have = set(container_usage(c))
        for r in required - have:
            missing.setdefault(r, set()).add(str(c.get("name") or ""))
    if not missing:
        return ""
    parts = [f"{r} for: {','.join(sorted(missing[r]))}" for r in sorted(missing)]
    return "must specify " + "; ".join(parts)


def pretty(values: Mapping[str, quantity.Quantity]) -> str:
    return ",".join(f"{k}={values[k]}" for k in sorted(values))
