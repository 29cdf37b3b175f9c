"""batch/v1: Jobs and CronJobs.

Defaults and validation follow upstream's ``pkg/apis/batch/v1/defaults.go``
and ``pkg/apis/batch/validation``. A Job's selector and pod labels are
generated from its uid on create (``prepare_for_create``), unless the client
asked for ``manualSelector``. CronJob schedules are checked with
:func:`parse_schedule`: the grammar upstream's cron library accepts, evaluated
by cronsim; the CronJob controller computes run times from the same
:class:`Schedule`.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import zoneinfo
from typing import Any

import cronsim

from kubeling.api import errors, registry, validation
from kubeling.api.kinds import apps, pod
from kubeling.lib import timeutil

Obj = dict[str, Any]
FieldErrors = list[errors.FieldError]
Column = registry.Column
dig = apps.dig

GROUP = "batch"
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
LEGACY_JOB_NAME_LABEL = "job-name"
MAX_INDEXED_COMPLETIONS = 100_000
MAX_CRONJOB_NAME = 52  # the controller appends an 11-character suffix to job names


# ---- cron schedules -------------------------------------------------------------
#
# Upstream validates and runs schedules with robfig/cron's ParseStandard: five
# fields (minute hour day-of-month month day-of-week, names allowed, '?' as '*'),
# the @yearly..@hourly descriptors, the undocumented "@every <Go duration>", and
# a TZ=/CRON_TZ= prefix. The times themselves come from cronsim (a maintained
# cron evaluator); this module adds the robfig grammar around it and explains
# a rejected field with robfig's own wording, since that is what kubectl users
# of upstream see.


class ScheduleError(ValueError):
    """A schedule that does not parse; the message is what validation reports."""


_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {m: i + 1 for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# (minimum, maximum, names) per field, in order
_FIELDS: list[tuple[int, int, dict[str, int]]] = [(0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS),
                                                  (0, 6, _DAYS)]
# robfig's grammar: numbers, names, '*', '?', ranges, steps and lists; nothing
# else (cronsim's L, W and # extensions are not cron as upstream knows it).
_FIELD_RE = re.compile(r"^[0-9A-Za-z*?,/\-]+$")
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_FIELD_NAMES = ["minute", "hour", "day-of-month", "month", "day-of-week"]
_PROBE = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A parsed schedule: five cron fields (``expr``) or a fixed interval (``every_seconds``)."""

    expr: str = ""
    every_seconds: int = 0
    time_zone: str = ""  # from a TZ= / CRON_TZ= prefix

    def _sim(self, t: datetime.datetime, *, reverse: bool = False) -> cronsim.CronSim:
        return cronsim.CronSim(self.expr, t, reverse=reverse)

    def next_after(self, t: datetime.datetime) -> datetime.datetime:
        """The first run strictly after ``t`` (an aware datetime, in the zone to evaluate in)."""
        if self.every_seconds:
            # robfig's ConstantDelaySchedule: whole seconds after t.
            return t.replace(microsecond=0) + datetime.timedelta(seconds=self.every_seconds)
        return next(self._sim(t))

    def last_at_or_before(self, t: datetime.datetime) -> datetime.datetime:
        """The latest cron time not after ``t`` (five-field schedules only)."""
        return next(self._sim(t.replace(microsecond=0) + datetime.timedelta(seconds=1), reverse=True))

    def _fields(self) -> cronsim.CronSim:
        return self._sim(_PROBE)

    # The expanded field values, for callers that inspect a schedule.
    @property
    def minutes(self) -> frozenset[int]:
        return frozenset(self._fields().minutes)

    @property
    def hours(self) -> frozenset[int]:
        return frozenset(self._fields().hours)

    @property
    def days_of_month(self) -> frozenset[int]:
        return frozenset(self._fields().days)

    @property
    def months(self) -> frozenset[int]:
        return frozenset(self._fields().months)

    @property
    def days_of_week(self) -> frozenset[int]:
        return frozenset(d % 7 for d in self._fields().weekdays if isinstance(d, int))

    @property
    def dom_star(self) -> bool:
        return self.expr.split()[2] == "*"

    @property
    def dow_star(self) -> bool:
        return self.expr.split()[4] == "*"


