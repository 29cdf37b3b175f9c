"""API errors: field errors from validation and the Kubernetes ``Status`` they become.

Every failure the API server reports is an :class:`APIError`; its
:meth:`APIError.status` is the ``Status`` object sent to the client, with the
code, reason, message and field causes upstream kube-apiserver would send.
Validation collects :class:`FieldError` values (never stopping at the first) and
:func:`invalid` turns them into one 422 error.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

# FieldError.type -> (cause reason, message prefix), as in apimachinery's field.ErrorType.
_FIELD_ERROR_TYPES: dict[str, tuple[str, str]] = {
    "NotFound": ("FieldValueNotFound", "Not found"),
    "Required": ("FieldValueRequired", "Required value"),
    "Duplicate": ("FieldValueDuplicate", "Duplicate value"),
    "Invalid": ("FieldValueInvalid", "Invalid value"),
    "NotSupported": ("FieldValueNotSupported", "Unsupported value"),
    "Forbidden": ("FieldValueForbidden", "Forbidden"),
    "TooLong": ("FieldValueTooLong", "Too long"),
    "TooMany": ("FieldValueTooMany", "Too many"),
    "Internal": ("InternalError", "Internal error"),
    "TypeInvalid": ("FieldValueTypeInvalid", "Invalid value"),
}


def _fmt_value(value: Any) -> str:
    """Render a bad value roughly as Go's %#v / %q would in upstream messages."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


_NO_VALUE = object()


@dataclasses.dataclass(frozen=True)
class FieldError:
    """One problem at one field path, e.g. ``spec.containers[0].name``."""

    type: str
    field: str
    value: Any = _NO_VALUE
    detail: str = ""

    def message(self) -> str:
        """The cause message (without the field path), as upstream prints it."""
        _, prefix = _FIELD_ERROR_TYPES.get(self.type, ("FieldValueInvalid", "Invalid value"))
        parts = [prefix]
        if self.type in ("Invalid", "NotSupported", "Duplicate", "TypeInvalid", "NotFound") and (
            self.value is not _NO_VALUE
        ):
            parts[0] = f"{prefix}: {_fmt_value(self.value)}"
        if self.detail:
            parts.append(self.detail)
        return ": ".join(parts)

    def error(self) -> str:
        return f"{self.field}: {self.message()}"

    def cause(self) -> dict[str, str]:
        reason, _ = _FIELD_ERROR_TYPES.get(self.type, ("FieldValueInvalid", "Invalid value"))
        return {"reason": reason, "message": self.message(), "field": self.field}


# Constructors named like apimachinery's field.Required(...) etc.
def required(field: str, detail: str = "") -> FieldError:
    return FieldError("Required", field, detail=detail)


def invalid_value(field: str, value: Any, detail: str = "") -> FieldError:
    return FieldError("Invalid", field, value, detail)


def not_supported(field: str, value: Any, supported: list[str]) -> FieldError:
    detail = "supported values: " + ", ".join(json.dumps(s) for s in supported)
    return FieldError("NotSupported", field, value, detail)


def forbidden(field: str, detail: str) -> FieldError:
    return FieldError("Forbidden", field, detail=detail)


def duplicate(field: str, value: Any) -> FieldError:
    return FieldError("Duplicate", field, value)


def too_long(field: str, value: Any, max_len: int) -> FieldError:
    return FieldError("TooLong", field, detail=f"may not be more than {max_len} bytes")


def not_found(field: str, value: Any) -> FieldError:
    return FieldError("NotFound", field, value)


def type_invalid(field: str, value: Any, detail: str) -> FieldError:
    return FieldError("TypeInvalid", field, value, detail)


class APIError(Exception):
    """A request failure that is reported to the client as a ``Status``."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.retry_after = retry_after
        #: ListMeta of the Status (e.g. the inconsistent continue token of a 410 on paging).
        self.list_meta: dict[str, Any] = {}

    def status(self) -> dict[str, Any]:
        st = status_object(self.code, self.reason, self.message, details=self.details)
        if self.list_meta:
            st["metadata"] = dict(self.list_meta)
        return st


def status_object(
    code: int, reason: str, message: str, *, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    st: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success" if code < 400 else "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if not message:
        del st["message"]
    if not reason:
        del st["reason"]
    if details:
        st["details"] = details
    return st


def qualified_kind(kind: str, group: str) -> str:
    """``Deployment.apps``; core kinds stay bare (``Pod``)."""
    return f"{kind}.{group}" if group else kind


def qualified_resource(resource: str, group: str) -> str:
    """``deployments.apps``; core resources stay bare (``pods``)."""
    return f"{resource}.{group}" if group else resource


def _details(name: str, group: str, kind: str, causes: list[dict[str, str]] | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if name:
        d["name"] = name
    if group:
        d["group"] = group
    if kind:
        d["kind"] = kind
    if causes:
        d["causes"] = causes
    return d


def invalid(kind: str, group: str, name: str, errors: list[FieldError]) -> APIError:
    """422 Invalid carrying every field error (upstream's NewInvalid)."""
    msgs = [e.error() for e in errors]
    agg = msgs[0] if len(msgs) == 1 else "[" + ", ".join(msgs) + "]"
    message = f'{qualified_kind(kind, group)} "{name}" is invalid: {agg}'
    return APIError(422, "Invalid", message, details=_details(name, group, kind, [e.cause() for e in errors]))


def not_found_error(resource: str, group: str, name: str) -> APIError:
    return APIError(
        404,
        "NotFound",
        f'{qualified_resource(resource, group)} "{name}" not found',
        details=_details(name, group, resource),
    )


def already_exists(resource: str, group: str, name: str) -> APIError:
    return APIError(
        409,
        "AlreadyExists",
        f'{qualified_resource(resource, group)} "{name}" already exists',
        details=_details(name, group, resource),
    )


def conflict(resource: str, group: str, name: str, detail: str) -> APIError:
    return APIError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified_resource(resource, group)} "{name}": {detail}',
        details=_details(name, group, resource),
    )


OBJECT_MODIFIED = "the object has been modified; please apply your changes to the latest version and try again"


def bad_request(message: str) -> APIError:
    return APIError(400, "BadRequest", message)


def method_not_allowed(message: str) -> APIError:
    return APIError(405, "MethodNotAllowed", message)


def gone(message: str) -> APIError:
    return APIError(410, "Expired", message)


def forbidden_error(resource: str, group: str, name: str, message: str) -> APIError:
    qr = qualified_resource(resource, group)
    full = f'{qr} "{name}" is forbidden: {message}' if name else f"{qr} is forbidden: {message}"
    return APIError(403, "Forbidden", full, details=_details(name, group, resource))


def internal(message: str) -> APIError:
    return APIError(500, "InternalError", f"Internal error occurred: {message}")
