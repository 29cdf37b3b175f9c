"""events.k8s.io/v1 Events: conversion to and from core v1, strict validation, table."""

from __future__ import annotations

import copy

from kubeling.api.kinds import events

RES = events.RESOURCES[0]
EV = RES.strategy
NOW = "2024-05-01T12:00:00.000000Z"


def _event(**extra):
    obj = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e1", "namespace": "default"},
           "eventTime": NOW, "reportingController": "example.com/ctl", "reportingInstance": "ctl-1",
           "action": "Scale", "reason": "Scaled", "type": "Normal", "note": "scaled up",
           "regarding": {"kind": "Pod", "name": "p", "namespace": "default"}}
    obj.update(extra)
    return obj


def _fields(errs):
    return [(e.type, e.field) for e in errs]


def test_to_core_and_back():
    ev = _event(deprecatedSource={"component": "c"}, deprecatedCount=3, series={"count": 2, "lastObservedTime": NOW})
    core = events.to_core(ev)
    assert core["apiVersion"] == "v1"
    assert core["involvedObject"] == ev["regarding"] and core["message"] == "scaled up"
    assert core["reportingComponent"] == "example.com/ctl" and core["source"] == {"component": "c"}
    assert core["count"] == 3 and core["series"] == ev["series"]
    assert events.from_core(core) == ev


def test_from_core_drops_zero_deprecated_fields():
    core = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"}, "involvedObject": {"kind": "Pod"},
            "message": "m", "count": 0, "source": {}, "firstTimestamp": None}
    ev = events.from_core(core)
    assert ev["regarding"] == {"kind": "Pod"} and ev["note"] == "m"
    assert not {"deprecatedCount", "deprecatedSource", "deprecatedFirstTimestamp"} & set(ev)


def test_convert_picks_the_direction_from_the_object():
    ev = _event()
    core = RES.convert(copy.deepcopy(ev), "v1")
    assert core["apiVersion"] == "v1"
    assert RES.convert(core, "v1") == ev
    assert events.convert(copy.deepcopy(ev), "events.k8s.io/v1") == ev


def test_strict_validation_on_either_shape():
    assert EV.validate(_event()) == []
    assert EV.validate(events.to_core(_event())) == []
    bad = _event(eventTime=None, type="Odd", deprecatedCount=2, reportingController="", action="")
    fields = _fields(EV.validate(bad))
    for f in [("Required", "eventTime"), ("Invalid", "type"), ("Invalid", "count")]:
        assert f in fields


def test_strict_validation_with_event_time():
    ev = _event(reportingController="", series={"count": 1})
    ev["regarding"]["namespace"] = "other"
    fields = _fields(EV.validate(ev))
    assert ("Required", "reportingController") in fields
    assert ("Invalid", "series.count") in fields and ("Required", "series.lastObservedTime") in fields


def test_legacy_validation_without_event_time():
    core = {"metadata": {"name": "e", "namespace": "ns1"}, "involvedObject": {"namespace": "ns2"}}
    errs = events.legacy_validate_event(core, reporting_field="reportingComponent")
    assert _fields(errs) == [("Invalid", "involvedObject.namespace")]
    assert "does not match event.namespace" in errs[0].message()


def test_update_keeps_most_fields():
    old = _event()
    new = _event(note="other", series={"count": 2, "lastObservedTime": NOW})
    assert _fields(EV.validate_update(new, old)) == [("Invalid", "message")]


def test_field_values():
    values = EV.field_values(events.to_core(_event()))
    assert values["regarding.kind"] == "Pod" and values["regarding.name"] == "p"
    assert values["reportingController"] == "example.com/ctl" and values["type"] == "Normal"
    assert set(EV.field_values({"metadata": {}})) == set(values)


def test_table_reads_either_shape():
    cols = EV.columns()
    assert [c.name for c in cols if c.priority == 0] == ["Last Seen", "Type", "Reason", "Object", "Message"]
    for obj in (_event(), events.to_core(_event())):
        cells = {c.name: c.cell(obj) for c in cols}
        assert (cells["Type"], cells["Reason"], cells["Object"], cells["Message"], cells["Count"]) == (
            "Normal", "Scaled", "pod/p", "scaled up", 1)
        assert cells["Source"] == "example.com/ctl, ctl-1"
