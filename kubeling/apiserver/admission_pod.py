"""Admission plugins for pods (and claims) that upstream enables by default.

* ServiceAccount: a pod created without ``spec.serviceAccountName`` runs as
  ``default``. (Token volume projection is the kubelet's business here.)
* DefaultTolerationSeconds: a pod created without tolerations for the
  ``node.kubernetes.io/not-ready`` and ``unreachable`` NoExecute taints gets
  them with ``tolerationSeconds`` (300 unless configured), so a node outage
  evicts its pods only after that long.
* LimitRanger: containers of a new pod get the ``default`` limits and
  ``defaultRequest`` requests of the namespace's Container LimitRanges (noted
  in the ``kubernetes.io/limit-ranger`` annotation); then pods (on create) and
  claims (on create and update) are checked against min, max and
  maxLimitRequestRatio of the Container, Pod and PersistentVolumeClaim items,
  refused with 403 and upstream's messages.
"""

from __future__ import annotations

import fractions
from collections.abc import Mapping
from typing import Any

from kubeling.api import errors, quotausage, registry
from kubeling.apiserver import store
from kubeling.lib import quantity

Obj = dict[str, Any]
NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
LIMIT_RANGER_ANNOTATION = "kubernetes.io/limit-ranger"
DEFAULT_TOLERATION_SECONDS = 300


def _is_pod_create(op: str, ctx: store.Context, res: registry.Resource) -> bool:
    return op == "CREATE" and not ctx.subresource and not res.group and res.plural == "pods"


class ServiceAccount:
    async def admit(self, ctx: store.Context, op: str, res: registry.Resource, obj: Obj, old: Obj | None) -> None:
        if not _is_pod_create(op, ctx, res):
            return
        spec = obj.setdefault("spec", {})
        if not spec.get("serviceAccountName"):
            spec["serviceAccountName"] = spec.get("serviceAccount") or "default"
        spec["serviceAccount"] = spec["serviceAccountName"]

    async def released(self, res: registry.Resource, obj: Obj) -> None:
        return None


class DefaultTolerationSeconds:
    def __init__(self, seconds: int = DEFAULT_TOLERATION_SECONDS) -> None:
        self.seconds = seconds

    async def admit(self, ctx: store.Context, op: str, res: registry.Resource, obj: Obj, old: Obj | None) -> None:
        if not _is_pod_create(op, ctx, res):
            return
        spec = obj.setdefault("spec", {})
        tols = [t for t in spec.get("tolerations") or [] if isinstance(t, dict)]

        def covered(key: str) -> bool:
            return any((t.get("key") or "") in (key, "") and (t.get("effect") or "") in ("NoExecute", "")
                       for t in tols)

        added = [{"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": self.seconds}
                 for key in (NOT_READY, UNREACHABLE) if not covered(key)]
        if added:
            spec["tolerations"] = list(spec.get("tolerations") or []) + added

    async def released(self, res: registry.Resource, obj: Obj) -> None:
        return None


# --------------------------------------------------------------------------- LimitRanger


def _effective_item(item: Obj) -> Obj:
    """A Container item with upstream's LimitRange defaults applied: a missing
    default limit is the max, a missing default request the default limit, else the min."""
    if item.get("type") != "Container":
        return item
    default = dict(item.get("default") or {})
    for k, v in (item.get("max") or {}).items():
        default.setdefault(k, v)
    request = dict(item.get("defaultRequest") or {})
    for k, v in default.items():
        request.setdefault(k, v)
    for k, v in (item.get("min") or {}).items():
        request.setdefault(k, v)
    return {**item, "default": default, "defaultRequest": request}


def _min(kind: str, name: str, enforced: str, req: Mapping[str, Any], lim: Mapping[str, Any]) -> str:
    want = quantity.parse(enforced)
    if name not in req:
        return f"minimum {name} usage per {kind} is {want}.  No request is specified"
    if quotausage.parse(req[name]) < want:
        return f"minimum {name} usage per {kind} is {want}, but request is {quotausage.parse(req[name])}"
    if name in lim and quotausage.parse(lim[name]) < want:
        return f"minimum {name} usage per {kind} is {want}, but limit is {quotausage.parse(lim[name])}"
    return ""


def _max(kind: str, name: str, enforced: str, req: Mapping[str, Any], lim: Mapping[str, Any]) -> str:
    want = quantity.parse(enforced)
    if name not in lim:
        return f"maximum {name} usage per {kind} is {want}.  No limit is specified"
    if quotausage.parse(lim[name]) > want:
        return f"maximum {name} usage per {kind} is {want}, but limit is {quotausage.parse(lim[name])}"
    if name in req and quotausage.parse(req[name]) > want:
        return f"maximum {name} usage per {kind} is {want}, but request is {quotausage.parse(req[name])}"
    return ""


def _ratio(kind: str, name: str, enforced: str, req: Mapping[str, Any], lim: Mapping[str, Any]) -> str:
    want = quantity.parse(enforced)
    r = quotausage.parse(req[name]) if name in req else quotausage.ZERO
    lq = quotausage.parse(lim[name]) if name in lim else quotausage.ZERO
    head = f"{name} max limit to request ratio per {kind} is {want}"
    if r.is_zero():
        return f"{head}, but no request is specified or request is 0"
    if lq.is_zero():
        return f"{head}, but no limit is specified or limit is 0"
    observed = lq.as_fraction() / r.as_fraction()
    if observed > want.as_fraction():
        return f"{head}, but provided ratio is {float(observed):f}"
    return ""


