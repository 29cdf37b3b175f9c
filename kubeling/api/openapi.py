"""OpenAPI documents and schema-driven checks of incoming objects.

Contract:

* :func:`definitions` merges ``DEFINITIONS`` of every module under
  :mod:`kubeling.api.schemas` (found with pkgutil, so new modules join by
  existing). Names are upstream's; a name defined twice is an error.
* :func:`v2_document`, :func:`v3_index` and :func:`v3_document` build the
  ``/openapi/v2`` and ``/openapi/v3`` documents for a list of resources;
  :func:`v2_served` / :func:`v3_served` return them encoded once, with a hash
  usable as ETag. The documents are static, so everything is cached.
* :func:`prune_unknown` removes fields the schema does not know (for
  ``fieldValidation``) and returns their paths as upstream prints them;
  :func:`type_errors` reports values of the wrong JSON type with messages
  shaped like upstream's decoding errors.
* :func:`patch_meta` gives strategic merge patch the merge keys of a kind.

Schemas are the v2 form written by :mod:`kubeling.api.schemas.dsl`; a
``$ref`` may be bare or wrapped as ``{"allOf": [{"$ref": ...}], "description": ...}``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import importlib
import pkgutil
from collections.abc import Iterable
from typing import Any

import orjson

from kubeling.api import registry
from kubeling.api import schemas as schemas_pkg
from kubeling.api.schemas import dsl

Schema = dict[str, Any]

V2_PREFIX = "#/definitions/"
V3_PREFIX = "#/components/schemas/"
META = dsl.META
#: Served under this version in info.version (upstream puts the server's git version there).
INFO_VERSION = "v1.33.0"
#: Definitions every group/version document carries besides its kinds'.
COMMON_DEFINITIONS = (
    META + "DeleteOptions",
    META + "Status",
    META + "WatchEvent",
    META + "Patch",
    META + "APIResourceList",
)


# --------------------------------------------------------------------------------------------
# definitions
# --------------------------------------------------------------------------------------------


@functools.cache
def definitions() -> dict[str, Schema]:
    """Every definition, by upstream name. Cached: treat the result as read-only."""
    out: dict[str, Schema] = {}
    origin: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules(schemas_pkg.__path__), key=lambda i: i.name):
        if info.name == "dsl" or info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{schemas_pkg.__name__}.{info.name}")
        for name, schema in getattr(mod, "DEFINITIONS", {}).items():
            if name in out:
                raise ValueError(
                    f"OpenAPI definition {name} is defined in both {origin[name]} and {info.name}"
                )
            out[name] = schema
            origin[name] = info.name
    return out


def ref_name(schema: Schema) -> str:
    """The definition a schema points to (bare ``$ref`` or a one-element ``allOf``), or ''."""
    r = schema.get("$ref")
    if r is None:
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and len(all_of) == 1:
            r = all_of[0].get("$ref")
    if not r:
        return ""
    for prefix in (V2_PREFIX, V3_PREFIX):
        if r.startswith(prefix):
            return str(r[len(prefix) :])
    return str(r)


def resolve(schema: Schema, defs: dict[str, Schema] | None = None) -> Schema:
    """Follow references until a concrete schema is reached."""
    defs = definitions() if defs is None else defs
    seen = 0
    while True:
        name = ref_name(schema)
        if not name:
            return schema
        schema = defs[name]
        seen += 1
        if seen > 32:
            raise ValueError(f"reference loop at {name}")


def schema_name(res: registry.Resource) -> str:
    """The definition of a resource's kind: ``res.schema``, or upstream's naming
    (``io.k8s.api.<group prefix>.<version>.<Kind>``) when that exists; '' if neither."""
    if res.schema:
        return res.schema
    prefix = res.group.split(".")[0] if res.group else "core"
    guess = f"io.k8s.api.{prefix}.{res.version}.{res.kind}"
    return guess if guess in definitions() else ""


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        r = node.get("$ref")
        if isinstance(r, str):
            yield r.removeprefix(V2_PREFIX)
        for v in node.values():
            yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def reachable(roots: Iterable[str], defs: dict[str, Schema] | None = None) -> list[str]:
    """Names reachable from ``roots`` through $refs (roots included), sorted."""
    defs = definitions() if defs is None else defs
    seen: set[str] = set()
    todo = [r for r in roots if r in defs]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(r for r in _refs(defs[name]) if r in defs and r not in seen)
    return sorted(seen)


# --------------------------------------------------------------------------------------------
# unknown fields and type errors
# --------------------------------------------------------------------------------------------


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _free_form(schema: Schema) -> bool:
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return True
    return schema.get("format") in ("int-or-string", "quantity")


def prune_unknown(obj: dict[str, Any], definition: str) -> list[str]:
    """Remove, in place, every field ``definition`` does not declare; return their
    paths (``spec.containers[0].foo``) in document order. Unknown definitions prune nothing."""
    defs = definitions()
    if definition not in defs:
        return []
    found: list[str] = []
    _prune(obj, defs[definition], "", defs, found)
    return found


def _prune(value: Any, schema: Schema, path: str, defs: dict[str, Schema], found: list[str]) -> None:
    schema = resolve(schema, defs)
    if _free_form(schema):
        return
    if isinstance(value, dict):
        props = schema.get("properties")
        if props:
            for key in list(value):
                sub = props.get(key)
                if sub is None:
                    del value[key]
                    found.append(_join(path, key))
                else:
                    _prune(value[key], sub, _join(path, key), defs, found)
            return
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                _prune(item, extra, _join(path, key), defs, found)
        # No properties and no additionalProperties: a free-form object (FieldsV1, RawExtension).
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                _prune(item, items, f"{path}[{i}]", defs, found)


def is_clean(obj: dict[str, Any], definition: str) -> bool:
    """True when ``obj`` has neither type errors nor unknown fields: the common
    case, answered without building paths or messages. When it is False,
    ``type_errors`` and ``prune_unknown`` say what is wrong (and this check
    errs only that way: a False never hides a problem, a True never does)."""
    defs = definitions()
    schema = defs.get(definition)
    return schema is None or _clean(obj, schema, defs)


# id(schema) -> the schema it resolves to; the definitions live as long as the
# process, so their ids are stable keys (this is the hot path of every write).
_RESOLVED: dict[int, Schema] = {}


def _clean(value: Any, schema: Schema, defs: dict[str, Schema]) -> bool:
    if value is None:
        return True
    resolved = _RESOLVED.get(id(schema))
    if resolved is None:
        resolved = _RESOLVED[id(schema)] = resolve(schema, defs)
    schema = resolved
    preserve = schema.get("x-kubernetes-preserve-unknown-fields")
    props = schema.get("properties")
    if preserve and not props:
        return True
    fmt = schema.get("format")
    if fmt == "int-or-string":
        return not isinstance(value, bool) and isinstance(value, (int, str))
    if fmt == "quantity":
        return not isinstance(value, bool) and isinstance(value, (int, float, str))
    t = schema.get("type")
    # The type checks _check makes ...
    if t == "string":
        if not isinstance(value, str):
            return False
        if fmt == "byte":
            try:
                base64.b64decode(value.replace("\n", "").replace("\r", ""), validate=True)
            except (binascii.Error, ValueError):
                return False
        return True
    if t == "integer":
        return not isinstance(value, bool) and isinstance(value, int)
    if t == "number":
        return not isinstance(value, bool) and isinstance(value, (int, float))
    if t == "boolean":
        return isinstance(value, bool)
    if t == "array" and not isinstance(value, list):
        return False
    if (t == "object" or props is not None) and not isinstance(value, dict):
        return False
    # ... and the walk _prune makes, by the value's own shape.
    if isinstance(value, dict):
        if props:
            for key, item in value.items():
                sub = props.get(key)
                if sub is None:
                    if preserve:
                        continue
                    return False
                if not _clean(item, sub, defs):
                    return False
            return True
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            return all(_clean(item, extra, defs) for item in value.values())
        return True
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            return all(_clean(item, items, defs) for item in value)
    return True


def type_errors(obj: dict[str, Any], definition: str) -> list[tuple[str, str]]:
    """Values whose JSON type the schema cannot take, as (path, message); the message
    reads like upstream's decode error, e.g. ``json: cannot unmarshal string into Go
    struct field PodSpec.spec.containers.ports.containerPort of type int32``.
    Nulls are accepted everywhere (they decode to the zero value)."""
    defs = definitions()
    if definition not in defs:
        return []
    out: list[tuple[str, str]] = []
    _check(obj, defs[definition], "", "", _short(definition), defs, out)
    return out


def _short(definition: str) -> str:
    return definition.rsplit(".", 1)[-1]


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def go_type(schema: Schema, defs: dict[str, Schema] | None = None) -> str:
    """A Go-like spelling of a schema's type for messages (``int32``, ``[]v1.Container``)."""
    defs = definitions() if defs is None else defs
    name = ref_name(schema)
    if name:
        package = name.rsplit(".", 2)[-2]
        return f"{package}.{_short(name)}"
    t = schema.get("type")
    if t == "integer":
        return str(schema.get("format") or "int64")
    if t == "number":
        return "float64"
    if t == "boolean":
        return "bool"
    if t == "string":
        return "[]uint8" if schema.get("format") == "byte" else "string"
    if t == "array":
        return "[]" + go_type(schema.get("items") or {}, defs)
    if isinstance(schema.get("additionalProperties"), dict):
        return "map[string]" + go_type(schema["additionalProperties"], defs)
    return "map[string]interface {}" if t == "object" else "interface {}"


