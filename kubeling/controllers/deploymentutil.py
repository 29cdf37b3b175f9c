"""Pure Deployment rollout arithmetic (upstream's ``pkg/controller/deployment/util``).

Everything here works on plain JSON dicts and never writes to the API: which
ReplicaSet is "new" (its template equals the Deployment's, ignoring the
``pod-template-hash`` label), revisions and the annotations that carry them,
maxSurge/maxUnavailable resolution, proportional-scaling fractions, status
counts and the Progressing/Available conditions. ``kubectl rollout`` reads
exactly these annotations and conditions, so their names and meanings follow
upstream.
"""

from __future__ import annotations

import copy
import datetime
import math
from collections.abc import Iterable
from typing import Any

import orjson

from kubeling.lib import timeutil

Obj = dict[str, Any]

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
# Deployment annotations that are not copied onto its ReplicaSets (they are the
# controller's own bookkeeping, or kubectl's for the Deployment object itself).
SKIP_COPY = frozenset({"kubectl.kubernetes.io/last-applied-configuration", REVISION, REVISION_HISTORY,
                       DESIRED_REPLICAS, MAX_REPLICAS, "deprecated.deployment.rollback.to"})
# Upstream bounds the revision-history annotation to this many characters.
MAX_REVISION_HISTORY_CHARS = 2000
# progressDeadlineSeconds of MaxInt32 means "no deadline".
NO_DEADLINE = 2**31 - 1

# Condition types and reasons (kubectl rollout status matches on these).
PROGRESSING = "Progressing"
AVAILABLE = "Available"
REPLICA_FAILURE = "ReplicaFailure"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
FAILED_RS_CREATE = "ReplicaSetCreateError"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"

_SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


# ---- small accessors ------------------------------------------------------------------

def spec_replicas(obj: Obj) -> int:
    r = (obj.get("spec") or {}).get("replicas")
    # The API server defaults replicas to 1 for every workload kind.
    return 1 if r is None else int(r)


def status_int(obj: Obj, field: str) -> int:
    return int((obj.get("status") or {}).get(field) or 0)


def annotations_of(obj: Obj) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("annotations") or {})


def revision(rs: Obj) -> int:
    try:
        return int(annotations_of(rs).get(REVISION, "0") or "0")
    except ValueError:
        return 0


def max_revision(rss: Iterable[Obj]) -> int:
    return max((revision(rs) for rs in rss), default=0)


def created(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("creationTimestamp") or "")


def by_creation(rss: Iterable[Obj]) -> list[Obj]:
    """Oldest first, ties broken by name (upstream's ReplicaSetsByCreationTimestamp)."""
    return sorted(rss, key=lambda rs: (created(rs), rs["metadata"]["name"]))


def is_rolling(d: Obj) -> bool:
    strategy = (d.get("spec") or {}).get("strategy") or {}
    return bool(strategy.get("type", "RollingUpdate") == "RollingUpdate")


def has_deadline(d: Obj) -> bool:
    pds = (d.get("spec") or {}).get("progressDeadlineSeconds")
    return pds is not None and pds != NO_DEADLINE


# ---- template hash and equality -------------------------------------------------------

def _fnv1a32(data: bytes) -> int:
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def safe_encode(s: str) -> str:
    """Map each character onto consonants and digits so no words (or vowels) appear."""
    return "".join(_SAFE_ALPHABET[ord(ch) % len(_SAFE_ALPHABET)] for ch in s)


def template_hash(template: Obj, collision_count: int | None) -> str:
    """A stable short hash of a pod template; a collision count re-rolls it."""
    data = orjson.dumps(template, option=orjson.OPT_SORT_KEYS)
    if collision_count is not None:
        data += int(collision_count).to_bytes(4, "little")
    return safe_encode(str(_fnv1a32(data)))