def _check(kind: str, item: Obj, req: Mapping[str, Any], lim: Mapping[str, Any]) -> list[str]:
    out = []
    for part, fn in (("min", _min), ("max", _max), ("maxLimitRequestRatio", _ratio)):
        for name, enforced in sorted((item.get(part) or {}).items()):
            msg = fn(kind, name, enforced, req, lim)
            if msg:
                out.append(msg)
    return out


def _check_claim(item: Obj, requests: Mapping[str, Any]) -> list[str]:
    """Claims are held to min and max by what they request (their limits are not user input)."""
    out = [m for name, enforced in sorted((item.get("min") or {}).items())
           if (m := _min("PersistentVolumeClaim", name, enforced, requests, {}))]
    for name, enforced in sorted((item.get("max") or {}).items()):
        want = quantity.parse(enforced)
        if name not in requests:
            out.append(f"maximum {name} usage per PersistentVolumeClaim is {want}.  No request is specified")
        elif quotausage.parse(requests[name]) > want:
            out.append(f"maximum {name} usage per PersistentVolumeClaim is {want}, "
                       f"but request is {quotausage.parse(requests[name])}")
    return out


def _pod_totals(spec: Obj) -> tuple[dict[str, Any], dict[str, Any]]:
    """A pod's requests and limits: containers summed, at least the largest init container."""
    totals: list[dict[str, fractions.Fraction]] = [{}, {}]
    for key, combine in (("containers", "sum"), ("initContainers", "max")):
        for c in spec.get(key) or []:
            res = (c.get("resources") or {}) if isinstance(c, dict) else {}
            for i, part in enumerate(("requests", "limits")):
                for name, v in (res.get(part) or {}).items():
                    q = quotausage.parse(v).as_fraction()
                    cur = totals[i].get(name, fractions.Fraction(0))
                    totals[i][name] = cur + q if combine == "sum" else max(cur, q)
    req, lim = ({k: quantity.Quantity(int(v * quantity.NANO)) for k, v in t.items()} for t in totals)
    return req, lim


class LimitRanger:
    def __init__(self, api: Any) -> None:
        self.api = api

    def _items(self, ns: str) -> list[Obj]:
        lstore = self.api.stores[("", "v1", "limitranges")]
        prefix = lstore.res.storage_prefix
        cached, _ = self.api.cacher.resource(prefix).list(f"{prefix}{ns}/")
        items: list[Obj] = []
        for co in sorted(cached, key=lambda c: c.key):
            items += [_effective_item(i) for i in (co.obj.get("spec") or {}).get("limits") or [] if isinstance(i, dict)]
        return items

    async def admit(self, ctx: store.Context, op: str, res: registry.Resource, obj: Obj, old: Obj | None) -> None:
        if ctx.subresource or res.group or op not in ("CREATE", "UPDATE"):
            return
        if not (res.plural == "pods" and op == "CREATE" or res.plural == "persistentvolumeclaims"):
            return
        md = obj.get("metadata") or {}
        items = self._items(md.get("namespace") or "")
        if not items:
            return
        problems: list[str] = []
        if res.plural == "pods":
            spec = obj.setdefault("spec", {})
            self._apply_defaults(obj, [i for i in items if i.get("type") == "Container"])
            for key in ("containers", "initContainers"):
                for c in spec.get(key) or []:
                    r = c.get("resources") or {}
                    for item in items:
                        if item.get("type") == "Container":
                            problems += _check("Container", item, r.get("requests") or {}, r.get("limits") or {})
            req, lim = _pod_totals(spec)
            for item in items:
                if item.get("type") == "Pod":
                    problems += _check("Pod", item, req, lim)
        else:
            requests = ((obj.get("spec") or {}).get("resources") or {}).get("requests") or {}
            for item in items:
                if item.get("type") == "PersistentVolumeClaim":
                    problems += _check_claim(item, requests)
        if problems:
            msg = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
            raise errors.forbidden_error(res.plural, res.group, md.get("name", ""), msg)

    def _apply_defaults(self, pod: Obj, items: list[Obj]) -> None:
        defaults: dict[str, Any] = {}
        requests: dict[str, Any] = {}
        for item in items:
            defaults.update(item.get("default") or {})
            requests.update(item.get("defaultRequest") or {})
        if not defaults and not requests:
            return
        notes: list[str] = []
        spec = pod.get("spec") or {}
        for key, what in (("containers", "container"), ("initContainers", "init container")):
            for c in spec.get(key) or []:
                if not isinstance(c, dict):
                    continue
                res = c.get("resources")
                if not isinstance(res, dict):
                    res = c["resources"] = {}
                set_req: list[str] = []
                set_lim: list[str] = []
                for part, values, changed in (("limits", defaults, set_lim), ("requests", requests, set_req)):
                    have = res.get(part) or {}
                    for k, v in values.items():
                        if k not in have:
                            have[k] = v
                            changed.append(k)
                    if have:
                        res[part] = have
                if set_req:
                    notes.append(f"{', '.join(sorted(set_req))} request for {what} {c.get('name', '')}")
                if set_lim:
                    notes.append(f"{', '.join(sorted(set_lim))} limit for {what} {c.get('name', '')}")
        if notes:
            md = pod.setdefault("metadata", {})
            md.setdefault("annotations", {})[LIMIT_RANGER_ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)

    async def released(self, res: registry.Resource, obj: Obj) -> None:
        return None
