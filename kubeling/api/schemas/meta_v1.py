"""Definitions shared by every API group: meta/v1, Quantity, IntOrString, RawExtension.

Names and structure follow upstream (clients look them up by name); the
descriptions are kubeling's own.
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
    ref,
    string,
    string_array,
    string_map,
    time,
)

M = dsl.META

#: Group/versions whose clients send DeleteOptions and receive WatchEvents;
#: upstream tags these two kinds with every served group/version.
SHARED_GROUP_VERSIONS: list[tuple[str, str]] = [
    ("", "v1"),
    ("admission.k8s.io", "v1"),
    ("admissionregistration.k8s.io", "v1"),
    ("apiextensions.k8s.io", "v1"),
    ("apiregistration.k8s.io", "v1"),
    ("apps", "v1"),
    ("authentication.k8s.io", "v1"),
    ("authorization.k8s.io", "v1"),
    ("autoscaling", "v1"),
    ("autoscaling", "v2"),
    ("batch", "v1"),
    ("certificates.k8s.io", "v1"),
    ("coordination.k8s.io", "v1"),
    ("discovery.k8s.io", "v1"),
    ("events.k8s.io", "v1"),
    ("flowcontrol.apiserver.k8s.io", "v1"),
    ("networking.k8s.io", "v1"),
    ("node.k8s.io", "v1"),
    ("policy", "v1"),
    ("rbac.authorization.k8s.io", "v1"),
    ("scheduling.k8s.io", "v1"),
    ("storage.k8s.io", "v1"),
]


def _shared_gvk(schema: dsl.Schema, kind: str) -> dsl.Schema:
    schema["x-kubernetes-group-version-kind"] = [
        {"group": g, "version": v, "kind": kind} for g, v in SHARED_GROUP_VERSIONS
    ]
    return schema


_API_VERSION = string("The versioned schema of this representation of the object.")
_KIND = string("The REST resource type this object represents, in CamelCase.")

DEFINITIONS: dict[str, dsl.Schema] = {
    # --- scalar-like types -----------------------------------------------------------
    dsl.QUANTITY: {
        "type": "string",
        "format": "quantity",
        "description": (
            "A fixed-point amount with an optional unit suffix: binary (Ki, Mi, Gi, Ti, Pi, Ei), "
            "decimal (m, k, M, G, T, P, E) or an exponent (1e3). Sent as a string; numbers are accepted on input."
        ),
    },
    dsl.INT_OR_STRING: {
        "type": "string",
        "format": "int-or-string",
        "description": "Either a whole number or a string (for example a port number or a named port, or '25%').",
    },
    "io.k8s.apimachinery.pkg.runtime.RawExtension": {
        "type": "object",
        "description": "An embedded object of any kind, kept exactly as sent.",
        "x-kubernetes-preserve-unknown-fields": True,
    },
    M + "Time": {
        "type": "string",
        "format": "date-time",
        "description": "A point in time in RFC 3339 form with second precision, in UTC.",
    },
    M + "MicroTime": {
        "type": "string",
        "format": "date-time",
        "description": "A point in time in RFC 3339 form with microsecond precision.",
    },
    M + "Duration": {
        "type": "string",
        "description": "A length of time written as a Go duration string, for example '1h30m' or '15s'.",
    },
    M + "FieldsV1": {
        "type": "object",
        "description": "The set of fields a manager owns, encoded as a trie of field paths (the 'f:', 'k:', 'v:' keys).",
    },
    M + "Patch": {
        "type": "object",
        "description": "The body of a PATCH request; its form depends on the request's content type.",
    },
    # --- object and list metadata ------------------------------------------------------
    M + "ObjectMeta": obj(
        "Metadata every persisted object carries: identity, labels, annotations, owners and bookkeeping.",
        {
            "annotations": string_map(
                "Free-form key/value data attached by tools and users; not used for selection."
            ),
            "creationTimestamp": time("When the server created the object. Set by the server; read-only."),
            "deletionGracePeriodSeconds": int64(
                "Seconds the object has left to terminate gracefully once deletion was requested. Read-only."
            ),
            "deletionTimestamp": time(
                "When the object will be removed, set when deletion is requested while finalizers or a grace "
                "period keep it alive. Read-only."
            ),
            "finalizers": string_array(
                "Names of pending cleanup steps; the object is removed only once this list is empty.",
                strategy="merge",
                list_type="set",
            ),
            "generateName": string("A prefix from which the server makes a unique name when name is empty."),
            "generation": int64(
                "A number the server bumps whenever the desired state (spec) changes. Read-only."
            ),
            "labels": string_map("Key/value pairs used to organise and select objects."),
            "managedFields": array(
                meta("ManagedFieldsEntry"),
                "Which field manager owns which fields, as recorded for server-side apply.",
                list_type="atomic",
            ),
            "name": string("The object's name, unique within its namespace (or cluster, if not namespaced)."),
            "namespace": string("The namespace the object lives in; empty for cluster-scoped kinds."),
            "ownerReferences": array(
                meta("OwnerReference"),
                "Objects this one depends on; it is garbage-collected once they are all gone.",
                merge_key="uid",
                list_type="map",
                list_map_keys=["uid"],
            ),
            "resourceVersion": string(
                "An opaque value that changes on every write; used for optimistic concurrency and watches."
            ),
            "selfLink": string("Deprecated and no longer set by the server."),
            "uid": string("A cluster-unique id assigned at creation, never reused. Read-only."),
        },
    ),
    M + "ListMeta": obj(
        "Metadata of a list response.",
        {
            "continue": string("Token to pass back to fetch the next page; empty on the last page."),
            "remainingItemCount": int64("An estimate of how many items remain after this page, when known."),
            "resourceVersion": string("The store revision the list was read at; start a watch from here."),
            "selfLink": string("Deprecated and no longer set by the server."),
        },
    ),
    M + "OwnerReference": obj(
        "Identifies an owning object in the same namespace (or a cluster-scoped one).",
        {
            "apiVersion": string("API version of the owner."),
            "blockOwnerDeletion": boolean(
                "When true, foreground deletion of the owner waits until this dependent is gone."
            ),
            "controller": boolean("True for the single owner that manages this object."),
            "kind": string("Kind of the owner."),
            "name": string("Name of the owner."),
            "uid": string("UID of the owner."),
        },
        required=["apiVersion", "kind", "name", "uid"],
        map_type="atomic",
    ),
    M + "ManagedFieldsEntry": obj(
        "One field manager's ownership record.",
        {
            "apiVersion": string("The version of the object the field set refers to."),
            "fieldsType": string("Format of the field set; only 'FieldsV1' exists."),
            "fieldsV1": meta("FieldsV1", "The fields owned, when fieldsType is FieldsV1."),
            "manager": string("Name of the field manager (the client that wrote the fields)."),
            "operation": string("Either 'Apply' or 'Update': how the fields were written."),
            "subresource": string("The subresource the write went through, if any (for example 'status')."),
            "time": time("When the entry last changed."),
        },
    ),
    M + "LabelSelector": obj(
        "Selects objects by labels. The requirements are ANDed; an empty selector matches everything, "
        "a missing one matches nothing.",
        {
            "matchExpressions": array(
                meta("LabelSelectorRequirement"), "Set-based requirements.", list_type="atomic"
            ),
            "matchLabels": string_map("Exact key=value requirements."),
        },
        map_type="atomic",
    ),
    M + "LabelSelectorRequirement": obj(
        "One set-based label requirement.",
        {
            "key": string("The label key."),
            "operator": string("How the key relates to the values: In, NotIn, Exists or DoesNotExist."),
            "values": string_array(
                "Values for In and NotIn (at least one); must be empty for Exists and DoesNotExist.",
                list_type="atomic",
            ),
        },
        required=["key", "operator"],
    ),
    M + "Condition": obj(
        "One aspect of an object's current state.",
        {
            "lastTransitionTime": time("When status last changed."),
            "message": string("Human-readable details of the transition."),
            "observedGeneration": int64("The metadata.generation the condition was computed from."),
            "reason": string("A CamelCase machine-readable cause of the last transition."),
            "status": string("True, False or Unknown.", enum=["False", "True", "Unknown"]),
            "type": string("The condition's name, in CamelCase."),
        },
        required=["type", "status", "lastTransitionTime", "reason", "message"],
    ),
    # --- status and options ----------------------------------------------------------
    M + "Status": obj(
        "The result of a call that does not return an object, most often an error.",
        {
            "apiVersion": _API_VERSION,
            "code": integer("The HTTP status code of the response."),
            "details": meta("StatusDetails", "Extra data about the failure, shaped by the reason."),
            "kind": _KIND,
            "message": string("A human-readable account of what happened."),
            "metadata": meta("ListMeta", "Standard list metadata."),
            "reason": string("A machine-readable CamelCase reason, such as NotFound or AlreadyExists."),
            "status": string("'Success' or 'Failure'."),
        },
        gvk=("", "v1", "Status"),
    ),
    M + "StatusDetails": obj(
        "Which object a Status is about, and why it failed.",
        {
            "causes": array(meta("StatusCause"), "The individual problems found.", list_type="atomic"),
            "group": string("API group of the object."),
            "kind": string("Kind of the object."),
            "name": string("Name of the object."),
            "retryAfterSeconds": integer("Seconds the client should wait before retrying, when set."),
            "uid": string("UID of the object."),
        },
    ),
    M + "StatusCause": obj(
        "One problem behind a failure, usually tied to a field.",
        {
            "field": string("The path of the offending field, such as 'spec.containers[0].name'."),
            "message": string("A human-readable account of the problem."),
            "reason": string("A machine-readable kind of problem, such as FieldValueInvalid."),
        },
    ),
    M + "DeleteOptions": _shared_gvk(
        obj(
            "Options of a delete request.",
            {
                "apiVersion": _API_VERSION,
                "dryRun": string_array(
                    "When set to ['All'], the request is checked but nothing is persisted.",
                    list_type="atomic",
                ),
                "gracePeriodSeconds": int64(
                    "Seconds before the object is removed; 0 means immediately, unset means the kind's default."
                ),
                "ignoreStoreReadErrorWithClusterBreakingPotential": boolean(
                    "Delete an object that cannot be read from storage. Dangerous; needs extra permission."
                ),
                "kind": _KIND,
                "orphanDependents": boolean("Deprecated: use propagationPolicy. True means Orphan."),
                "preconditions": meta("Preconditions", "Checks that must hold for the delete to proceed."),
                "propagationPolicy": string("What happens to dependents: Orphan, Background or Foreground."),
            },
        ),
        "DeleteOptions",
    ),
    M + "Preconditions": obj(
        "Conditions checked before an operation is carried out.",
        {
            "resourceVersion": string("The object must currently have this resourceVersion."),
            "uid": string("The object must currently have this UID."),
        },
    ),
    M + "WatchEvent": _shared_gvk(
        obj(
            "One change notification on a watch stream.",
            {
                "object": ref(
                    "io.k8s.apimachinery.pkg.runtime.RawExtension",
                    "The object after the change (for DELETED, its last state; for ERROR, a Status; "
                    "for BOOKMARK, only its resourceVersion).",
                ),
                "type": string("ADDED, MODIFIED, DELETED, BOOKMARK or ERROR."),
            },
            required=["type", "object"],
        ),
        "WatchEvent",
    ),
    M + "PartialObjectMetadata": obj(
        "Only the metadata of an object.",
        {
            "apiVersion": _API_VERSION,
            "kind": _KIND,
            "metadata": meta("ObjectMeta", "Standard object metadata."),
        },
        gvk=("meta.k8s.io", "v1", "PartialObjectMetadata"),
    ),
    M + "PartialObjectMetadataList": obj(
        "A list of objects' metadata only.",
        {
            "apiVersion": _API_VERSION,
            "items": array(meta("PartialObjectMetadata"), "The listed metadata."),
            "kind": _KIND,
            "metadata": meta("ListMeta", "Standard list metadata."),
        },
        required=["items"],
        gvk=("meta.k8s.io", "v1", "PartialObjectMetadataList"),
    ),
    # --- discovery ---------------------------------------------------------------------
    M + "APIResource": obj(
        "One resource served in a group/version.",
        {
            "categories": string_array(
                "Groups of resources this one belongs to, such as 'all'.", list_type="atomic"
            ),
            "group": string("The group of the resource, when it differs from the containing group."),
            "kind": string("The kind of the resource's objects."),
            "name": string("The plural name, or 'plural/subresource' for subresources."),
            "namespaced": boolean("Whether the resource lives in namespaces."),
            "shortNames": string_array("Abbreviations clients accept for the resource.", list_type="atomic"),
            "singularName": string("The singular name of the resource."),
            "storageVersionHash": string(
                "A hash of the version objects are stored in; changes when it does."
            ),
            "verbs": string_array("The operations the resource supports (get, list, watch, create ...)."),
            "version": string("The version of the resource, when it differs from the containing version."),
        },
        required=["name", "singularName", "namespaced", "kind", "verbs"],
    ),
    M + "APIResourceList": obj(
        "The resources served in one group/version.",
        {
            "apiVersion": _API_VERSION,
            "groupVersion": string("The group/version these resources belong to."),
            "kind": _KIND,
            "resources": array(meta("APIResource"), "The served resources.", list_type="atomic"),
        },
        required=["groupVersion", "resources"],
        gvk=("", "v1", "APIResourceList"),
    ),
    M + "APIGroup": obj(
        "An API group and the versions it serves.",
        {
            "apiVersion": _API_VERSION,
            "kind": _KIND,
            "name": string("The group's name."),
            "preferredVersion": meta("GroupVersionForDiscovery", "The version clients should use."),
            "serverAddressByClientCIDRs": array(
                meta("ServerAddressByClientCIDR"),
                "Addresses clients in given networks should use to reach the server.",
                list_type="atomic",
            ),
            "versions": array(meta("GroupVersionForDiscovery"), "The served versions.", list_type="atomic"),
        },
        required=["name", "versions"],
        gvk=("", "v1", "APIGroup"),
    ),
    M + "APIGroupList": obj(
        "Every API group the server serves.",
        {
            "apiVersion": _API_VERSION,
            "groups": array(meta("APIGroup"), "The groups.", list_type="atomic"),
            "kind": _KIND,
        },
        required=["groups"],
        gvk=("", "v1", "APIGroupList"),
    ),
    M + "APIVersions": obj(
        "The versions of the legacy core API served under /api.",
        {
            "apiVersion": _API_VERSION,
            "kind": _KIND,
            "serverAddressByClientCIDRs": array(
                meta("ServerAddressByClientCIDR"),
                "Addresses clients in given networks should use to reach the server.",
                list_type="atomic",
            ),
            "versions": string_array("The served versions.", list_type="atomic"),
        },
        required=["versions", "serverAddressByClientCIDRs"],
        gvk=("", "v1", "APIVersions"),
    ),
    M + "GroupVersionForDiscovery": obj(
        "A group/version pair as shown in discovery.",
        {
            "groupVersion": string("'group/version'."),
            "version": string("The version alone."),
        },
        required=["groupVersion", "version"],
    ),
    M + "ServerAddressByClientCIDR": obj(
        "The address clients from a given network should use.",
        {
            "clientCIDR": string("The client network this entry applies to."),
            "serverAddress": string("host[:port] of the server for those clients."),
        },
        required=["clientCIDR", "serverAddress"],
    ),
}
