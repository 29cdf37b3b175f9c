"""RuntimeClass admission (upstream's ``RuntimeClass`` plugin).

On pod creation (not subresources, not updates) a pod naming a class in
``spec.runtimeClassName``:

* is refused with 403 ``pod rejected: RuntimeClass "x" not found`` when the
  class does not exist (a miss in the watch cache is confirmed in storage, as
  upstream's plugin falls back from its informer to a live read);
* gets ``spec.overhead`` from the class's ``overhead.podFixed``; a pod that
  already carries an overhead different from the class's is refused;
* gets the class's ``scheduling.nodeSelector`` merged into its own (a key the
  pod sets to another value is refused as a conflict) and the class's
  tolerations merged into its own, dropping any that another already covers.

A pod that carries ``spec.overhead`` without a class defining one is refused,
so the field can only come from a RuntimeClass. Quantities compare by value
(``10m`` equals ``0.01``). Admission runs for dry-run requests too, which is how
clients probe whether a pod would be accepted.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeling.api import errors, registry
from kubeling.apiserver import admission, store
from kubeling.lib import quantity

Obj = dict[str, Any]
PREFIX = "/registry/node.k8s.io/runtimeclasses/"


def _forbidden(pod: Obj, message: str) -> errors.APIError:
    md = pod.get("metadata") or {}
    return errors.forbidden_error("pods", "", md.get("name") or md.get("generateName") or "", message)


def _same_resources(a: Any, b: Any) -> bool:
    """Two resource lists equal by value; an absent list equals an empty one."""
    a = a or {}
    b = b or {}
    if not isinstance(a, dict) or not isinstance(b, dict) or set(a) != set(b):
        return False
    try:
        return all(quantity.parse(a[k]) == quantity.parse(b[k]) for k in a)
    except (quantity.QuantityError, TypeError, ValueError):
        return False


def _effect(t: Obj) -> str:
    return str(t.get("effect") or "")


def _covers(wide: Obj, narrow: Obj) -> bool:
    """Whether toleration ``wide`` tolerates every taint that ``narrow`` does."""
    if wide == narrow:
        return True
    wide_key, narrow_key = wide.get("key") or "", narrow.get("key") or ""
    wide_op = wide.get("operator") or "Equal"
    if wide_key != narrow_key and not (wide_key == "" and wide_op == "Exists"):
        return False
    if _effect(wide) and _effect(wide) != _effect(narrow):
        return False
    if _effect(wide) == "NoExecute" and wide.get("tolerationSeconds") is not None:
        # A bounded toleration covers only one bounded at least as tightly.
        secs = narrow.get("tolerationSeconds")
        if secs is None or secs > wide["tolerationSeconds"]:
            return False
    if wide_op == "Exists":
        return True
    if wide_op == "Equal":
        return (narrow.get("operator") or "Equal") == "Equal" and (narrow.get("value") or "") == (
            wide.get("value") or "")
    return False


def merge_tolerations(first: list[Obj], second: list[Obj]) -> list[Obj]:
    """``first`` then ``second``, keeping only tolerations no other one covers
    (of two equal ones the earlier stays)."""
    every = [t for t in [*first, *second] if isinstance(t, dict)]
    merged: list[Obj] = []
    for i, t in enumerate(every):
        if any(_covers(kept, t) for kept in merged):
            continue
        if any(later != t and _covers(later, t) for later in every[i + 1:]):
            continue
        merged.append(t)
    return merged


class RuntimeClass:
    def __init__(self, api: Any) -> None:
        self.api = api

    async def admit(self, ctx: store.Context, op: str, res: registry.Resource, obj: Obj, old: Obj | None) -> None:
        if op != "CREATE" or ctx.subresource or res.group or res.plural != "pods":
            return
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        name = spec.get("runtimeClassName")
        rc: Obj | None = None
        if name:
            rc = await admission.lookup(self.api, PREFIX, str(name))
            if rc is None:
                raise _forbidden(obj, f'pod rejected: RuntimeClass "{name}" not found')
        self._set_overhead(obj, spec, rc)
        if rc is not None:
            self._set_scheduling(obj, spec, rc)

    @staticmethod
    def _set_overhead(pod: Obj, spec: Obj, rc: Obj | None) -> None:
        overhead = (rc or {}).get("overhead")
        pod_fixed = overhead.get("podFixed") if isinstance(overhead, dict) else None
        has = spec.get("overhead") is not None
        if pod_fixed is None:
            if has:
                raise _forbidden(pod, "pod rejected: Pod Overhead set without corresponding RuntimeClass "
                                      "defined Overhead")
            return
        if has and not _same_resources(spec["overhead"], pod_fixed):
            raise _forbidden(pod, "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead")
        spec["overhead"] = copy.deepcopy(pod_fixed)

    @staticmethod
    def _set_scheduling(pod: Obj, spec: Obj, rc: Obj) -> None:
        scheduling = rc.get("scheduling")
        if not isinstance(scheduling, dict):
            return
        wanted = scheduling.get("nodeSelector") or {}
        selector = dict(spec.get("nodeSelector") or {})
        for key, value in wanted.items():
            if key in selector and selector[key] != value:
                raise _forbidden(pod, f"conflict: runtimeClass.scheduling.nodeSelector[{key}] = {value}; "
                                      f"pod.spec.nodeSelector[{key}] = {selector[key]}")
            selector[key] = value
        if selector:
            spec["nodeSelector"] = selector
        tols = merge_tolerations(list(spec.get("tolerations") or []),
                                 copy.deepcopy(list(scheduling.get("tolerations") or [])))
        if tols:
            spec["tolerations"] = tols

    async def released(self, res: registry.Resource, obj: Obj) -> None:
        return None
