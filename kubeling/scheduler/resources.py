"""Resource arithmetic for scheduling: what a pod requests and what a node offers.

Amounts are integers: ``cpu`` in millicores, everything else (memory,
ephemeral-storage, pods, extended resources) in whole units. A pod's request
follows upstream's rule: the sum of its containers (plus restartable "sidecar"
init containers, which keep running), or the largest regular init container
together with the sidecars started before it, whichever is larger, plus the
pod overhead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeling.lib import quantity

Obj = dict[str, Any]

# Scoring counts a pod without requests as if it asked for this much
# (upstream's non-zero defaults), so empty pods still spread out.
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024

_CACHE: dict[str, int] = {}
_MILLI_CACHE: dict[str, int] = {}


def amount(name: str, value: Any) -> int:
    """One quantity as scheduling counts it (milli for cpu)."""
    text = str(value)
    if name == "cpu":
        got = _MILLI_CACHE.get(text)
        if got is None:
            got = _MILLI_CACHE[text] = quantity.parse(text).milli_value()
        return got
    got = _CACHE.get(text)
    if got is None:
        got = _CACHE[text] = quantity.parse(text).value()
    return got


def to_amounts(rl: Mapping[str, Any] | None) -> dict[str, int]:
    return {k: amount(k, v) for k, v in (rl or {}).items()}


def _container_requests(c: Obj) -> dict[str, int]:
    res = c.get("resources") or {}
    out = to_amounts(res.get("limits"))  # limits stand in for missing requests (as defaulting does)
    out.update(to_amounts(res.get("requests")))
    return out


def _add(into: dict[str, int], more: Mapping[str, int]) -> None:
    for k, v in more.items():
        into[k] = into.get(k, 0) + v


def _max(into: dict[str, int], other: Mapping[str, int]) -> None:
    for k, v in other.items():
        if v > into.get(k, 0):
            into[k] = v


def pod_requests(spec: Obj) -> dict[str, int]:
    total: dict[str, int] = {}
    for c in spec.get("containers") or []:
        _add(total, _container_requests(c))
    sidecars: dict[str, int] = {}
    init_peak: dict[str, int] = {}
    for c in spec.get("initContainers") or []:
        req = _container_requests(c)
        if c.get("restartPolicy") == "Always":
            _add(sidecars, req)
            _max(init_peak, sidecars)
        else:
            during = dict(sidecars)
            _add(during, req)
            _max(init_peak, during)
    _add(total, sidecars)
    _max(total, init_peak)
    _add(total, to_amounts(spec.get("overhead")))
    return {k: v for k, v in total.items() if v}


def node_allocatable(status: Obj) -> dict[str, int]:
    alloc = status.get("allocatable") or status.get("capacity") or {}
    return to_amounts(alloc)


def normalize_image(name: str) -> str:
    """``busybox`` and ``busybox:latest`` are one image; digests and tags stay as given."""
    if "@" in name:
        return name
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else name + ":latest"


def node_images(status: Obj) -> dict[str, int]:
    out: dict[str, int] = {}
    for img in status.get("images") or []:
        size = int(img.get("sizeBytes") or 0)
        for n in img.get("names") or []:
            out[normalize_image(n)] = size
    return out
