"""ObjectMeta rules shared by every kind (upstream's ValidateObjectMeta and friends).

The generic store calls :func:`validate_object_meta` on every create and
update, and :func:`validate_object_meta_update` on updates, before the kind's
own strategy validation. Kinds whose names follow another rule than an RFC
1123 subdomain (namespaces, services) call :func:`validate_object_meta` again
from their strategy with their own ``name_fn``; the store's pass with the
default rule is then redundant but harmless only if both agree, so such kinds
use rules at least as strict as a subdomain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubeling.api import errors, validation

FieldErrors = list[errors.FieldError]
NameFn = Callable[[str], list[str]]

#: Finalizers the API server itself understands; others need a ``prefix/``.
STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")


def default_object_meta(obj: dict[str, Any]) -> None:
    """Make sure ``metadata`` is a dict; nothing else is defaulted on metadata."""
    if not isinstance(obj.get("metadata"), dict):
        obj["metadata"] = {}


def _generate_name_check(name_fn: NameFn, prefix: str) -> list[str]:
    # A generateName gets random characters appended, so a trailing '-' is fine.
    if prefix.endswith("-"):
        prefix = prefix[:-1] + "a"
    return name_fn(prefix)


def validate_object_meta(
    md: dict[str, Any],
    *,
    namespaced: bool,
    name_fn: NameFn = validation.dns1123_subdomain,
    path: str = "metadata",
) -> FieldErrors:
    """Every error in one object's metadata, with paths under ``path``."""
    if not isinstance(md, dict):
        return [errors.type_invalid(path, md, "must be an object")]
    errs: FieldErrors = []
    name = md.get("name") or ""
    gen_name = md.get("generateName") or ""
    if gen_name:
        if not isinstance(gen_name, str):
            errs.append(errors.type_invalid(f"{path}.generateName", gen_name, "must be a string"))
        else:
            errs += [
                errors.invalid_value(f"{path}.generateName", gen_name, m)
                for m in _generate_name_check(name_fn, gen_name)
            ]
    if not name:
        if not gen_name:
            errs.append(errors.required(f"{path}.name", "name or generateName is required"))
    elif not isinstance(name, str):
        errs.append(errors.type_invalid(f"{path}.name", name, "must be a string"))
    else:
        errs += [errors.invalid_value(f"{path}.name", name, m) for m in name_fn(name)]

    ns = md.get("namespace") or ""
    if namespaced:
        if not ns:
            errs.append(errors.required(f"{path}.namespace", ""))
        elif not isinstance(ns, str):
            errs.append(errors.type_invalid(f"{path}.namespace", ns, "must be a string"))
        else:
            errs += [errors.invalid_value(f"{path}.namespace", ns, m) for m in validation.dns1123_label(ns)]
    elif ns:
        errs.append(errors.forbidden(f"{path}.namespace", "not allowed on this type"))

    gen = md.get("generation")
    if gen is not None:
        if not validation.is_int(gen):
            errs.append(errors.type_invalid(f"{path}.generation", gen, "must be an integer"))
        else:
            errs += validation.validate_nonnegative(gen, f"{path}.generation")
    rv = md.get("resourceVersion")
    if rv is not None and not isinstance(rv, str):
        errs.append(errors.type_invalid(f"{path}.resourceVersion", rv, "must be a string"))
    grace = md.get("deletionGracePeriodSeconds")
    if grace is not None and not validation.is_int(grace):
        errs.append(errors.type_invalid(f"{path}.deletionGracePeriodSeconds", grace, "must be an integer"))

    errs += validation.validate_labels(md.get("labels"), f"{path}.labels")
    errs += validation.validate_annotations(md.get("annotations"), f"{path}.annotations")
    errs += validate_owner_references(md.get("ownerReferences"), f"{path}.ownerReferences")
    errs += validate_finalizers(md.get("finalizers"), f"{path}.finalizers")
    return errs


def validate_owner_references(refs: Any, path: str) -> FieldErrors:
    """apiVersion, kind, name and uid are required; at most one controller."""
    if refs is None:
        return []
    if not isinstance(refs, list):
        return [errors.type_invalid(path, refs, "must be a list")]
    errs: FieldErrors = []
    controller = ""
    for ref in refs:
        if not isinstance(ref, dict):
            errs.append(errors.type_invalid(path, ref, "must be an object"))
            continue
        api_version = ref.get("apiVersion") or ""
        version = api_version.rsplit("/", 1)[-1] if isinstance(api_version, str) else ""
        if not version:
            errs.append(errors.invalid_value(f"{path}.apiVersion", version, "version must not be empty"))
        if not ref.get("kind"):
            errs.append(errors.invalid_value(f"{path}.kind", ref.get("kind") or "", "kind must not be empty"))
        if not ref.get("name"):
            errs.append(errors.invalid_value(f"{path}.name", ref.get("name") or "", "name must not be empty"))
        if not ref.get("uid"):
            errs.append(errors.invalid_value(f"{path}.uid", ref.get("uid") or "", "uid must not be empty"))
        if ref.get("controller") is True:
            if controller:
                errs.append(
                    errors.invalid_value(
                        path,
                        refs,
                        'Only one reference can have Controller set to true. Found "true" in references '
                        f"for {controller} and {ref.get('name', '')}",
                    )
                )
            else:
                controller = ref.get("name") or ""
    return errs


def validate_finalizers(finalizers: Any, path: str) -> FieldErrors:
    if finalizers is None:
        return []
    if not isinstance(finalizers, list):
        return [errors.type_invalid(path, finalizers, "must be a list of strings")]
    errs: FieldErrors = []
    for f in finalizers:
        if not isinstance(f, str):
            errs.append(errors.type_invalid(path, f, "must be a string"))
            continue
        msgs = validation.qualified_name(f)
        errs += [errors.invalid_value(path, f, m) for m in msgs]
        if not msgs and "/" not in f and f not in STANDARD_FINALIZERS:
            errs.append(
                errors.invalid_value(path, f, "name is neither a standard finalizer name nor is it fully qualified")
            )
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        errs.append(
            errors.invalid_value(path, finalizers, "finalizer orphan and foregroundDeletion cannot be both set")
        )
    return errs


def validate_object_meta_update(
    new: dict[str, Any], old: dict[str, Any], path: str = "metadata"
) -> FieldErrors:
    """What an update may not change in metadata."""
    if not isinstance(new, dict) or not isinstance(old, dict):
        return []
    errs: FieldErrors = []
    if old.get("deletionTimestamp"):
        added = [f for f in (new.get("finalizers") or []) if f not in (old.get("finalizers") or [])]
        if added:
            errs.append(
                errors.forbidden(
                    f"{path}.finalizers",
                    "no new finalizers can be added if the object is being deleted, found new finalizers "
                    + "[]string{" + ", ".join(f'"{f}"' for f in sorted(set(added))) + "}",
                )
            )
    for key in (
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    ):
        nv, ov = new.get(key), old.get(key)
        # absent and empty are the same value on the wire
        errs += validation.validate_immutable(None if nv == "" else nv, None if ov == "" else ov, f"{path}.{key}")
    return errs