def _check(
    value: Any,
    schema: Schema,
    path: str,
    go_path: str,
    parent: str,
    defs: dict[str, Schema],
    out: list[tuple[str, str]],
) -> None:
    if value is None:
        return
    declared = schema
    name = ref_name(schema)
    schema = resolve(schema, defs)

    def fail(detail: str = "") -> None:
        where = f"Go struct field {parent}.{go_path}" if go_path else "Go value"
        msg = (
            detail
            or f"json: cannot unmarshal {_json_kind(value)} into {where} of type {go_type(declared, defs)}"
        )
        out.append((path, msg))

    fmt = schema.get("format")
    if schema.get("x-kubernetes-preserve-unknown-fields") and not schema.get("properties"):
        return
    if fmt == "int-or-string":
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            fail()
        return
    if fmt == "quantity":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            fail(
                "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
            )
        return
    t = schema.get("type")
    if t == "string":
        if not isinstance(value, str):
            fail()
        elif fmt == "byte":
            try:
                base64.b64decode(value.replace("\n", "").replace("\r", ""), validate=True)
            except (binascii.Error, ValueError):
                fail("illegal base64 data at input byte 0")
    elif t == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            fail()
    elif t == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail()
    elif t == "boolean":
        if not isinstance(value, bool):
            fail()
    elif t == "array":
        if not isinstance(value, list):
            fail()
            return
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                _check(item, items, f"{path}[{i}]", go_path, parent, defs, out)
    elif t == "object" or "properties" in schema:
        if not isinstance(value, dict):
            fail()
            return
        props = schema.get("properties")
        if props:
            owner = _short(name) if name else parent
            for key, item in value.items():
                sub = props.get(key)
                if sub is not None:
                    _check(item, sub, _join(path, key), _join(go_path, key), owner, defs, out)
            return
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                _check(item, extra, _join(path, key), go_path, parent, defs, out)


