"""OpenAPI definitions of discovery.k8s.io/v1: EndpointSlice, a shard of the
network endpoints behind a Service.

Field names, types, required fields and list types follow upstream v1.32; the
descriptions are kubeling's own. The EndpointPort here is discovery's own
(io.k8s.api.discovery.v1.EndpointPort), not core/v1's.
"""

from __future__ import annotations

from kubeling.api.schemas import dsl

P = "io.k8s.api.discovery.v1."
GROUP = "discovery.k8s.io"

DEFINITIONS: dict[str, dsl.Schema] = {
    P + "EndpointSlice": dsl.obj(
        "A subset of the endpoints of a Service; the endpoints of one Service may span several slices, "
        "tied together by the kubernetes.io/service-name label.",
        {
            **dsl.kind_properties(),
            "addressType": dsl.string(
                "The kind of address every endpoint in the slice carries: IPv4, IPv6 or FQDN. Immutable.",
                enum=["FQDN", "IPv4", "IPv6"],
            ),
            "endpoints": dsl.array(
                dsl.ref(P + "Endpoint"), "The endpoints in this slice; at most 1000.", list_type="atomic"
            ),
            "ports": dsl.array(
                dsl.ref(P + "EndpointPort"),
                "The ports every endpoint in the slice exposes; empty means no ports are defined, and a "
                'port named "" with no number means all ports. At most 100.',
                list_type="atomic",
            ),
        },
        required=["addressType", "endpoints"],
        gvk=(GROUP, "v1", "EndpointSlice"),
    ),
    P + "EndpointSliceList": dsl.list_kind(
        P + "EndpointSlice", "A list of EndpointSlices.", (GROUP, "v1", "EndpointSliceList")
    ),
    P + "Endpoint": dsl.obj(
        "One backend of a Service.",
        {
            "addresses": dsl.string_array(
                "The endpoint's addresses, of the slice's addressType; consumers use the first. "
                "Between 1 and 100.",
                list_type="set",
            ),
            "conditions": dsl.ref(P + "EndpointConditions", "The endpoint's current state."),
            "hostname": dsl.string("A DNS label naming the endpoint, used by DNS for headless Services."),
            "targetRef": dsl.ref(
                "io.k8s.api.core.v1.ObjectReference", "The object (usually a pod) behind the endpoint."
            ),
            "deprecatedTopology": dsl.string_map(
                "Topology labels of the endpoint, kept for v1beta1 compatibility; superseded by nodeName "
                "and zone, and no longer written."
            ),
            "nodeName": dsl.string("The node that hosts the endpoint."),
            "zone": dsl.string("The zone the endpoint is in."),
            "hints": dsl.ref(P + "EndpointHints", "Advice to consumers on how to route to the endpoint."),
        },
        required=["addresses"],
    ),
    P + "EndpointConditions": dsl.obj(
        "The state of an endpoint. An unset field means unknown, which consumers treat as ready or serving.",
        {
            "ready": dsl.boolean(
                "Whether the endpoint should receive traffic; false while it is terminating, unless the "
                "Service publishes not-ready addresses."
            ),
            "serving": dsl.boolean(
                "Whether the endpoint can take traffic, regardless of whether it is terminating."
            ),
            "terminating": dsl.boolean("Whether the endpoint is shutting down."),
        },
    ),
    P + "EndpointHints": dsl.obj(
        "Routing advice for an endpoint.",
        {
            "forZones": dsl.array(
                dsl.ref(P + "ForZone"),
                "The zones whose clients should use this endpoint (topology-aware routing).",
                list_type="atomic",
            ),
        },
    ),
    P + "ForZone": dsl.obj(
        "A zone an endpoint is meant to serve.",
        {"name": dsl.string("The zone's name.")},
        required=["name"],
    ),
    P + "EndpointPort": dsl.obj(
        "One port of the endpoints in a slice.",
        {
            "name": dsl.string(
                "The port's name, matching the Service port it serves; a DNS label, or empty."
            ),
            "protocol": dsl.string(
                "The IP protocol: TCP (the default), UDP or SCTP.", enum=["SCTP", "TCP", "UDP"]
            ),
            "port": dsl.integer("The port number; unset means all ports."),
            "appProtocol": dsl.string(
                "The application protocol on this port: an IANA service name, a kubernetes.io/ prefixed "
                "standard name (h2c, ws, wss) or a domain-prefixed custom name."
            ),
        },
        map_type="atomic",
    ),
}
