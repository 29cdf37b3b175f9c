"""Strategic merge patch: applying ``application/strategic-merge-patch+json`` bodies.

The semantics follow apimachinery's strategicpatch as the API server applies
what ``kubectl patch`` and client-side ``kubectl apply`` send:

* maps merge key by key; ``null`` deletes a key;
* a list field's patch strategy and merge key come from a :class:`PatchMeta`:
  lists of maps with strategy ``merge`` merge element by element on the merge
  key, lists of scalars with strategy ``merge`` are unioned (``finalizers``),
  every other list is replaced;
* directives: ``$patch: replace`` / ``$patch: delete`` in a map, list elements
  ``{"$patch": "delete", <key>: v}`` and ``{"$patch": "replace"}``,
  ``$deleteFromPrimitiveList/<field>``, ``$setElementOrder/<field>`` and
  ``$retainKeys``; ``$patch: merge`` is accepted as "merge as usual";
* result order: elements named in ``$setElementOrder`` (else in the patch)
  come in that order, the server's other elements keep their place relative
  to them as far as possible.

With no meta (``None``) or for fields the meta does not know, maps merge like
RFC 7386 and lists are replaced. Values the patch adds where the original has
nothing are merged into an empty value, so the result never carries nulls or
directives. Inputs are never modified. Errors raise :class:`PatchError`.

:class:`OpenAPIPatchMeta` implements :class:`PatchMeta` over OpenAPI v2-style
definitions (``x-kubernetes-patch-merge-key`` / ``x-kubernetes-patch-strategy``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["OpenAPIPatchMeta", "PatchError", "PatchMeta", "strategic_merge_patch"]

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"
SET_ELEMENT_ORDER = "$setElementOrder/"

MERGE_KEY_EXT = "x-kubernetes-patch-merge-key"
STRATEGY_EXT = "x-kubernetes-patch-strategy"


class PatchError(ValueError):
    """A patch that cannot be applied (malformed, or inconsistent with the document)."""


class PatchMeta(Protocol):
    """What the patch needs to know about a map's fields."""

    def field(self, name: str) -> PatchMeta | None:
        """Meta of field ``name``'s value (for a list: of its items); None when unknown."""
        ...

    def list_strategy(self, name: str) -> tuple[str, frozenset[str]]:
        """(merge key or "", strategies such as {"merge"}, {"merge", "retainKeys"}, {"replace"})."""
        ...


# --------------------------------------------------------------------------------------------
# OpenAPI-backed meta
# --------------------------------------------------------------------------------------------

_REF_PREFIXES = ("#/definitions/", "#/components/schemas/")


