"""OpenAPI definitions of autoscaling/v1 (HorizontalPodAutoscaler, Scale) and
autoscaling/v2 (HorizontalPodAutoscaler with metrics and behavior).

Scale (autoscaling/v1) is the body of every ``/scale`` subresource.
Field names, types, required fields and patch metadata follow upstream v1.32;
the descriptions are kubeling's own.
"""

from __future__ import annotations

from kubeling.api.schemas import dsl

V1 = "io.k8s.api.autoscaling.v1."
V2 = "io.k8s.api.autoscaling.v2."


def _v1(kind: str) -> tuple[str, str, str]:
    return ("autoscaling", "v1", kind)


def _v2(kind: str) -> tuple[str, str, str]:
    return ("autoscaling", "v2", kind)


def _cross_ref_props() -> dict[str, dsl.Schema]:
    return {
        "kind": dsl.string("Kind of the target, e.g. Deployment."),
        "name": dsl.string("Name of the target, in the autoscaler's namespace."),
        "apiVersion": dsl.string("API version of the target, e.g. apps/v1."),
    }


def _min_replicas() -> dsl.Schema:
    return dsl.integer(
        "The lowest replica count the autoscaler may set. Defaults to 1; 0 is allowed only with object or "
        "external metrics (HPAScaleToZero feature)."
    )


def _max_replicas() -> dsl.Schema:
    return dsl.integer("The highest replica count the autoscaler may set; at least minReplicas.")


def _observed() -> dsl.Schema:
    return dsl.int64("The generation of the autoscaler it last acted on.")


def _last_scale() -> dsl.Schema:
    return dsl.time("When the autoscaler last changed the replica count.")


V1_DEFINITIONS: dict[str, dsl.Schema] = {
    V1 + "CrossVersionObjectReference": dsl.obj(
        "Names the scalable resource an autoscaler acts on.",
        _cross_ref_props(),
        required=["kind", "name"],
        map_type="atomic",
    ),
    V1 + "HorizontalPodAutoscaler": dsl.obj(
        "Scales a workload between bounds to keep its pods' CPU use near a target.",
        dsl.kind_properties(
            dsl.ref(V1 + "HorizontalPodAutoscalerSpec", "The target and the scaling bounds."),
            dsl.ref(V1 + "HorizontalPodAutoscalerStatus", "What the autoscaler last observed."),
        ),
        gvk=_v1("HorizontalPodAutoscaler"),
    ),
    V1 + "HorizontalPodAutoscalerList": dsl.list_kind(
        V1 + "HorizontalPodAutoscaler",
        "A list of HorizontalPodAutoscalers.",
        _v1("HorizontalPodAutoscalerList"),
    ),
    V1 + "HorizontalPodAutoscalerSpec": dsl.obj(
        "The desired behaviour of an autoscaling/v1 HorizontalPodAutoscaler.",
        {
            "scaleTargetRef": dsl.ref(
                V1 + "CrossVersionObjectReference",
                "The resource to scale; it must serve a scale subresource.",
            ),
            "minReplicas": _min_replicas(),
            "maxReplicas": _max_replicas(),
            "targetCPUUtilizationPercentage": dsl.integer(
                "The average CPU use to aim for, as a percentage of the pods' CPU requests. Defaults to 80."
            ),
        },
        required=["scaleTargetRef", "maxReplicas"],
    ),
    V1 + "HorizontalPodAutoscalerStatus": dsl.obj(
        "The observed state of an autoscaling/v1 HorizontalPodAutoscaler.",
        {
            "observedGeneration": _observed(),
            "lastScaleTime": _last_scale(),
            "currentReplicas": dsl.integer("How many pods the target had when last observed."),
            "desiredReplicas": dsl.integer("How many pods the autoscaler last wanted."),
            "currentCPUUtilizationPercentage": dsl.integer(
                "The pods' recent average CPU use as a percentage of their requests."
            ),
        },
        required=["currentReplicas", "desiredReplicas"],
    ),
    V1 + "Scale": dsl.obj(
        "The replica count of a scalable resource: the body of its scale subresource.",
        dsl.kind_properties(
            dsl.ref(V1 + "ScaleSpec", "The wanted replica count."),
            dsl.ref(V1 + "ScaleStatus", "The current replica count; read-only."),
        ),
        gvk=_v1("Scale"),
    ),
    V1 + "ScaleSpec": dsl.obj(
        "The wanted size of a scalable resource.",
        {"replicas": dsl.integer("The wanted number of instances.")},
    ),
    V1 + "ScaleStatus": dsl.obj(
        "The observed size of a scalable resource.",
        {
            "replicas": dsl.integer("The number of instances observed."),
            "selector": dsl.string(
                'The pod label selector of the resource, serialized in label-query form ("app=web,tier in (a,b)").'
            ),
        },
        required=["replicas"],
    ),
}


