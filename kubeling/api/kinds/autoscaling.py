"""autoscaling/v1 and autoscaling/v2 HorizontalPodAutoscalers.

Both versions share one storage, kept in v2 (as upstream since 1.23+). The
generic store converts requests to v2 before defaulting and validating, so
one strategy, written against the v2 shape, serves both versions; only the
table cells see the served version and read either shape.

v1 knows a single CPU utilisation target. Converting v2 to v1 keeps what v1
cannot express in annotations, as upstream does, so a v1 read-modify-write
does not lose v2 metrics, behavior or conditions (the annotations hold the
v2 JSON shape of those fields).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kubeling.api import errors, registry, validation
from kubeling.api.kinds import apps

Obj = dict[str, Any]
FieldErrors = list[errors.FieldError]
Column = registry.Column
dig = apps.dig

GROUP = "autoscaling"
DEFAULT_CPU_UTILIZATION = 80
METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
_ANNOTATIONS = (METRICS_ANNOTATION, CURRENT_METRICS_ANNOTATION, CONDITIONS_ANNOTATION, BEHAVIOR_ANNOTATION)
METRIC_TYPES = ["ContainerResource", "External", "Object", "Pods", "Resource"]
_SOURCE_FIELD = {"ContainerResource": "containerResource", "External": "external", "Object": "object",
                 "Pods": "pods", "Resource": "resource"}


def _cpu_metric(utilization: int) -> Obj:
    return {"type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": utilization}}}


def _scale_up_defaults() -> Obj:
    return {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
            "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                         {"type": "Percent", "value": 100, "periodSeconds": 15}]}


def _scale_down_defaults() -> Obj:
    return {"stabilizationWindowSeconds": 300, "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}


def _default_rules(rules: Any, defaults: Obj) -> Obj:
    if not isinstance(rules, dict):
        return defaults
    if not rules.get("policies"):
        rules["policies"] = defaults["policies"]
    if not rules.get("selectPolicy"):
        rules["selectPolicy"] = "Max"
    if rules.get("stabilizationWindowSeconds") is None:
        rules["stabilizationWindowSeconds"] = defaults["stabilizationWindowSeconds"]
    return rules


# ---- conversion -------------------------------------------------------------------


def _is_cpu_utilization(metric: Any) -> bool:
    return (isinstance(metric, dict) and metric.get("type") == "Resource"
            and dig(metric, "resource", "name") == "cpu"
            and dig(metric, "resource", "target", "type") == "Utilization")


def to_v1(obj: Obj) -> Obj:
    """A v2 (stored) HPA as autoscaling/v1 sees it."""
    out = copy.deepcopy(obj)
    out["apiVersion"] = "autoscaling/v1"
    spec: Obj = apps.ensure(out, "spec")
    md = apps.ensure(out, "metadata")
    annotations = dict(md.get("annotations") or {})
    metrics = spec.pop("metrics", None) or []
    others = []
    for m in metrics:
        if _is_cpu_utilization(m) and "targetCPUUtilizationPercentage" not in spec:
            spec["targetCPUUtilizationPercentage"] = dig(m, "resource", "target", "averageUtilization")
        else:
            others.append(m)
    if others:
        annotations[METRICS_ANNOTATION] = json.dumps(others, separators=(",", ":"))
    behavior = spec.pop("behavior", None)
    if behavior is not None:
        annotations[BEHAVIOR_ANNOTATION] = json.dumps(behavior, separators=(",", ":"))
    status = out.get("status")
    if isinstance(status, dict):
        current = status.pop("currentMetrics", None) or []
        rest = []
        for m in current:
            util = dig(m, "resource", "current", "averageUtilization")
            if (isinstance(m, dict) and m.get("type") == "Resource" and dig(m, "resource", "name") == "cpu"
                    and util is not None and "currentCPUUtilizationPercentage" not in status):
                status["currentCPUUtilizationPercentage"] = util
            else:
                rest.append(m)
        if rest:
            annotations[CURRENT_METRICS_ANNOTATION] = json.dumps(rest, separators=(",", ":"))
        conditions = status.pop("conditions", None)
        if conditions:
            annotations[CONDITIONS_ANNOTATION] = json.dumps(conditions, separators=(",", ":"))
        status.setdefault("currentReplicas", 0)
    if annotations:
        md["annotations"] = annotations
    return out


def _load(annotations: Obj, key: str) -> Any:
    raw = annotations.pop(key, None)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return None


def to_v2(obj: Obj) -> Obj:
    """An autoscaling/v1 HPA in the v2 (storage) shape."""
    out = copy.deepcopy(obj)
    out["apiVersion"] = "autoscaling/v2"
    spec: Obj = apps.ensure(out, "spec")
    md = apps.ensure(out, "metadata")
    annotations = dict(md.get("annotations") or {})
    metrics: list[Obj] = []
    cpu = spec.pop("targetCPUUtilizationPercentage", None)
    if cpu is not None:
        metrics.append(_cpu_metric(cpu))
    extra = _load(annotations, METRICS_ANNOTATION)
    if isinstance(extra, list):
        metrics += [m for m in extra if isinstance(m, dict)]
    if metrics:
        spec["metrics"] = metrics
    behavior = _load(annotations, BEHAVIOR_ANNOTATION)
    if isinstance(behavior, dict):
        spec["behavior"] = behavior
    status = out.get("status")
    current = _load(annotations, CURRENT_METRICS_ANNOTATION)
    conditions = _load(annotations, CONDITIONS_ANNOTATION)
    if isinstance(status, dict):
        cur: list[Obj] = []
        util = status.pop("currentCPUUtilizationPercentage", None)
        if util is not None:
            cur.append({"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": util}}})
        if isinstance(current, list):
            cur += current
        if cur:
            status["currentMetrics"] = cur
        if isinstance(conditions, list):
            status["conditions"] = conditions
    if annotations:
        md["annotations"] = annotations
    else:
        md.pop("annotations", None)
    return out


def convert(obj: Obj, to_version: str) -> Obj:
    """``Resource.convert``: between the v1 and v2 shapes (idempotent for the target)."""
    is_v1 = obj.get("apiVersion") == "autoscaling/v1" or "targetCPUUtilizationPercentage" in (obj.get("spec") or {})
    if to_version == "v1":
        return obj if is_v1 else to_v1(obj)
    return to_v2(obj) if is_v1 else obj


# ---- strategy ----------------------------------------------------------------------


def _validate_target(target: Any, path: str, *, resource: bool) -> FieldErrors:
    if not isinstance(target, dict):
        return [errors.required(path, "must specify a metric target")]
    errs: FieldErrors = []
    ttype = target.get("type")
    allowed = ["AverageValue", "Utilization", "Value"]
    errs += validation.validate_enum(ttype, f"{path}.type", allowed, required=True)
    if ttype == "Utilization":
        util = target.get("averageUtilization")
        if util is None:
            errs.append(errors.required(f"{path}.averageUtilization", "must set either a target raw value or a "
                                                                      "target utilization"))
        else:
            errs += validation.validate_positive(util, f"{path}.averageUtilization")
    elif ttype == "AverageValue":
        if target.get("averageValue") is None:
            errs.append(errors.required(f"{path}.averageValue", "must set either a target raw value or a target "
                                                                "utilization" if resource else ""))
        errs += _positive_quantity(target.get("averageValue"), f"{path}.averageValue")
    elif ttype == "Value":
        if resource:
            errs.append(errors.invalid_value(f"{path}.type", ttype, "must set either a target raw value or a "
                                                                     "target utilization"))
        elif target.get("value") is None:
            errs.append(errors.required(f"{path}.value", "must set either a target value or averageValue"))
        errs += _positive_quantity(target.get("value"), f"{path}.value")
    return errs


def _positive_quantity(value: Any, path: str) -> FieldErrors:
    if value is None:
        return []
    errs = validation.validate_quantity(value, path)
    q = validation.quantity_value(value)
    if not errs and q is not None and q <= 0:
        errs.append(errors.invalid_value(path, value, "must be positive"))
    return errs


def _validate_metric_identifier(metric: Any, path: str) -> FieldErrors:
    if not isinstance(metric, dict) or not metric.get("name"):
        return [errors.required(f"{path}.name", "must specify a metric name")]
    errs = [errors.invalid_value(f"{path}.name", metric["name"], m)
            for m in validation.path_segment_name(str(metric["name"]))]
    return errs + validation.validate_label_selector(metric.get("selector"), f"{path}.selector")


def _validate_metric(metric: Any, path: str) -> FieldErrors:
    if not isinstance(metric, dict):
        return [errors.type_invalid(path, metric, "must be an object")]
    mtype = metric.get("type")
    if not mtype:
        return [errors.required(f"{path}.type", "must specify a metric source type")]
    if mtype not in METRIC_TYPES:
        return [errors.not_supported(f"{path}.type", mtype, METRIC_TYPES)]
    errs: FieldErrors = []
    for other, field in _SOURCE_FIELD.items():
        if other != mtype and metric.get(field) is not None:
            errs.append(errors.forbidden(f"{path}.{field}", "must populate the given metric source only"))
    field = _SOURCE_FIELD[mtype]
    src = metric.get(field)
    sp = f"{path}.{field}"
    if not isinstance(src, dict):
        return errs + [errors.required(sp, "must populate information for the given metric source")]
    if mtype in ("Resource", "ContainerResource"):
        if not src.get("name"):
            errs.append(errors.required(f"{sp}.name", "must specify a resource name"))
        if mtype == "ContainerResource" and not src.get("container"):
            errs.append(errors.required(f"{sp}.container", "must specify a container"))
        errs += _validate_target(src.get("target"), f"{sp}.target", resource=True)
    else:
        errs += _validate_metric_identifier(src.get("metric"), f"{sp}.metric")
        if mtype == "Object":
            ref = src.get("describedObject")
            if not isinstance(ref, dict) or not ref.get("kind"):
                errs.append(errors.required(f"{sp}.describedObject.kind", ""))
            if not isinstance(ref, dict) or not ref.get("name"):
                errs.append(errors.required(f"{sp}.describedObject.name", ""))
        errs += _validate_target(src.get("target"), f"{sp}.target", resource=False)
    return errs


def _validate_rules(rules: Any, path: str) -> FieldErrors:
    if rules is None:
        return []
    if not isinstance(rules, dict):
        return [errors.type_invalid(path, rules, "must be an object")]
    errs: FieldErrors = []
    window = rules.get("stabilizationWindowSeconds")
    if validation.is_int(window) and not 0 <= window <= 3600:
        errs.append(errors.invalid_value(f"{path}.stabilizationWindowSeconds", window,
                                         "must be less than or equal to 3600" if window > 0
                                         else "must be greater than or equal to zero"))
    errs += validation.validate_enum(rules.get("selectPolicy"), f"{path}.selectPolicy", ["Disabled", "Max", "Min"])
    policies = rules.get("policies")
    if not policies:
        errs.append(errors.required(f"{path}.policies", "must specify at least one Policy"))
    for i, p in enumerate(policies or []):
        pp = f"{path}.policies[{i}]"
        if not isinstance(p, dict):
            errs.append(errors.type_invalid(pp, p, "must be an object"))
            continue
        errs += validation.validate_enum(p.get("type"), f"{pp}.type", ["Percent", "Pods"], required=True)
        if not validation.is_int(p.get("value")) or p["value"] <= 0:
            errs.append(errors.invalid_value(f"{pp}.value", p.get("value"), "must be greater than zero"))
        period = p.get("periodSeconds")
        if not validation.is_int(period) or period <= 0:
            errs.append(errors.invalid_value(f"{pp}.periodSeconds", period, "must be greater than zero"))
        elif period > 1800:
            errs.append(errors.invalid_value(f"{pp}.periodSeconds", period, "must be less than or equal to 1800"))
    return errs


class HPAStrategy(registry.Strategy):
    has_status = True
    tracks_generation = True

    def default(self, obj: Obj) -> None:
        spec = apps.ensure(obj, "spec")
        if spec.get("minReplicas") is None:
            spec["minReplicas"] = 1
        if not spec.get("metrics"):
            spec["metrics"] = [_cpu_metric(DEFAULT_CPU_UTILIZATION)]
        behavior = spec.get("behavior")
        if isinstance(behavior, dict):
            behavior["scaleUp"] = _default_rules(behavior.get("scaleUp"), _scale_up_defaults())
            behavior["scaleDown"] = _default_rules(behavior.get("scaleDown"), _scale_down_defaults())

    def validate(self, obj: Obj) -> FieldErrors:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [errors.required("spec", "")]
        errs: FieldErrors = []
        ref = spec.get("scaleTargetRef")
        ref = ref if isinstance(ref, dict) else {}
        for key in ("kind", "name"):
            value = ref.get(key)
            if not value:
                errs.append(errors.required(f"spec.scaleTargetRef.{key}", ""))
            else:
                errs += [errors.invalid_value(f"spec.scaleTargetRef.{key}", value, m)
                         for m in validation.path_segment_name(str(value))]
        lo, hi = spec.get("minReplicas"), spec.get("maxReplicas")
        if lo is not None and (not validation.is_int(lo) or lo < 1):
            errs.append(errors.invalid_value("spec.minReplicas", lo, "must be greater than or equal to 1"))
        if not validation.is_int(hi) or hi < 1:
            errs.append(errors.invalid_value("spec.maxReplicas", hi, "must be greater than 0"))
        elif validation.is_int(lo) and lo > hi:
            errs.append(errors.invalid_value("spec.maxReplicas", hi, "must be greater than or equal to `minReplicas`"))
        for i, m in enumerate(spec.get("metrics") or []):
            errs += _validate_metric(m, f"spec.metrics[{i}]")
        behavior = spec.get("behavior")
        if isinstance(behavior, dict):
            errs += _validate_rules(behavior.get("scaleUp"), "spec.behavior.scaleUp")
            errs += _validate_rules(behavior.get("scaleDown"), "spec.behavior.scaleDown")
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> FieldErrors:
        return apps.nonneg_fields(new.get("status"), "status", ("currentReplicas", "desiredReplicas"))

    def columns(self) -> list[Column]:
        def reference(o: Obj) -> str:
            ref = dig(o, "spec", "scaleTargetRef") or {}
            return f"{ref.get('kind', '')}/{ref.get('name', '')}"

        def min_pods(o: Obj) -> Any:
            value = dig(o, "spec", "minReplicas")
            return "<unset>" if value is None else value

        return [
            registry.NAME_COLUMN,
            Column("Reference", reference, description="Reference to the target resource"),
            Column("Targets", targets_cell, description="The current and target values of the metrics"),
            Column("MinPods", min_pods, description="Lower limit for the number of pods"),
            Column("MaxPods", lambda o: dig(o, "spec", "maxReplicas") or 0, type="integer",
                   description="Upper limit for the number of pods"),
            Column("Replicas", lambda o: apps.status_int(o, "currentReplicas"), type="integer",
                   description="Current number of replicas"),
            registry.AGE_COLUMN,
        ]


def _quantity(value: Any) -> str:
    return "<unknown>" if value is None else str(value)


def targets_cell(obj: Obj) -> str:
    """The TARGETS column: ``cpu: 50%/80%`` per metric, at most two shown."""
    if obj.get("apiVersion") == "autoscaling/v1" or "targetCPUUtilizationPercentage" in (obj.get("spec") or {}):
        obj = to_v2(obj)
    specs = dig(obj, "spec", "metrics") or []
    statuses = dig(obj, "status", "currentMetrics") or []
    if not specs:
        return "<none>"
    shown: list[str] = []
    for i, m in enumerate(specs):
        if not isinstance(m, dict):
            continue
        st = statuses[i] if i < len(statuses) and isinstance(statuses[i], dict) else {}
        mtype = m.get("type")
        field = _SOURCE_FIELD.get(str(mtype), "")
        src = m.get(field) or {}
        cur_src = st.get(field) or {} if st.get("type") == mtype else {}
        target = src.get("target") or {}
        current = cur_src.get("current") or {}
        if mtype in ("Resource", "ContainerResource"):
            name = src.get("name", "")
            if target.get("averageValue") is not None:
                shown.append(f"{name}: {_quantity(current.get('averageValue'))}/{target['averageValue']}")
            else:
                cur = current.get("averageUtilization")
                cur_s = "<unknown>" if cur is None else f"{cur}%"
                tgt = target.get("averageUtilization")
                tgt_s = "<auto>" if tgt is None else f"{tgt}%"
                shown.append(f"{name}: {cur_s}/{tgt_s}")
        elif target.get("averageValue") is not None:
            shown.append(f"{_quantity(current.get('averageValue'))}/{target['averageValue']} (avg)"
                         if mtype != "Pods" else f"{_quantity(current.get('averageValue'))}/{target['averageValue']}")
        else:
            shown.append(f"{_quantity(current.get('value'))}/{_quantity(target.get('value'))}")
    if len(shown) > 2:
        return ", ".join(shown[:2]) + f" + {len(shown) - 2} more..."
    return ", ".join(shown)


_STRATEGY = HPAStrategy()


def _hpa(version: str) -> registry.Resource:
    return registry.Resource(GROUP, version, "HorizontalPodAutoscaler", "horizontalpodautoscalers", True,
                             _STRATEGY, short_names=("hpa",), categories=("all",),
                             schema=f"io.k8s.api.autoscaling.{version}.HorizontalPodAutoscaler",
                             storage_version="v2", convert=convert)


RESOURCES: list[registry.Resource] = [_hpa("v2"), _hpa("v1")]
