"""events.k8s.io/v1 Events: the same objects as core v1 Events, renamed fields.

Upstream stores both in one place; here the stored (and strategy-facing)
shape is the core v1 Event, and :func:`convert` / :func:`to_core` /
:func:`from_core` map between the two:

    events.k8s.io/v1          core/v1
    regarding              <-> involvedObject
    note                   <-> message
    reportingController    <-> reportingComponent
    deprecatedSource       <-> source
    deprecatedFirstTimestamp <-> firstTimestamp
    deprecatedLastTimestamp  <-> lastTimestamp
    deprecatedCount        <-> count
    (eventTime, series, action, reason, type, related, reportingInstance as they are)

Validation is upstream's for writes through events.k8s.io/v1 (strict: an
eventTime, a reporting controller and instance, an action, no deprecated
fields), reported with the core field names as upstream does.
:func:`legacy_validate_event` is the part that applies to every version, and
the core Event strategy can share it.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeling.api import errors, registry, validation
from kubeling.api.kinds import apps
from kubeling.lib import timeutil

Obj = dict[str, Any]
FieldErrors = list[errors.FieldError]
dig = apps.dig

GROUP = "events.k8s.io"
API_VERSION = "events.k8s.io/v1"
# events.k8s.io field <-> core field
_RENAMES = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_CORE_TO_EVENTS = {v: k for k, v in _RENAMES.items()}
_LIMIT_128 = 128
NOTE_LIMIT = 1024


def to_core(obj: Obj) -> Obj:
    """An events.k8s.io/v1 Event as a core v1 Event (a new dict)."""
    out = {_RENAMES.get(k, k): copy.deepcopy(v) for k, v in obj.items()}
    out["apiVersion"] = "v1"
    out["kind"] = "Event"
    return out


def from_core(obj: Obj) -> Obj:
    """A core v1 Event as an events.k8s.io/v1 Event (a new dict)."""
    out = {_CORE_TO_EVENTS.get(k, k): copy.deepcopy(v) for k, v in obj.items()}
    out["apiVersion"] = API_VERSION
    out["kind"] = "Event"
    # core's zero values are not carried over as set deprecated fields
    for key in ("deprecatedCount", "deprecatedFirstTimestamp", "deprecatedLastTimestamp"):
        if not out.get(key):
            out.pop(key, None)
    if out.get("deprecatedSource") in ({}, None):
        out.pop("deprecatedSource", None)
    return out


def is_events_shape(obj: Obj) -> bool:
    api_version = str(obj.get("apiVersion") or "")
    if api_version:
        return api_version.startswith(GROUP + "/")
    return any(k in obj for k in _RENAMES) and not any(k in obj for k in _CORE_TO_EVENTS)


def convert(obj: Obj, to_version: str) -> Obj:
    """``Resource.convert`` for events.k8s.io/v1 stored as core v1.

    The direction comes from the object (its apiVersion, else its fields)
    since both sides are called ``v1``: events.k8s.io objects become core
    ones and core ones become events.k8s.io ones. ``to_version`` may also be
    an explicit ``"events.k8s.io/v1"`` or ``"core/v1"``.
    """
    if to_version == API_VERSION:
        return obj if is_events_shape(obj) else from_core(obj)
    if to_version == "core/v1":
        return to_core(obj) if is_events_shape(obj) else obj
    return to_core(obj) if is_events_shape(obj) else from_core(obj)


def _set(value: Any) -> bool:
    return value not in (None, "", 0, {})


def legacy_validate_event(obj: Obj, *, reporting_field: str = "reportingController") -> FieldErrors:
    """The checks every Event write passes (core v1 names; ``reporting_field`` is
    ``reportingComponent`` when the write came through core v1)."""
    errs: FieldErrors = []
    namespace = dig(obj, "metadata", "namespace") or ""
    involved_ns = dig(obj, "involvedObject", "namespace") or ""
    bad_ns = errors.invalid_value("involvedObject.namespace", involved_ns, "does not match event.namespace")
    if not obj.get("eventTime"):
        if not involved_ns:
            if namespace not in ("", "default"):
                errs.append(bad_ns)
        elif namespace != involved_ns:
            errs.append(bad_ns)
    else:
        if not involved_ns and namespace not in ("default", "kube-system"):
            errs.append(bad_ns)
        controller = obj.get("reportingComponent") or ""
        if not controller:
            errs.append(errors.required(reporting_field, ""))
        else:
            errs += [errors.invalid_value(reporting_field, controller, m) for m in validation.qualified_name(controller)]
        for field, limit in (("reportingInstance", _LIMIT_128), ("action", _LIMIT_128), ("reason", _LIMIT_128)):
            value = obj.get(field) or ""
            if not value:
                errs.append(errors.required(field, ""))
            elif len(value) > limit:
                errs.append(errors.invalid_value(field, "", f"can have at most {limit} characters"))
        if len(obj.get("message") or "") > NOTE_LIMIT:
            errs.append(errors.invalid_value("message", "", f"can have at most {NOTE_LIMIT} characters"))
    if namespace:
        errs += [errors.invalid_value("namespace", namespace, m) for m in validation.dns1123_subdomain(namespace)]
    return errs


def _validate_series(obj: Obj) -> FieldErrors:
    series = obj.get("series")
    if series is None:
        return []
    if not isinstance(series, dict):
        return [errors.type_invalid("series", series, "must be an object")]
    errs: FieldErrors = []
    count = series.get("count")
    if not validation.is_int(count) or count < 2:
        errs.append(errors.invalid_value("series.count", "", "should be at least 2"))
    if not series.get("lastObservedTime"):
        errs.append(errors.required("series.lastObservedTime", ""))
    return errs


_IMMUTABLE = ("involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count", "type",
              "eventTime", "action", "related", "reportingComponent", "reportingInstance")


class EventStrategy(registry.Strategy):
    """Strict events.k8s.io/v1 rules, applied to the stored (core) shape."""

    def validate(self, obj: Obj) -> FieldErrors:
        obj = _core(obj)  # works whether the store hands over the stored or the served shape
        errs = legacy_validate_event(obj)
        errs += _validate_series(obj)
        if not obj.get("eventTime"):
            errs.append(errors.required("eventTime", ""))
        etype = obj.get("type") or ""
        if etype not in ("Normal", "Warning"):
            errs.append(errors.invalid_value("type", "", f"has invalid value: {etype}"))
        for field in ("firstTimestamp", "lastTimestamp", "count"):
            if _set(obj.get(field)):
                errs.append(errors.invalid_value(field, "", "needs to be unset"))
        source = obj.get("source")
        if isinstance(source, dict) and (source.get("component") or source.get("host")):
            errs.append(errors.invalid_value("source", "", "needs to be unset"))
        return errs

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        new, old = _core(new), _core(old)
        errs: FieldErrors = []
        if new.get("series") != old.get("series"):
            errs += _validate_series(new)
        for field in _IMMUTABLE:
            errs += validation.validate_immutable(new.get(field), old.get(field), field)
        return errs

    def columns(self) -> list[registry.Column]:
        return event_columns()

    def field_values(self, obj: Obj) -> dict[str, str]:
        core = _core(obj)
        ref = core.get("involvedObject") or {}
        values = {f"regarding.{k}": str(ref.get(k) or "") for k in
                  ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")}
        values["reason"] = core.get("reason") or ""
        values["reportingController"] = core.get("reportingComponent") or ""
        values["type"] = core.get("type") or ""
        return values


# ---- table (upstream prints both versions the same way) ---------------------------


def _core(obj: Obj) -> Obj:
    return to_core(obj) if is_events_shape(obj) else obj


def _first_seen(e: Obj) -> str:
    if e.get("firstTimestamp"):
        return timeutil.age(e["firstTimestamp"])
    return timeutil.age(e["eventTime"]) if e.get("eventTime") else "<unknown>"


def _last_seen(e: Obj) -> str:
    series = e.get("series")
    if isinstance(series, dict) and series.get("lastObservedTime"):
        return timeutil.age(series["lastObservedTime"])
    if e.get("lastTimestamp"):
        return timeutil.age(e["lastTimestamp"])
    return _first_seen(e)


def _count(e: Obj) -> int:
    series = e.get("series")
    if isinstance(series, dict) and series.get("count") is not None:
        return int(series["count"])
    return int(e.get("count") or 0) or 1


def _source(e: Obj) -> str:
    src = e.get("source") or {}
    component = src.get("component") or e.get("reportingComponent") or ""
    host = src.get("host") or e.get("reportingInstance") or ""
    if not component:
        return ""
    return f"{component}, {host}" if host else component


def event_columns() -> list[registry.Column]:
    C = registry.Column

    def cell(fn: Any) -> Any:
        return lambda o: fn(_core(o))

    return [
        C("Last Seen", cell(_last_seen), description="Time when this Event was last seen"),
        C("Type", cell(lambda e: e.get("type") or ""), description="Type of this event (Normal, Warning), new "
                                                                   "types could be added in the future."),
        C("Reason", cell(lambda e: e.get("reason") or ""), description="The reason for this event."),
        C("Object", cell(lambda e: f"{str(dig(e, 'involvedObject', 'kind') or '').lower()}/"
                                   f"{dig(e, 'involvedObject', 'name') or ''}"),
          description="The object that this event is about."),
        C("Subobject", cell(lambda e: dig(e, "involvedObject", "fieldPath") or ""), priority=1,
          description="The subobject that this event is about."),
        C("Source", cell(_source), priority=1, description="The component reporting this event."),
        C("Message", cell(lambda e: (e.get("message") or "").strip()),
          description="A human-readable description of the status of this operation."),
        C("First Seen", cell(_first_seen), priority=1, description="The first time this Event was seen"),
        C("Count", cell(_count), type="integer", priority=1, description="The number of times this event has "
                                                                         "occurred."),
        C("Name", cell(lambda e: dig(e, "metadata", "name") or ""), priority=1, format="name",
          description="Name must be unique within a namespace."),
    ]


RESOURCES: list[registry.Resource] = [
    registry.Resource(GROUP, "v1", "Event", "events", True, EventStrategy(), short_names=("ev",),
                      schema="io.k8s.api.events.v1.Event", storage_version="v1", convert=convert,
                      storage_group=""),
]
