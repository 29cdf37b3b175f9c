"""OpenAPI definitions of storage.k8s.io/v1: StorageClass, and the CSI kinds
of the same group (CSIDriver, CSINode, CSIStorageCapacity, VolumeAttachment).

Field names, types, required fields and patch metadata follow upstream v1.32;
the descriptions are kubeling's own.
"""

from __future__ import annotations

from kubeling.api.schemas import dsl

P = "io.k8s.api.storage.v1."
GROUP = "storage.k8s.io"


def _gvk(kind: str) -> tuple[str, str, str]:
    return (GROUP, "v1", kind)


STORAGE_CLASS: dict[str, dsl.Schema] = {
    P + "StorageClass": dsl.obj(
        "A class of storage that claims ask for by name, and how volumes of that class are provisioned. "
        "Not namespaced.",
        {
            **dsl.kind_properties(),
            "provisioner": dsl.string("The volume plugin or CSI driver that creates volumes of this class."),
            "parameters": dsl.string_map(
                "Settings passed to the provisioner; at most 512 of them, 256kB in all."
            ),
            "reclaimPolicy": dsl.string(
                "What happens to a provisioned volume once its claim is released: Delete (the default) or Retain.",
                enum=["Delete", "Recycle", "Retain"],
            ),
            "mountOptions": dsl.string_array(
                'Mount options given to provisioned volumes, e.g. ["ro", "soft"]; not validated, a bad '
                "one makes the mount fail.",
                list_type="atomic",
            ),
            "allowVolumeExpansion": dsl.boolean("Whether claims of this class may be resized upward."),
            "volumeBindingMode": dsl.string(
                "When claims are bound and provisioned: Immediate (the default) or WaitForFirstConsumer "
                "(once a pod using the claim is scheduled).",
                enum=["Immediate", "WaitForFirstConsumer"],
            ),
            "allowedTopologies": dsl.array(
                dsl.ref("io.k8s.api.core.v1.TopologySelectorTerm"),
                "Where volumes may be provisioned; empty means anywhere. Honoured by plugins that support it.",
                list_type="atomic",
            ),
        },
        required=["provisioner"],
        gvk=_gvk("StorageClass"),
    ),
    P + "StorageClassList": dsl.list_kind(
        P + "StorageClass", "A list of StorageClasses.", _gvk("StorageClassList")
    ),
}

VOLUME_ATTACHMENT: dict[str, dsl.Schema] = {
    P + "VolumeAttachment": dsl.obj(
        "A request to attach a volume to a node, or detach it; not namespaced.",
        dsl.kind_properties(
            dsl.ref(P + "VolumeAttachmentSpec", "Which volume goes to which node; set by the requester."),
            dsl.ref(P + "VolumeAttachmentStatus", "The result; written by the attacher."),
        ),
        required=["spec"],
        gvk=_gvk("VolumeAttachment"),
    ),
    P + "VolumeAttachmentList": dsl.list_kind(
        P + "VolumeAttachment", "A list of VolumeAttachments.", _gvk("VolumeAttachmentList")
    ),
    P + "VolumeAttachmentSpec": dsl.obj(
        "The volume and node of an attachment.",
        {
            "attacher": dsl.string("The volume driver that does the attaching, as named by its plugin."),
            "source": dsl.ref(P + "VolumeAttachmentSource", "The volume to attach."),
            "nodeName": dsl.string("The node to attach the volume to."),
        },
        required=["attacher", "source", "nodeName"],
    ),
    P + "VolumeAttachmentSource": dsl.obj(
        "The volume to attach: a PersistentVolume by name, or an inline volume spec (exactly one).",
        {
            "persistentVolumeName": dsl.string("The PersistentVolume to attach."),
            "inlineVolumeSpec": dsl.ref(
                "io.k8s.api.core.v1.PersistentVolumeSpec",
                "A pod's inline volume, translated to a PersistentVolume spec for a CSI driver (migration).",
            ),
        },
    ),
    P + "VolumeAttachmentStatus": dsl.obj(
        "The outcome of an attach or detach.",
        {
            "attached": dsl.boolean("Whether the volume is attached."),
            "attachmentMetadata": dsl.string_map(
                "What the attach produced that later steps need; passed on to the mount."
            ),
            "attachError": dsl.ref(P + "VolumeError", "The last attach failure, if any."),
            "detachError": dsl.ref(P + "VolumeError", "The last detach failure, if any."),
        },
        required=["attached"],
    ),
    P + "VolumeError": dsl.obj(
        "A failure of a volume operation.",
        {
            "time": dsl.time("When the failure happened."),
            "message": dsl.string("What went wrong; may be shown to users, so no secrets."),
        },
    ),
}

