"""OpenAPI definitions of apps/v1: Deployment, ReplicaSet, StatefulSet,
DaemonSet and ControllerRevision, with their spec, status, strategy and
condition types.

Field names, types, required fields and patch metadata follow upstream v1.32;
the descriptions are kubeling's own.
"""

from __future__ import annotations

from kubeling.api.schemas import dsl

P = "io.k8s.api.apps.v1."
POD_TEMPLATE = "io.k8s.api.core.v1.PodTemplateSpec"


def _gvk(kind: str) -> tuple[str, str, str]:
    return ("apps", "v1", kind)


def _condition(owner: str, *, with_update_time: bool = False) -> dsl.Schema:
    props: dict[str, dsl.Schema] = {
        "type": dsl.string(f"Which aspect of the {owner} this condition reports on."),
        "status": dsl.string("Whether the condition holds: True, False or Unknown."),
    }
    if with_update_time:
        props["lastUpdateTime"] = dsl.time("When the condition was last refreshed by its controller.")
    props["lastTransitionTime"] = dsl.time("When the status last flipped from one value to another.")
    props["reason"] = dsl.string("A one-word CamelCase cause of the last transition.")
    props["message"] = dsl.string("Readable details about the last transition.")
    return dsl.obj(f"One observed state of a {owner}.", props, required=["type", "status"])


def _conditions(owner: str) -> dsl.Schema:
    return dsl.array(
        dsl.ref(P + owner + "Condition"),
        f"The latest observations of the {owner}'s state.",
        merge_key="type",
        strategy="merge",
        list_type="map",
        list_map_keys=["type"],
    )


def _selector(what: str) -> dsl.Schema:
    return dsl.meta(
        "LabelSelector",
        f"Which pods belong to this {what}; it must match the template's labels and cannot change after creation.",
    )


# Shared fields are built by functions, not module constants, so no two
# definitions share a dict that a later transformation might edit in place.
def _min_ready() -> dsl.Schema:
    return dsl.integer(
        "How many seconds a new pod must stay ready, with no container crashing, before it counts as "
        "available. Defaults to 0."
    )


def _collisions() -> dsl.Schema:
    return dsl.integer(
        "How many times a template hash collided; the controller folds it into the next revision name."
    )


def _observed() -> dsl.Schema:
    return dsl.int64("The metadata.generation the controller last acted on.")


