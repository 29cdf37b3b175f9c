"""apps/v1: Deployments, ReplicaSets, StatefulSets, DaemonSets, ControllerRevisions.

Defaults and validation follow upstream's ``pkg/apis/apps/v1/defaults.go`` and
``pkg/apis/apps/validation``: the three replicated workloads share the
selector-must-match-template rule, an immutable selector and the restart
policy ``Always``. A few helpers here (int-or-percent checks, the containers /
images / selector cells of ``-o wide``) are reused by the batch and policy
groups.
"""

from __future__ import annotations

import re
from typing import Any

from kubeling.api import errors, registry, validation
from kubeling.api.kinds import pod
from kubeling.lib import labels

Obj = dict[str, Any]
FieldErrors = list[errors.FieldError]
Column = registry.Column

GROUP = "apps"
_PERCENT_RE = re.compile(r"^[0-9]+%$")


# ---- shared helpers ----------------------------------------------------------------


def dig(obj: Any, *path: str) -> Any:
    """``obj[a][b]...`` or None when any step is missing or not an object."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def ensure(obj: Obj, key: str) -> Obj:
    """The dict at ``obj[key]``, created (or replaced if malformed) when needed."""
    value = obj.get(key)
    if not isinstance(value, dict):
        value = obj[key] = {}
    return value


def int_or_percent_value(value: Any) -> int | None:
    """The number in ``5`` or ``"5%"``; None when it is neither."""
    if validation.is_int(value):
        return int(value)
    if isinstance(value, str) and _PERCENT_RE.match(value):
        return int(value[:-1])
    return None


def validate_int_or_percent(value: Any, path: str, *, max_100: bool = True) -> FieldErrors:
    """Upstream's ValidatePositiveIntOrPercent plus IsNotMoreThan100Percent."""
    if value is None:
        return []
    if isinstance(value, str):
        if not _PERCENT_RE.match(value):
            return [errors.invalid_value(path, value, "must be an integer or percentage (e.g '5%')")]
        if max_100 and int(value[:-1]) > 100:
            return [errors.invalid_value(path, value, "must not be greater than 100%")]
        return []
    if not validation.is_int(value):
        return [errors.invalid_value(path, value, "must be an integer or percentage (e.g '5%')")]
    return validation.validate_nonnegative(value, path)


def _int_field(value: Any, path: str, *, positive: bool = False) -> FieldErrors:
    if value is None:
        return []
    if not validation.is_int(value):
        return [errors.type_invalid(path, value, "must be an integer")]
    return validation.validate_positive(value, path) if positive else validation.validate_nonnegative(value, path)


def nonneg_fields(obj: Any, path: str, names: tuple[str, ...]) -> FieldErrors:
    errs: FieldErrors = []
    if isinstance(obj, dict):
        for name in names:
            errs += _int_field(obj.get(name), f"{path}.{name}")
    return errs


def selector_string(sel: Any) -> str:
    """A LabelSelector as ``kubectl get -o wide`` prints it (``<none>`` when empty)."""
    if not isinstance(sel, dict):
        return "<none>"
    return labels.format_label_selector(sel) or "<none>"


def _containers(template: Any) -> list[Obj]:
    return [c for c in (dig(template, "spec", "containers") or []) if isinstance(c, dict)]


def containers_cell(template: Any) -> str:
    return ",".join(str(c.get("name", "")) for c in _containers(template))


def images_cell(template: Any) -> str:
    return ",".join(str(c.get("image", "")) for c in _containers(template))


def wide_template_columns(template_path: tuple[str, ...], selector_path: tuple[str, ...] | None) -> list[Column]:
    """The Containers, Images (and Selector) columns shown with ``-o wide``."""
    cols = [
        Column("Containers", lambda o: containers_cell(dig(o, *template_path)), priority=1,
               description="Names of each container in the template."),
        Column("Images", lambda o: images_cell(dig(o, *template_path)), priority=1,
               description="Images referenced by each container in the template."),
    ]
    if selector_path is not None:
        cols.append(Column("Selector", lambda o: selector_string(dig(o, *selector_path)), priority=1,
                           description="Label selector for pods. Existing ReplicaSets whose pods are selected by "
                                       "this will be the ones affected by this deployment."))
    return cols


def status_int(obj: Obj, name: str) -> int:
    value = dig(obj, "status", name)
    return int(value) if validation.is_int(value) else 0