def _metric_choice(prefix: str, *, status: bool) -> dict[str, dsl.Schema]:
    """The type discriminator plus one optional member per metric source."""
    word = "Status" if status else "Source"
    what = "observed value" if status else "metric"
    return {
        "type": dsl.string("Which member below is set: Object, Pods, Resource, ContainerResource or External."),
        "object": dsl.ref(
            prefix + f"ObjectMetric{word}", f"A {what} describing one other object in the namespace."
        ),
        "pods": dsl.ref(prefix + f"PodsMetric{word}", f"A {what} averaged over the target's pods."),
        "resource": dsl.ref(
            prefix + f"ResourceMetric{word}",
            f"A {what} of a resource (cpu, memory) summed over each pod's containers.",
        ),
        "containerResource": dsl.ref(
            prefix + f"ContainerResourceMetric{word}",
            f"A {what} of a resource for one named container in each pod.",
        ),
        "external": dsl.ref(
            prefix + f"ExternalMetric{word}", f"A {what} from outside the cluster, not tied to any object."
        ),
    }


def _ident() -> dsl.Schema:
    return dsl.ref(V2 + "MetricIdentifier", "Which metric.")


def _target() -> dsl.Schema:
    return dsl.ref(V2 + "MetricTarget", "The value to aim for.")


def _current() -> dsl.Schema:
    return dsl.ref(V2 + "MetricValueStatus", "The value last observed.")


def _described() -> dsl.Schema:
    return dsl.ref(V2 + "CrossVersionObjectReference", "The object the metric describes.")


def _resource_name() -> dsl.Schema:
    return dsl.string("The resource the metric is about, e.g. cpu or memory.")


def _container() -> dsl.Schema:
    return dsl.string("The container whose usage counts.")


