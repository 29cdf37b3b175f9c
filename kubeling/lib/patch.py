"""The three PATCH body types the API server accepts, applied to plain JSON values.

* :func:`json_merge_patch` — ``application/merge-patch+json`` (RFC 7386).
* :func:`json_patch` — ``application/json-patch+json`` (RFC 6902), through the
  ``jsonpatch`` library.
* :func:`strategic_merge_patch` — ``application/strategic-merge-patch+json``;
  lives in :mod:`kubeling.lib.strategicpatch` and is re-exported here with
  :class:`PatchMeta` and :class:`OpenAPIPatchMeta`.

None of them modifies its arguments. Every failure raises :class:`PatchError`
(a ``ValueError``) with a message fit for a ``Status``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonpatch
import jsonpointer

from kubeling.lib import strategicpatch

__all__ = [
    "OpenAPIPatchMeta",
    "PatchError",
    "PatchMeta",
    "json_merge_patch",
    "json_patch",
    "strategic_merge_patch",
]

PatchError = strategicpatch.PatchError
PatchMeta = strategicpatch.PatchMeta
OpenAPIPatchMeta = strategicpatch.OpenAPIPatchMeta
strategic_merge_patch = strategicpatch.strategic_merge_patch


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def json_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` removes a member, anything else replaces."""
    if not isinstance(patch, Mapping):
        return _copy(patch)
    source: Mapping[str, Any] = target if isinstance(target, Mapping) else {}
    # untouched members are copied once; patched ones are rebuilt below (keeping their place)
    result = {k: (v if k in patch else _copy(v)) for k, v in source.items()}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping):
            result[key] = json_merge_patch(source.get(key), value)
        else:
            result[key] = _copy(value)
    return result


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902: apply a list of operations (add, remove, replace, move, copy, test) in order."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    for n, op in enumerate(operations):
        if not isinstance(op, Mapping):
            raise PatchError(f"operation {n} of the JSON patch is not an object")
        if "op" not in op:
            raise PatchError(f"operation {n} of the JSON patch has no 'op'")
        if "path" not in op:
            raise PatchError(f"operation {n} ({op['op']}) of the JSON patch has no 'path'")
    try:
        return jsonpatch.JsonPatch(operations).apply(_copy(target), in_place=True)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise PatchError(f"the JSON patch test operation failed: {exc}") from exc
    except jsonpatch.JsonPatchConflict as exc:
        raise PatchError(f"the JSON patch cannot be applied: {exc}") from exc
    except jsonpatch.InvalidJsonPatch as exc:
        raise PatchError(f"invalid JSON patch: {exc}") from exc
    except jsonpointer.JsonPointerException as exc:
        raise PatchError(f"the JSON patch cannot be applied: {exc}") from exc
    except (TypeError, KeyError, IndexError, ValueError) as exc:
        raise PatchError(f"the JSON patch cannot be applied: {exc}") from exc