class OpenAPIPatchMeta:
    """PatchMeta over OpenAPI definitions (``{"io.k8s.api.core.v1.Pod": {...}}``).

    An unknown ``name`` gives a meta that knows no field (merge-patch semantics).
    Metas reached through ``$ref`` are shared, so a long-lived root stays small.
    """

    def __init__(self, definitions: Mapping[str, Any], name: str, *,
                 _schema: Mapping[str, Any] | None = None,
                 _shared: dict[str, OpenAPIPatchMeta] | None = None) -> None:
        self._defs = definitions
        self._shared: dict[str, OpenAPIPatchMeta] = {} if _shared is None else _shared
        self.name = name
        raw = _schema if _schema is not None else definitions.get(name)
        self.known = raw is not None
        self._schema = self._resolve(raw or {})
        self._children: dict[str, OpenAPIPatchMeta | None] = {}
        if _schema is None:
            self._shared.setdefault(name, self)

    @staticmethod
    def _ref(schema: Mapping[str, Any]) -> str:
        ref = schema.get("$ref")
        if ref is None:
            all_of = schema.get("allOf")
            if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], Mapping):
                ref = all_of[0].get("$ref")
        if not isinstance(ref, str):
            return ""
        for prefix in _REF_PREFIXES:
            if ref.startswith(prefix):
                return ref[len(prefix):]
        return ref

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        for _ in range(32):
            ref = self._ref(schema)
            if not ref or ref not in self._defs:
                return schema
            schema = self._defs[ref]
        raise PatchError(f"reference loop in OpenAPI definitions near {self.name}")

    def _property(self, name: str) -> Mapping[str, Any] | None:
        props = self._schema.get("properties")
        if isinstance(props, Mapping) and isinstance(props.get(name), Mapping):
            prop: Mapping[str, Any] = props[name]
            return prop
        extra = self._schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            return extra
        return None

    def _meta_for(self, schema: Mapping[str, Any]) -> OpenAPIPatchMeta:
        ref = self._ref(schema)
        if ref and ref in self._defs:
            shared = self._shared.get(ref)
            if shared is None:
                shared = OpenAPIPatchMeta(self._defs, ref, _shared=self._shared)
            return shared
        return OpenAPIPatchMeta(self._defs, self.name, _schema=schema, _shared=self._shared)

    def field(self, name: str) -> OpenAPIPatchMeta | None:
        if name in self._children:
            return self._children[name]
        prop = self._property(name)
        meta: OpenAPIPatchMeta | None = None
        if prop is not None:
            resolved = self._resolve(prop)
            items = resolved.get("items")
            if resolved.get("type") == "array" and isinstance(items, Mapping):
                meta = self._meta_for(items)
            else:
                meta = self._meta_for(prop)
        self._children[name] = meta
        return meta

    def list_strategy(self, name: str) -> tuple[str, frozenset[str]]:
        prop = self._property(name)
        if prop is None:
            return "", frozenset()
        key, strategy = prop.get(MERGE_KEY_EXT), prop.get(STRATEGY_EXT)
        if key is None and strategy is None:
            resolved = self._resolve(prop)
            key, strategy = resolved.get(MERGE_KEY_EXT), resolved.get(STRATEGY_EXT)
        parts = frozenset(p.strip() for p in str(strategy or "").split(",") if p.strip())
        return str(key or ""), parts

    def __repr__(self) -> str:
        return f"OpenAPIPatchMeta({self.name!r})"


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _ident(value: Any) -> Any:
    """A hashable identity for list elements and merge-key values (JSON equality: 1 == 1.0, not True)."""
    if isinstance(value, bool) or value is None:
        return ("b", value)
    if isinstance(value, (int, float)):
        return ("n", value)
    if isinstance(value, str):
        return ("s", value)
    return ("j", json.dumps(value, sort_keys=True))


def _info(meta: PatchMeta | None, name: str) -> tuple[PatchMeta | None, str, str]:
    """(meta of the field's value or items, merge key, strategy: "merge", "replace" or "")."""
    if meta is None:
        return None, "", ""
    key, strategies = meta.list_strategy(name)
    others = set(strategies) - {"retainKeys"}
    if len(others) > 1:
        raise PatchError(f"unexpected patch strategy for {name}: {sorted(strategies)}")
    return meta.field(name), key, next(iter(others), "")


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "list"
    return "scalar"


def _element_kind(*lists: list[Any]) -> str:
    kinds = {_kind(v) for lst in lists for v in lst}
    if "list" in kinds:
        raise PatchError("lists of lists are not supported in a strategic merge patch")
    if len(kinds) > 1:
        raise PatchError(f"list element types are not identical: {lists!r}")
    return kinds.pop() if kinds else "scalar"


def _field_key(key: str, prefix: str) -> str:
    name = key[len(prefix):]
    if not name:
        raise PatchError(f"invalid directive key {key!r}: it names no field")
    return name


# --------------------------------------------------------------------------------------------
# maps
# --------------------------------------------------------------------------------------------


def strategic_merge_patch(original: Mapping[str, Any], patch: Mapping[str, Any],
                          meta: PatchMeta | None = None) -> dict[str, Any]:
    """Apply a strategic merge patch to ``original``; neither argument is modified."""
    if not isinstance(original, Mapping):
        raise PatchError("the document to patch must be a JSON object")
    if not isinstance(patch, Mapping):
        raise PatchError("a strategic merge patch must be a JSON object")
    return _merge_map(_copy(dict(original)), _copy(dict(patch)), meta)