CSI: dict[str, dsl.Schema] = {
    P + "CSIDriver": dsl.obj(
        "A CSI volume driver installed in the cluster and how Kubernetes should treat it. Not namespaced; "
        "named after the driver.",
        dsl.kind_properties(dsl.ref(P + "CSIDriverSpec", "How Kubernetes interacts with the driver.")),
        required=["spec"],
        gvk=_gvk("CSIDriver"),
    ),
    P + "CSIDriverList": dsl.list_kind(P + "CSIDriver", "A list of CSIDrivers.", _gvk("CSIDriverList")),
    P + "CSIDriverSpec": dsl.obj(
        "The behaviour Kubernetes expects from a CSI driver.",
        {
            "attachRequired": dsl.boolean(
                "Whether volumes need an attach step (VolumeAttachment) before mounting. Defaults to true; "
                "immutable."
            ),
            "podInfoOnMount": dsl.boolean(
                "Whether the kubelet passes the pod's name, namespace, uid and service account to the driver "
                "on mount. Defaults to false; immutable."
            ),
            "volumeLifecycleModes": dsl.string_array(
                "The volume kinds the driver supports: Persistent and/or Ephemeral (inline CSI volumes). "
                "Defaults to Persistent.",
                list_type="set",
            ),
            "storageCapacity": dsl.boolean(
                "Whether the scheduler should consult CSIStorageCapacity objects for this driver."
            ),
            "fsGroupPolicy": dsl.string(
                "Whether the driver supports changing volume ownership to the pod's fsGroup: "
                "ReadWriteOnceWithFSType (the default), File or None."
            ),
            "tokenRequests": dsl.array(
                dsl.ref(P + "TokenRequest"),
                "Service account tokens the kubelet passes to the driver on mount, one per audience.",
                list_type="atomic",
            ),
            "requiresRepublish": dsl.boolean(
                "Whether the kubelet calls NodePublishVolume again periodically, e.g. to refresh tokens."
            ),
            "seLinuxMount": dsl.boolean(
                "Whether the driver supports the -o context mount option, letting the kubelet mount volumes "
                "with the pod's SELinux label."
            ),
        },
    ),
    P + "TokenRequest": dsl.obj(
        "A service account token the kubelet should request for a CSI driver.",
        {
            "audience": dsl.string("The audience of the token."),
            "expirationSeconds": dsl.int64("How long the token is valid; as for TokenRequest."),
        },
        required=["audience"],
    ),
    P + "CSINode": dsl.obj(
        "The CSI drivers installed on one node; named after the node.",
        dsl.kind_properties(dsl.ref(P + "CSINodeSpec", "The drivers on the node.")),
        required=["spec"],
        gvk=_gvk("CSINode"),
    ),
    P + "CSINodeList": dsl.list_kind(P + "CSINode", "A list of CSINodes.", _gvk("CSINodeList")),
    P + "CSINodeSpec": dsl.obj(
        "The drivers registered on a node.",
        {
            "drivers": dsl.array(
                dsl.ref(P + "CSINodeDriver"),
                "One entry per CSI driver registered by the kubelet on this node.",
                merge_key="name",
                strategy="merge",
                list_type="map",
                list_map_keys=["name"],
            ),
        },
        required=["drivers"],
    ),
    P + "CSINodeDriver": dsl.obj(
        "A CSI driver as registered on one node.",
        {
            "name": dsl.string("The driver's name, as in its CSIDriver."),
            "nodeID": dsl.string("The node as the driver knows it."),
            "topologyKeys": dsl.string_array(
                "The node label keys the driver uses for topology.", list_type="atomic"
            ),
            "allocatable": dsl.ref(
                P + "VolumeNodeResources", "How many volumes the driver can handle on the node."
            ),
        },
        required=["name", "nodeID"],
    ),
    P + "VolumeNodeResources": dsl.obj(
        "Volume limits of a driver on a node.",
        {"count": dsl.integer("The most volumes of this driver the node can use; unset means no limit.")},
    ),
    P + "CSIStorageCapacity": dsl.obj(
        "How much storage of one class is available to a topology segment, published by a CSI driver for "
        "the scheduler.",
        {
            **dsl.kind_properties(),
            "nodeTopology": dsl.meta(
                "LabelSelector", "The nodes that can reach this storage; unset means none. Immutable."
            ),
            "storageClassName": dsl.string("The StorageClass the capacity applies to. Immutable."),
            "capacity": dsl.quantity("Free capacity reported by the driver; unset means unknown."),
            "maximumVolumeSize": dsl.quantity(
                "The largest volume that could be created now; unset means the same as capacity."
            ),
        },
        required=["storageClassName"],
        gvk=_gvk("CSIStorageCapacity"),
    ),
    P + "CSIStorageCapacityList": dsl.list_kind(
        P + "CSIStorageCapacity", "A list of CSIStorageCapacities.", _gvk("CSIStorageCapacityList")
    ),
}

DEFINITIONS: dict[str, dsl.Schema] = {**STORAGE_CLASS, **VOLUME_ATTACHMENT, **CSI}
