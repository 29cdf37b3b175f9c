"""Server-side printing: objects -> ``meta.k8s.io/v1`` Table, as ``kubectl get`` asks.

kubectl sends ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``; the
columns come from each kind's strategy. ``includeObject`` chooses what rides
along in each row: ``None``, ``Metadata`` (default, a PartialObjectMetadata) or
``Object``.
"""

from __future__ import annotations

from typing import Any

from kubeling.api import registry

Obj = dict[str, Any]


def wants_table(accept: str) -> str:
    """The Table version asked for ("v1" / "v1beta1"), or "" if none."""
    for part in accept.split(","):
        params = {}
        for p in part.split(";")[1:]:
            if "=" in p:
                k, v = p.strip().split("=", 1)
                params[k.strip()] = v.strip()
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return params.get("v", "v1")
    return ""


def column_definitions(res: registry.Resource) -> list[Obj]:
    return [
        {
            "name": c.name,
            "type": c.type,
            "format": c.format,
            "description": c.description,
            "priority": c.priority,
        }
        for c in res.strategy.columns()
    ]


def _cell(col: registry.Column, obj: Obj) -> Any:
    try:
        value = col.cell(obj)
    except Exception:  # a malformed stored object must not break `kubectl get`
        return "<unknown>"
    return "<none>" if value is None else value


def row(res: registry.Resource, obj: Obj, include: str) -> Obj:
    r: Obj = {"cells": [_cell(c, obj) for c in res.strategy.columns()]}
    if include == "Object":
        r["object"] = obj
    elif include != "None":
        r["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata", {}),
        }
    return r


def table(
    res: registry.Resource,
    objs: list[Obj],
    *,
    version: str,
    include: str,
    resource_version: str = "",
    continue_: str = "",
    remaining: int | None = None,
    headers: bool = True,
) -> Obj:
    md: Obj = {}
    if resource_version:
        md["resourceVersion"] = resource_version
    if continue_:
        md["continue"] = continue_
    if remaining is not None:
        md["remainingItemCount"] = remaining
    return {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{version or 'v1'}",
        "metadata": md,
        "columnDefinitions": column_definitions(res) if headers else [],
        "rows": [row(res, o, include) for o in objs],
    }
