"""scheduling.k8s.io/v1 PriorityClasses.

Validation follows upstream's ``pkg/apis/scheduling/validation``: names with
the ``system-`` prefix are reserved for the two built-in classes, user
classes stay at or below one billion, and value and preemptionPolicy are
fixed once created.
"""

from __future__ import annotations

from typing import Any

from kubeling.api import errors, registry, validation

Obj = dict[str, Any]
FieldErrors = list[errors.FieldError]

SYSTEM_PREFIX = "system-"
HIGHEST_USER_PRIORITY = 1_000_000_000
#: name -> value of the classes the API server creates itself (globalDefault false).
SYSTEM_CLASSES = {"system-node-critical": 2_000_001_000, "system-cluster-critical": 2_000_000_000}
PREEMPTION_POLICIES = ["Never", "PreemptLowerPriority"]


def _known_system_class(name: str, value: Any, global_default: Any) -> str:
    """Why a ``system-`` class is not one of the built-in ones ("" when it is)."""
    if name not in SYSTEM_CLASSES:
        return f"{name} is not a known system priority class"
    if value != SYSTEM_CLASSES[name]:
        return f"value of {name} PriorityClass must be {SYSTEM_CLASSES[name]}"
    if global_default:
        return f"globalDefault of {name} PriorityClass must be false"
    return ""


class PriorityClassStrategy(registry.Strategy):
    def default(self, obj: Obj) -> None:
        if not obj.get("preemptionPolicy"):
            obj["preemptionPolicy"] = "PreemptLowerPriority"

    def validate(self, obj: Obj) -> FieldErrors:
        errs: FieldErrors = []
        name = str((obj.get("metadata") or {}).get("name") or "")
        value = obj.get("value")
        if not validation.is_int(value):
            errs.append(errors.required("value", "") if value is None
                        else errors.type_invalid("value", value, "must be an integer"))
        elif name.startswith(SYSTEM_PREFIX):
            why = _known_system_class(name, value, obj.get("globalDefault"))
            if why:
                errs.append(errors.forbidden("metadata.name", f"priority class names with '{SYSTEM_PREFIX}' prefix "
                                                              f"are reserved for system use only. error: {why}"))
        elif value > HIGHEST_USER_PRIORITY:
            errs.append(errors.forbidden("value", f"maximum allowed value of a user defined priority is "
                                                  f"{HIGHEST_USER_PRIORITY}"))
        errs += validation.validate_enum(obj.get("preemptionPolicy"), "preemptionPolicy", PREEMPTION_POLICIES)
        return errs

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        errs = self.validate(new)
        if new.get("value") != old.get("value"):
            errs.append(errors.forbidden("value", "may not be changed in an update."))
        errs += validation.validate_immutable(new.get("preemptionPolicy"), old.get("preemptionPolicy"),
                                              "preemptionPolicy")
        return errs

    def columns(self) -> list[registry.Column]:
        return [
            registry.NAME_COLUMN,
            registry.Column("Value", lambda o: o.get("value", 0), type="integer",
                            description="The value of this priority class. This is the actual priority that pods "
                                        "receive when they have the name of this class in their pod spec."),
            registry.Column("Global-Default", lambda o: bool(o.get("globalDefault")), type="boolean",
                            description="globalDefault specifies whether this PriorityClass should be considered "
                                        "as the default priority for pods that do not have any priority class."),
            registry.AGE_COLUMN,
            registry.Column("PreemptionPolicy", lambda o: o.get("preemptionPolicy") or "",
                            description="preemptionPolicy is the Policy for preempting pods with lower priority."),
        ]


RESOURCES: list[registry.Resource] = [
    registry.Resource("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False,
                      PriorityClassStrategy(), short_names=("pc",), schema="io.k8s.api.scheduling.v1.PriorityClass"),
]
