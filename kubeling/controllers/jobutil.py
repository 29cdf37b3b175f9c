"""Pure Job facts the Job controller builds on (upstream's ``pkg/controller/job``
helpers, for JSON dicts): conditions, completion indexes and their interval
strings, pod failure policy matching, the pod failure backoff, and the pods
a Job creates. Nothing here talks to the API.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Iterable
from typing import Any

from kubeling.controllers import podutil
from kubeling.lib import timeutil

Obj = dict[str, Any]

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
INDEX_FAILURE_COUNT = "batch.kubernetes.io/job-index-failure-count"
INDEX_ENV = "JOB_COMPLETION_INDEX"

# Pod failure backoff: 10s doubling per failure since the last success, capped
# at ten minutes (upstream's DefaultJobPodFailureBackOff and MaxJobPodFailureBackOff).
BACKOFF_BASE = 10.0
BACKOFF_MAX = 600.0

COMPLETE = "Complete"
FAILED = "Failed"
SUSPENDED = "Suspended"
FAILURE_TARGET = "FailureTarget"
SUCCESS_CRITERIA_MET = "SuccessCriteriaMet"

REASON_BACKOFF = "BackoffLimitExceeded"
REASON_DEADLINE = "DeadlineExceeded"
REASON_POLICY = "PodFailurePolicy"
REASON_MAX_FAILED_INDEXES = "MaxFailedIndexesExceeded"
REASON_FAILED_INDEXES = "FailedIndexes"
REASON_COMPLETIONS = "CompletionsReached"


# ---- conditions ------------------------------------------------------------------


def condition(job: Obj, ctype: str) -> Obj | None:
    return podutil.condition(job, ctype)


def has_condition(job: Obj, ctype: str) -> bool:
    c = condition(job, ctype)
    return bool(c and c.get("status") == "True")


def is_finished(job: Obj) -> bool:
    return has_condition(job, COMPLETE) or has_condition(job, FAILED)


def finish_time(job: Obj) -> datetime.datetime | None:
    """When the Job got its Complete or Failed condition."""
    for ctype in (COMPLETE, FAILED):
        c = condition(job, ctype)
        if c and c.get("status") == "True":
            return timeutil.parse(c.get("lastTransitionTime") or "")
    return None


def set_condition(status: Obj, ctype: str, cstatus: str, reason: str, message: str,
                  now: datetime.datetime) -> bool:
    """Set a condition in ``status`` (a copy); True if anything changed. The
    transition time moves only when the status flips, as upstream."""
    conds: list[Obj] = status.setdefault("conditions", [])
    stamp = timeutil.rfc3339(now)
    for c in conds:
        if c.get("type") == ctype:
            if c.get("status") == cstatus and c.get("reason") == reason and c.get("message") == message:
                return False
            if c.get("status") != cstatus:
                c["lastTransitionTime"] = stamp
            c.update(status=cstatus, reason=reason, message=message, lastProbeTime=stamp)
            return True
    conds.append({"type": ctype, "status": cstatus, "reason": reason, "message": message,
                  "lastProbeTime": stamp, "lastTransitionTime": stamp})
    return True


# ---- completion indexes -------------------------------------------------------------


def completion_index(pod: Obj) -> int | None:
    """The pod's index from its annotation (or label), None if absent or malformed."""
    md = pod.get("metadata") or {}
    raw = (md.get("annotations") or {}).get(COMPLETION_INDEX) or (md.get("labels") or {}).get(COMPLETION_INDEX)
    if raw is None or not str(raw).isdigit():
        return None
    return int(raw)


def parse_intervals(text: str | None, limit: int) -> set[int]:
    """``"1,3-5"`` -> {1, 3, 4, 5}, ignoring values at or past ``limit``."""
    out: set[int] = set()
    for part in (text or "").split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            continue
        out.update(i for i in range(a, b + 1) if i < limit)
    return out


def format_intervals(indexes: Iterable[int]) -> str:
    """{1, 3, 4, 5} -> ``"1,3-5"`` (status.completedIndexes / failedIndexes)."""
    parts: list[str] = []
    run: list[int] = []
    for i in sorted(set(indexes)):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [i]
    if run:
        parts.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ",".join(parts)


# ---- pod failures -----------------------------------------------------------------------


def is_failed(pod: Obj, job: Obj) -> bool:
    """Counts as a failure: phase Failed or, unless the Job replaces only
    Failed pods, deleted before it succeeded (orphans never reach Failed)."""
    phase = podutil.phase(pod)
    if phase == "Failed":
        return True
    if (job.get("spec") or {}).get("podReplacementPolicy") == "Failed":
        return False
    return podutil.is_terminating(pod) and phase != "Succeeded"