def validate_template_for_workload(
    template: Any, selector: Any, path: str, *, what: str, restart: tuple[str, ...] = ("Always",)
) -> FieldErrors:
    """The pod template of a replicated workload: it must carry the selected labels,
    restart per ``restart`` and have no activeDeadlineSeconds (upstream's
    ValidatePodTemplateSpecForReplicaSet and its siblings)."""
    if template is None:
        return [errors.required(path, "")]
    if not isinstance(template, dict):
        return [errors.type_invalid(path, template, "must be an object")]
    errs: FieldErrors = []
    tlabels = dig(template, "metadata", "labels") or {}
    if (isinstance(selector, dict) and not validation.selector_is_empty(selector) and isinstance(tlabels, dict)
            and not validation.selector_matches(selector, tlabels)):
        errs.append(errors.invalid_value(f"{path}.metadata.labels", tlabels,
                                         "`selector` does not match template `labels`"))
    errs += pod.validate_pod_template(template, path)
    spec = template.get("spec")
    if isinstance(spec, dict):
        rp = spec.get("restartPolicy")
        if rp not in restart:
            errs.append(errors.not_supported(f"{path}.spec.restartPolicy", rp, list(restart)))
        if what and spec.get("activeDeadlineSeconds") is not None:
            errs.append(errors.forbidden(f"{path}.spec.activeDeadlineSeconds",
                                         f"activeDeadlineSeconds in {what} is not Supported"))
    return errs


def validate_selector(selector: Any, path: str, *, what: str) -> FieldErrors:
    if selector is None:
        return [errors.required(path, "")]
    errs = validation.validate_label_selector(selector, path)
    if not errs and validation.selector_is_empty(selector):
        errs.append(errors.invalid_value(path, selector, f"empty selector is invalid for {what}"))
    return errs


def scale_selector(obj: Obj) -> str:
    sel = dig(obj, "spec", "selector")
    return labels.format_label_selector(sel) if isinstance(sel, dict) else ""


def _default_pvc_template(pvc: Any) -> None:
    """A volumeClaimTemplate gets the PersistentVolumeClaim defaults (upstream
    shows ``volumeMode: Filesystem`` and ``status.phase: Pending`` on them)."""
    if not isinstance(pvc, dict):
        return
    spec = ensure(pvc, "spec")
    spec.setdefault("volumeMode", "Filesystem")
    ensure(pvc, "status").setdefault("phase", "Pending")


# ---- the strategies ------------------------------------------------------------------


class _Workload(registry.Strategy):
    """What the replicated workloads share."""

    has_status = True
    tracks_generation = True
    what = ""  # the noun in upstream's messages: "deployment", "statefulset" ...
    status_fields: tuple[str, ...] = ()

    def _default_common(self, spec: Obj) -> None:
        if spec.get("replicas") is None:
            spec["replicas"] = 1
        if spec.get("revisionHistoryLimit") is None:
            spec["revisionHistoryLimit"] = 10
        template = spec.get("template")
        if isinstance(template, dict):
            pod.default_pod_template(template)

    def _validate_common(self, spec: Obj, *, what_template: str) -> FieldErrors:
        errs: FieldErrors = []
        errs += _int_field(spec.get("replicas"), "spec.replicas")
        errs += _int_field(spec.get("minReadySeconds"), "spec.minReadySeconds")
        errs += _int_field(spec.get("revisionHistoryLimit"), "spec.revisionHistoryLimit")
        sel = spec.get("selector")
        errs += validate_selector(sel, "spec.selector", what=self.what)
        errs += validate_template_for_workload(spec.get("template"), sel, "spec.template", what=what_template)
        return errs

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        errs = self.validate(new)
        errs += validation.validate_immutable(dig(new, "spec", "selector"), dig(old, "spec", "selector"),
                                              "spec.selector")
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> FieldErrors:
        status = new.get("status")
        if status is None:
            return []
        if not isinstance(status, dict):
            return [errors.type_invalid("status", status, "must be an object")]
        errs = nonneg_fields(status, "status", self.status_fields + ("observedGeneration", "collisionCount"))
        return errs + self._status_relations(status)

    def _status_relations(self, status: Obj) -> FieldErrors:
        return []


def _not_more(status: Obj, field: str, than: str, detail: str) -> FieldErrors:
    a, b = status.get(field), status.get(than)
    if validation.is_int(a) and validation.is_int(b) and a > b:
        return [errors.invalid_value(f"status.{field}", a, detail)]
    return []


