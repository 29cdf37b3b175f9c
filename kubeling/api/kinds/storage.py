"""storage.k8s.io/v1: StorageClasses and the CSI kinds (CSIDriver, CSINode,
VolumeAttachment, CSIStorageCapacity).

Defaults and validation follow upstream's ``pkg/apis/storage/v1/defaults.go``
and ``pkg/apis/storage/validation``. A StorageClass's provisioner, parameters
and reclaimPolicy are fixed once created; a VolumeAttachment's spec is too.
"""

from __future__ import annotations

from typing import Any

from kubeling.api import errors, registry, validation
from kubeling.api.kinds import apps

Obj = dict[str, Any]
FieldErrors = list[errors.FieldError]
dig = apps.dig
Column = registry.Column

GROUP = "storage.k8s.io"
DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                             "storageclass.beta.kubernetes.io/is-default-class")
MAX_PARAMETERS_SIZE = 256 * 1024
MAX_DRIVER_NAME = 63
MAX_NODE_ID = 192


def validate_csi_driver_name(name: Any, path: str) -> FieldErrors:
    if not name:
        return [errors.required(path, "")]
    if not isinstance(name, str):
        return [errors.type_invalid(path, name, "must be a string")]
    if len(name) > MAX_DRIVER_NAME:
        return [errors.too_long(path, name, MAX_DRIVER_NAME)]
    return [errors.invalid_value(path, name, m) for m in validation.dns1123_subdomain(name.lower())]


def _bool(value: Any) -> str:
    return "<unset>" if value is None else ("true" if value else "false")


# ---- storage classes -------------------------------------------------------------


def is_default_class(obj: Obj) -> bool:
    annotations = dig(obj, "metadata", "annotations") or {}
    return any(annotations.get(a) == "true" for a in DEFAULT_CLASS_ANNOTATIONS)


class StorageClassStrategy(registry.Strategy):
    def default(self, obj: Obj) -> None:
        if not obj.get("reclaimPolicy"):
            obj["reclaimPolicy"] = "Delete"
        if not obj.get("volumeBindingMode"):
            obj["volumeBindingMode"] = "Immediate"

    def validate(self, obj: Obj) -> FieldErrors:
        errs: FieldErrors = []
        provisioner = obj.get("provisioner")
        if not provisioner:
            errs.append(errors.required("provisioner", ""))
        elif not isinstance(provisioner, str):
            errs.append(errors.type_invalid("provisioner", provisioner, "must be a string"))
        else:
            errs += [errors.invalid_value("provisioner", provisioner, m)
                     for m in validation.qualified_name(provisioner.lower())]
        params = obj.get("parameters")
        if params is not None:
            if not isinstance(params, dict):
                errs.append(errors.type_invalid("parameters", params, "must be a map of string keys to strings"))
            else:
                size = 0
                for key, value in params.items():
                    if not key:
                        errs.append(errors.invalid_value("parameters", params, "key must not be empty"))
                    size += len(key) + len(str(value))
                if size > MAX_PARAMETERS_SIZE:
                    errs.append(errors.too_long("parameters", "", MAX_PARAMETERS_SIZE))
        errs += validation.validate_enum(obj.get("reclaimPolicy"), "reclaimPolicy", ["Delete", "Retain"])
        errs += validation.validate_enum(obj.get("volumeBindingMode"), "volumeBindingMode",
                                         ["Immediate", "WaitForFirstConsumer"], required=True)
        for i, term in enumerate(obj.get("allowedTopologies") or []):
            exprs = (term or {}).get("matchLabelExpressions") if isinstance(term, dict) else None
            if not exprs:
                errs.append(errors.required(f"allowedTopologies[{i}].matchLabelExpressions",
                                            "must have at least one topology selector requirement"))
            for j, expr in enumerate(exprs or []):
                ep = f"allowedTopologies[{i}].matchLabelExpressions[{j}]"
                key = (expr or {}).get("key") or ""
                errs += validation.validate_str_with(key, f"{ep}.key", validation.qualified_name)
                if not (expr or {}).get("values"):
                    errs.append(errors.required(f"{ep}.values", "must specify as least one value"))
        return errs

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        errs = self.validate(new)
        for field in ("parameters", "provisioner", "reclaimPolicy"):
            if new.get(field) != old.get(field):
                errs.append(errors.forbidden(field, f"updates to {field} are forbidden."))
        errs += validation.validate_immutable(new.get("volumeBindingMode"), old.get("volumeBindingMode"),
                                              "volumeBindingMode")
        return errs

    def columns(self) -> list[Column]:
        def name(o: Obj) -> str:
            n = dig(o, "metadata", "name") or ""
            return f"{n} (default)" if is_default_class(o) else n

        return [
            Column("Name", name, format="name", description=registry.NAME_COLUMN.description),
            Column("Provisioner", lambda o: o.get("provisioner", ""),
                   description="Indicates the type of the provisioner."),
            Column("ReclaimPolicy", lambda o: o.get("reclaimPolicy") or "Delete",
                   description="Indicates the type of the reclaim policy."),
            Column("VolumeBindingMode", lambda o: o.get("volumeBindingMode") or "Immediate",
                   description="Indicates how PersistentVolumeClaims should be bound."),
            Column("AllowVolumeExpansion", lambda o: bool(o.get("allowVolumeExpansion")), type="boolean",
                   description="Indicates whether the storage class allow volume expand"),
            registry.AGE_COLUMN,
        ]


