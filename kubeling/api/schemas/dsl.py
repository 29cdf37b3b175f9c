"""Small constructors that keep the schema modules short and uniform.

Descriptions are kubeling's own words. Definition names follow upstream's
(``io.k8s.api.core.v1.Container``) because clients look them up by name.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"


def ref(name: str, description: str = "") -> Schema:
    s: Schema = {"$ref": f"#/definitions/{name}"}
    if description:
        # OpenAPI v2 ignores siblings of $ref; wrap it so the description survives.
        return {"description": description, "allOf": [s]}
    return s


CORE = "io.k8s.api.core.v1."


def core(name: str, description: str = "") -> Schema:
    """A reference to a core/v1 definition by its short name (``core("Container")``)."""
    return ref(CORE + name, description)


def string(description: str = "", *, enum: list[str] | None = None, fmt: str = "") -> Schema:
    s: Schema = {"type": "string", "description": description}
    if enum:
        s["enum"] = enum
    if fmt:
        s["format"] = fmt
    return s


def integer(description: str = "", *, fmt: str = "int32") -> Schema:
    return {"type": "integer", "format": fmt, "description": description}


def number(description: str = "") -> Schema:
    return {"type": "number", "format": "double", "description": description}


def boolean(description: str = "") -> Schema:
    return {"type": "boolean", "description": description}


def string_map(description: str = "") -> Schema:
    return {
        "type": "object",
        "additionalProperties": {"type": "string", "default": ""},
        "description": description,
    }


def map_of(item: Schema, description: str = "") -> Schema:
    return {"type": "object", "additionalProperties": item, "description": description}


def array(
    item: Schema,
    description: str = "",
    *,
    merge_key: str = "",
    strategy: str = "",
    list_type: str = "",
    list_map_keys: list[str] | None = None,
) -> Schema:
    """An array. ``merge_key``/``strategy`` are strategic-merge-patch metadata
    (x-kubernetes-patch-merge-key / x-kubernetes-patch-strategy); ``list_type``
    is ``atomic``, ``set`` or ``map`` (with ``list_map_keys``)."""
    s: Schema = {"type": "array", "items": item, "description": description}
    if merge_key:
        s["x-kubernetes-patch-merge-key"] = merge_key
        s["x-kubernetes-patch-strategy"] = strategy or "merge"
    elif strategy:
        s["x-kubernetes-patch-strategy"] = strategy
    if list_type:
        s["x-kubernetes-list-type"] = list_type
    if list_map_keys:
        s["x-kubernetes-list-map-keys"] = list_map_keys
    return s


def string_array(description: str = "", **kw: Any) -> Schema:
    return array({"type": "string", "default": ""}, description, **kw)


def quantity(description: str = "") -> Schema:
    return ref(QUANTITY, description)


def quantity_map(description: str = "") -> Schema:
    """A ResourceList: resource name -> Quantity."""
    return map_of(ref(QUANTITY), description)


def int64(description: str = "") -> Schema:
    return integer(description, fmt="int64")


def micro_time(description: str = "") -> Schema:
    return ref(META + "MicroTime", description)


def meta(name: str, description: str = "") -> Schema:
    """A reference to a meta/v1 definition (``meta("LabelSelector")``)."""
    return ref(META + name, description)


def int_or_string(description: str = "") -> Schema:
    return ref("io.k8s.apimachinery.pkg.util.intstr.IntOrString", description)


def time(description: str = "") -> Schema:
    return ref("io.k8s.apimachinery.pkg.apis.meta.v1.Time", description)


def obj(
    description: str,
    properties: dict[str, Schema],
    *,
    required: list[str] | None = None,
    gvk: tuple[str, str, str] | None = None,
    map_type: str = "",
) -> Schema:
    """An object definition. ``gvk`` = (group, version, kind) marks a top-level kind;
    ``map_type="atomic"`` marks structs that apply replaces whole."""
    s: Schema = {"type": "object", "description": description, "properties": properties}
    if required:
        s["required"] = required
    if gvk:
        s["x-kubernetes-group-version-kind"] = [{"group": gvk[0], "version": gvk[1], "kind": gvk[2]}]
    if map_type:
        s["x-kubernetes-map-type"] = map_type
    return s


def kind_properties(spec: Schema | None = None, status: Schema | None = None) -> dict[str, Schema]:
    """apiVersion/kind/metadata (+ spec/status) common to every top-level kind."""
    props: dict[str, Schema] = {
        "apiVersion": string(
            "The versioned schema of this representation of the object; the server rejects versions it does not serve."
        ),
        "kind": string("The REST resource type this object represents, in CamelCase."),
        "metadata": ref(
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta",
            "Standard object metadata: name, namespace, labels, annotations, owners and bookkeeping.",
        ),
    }
    if spec is not None:
        props["spec"] = spec
    if status is not None:
        props["status"] = status
    return props


def list_kind(item_def: str, description: str, gvk: tuple[str, str, str]) -> Schema:
    return obj(
        description,
        {
            "apiVersion": string("The versioned schema of this representation of the object."),
            "kind": string("The REST resource type this object represents."),
            "metadata": ref("io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta", "Standard list metadata."),
            "items": array(ref(item_def), "The listed objects."),
        },
        required=["items"],
        gvk=gvk,
    )