class DeploymentStrategy(_Workload):
    what = "deployment"
    status_fields = ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas",
                     "terminatingReplicas")

    def default(self, obj: Obj) -> None:
        spec = ensure(obj, "spec")
        self._default_common(spec)
        strategy = ensure(spec, "strategy")
        if not strategy.get("type"):
            strategy["type"] = "RollingUpdate"
        if strategy["type"] == "RollingUpdate":
            ru = ensure(strategy, "rollingUpdate")
            if ru.get("maxUnavailable") is None:
                ru["maxUnavailable"] = "25%"
            if ru.get("maxSurge") is None:
                ru["maxSurge"] = "25%"
        if spec.get("progressDeadlineSeconds") is None:
            spec["progressDeadlineSeconds"] = 600

    def validate(self, obj: Obj) -> FieldErrors:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [errors.required("spec", "")]
        errs = self._validate_common(spec, what_template="ReplicaSet")
        errs += _validate_deployment_strategy(spec.get("strategy"), "spec.strategy")
        pds = spec.get("progressDeadlineSeconds")
        errs += _int_field(pds, "spec.progressDeadlineSeconds")
        mrs = spec.get("minReadySeconds") or 0
        if validation.is_int(pds) and validation.is_int(mrs) and pds <= mrs:
            errs.append(errors.invalid_value("spec.progressDeadlineSeconds", pds,
                                             "must be greater than minReadySeconds"))
        return errs

    def _status_relations(self, status: Obj) -> FieldErrors:
        more = "cannot be greater than status.replicas"
        return (
            _not_more(status, "updatedReplicas", "replicas", more)
            + _not_more(status, "readyReplicas", "replicas", more)
            + _not_more(status, "availableReplicas", "replicas", more)
            + _not_more(status, "availableReplicas", "readyReplicas", "cannot be greater than readyReplicas")
        )

    def columns(self) -> list[Column]:
        return [
            registry.NAME_COLUMN,
            Column("Ready", lambda o: f"{status_int(o, 'readyReplicas')}/{dig(o, 'spec', 'replicas') or 0}",
                   description="Number of the pod with ready state"),
            Column("Up-to-date", lambda o: status_int(o, "updatedReplicas"), type="integer",
                   description="Total number of non-terminated pods targeted by this deployment that have the "
                               "desired template spec."),
            Column("Available", lambda o: status_int(o, "availableReplicas"), type="integer",
                   description="Total number of available pods (ready for at least minReadySeconds) targeted "
                               "by this deployment."),
            registry.AGE_COLUMN,
            *wide_template_columns(("spec", "template"), ("spec", "selector")),
        ]


def _validate_deployment_strategy(strategy: Any, path: str) -> FieldErrors:
    if not isinstance(strategy, dict):
        return []
    errs: FieldErrors = []
    stype = strategy.get("type")
    ru = strategy.get("rollingUpdate")
    if stype == "Recreate":
        if ru is not None:
            errs.append(errors.forbidden(f"{path}.rollingUpdate",
                                         "may not be specified when strategy `type` is 'Recreate'"))
    elif stype == "RollingUpdate":
        if not isinstance(ru, dict):
            errs.append(errors.required(f"{path}.rollingUpdate", "this should be defaulted and never be nil"))
        else:
            rp = f"{path}.rollingUpdate"
            mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
            errs += validate_int_or_percent(mu, f"{rp}.maxUnavailable")
            errs += validate_int_or_percent(ms, f"{rp}.maxSurge", max_100=False)
            if int_or_percent_value(mu) == 0 and int_or_percent_value(ms) == 0:
                errs.append(errors.invalid_value(f"{rp}.maxUnavailable", mu, "may not be 0 when `maxSurge` is 0"))
    else:
        errs.append(errors.not_supported(f"{path}.type", stype, ["Recreate", "RollingUpdate"]))
    return errs