# --------------------------------------------------------------------------------------------
# strategic merge patch metadata
# --------------------------------------------------------------------------------------------


def patch_meta(definition: str) -> Any:
    """The strategic-merge-patch metadata of a kind: ``OpenAPIPatchMeta(definitions(), name)``
    from kubeling.lib's patch module."""
    return _patch_meta(definition)


@functools.cache
def _patch_meta(definition: str) -> Any:
    for module in ("kubeling.lib.patch", "kubeling.lib.strategicpatch"):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        factory = getattr(mod, "OpenAPIPatchMeta", None)
        if factory is not None:
            return factory(definitions(), definition)
    raise NotImplementedError("kubeling.lib has no OpenAPIPatchMeta yet (expected in kubeling/lib/patch.py)")


def list_patch_info(schema: Schema) -> tuple[str, str]:
    """(patch strategy, merge key) of a list field's schema, '' when absent. A helper for
    patch code that walks definitions itself."""
    return (
        str(schema.get("x-kubernetes-patch-strategy", "")),
        str(schema.get("x-kubernetes-patch-merge-key", "")),
    )


# --------------------------------------------------------------------------------------------
# documents
# --------------------------------------------------------------------------------------------

_WATCH_MEDIA = ["application/json", "application/yaml", "application/json;stream=watch"]
_MEDIA = ["application/json", "application/yaml"]
PATCH_MEDIA = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
]

#: Query parameters: name -> (type, description).
_QUERY: dict[str, tuple[str, str]] = {
    "allowWatchBookmarks": ("boolean", "Ask for BOOKMARK events on a watch; the server may send them."),
    "continue": ("string", "The continue token of the previous page of a paginated list."),
    "dryRun": ("string", "'All' checks the request fully but persists nothing."),
    "fieldManager": ("string", "Name of the actor making the change, recorded in managedFields."),
    "fieldSelector": ("string", "Only objects whose fields match, such as 'spec.nodeName=n1'."),
    "fieldValidation": (
        "string",
        (
            "What to do with unknown or duplicate fields in the body: Ignore (drop them), Warn (drop them "
            "and answer with a warning per field; the default) or Strict (reject the request)."
        ),
    ),
    "force": ("boolean", "For apply requests: take ownership of fields other managers hold."),
    "gracePeriodSeconds": ("integer", "Seconds before the object is removed; 0 deletes at once."),
    "ignoreStoreReadErrorWithClusterBreakingPotential": (
        "boolean",
        "Delete an object that cannot be read from storage. Dangerous.",
    ),
    "labelSelector": ("string", "Only objects whose labels match, such as 'app=web,tier!=db'."),
    "limit": ("integer", "Most items to return; more are fetched with the continue token."),
    "orphanDependents": ("boolean", "Deprecated: use propagationPolicy."),
    "pretty": ("string", "Indent the output when 'true'."),
    "propagationPolicy": ("string", "What happens to dependents: Orphan, Background or Foreground."),
    "resourceVersion": ("string", "Read at (or watch from) this resourceVersion; see resourceVersionMatch."),
    "resourceVersionMatch": ("string", "How resourceVersion applies to a list: Exact or NotOlderThan."),
    "sendInitialEvents": ("boolean", "Start a watch with synthetic ADDED events for the current state."),
    "timeoutSeconds": ("integer", "End the list or watch call after this many seconds."),
    "watch": ("boolean", "Watch for changes instead of listing."),
}
_LIST_Q = [
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "watch",
]
_WRITE_Q = ["dryRun", "fieldManager", "fieldValidation"]
_DELETE_Q = [
    "dryRun",
    "gracePeriodSeconds",
    "ignoreStoreReadErrorWithClusterBreakingPotential",
    "orphanDependents",
    "propagationPolicy",
]