# ---- CSI drivers ------------------------------------------------------------------

FS_GROUP_POLICIES = ["File", "None", "ReadWriteOnceWithFSType"]
LIFECYCLE_MODES = ["Ephemeral", "Persistent"]


class CSIDriverStrategy(registry.Strategy):
    def default(self, obj: Obj) -> None:
        spec = apps.ensure(obj, "spec")
        for key, value in (("attachRequired", True), ("podInfoOnMount", False), ("storageCapacity", False),
                           ("requiresRepublish", False), ("seLinuxMount", False)):
            if spec.get(key) is None:
                spec[key] = value
        if not spec.get("fsGroupPolicy"):
            spec["fsGroupPolicy"] = "ReadWriteOnceWithFSType"
        if not spec.get("volumeLifecycleModes"):
            spec["volumeLifecycleModes"] = ["Persistent"]

    def validate(self, obj: Obj) -> FieldErrors:
        errs = validate_csi_driver_name(dig(obj, "metadata", "name"), "metadata.name")
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return errs + [errors.required("spec", "")]
        for key in ("attachRequired", "podInfoOnMount", "requiresRepublish", "storageCapacity"):
            if spec.get(key) is None:
                errs.append(errors.required(f"spec.{key}", ""))
        errs += validation.validate_enum(spec.get("fsGroupPolicy"), "spec.fsGroupPolicy", FS_GROUP_POLICIES)
        for i, mode in enumerate(spec.get("volumeLifecycleModes") or []):
            errs += validation.validate_enum(mode, f"spec.volumeLifecycleModes[{i}]", LIFECYCLE_MODES, required=True)
        audiences: set[str] = set()
        for i, tr in enumerate(spec.get("tokenRequests") or []):
            audience = (tr or {}).get("audience", "") if isinstance(tr, dict) else ""
            if audience in audiences:
                errs.append(errors.duplicate(f"spec.tokenRequests[{i}].audience", audience))
            audiences.add(audience)
            errs += apps.nonneg_fields(tr, f"spec.tokenRequests[{i}]", ("expirationSeconds",))
        return errs

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        errs = self.validate(new)
        for key in ("attachRequired", "fsGroupPolicy", "volumeLifecycleModes"):
            errs += validation.validate_immutable(dig(new, "spec", key), dig(old, "spec", key), f"spec.{key}")
        return errs

    def columns(self) -> list[Column]:
        def spec_bool(key: str) -> Any:
            return lambda o: _bool(dig(o, "spec", key))

        def tokens(o: Obj) -> str:
            trs = [t.get("audience", "") for t in dig(o, "spec", "tokenRequests") or [] if isinstance(t, dict)]
            return ",".join(trs) if trs else "<unset>"

        return [
            registry.NAME_COLUMN,
            Column("AttachRequired", spec_bool("attachRequired"), type="boolean",
                   description="Indicates this CSI volume driver requires an attach operation"),
            Column("PodInfoOnMount", spec_bool("podInfoOnMount"), type="boolean",
                   description="Indicates this CSI volume driver requires additional pod information during "
                               "mount operations"),
            Column("StorageCapacity", spec_bool("storageCapacity"), type="boolean",
                   description="Indicates this CSI volume driver wants pod scheduling to consider the storage "
                               "capacity"),
            Column("TokenRequests", tokens, description="Indicates the CSI driver needs pods' service account tokens"),
            Column("RequiresRepublish", spec_bool("requiresRepublish"), type="boolean",
                   description="Indicates the CSI driver wants NodePublishVolume being periodically called"),
            Column("Modes", lambda o: ",".join(dig(o, "spec", "volumeLifecycleModes") or []) or "<none>",
                   description="Indicates which kinds of volumes the CSI driver supports"),
            registry.AGE_COLUMN,
        ]


class CSINodeStrategy(registry.Strategy):
    def validate(self, obj: Obj) -> FieldErrors:
        errs: FieldErrors = []
        seen: set[str] = set()
        for i, drv in enumerate(dig(obj, "spec", "drivers") or []):
            dp = f"spec.drivers[{i}]"
            if not isinstance(drv, dict):
                errs.append(errors.type_invalid(dp, drv, "must be an object"))
                continue
            name = drv.get("name")
            errs += validate_csi_driver_name(name, f"{dp}.name")
            if name in seen:
                errs.append(errors.duplicate(f"{dp}.name", name))
            seen.add(str(name))
            node_id = drv.get("nodeID")
            if not node_id:
                errs.append(errors.required(f"{dp}.nodeID", ""))
            elif len(str(node_id)) > MAX_NODE_ID:
                errs.append(errors.too_long(f"{dp}.nodeID", node_id, MAX_NODE_ID))
            for j, key in enumerate(drv.get("topologyKeys") or []):
                errs += validation.validate_str_with(key, f"{dp}.topologyKeys[{j}]", validation.qualified_name)
            count = dig(drv, "allocatable", "count")
            errs += apps.nonneg_fields(drv.get("allocatable"), f"{dp}.allocatable", ("count",)) if count is not None \
                else []
        return errs

    def columns(self) -> list[Column]:
        return [
            registry.NAME_COLUMN,
            Column("Drivers", lambda o: len(dig(o, "spec", "drivers") or []), type="integer",
                   description="Drivers indicates the number of CSI drivers registered on the node"),
            registry.AGE_COLUMN,
        ]