class ReplicaSetStrategy(_Workload):
    what = "deployment"  # upstream's message for replica sets names deployments too
    status_fields = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas", "terminatingReplicas")

    def default(self, obj: Obj) -> None:
        spec = ensure(obj, "spec")
        self._default_common(spec)

    def _default_common(self, spec: Obj) -> None:
        if spec.get("replicas") is None:
            spec["replicas"] = 1
        template = spec.get("template")
        if isinstance(template, dict):
            pod.default_pod_template(template)

    def validate(self, obj: Obj) -> FieldErrors:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [errors.required("spec", "")]
        return self._validate_common(spec, what_template="ReplicaSet")

    def _status_relations(self, status: Obj) -> FieldErrors:
        more = "cannot be greater than status.replicas"
        return (
            _not_more(status, "fullyLabeledReplicas", "replicas", more)
            + _not_more(status, "readyReplicas", "replicas", more)
            + _not_more(status, "availableReplicas", "replicas", more)
            + _not_more(status, "availableReplicas", "readyReplicas", "cannot be greater than readyReplicas")
        )

    def columns(self) -> list[Column]:
        return [
            registry.NAME_COLUMN,
            Column("Desired", lambda o: dig(o, "spec", "replicas") or 0, type="integer",
                   description="Number of desired pods."),
            Column("Current", lambda o: status_int(o, "replicas"), type="integer",
                   description="Number of actual pods."),
            Column("Ready", lambda o: status_int(o, "readyReplicas"), type="integer",
                   description="Number of pods ready."),
            registry.AGE_COLUMN,
            *wide_template_columns(("spec", "template"), ("spec", "selector")),
        ]

    def field_values(self, obj: Obj) -> dict[str, str]:
        return {"status.replicas": str(status_int(obj, "replicas"))}


_STS_MUTABLE = ("replicas", "ordinals", "template", "updateStrategy", "revisionHistoryLimit",
                "persistentVolumeClaimRetentionPolicy", "minReadySeconds")
_STS_FORBIDDEN = ("updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', "
                  "'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and "
                  "'minReadySeconds' are forbidden")


class StatefulSetStrategy(_Workload):
    what = "statefulset"
    status_fields = ("replicas", "readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas")

    def default(self, obj: Obj) -> None:
        spec = ensure(obj, "spec")
        self._default_common(spec)
        if not spec.get("podManagementPolicy"):
            spec["podManagementPolicy"] = "OrderedReady"
        us = ensure(spec, "updateStrategy")
        if not us.get("type"):
            us["type"] = "RollingUpdate"
        if us["type"] == "RollingUpdate":
            ru = ensure(us, "rollingUpdate")
            if ru.get("partition") is None:
                ru["partition"] = 0
        policy = ensure(spec, "persistentVolumeClaimRetentionPolicy")
        for key in ("whenDeleted", "whenScaled"):
            if not policy.get(key):
                policy[key] = "Retain"
        for pvc in spec.get("volumeClaimTemplates") or []:
            _default_pvc_template(pvc)

    def validate(self, obj: Obj) -> FieldErrors:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [errors.required("spec", "")]
        errs = self._validate_common(spec, what_template="StatefulSet")
        pmp = spec.get("podManagementPolicy")
        if not pmp:
            errs.append(errors.required("spec.podManagementPolicy", ""))
        elif pmp not in ("OrderedReady", "Parallel"):
            errs.append(errors.invalid_value("spec.podManagementPolicy", pmp, "must be 'OrderedReady' or 'Parallel'"))
        errs += _validate_sts_update_strategy(spec.get("updateStrategy"), "spec.updateStrategy")
        policy = spec.get("persistentVolumeClaimRetentionPolicy")
        if isinstance(policy, dict):
            for key in ("whenDeleted", "whenScaled"):
                errs += validation.validate_enum(policy.get(key), f"spec.persistentVolumeClaimRetentionPolicy.{key}",
                                                 ["Retain", "Delete"])
        ordinals = spec.get("ordinals")
        if isinstance(ordinals, dict):
            errs += _int_field(ordinals.get("start"), "spec.ordinals.start")
        for i, pvc in enumerate(spec.get("volumeClaimTemplates") or []):
            name = dig(pvc, "metadata", "name")
            errs += validation.validate_str_with(name, f"spec.volumeClaimTemplates[{i}].metadata.name",
                                                 validation.dns1123_subdomain)
        return errs

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        # Upstream reports any change outside the mutable fields (the selector
        # included) as one Forbidden error on spec.
        errs = self.validate(new)
        nspec, ospec = new.get("spec") or {}, old.get("spec") or {}
        if isinstance(nspec, dict) and isinstance(ospec, dict):
            rest_new = {k: v for k, v in nspec.items() if k not in _STS_MUTABLE}
            rest_old = {k: v for k, v in ospec.items() if k not in _STS_MUTABLE}
            if rest_new != rest_old:
                errs.append(errors.forbidden("spec", _STS_FORBIDDEN))
        return errs

    def _status_relations(self, status: Obj) -> FieldErrors:
        more = "cannot be greater than status.replicas"
        return (
            _not_more(status, "readyReplicas", "replicas", more)
            + _not_more(status, "currentReplicas", "replicas", more)
            + _not_more(status, "updatedReplicas", "replicas", more)
            + _not_more(status, "availableReplicas", "replicas", more)
            + _not_more(status, "availableReplicas", "readyReplicas", "cannot be greater than status.readyReplicas")
        )

    def columns(self) -> list[Column]:
        return [
            registry.NAME_COLUMN,
            Column("Ready", lambda o: f"{status_int(o, 'readyReplicas')}/{dig(o, 'spec', 'replicas') or 0}",
                   description="Number of the pod with ready state"),
            registry.AGE_COLUMN,
            *wide_template_columns(("spec", "template"), None),
        ]