DEFINITIONS: dict[str, dsl.Schema] = {
    # --- Deployment ---------------------------------------------------------------
    P + "Deployment": dsl.obj(
        "Declarative updates for pods through ReplicaSets: a desired pod template and replica count, "
        "rolled out by a strategy.",
        dsl.kind_properties(
            dsl.ref(P + "DeploymentSpec", "What the Deployment should look like."),
            dsl.ref(P + "DeploymentStatus", "What the controller last observed; written by the system."),
        ),
        gvk=_gvk("Deployment"),
    ),
    P + "DeploymentList": dsl.list_kind(P + "Deployment", "A list of Deployments.", _gvk("DeploymentList")),
    P + "DeploymentSpec": dsl.obj(
        "The desired state of a Deployment.",
        {
            "replicas": dsl.integer("How many pods should run. Defaults to 1."),
            "selector": _selector("Deployment"),
            "template": dsl.ref(POD_TEMPLATE, "The pods to create. Its restartPolicy may only be Always."),
            "strategy": {
                **dsl.ref(P + "DeploymentStrategy", "How existing pods are replaced by new ones."),
                "x-kubernetes-patch-strategy": "retainKeys",
            },
            "minReadySeconds": _min_ready(),
            "revisionHistoryLimit": dsl.integer(
                "How many old ReplicaSets to keep for rollback. Defaults to 10."
            ),
            "paused": dsl.boolean("When true the controller stops rolling out template changes."),
            "progressDeadlineSeconds": dsl.integer(
                "Seconds a rollout may make no progress before the Progressing condition turns False with "
                "reason ProgressDeadlineExceeded. Defaults to 600; must exceed minReadySeconds."
            ),
        },
        required=["selector", "template"],
    ),
    P + "DeploymentStrategy": dsl.obj(
        "How a Deployment replaces old pods with new ones.",
        {
            "type": dsl.string(
                "Recreate (kill all old pods first) or RollingUpdate (the default: replace gradually).",
                enum=["Recreate", "RollingUpdate"],
            ),
            "rollingUpdate": dsl.ref(
                P + "RollingUpdateDeployment", "Tuning for a rolling update; only with type RollingUpdate."
            ),
        },
    ),
    P + "RollingUpdateDeployment": dsl.obj(
        "Limits that pace a Deployment's rolling update.",
        {
            "maxUnavailable": dsl.int_or_string(
                "How many pods (or what percentage of the desired count, rounded down) may be unavailable "
                "during the update. Defaults to 25%; cannot be 0 when maxSurge is 0."
            ),
            "maxSurge": dsl.int_or_string(
                "How many pods (or what percentage, rounded up) may exist above the desired count during the "
                "update. Defaults to 25%; cannot be 0 when maxUnavailable is 0."
            ),
        },
    ),
    P + "DeploymentStatus": dsl.obj(
        "The observed state of a Deployment.",
        {
            "observedGeneration": _observed(),
            "replicas": dsl.integer("Pods selected by this Deployment that are not terminating."),
            "updatedReplicas": dsl.integer("Pods that run the current template."),
            "readyReplicas": dsl.integer("Pods with the Ready condition."),
            "availableReplicas": dsl.integer("Pods that have been ready for at least minReadySeconds."),
            "unavailableReplicas": dsl.integer(
                "Pods still needed for the Deployment to be fully available: missing or not yet available."
            ),
            "conditions": _conditions("Deployment"),
            "collisionCount": _collisions(),
        },
    ),
    P + "DeploymentCondition": _condition("Deployment", with_update_time=True),
    # --- ReplicaSet -----------------------------------------------------------------
    P + "ReplicaSet": dsl.obj(
        "Keeps a given number of identical pods running.",
        dsl.kind_properties(
            dsl.ref(P + "ReplicaSetSpec", "What the ReplicaSet should look like."),
            dsl.ref(P + "ReplicaSetStatus", "What the controller last observed; written by the system."),
        ),
        gvk=_gvk("ReplicaSet"),
    ),
    P + "ReplicaSetList": dsl.list_kind(P + "ReplicaSet", "A list of ReplicaSets.", _gvk("ReplicaSetList")),
    P + "ReplicaSetSpec": dsl.obj(
        "The desired state of a ReplicaSet.",
        {
            "replicas": dsl.integer("How many pods should run. Defaults to 1."),
            "minReadySeconds": _min_ready(),
            "selector": dsl.meta(
                "LabelSelector",
                "Which pods count toward the replica count; it must match the template's labels.",
            ),
            "template": dsl.ref(POD_TEMPLATE, "The pods to create when too few exist."),
        },
        required=["selector"],
    ),
    P + "ReplicaSetStatus": dsl.obj(
        "The observed state of a ReplicaSet.",
        {
            "replicas": dsl.integer("How many pods the ReplicaSet currently has."),
            "fullyLabeledReplicas": dsl.integer("Pods whose labels match the template's labels."),
            "readyReplicas": dsl.integer("Pods with the Ready condition."),
            "availableReplicas": dsl.integer("Pods that have been ready for at least minReadySeconds."),
            "observedGeneration": dsl.int64("The generation of the ReplicaSet the controller last acted on."),
            "conditions": _conditions("ReplicaSet"),
        },
        required=["replicas"],
    ),
    P + "ReplicaSetCondition": _condition("ReplicaSet"),
    # --- StatefulSet ----------------------------------------------------------------
    P + "StatefulSet": dsl.obj(
        "Pods with stable ordinal identities and, optionally, per-pod persistent volumes, created and "
        "updated in order.",
        dsl.kind_properties(
            dsl.ref(P + "StatefulSetSpec", "What the StatefulSet should look like."),
            dsl.ref(P + "StatefulSetStatus", "What the controller last observed; written by the system."),
        ),
        gvk=_gvk("StatefulSet"),
    ),
    P + "StatefulSetList": dsl.list_kind(
        P + "StatefulSet", "A list of StatefulSets.", _gvk("StatefulSetList")
    ),
    P + "StatefulSetSpec": dsl.obj(
        "The desired state of a StatefulSet.",
        {
            "replicas": dsl.integer("How many pods should run. Defaults to 1."),
            "selector": dsl.meta(
                "LabelSelector",
                "Which pods count toward the replica count; it must match the template's labels.",
            ),
            "template": dsl.ref(
                POD_TEMPLATE, "The pods to create; each gets a name and identity from its ordinal."
            ),
            "volumeClaimTemplates": dsl.array(
                dsl.ref("io.k8s.api.core.v1.PersistentVolumeClaim"),
                "Claims made once per pod; each needs a matching volume mount in the template and takes "
                "precedence over a template volume of the same name.",
                list_type="atomic",
            ),
            "serviceName": dsl.string(
                "The headless Service that gives the pods their network identity "
                "(<pod>.<serviceName>.<namespace>.svc.<domain>)."
            ),
            "podManagementPolicy": dsl.string(
                "OrderedReady (the default: one pod at a time, in ordinal order) or Parallel (all at once) "
                "for scaling.",
                enum=["OrderedReady", "Parallel"],
            ),
            "updateStrategy": dsl.ref(
                P + "StatefulSetUpdateStrategy", "How pods are updated when the template changes."
            ),
            "revisionHistoryLimit": dsl.integer("How many old ControllerRevisions to keep. Defaults to 10."),
            "minReadySeconds": _min_ready(),
            "persistentVolumeClaimRetentionPolicy": dsl.ref(
                P + "StatefulSetPersistentVolumeClaimRetentionPolicy",
                "What becomes of claims made from volumeClaimTemplates when the set is deleted or scaled down.",
            ),
            "ordinals": dsl.ref(P + "StatefulSetOrdinals", "How replicas are numbered."),
        },
        required=["selector", "template", "serviceName"],
    ),
    P + "StatefulSetUpdateStrategy": dsl.obj(
        "How a StatefulSet rolls out template changes.",
        {
            "type": dsl.string(
                "RollingUpdate (the default: replace pods in reverse ordinal order) or OnDelete (only when a "
                "pod is deleted by hand).",
                enum=["OnDelete", "RollingUpdate"],
            ),
            "rollingUpdate": dsl.ref(
                P + "RollingUpdateStatefulSetStrategy",
                "Tuning for a rolling update; only with type RollingUpdate.",
            ),
        },
    ),
    P + "RollingUpdateStatefulSetStrategy": dsl.obj(
        "Limits on a StatefulSet's rolling update.",
        {
            "partition": dsl.integer(
                "Only pods with an ordinal at or above this number are updated; the others keep the old "
                "revision. Defaults to 0."
            ),
            "maxUnavailable": dsl.int_or_string(
                "How many pods (or what percentage, rounded up, at least 1) may be unavailable during the "
                "update. Defaults to 1. Needs the MaxUnavailableStatefulSet feature."
            ),
        },
    ),
    P + "StatefulSetPersistentVolumeClaimRetentionPolicy": dsl.obj(
        "Whether claims created from a StatefulSet's volumeClaimTemplates are kept or deleted.",
        {
            "whenDeleted": dsl.string(
                "On deletion of the StatefulSet: Retain (the default) keeps the claims, Delete removes them."
            ),
            "whenScaled": dsl.string(
                "On scale-down: Retain (the default) keeps the claims of removed pods, Delete removes them."
            ),
        },
    ),
    P + "StatefulSetOrdinals": dsl.obj(
        "How a StatefulSet numbers its replicas.",
        {
            "start": dsl.integer(
                "The first ordinal; replicas take start .. start+replicas-1. Defaults to 0."
            ),
        },
    ),
    P + "StatefulSetStatus": dsl.obj(
        "The observed state of a StatefulSet.",
        {
            "observedGeneration": _observed(),
            "replicas": dsl.integer("How many pods the StatefulSet controller created."),
            "readyReplicas": dsl.integer("Pods with the Ready condition."),
            "currentReplicas": dsl.integer("Pods that run the revision named by currentRevision."),
            "updatedReplicas": dsl.integer("Pods that run the revision named by updateRevision."),
            "currentRevision": dsl.string("The revision used for pods below the update boundary."),
            "updateRevision": dsl.string("The revision being rolled out."),
            "collisionCount": _collisions(),
            "conditions": _conditions("StatefulSet"),
            "availableReplicas": dsl.integer("Pods that have been ready for at least minReadySeconds."),
        },
        required=["replicas"],
    ),
    P + "StatefulSetCondition": _condition("StatefulSet"),
    # --- DaemonSet ------------------------------------------------------------------
    P + "DaemonSet": dsl.obj(
        "Runs one copy of a pod on every eligible node.",
        dsl.kind_properties(
            dsl.ref(P + "DaemonSetSpec", "What the DaemonSet should look like."),
            dsl.ref(P + "DaemonSetStatus", "What the controller last observed; written by the system."),
        ),
        gvk=_gvk("DaemonSet"),
    ),
    P + "DaemonSetList": dsl.list_kind(P + "DaemonSet", "A list of DaemonSets.", _gvk("DaemonSetList")),
    P + "DaemonSetSpec": dsl.obj(
        "The desired state of a DaemonSet.",
        {
            "selector": _selector("DaemonSet"),
            "template": dsl.ref(
                POD_TEMPLATE,
                "The pod to run on each node that its node selector and affinity admit; restartPolicy must "
                "be Always.",
            ),
            "updateStrategy": dsl.ref(
                P + "DaemonSetUpdateStrategy", "How pods are replaced when the template changes."
            ),
            "minReadySeconds": _min_ready(),
            "revisionHistoryLimit": dsl.integer("How many old ControllerRevisions to keep. Defaults to 10."),
        },
        required=["selector", "template"],
    ),
    P + "DaemonSetUpdateStrategy": dsl.obj(
        "How a DaemonSet rolls out template changes.",
        {
            "type": dsl.string(
                "RollingUpdate (the default) or OnDelete (replace a pod only once it is deleted by hand).",
                enum=["OnDelete", "RollingUpdate"],
            ),
            "rollingUpdate": dsl.ref(
                P + "RollingUpdateDaemonSet", "Tuning for a rolling update; only with type RollingUpdate."
            ),
        },
    ),
    P + "RollingUpdateDaemonSet": dsl.obj(
        "Limits that pace a DaemonSet's rolling update.",
        {
            "maxUnavailable": dsl.int_or_string(
                "How many nodes (or what percentage of eligible nodes, rounded up) may lack an available "
                "daemon pod during the update. Defaults to 1; cannot be 0 when maxSurge is 0."
            ),
            "maxSurge": dsl.int_or_string(
                "How many nodes (or what percentage, rounded up) may run an old and a new daemon pod at once "
                "during the update. Defaults to 0; cannot be 0 when maxUnavailable is 0."
            ),
        },
    ),
    P + "DaemonSetStatus": dsl.obj(
        "The observed state of a DaemonSet.",
        {
            "currentNumberScheduled": dsl.integer("Nodes that run at least one daemon pod and should."),
            "numberMisscheduled": dsl.integer("Nodes that run a daemon pod but should not."),
            "desiredNumberScheduled": dsl.integer("Nodes that should run the daemon pod."),
            "numberReady": dsl.integer("Nodes whose daemon pod has the Ready condition."),
            "observedGeneration": dsl.int64("The generation of the DaemonSet the controller last acted on."),
            "updatedNumberScheduled": dsl.integer("Nodes that run the daemon pod from the current template."),
            "numberAvailable": dsl.integer(
                "Nodes whose daemon pod has been ready for at least minReadySeconds."
            ),
            "numberUnavailable": dsl.integer("Nodes that should run the daemon pod but have none available."),
            "collisionCount": _collisions(),
            "conditions": _conditions("DaemonSet"),
        },
        required=["currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"],
    ),
    P + "DaemonSetCondition": _condition("DaemonSet"),
    # --- ControllerRevision --------------------------------------------------------
    P + "ControllerRevision": dsl.obj(
        "An immutable snapshot of state that a controller (StatefulSet, DaemonSet) can roll back to.",
        {
            **dsl.kind_properties(),
            "data": dsl.ref("io.k8s.apimachinery.pkg.runtime.RawExtension", "The recorded state."),
            "revision": dsl.int64("The revision number this snapshot represents."),
        },
        required=["revision"],
        gvk=_gvk("ControllerRevision"),
    ),
    P + "ControllerRevisionList": dsl.list_kind(
        P + "ControllerRevision", "A list of ControllerRevisions.", _gvk("ControllerRevisionList")
    ),
}
