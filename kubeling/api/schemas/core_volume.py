"""core/v1 storage types: Volume and its sources, PersistentVolume(Claim) specs
and statuses.

Names and structure follow upstream; descriptions are kubeling's own.
"""

from __future__ import annotations

from kubeling.api.schemas import dsl
from kubeling.api.schemas.dsl import (
    array,
    boolean,
    int64,
    integer,
    meta,
    obj,
    quantity,
    quantity_map,
    string,
    string_array,
    string_map,
    time,
)

C = dsl.CORE
c = dsl.core


_FS_TYPE = string("Filesystem type to mount, such as ext4 or xfs; ext4 when empty.")
_READ_ONLY = boolean("Mount read-only.")
_MODE = integer("Permission bits (0000 to 0777) of the files created; defaults to 0644.")
_DEFAULT_MODE = integer("Permission bits (0000 to 0777) of files without their own mode; defaults to 0644.")
_LOCAL_SECRET = c("LocalObjectReference", "A Secret in the pod's namespace holding credentials.")
_SECRET_REF = c("SecretReference", "A Secret holding credentials.")


def _key_items(what: str) -> dsl.Schema:
    return array(
        c("KeyToPath"),
        f"Which keys of the {what} to project and where; every key, named after itself, when empty.",
        list_type="atomic",
    )


#: Volume sources a pod volume and a PersistentVolume share (same definition).
_SHARED_SOURCES: dict[str, dsl.Schema] = {
    "awsElasticBlockStore": c(
        "AWSElasticBlockStoreVolumeSource", "Deprecated AWS EBS disk (use the CSI driver)."
    ),
    "azureDisk": c("AzureDiskVolumeSource", "Deprecated Azure data disk (use the CSI driver)."),
    "fc": c("FCVolumeSource", "A Fibre Channel disk."),
    "flocker": c("FlockerVolumeSource", "Deprecated Flocker dataset."),
    "gcePersistentDisk": c(
        "GCEPersistentDiskVolumeSource", "Deprecated GCE persistent disk (use the CSI driver)."
    ),
    "hostPath": c("HostPathVolumeSource", "A file or directory on the node. Use with care."),
    "nfs": c("NFSVolumeSource", "An NFS export."),
    "photonPersistentDisk": c("PhotonPersistentDiskVolumeSource", "Deprecated Photon Controller disk."),
    "portworxVolume": c("PortworxVolumeSource", "Deprecated Portworx volume."),
    "quobyte": c("QuobyteVolumeSource", "Deprecated Quobyte volume."),
    "vsphereVolume": c("VsphereVirtualDiskVolumeSource", "Deprecated vSphere disk (use the CSI driver)."),
}

