"""OpenAPI definitions of policy/v1: PodDisruptionBudget and Eviction (the
body of the pods/eviction subresource).

Field names, types, required fields and patch metadata follow upstream v1.32;
the descriptions are kubeling's own.
"""

from __future__ import annotations

from kubeling.api.schemas import dsl

P = "io.k8s.api.policy.v1."

DEFINITIONS: dict[str, dsl.Schema] = {
    P + "PodDisruptionBudget": dsl.obj(
        "A limit on how many pods of a set voluntary disruptions (such as evictions) may take down at once.",
        dsl.kind_properties(
            dsl.ref(P + "PodDisruptionBudgetSpec", "Which pods the budget covers and how many must stay up."),
            dsl.ref(
                P + "PodDisruptionBudgetStatus", "What the controller last observed; written by the system."
            ),
        ),
        gvk=("policy", "v1", "PodDisruptionBudget"),
    ),
    P + "PodDisruptionBudgetList": dsl.list_kind(
        P + "PodDisruptionBudget",
        "A list of PodDisruptionBudgets.",
        ("policy", "v1", "PodDisruptionBudgetList"),
    ),
    P + "PodDisruptionBudgetSpec": dsl.obj(
        "The desired protection of a PodDisruptionBudget; set minAvailable or maxUnavailable, not both.",
        {
            "minAvailable": dsl.int_or_string(
                "An eviction is allowed only if at least this many (or this percentage) of the selected "
                "pods stay available afterwards; 100% forbids all evictions."
            ),
            "selector": {
                **dsl.meta(
                    "LabelSelector",
                    "The pods the budget covers; an empty selector covers every pod in the namespace.",
                ),
                "x-kubernetes-patch-strategy": "replace",
            },
            "maxUnavailable": dsl.int_or_string(
                "An eviction is allowed only if at most this many (or this percentage) of the selected "
                "pods are unavailable afterwards; 0 forbids all evictions."
            ),
            "unhealthyPodEvictionPolicy": dsl.string(
                "When running but not-ready pods may be evicted: IfHealthyBudget (the default: only while "
                "the budget is not disrupted) or AlwaysAllow (regardless of the budget).",
                enum=["AlwaysAllow", "IfHealthyBudget"],
            ),
        },
    ),
    P + "PodDisruptionBudgetStatus": dsl.obj(
        "The observed state of a PodDisruptionBudget; may lag behind reality.",
        {
            "observedGeneration": dsl.int64("The generation of the budget the controller last acted on."),
            "disruptedPods": dsl.map_of(
                dsl.time(),
                "Pods whose eviction the API server allowed but which have not yet been seen deleted, with "
                "the time of the eviction; entries older than about two minutes are dropped.",
            ),
            "disruptionsAllowed": dsl.integer("How many more pod disruptions are allowed right now."),
            "currentHealthy": dsl.integer("Selected pods that are currently healthy."),
            "desiredHealthy": dsl.integer("The fewest healthy pods the budget wants."),
            "expectedPods": dsl.integer("How many pods the budget counts in total."),
            "conditions": dsl.array(
                dsl.meta("Condition"),
                "The latest observations of the budget's state, such as DisruptionAllowed.",
                merge_key="type",
                strategy="merge",
                list_type="map",
                list_map_keys=["type"],
            ),
        },
        required=["disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods"],
    ),
    P + "Eviction": dsl.obj(
        "A request to evict a pod while honouring disruption budgets; POSTed to a pod's eviction "
        "subresource.",
        {
            **dsl.kind_properties(),
            "deleteOptions": dsl.meta(
                "DeleteOptions", "Options for the deletion that the eviction performs."
            ),
        },
        gvk=("policy", "v1", "Eviction"),
    ),
}