def _merge_map(original: dict[str, Any], patch: dict[str, Any], meta: PatchMeta | None) -> dict[str, Any]:
    """Merge ``patch`` into ``original``; both are private copies and may be changed."""
    if DIRECTIVE in patch:
        directive = patch.pop(DIRECTIVE)
        if directive == "replace":
            return _merge_map({}, patch, meta)
        if directive == "delete":
            return {}
        if directive != "merge":
            raise PatchError(f"unknown patch type {directive!r} in map: {patch!r}")
    _apply_retain_keys(original, patch)
    _apply_set_element_order(original, patch, meta)
    for key, pv in patch.items():
        deleting = key.startswith(DELETE_FROM_PRIMITIVE_LIST)
        if deleting:
            key = _field_key(key, DELETE_FROM_PRIMITIVE_LIST)
        if pv is None:
            original.pop(key, None)
            continue
        if key not in original or original[key] is None:
            if not deleting:
                original[key] = _fresh(pv, meta, key)
            continue
        ov = original[key]
        if deleting:
            if not isinstance(pv, list):
                raise PatchError(f"{DELETE_FROM_PRIMITIVE_LIST}{key} must be a list")
            if isinstance(ov, list):
                original[key] = _delete_scalars(ov, pv)
            continue
        if _kind(ov) != _kind(pv):
            original[key] = _fresh(pv, meta, key)
        elif isinstance(pv, dict):
            sub, _mk, strategy = _info(meta, key)
            original[key] = _merge_map({}, pv, sub) if strategy == "replace" else _merge_map(ov, pv, sub)
        elif isinstance(pv, list):
            sub, mk, strategy = _info(meta, key)
            original[key] = _merge_list(ov, pv, sub, mk) if strategy == "merge" else pv
        else:
            original[key] = pv
    return original


def _fresh(value: Any, meta: PatchMeta | None, key: str) -> Any:
    """A patch value for a key the original lacks: merged into an empty value (drops nulls, directives)."""
    if isinstance(value, dict):
        sub, _mk, _strategy = _info(meta, key)
        return _merge_map({}, value, sub)
    if isinstance(value, list):
        sub, mk, strategy = _info(meta, key)
        if strategy == "merge":
            return _merge_list([], value, sub, mk)
    return value


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if RETAIN_KEYS not in patch:
        return
    retain = patch.pop(RETAIN_KEYS)
    if not isinstance(retain, list):
        raise PatchError(f"invalid patch: {RETAIN_KEYS} must be a list of field names")
    keep = {k for k in retain if isinstance(k, str)}
    for k, v in patch.items():
        if v is None or k.startswith((DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER)):
            continue
        if k not in keep:
            raise PatchError(f"invalid patch: field {k!r} is set but missing from {RETAIN_KEYS} {retain!r}")
    for k in list(original):
        if k not in keep:
            del original[k]


def _apply_set_element_order(original: dict[str, Any], patch: dict[str, Any], meta: PatchMeta | None) -> None:
    for directive in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(directive)
        name = _field_key(directive, SET_ELEMENT_ORDER)
        if not isinstance(order, list):
            raise PatchError(f"invalid patch: {directive} must be a list")
        sub, mk, strategy = _info(meta, name)
        current = original.get(name)
        incoming = patch.get(name)
        if current is not None and not isinstance(current, list):
            raise PatchError(f"{name} is not a list in the object, but the patch orders it")
        if incoming is not None and not isinstance(incoming, list):
            raise PatchError(f"{name} is not a list in the patch, but the patch orders it")
        if incoming is not None:
            _check_order(incoming, order, mk, directive)
        if current is None and incoming is None:
            continue
        merged: list[Any]
        if incoming is None:
            merged = current or []
        elif strategy != "merge":
            merged = incoming
        else:
            merged = _merge_list(current or [], incoming, sub, mk)
        patch.pop(name, None)
        if not mk and _element_kind(merged) == "map":
            original[name] = merged  # no key to order maps by
            continue
        wanted = {_ident(_key_of(v, mk)) for v in order}
        in_order = [v for v in merged if _ident(_key_of(v, mk)) in wanted]
        others = [v for v in merged if _ident(_key_of(v, mk)) not in wanted]
        original[name] = _normalize(in_order, others, order, current or [], mk)


def _check_order(patch_list: list[Any], order: list[Any], merge_key: str, directive: str) -> None:
    """Every non-directive patch element must appear in the order list, in the same relative order."""
    positions = iter(order)
    for item in patch_list:
        if isinstance(item, dict) and DIRECTIVE in item:
            continue
        want = _ident(_key_of(item, merge_key))
        if not any(_ident(_key_of(o, merge_key)) == want for o in positions):
            raise PatchError(f"the order in the patch list {patch_list!r} doesn't match {directive} list {order!r}")


