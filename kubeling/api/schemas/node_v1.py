"""OpenAPI definitions of node.k8s.io/v1: RuntimeClass and its parts.

Field names, types and required fields follow upstream v1.32; the descriptions
are kubeling's own.
"""

from __future__ import annotations

from kubeling.api.schemas import dsl

P = "io.k8s.api.node.v1."
GROUP = "node.k8s.io"

DEFINITIONS: dict[str, dsl.Schema] = {
    P + "RuntimeClass": dsl.obj(
        "A container runtime configuration that pods select by name with spec.runtimeClassName. "
        "Not namespaced.",
        {
            **dsl.kind_properties(),
            "handler": dsl.string(
                "Which runtime configuration on the node runs pods of this class (a DNS label; "
                "fixed once created). kubeling's nodes offer the handler \"runc\"."
            ),
            "overhead": dsl.ref(
                P + "Overhead",
                "Resources that running a pod of this class costs on top of its containers' own; "
                "admission copies them into the pod's spec.overhead.",
            ),
            "scheduling": dsl.ref(
                P + "Scheduling",
                "Where pods of this class can run; unset means every node supports the class.",
            ),
        },
        required=["handler"],
        gvk=(GROUP, "v1", "RuntimeClass"),
    ),
    P + "RuntimeClassList": dsl.list_kind(
        P + "RuntimeClass", "A list of RuntimeClasses.", (GROUP, "v1", "RuntimeClassList")
    ),
    P + "Overhead": dsl.obj(
        "The extra resources a pod of a RuntimeClass uses.",
        {
            "podFixed": dsl.quantity_map(
                "A fixed amount per pod, by resource name, added to what its containers request."
            ),
        },
    ),
    P + "Scheduling": dsl.obj(
        "Constraints that steer pods of a RuntimeClass to the nodes that support it.",
        {
            "nodeSelector": {
                **dsl.string_map(
                    "Labels a node must carry to run pods of this class; merged into the pod's "
                    "nodeSelector (a conflicting pod is refused)."
                ),
                "x-kubernetes-map-type": "atomic",
            },
            "tolerations": dsl.array(
                dsl.core("Toleration"),
                "Tolerations added to pods of this class, without duplicating ones the pod already has.",
                list_type="atomic",
            ),
        },
    ),
}