#: Subresources with their own kind: name -> (group, version, kind, definition, methods).
_SUB_KINDS: dict[str, tuple[str, str, str, str, tuple[str, ...]]] = {
    "scale": ("autoscaling", "v1", "Scale", "io.k8s.api.autoscaling.v1.Scale", ("get", "put", "patch")),
    "binding": ("", "v1", "Binding", "io.k8s.api.core.v1.Binding", ("post",)),
    "eviction": ("policy", "v1", "Eviction", "io.k8s.api.policy.v1.Eviction", ("post",)),
    "token": (
        "authentication.k8s.io",
        "v1",
        "TokenRequest",
        "io.k8s.api.authentication.v1.TokenRequest",
        ("post",),
    ),
}
#: Subresources that carry the main kind.
_SUB_SAME_KIND: dict[str, tuple[str, ...]] = {
    "status": ("get", "put", "patch"),
    "ephemeralcontainers": ("get", "put", "patch"),
    "resize": ("get", "put", "patch"),
    "approval": ("get", "put", "patch"),
    "finalize": ("put",),
}


@dataclasses.dataclass
class _Op:
    method: str
    action: str
    op_id: str
    description: str
    gvk: dict[str, str]
    tag: str
    query: list[str]
    body: str = ""  # definition name of the request body
    body_required: bool = True
    consumes: list[str] = dataclasses.field(default_factory=lambda: ["*/*"])
    produces: list[str] = dataclasses.field(default_factory=lambda: list(_MEDIA))
    responses: dict[str, str] = dataclasses.field(default_factory=dict)  # code -> definition name


@dataclasses.dataclass
class _PathItem:
    path: str
    params: list[str]  # path parameters (namespace, name) plus 'pretty'
    ops: list[_Op]


def gv_path(gv: str) -> str:
    """``v1`` -> ``api/v1``; ``apps/v1`` -> ``apis/apps/v1``."""
    return "api/v1" if gv == "v1" else f"apis/{gv}"


def gv_of_path(path: str) -> str:
    """``api/v1`` -> ``v1``; ``apis/apps/v1`` -> ``apps/v1``; '' when neither."""
    path = path.strip("/")
    if path == "api/v1":
        return "v1"
    parts = path.split("/")
    if len(parts) == 3 and parts[0] == "apis":
        return f"{parts[1]}/{parts[2]}"
    return ""


def _camel(words: Iterable[str]) -> str:
    return "".join(w[:1].upper() + w[1:] for w in words)


def _group_words(group: str) -> list[str]:
    return (group.removesuffix(".k8s.io") or "core").split(".") if group else ["core"]


def _op_group(group: str, version: str) -> str:
    return _camel(_group_words(group)) + _camel([version])


def _tag(group: str, version: str) -> str:
    words = _group_words(group)
    return words[0] + _camel(words[1:]) + "_" + version


