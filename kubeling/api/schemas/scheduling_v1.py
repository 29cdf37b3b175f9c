"""OpenAPI definitions of scheduling.k8s.io/v1: PriorityClass.

Field names, types and required fields follow upstream v1.32; the descriptions
are kubeling's own.
"""

from __future__ import annotations

from kubeling.api.schemas import dsl

P = "io.k8s.api.scheduling.v1."
GROUP = "scheduling.k8s.io"

DEFINITIONS: dict[str, dsl.Schema] = {
    P + "PriorityClass": dsl.obj(
        "Maps a name that pods give as priorityClassName to an integer priority. Not namespaced.",
        {
            **dsl.kind_properties(),
            "value": dsl.integer(
                "The priority of pods in this class; higher wins. User classes may use at most one billion."
            ),
            "globalDefault": dsl.boolean(
                "Whether pods that name no class get this one; at most one class may set it."
            ),
            "description": dsl.string("What the class is for, in words."),
            "preemptionPolicy": dsl.string(
                "Whether pods of this class may evict lower-priority pods: PreemptLowerPriority (the "
                "default) or Never.",
                enum=["Never", "PreemptLowerPriority"],
            ),
        },
        required=["value"],
        gvk=(GROUP, "v1", "PriorityClass"),
    ),
    P + "PriorityClassList": dsl.list_kind(
        P + "PriorityClass", "A list of PriorityClasses.", (GROUP, "v1", "PriorityClassList")
    ),
}
