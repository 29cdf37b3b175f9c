"""batch/v1 strategies: Job selector generation, CronJob schedules, tables."""

from __future__ import annotations

import copy
import datetime

import pytest

from kubeling.api.kinds import batch
from kubeling.lib import timeutil

JOB, CRON = (r.strategy for r in batch.RESOURCES)
UID = "0b9d4a3c-1111-2222-3333-444455556666"


def _job(**spec):
    body = {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}], "restartPolicy": "Never"}}}
    body.update(spec)
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi", "namespace": "d", "uid": UID},
            "spec": body}


def _created(obj):
    JOB.default(obj)
    JOB.prepare_for_create(obj)
    return obj


def _fields(errs):
    return [(e.type, e.field) for e in errs]


def test_job_defaults():
    obj = _job()
    JOB.default(obj)
    spec = obj["spec"]
    assert (spec["parallelism"], spec["completions"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["completionMode"] == "NonIndexed" and spec["suspend"] is False
    assert spec["podReplacementPolicy"] == "TerminatingOrFailed"
    assert "manualSelector" not in spec
    again = copy.deepcopy(obj)
    JOB.default(again)
    assert again == obj


def test_job_parallelism_alone_leaves_completions_unset():
    obj = _job(parallelism=3)
    JOB.default(obj)
    assert obj["spec"]["parallelism"] == 3 and "completions" not in obj["spec"]


def test_job_create_generates_selector_and_labels():
    obj = _created(_job())
    labels = obj["spec"]["template"]["metadata"]["labels"]
    assert labels == {"batch.kubernetes.io/controller-uid": UID, "controller-uid": UID,
                      "batch.kubernetes.io/job-name": "pi", "job-name": "pi"}
    assert obj["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": UID}}
    assert obj["metadata"]["labels"] == labels
    assert obj["metadata"]["generation"] == 1
    assert JOB.validate(obj) == []


def test_job_selector_set_by_client_is_rejected():
    obj = _job(selector={"matchLabels": {"a": "b"}})
    _created(obj)
    errs = JOB.validate(obj)
    assert ("Invalid", "spec.selector") in _fields(errs)
    assert any("`selector` not auto-generated" in e.message() for e in errs)


def test_manual_selector():
    obj = _created(_job(manualSelector=True))
    assert "selector" not in obj["spec"]
    assert ("Required", "spec.selector") in _fields(JOB.validate(obj))
    obj = _job(manualSelector=True, selector={"matchLabels": {"a": "b"}})
    obj["spec"]["template"]["metadata"] = {"labels": {"a": "c"}}
    _created(obj)
    assert _fields(JOB.validate(obj)) == [("Invalid", "spec.template.metadata.labels")]


def test_job_restart_policy_and_counts():
    obj = _created(_job(parallelism=-1, activeDeadlineSeconds=0))
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    fields = _fields(JOB.validate(obj))
    assert ("NotSupported", "spec.template.spec.restartPolicy") in fields
    assert ("Invalid", "spec.parallelism") in fields
    assert ("Invalid", "spec.activeDeadlineSeconds") in fields


def test_indexed_job_needs_completions():
    obj = _job(completionMode="Indexed", parallelism=2)
    _created(obj)
    assert ("Required", "spec.completions") in _fields(JOB.validate(obj))


def test_job_update_immutable_fields():
    old = _created(_job())
    new = copy.deepcopy(old)
    new["spec"]["completions"] = 3
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "other"
    fields = _fields(JOB.validate_update(new, old))
    assert ("Invalid", "spec.completions") in fields and ("Invalid", "spec.template") in fields
    new = copy.deepcopy(old)
    new["spec"]["parallelism"] = 4
    new["spec"]["suspend"] = True
    assert JOB.validate_update(new, old) == []


def test_job_table_and_field_selector():
    obj = _created(_job())
    cols = JOB.columns()
    assert [c.name for c in cols][:5] == ["Name", "Status", "Completions", "Duration", "Age"]
    start = timeutil.now() - datetime.timedelta(seconds=30)
    obj["status"] = {"succeeded": 1, "startTime": timeutil.rfc3339(start),
                     "completionTime": timeutil.rfc3339(start + datetime.timedelta(seconds=12)),
                     "conditions": [{"type": "Complete", "status": "True"}]}
    cells = {c.name: c.cell(obj) for c in cols}
    assert (cells["Status"], cells["Completions"], cells["Duration"]) == ("Complete", "1/1", "12s")
    assert JOB.field_values(obj) == {"status.successful": "1"}
    assert JOB.field_values({"metadata": {}}) == {"status.successful": "0"}
    obj["status"] = {"conditions": [{"type": "Suspended", "status": "True"}]}
    assert batch.job_status_cell(obj) == "Suspended"
    assert batch.job_status_cell({"status": {}}) == "Running"
    assert batch.completions_cell({"spec": {"parallelism": 3}, "status": {"succeeded": 1}}) == "1/1 of 3"


# ---- cron -------------------------------------------------------------------------


@pytest.mark.parametrize("schedule", ["*/5 * * * *", "0 0 1 1 *", "@hourly", "@every 1h30m", "0 9-17 * * MON-FRI",
                                      "15,45 */2 ? JAN,jul sun", "TZ=UTC 0 * * * *", "5/15 * * * *"])
def test_parse_schedule_accepts(schedule):
    batch.parse_schedule(schedule)


@pytest.mark.parametrize("schedule,msg", [
    ("foo", "expected exactly 5 fields, found 1: [foo]"),
    ("60 * * * *", "end of range (60) above maximum (59): 60"),
    ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("@sometimes", "unrecognized descriptor: @sometimes"),
    ("x * * * *", "failed to parse int from x"),
])
def test_parse_schedule_rejects(schedule, msg):
    with pytest.raises(batch.ScheduleError, match=None) as info:
        batch.parse_schedule(schedule)
    assert msg in str(info.value)


def test_parsed_schedule_values():
    s = batch.parse_schedule("0 9-17/4 * * 1-5")
    assert s.minutes == {0} and s.hours == {9, 13, 17} and s.days_of_week == {1, 2, 3, 4, 5}
    assert s.dom_star and not s.dow_star
    assert batch.parse_schedule("@every 90s").every_seconds == 90


def _cron(**spec):
    body = {"schedule": "*/1 * * * *",
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}],
                                                           "restartPolicy": "OnFailure"}}}}}
    body.update(spec)
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cj", "namespace": "d"}, "spec": body}