class VolumeAttachmentStrategy(registry.Strategy):
    has_status = True

    def validate(self, obj: Obj) -> FieldErrors:
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            return [errors.required("spec", "")]
        errs = validate_csi_driver_name(spec.get("attacher"), "spec.attacher")
        source = spec.get("source")
        source = source if isinstance(source, dict) else {}
        pv, inline = source.get("persistentVolumeName"), source.get("inlineVolumeSpec")
        if bool(pv) == (inline is not None):
            errs.append(errors.invalid_value("spec.source", source, "must specify exactly one of inlineVolumeSpec "
                                                                    "and persistentVolumeName"))
        elif pv:
            errs += validation.validate_str_with(pv, "spec.source.persistentVolumeName", validation.dns1123_subdomain)
        errs += validation.validate_str_with(spec.get("nodeName"), "spec.nodeName", validation.dns1123_subdomain)
        return errs

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        errs = self.validate(new)
        if new.get("spec") != old.get("spec"):
            errs.append(errors.invalid_value("spec", new.get("spec"), "field is immutable"))
        return errs

    def validate_status_update(self, new: Obj, old: Obj) -> FieldErrors:
        status = new.get("status")
        if isinstance(status, dict) and status.get("attached") is not None and not isinstance(status["attached"],
                                                                                                bool):
            return [errors.type_invalid("status.attached", status["attached"], "must be a boolean")]
        return []

    def columns(self) -> list[Column]:
        return [
            registry.NAME_COLUMN,
            Column("Attacher", lambda o: dig(o, "spec", "attacher") or "",
                   description="Attacher indicates the name of the volume driver that MUST handle this request."),
            Column("PV", lambda o: dig(o, "spec", "source", "persistentVolumeName") or "",
                   description="Name of the persistent volume to attach."),
            Column("Node", lambda o: dig(o, "spec", "nodeName") or "",
                   description="The node that the volume should be attached to."),
            Column("Attached", lambda o: bool(dig(o, "status", "attached")), type="boolean",
                   description="Indicates the volume is successfully attached."),
            registry.AGE_COLUMN,
        ]


class CSIStorageCapacityStrategy(registry.Strategy):
    def validate(self, obj: Obj) -> FieldErrors:
        errs = validation.validate_str_with(obj.get("storageClassName"), "storageClassName",
                                            validation.dns1123_subdomain)
        errs += validation.validate_label_selector(obj.get("nodeTopology"), "nodeTopology")
        errs += validation.validate_quantity(obj.get("capacity"), "capacity")
        errs += validation.validate_quantity(obj.get("maximumVolumeSize"), "maximumVolumeSize")
        return errs

    def validate_update(self, new: Obj, old: Obj) -> FieldErrors:
        errs = self.validate(new)
        for key in ("storageClassName", "nodeTopology"):
            errs += validation.validate_immutable(new.get(key), old.get(key), key)
        return errs

    def columns(self) -> list[Column]:
        return [
            registry.NAME_COLUMN,
            Column("StorageClassName", lambda o: o.get("storageClassName", ""),
                   description="The name of the StorageClass that the reported capacity applies to."),
            Column("Capacity", lambda o: str(o["capacity"]) if o.get("capacity") is not None else "<unset>",
                   description="Capacity is the value reported by the CSI driver in its GetCapacityResponse."),
            registry.AGE_COLUMN,
        ]


def _schema(kind: str) -> str:
    return f"io.k8s.api.storage.v1.{kind}"


RESOURCES: list[registry.Resource] = [
    registry.Resource(GROUP, "v1", "StorageClass", "storageclasses", False, StorageClassStrategy(),
                      short_names=("sc",), schema=_schema("StorageClass")),
    registry.Resource(GROUP, "v1", "CSIDriver", "csidrivers", False, CSIDriverStrategy(),
                      schema=_schema("CSIDriver")),
    registry.Resource(GROUP, "v1", "CSINode", "csinodes", False, CSINodeStrategy(), schema=_schema("CSINode")),
    registry.Resource(GROUP, "v1", "VolumeAttachment", "volumeattachments", False, VolumeAttachmentStrategy(),
                      schema=_schema("VolumeAttachment")),
    registry.Resource(GROUP, "v1", "CSIStorageCapacity", "csistoragecapacities", True,
                      CSIStorageCapacityStrategy(), schema=_schema("CSIStorageCapacity")),
]