def _normalized(value: Any) -> Any:
    # Go's semantic equality treats a nil and an empty map or slice alike.
    if isinstance(value, dict):
        out = {k: _normalized(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_normalized(v) for v in value]
    return value


def equal_ignore_hash(a: Obj | None, b: Obj | None) -> bool:
    """Pod templates equal apart from the pod-template-hash label."""
    a, b = copy.deepcopy(a or {}), copy.deepcopy(b or {})
    for t in (a, b):
        tlabels = (t.get("metadata") or {}).get("labels")
        if isinstance(tlabels, dict):
            tlabels.pop(HASH_LABEL, None)
    return bool(_normalized(a) == _normalized(b))


def find_new(d: Obj, rss: list[Obj]) -> Obj | None:
    """The oldest ReplicaSet whose template is the Deployment's."""
    template = (d.get("spec") or {}).get("template")
    for rs in by_creation(rss):
        if equal_ignore_hash((rs.get("spec") or {}).get("template"), template):
            return rs
    return None


def find_old(d: Obj, rss: list[Obj]) -> list[Obj]:
    new = find_new(d, rss)
    return [rs for rs in rss if new is None or rs["metadata"]["uid"] != new["metadata"]["uid"]]


def active(rss: Iterable[Obj | None]) -> list[Obj]:
    return [rs for rs in rss if rs is not None and spec_replicas(rs) > 0]


# ---- surge and unavailability -----------------------------------------------------------

def scaled_value(value: Any, total: int, *, round_up: bool) -> int:
    """An int-or-percent against ``total`` (percentages round as asked)."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if not text.endswith("%"):
        raise ValueError(f"invalid value for IntOrString: {value!r}")
    pct = int(text[:-1])
    exact = pct * total / 100
    return math.ceil(exact) if round_up else math.floor(exact)


def fenceposts(d: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) resolved against spec.replicas; never both zero."""
    ru = ((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    desired = spec_replicas(d)
    surge = scaled_value(ru.get("maxSurge", "25%"), desired, round_up=True)
    unavailable = scaled_value(ru.get("maxUnavailable", "25%"), desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: Obj) -> int:
    return fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: Obj) -> int:
    desired = spec_replicas(d)
    if not is_rolling(d) or desired == 0:
        return 0
    return min(fenceposts(d)[1], desired)


def replica_count(rss: Iterable[Obj | None]) -> int:
    return sum(spec_replicas(rs) for rs in rss if rs is not None)


def actual_count(rss: Iterable[Obj | None], field: str = "replicas") -> int:
    return sum(status_int(rs, field) for rs in rss if rs is not None)


def new_rs_replicas(d: Obj, all_rss: list[Obj | None], new_rs: Obj) -> int:
    """How big the new ReplicaSet may be now (upstream's NewRSNewReplicas)."""
    if not is_rolling(d):
        return spec_replicas(d)
    desired = spec_replicas(d)
    current = replica_count(all_rss)
    ceiling = desired + max_surge(d)
    if current >= ceiling:
        return spec_replicas(new_rs)
    return spec_replicas(new_rs) + min(ceiling - current, desired - spec_replicas(new_rs))


# ---- annotations ------------------------------------------------------------------------

def set_replicas_annotations(rs: Obj, desired: int, maximum: int) -> bool:
    ann = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for key, value in ((DESIRED_REPLICAS, str(desired)), (MAX_REPLICAS, str(maximum))):
        if ann.get(key) != value:
            ann[key] = value
            changed = True
    return changed


def replicas_annotations_differ(rs: Obj, desired: int, maximum: int) -> bool:
    ann = annotations_of(rs)
    return ann.get(DESIRED_REPLICAS) != str(desired) or ann.get(MAX_REPLICAS) != str(maximum)


def copy_annotations(d: Obj, rs: Obj) -> bool:
    ann = rs.setdefault("metadata", {}).setdefault("annotations", {})
    changed = False
    for k, v in annotations_of(d).items():
        if k in SKIP_COPY or ann.get(k) == v:
            continue
        ann[k] = v
        changed = True
    return changed


def set_new_rs_annotations(d: Obj, rs: Obj, new_revision: int, *, exists: bool) -> bool:
    """Copy the Deployment's annotations and raise the RS's revision to ``new_revision``;
    a re-used RS (a rollback) keeps its former revisions in revision-history."""
    changed = copy_annotations(d, rs)
    ann = rs["metadata"].setdefault("annotations", {})
    old = ann.get(REVISION)
    try:
        old_int = int(old) if old else 0
    except ValueError:
        return False
    if old_int < new_revision:
        ann[REVISION] = str(new_revision)
        changed = True
        if old:
            history = ann.get(REVISION_HISTORY, "")
            parts = [p for p in history.split(",") if p]
            total = len(history) + len(old) + 1 if parts else len(old)
            while parts and total > MAX_REVISION_HISTORY_CHARS:
                total -= len(parts.pop(0)) + 1
            if total <= MAX_REVISION_HISTORY_CHARS:
                ann[REVISION_HISTORY] = ",".join([*parts, old])
    if not exists and set_replicas_annotations(rs, spec_replicas(d), spec_replicas(d) + max_surge(d)):
        changed = True
    return changed


def set_deployment_revision(d: Obj, value: str) -> bool:
    ann = d.setdefault("metadata", {}).setdefault("annotations", {})
    if ann.get(REVISION) == value:
        return False
    ann[REVISION] = value
    return True


# ---- proportional scaling -----------------------------------------------------------------

def _round_half_away(x: float) -> int:
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def proportion(rs: Obj, d: Obj, to_add: int, added: int) -> int:
    """This RS's share of ``to_add`` replicas, by its size against the max-replicas it was
    sized for (upstream's GetProportion), never overshooting what is left."""
    size = spec_replicas(rs)
    if size == 0 or to_add == 0 or to_add == added:
        return 0
    if spec_replicas(d) == 0:
        fraction = -size
    else:
        target = spec_replicas(d) + max_surge(d)
        try:
            annotated = int(annotations_of(rs)[MAX_REPLICAS])
        except (KeyError, ValueError):
            annotated = status_int(d, "replicas")
        fraction = _round_half_away(size * target / annotated) - size if annotated else 0
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def is_saturated(d: Obj, rs: Obj | None) -> bool:
    if rs is None:
        return False
    try:
        desired = int(annotations_of(rs).get(DESIRED_REPLICAS, ""))
    except ValueError:
        return False
    n = spec_replicas(d)
    return spec_replicas(rs) == n and desired == n and status_int(rs, "availableReplicas") == n


def active_or_latest(new_rs: Obj | None, old_rss: list[Obj]) -> Obj | None:
    """The only active RS, or the newest one if none is active; None if several are."""
    if new_rs is None and not old_rss:
        return None
    olds = list(reversed(by_creation(old_rss)))
    live = active([*olds, new_rs])
    if not live:
        return new_rs if new_rs is not None else olds[0]
    return live[0] if len(live) == 1 else None


# ---- conditions and status -------------------------------------------------------------------

def condition(status: Obj, type_: str) -> Obj | None:
    for c in status.get("conditions") or []:
        if c.get("type") == type_:
            return c  # type: ignore[no-any-return]
    return None


def new_condition(type_: str, status: str, reason: str, message: str, now: datetime.datetime) -> Obj:
    ts = timeutil.rfc3339(now)
    return {"type": type_, "status": status, "lastUpdateTime": ts, "lastTransitionTime": ts,
            "reason": reason, "message": message}


def set_condition(status: Obj, cond: Obj) -> None:
    """Replace the condition of its type; unchanged status+reason keeps the old one, and an
    unchanged status keeps lastTransitionTime."""
    cur = condition(status, cond["type"])
    if cur is not None and cur.get("status") == cond["status"] and cur.get("reason") == cond["reason"]:
        return
    if cur is not None and cur.get("status") == cond["status"]:
        cond = {**cond, "lastTransitionTime": cur.get("lastTransitionTime")}
    status["conditions"] = [*(c for c in status.get("conditions") or [] if c.get("type") != cond["type"]), cond]


def remove_condition(status: Obj, type_: str) -> None:
    if "conditions" in status:
        status["conditions"] = [c for c in status["conditions"] if c.get("type") != type_]
        if not status["conditions"]:
            del status["conditions"]


def calculate_status(all_rss: list[Obj | None], new_rs: Obj | None, d: Obj, now: datetime.datetime) -> Obj:
    """The Deployment status the ReplicaSets add up to (omitting zeros, as upstream's JSON)."""
    available = actual_count(all_rss, "availableReplicas")
    unavailable = max(replica_count(all_rss) - available, 0)
    old = d.get("status") or {}
    counts = {
        "observedGeneration": (d.get("metadata") or {}).get("generation") or 0,
        "replicas": actual_count(all_rss),
        "updatedReplicas": actual_count([new_rs]),
        "readyReplicas": actual_count(all_rss, "readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": unavailable,
    }
    status: Obj = {k: v for k, v in counts.items() if v}
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if old.get("conditions"):
        status["conditions"] = [dict(c) for c in old["conditions"]]
    if available >= spec_replicas(d) - max_unavailable(d):
        set_condition(status, new_condition(AVAILABLE, "True", MIN_AVAILABLE, "Deployment has minimum availability.",
                                            now))
    else:
        set_condition(status, new_condition(AVAILABLE, "False", MIN_UNAVAILABLE,
                                            "Deployment does not have minimum availability.", now))
    return status


def complete(d: Obj, status: Obj) -> bool:
    n = spec_replicas(d)
    return (int(status.get("updatedReplicas") or 0) == n and int(status.get("replicas") or 0) == n
            and int(status.get("availableReplicas") or 0) == n
            and int(status.get("observedGeneration") or 0) >= int((d.get("metadata") or {}).get("generation") or 0))


def progressing(d: Obj, status: Obj) -> bool:
    old = d.get("status") or {}

    def g(s: Obj, f: str) -> int:
        return int(s.get(f) or 0)

    return (g(status, "updatedReplicas") > g(old, "updatedReplicas")
            or g(status, "replicas") - g(status, "updatedReplicas") < g(old, "replicas") - g(old, "updatedReplicas")
            or g(status, "readyReplicas") > g(old, "readyReplicas")
            or g(status, "availableReplicas") > g(old, "availableReplicas"))


def timed_out(d: Obj, status: Obj, now: datetime.datetime) -> bool:
    if not has_deadline(d):
        return False
    cond = condition(status, PROGRESSING)
    if cond is None or cond.get("reason") == NEW_RS_AVAILABLE:
        return False
    if cond.get("reason") == TIMED_OUT:
        return True
    since = timeutil.parse(cond.get("lastUpdateTime") or "")
    if since is None:
        return False
    return since + datetime.timedelta(seconds=int(d["spec"]["progressDeadlineSeconds"])) < now
