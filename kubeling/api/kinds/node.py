"""node.k8s.io/v1 RuntimeClasses.

A RuntimeClass names a container runtime configuration (``handler``) that pods
select with ``spec.runtimeClassName``. It is cluster-scoped. Validation follows
upstream's ``pkg/apis/node/validation``:

* ``handler`` is a DNS-1123 label (an absent handler is the empty string, which
  fails that check, as upstream reports it) and may not change once created;
* ``overhead.podFixed`` is checked like container limits (so its errors sit
  under ``overhead.limits[...]``, where upstream reports them);
* ``scheduling.nodeSelector`` holds valid labels and ``scheduling.tolerations``
  valid tolerations.

What a class does to pods (overhead, node selector and tolerations merged in,
unknown classes refused) is the API server's RuntimeClass admission
(``kubeling/apiserver/admission_runtimeclass.py``).
"""

from __future__ import annotations

from typing import Any

from kubeling.api import errors, registry, validation
from kubeling.api.kinds import pod

Obj = dict[str, Any]
FieldErrors = list[errors.FieldError]


def _validate_handler(handler: Any) -> FieldErrors:
    if handler is None:
        handler = ""
    if not isinstance(handler, str):
        return [errors.type_invalid("handler", handler, "must be a string")]
    return [errors.invalid_value("handler", handler, m) for m in validation.dns1123_label(handler)]


def _validate_overhead(overhead: Any) -> FieldErrors:
    if overhead is None:
        return []
    if not isinstance(overhead, dict):
        return [errors.type_invalid("overhead", overhead, "must be an object")]
    pod_fixed = overhead.get("podFixed")
    if pod_fixed is None:
        return []
    # Upstream validates podFixed as the limits of a container's resources.
    return pod._validate_resources({"limits": pod_fixed}, "overhead")


def _validate_scheduling(scheduling: Any) -> FieldErrors:
    if scheduling is None:
        return []
    if not isinstance(scheduling, dict):
        return [errors.type_invalid("scheduling", scheduling, "must be an object")]
    errs = validation.validate_labels(scheduling.get("nodeSelector"), "scheduling.nodeSelector")
    tols = scheduling.get("tolerations")
    if tols is not None and not isinstance(tols, list):
        return errs + [errors.type_invalid("scheduling.tolerations", tols, "must be a list")]
    return errs + pod._validate_tolerations(tols, "scheduling.tolerations")


class RuntimeClassStrategy(registry.Strategy):
    def validate(self, obj: Obj) -> FieldErrors:
        return (_validate_handler(obj.get("handler")) + _validate_overhead(obj.get("overhead"))
                + _validate_scheduling(obj.get("scheduling")))

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        return self.validate(new) + validation.validate_immutable(new.get("handler"), old.get("handler"), "handler")

    def columns(self) -> list[registry.Column]:
        return [
            registry.NAME_COLUMN,
            registry.Column("Handler", lambda o: o.get("handler") or "",
                            description="The runtime configuration a node uses to run the pods of this class."),
            registry.AGE_COLUMN,
        ]


RESOURCES: list[registry.Resource] = [
    registry.Resource("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", False, RuntimeClassStrategy(),
                      schema="io.k8s.api.node.v1.RuntimeClass"),
]
