"""Pod and ownership facts the workload controllers share (upstream's
``pkg/api/v1/pod`` and ``pkg/controller`` helpers, written for JSON dicts)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

import orjson

from kubeling.lib import labels, timeutil

Obj = dict[str, Any]


def condition(obj: Obj, type_: str) -> Obj | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return c  # type: ignore[no-any-return]
    return None


def is_ready(pod: Obj) -> bool:
    c = condition(pod, "Ready")
    return bool(c and c.get("status") == "True")


def ready_since(pod: Obj) -> datetime.datetime | None:
    c = condition(pod, "Ready")
    if not c or c.get("status") != "True":
        return None
    return timeutil.parse(c.get("lastTransitionTime") or "")


def is_available(pod: Obj, min_ready_seconds: int, now: datetime.datetime) -> bool:
    """Ready for at least ``min_ready_seconds`` (upstream's IsPodAvailable)."""
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    since = ready_since(pod)
    return since is not None and since + datetime.timedelta(seconds=min_ready_seconds) <= now


def is_terminating(obj: Obj) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def phase(pod: Obj) -> str:
    return (pod.get("status") or {}).get("phase") or "Pending"


def is_active(pod: Obj) -> bool:
    """Counts toward a controller's replicas: not finished and not being deleted."""
    return phase(pod) not in ("Succeeded", "Failed") and not is_terminating(pod)


def controller_ref(obj: Obj) -> Obj | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref  # type: ignore[no-any-return]
    return None


def owner_reference(owner: Obj, *, block: bool = True) -> Obj:
    md = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": md["name"], "uid": md["uid"],
            "controller": True, "blockOwnerDeletion": block}


def owned_by(obj: Obj, owner: Obj) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == owner["metadata"]["uid"]


def selector_of(obj: Obj) -> labels.Selector | None:
    """The object's spec.selector, or None if it selects nothing (invalid or empty)."""
    sel = (obj.get("spec") or {}).get("selector")
    if not sel:
        return None
    try:
        s = labels.from_label_selector(sel)
    except labels.SelectorError:
        return None
    return s


def matches(selector: labels.Selector | None, obj: Obj) -> bool:
    return selector is not None and selector.matches((obj.get("metadata") or {}).get("labels") or {})


def claim(candidates: Iterable[Obj], owner: Obj, selector: labels.Selector | None) -> tuple[list[Obj], list[Obj], list[Obj]]:
    """Split ``candidates`` (same namespace) into (owned and matching, orphans to
    adopt, owned but no longer matching, to release) as upstream's ControllerRefManager."""
    owned: list[Obj] = []
    adopt: list[Obj] = []
    release: list[Obj] = []
    uid = owner["metadata"]["uid"]
    owner_deleting = is_terminating(owner)
    for obj in candidates:
        ref = controller_ref(obj)
        if ref is not None:
            if ref.get("uid") != uid:
                continue
            if matches(selector, obj):
                owned.append(obj)
            elif not owner_deleting:
                release.append(obj)
            continue
        if matches(selector, obj) and not is_terminating(obj) and not owner_deleting:
            adopt.append(obj)
    return owned, adopt, release


def adopt_patch(obj: Obj, owner: Obj) -> Obj:
    """A strategic-merge patch adding the controller reference (guarded by uid)."""
    return {"metadata": {"ownerReferences": [owner_reference(owner)], "uid": obj["metadata"]["uid"]}}


def release_patch(obj: Obj, owner: Obj) -> Obj:
    return {"metadata": {"ownerReferences": [{"$patch": "delete", "uid": owner["metadata"]["uid"]}],
                         "uid": obj["metadata"]["uid"]}}


def pod_from_template(template: Obj, owner: Obj, *, generate_name: str | None = None) -> Obj:
    """A new Pod from a PodTemplateSpec, owned by ``owner`` (the template is not modified)."""
    tmd = template.get("metadata") or {}
    md: Obj = {
        "labels": dict(tmd.get("labels") or {}),
        "annotations": dict(tmd.get("annotations") or {}),
        "ownerReferences": [owner_reference(owner)],
    }
    if tmd.get("finalizers"):
        md["finalizers"] = list(tmd["finalizers"])
    md["generateName"] = generate_name if generate_name is not None else owner["metadata"]["name"] + "-"
    # orjson round trip: an exact copy of plain JSON, many times faster than deepcopy.
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": orjson.loads(orjson.dumps(template.get("spec") or {}))}


def rank_for_deletion(pods: list[Obj]) -> list[Obj]:
    """Pods ordered best-to-delete first (upstream's ActivePods ordering):
    unassigned < assigned; Pending < Unknown < Running; not ready < ready;
    ready for less time; more restarts; newer."""
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}

    def restarts(p: Obj) -> int:
        return max((cs.get("restartCount") or 0 for cs in (p.get("status") or {}).get("containerStatuses") or []),
                   default=0)

    def key(p: Obj) -> tuple[Any, ...]:
        since = ready_since(p)
        created = (p.get("metadata") or {}).get("creationTimestamp") or ""
        return (
            1 if (p.get("spec") or {}).get("nodeName") else 0,
            phase_rank.get(phase(p), 3),
            1 if is_ready(p) else 0,
            # Ready for less time first: later ready times sort earlier.
            -(since.timestamp() if since else 0.0),
            -restarts(p),
            # Newer first: invert the timestamp's sort order.
            tuple(-ord(ch) for ch in created),
        )

    return sorted(pods, key=key)