def test_cronjob_defaults():
    obj = _cron()
    CRON.default(obj)
    spec = obj["spec"]
    assert (spec["concurrencyPolicy"], spec["suspend"], spec["successfulJobsHistoryLimit"],
            spec["failedJobsHistoryLimit"]) == ("Allow", False, 3, 1)
    assert "backoffLimit" not in spec["jobTemplate"]["spec"]
    assert spec["jobTemplate"]["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirst"
    again = copy.deepcopy(obj)
    CRON.default(again)
    assert again == obj
    assert CRON.validate(obj) == []


def test_cronjob_validation():
    obj = _cron(schedule="bad", concurrencyPolicy="Sometimes", timeZone="Mars/Olympus")
    CRON.default(obj)
    obj["metadata"]["name"] = "x" * 53
    obj["spec"]["jobTemplate"]["spec"]["selector"] = {"matchLabels": {"a": "b"}}
    fields = _fields(CRON.validate(obj))
    for f in [("Invalid", "spec.schedule"), ("NotSupported", "spec.concurrencyPolicy"), ("Invalid", "spec.timeZone"),
              ("Invalid", "metadata.name"), ("Invalid", "spec.jobTemplate.spec.selector")]:
        assert f in fields


def test_cronjob_tz_in_schedule():
    obj = _cron(schedule="TZ=UTC 0 * * * *")
    CRON.default(obj)
    errs = CRON.validate(obj)
    assert [e.message() for e in errs] == [
        'Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone field instead']
    assert CRON.validate_update(obj, copy.deepcopy(obj)) == []
    assert batch.validate_time_zone("Europe/Paris", "p") == []
    assert batch.validate_time_zone("Local", "p")
    assert batch.validate_time_zone("", "p")


def test_cronjob_table():
    obj = _cron(timeZone="Etc/UTC")
    CRON.default(obj)
    obj["status"] = {"active": [{"name": "a"}]}
    cells = {c.name: c.cell(obj) for c in CRON.columns()}
    assert (cells["Schedule"], cells["Timezone"], cells["Suspend"], cells["Active"], cells["Last Schedule"]) == (
        "*/1 * * * *", "Etc/UTC", "False", 1, "<none>")
    assert cells["Containers"] == "c"