# --------------------------------------------------------------------------------------------
# lists
# --------------------------------------------------------------------------------------------


def _key_of(item: Any, merge_key: str) -> Any:
    if not merge_key:
        return item
    if not isinstance(item, dict):
        raise PatchError(f"list element {item!r} is not an object, but the list merges on {merge_key!r}")
    if merge_key not in item:
        raise PatchError(f"map: {item!r} does not contain declared merge key: {merge_key}")
    return item[merge_key]


def _delete_scalars(current: list[Any], to_delete: list[Any]) -> list[Any]:
    gone = {_ident(v) for v in to_delete}
    return [v for v in current if _ident(v) not in gone]


def _merge_list(original: list[Any], patch: list[Any], meta: PatchMeta | None, merge_key: str) -> list[Any]:
    """Merge a list whose strategy is "merge"."""
    if not original and not patch:
        return original
    if _element_kind(original, patch) != "map":
        seen: set[Any] = set()
        merged = []
        for v in original + patch:
            ident = _ident(v)
            if ident not in seen:
                seen.add(ident)
                merged.append(v)
        mk = ""
    else:
        if not merge_key:
            raise PatchError("cannot merge lists of objects without a merge key")
        original, patch = _special_elements(original, patch, merge_key, meta)
        merged = original
        for item in patch:
            want = _ident(_key_of(item, merge_key))
            for i, existing in enumerate(merged):
                if _ident(_key_of(existing, merge_key)) == want:
                    merged[i] = _merge_map(existing, item, meta)
                    break
            else:
                merged.append(_merge_map({}, item, meta))
        mk = merge_key
    in_patch = {_ident(_key_of(v, mk)) for v in patch}
    from_patch = [v for v in merged if _ident(_key_of(v, mk)) in in_patch]
    server_only = [v for v in merged if _ident(_key_of(v, mk)) not in in_patch]
    return _normalize(from_patch, server_only, patch, original, mk)


def _special_elements(original: list[Any], patch: list[Any], merge_key: str,
                      meta: PatchMeta | None) -> tuple[list[Any], list[Any]]:
    """Apply the ``$patch`` elements; return (original, the patch's ordinary elements)."""
    plain: list[Any] = []
    replace = False
    for item in patch:
        if DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[DIRECTIVE]
        if directive == "delete":
            if merge_key not in item:
                raise PatchError(f"map: {item!r} does not contain declared merge key: {merge_key}")
            gone = _ident(item[merge_key])
            original = [v for v in original if _ident(_key_of(v, merge_key)) != gone]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            rest = {k: v for k, v in item.items() if k != DIRECTIVE}
            if rest:
                plain.append(rest)
        else:
            raise PatchError(f"unknown patch type {directive!r} in list element: {item!r}")
    if replace:
        return [_merge_map({}, v, meta) for v in plain], []
    return original, plain


def _normalize(from_patch: list[Any], server_only: list[Any], patch_order: list[Any],
               server_order: list[Any], merge_key: str) -> list[Any]:
    """Order: patch elements as in ``patch_order``, server elements woven in by ``server_order``."""
    from_patch = _sorted_by(from_patch, patch_order, merge_key)
    server_only = _sorted_by(server_only, server_order, merge_key)
    index = _positions(server_order, merge_key)
    out: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(from_patch):
        if j >= len(from_patch):
            out.append(server_only[i])
            i += 1
        elif i >= len(server_only):
            out.append(from_patch[j])
            j += 1
        else:
            left = index.get(_ident(_key_of(server_only[i], merge_key)))
            right = index.get(_ident(_key_of(from_patch[j], merge_key)))
            if left is not None and right is not None and left < right:
                out.append(server_only[i])
                i += 1
            else:
                out.append(from_patch[j])
                j += 1
    return out


def _positions(order: list[Any], merge_key: str) -> dict[Any, int]:
    index: dict[Any, int] = {}
    for n, v in enumerate(order):
        if isinstance(v, dict) and DIRECTIVE in v:
            continue
        index.setdefault(_ident(_key_of(v, merge_key)), n)
    return index


def _sorted_by(items: list[Any], order: list[Any], merge_key: str) -> list[Any]:
    index = _positions(order, merge_key)
    last = len(order)
    return sorted(items, key=lambda v: index.get(_ident(_key_of(v, merge_key)), last))