def _validate_sts_update_strategy(us: Any, path: str) -> FieldErrors:
    if not isinstance(us, dict):
        return []
    stype = us.get("type")
    ru = us.get("rollingUpdate")
    if not stype:
        return [errors.required(f"{path}.type", "")]
    if stype == "OnDelete":
        if ru is not None:
            return [errors.invalid_value(f"{path}.rollingUpdate", ru, "only allowed for updateStrategy 'RollingUpdate'")]
        return []
    if stype == "RollingUpdate":
        if isinstance(ru, dict):
            errs = _int_field(ru.get("partition"), f"{path}.rollingUpdate.partition")
            mu = ru.get("maxUnavailable")
            if mu is not None:
                errs += validate_int_or_percent(mu, f"{path}.rollingUpdate.maxUnavailable")
                if int_or_percent_value(mu) == 0:
                    errs.append(errors.invalid_value(f"{path}.rollingUpdate.maxUnavailable", mu,
                                                     "must be greater than 0"))
            return errs
        return []
    return [errors.invalid_value(f"{path}.type", stype, "must be 'RollingUpdate' or 'OnDelete'")]


class DaemonSetStrategy(_Workload):
    what = "daemonset"
    # Upstream's spec.templateGeneration, shown in apps/v1 as this annotation:
    # 1 at creation, +1 whenever the pod template changes.
    TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"
    status_fields = ("currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady",
                     "updatedNumberScheduled", "numberAvailable", "numberUnavailable")

    def default(self, obj: Obj) -> None:
        spec = ensure(obj, "spec")
        us = ensure(spec, "updateStrategy")
        if not us.get("type"):
            us["type"] = "RollingUpdate"
        if us["type"] == "RollingUpdate":
            ru = ensure(us, "rollingUpdate")
            if ru.get("maxUnavailable") is None:
                ru["maxUnavailable"] = 1
            if ru.get("maxSurge") is None:
                ru["maxSurge"] = 0
        if spec.get("revisionHistoryLimit") is None:
            spec["revisionHistoryLimit"] = 10
        template = spec.get("template")
        if isinstance(template, dict):
            pod.default_pod_template(template)

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        ensure(ensure(obj, "metadata"), "annotations")[self.TEMPLATE_GENERATION] = "1"

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        try:
            gen = int(dig(old, "metadata", "annotations", self.TEMPLATE_GENERATION) or 0)
        except ValueError:
            gen = 0
        if dig(new, "spec", "template") != dig(old, "spec", "template"):
            gen += 1
        ensure(ensure(new, "metadata"), "annotations")[self.TEMPLATE_GENERATION] = str(gen)

    def validate(self, obj: Obj) -> FieldErrors:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [errors.required("spec", "")]
        errs = self._validate_common(spec, what_template="DaemonSet")
        errs += _validate_ds_update_strategy(spec.get("updateStrategy"), "spec.updateStrategy")
        return errs

    def columns(self) -> list[Column]:
        def node_selector(o: Obj) -> str:
            ns = dig(o, "spec", "template", "spec", "nodeSelector") or {}
            return ",".join(f"{k}={v}" for k, v in sorted(ns.items())) or "<none>"

        return [
            registry.NAME_COLUMN,
            Column("Desired", lambda o: status_int(o, "desiredNumberScheduled"), type="integer",
                   description="The total number of nodes that should be running the daemon pod."),
            Column("Current", lambda o: status_int(o, "currentNumberScheduled"), type="integer",
                   description="The number of nodes that are running at least 1 daemon pod."),
            Column("Ready", lambda o: status_int(o, "numberReady"), type="integer",
                   description="The number of nodes that should be running the daemon pod and have one or more "
                               "of the daemon pod running and ready."),
            Column("Up-to-date", lambda o: status_int(o, "updatedNumberScheduled"), type="integer",
                   description="The total number of nodes that are running updated daemon pod"),
            Column("Available", lambda o: status_int(o, "numberAvailable"), type="integer",
                   description="The number of nodes that should be running the daemon pod and have one or more "
                               "of the daemon pod running and available."),
            Column("Node Selector", node_selector,
                   description="NodeSelector is a selector which must be true for the pod to fit on a node."),
            registry.AGE_COLUMN,
            *wide_template_columns(("spec", "template"), ("spec", "selector")),
        ]