def _resource_paths(r: registry.Resource) -> list[_PathItem]:
    base = "/api/v1" if not r.group else f"/apis/{r.group}/{r.version}"
    ns = "/namespaces/{namespace}" if r.namespaced else ""
    nsp = ["namespace"] if r.namespaced else []
    g = _op_group(r.group, r.version)
    scope = "Namespaced" if r.namespaced else ""
    tag = _tag(r.group, r.version)
    gvk = {"group": r.group, "version": r.version, "kind": r.kind}
    kind_def = schema_name(r)
    list_def = kind_def + "List" if kind_def else ""
    status = META + "Status"
    verbs = set(r.verbs)
    collection = f"{base}{ns}/{r.plural}"
    item = f"{collection}/{{name}}"
    plural_word = r.plural

    def op(method: str, action: str, op_id: str, desc: str, **kw: Any) -> _Op:
        return _Op(method, action, op_id, desc, dict(kw.pop("gvk", gvk)), tag, **kw)

    out: list[_PathItem] = []
    coll_ops: list[_Op] = []
    if "list" in verbs:
        coll_ops.append(
            op(
                "get",
                "list",
                f"list{g}{scope}{r.kind}",
                f"list or watch {plural_word}",
                query=_LIST_Q,
                produces=_WATCH_MEDIA,
                responses={"200": list_def},
            )
        )
    if "create" in verbs:
        coll_ops.append(
            op(
                "post",
                "post",
                f"create{g}{scope}{r.kind}",
                f"create a {r.kind}",
                query=_WRITE_Q,
                body=kind_def,
                responses={"200": kind_def, "201": kind_def, "202": kind_def},
            )
        )
    if "deletecollection" in verbs:
        coll_ops.append(
            op(
                "delete",
                "deletecollection",
                f"delete{g}Collection{scope}{r.kind}",
                f"delete a collection of {plural_word}",
                query=_DELETE_Q + _LIST_Q,
                body=META + "DeleteOptions",
                body_required=False,
                responses={"200": status},
            )
        )
    if coll_ops:
        out.append(_PathItem(collection, nsp + ["pretty"], coll_ops))

    item_ops: list[_Op] = []
    if "get" in verbs:
        item_ops.append(
            op(
                "get",
                "get",
                f"read{g}{scope}{r.kind}",
                f"read the specified {r.kind}",
                query=[],
                responses={"200": kind_def},
            )
        )
    if "update" in verbs:
        item_ops.append(
            op(
                "put",
                "put",
                f"replace{g}{scope}{r.kind}",
                f"replace the specified {r.kind}",
                query=_WRITE_Q,
                body=kind_def,
                responses={"200": kind_def, "201": kind_def},
            )
        )
    if "patch" in verbs:
        item_ops.append(
            op(
                "patch",
                "patch",
                f"patch{g}{scope}{r.kind}",
                f"partially update the specified {r.kind}",
                query=_WRITE_Q + ["force"],
                body=META + "Patch",
                consumes=PATCH_MEDIA,
                responses={"200": kind_def, "201": kind_def},
            )
        )
    if "delete" in verbs:
        item_ops.append(
            op(
                "delete",
                "delete",
                f"delete{g}{scope}{r.kind}",
                f"delete a {r.kind}",
                query=_DELETE_Q,
                body=META + "DeleteOptions",
                body_required=False,
                responses={"200": status, "202": status},
            )
        )
    if item_ops:
        out.append(_PathItem(item, ["name"] + nsp + ["pretty"], item_ops))

    if "watch" in verbs:
        out.append(
            _PathItem(
                f"{base}/watch{ns}/{r.plural}",
                nsp + ["pretty"] + _LIST_Q,
                [
                    op(
                        "get",
                        "watchlist",
                        f"watch{g}{scope}{r.kind}List",
                        f"watch changes to a list of {r.kind}; deprecated: use the watch parameter of list",
                        query=[],
                        produces=_WATCH_MEDIA,
                        responses={"200": META + "WatchEvent"},
                    )
                ],
            )
        )
        out.append(
            _PathItem(
                f"{base}/watch{ns}/{r.plural}/{{name}}",
                ["name"] + nsp + ["pretty"] + _LIST_Q,
                [
                    op(
                        "get",
                        "watch",
                        f"watch{g}{scope}{r.kind}",
                        f"watch changes to a {r.kind}; deprecated: use the watch parameter with a field selector",
                        query=[],
                        produces=_WATCH_MEDIA,
                        responses={"200": META + "WatchEvent"},
                    )
                ],
            )
        )
    if r.namespaced and "list" in verbs:
        out.append(
            _PathItem(
                f"{base}/{r.plural}",
                ["pretty"] + _LIST_Q,
                [
                    op(
                        "get",
                        "list",
                        f"list{g}{r.kind}ForAllNamespaces",
                        f"list or watch {plural_word} in every namespace",
                        query=[],
                        produces=_WATCH_MEDIA,
                        responses={"200": list_def},
                    )
                ],
            )
        )
        if "watch" in verbs:
            out.append(
                _PathItem(
                    f"{base}/watch/{r.plural}",
                    ["pretty"] + _LIST_Q,
                    [
                        op(
                            "get",
                            "watchlist",
                            f"watch{g}{r.kind}ListForAllNamespaces",
                            f"watch changes to {plural_word} in every namespace; deprecated",
                            query=[],
                            produces=_WATCH_MEDIA,
                            responses={"200": META + "WatchEvent"},
                        )
                    ],
                )
            )

    subs = (["status"] if r.has_status else []) + [s for s in r.subresources if s != "status"]
    for sub in subs:
        word = _camel([sub])
        if sub in _SUB_KINDS:
            sg, sv, sk, sdef, methods = _SUB_KINDS[sub]
            sgvk = {"group": sg, "version": sv, "kind": sk}
            if sdef not in definitions():
                sdef = ""
        elif sub in _SUB_SAME_KIND:
            sgvk, sdef, methods = gvk, kind_def, _SUB_SAME_KIND[sub]
        else:
            continue
        sub_ops: list[_Op] = []
        for method in methods:
            if method == "get":
                sub_ops.append(
                    op(
                        "get",
                        "get",
                        f"read{g}{scope}{r.kind}{word}",
                        f"read {sub} of the specified {r.kind}",
                        query=[],
                        gvk=sgvk,
                        responses={"200": sdef},
                    )
                )
            elif method == "put":
                sub_ops.append(
                    op(
                        "put",
                        "put",
                        f"replace{g}{scope}{r.kind}{word}",
                        f"replace {sub} of the specified {r.kind}",
                        query=_WRITE_Q,
                        gvk=sgvk,
                        body=sdef,
                        responses={"200": sdef, "201": sdef},
                    )
                )
            elif method == "patch":
                sub_ops.append(
                    op(
                        "patch",
                        "patch",
                        f"patch{g}{scope}{r.kind}{word}",
                        f"partially update {sub} of the specified {r.kind}",
                        query=_WRITE_Q + ["force"],
                        gvk=sgvk,
                        body=META + "Patch",
                        consumes=PATCH_MEDIA,
                        responses={"200": sdef, "201": sdef},
                    )
                )
            elif method == "post":
                sub_ops.append(
                    op(
                        "post",
                        "post",
                        f"create{g}{scope}{r.kind}{word}",
                        f"create {sub} of a {r.kind}",
                        query=_WRITE_Q,
                        gvk=sgvk,
                        body=sdef,
                        responses={"200": sdef, "201": sdef, "202": sdef},
                    )
                )
        out.append(_PathItem(f"{item}/{sub}", ["name"] + nsp + ["pretty"], sub_ops))
    return out


def _extra_roots(resources: Iterable[registry.Resource]) -> list[str]:
    """Definitions the subresources of ``resources`` refer to (Scale, Eviction ...)."""
    out = []
    for r in resources:
        for sub in r.subresources:
            if sub in _SUB_KINDS:
                out.append(_SUB_KINDS[sub][3])
    return out