def _terminated(pod: Obj) -> list[Obj]:
    status = pod.get("status") or {}
    out = []
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        term = (cs.get("state") or {}).get("terminated")
        if term is not None:
            out.append({"name": cs.get("name", ""), "exitCode": term.get("exitCode", 0)})
    return out


def match_failure_policy(job: Obj, pod: Obj) -> tuple[str | None, str]:
    """The first podFailurePolicy rule matching a failed pod: (action, message).
    (None, "") when no rule matches: the failure counts as usual."""
    policy = (job.get("spec") or {}).get("podFailurePolicy")
    if not policy or podutil.phase(pod) != "Failed":
        return None, ""
    md = pod.get("metadata") or {}
    who = f"{md.get('namespace', '')}/{md.get('name', '')}"
    for i, rule in enumerate(policy.get("rules") or []):
        action = rule.get("action")
        codes = rule.get("onExitCodes")
        if codes:
            values = set(codes.get("values") or [])
            only = codes.get("containerName")
            for term in _terminated(pod):
                if only and term["name"] != only:
                    continue
                code = term["exitCode"]
                # Exit code 0 is success: it never matches a rule (upstream).
                if code == 0:
                    continue
                if (code in values) == (codes.get("operator") == "In"):
                    return action, (f"Container {term['name']} for pod {who} failed with exit code {code} "
                                    f"matching {action} rule at index {i}")
        for pattern in rule.get("onPodConditions") or []:
            c = podutil.condition(pod, pattern.get("type", ""))
            if c and c.get("status") == (pattern.get("status") or "True"):
                return action, f"Pod {who} has condition {pattern.get('type')} matching {action} rule at index {i}"
    return None, ""


def failure_time(pod: Obj, now: datetime.datetime) -> datetime.datetime:
    """When a pod failed: its latest container finish time, else ``now``."""
    latest: datetime.datetime | None = None
    status = pod.get("status") or {}
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        t = timeutil.parse(((cs.get("state") or {}).get("terminated") or {}).get("finishedAt") or "")
        if t is not None and (latest is None or t > latest):
            latest = t
    return latest or now


def failure_count(pod: Obj) -> int:
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(INDEX_FAILURE_COUNT) or "0"
    return int(raw) if str(raw).isdigit() else 0


def index_failures(job: Obj, pods: Iterable[Obj], now: datetime.datetime) -> dict[int, tuple[int, datetime.datetime]]:
    """backoffLimitPerIndex: per index, the failures so far (the latest failed
    pod's count plus one, ignored failures aside) and when the last one happened."""
    out: dict[int, tuple[int, datetime.datetime]] = {}
    for pod in pods:
        ix = completion_index(pod)
        if ix is None or podutil.phase(pod) != "Failed" or match_failure_policy(job, pod)[0] == "Ignore":
            continue
        count, at = failure_count(pod) + 1, failure_time(pod, now)
        prev = out.get(ix)
        if prev is None or (count, at) > prev:
            out[ix] = (count, at)
    return out


def backoff_delay(failures: int) -> float:
    """Seconds to wait before creating pods after ``failures`` failures in a row."""
    if failures <= 0:
        return 0.0
    return min(BACKOFF_BASE * 2 ** (failures - 1), BACKOFF_MAX)


# ---- new pods ----------------------------------------------------------------------------


def new_pod(job: Obj, *, index: int | None, failures: int = 0) -> Obj:
    """A pod for ``job`` (at completion ``index`` for an Indexed Job), with the
    tracking finalizer so the controller counts it before it can vanish."""
    spec = job.get("spec") or {}
    name = job["metadata"]["name"]
    template = copy.deepcopy(spec.get("template") or {})
    generate = f"{name}-{index}-" if index is not None else f"{name}-"
    pod = podutil.pod_from_template(template, job, generate_name=generate)
    md = pod["metadata"]
    md.setdefault("finalizers", [])
    if TRACKING_FINALIZER not in md["finalizers"]:
        md["finalizers"].append(TRACKING_FINALIZER)
    if index is not None:
        md["annotations"][COMPLETION_INDEX] = str(index)
        md["labels"][COMPLETION_INDEX] = str(index)
        if (job.get("spec") or {}).get("backoffLimitPerIndex") is not None:
            md["annotations"][INDEX_FAILURE_COUNT] = str(failures)
        pspec = pod["spec"]
        if not pspec.get("hostname"):
            pspec["hostname"] = f"{name}-{index}"
        env_var = {"name": INDEX_ENV, "valueFrom": {"fieldRef": {
            "apiVersion": "v1", "fieldPath": f"metadata.labels['{COMPLETION_INDEX}']"}}}
        for key in ("initContainers", "containers"):
            for c in pspec.get(key) or []:
                env = c.setdefault("env", [])
                if not any(e.get("name") == INDEX_ENV for e in env):
                    env.append(copy.deepcopy(env_var))
    return pod
