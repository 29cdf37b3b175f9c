"""policy/v1 PodDisruptionBudgets.

Validation follows upstream's ``pkg/apis/policy/validation``: minAvailable and
maxUnavailable are non-negative integers or percentages of at most 100%, and
at most one of them is set. Nothing is defaulted in policy/v1.
"""

from __future__ import annotations

from typing import Any

from kubeling.api import errors, registry, validation
from kubeling.api.kinds import apps

Obj = dict[str, Any]
FieldErrors = list[errors.FieldError]
dig = apps.dig

EVICTION_POLICIES = ["AlwaysAllow", "IfHealthyBudget"]


class PDBStrategy(registry.Strategy):
    has_status = True
    tracks_generation = True

    def validate(self, obj: Obj) -> FieldErrors:
        spec = obj.get("spec")
        if spec is None:
            return []
        if not isinstance(spec, dict):
            return [errors.type_invalid("spec", spec, "must be an object")]
        errs: FieldErrors = []
        min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
        if min_available is not None and max_unavailable is not None:
            errs.append(errors.invalid_value("spec", spec, "minAvailable and maxUnavailable cannot be both set"))
        errs += apps.validate_int_or_percent(min_available, "spec.minAvailable")
        errs += apps.validate_int_or_percent(max_unavailable, "spec.maxUnavailable")
        errs += validation.validate_label_selector(spec.get("selector"), "spec.selector")
        errs += validation.validate_enum(spec.get("unhealthyPodEvictionPolicy"), "spec.unhealthyPodEvictionPolicy",
                                         EVICTION_POLICIES)
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> FieldErrors:
        return apps.nonneg_fields(new.get("status"), "status",
                                  ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods",
                                   "observedGeneration"))

    def columns(self) -> list[registry.Column]:
        def value(name: str) -> Any:
            return lambda o: "N/A" if dig(o, "spec", name) is None else str(dig(o, "spec", name))

        return [
            registry.NAME_COLUMN,
            registry.Column("Min Available", value("minAvailable"),
                            description="The minimum number of pods that must be available."),
            registry.Column("Max Unavailable", value("maxUnavailable"),
                            description="The maximum number of pods that may be unavailable."),
            registry.Column("Allowed Disruptions", lambda o: apps.status_int(o, "disruptionsAllowed"),
                            type="integer", description="Calculated number of pods that may be disrupted at this "
                                                        "time."),
            registry.AGE_COLUMN,
        ]


RESOURCES: list[registry.Resource] = [
    registry.Resource("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, PDBStrategy(),
                      short_names=("pdb",), schema="io.k8s.api.policy.v1.PodDisruptionBudget"),
]