def _number(text: str, names: dict[str, int], expr: str) -> int:
    if text.lower() in names:
        return names[text.lower()]
    try:
        n = int(text)
    except ValueError:
        raise ScheduleError(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax') from None
    if n < 0:
        raise ScheduleError(f"negative number ({n}) not allowed: {expr}")
    return n


def _check_field(field_text: str, index: int) -> str | None:
    """What robfig would reject in one field, in its own words; None if it accepts it.

    cronsim accepts a little more (day-of-week 7, L/W/#), so every field goes
    through this before cronsim evaluates the expression."""
    lo, hi, names = _FIELDS[index]
    if not _FIELD_RE.match(field_text):
        return f"invalid {_FIELD_NAMES[index]} field: {field_text}"
    for expr in field_text.split(","):
        range_and_step = expr.split("/")
        low_high = range_and_step[0].split("-")
        if len(range_and_step) > 2:
            return f"too many slashes: {expr}"
        if len(low_high) > 2:
            return f"too many hyphens: {expr}"
        try:
            if low_high[0] in ("*", "?"):
                start, end = lo, hi
            else:
                start = _number(low_high[0], names, expr)
                end = _number(low_high[1], names, expr) if len(low_high) == 2 else start
            step = _number(range_and_step[1], {}, expr) if len(range_and_step) == 2 else 1
        except ScheduleError as exc:
            return str(exc)
        if start < lo:
            return f"beginning of range ({start}) below minimum ({lo}): {expr}"
        if end > hi:
            return f"end of range ({end}) above maximum ({hi}): {expr}"
        if start > end:
            return f"beginning of range ({start}) beyond end of range ({end}): {expr}"
        if step == 0:
            return f"step of range should be a positive number: {expr}"
    return None


def _parse_duration(text: str) -> int:
    pos, total = 0, 0.0
    while pos < len(text):
        m = _DURATION_RE.match(text, pos)
        if not m:
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise ScheduleError(f'failed to parse duration @every {text}: time: invalid duration "{text}"')
    # robfig rounds an interval below one second up to one second.
    return max(1, int(total))


def parse_schedule(spec: str) -> Schedule:
    """Parse a cron schedule as upstream's CronJob controller does; raise ScheduleError."""
    text = spec.strip()
    if not text:
        raise ScheduleError("empty spec string")
    tz = ""
    if text.startswith(("TZ=", "CRON_TZ=")):
        head, _, text = text.partition(" ")
        tz = head.split("=", 1)[1]
        try:
            zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ScheduleError(f"provided bad location {tz}: unknown time zone {tz}") from None
        text = text.strip()
    if text.startswith("@"):
        if text.startswith("@every "):
            return Schedule(every_seconds=_parse_duration(text[len("@every "):].strip()), time_zone=tz)
        if text not in _DESCRIPTORS:
            raise ScheduleError(f"unrecognized descriptor: {text}")
        text = _DESCRIPTORS[text]
    fields = text.split()
    if len(fields) != 5:
        raise ScheduleError(f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]")
    for i, field_text in enumerate(fields):
        problem = _check_field(field_text, i)
        if problem:
            raise ScheduleError(problem)
    # cronsim wants upper-case names and has no '?' (robfig reads it as '*').
    expr = " ".join(f.replace("?", "*").upper() for f in fields)
    try:
        cronsim.CronSim(expr, _PROBE)
    except cronsim.CronSimError as exc:
        raise ScheduleError(f"invalid schedule {text}: {exc}") from None
    return Schedule(expr=expr, time_zone=tz)


def validate_schedule(schedule: Any, path: str, *, time_zone: Any, allow_tz: bool) -> FieldErrors:
    if not schedule:
        return [errors.required(path, "")]
    if not isinstance(schedule, str):
        return [errors.type_invalid(path, schedule, "must be a string")]
    errs: FieldErrors = []
    try:
        parse_schedule(schedule)
    except ScheduleError as exc:
        errs.append(errors.invalid_value(path, schedule, str(exc)))
    if "TZ" in schedule:
        if not allow_tz:
            errs.append(errors.invalid_value(path, schedule,
                                             "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
        elif time_zone is not None:
            errs.append(errors.invalid_value(path, schedule,
                                             "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
    return errs


_TZ_PART_RE = re.compile(r"^[A-Za-z.\-_0-9+]{1,14}$")


def validate_time_zone(tz: Any, path: str) -> FieldErrors:
    if tz is None:
        return []
    if not isinstance(tz, str) or not tz:
        return [errors.invalid_value(path, tz, "timeZone must be nil or non-empty string")]
    for part in tz.split("/"):
        if part in (".", "..") or part.startswith("-") or not _TZ_PART_RE.match(part):
            return [errors.invalid_value(path, tz, f"unknown time zone {tz}")]
    if tz.lower() == "local":
        return [errors.invalid_value(path, tz,
                                     "timeZone must be an explicit time zone as defined in "
                                     "https://www.iana.org/time-zones")]
    try:
        zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return [errors.invalid_value(path, tz, f"unknown time zone {tz}")]
    return []


# ---- jobs ---------------------------------------------------------------------------

_int = apps._int_field


def default_job_spec(spec: Obj, *, job: bool) -> None:
    """Defaults of a JobSpec; ``job`` is False inside a CronJob's jobTemplate, which
    upstream leaves as written apart from its pod template."""
    template = spec.get("template")
    if isinstance(template, dict):
        pod.default_pod_template(template)
    if not job:
        return
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    if spec.get("parallelism") is None:
        spec["parallelism"] = 1
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = 2147483647 if spec.get("backoffLimitPerIndex") is not None else 6
    if not spec.get("completionMode"):
        spec["completionMode"] = "NonIndexed"
    if spec.get("suspend") is None:
        spec["suspend"] = False
    pfp = spec.get("podFailurePolicy")
    if isinstance(pfp, dict):
        for rule in pfp.get("rules") or []:
            for pattern in (rule or {}).get("onPodConditions") or []:
                if isinstance(pattern, dict) and not pattern.get("status"):
                    pattern["status"] = "True"
    if not spec.get("podReplacementPolicy"):
        spec["podReplacementPolicy"] = "Failed" if isinstance(pfp, dict) else "TerminatingOrFailed"


def validate_job_spec(spec: Any, path: str, *, uid: str | None) -> FieldErrors:
    """A JobSpec at ``path``; ``uid`` is the Job's own uid (None inside a jobTemplate)."""
    if not isinstance(spec, dict):
        return [errors.required(path, "")]
    errs: FieldErrors = []
    for name in ("parallelism", "completions", "backoffLimit", "ttlSecondsAfterFinished", "backoffLimitPerIndex",
                 "maxFailedIndexes"):
        errs += _int(spec.get(name), f"{path}.{name}")
    errs += _int(spec.get("activeDeadlineSeconds"), f"{path}.activeDeadlineSeconds", positive=True)
    mode = spec.get("completionMode")
    errs += validation.validate_enum(mode, f"{path}.completionMode", ["NonIndexed", "Indexed"])
    completions, parallelism = spec.get("completions"), spec.get("parallelism")
    if mode == "Indexed":
        if completions is None:
            errs.append(errors.required(f"{path}.completions", "when completion mode is Indexed"))
        elif validation.is_int(completions) and completions > MAX_INDEXED_COMPLETIONS:
            errs.append(errors.invalid_value(f"{path}.completions", completions,
                                             f"must be less than or equal to {MAX_INDEXED_COMPLETIONS} when "
                                             "completion mode is Indexed"))
        if validation.is_int(parallelism) and parallelism > MAX_INDEXED_COMPLETIONS:
            errs.append(errors.invalid_value(f"{path}.parallelism", parallelism,
                                             f"must be less than or equal to {MAX_INDEXED_COMPLETIONS} when "
                                             "completion mode is Indexed"))
    else:
        for name in ("backoffLimitPerIndex", "maxFailedIndexes"):
            if spec.get(name) is not None:
                errs.append(errors.invalid_value(f"{path}.{name}", spec[name],
                                                 "requires indexed completion mode"))
    errs += validation.validate_enum(spec.get("podReplacementPolicy"), f"{path}.podReplacementPolicy",
                                     ["Failed", "TerminatingOrFailed"])
    errs += _validate_pod_failure_policy(spec.get("podFailurePolicy"), f"{path}.podFailurePolicy")
    selector = spec.get("selector")
    if spec.get("manualSelector") is True or uid is None:
        if selector is None and uid is not None:
            errs.append(errors.required(f"{path}.selector", ""))
        errs += validation.validate_label_selector(selector, f"{path}.selector")
    elif selector is not None:
        errs += validation.validate_label_selector(selector, f"{path}.selector")
        match = (selector.get("matchLabels") or {}) if isinstance(selector, dict) else {}
        if match.get(CONTROLLER_UID_LABEL) != uid or len(match) != 1 or dig(selector, "matchExpressions"):
            errs.append(errors.invalid_value(f"{path}.selector", selector, "`selector` not auto-generated"))
    errs += apps.validate_template_for_workload(spec.get("template"), selector, f"{path}.template", what="",
                                                restart=("OnFailure", "Never"))
    return errs


def _validate_pod_failure_policy(pfp: Any, path: str) -> FieldErrors:
    if pfp is None:
        return []
    if not isinstance(pfp, dict):
        return [errors.type_invalid(path, pfp, "must be an object")]
    errs: FieldErrors = []
    for i, rule in enumerate(pfp.get("rules") or []):
        rp = f"{path}.rules[{i}]"
        if not isinstance(rule, dict):
            errs.append(errors.type_invalid(rp, rule, "must be an object"))
            continue
        errs += validation.validate_enum(rule.get("action"), f"{rp}.action", ["Count", "FailIndex", "FailJob",
                                                                            "Ignore"], required=True)
        has_codes, has_conds = rule.get("onExitCodes") is not None, bool(rule.get("onPodConditions"))
        if has_codes == has_conds:
            errs.append(errors.invalid_value(rp, rule, "specifying one of OnExitCodes and OnPodConditions is required"))
        codes = rule.get("onExitCodes")
        if isinstance(codes, dict):
            errs += validation.validate_enum(codes.get("operator"), f"{rp}.onExitCodes.operator", ["In", "NotIn"],
                                             required=True)
            if not codes.get("values"):
                errs.append(errors.required(f"{rp}.onExitCodes.values", "at least one value is required"))
    return errs


def _has_condition(obj: Obj, ctype: str) -> bool:
    return any(isinstance(c, dict) and c.get("type") == ctype and c.get("status") == "True"
               for c in dig(obj, "status", "conditions") or [])


def job_status_cell(obj: Obj) -> str:
    if _has_condition(obj, "Complete"):
        return "Complete"
    if _has_condition(obj, "Failed"):
        return "Failed"
    if dig(obj, "metadata", "deletionTimestamp"):
        return "Terminating"
    if _has_condition(obj, "Suspended"):
        return "Suspended"
    if _has_condition(obj, "FailureTarget"):
        return "FailureTarget"
    if _has_condition(obj, "SuccessCriteriaMet"):
        return "SuccessCriteriaMet"
    return "Running"


def completions_cell(obj: Obj) -> str:
    succeeded = apps.status_int(obj, "succeeded")
    completions = dig(obj, "spec", "completions")
    if completions is not None:
        return f"{succeeded}/{completions}"
    parallelism = dig(obj, "spec", "parallelism") or 0
    if parallelism > 1:
        return f"{succeeded}/1 of {parallelism}"
    return f"{succeeded}/1"


def duration_cell(obj: Obj) -> str:
    start = timeutil.parse(dig(obj, "status", "startTime") or "")
    if start is None:
        return ""
    end = timeutil.parse(dig(obj, "status", "completionTime") or "") or timeutil.now()
    return timeutil.human_duration((end - start).total_seconds())


class JobStrategy(registry.Strategy):
    has_status = True
    tracks_generation = True

    def default(self, obj: Obj) -> None:
        spec = apps.ensure(obj, "spec")
        default_job_spec(spec, job=True)
        tlabels = dig(spec, "template", "metadata", "labels")
        md = apps.ensure(obj, "metadata")
        if isinstance(tlabels, dict) and tlabels and not md.get("labels"):
            md["labels"] = dict(tlabels)

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        spec = apps.ensure(obj, "spec")
        if spec.get("manualSelector") is True:
            return
        md = obj["metadata"]
        uid, name = md.get("uid", ""), md.get("name", "")
        template = apps.ensure(spec, "template")
        tmd = apps.ensure(template, "metadata")
        tlabels = apps.ensure(tmd, "labels")
        # labels the client set itself are kept: a conflict is reported by validation
        tlabels.setdefault(LEGACY_JOB_NAME_LABEL, name)
        tlabels.setdefault(JOB_NAME_LABEL, name)
        tlabels.setdefault(LEGACY_CONTROLLER_UID_LABEL, uid)
        tlabels.setdefault(CONTROLLER_UID_LABEL, uid)
        selector = apps.ensure(spec, "selector")
        apps.ensure(selector, "matchLabels").setdefault(CONTROLLER_UID_LABEL, uid)
        if not md.get("labels"):
            md["labels"] = dict(tlabels)  # what upstream's read-time defaulting shows

    def validate(self, obj: Obj) -> FieldErrors:
        uid = dig(obj, "metadata", "uid") or ""
        return validate_job_spec(obj.get("spec"), "spec", uid=uid)

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        errs = self.validate(new)
        nspec, ospec = new.get("spec") or {}, old.get("spec") or {}
        for name in ("selector", "completionMode", "podFailurePolicy", "backoffLimitPerIndex", "template"):
            errs += validation.validate_immutable(nspec.get(name), ospec.get(name), f"spec.{name}")
        if nspec.get("completionMode") != "Indexed":
            errs += validation.validate_immutable(nspec.get("completions"), ospec.get("completions"),
                                                  "spec.completions")
        elif nspec.get("completions") != ospec.get("completions") and (
            nspec.get("parallelism") != nspec.get("completions")
        ):
            errs.append(errors.invalid_value("spec.completions", nspec.get("completions"),
                                             "can only be modified in tandem with spec.parallelism"))
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> FieldErrors:
        return apps.nonneg_fields(new.get("status"), "status",
                                  ("active", "succeeded", "failed", "ready", "terminating"))

    def columns(self) -> list[Column]:
        return [
            registry.NAME_COLUMN,
            Column("Status", job_status_cell, description="Status of the job."),
            Column("Completions", completions_cell,
                   description="The desired number of successfully finished pods the job should be run with."),
            Column("Duration", duration_cell, description="Time required to complete the job."),
            registry.AGE_COLUMN,
            *apps.wide_template_columns(("spec", "template"), ("spec", "selector")),
        ]

    def field_values(self, obj: Obj) -> dict[str, str]:
        return {"status.successful": str(apps.status_int(obj, "succeeded"))}


# ---- cronjobs -------------------------------------------------------------------------


class CronJobStrategy(registry.Strategy):
    has_status = True
    tracks_generation = True

    def default(self, obj: Obj) -> None:
        spec = apps.ensure(obj, "spec")
        if not spec.get("concurrencyPolicy"):
            spec["concurrencyPolicy"] = "Allow"
        if spec.get("suspend") is None:
            spec["suspend"] = False
        if spec.get("successfulJobsHistoryLimit") is None:
            spec["successfulJobsHistoryLimit"] = 3
        if spec.get("failedJobsHistoryLimit") is None:
            spec["failedJobsHistoryLimit"] = 1
        job_spec = dig(spec, "jobTemplate", "spec")
        if isinstance(job_spec, dict):
            default_job_spec(job_spec, job=False)

    def _validate(self, obj: Obj, *, allow_tz: bool) -> FieldErrors:
        errs: FieldErrors = []
        name = dig(obj, "metadata", "name") or ""
        if isinstance(name, str) and len(name) > MAX_CRONJOB_NAME:
            errs.append(errors.invalid_value("metadata.name", name, f"must be no more than {MAX_CRONJOB_NAME} characters"))
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return errs + [errors.required("spec", "")]
        tz = spec.get("timeZone")
        errs += validate_schedule(spec.get("schedule"), "spec.schedule", time_zone=tz, allow_tz=allow_tz)
        errs += validate_time_zone(tz, "spec.timeZone")
        errs += validation.validate_enum(spec.get("concurrencyPolicy"), "spec.concurrencyPolicy",
                                         ["Allow", "Forbid", "Replace"], required=True)
        for name in ("startingDeadlineSeconds", "successfulJobsHistoryLimit", "failedJobsHistoryLimit"):
            errs += _int(spec.get(name), f"spec.{name}")
        errs += validate_job_template(spec.get("jobTemplate"), "spec.jobTemplate")
        return errs

    def validate(self, obj: Obj) -> FieldErrors:
        return self._validate(obj, allow_tz=False)

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        return self._validate(new, allow_tz="TZ" in str(dig(old, "spec", "schedule") or ""))

    def columns(self) -> list[Column]:
        def last_schedule(o: Obj) -> str:
            t = dig(o, "status", "lastScheduleTime")
            return timeutil.age(t) if t else "<none>"

        def suspend(o: Obj) -> str:
            value = dig(o, "spec", "suspend")
            return "<unset>" if value is None else ("True" if value else "False")

        return [
            registry.NAME_COLUMN,
            Column("Schedule", lambda o: dig(o, "spec", "schedule") or "",
                   description="The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
            Column("Timezone", lambda o: dig(o, "spec", "timeZone") or "<none>",
                   description="The time zone name for the given schedule."),
            Column("Suspend", suspend, type="boolean",
                   description="This flag tells the controller to suspend subsequent executions."),
            Column("Active", lambda o: len(dig(o, "status", "active") or []), type="integer",
                   description="A list of pointers to currently running jobs."),
            Column("Last Schedule", last_schedule,
                   description="Information when was the last time the job was successfully scheduled."),
            registry.AGE_COLUMN,
            *apps.wide_template_columns(("spec", "jobTemplate", "spec", "template"),
                                        ("spec", "jobTemplate", "spec", "selector")),
        ]


def validate_job_template(template: Any, path: str) -> FieldErrors:
    if not isinstance(template, dict):
        return [errors.required(path, "")]
    errs: FieldErrors = []
    md = template.get("metadata")
    if isinstance(md, dict):
        errs += validation.validate_labels(md.get("labels"), f"{path}.metadata.labels")
        errs += validation.validate_annotations(md.get("annotations"), f"{path}.metadata.annotations")
    spec = template.get("spec")
    errs += validate_job_spec(spec, f"{path}.spec", uid=None)
    if isinstance(spec, dict):
        if spec.get("selector") is not None:
            errs.append(errors.invalid_value(f"{path}.spec.selector", spec["selector"],
                                             "`selector` will be auto-generated"))
        if spec.get("manualSelector") is True:
            errs.append(errors.not_supported(f"{path}.spec.manualSelector", True, ["nil", "false"]))
    return errs


RESOURCES: list[registry.Resource] = [
    registry.Resource(GROUP, "v1", "Job", "jobs", True, JobStrategy(), categories=("all",),
                      schema="io.k8s.api.batch.v1.Job"),
    registry.Resource(GROUP, "v1", "CronJob", "cronjobs", True, CronJobStrategy(), short_names=("cj",),
                      categories=("all",), schema="io.k8s.api.batch.v1.CronJob"),
]
