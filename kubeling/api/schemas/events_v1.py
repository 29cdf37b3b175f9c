"""OpenAPI definitions of events.k8s.io/v1: Event, a report of something that
happened to an object. It shares its storage with core/v1 Event.

Field names, types and required fields follow upstream v1.32; the descriptions
are kubeling's own.
"""

from __future__ import annotations

from kubeling.api.schemas import dsl

P = "io.k8s.api.events.v1."
GROUP = "events.k8s.io"

DEFINITIONS: dict[str, dsl.Schema] = {
    P + "Event": dsl.obj(
        "A report of something that happened in the cluster; events are kept only for a limited time "
        "and serve as hints, not as a record to rely on.",
        {
            **dsl.kind_properties(),
            "eventTime": dsl.micro_time("When the event was first observed."),
            "series": dsl.ref(
                P + "EventSeries", "Set when the event is a recurring one that was observed again."
            ),
            "reportingController": dsl.string(
                "The controller that emitted the event, e.g. kubernetes.io/kubelet; required for new events."
            ),
            "reportingInstance": dsl.string(
                "The instance of the controller that emitted the event, e.g. the kubelet's node name; "
                "required for new events."
            ),
            "action": dsl.string("What was done, or failed, about the regarding object; machine readable."),
            "reason": dsl.string("Why the action was taken, in CamelCase; required for new events."),
            "regarding": dsl.ref("io.k8s.api.core.v1.ObjectReference", "The object the event is about."),
            "related": dsl.ref(
                "io.k8s.api.core.v1.ObjectReference",
                "A second object involved, e.g. the node a pod was bound to.",
            ),
            "note": dsl.string("A readable description of what happened; at most 1kB."),
            "type": dsl.string("Normal or Warning; required for new events."),
            "deprecatedSource": dsl.ref(
                "io.k8s.api.core.v1.EventSource", "The core/v1 source field, kept for compatibility."
            ),
            "deprecatedFirstTimestamp": dsl.time("The core/v1 firstTimestamp, kept for compatibility."),
            "deprecatedLastTimestamp": dsl.time("The core/v1 lastTimestamp, kept for compatibility."),
            "deprecatedCount": dsl.integer("The core/v1 count, kept for compatibility."),
        },
        required=["eventTime"],
        gvk=(GROUP, "v1", "Event"),
    ),
    P + "EventList": dsl.list_kind(P + "Event", "A list of Events.", (GROUP, "v1", "EventList")),
    P + "EventSeries": dsl.obj(
        "How often a recurring event has been seen. Emitters update the series about every 30 minutes "
        "rather than on each occurrence.",
        {
            "count": dsl.integer("How many times the event has occurred since the first one."),
            "lastObservedTime": dsl.micro_time("When the event was last seen."),
        },
        required=["count", "lastObservedTime"],
    ),
}