DEFINITIONS: dict[str, dsl.Schema] = {
    C + "Volume": obj(
        "A named volume of a pod. Exactly one source field is set.",
        {
            **_SHARED_SOURCES,
            "azureFile": c("AzureFileVolumeSource", "Deprecated Azure File share (use the CSI driver)."),
            "cephfs": c("CephFSVolumeSource", "Deprecated CephFS mount."),
            "cinder": c("CinderVolumeSource", "Deprecated OpenStack Cinder volume."),
            "configMap": c("ConfigMapVolumeSource", "Keys of a ConfigMap as files."),
            "csi": c("CSIVolumeSource", "An inline volume provided by a CSI driver."),
            "downwardAPI": c("DownwardAPIVolumeSource", "Fields of the pod as files."),
            "emptyDir": c("EmptyDirVolumeSource", "A scratch directory that lives as long as the pod."),
            "ephemeral": c(
                "EphemeralVolumeSource",
                "A volume from a PersistentVolumeClaim created and deleted with the pod.",
            ),
            "flexVolume": c("FlexVolumeSource", "Deprecated volume from an exec-based plugin."),
            "gitRepo": c(
                "GitRepoVolumeSource", "Deprecated: a git repository cloned into an empty directory."
            ),
            "glusterfs": c("GlusterfsVolumeSource", "Deprecated GlusterFS mount."),
            "image": c("ImageVolumeSource", "The content of an OCI image or artifact, read-only."),
            "iscsi": c("ISCSIVolumeSource", "An iSCSI disk."),
            "name": string("The volume's name, a DNS label unique in the pod; mounts refer to it."),
            "persistentVolumeClaim": c(
                "PersistentVolumeClaimVolumeSource", "A PersistentVolumeClaim in the pod's namespace."
            ),
            "projected": c("ProjectedVolumeSource", "Several sources merged into one directory."),
            "rbd": c("RBDVolumeSource", "Deprecated Ceph RBD image."),
            "scaleIO": c("ScaleIOVolumeSource", "Deprecated ScaleIO volume."),
            "secret": c("SecretVolumeSource", "Keys of a Secret as files."),
            "storageos": c("StorageOSVolumeSource", "Deprecated StorageOS volume."),
        },
        required=["name"],
    ),
    # --- common sources, in full ----------------------------------------------------------
    C + "EmptyDirVolumeSource": obj(
        "An initially empty directory shared by the pod's containers.",
        {
            "medium": string("Storage medium: '' for the node's disk or 'Memory' for tmpfs."),
            "sizeLimit": quantity("Most space the volume may use; exceeding it evicts the pod."),
        },
    ),
    C + "HostPathVolumeSource": obj(
        "A path on the node.",
        {
            "path": string("The path on the node; a symlink is followed."),
            "type": string(
                "What must exist at the path: '' (no check), DirectoryOrCreate, Directory, FileOrCreate, "
                "File, Socket, CharDevice or BlockDevice.",
                enum=[
                    "",
                    "BlockDevice",
                    "CharDevice",
                    "Directory",
                    "DirectoryOrCreate",
                    "File",
                    "FileOrCreate",
                    "Socket",
                ],
            ),
        },
        required=["path"],
    ),
    C + "ConfigMapVolumeSource": obj(
        "Projects a ConfigMap's keys as files.",
        {
            "defaultMode": _DEFAULT_MODE,
            "items": _key_items("ConfigMap"),
            "name": string("The ConfigMap's name."),
            "optional": boolean("Whether the ConfigMap or listed keys may be missing."),
        },
    ),
    C + "SecretVolumeSource": obj(
        "Projects a Secret's keys as files.",
        {
            "defaultMode": _DEFAULT_MODE,
            "items": _key_items("Secret"),
            "optional": boolean("Whether the Secret or listed keys may be missing."),
            "secretName": string("The Secret's name."),
        },
    ),
    C + "KeyToPath": obj(
        "Where one key is written.",
        {
            "key": string("The key."),
            "mode": _MODE,
            "path": string("Relative path of the file; may not contain '..'."),
        },
        required=["key", "path"],
    ),
    C + "ProjectedVolumeSource": obj(
        "Several sources projected into one directory.",
        {
            "defaultMode": _DEFAULT_MODE,
            "sources": array(c("VolumeProjection"), "The sources.", list_type="atomic"),
        },
    ),
    C + "VolumeProjection": obj(
        "One source of a projected volume; exactly one field is set.",
        {
            "clusterTrustBundle": c("ClusterTrustBundleProjection", "Certificates of ClusterTrustBundles."),
            "configMap": c("ConfigMapProjection", "Keys of a ConfigMap."),
            "downwardAPI": c("DownwardAPIProjection", "Fields of the pod."),
            "podCertificate": c("PodCertificateProjection", "A key and certificate issued for the pod."),
            "secret": c("SecretProjection", "Keys of a Secret."),
            "serviceAccountToken": c(
                "ServiceAccountTokenProjection", "A token of the pod's service account."
            ),
        },
    ),
    C + "ConfigMapProjection": obj(
        "Keys of a ConfigMap in a projected volume.",
        {
            "items": _key_items("ConfigMap"),
            "name": string("The ConfigMap's name."),
            "optional": boolean("Whether the ConfigMap or listed keys may be missing."),
        },
    ),
    C + "SecretProjection": obj(
        "Keys of a Secret in a projected volume.",
        {
            "items": _key_items("Secret"),
            "name": string("The Secret's name."),
            "optional": boolean("Whether the Secret or listed keys may be missing."),
        },
    ),
    C + "DownwardAPIProjection": obj(
        "Pod fields in a projected volume.",
        {"items": array(c("DownwardAPIVolumeFile"), "The files.", list_type="atomic")},
    ),
    C + "ServiceAccountTokenProjection": obj(
        "A service account token written to a file and refreshed before it expires.",
        {
            "audience": string("Intended audience of the token; the API server's when empty."),
            "expirationSeconds": int64("Requested lifetime in seconds; at least 600, defaults to 3600."),
            "path": string("Relative path of the file."),
        },
        required=["path"],
    ),
    C + "ClusterTrustBundleProjection": obj(
        "Certificates from ClusterTrustBundles written to one file.",
        {
            "labelSelector": meta("LabelSelector", "Bundles with this signer and these labels."),
            "name": string("A single bundle by name."),
            "optional": boolean("Whether missing bundles are allowed."),
            "path": string("Relative path of the file."),
            "signerName": string("Bundles of this signer."),
        },
        required=["path"],
    ),
    C + "PodCertificateProjection": obj(
        "A private key and a certificate issued to the pod through a PodCertificateRequest.",
        {
            "certificateChainPath": string("Where to write the certificate chain."),
            "credentialBundlePath": string("Where to write key and chain together."),
            "keyPath": string("Where to write the private key."),
            "keyType": string("The kind of key to generate, such as ED25519 or ECDSAP256."),
            "maxExpirationSeconds": integer("Longest certificate lifetime to request."),
            "signerName": string("The signer to request the certificate from."),
        },
        required=["signerName", "keyType"],
    ),
    C + "DownwardAPIVolumeSource": obj(
        "Pod fields and container resources as files.",
        {
            "defaultMode": _DEFAULT_MODE,
            "items": array(c("DownwardAPIVolumeFile"), "The files.", list_type="atomic"),
        },
    ),
    C + "DownwardAPIVolumeFile": obj(
        "One downward API file.",
        {
            "fieldRef": c(
                "ObjectFieldSelector", "A pod field: metadata name, namespace, uid, labels or annotations."
            ),
            "mode": _MODE,
            "path": string("Relative path of the file; may not contain '..'."),
            "resourceFieldRef": c("ResourceFieldSelector", "A container's resource limit or request."),
        },
        required=["path"],
    ),
    C + "PersistentVolumeClaimVolumeSource": obj(
        "Mounts the volume bound to a PersistentVolumeClaim of the pod's namespace.",
        {
            "claimName": string("The claim's name."),
            "readOnly": boolean("Force the mount read-only."),
        },
        required=["claimName"],
    ),
    C + "NFSVolumeSource": obj(
        "An NFS export.",
        {
            "path": string("The exported path."),
            "readOnly": boolean("Mount read-only."),
            "server": string("Host name or IP of the NFS server."),
        },
        required=["server", "path"],
    ),
    C + "CSIVolumeSource": obj(
        "An inline ephemeral volume from a CSI driver.",
        {
            "driver": string("The CSI driver's name."),
            "fsType": string("Filesystem type; the driver decides when empty."),
            "nodePublishSecretRef": _LOCAL_SECRET,
            "readOnly": _READ_ONLY,
            "volumeAttributes": string_map("Driver-specific settings."),
        },
        required=["driver"],
    ),
    C + "EphemeralVolumeSource": obj(
        "A volume backed by a claim that is created for the pod and deleted with it.",
        {
            "volumeClaimTemplate": c(
                "PersistentVolumeClaimTemplate",
                "The claim to create; it is named <pod>-<volume> and owned by the pod.",
            ),
        },
    ),
    C + "PersistentVolumeClaimTemplate": obj(
        "The claim an ephemeral volume creates.",
        {
            "metadata": meta("ObjectMeta", "Labels and annotations copied to the claim."),
            "spec": c("PersistentVolumeClaimSpec", "The claim's spec, copied unchanged."),
        },
        required=["spec"],
    ),
    C + "ISCSIVolumeSource": obj(
        "An iSCSI disk, attached read-write by one node at a time.",
        {
            "chapAuthDiscovery": boolean("Use CHAP for discovery."),
            "chapAuthSession": boolean("Use CHAP for the session."),
            "fsType": _FS_TYPE,
            "initiatorName": string("Custom initiator name."),
            "iqn": string("Target iSCSI Qualified Name."),
            "iscsiInterface": string("iSCSI interface name; 'default' when empty."),
            "lun": integer("Target LUN."),
            "portals": string_array("Extra target portals (ip or ip:port).", list_type="atomic"),
            "readOnly": _READ_ONLY,
            "secretRef": c("LocalObjectReference", "CHAP credentials."),
            "targetPortal": string("Target portal (ip or ip:port, port 3260 by default)."),
        },
        required=["targetPortal", "iqn", "lun"],
    ),
    C + "ImageVolumeSource": obj(
        "An OCI image or artifact mounted read-only.",
        {
            "pullPolicy": string("Always, Never or IfNotPresent.", enum=["Always", "IfNotPresent", "Never"]),
            "reference": string("The image or artifact reference."),
        },
    ),
    # --- other pod volume sources ----------------------------------------------------------
    C + "AWSElasticBlockStoreVolumeSource": obj(
        "An AWS EBS volume.",
        {
            "fsType": _FS_TYPE,
            "partition": integer("Partition to mount; the whole volume when 0."),
            "readOnly": _READ_ONLY,
            "volumeID": string("The EBS volume id."),
        },
        required=["volumeID"],
    ),
    C + "AzureDiskVolumeSource": obj(
        "An Azure data disk.",
        {
            "cachingMode": string("Host caching: None, ReadOnly or ReadWrite."),
            "diskName": string("The disk's name."),
            "diskURI": string("The disk's URI."),
            "fsType": _FS_TYPE,
            "kind": string("Shared, Dedicated or Managed."),
            "readOnly": _READ_ONLY,
        },
        required=["diskName", "diskURI"],
    ),
    C + "AzureFileVolumeSource": obj(
        "An Azure File share.",
        {
            "readOnly": _READ_ONLY,
            "secretName": string("Secret with the storage account name and key."),
            "shareName": string("The share's name."),
        },
        required=["secretName", "shareName"],
    ),
    C + "CephFSVolumeSource": obj(
        "A CephFS mount.",
        {
            "monitors": string_array("Ceph monitor addresses.", list_type="atomic"),
            "path": string("Path within the filesystem; '/' by default."),
            "readOnly": _READ_ONLY,
            "secretFile": string("Path of the keyring on the node."),
            "secretRef": c("LocalObjectReference", "Secret with the key."),
            "user": string("Ceph user; 'admin' by default."),
        },
        required=["monitors"],
    ),
    C + "CinderVolumeSource": obj(
        "An OpenStack Cinder volume.",
        {
            "fsType": _FS_TYPE,
            "readOnly": _READ_ONLY,
            "secretRef": c("LocalObjectReference", "Secret with OpenStack credentials."),
            "volumeID": string("The volume id."),
        },
        required=["volumeID"],
    ),
    C + "FCVolumeSource": obj(
        "A Fibre Channel disk.",
        {
            "fsType": _FS_TYPE,
            "lun": integer("Target LUN."),
            "readOnly": _READ_ONLY,
            "targetWWNs": string_array("Target world wide names.", list_type="atomic"),
            "wwids": string_array(
                "Volume world wide identifiers (instead of targetWWNs and lun).", list_type="atomic"
            ),
        },
    ),
    C + "FlexVolumeSource": obj(
        "A volume provided by an exec-based plugin.",
        {
            "driver": string("The driver's name."),
            "fsType": _FS_TYPE,
            "options": string_map("Extra driver options."),
            "readOnly": _READ_ONLY,
            "secretRef": c("LocalObjectReference", "Secret passed to the plugin."),
        },
        required=["driver"],
    ),
    C + "FlockerVolumeSource": obj(
        "A Flocker dataset.",
        {
            "datasetName": string("The dataset's name."),
            "datasetUUID": string("The dataset's UUID."),
        },
    ),
    C + "GCEPersistentDiskVolumeSource": obj(
        "A GCE persistent disk.",
        {
            "fsType": _FS_TYPE,
            "partition": integer("Partition to mount; the whole disk when 0."),
            "pdName": string("The disk's name."),
            "readOnly": _READ_ONLY,
        },
        required=["pdName"],
    ),
    C + "GitRepoVolumeSource": obj(
        "A git repository cloned into the volume.",
        {
            "directory": string("Target directory; '.' puts the repository at the volume root."),
            "repository": string("Repository URL."),
            "revision": string("Commit to check out."),
        },
        required=["repository"],
    ),
    C + "GlusterfsVolumeSource": obj(
        "A GlusterFS mount.",
        {
            "endpoints": string("Endpoints object naming the Gluster servers."),
            "path": string("Volume path."),
            "readOnly": _READ_ONLY,
        },
        required=["endpoints", "path"],
    ),
    C + "PhotonPersistentDiskVolumeSource": obj(
        "A Photon Controller persistent disk.",
        {"fsType": _FS_TYPE, "pdID": string("The disk id.")},
        required=["pdID"],
    ),
    C + "PortworxVolumeSource": obj(
        "A Portworx volume.",
        {"fsType": _FS_TYPE, "readOnly": _READ_ONLY, "volumeID": string("The volume id.")},
        required=["volumeID"],
    ),
    C + "QuobyteVolumeSource": obj(
        "A Quobyte mount.",
        {
            "group": string("Group to map access to."),
            "readOnly": _READ_ONLY,
            "registry": string("Registry services as host:port, comma-separated."),
            "tenant": string("Tenant owning the volume."),
            "user": string("User to map access to."),
            "volume": string("The volume's name."),
        },
        required=["registry", "volume"],
    ),
    C + "RBDVolumeSource": obj(
        "A Ceph RBD image.",
        {
            "fsType": _FS_TYPE,
            "image": string("Image name."),
            "keyring": string("Keyring path; /etc/ceph/keyring by default."),
            "monitors": string_array("Ceph monitors.", list_type="atomic"),
            "pool": string("Pool; 'rbd' by default."),
            "readOnly": _READ_ONLY,
            "secretRef": c("LocalObjectReference", "Secret with the key."),
            "user": string("Rados user; 'admin' by default."),
        },
        required=["monitors", "image"],
    ),
    C + "ScaleIOVolumeSource": obj(
        "A ScaleIO volume.",
        {
            "fsType": _FS_TYPE,
            "gateway": string("Gateway host."),
            "protectionDomain": string("Protection domain."),
            "readOnly": _READ_ONLY,
            "secretRef": c("LocalObjectReference", "Secret with the credentials."),
            "sslEnabled": boolean("Use SSL to reach the gateway."),
            "storageMode": string("ThickProvisioned or ThinProvisioned."),
            "storagePool": string("Storage pool."),
            "system": string("Storage system name."),
            "volumeName": string("Existing volume name."),
        },
        required=["gateway", "system", "secretRef"],
    ),
    C + "StorageOSVolumeSource": obj(
        "A StorageOS volume.",
        {
            "fsType": _FS_TYPE,
            "readOnly": _READ_ONLY,
            "secretRef": c("LocalObjectReference", "Secret with the API credentials."),
            "volumeName": string("Volume name."),
            "volumeNamespace": string("StorageOS namespace of the volume."),
        },
    ),
    C + "VsphereVirtualDiskVolumeSource": obj(
        "A vSphere virtual disk.",
        {
            "fsType": _FS_TYPE,
            "storagePolicyID": string("Storage policy id."),
            "storagePolicyName": string("Storage policy name."),
            "volumePath": string("Path of the disk."),
        },
        required=["volumePath"],
    ),
    # --- PersistentVolume sources ------------------------------------------------------------
    C + "SecretReference": obj(
        "A Secret by name and namespace.",
        {"name": string("Name of the Secret."), "namespace": string("Namespace of the Secret.")},
        map_type="atomic",
    ),
    C + "AzureFilePersistentVolumeSource": obj(
        "An Azure File share for a PersistentVolume.",
        {
            "readOnly": _READ_ONLY,
            "secretName": string("Secret with the storage account name and key."),
            "secretNamespace": string("Namespace of that Secret; the pod's by default."),
            "shareName": string("The share's name."),
        },
        required=["secretName", "shareName"],
    ),
    C + "CephFSPersistentVolumeSource": obj(
        "A CephFS mount for a PersistentVolume.",
        {
            "monitors": string_array("Ceph monitor addresses.", list_type="atomic"),
            "path": string("Path within the filesystem."),
            "readOnly": _READ_ONLY,
            "secretFile": string("Path of the keyring on the node."),
            "secretRef": _SECRET_REF,
            "user": string("Ceph user."),
        },
        required=["monitors"],
    ),
    C + "CinderPersistentVolumeSource": obj(
        "An OpenStack Cinder volume for a PersistentVolume.",
        {
            "fsType": _FS_TYPE,
            "readOnly": _READ_ONLY,
            "secretRef": _SECRET_REF,
            "volumeID": string("The volume id."),
        },
        required=["volumeID"],
    ),
    C + "CSIPersistentVolumeSource": obj(
        "A volume managed by a CSI driver.",
        {
            "controllerExpandSecretRef": _SECRET_REF,
            "controllerPublishSecretRef": _SECRET_REF,
            "driver": string("The CSI driver's name."),
            "fsType": string("Filesystem type to mount."),
            "nodeExpandSecretRef": _SECRET_REF,
            "nodePublishSecretRef": _SECRET_REF,
            "nodeStageSecretRef": _SECRET_REF,
            "readOnly": _READ_ONLY,
            "volumeAttributes": string_map("Driver-specific attributes."),
            "volumeHandle": string("The driver's id of the volume."),
        },
        required=["driver", "volumeHandle"],
    ),
    C + "FlexPersistentVolumeSource": obj(
        "A volume from an exec-based plugin, for a PersistentVolume.",
        {
            "driver": string("The driver's name."),
            "fsType": _FS_TYPE,
            "options": string_map("Extra driver options."),
            "readOnly": _READ_ONLY,
            "secretRef": _SECRET_REF,
        },
        required=["driver"],
    ),
    C + "GlusterfsPersistentVolumeSource": obj(
        "A GlusterFS mount for a PersistentVolume.",
        {
            "endpoints": string("Endpoints object naming the Gluster servers."),
            "endpointsNamespace": string("Namespace of that Endpoints object."),
            "path": string("Volume path."),
            "readOnly": _READ_ONLY,
        },
        required=["endpoints", "path"],
    ),
    C + "ISCSIPersistentVolumeSource": obj(
        "An iSCSI disk for a PersistentVolume.",
        {
            "chapAuthDiscovery": boolean("Use CHAP for discovery."),
            "chapAuthSession": boolean("Use CHAP for the session."),
            "fsType": _FS_TYPE,
            "initiatorName": string("Custom initiator name."),
            "iqn": string("Target iSCSI Qualified Name."),
            "iscsiInterface": string("iSCSI interface name."),
            "lun": integer("Target LUN."),
            "portals": string_array("Extra target portals.", list_type="atomic"),
            "readOnly": _READ_ONLY,
            "secretRef": _SECRET_REF,
            "targetPortal": string("Target portal."),
        },
        required=["targetPortal", "iqn", "lun"],
    ),
    C + "LocalVolumeSource": obj(
        "A disk, partition or directory local to one node.",
        {
            "fsType": string("Filesystem type, for block devices."),
            "path": string("Full path on the node."),
        },
        required=["path"],
    ),
    C + "RBDPersistentVolumeSource": obj(
        "A Ceph RBD image for a PersistentVolume.",
        {
            "fsType": _FS_TYPE,
            "image": string("Image name."),
            "keyring": string("Keyring path."),
            "monitors": string_array("Ceph monitors.", list_type="atomic"),
            "pool": string("Pool."),
            "readOnly": _READ_ONLY,
            "secretRef": _SECRET_REF,
            "user": string("Rados user."),
        },
        required=["monitors", "image"],
    ),
    C + "ScaleIOPersistentVolumeSource": obj(
        "A ScaleIO volume for a PersistentVolume.",
        {
            "fsType": _FS_TYPE,
            "gateway": string("Gateway host."),
            "protectionDomain": string("Protection domain."),
            "readOnly": _READ_ONLY,
            "secretRef": _SECRET_REF,
            "sslEnabled": boolean("Use SSL to reach the gateway."),
            "storageMode": string("ThickProvisioned or ThinProvisioned."),
            "storagePool": string("Storage pool."),
            "system": string("Storage system name."),
            "volumeName": string("Existing volume name."),
        },
        required=["gateway", "system", "secretRef"],
    ),
    C + "StorageOSPersistentVolumeSource": obj(
        "A StorageOS volume for a PersistentVolume.",
        {
            "fsType": _FS_TYPE,
            "readOnly": _READ_ONLY,
            "secretRef": c("ObjectReference", "Secret with the API credentials."),
            "volumeName": string("Volume name."),
            "volumeNamespace": string("StorageOS namespace of the volume."),
        },
    ),
    C + "VolumeNodeAffinity": obj(
        "The nodes a PersistentVolume can be used from.",
        {"required": c("NodeSelector", "Nodes that can reach the volume.")},
    ),
    # --- PersistentVolume / Claim ----------------------------------------------------------------
    C + "PersistentVolumeSpec": obj(
        "A piece of storage: its source, capacity and how it may be used.",
        {
            **_SHARED_SOURCES,
            "accessModes": string_array(
                "How the volume can be mounted: ReadWriteOnce, ReadOnlyMany, ReadWriteMany, ReadWriteOncePod.",
                list_type="atomic",
            ),
            "azureFile": c("AzureFilePersistentVolumeSource", "Deprecated Azure File share."),
            "capacity": quantity_map("The volume's size (storage)."),
            "cephfs": c("CephFSPersistentVolumeSource", "Deprecated CephFS mount."),
            "cinder": c("CinderPersistentVolumeSource", "Deprecated Cinder volume."),
            "claimRef": c("ObjectReference", "The claim bound to this volume (or reserved for it)."),
            "csi": c("CSIPersistentVolumeSource", "A volume managed by a CSI driver."),
            "flexVolume": c("FlexPersistentVolumeSource", "Deprecated exec-plugin volume."),
            "glusterfs": c("GlusterfsPersistentVolumeSource", "Deprecated GlusterFS mount."),
            "iscsi": c("ISCSIPersistentVolumeSource", "An iSCSI disk."),
            "local": c("LocalVolumeSource", "Storage local to one node; needs nodeAffinity."),
            "mountOptions": string_array("Extra mount options.", list_type="atomic"),
            "nodeAffinity": c("VolumeNodeAffinity", "Nodes the volume can be used from."),
            "persistentVolumeReclaimPolicy": string(
                "What happens when the claim is released: Retain, Delete or Recycle (deprecated).",
                enum=["Delete", "Recycle", "Retain"],
            ),
            "rbd": c("RBDPersistentVolumeSource", "Deprecated Ceph RBD image."),
            "scaleIO": c("ScaleIOPersistentVolumeSource", "Deprecated ScaleIO volume."),
            "storageClassName": string("The StorageClass the volume belongs to; empty for none."),
            "storageos": c("StorageOSPersistentVolumeSource", "Deprecated StorageOS volume."),
            "volumeAttributesClassName": string("The VolumeAttributesClass the volume belongs to."),
            "volumeMode": string("Filesystem (default) or Block.", enum=["Block", "Filesystem"]),
        },
    ),
    C + "PersistentVolumeStatus": obj(
        "The observed state of a PersistentVolume.",
        {
            "lastPhaseTransitionTime": time("When the phase last changed."),
            "message": string("Human-readable note on the state."),
            "phase": string(
                "Pending, Available, Bound, Released or Failed.",
                enum=["Available", "Bound", "Failed", "Pending", "Released"],
            ),
            "reason": string("Short CamelCase reason for a failure."),
        },
    ),
    C + "PersistentVolumeClaimSpec": obj(
        "What storage a claim asks for.",
        {
            "accessModes": string_array("Access modes the volume must support.", list_type="atomic"),
            "dataSource": c(
                "TypedLocalObjectReference", "An object (snapshot, claim) to fill the new volume from."
            ),
            "dataSourceRef": c(
                "TypedObjectReference",
                "Like dataSource, and may name any populator object or another namespace.",
            ),
            "resources": c("VolumeResourceRequirements", "Minimum (and maximum) size of the volume."),
            "selector": meta("LabelSelector", "Labels of the volumes that may be bound."),
            "storageClassName": string("The StorageClass to use; the default class when unset."),
            "volumeAttributesClassName": string("The VolumeAttributesClass to use."),
            "volumeMode": string("Filesystem (default) or Block.", enum=["Block", "Filesystem"]),
            "volumeName": string("Bind to this specific PersistentVolume."),
        },
    ),
    C + "VolumeResourceRequirements": obj(
        "Storage size requirements.",
        {
            "limits": quantity_map("The most storage allowed."),
            "requests": quantity_map("The storage wanted."),
        },
    ),
    C + "PersistentVolumeClaimStatus": obj(
        "The observed state of a claim.",
        {
            "accessModes": string_array("Access modes of the bound volume.", list_type="atomic"),
            "allocatedResourceStatuses": {
                **string_map("Progress of resizes, per resource."),
                "x-kubernetes-map-type": "granular",
            },
            "allocatedResources": quantity_map("Sizes allocated to the claim, including pending resizes."),
            "capacity": quantity_map("The bound volume's actual size."),
            "conditions": array(
                c("PersistentVolumeClaimCondition"),
                "Current conditions, such as Resizing.",
                merge_key="type",
                list_type="map",
                list_map_keys=["type"],
            ),
            "currentVolumeAttributesClassName": string("The VolumeAttributesClass currently applied."),
            "modifyVolumeStatus": c("ModifyVolumeStatus", "Progress of a change of volume attributes class."),
            "phase": string("Pending, Bound or Lost.", enum=["Bound", "Lost", "Pending"]),
        },
    ),
    C + "PersistentVolumeClaimCondition": obj(
        "One aspect of a claim's state.",
        {
            "lastProbeTime": time("When the condition was last checked."),
            "lastTransitionTime": time("When status last changed."),
            "message": string("Human-readable details."),
            "reason": string("CamelCase cause of the last transition."),
            "status": string("True, False or Unknown."),
            "type": string("The condition's type."),
        },
        required=["type", "status"],
    ),
    C + "ModifyVolumeStatus": obj(
        "Progress of a change of a claim's volume attributes class.",
        {
            "status": string("Pending, InProgress or Infeasible."),
            "targetVolumeAttributesClassName": string("The class being applied."),
        },
        required=["status"],
    ),
    C + "TypedLocalObjectReference": obj(
        "An object of any kind in the same namespace.",
        {
            "apiGroup": string("The kind's API group; empty for the core group."),
            "kind": string("The kind."),
            "name": string("The name."),
        },
        required=["kind", "name"],
        map_type="atomic",
    ),
    C + "TypedObjectReference": obj(
        "An object of any kind, possibly in another namespace.",
        {
            "apiGroup": string("The kind's API group; empty for the core group."),
            "kind": string("The kind."),
            "name": string("The name."),
            "namespace": string("The namespace, when not the referrer's."),
        },
        required=["kind", "name"],
    ),
}