def _all_paths(resources: Iterable[registry.Resource]) -> list[_PathItem]:
    items: dict[str, _PathItem] = {}
    for r in resources:
        for item in _resource_paths(r):
            if item.path in items:  # a kind served twice under one path: keep the first
                continue
            items[item.path] = item
    return [items[k] for k in sorted(items)]


def _param_v2(name: str) -> dict[str, Any]:
    if name in ("name", "namespace"):
        what = (
            "name of the object"
            if name == "name"
            else "object name and auth scope, such as for teams and projects"
        )
        return {
            "name": name,
            "in": "path",
            "required": True,
            "type": "string",
            "uniqueItems": True,
            "description": what,
        }
    t, desc = _QUERY[name]
    return {"name": name, "in": "query", "type": t, "uniqueItems": True, "description": desc}


def _param_v3(name: str) -> dict[str, Any]:
    p = _param_v2(name)
    out = {k: v for k, v in p.items() if k != "type"}
    out["schema"] = {"type": p["type"], "uniqueItems": True}
    out.pop("uniqueItems", None)
    return out


def _schema_ref(definition: str, prefix: str) -> dict[str, Any]:
    return {"$ref": prefix + definition} if definition else {"type": "object"}


def _op_common(o: _Op) -> dict[str, Any]:
    return {
        "description": o.description,
        "operationId": o.op_id,
        "tags": [o.tag],
        "x-kubernetes-action": o.action,
        "x-kubernetes-group-version-kind": o.gvk,
    }


def _v2_paths(resources: Iterable[registry.Resource]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for item in _all_paths(resources):
        entry: dict[str, Any] = {"parameters": [_param_v2(p) for p in item.params]}
        for o in item.ops:
            params = [_param_v2(q) for q in o.query]
            if o.body:
                params.insert(
                    0,
                    {
                        "name": "body",
                        "in": "body",
                        "required": o.body_required,
                        "schema": _schema_ref(o.body, V2_PREFIX),
                    },
                )
            d = _op_common(o)
            d.update(
                {
                    "consumes": o.consumes,
                    "produces": o.produces,
                    "schemes": ["https"],
                    "parameters": params,
                    "responses": {
                        **{
                            code: {
                                "description": _STATUS_TEXT.get(code, "OK"),
                                "schema": _schema_ref(defn, V2_PREFIX),
                            }
                            for code, defn in o.responses.items()
                        },
                        "401": {"description": "Unauthorized"},
                    },
                }
            )
            entry[o.method] = d
        paths[item.path] = entry
    return paths


def _v3_paths(resources: Iterable[registry.Resource]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for item in _all_paths(resources):
        entry: dict[str, Any] = {"parameters": [_param_v3(p) for p in item.params]}
        for o in item.ops:
            d = _op_common(o)
            d["parameters"] = [_param_v3(q) for q in o.query]
            if o.body:
                d["requestBody"] = {
                    "content": {mt: {"schema": _schema_ref(o.body, V3_PREFIX)} for mt in o.consumes},
                    "required": o.body_required,
                }
            d["responses"] = {
                **{
                    code: {
                        "description": _STATUS_TEXT.get(code, "OK"),
                        "content": {mt: {"schema": _schema_ref(defn, V3_PREFIX)} for mt in o.produces},
                    }
                    for code, defn in o.responses.items()
                },
                "401": {"description": "Unauthorized"},
            }
            entry[o.method] = d
        paths[item.path] = entry
    return paths


_STATUS_TEXT = {"200": "OK", "201": "Created", "202": "Accepted"}


@dataclasses.dataclass(frozen=True)
class Served:
    """An encoded document: the bytes to send and a hash (used as ETag and in v3 URLs)."""

    body: bytes
    hash: str

    @property
    def etag(self) -> str:
        return f'"{self.hash}"'


def _key(resources: Iterable[registry.Resource]) -> tuple[Any, ...]:
    return tuple(
        (
            r.group,
            r.version,
            r.kind,
            r.plural,
            r.namespaced,
            r.verbs,
            r.subresources,
            r.has_status,
            schema_name(r),
        )
        for r in resources
    )


def _serve(doc: dict[str, Any]) -> Served:
    body = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
    return Served(body, hashlib.sha512(body).hexdigest().upper())


def v2_document(resources: Iterable[registry.Resource]) -> dict[str, Any]:
    """The swagger 2.0 document (``/openapi/v2``) for ``resources``."""
    return _v2(_key(resources), tuple(resources))


def v2_served(resources: Iterable[registry.Resource]) -> Served:
    resources = tuple(resources)
    return _v2_served(_key(resources), resources)


def v3_index(resources: Iterable[registry.Resource]) -> dict[str, Any]:
    """The ``/openapi/v3`` discovery document: one URL (with content hash) per group/version."""
    resources = tuple(resources)
    paths: dict[str, Any] = {}
    for gv in sorted({r.group_version for r in resources}):
        served = v3_served(gv, resources)
        paths[gv_path(gv)] = {"serverRelativeURL": f"/openapi/v3/{gv_path(gv)}?hash={served.hash}"}
    return {"paths": paths}


def v3_document(group_version: str, resources: Iterable[registry.Resource]) -> dict[str, Any]:
    """The OpenAPI 3.0 document of one group/version (``v1`` or ``apps/v1``)."""
    resources = tuple(resources)
    return _v3(group_version, _key(resources), resources)


def v3_served(group_version: str, resources: Iterable[registry.Resource]) -> Served:
    resources = tuple(resources)
    return _v3_served(group_version, _key(resources), resources)


@functools.lru_cache(maxsize=8)
def _v2(key: tuple[Any, ...], resources: tuple[registry.Resource, ...]) -> dict[str, Any]:
    defs = definitions()
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": INFO_VERSION},
        "paths": _v2_paths(resources),
        "definitions": {name: to_v2(defs[name]) for name in sorted(defs)},
        "securityDefinitions": {
            "BearerToken": {
                "description": "Bearer token authentication",
                "type": "apiKey",
                "name": "authorization",
                "in": "header",
            }
        },
        "security": [{"BearerToken": []}],
    }


@functools.lru_cache(maxsize=8)
def _v2_served(key: tuple[Any, ...], resources: tuple[registry.Resource, ...]) -> Served:
    return _serve(_v2(key, resources))


@functools.lru_cache(maxsize=128)
def _v3(gv: str, key: tuple[Any, ...], resources: tuple[registry.Resource, ...]) -> dict[str, Any]:
    mine = [r for r in resources if r.group_version == gv]
    roots: list[str] = list(COMMON_DEFINITIONS)
    for r in mine:
        name = schema_name(r)
        if name:
            roots += [name, name + "List"]
    roots += _extra_roots(mine)
    defs = definitions()
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": INFO_VERSION},
        "paths": _v3_paths(mine),
        "components": {
            "schemas": {name: to_v3(defs[name]) for name in reachable(roots, defs)},
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "description": "Bearer token authentication",
                    "name": "authorization",
                    "in": "header",
                }
            },
        },
        "security": [{"BearerToken": []}],
    }