def _validate_ds_update_strategy(us: Any, path: str) -> FieldErrors:
    if not isinstance(us, dict):
        return []
    stype = us.get("type")
    if stype == "OnDelete":
        return []
    if stype != "RollingUpdate":
        return [errors.not_supported(f"{path}.type", stype, ["OnDelete", "RollingUpdate"])]
    ru = us.get("rollingUpdate")
    rp = f"{path}.rollingUpdate"
    if not isinstance(ru, dict):
        return [errors.required(rp, "")]
    mu, ms = ru.get("maxUnavailable"), ru.get("maxSurge")
    errs = validate_int_or_percent(mu, f"{rp}.maxUnavailable") + validate_int_or_percent(ms, f"{rp}.maxSurge")
    has_unavailable = (int_or_percent_value(mu) or 0) != 0
    has_surge = (int_or_percent_value(ms) or 0) != 0
    if has_unavailable and has_surge:
        errs.append(errors.invalid_value(f"{rp}.maxSurge", ms, "may not be set when maxUnavailable is non-zero"))
    elif not has_unavailable and not has_surge:
        errs.append(errors.required(f"{rp}.maxUnavailable", "cannot be 0 when maxSurge is 0"))
    return errs


class ControllerRevisionStrategy(registry.Strategy):
    def validate(self, obj: Obj) -> FieldErrors:
        errs: FieldErrors = []
        if obj.get("data") is None:
            errs.append(errors.required("data", "data is mandatory"))
        errs += _int_field(obj.get("revision"), "revision")
        return errs

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        return self.validate(new) + validation.validate_immutable(new.get("data"), old.get("data"), "data")

    def columns(self) -> list[Column]:
        def controller(o: Obj) -> str:
            for ref in dig(o, "metadata", "ownerReferences") or []:
                if isinstance(ref, dict) and ref.get("controller"):
                    group = str(ref.get("apiVersion", "")).rpartition("/")[0]
                    kind = str(ref.get("kind", "")) + (f".{group}" if group else "")
                    return f"{kind.lower()}/{ref.get('name', '')}"
            return "<none>"

        return [
            registry.NAME_COLUMN,
            Column("Controller", controller, description="Controller of the object"),
            Column("Revision", lambda o: o.get("revision", 0), type="integer",
                   description="Revision indicates the revision of the state represented by Data."),
            registry.AGE_COLUMN,
        ]


def _scale(obj: Obj) -> str:
    return scale_selector(obj)


def _schema(kind: str) -> str:
    return f"io.k8s.api.apps.v1.{kind}"


RESOURCES: list[registry.Resource] = [
    registry.Resource(GROUP, "v1", "Deployment", "deployments", True, DeploymentStrategy(),
                      short_names=("deploy",), categories=("all",), subresources=("scale",),
                      scale=registry.ScaleSpec(selector=_scale), schema=_schema("Deployment")),
    registry.Resource(GROUP, "v1", "ReplicaSet", "replicasets", True, ReplicaSetStrategy(),
                      short_names=("rs",), categories=("all",), subresources=("scale",),
                      scale=registry.ScaleSpec(selector=_scale), schema=_schema("ReplicaSet")),
    registry.Resource(GROUP, "v1", "StatefulSet", "statefulsets", True, StatefulSetStrategy(),
                      short_names=("sts",), categories=("all",), subresources=("scale",),
                      scale=registry.ScaleSpec(selector=_scale), schema=_schema("StatefulSet")),
    registry.Resource(GROUP, "v1", "DaemonSet", "daemonsets", True, DaemonSetStrategy(),
                      short_names=("ds",), categories=("all",), schema=_schema("DaemonSet")),
    registry.Resource(GROUP, "v1", "ControllerRevision", "controllerrevisions", True,
                      ControllerRevisionStrategy(), schema=_schema("ControllerRevision")),
]
