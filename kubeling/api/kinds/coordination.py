"""coordination.k8s.io/v1 Leases: leader election and node heartbeats.

Validation follows upstream's ``pkg/apis/coordination/validation``: durations
are positive, transition counts non-negative, and a preferred holder needs a
strategy.
"""

from __future__ import annotations

from typing import Any

from kubeling.api import errors, registry, validation
from kubeling.api.kinds import apps

Obj = dict[str, Any]
FieldErrors = list[errors.FieldError]


class LeaseStrategy(registry.Strategy):
    def validate(self, obj: Obj) -> FieldErrors:
        spec = obj.get("spec")
        if spec is None:
            return []
        if not isinstance(spec, dict):
            return [errors.type_invalid("spec", spec, "must be an object")]
        errs: FieldErrors = []
        duration = spec.get("leaseDurationSeconds")
        if duration is not None and (not validation.is_int(duration) or duration <= 0):
            errs.append(errors.invalid_value("spec.leaseDurationSeconds", duration, "must be greater than 0"))
        errs += apps.nonneg_fields(spec, "spec", ("leaseTransitions",))
        if spec.get("preferredHolder") and not spec.get("strategy"):
            errs.append(errors.forbidden("spec.preferredHolder", "may only be specified if `strategy` is defined"))
        return errs

    def columns(self) -> list[registry.Column]:
        return [
            registry.NAME_COLUMN,
            registry.Column("Holder", lambda o: apps.dig(o, "spec", "holderIdentity") or "",
                            description="The holder of the lease"),
            registry.AGE_COLUMN,
        ]


RESOURCES: list[registry.Resource] = [
    registry.Resource("coordination.k8s.io", "v1", "Lease", "leases", True, LeaseStrategy(),
                      schema="io.k8s.api.coordination.v1.Lease"),
]