@functools.lru_cache(maxsize=128)
def _v3_served(gv: str, key: tuple[Any, ...], resources: tuple[registry.Resource, ...]) -> Served:
    return _serve(_v3(gv, key, resources))


def to_v2(node: Any) -> Any:
    """Rewrite a schema for swagger 2.0: ``allOf``-wrapped refs become a bare ``$ref``
    with the description beside it, as upstream's v2 document has them."""
    if isinstance(node, list):
        return [to_v2(v) for v in node]
    if not isinstance(node, dict):
        return node
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0]:
        out = {k: to_v2(v) for k, v in node.items() if k != "allOf"}
        out["$ref"] = all_of[0]["$ref"]
        return out
    return {k: to_v2(v) for k, v in node.items()}


def to_v3(node: Any) -> Any:
    """Rewrite a schema for OpenAPI 3: refs point into components, and a ref with
    siblings is wrapped in ``allOf`` (siblings of $ref are ignored in 3.0)."""
    if isinstance(node, list):
        return [to_v3(v) for v in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for k, v in node.items():
        if k == "$ref" and isinstance(v, str):
            out[k] = V3_PREFIX + v[len(V2_PREFIX) :] if v.startswith(V2_PREFIX) else v
        else:
            out[k] = to_v3(v)
    if "$ref" in out and len(out) > 1:
        r = out.pop("$ref")
        out["allOf"] = [{"$ref": r}]
    return out


# --------------------------------------------------------------------------------------------
# /openapi/v2 as protobuf: kubectl asks for the v2 document only in gnostic's protobuf form
# (openapi_v2.Document), e.g. kubectl 1.27/1.28 to learn whether fieldValidation is served.
# A hand-rolled encoder of the few messages the document uses; field numbers are gnostic's.
# --------------------------------------------------------------------------------------------

#: What kubectl sends in Accept, and the Content-Type to answer with ('@' is not a valid
#: media-type character, so Go clients reject it in a response).
V2_PROTOBUF_ACCEPT = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def v2_served_protobuf(resources: Iterable[registry.Resource]) -> Served:
    """The v2 document encoded as gnostic ``openapi_v2.Document`` protobuf."""
    resources = tuple(resources)
    return _v2_served_pb(_key(resources), resources)


@functools.lru_cache(maxsize=8)
def _v2_served_pb(key: tuple[Any, ...], resources: tuple[registry.Resource, ...]) -> Served:
    body = _pb_document(_v2(key, resources))
    return Served(body, hashlib.sha512(body).hexdigest().upper())


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _pb_bytes(field: int, data: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _pb_str(field: int, value: str) -> bytes:
    return _pb_bytes(field, value.encode()) if value else b""


def _pb_bool(field: int, value: bool) -> bytes:
    return _varint(field << 3) + b"\x01" if value else b""


def _pb_any(field: int, value: Any) -> bytes:
    # gnostic's Any carries the value as YAML text; JSON is valid YAML.
    return _pb_bytes(field, _pb_str(2, orjson.dumps(value).decode()))


def _pb_extensions(field: int, node: dict[str, Any]) -> bytes:
    return b"".join(
        _pb_bytes(field, _pb_str(1, k) + _pb_any(2, v)) for k, v in sorted(node.items()) if k.startswith("x-")
    )


def _pb_schema(s: dict[str, Any]) -> bytes:
    out = [
        _pb_str(1, s.get("$ref", "")),
        _pb_str(2, s.get("format", "")),
        _pb_str(4, s.get("description", "")),
    ]
    if "default" in s:
        out.append(_pb_any(5, s["default"]))
    out.append(_pb_bool(16, bool(s.get("uniqueItems"))))
    out += [_pb_str(19, r) for r in s.get("required", [])]
    out += [_pb_any(20, e) for e in s.get("enum", [])]
    extra = s.get("additionalProperties")
    if isinstance(extra, dict):
        out.append(_pb_bytes(21, _pb_bytes(1, _pb_schema(extra))))
    elif isinstance(extra, bool):
        out.append(_pb_bytes(21, _varint(2 << 3) + (b"\x01" if extra else b"\x00")))
    if "type" in s:
        types = s["type"] if isinstance(s["type"], list) else [s["type"]]
        out.append(_pb_bytes(22, b"".join(_pb_str(1, t) for t in types)))
    if isinstance(s.get("items"), dict):
        out.append(_pb_bytes(23, _pb_bytes(1, _pb_schema(s["items"]))))
    out += [_pb_bytes(24, _pb_schema(x)) for x in s.get("allOf", [])]
    if "properties" in s:
        named = b"".join(
            _pb_bytes(1, _pb_str(1, k) + _pb_bytes(2, _pb_schema(v))) for k, v in s["properties"].items()
        )
        out.append(_pb_bytes(25, named))
    out.append(_pb_bool(27, bool(s.get("readOnly"))))
    out.append(_pb_extensions(31, s))
    return b"".join(out)


def _pb_parameter(p: dict[str, Any]) -> bytes:
    if p["in"] == "body":
        body = (
            _pb_str(1, p.get("description", ""))
            + _pb_str(2, p["name"])
            + _pb_str(3, "body")
            + _pb_bool(4, bool(p.get("required")))
            + _pb_bytes(5, _pb_schema(p.get("schema", {})))
        )
        param = _pb_bytes(1, body)
    else:
        query = p["in"] == "query"
        sub = (
            _pb_bool(1, bool(p.get("required")))
            + _pb_str(2, p["in"])
            + _pb_str(3, p.get("description", ""))
            + _pb_str(4, p["name"])
            + _pb_str(6 if query else 5, p.get("type", ""))
            + _pb_bool(20 if query else 19, bool(p.get("uniqueItems")))
        )
        param = _pb_bytes(2, _pb_bytes(3 if query else 4, sub))
    return _pb_bytes(1, param)  # ParametersItem.parameter


def _pb_operation(o: dict[str, Any]) -> bytes:
    responses = b"".join(
        _pb_bytes(
            1,
            _pb_str(1, code)
            + _pb_bytes(
                2,
                _pb_bytes(
                    1,
                    _pb_str(1, r.get("description", ""))
                    + (_pb_bytes(2, _pb_bytes(1, _pb_schema(r["schema"]))) if "schema" in r else b""),
                ),
            ),
        )
        for code, r in o.get("responses", {}).items()
    )
    return b"".join(
        [_pb_str(1, t) for t in o.get("tags", [])]
        + [_pb_str(3, o.get("description", "")), _pb_str(5, o.get("operationId", ""))]
        + [_pb_str(6, m) for m in o.get("produces", [])]
        + [_pb_str(7, m) for m in o.get("consumes", [])]
        + [_pb_bytes(8, _pb_parameter(p)) for p in o.get("parameters", [])]
        + [_pb_bytes(9, responses)]
        + [_pb_str(10, m) for m in o.get("schemes", [])]
        + [_pb_extensions(13, o)]
    )


_PB_METHODS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def _pb_document(doc: dict[str, Any]) -> bytes:
    paths = []
    for path, item in doc["paths"].items():
        body = b"".join(_pb_bytes(num, _pb_operation(item[m])) for m, num in _PB_METHODS.items() if m in item)
        body += b"".join(_pb_bytes(9, _pb_parameter(p)) for p in item.get("parameters", []))
        paths.append(_pb_bytes(2, _pb_str(1, path) + _pb_bytes(2, body)))
    defs = b"".join(
        _pb_bytes(1, _pb_str(1, name) + _pb_bytes(2, _pb_schema(s))) for name, s in doc["definitions"].items()
    )
    sec_defs = b"".join(
        _pb_bytes(
            1,
            _pb_str(1, name)
            + _pb_bytes(
                2,
                _pb_bytes(
                    2,
                    _pb_str(1, d.get("type", ""))
                    + _pb_str(2, d.get("name", ""))
                    + _pb_str(3, d.get("in", ""))
                    + _pb_str(4, d.get("description", "")),
                ),
            ),
        )
        for name, d in doc.get("securityDefinitions", {}).items()
    )
    security = b"".join(
        _pb_bytes(
            12,
            b"".join(
                _pb_bytes(1, _pb_str(1, k) + _pb_bytes(2, b"".join(_pb_str(1, x) for x in v)))
                for k, v in req.items()
            ),
        )
        for req in doc.get("security", [])
    )
    info = doc["info"]
    return (
        _pb_str(1, doc["swagger"])
        + _pb_bytes(2, _pb_str(1, info["title"]) + _pb_str(2, info["version"]))
        + _pb_bytes(8, b"".join(paths))
        + _pb_bytes(9, defs)
        + security
        + _pb_bytes(13, sec_defs)
    )