V2_DEFINITIONS: dict[str, dsl.Schema] = {
    V2 + "CrossVersionObjectReference": dsl.obj(
        "Names the scalable resource an autoscaler acts on.",
        _cross_ref_props(),
        required=["kind", "name"],
    ),
    V2 + "HorizontalPodAutoscaler": dsl.obj(
        "Scales a workload between bounds to keep the metrics it names near their targets.",
        dsl.kind_properties(
            dsl.ref(V2 + "HorizontalPodAutoscalerSpec", "The target, bounds, metrics and scaling behaviour."),
            dsl.ref(V2 + "HorizontalPodAutoscalerStatus", "What the autoscaler last observed."),
        ),
        gvk=_v2("HorizontalPodAutoscaler"),
    ),
    V2 + "HorizontalPodAutoscalerList": dsl.list_kind(
        V2 + "HorizontalPodAutoscaler",
        "A list of HorizontalPodAutoscalers.",
        _v2("HorizontalPodAutoscalerList"),
    ),
    V2 + "HorizontalPodAutoscalerSpec": dsl.obj(
        "The desired behaviour of a HorizontalPodAutoscaler.",
        {
            "scaleTargetRef": dsl.ref(
                V2 + "CrossVersionObjectReference",
                "The resource to scale; it must serve a scale subresource.",
            ),
            "minReplicas": _min_replicas(),
            "maxReplicas": _max_replicas(),
            "metrics": dsl.array(
                dsl.ref(V2 + "MetricSpec"),
                "The metrics to track; the largest replica count any of them asks for wins. Defaults to "
                "80% average CPU utilization.",
                list_type="atomic",
            ),
            "behavior": dsl.ref(
                V2 + "HorizontalPodAutoscalerBehavior",
                "How fast to scale up and down; unset means the default behaviour.",
            ),
        },
        required=["scaleTargetRef", "maxReplicas"],
    ),
    V2 + "MetricSpec": dsl.obj(
        "One metric to scale on; exactly the member named by type is set.",
        _metric_choice(V2, status=False),
        required=["type"],
    ),
    V2 + "HorizontalPodAutoscalerBehavior": dsl.obj(
        "Separate scaling rules for the up and the down direction.",
        {
            "scaleUp": dsl.ref(
                V2 + "HPAScalingRules",
                "Rules for growing. Default: no stabilization; per 15s add the larger of 4 pods or 100%.",
            ),
            "scaleDown": dsl.ref(
                V2 + "HPAScalingRules",
                "Rules for shrinking. Default: 300s stabilization; per 15s remove up to 100%.",
            ),
        },
    ),
    V2 + "HPAScalingRules": dsl.obj(
        "Rate limits for scaling in one direction.",
        {
            "stabilizationWindowSeconds": dsl.integer(
                "Seconds of past recommendations considered, to avoid flapping: the most conservative one in "
                "the window is used. 0 to 3600."
            ),
            "selectPolicy": dsl.string(
                "Which policy applies when several do: Max (the default, the largest change), Min (the "
                "smallest) or Disabled (no scaling in this direction)."
            ),
            "policies": dsl.array(
                dsl.ref(V2 + "HPAScalingPolicy"),
                "The allowed changes per period; at least one is needed unless selectPolicy is Disabled.",
                list_type="atomic",
            ),
        },
    ),
    V2 + "HPAScalingPolicy": dsl.obj(
        "One limit on how much the replica count may change within a period.",
        {
            "type": dsl.string(
                "Pods (value is a pod count) or Percent (value is a percentage of current pods)."
            ),
            "value": dsl.integer("The allowed change; greater than zero."),
            "periodSeconds": dsl.integer("The window the limit applies to, in seconds: 1 to 1800."),
        },
        required=["type", "value", "periodSeconds"],
    ),
    V2 + "ObjectMetricSource": dsl.obj(
        "A metric describing one Kubernetes object (e.g. hits-per-second on an Ingress).",
        {"describedObject": _described(), "target": _target(), "metric": _ident()},
        required=["describedObject", "target", "metric"],
    ),
    V2 + "PodsMetricSource": dsl.obj(
        "A per-pod metric averaged over the target's pods; the target must be an average value.",
        {"metric": _ident(), "target": _target()},
        required=["metric", "target"],
    ),
    V2 + "ResourceMetricSource": dsl.obj(
        "A resource usage metric known to Kubernetes, as reported for each pod; the target is an average "
        "value or an average utilization of the pods' requests.",
        {"name": _resource_name(), "target": _target()},
        required=["name", "target"],
    ),
    V2 + "ContainerResourceMetricSource": dsl.obj(
        "Like ResourceMetricSource, but counting only one container in each pod.",
        {"name": _resource_name(), "target": _target(), "container": _container()},
        required=["name", "target", "container"],
    ),
    V2 + "ExternalMetricSource": dsl.obj(
        "A metric from outside the cluster, such as a cloud queue length.",
        {"metric": _ident(), "target": _target()},
        required=["metric", "target"],
    ),
    V2 + "MetricIdentifier": dsl.obj(
        "Names a metric, optionally narrowed by labels.",
        {
            "name": dsl.string("The metric's name."),
            "selector": dsl.meta(
                "LabelSelector",
                "Labels passed to the metrics server to narrow the query; unset means the name alone.",
            ),
        },
        required=["name"],
    ),
    V2 + "MetricTarget": dsl.obj(
        "A target value for a metric; the field matching type is set.",
        {
            "type": dsl.string("Utilization, Value or AverageValue."),
            "value": dsl.quantity("The target value of the metric."),
            "averageValue": dsl.quantity("The target value averaged over all relevant pods."),
            "averageUtilization": dsl.integer(
                "The target average use as a percentage of the pods' requests; only for resource metrics."
            ),
        },
        required=["type"],
    ),
    V2 + "HorizontalPodAutoscalerStatus": dsl.obj(
        "The observed state of a HorizontalPodAutoscaler.",
        {
            "observedGeneration": _observed(),
            "lastScaleTime": _last_scale(),
            "currentReplicas": dsl.integer("How many pods the target had when last observed."),
            "desiredReplicas": dsl.integer("How many pods the autoscaler last wanted."),
            "currentMetrics": dsl.array(
                dsl.ref(V2 + "MetricStatus"), "The last values read for each metric.", list_type="atomic"
            ),
            "conditions": dsl.array(
                dsl.ref(V2 + "HorizontalPodAutoscalerCondition"),
                "The latest observations of the autoscaler's state.",
                merge_key="type",
                strategy="merge",
                list_type="map",
                list_map_keys=["type"],
            ),
        },
        required=["desiredReplicas"],
    ),
    V2 + "HorizontalPodAutoscalerCondition": dsl.obj(
        "One observed state of a HorizontalPodAutoscaler.",
        {
            "type": dsl.string("Which aspect this condition reports on, e.g. AbleToScale or ScalingActive."),
            "status": dsl.string("Whether the condition holds: True, False or Unknown."),
            "lastTransitionTime": dsl.time("When the status last flipped from one value to another."),
            "reason": dsl.string("A one-word CamelCase cause of the last transition."),
            "message": dsl.string("Readable details about the last transition."),
        },
        required=["type", "status"],
    ),
    V2 + "MetricStatus": dsl.obj(
        "The last reading of one metric; exactly the member named by type is set.",
        _metric_choice(V2, status=True),
        required=["type"],
    ),
    V2 + "ObjectMetricStatus": dsl.obj(
        "The last reading of a metric describing one Kubernetes object.",
        {"metric": _ident(), "current": _current(), "describedObject": _described()},
        required=["metric", "current", "describedObject"],
    ),
    V2 + "PodsMetricStatus": dsl.obj(
        "The last reading of a per-pod metric.",
        {"metric": _ident(), "current": _current()},
        required=["metric", "current"],
    ),
    V2 + "ResourceMetricStatus": dsl.obj(
        "The last reading of a resource metric over the target's pods.",
        {"name": _resource_name(), "current": _current()},
        required=["name", "current"],
    ),
    V2 + "ContainerResourceMetricStatus": dsl.obj(
        "The last reading of a resource metric for one container in each pod.",
        {"name": _resource_name(), "current": _current(), "container": _container()},
        required=["name", "current", "container"],
    ),
    V2 + "ExternalMetricStatus": dsl.obj(
        "The last reading of a metric from outside the cluster.",
        {"metric": _ident(), "current": _current()},
        required=["metric", "current"],
    ),
    V2 + "MetricValueStatus": dsl.obj(
        "A metric's current value.",
        {
            "value": dsl.quantity("The current value of the metric."),
            "averageValue": dsl.quantity("The current value averaged over all relevant pods."),
            "averageUtilization": dsl.integer(
                "The current average use as a percentage of the pods' requests."
            ),
        },
    ),
}

DEFINITIONS: dict[str, dsl.Schema] = {**V1_DEFINITIONS, **V2_DEFINITIONS}
