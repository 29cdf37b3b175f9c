"""OpenAPI definitions of networking.k8s.io/v1: Ingress, IngressClass and
NetworkPolicy.

Field names, types, required fields and list types follow upstream v1.32; the
descriptions are kubeling's own.
"""

from __future__ import annotations

from kubeling.api.schemas import dsl

P = "io.k8s.api.networking.v1."
GROUP = "networking.k8s.io"
PROTOCOLS = ("SCTP", "TCP", "UDP")


def _gvk(kind: str) -> tuple[str, str, str]:
    return (GROUP, "v1", kind)


def _ports() -> dsl.Schema:
    return dsl.array(
        dsl.ref(P + "NetworkPolicyPort"),
        "The ports the rule allows; empty or missing means every port.",
        list_type="atomic",
    )


def _peers(direction: str) -> dsl.Schema:
    return dsl.array(
        dsl.ref(P + "NetworkPolicyPeer"),
        f"The peers traffic may go {direction}; empty or missing means any peer. Matches any one peer.",
        list_type="atomic",
    )


NETWORK_POLICY: dict[str, dsl.Schema] = {
    P + "NetworkPolicy": dsl.obj(
        "Which traffic a set of pods may send and receive.",
        dsl.kind_properties(
            dsl.ref(P + "NetworkPolicySpec", "The pods the policy applies to and its rules.")
        ),
        gvk=_gvk("NetworkPolicy"),
    ),
    P + "NetworkPolicyList": dsl.list_kind(
        P + "NetworkPolicy", "A list of NetworkPolicies.", _gvk("NetworkPolicyList")
    ),
    P + "NetworkPolicySpec": dsl.obj(
        "The pods a NetworkPolicy isolates and the traffic it allows them.",
        {
            "podSelector": dsl.meta(
                "LabelSelector",
                "The pods in this namespace the policy applies to; an empty selector picks all of them.",
            ),
            "ingress": dsl.array(
                dsl.ref(P + "NetworkPolicyIngressRule"),
                "Allowed incoming traffic; traffic matching any rule is allowed. Empty means the selected "
                "pods accept nothing (when Ingress is among policyTypes).",
                list_type="atomic",
            ),
            "egress": dsl.array(
                dsl.ref(P + "NetworkPolicyEgressRule"),
                "Allowed outgoing traffic; traffic matching any rule is allowed. Empty means the selected "
                "pods send nothing (when Egress is among policyTypes).",
                list_type="atomic",
            ),
            "policyTypes": dsl.array(
                {"type": "string", "default": "", "enum": ["Egress", "Ingress"]},
                "Which directions the policy isolates: Ingress, Egress or both. Unset means Ingress, plus "
                "Egress when egress rules are given.",
                list_type="atomic",
            ),
        },
        required=["podSelector"],
    ),
    P + "NetworkPolicyIngressRule": dsl.obj(
        "Traffic allowed in: it must match both ports and from.",
        {"ports": _ports(), "from": _peers("from")},
    ),
    P + "NetworkPolicyEgressRule": dsl.obj(
        "Traffic allowed out: it must match both ports and to.",
        {"ports": _ports(), "to": _peers("to")},
    ),
    P + "NetworkPolicyPort": dsl.obj(
        "A port, or range of ports, a rule allows.",
        {
            "protocol": dsl.string("The IP protocol: TCP (the default), UDP or SCTP.", enum=list(PROTOCOLS)),
            "port": dsl.int_or_string("A port number or named container port; unset means every port."),
            "endPort": dsl.integer(
                "With a numeric port: the last port of the range port..endPort, at least port."
            ),
        },
    ),
    P + "NetworkPolicyPeer": dsl.obj(
        "One source or destination of traffic; set ipBlock alone, or pod and/or namespace selectors.",
        {
            "podSelector": dsl.meta(
                "LabelSelector",
                "Pods to match; in the policy's namespace unless namespaceSelector is set too.",
            ),
            "namespaceSelector": dsl.meta(
                "LabelSelector",
                "Namespaces whose pods match (all of their pods unless podSelector narrows them); an empty "
                "selector matches every namespace.",
            ),
            "ipBlock": dsl.ref(P + "IPBlock", "A range of IP addresses."),
        },
    ),
    P + "IPBlock": dsl.obj(
        "A CIDR, minus some sub-ranges.",
        {
            "cidr": dsl.string("The range, e.g. 192.168.1.0/24 or 2001:db8::/64."),
            "except": dsl.string_array("Ranges inside cidr to leave out.", list_type="atomic"),
        },
        required=["cidr"],
    ),
}

INGRESS: dict[str, dsl.Schema] = {
    P + "Ingress": dsl.obj(
        "Rules that route outside HTTP(S) traffic to Services by host and path; an ingress controller "
        "does the work.",
        dsl.kind_properties(
            dsl.ref(P + "IngressSpec", "The routing rules."),
            dsl.ref(P + "IngressStatus", "Where the Ingress is reachable; written by its controller."),
        ),
        gvk=_gvk("Ingress"),
    ),
    P + "IngressList": dsl.list_kind(P + "Ingress", "A list of Ingresses.", _gvk("IngressList")),
    P + "IngressSpec": dsl.obj(
        "The desired routing of an Ingress.",
        {
            "ingressClassName": dsl.string(
                "The IngressClass that serves this Ingress; unset means the default class, if one is marked."
            ),
            "defaultBackend": dsl.ref(
                P + "IngressBackend",
                "Where requests that match no rule go; unset leaves it to the controller.",
            ),
            "tls": dsl.array(
                dsl.ref(P + "IngressTLS"),
                "TLS settings; each entry covers a list of hosts on port 443.",
                list_type="atomic",
            ),
            "rules": dsl.array(
                dsl.ref(P + "IngressRule"),
                "Host rules; requests that match none go to defaultBackend.",
                list_type="atomic",
            ),
        },
    ),
    P + "IngressTLS": dsl.obj(
        "A certificate and the hosts it serves.",
        {
            "hosts": dsl.string_array(
                "Hosts the certificate covers; must match hosts used in rules. Defaults to the controller's "
                "wildcard host.",
                list_type="atomic",
            ),
            "secretName": dsl.string(
                "The Secret holding the certificate and key. May be empty for controllers that route by SNI alone."
            ),
        },
    ),
    P + "IngressStatus": dsl.obj(
        "The observed state of an Ingress.",
        {
            "loadBalancer": dsl.ref(
                P + "IngressLoadBalancerStatus", "The load balancer addresses the Ingress is reachable at."
            ),
        },
    ),
    P + "IngressLoadBalancerStatus": dsl.obj(
        "The load balancer of an Ingress.",
        {
            "ingress": dsl.array(
                dsl.ref(P + "IngressLoadBalancerIngress"),
                "The load balancer's entry points.",
                list_type="atomic",
            ),
        },
    ),
    P + "IngressLoadBalancerIngress": dsl.obj(
        "One entry point of an Ingress's load balancer.",
        {
            "ip": dsl.string("The IP address, for IP-based load balancers."),
            "hostname": dsl.string("The host name, for DNS-based load balancers."),
            "ports": dsl.array(
                dsl.ref(P + "IngressPortStatus"), "The state of each of its ports.", list_type="atomic"
            ),
        },
    ),
    P + "IngressPortStatus": dsl.obj(
        "The state of one load balancer port.",
        {
            "port": dsl.integer("The port number."),
            "protocol": dsl.string("The port's protocol: TCP, UDP or SCTP.", enum=list(PROTOCOLS)),
            "error": dsl.string(
                "Why the port is broken, if it is: a CamelCase reason, standard ones prefixed "
                "kubernetes.io/ and others domain-prefixed."
            ),
        },
        required=["port", "protocol"],
    ),
    P + "IngressRule": dsl.obj(
        "Routing for one host (or every host); the paths under http are matched for that host.",
        {
            "host": dsl.string(
                "The fully qualified host name (no IP, no port), matched against the request's Host header "
                'or SNI. A leading "*." matches exactly one extra DNS label. Empty means every host.'
            ),
            "http": dsl.ref(P + "HTTPIngressRuleValue", "Path-based routing for the host."),
        },
    ),
    P + "HTTPIngressRuleValue": dsl.obj(
        "Maps URL paths to backends.",
        {
            "paths": dsl.array(dsl.ref(P + "HTTPIngressPath"), "The path mappings.", list_type="atomic"),
        },
        required=["paths"],
    ),
    P + "HTTPIngressPath": dsl.obj(
        "Sends requests whose path matches to a backend.",
        {
            "path": dsl.string(
                "The path to match; must start with / for Exact and Prefix. Unset matches every path."
            ),
            "pathType": dsl.string(
                "How path is compared: Exact (case-sensitive, whole path), Prefix (by /-separated elements) "
                "or ImplementationSpecific (up to the IngressClass).",
                enum=["Exact", "ImplementationSpecific", "Prefix"],
            ),
            "backend": dsl.ref(P + "IngressBackend", "Where matching requests go."),
        },
        required=["pathType", "backend"],
    ),
    P + "IngressBackend": dsl.obj(
        "The destination of routed requests: a Service or another resource, exactly one.",
        {
            "service": dsl.ref(P + "IngressServiceBackend", "A Service port to send traffic to."),
            "resource": dsl.ref(
                "io.k8s.api.core.v1.TypedLocalObjectReference",
                "Another object in the Ingress's namespace, such as a storage bucket, interpreted by the "
                "controller.",
            ),
        },
    ),
    P + "IngressServiceBackend": dsl.obj(
        "A Service and port that receive routed requests.",
        {
            "name": dsl.string("The Service, in the Ingress's namespace."),
            "port": dsl.ref(P + "ServiceBackendPort", "The Service port; by name or number."),
        },
        required=["name"],
    ),
    P + "ServiceBackendPort": dsl.obj(
        "A Service port, by name or number (exactly one).",
        {
            "name": dsl.string("The port's name."),
            "number": dsl.integer("The port's number."),
        },
        map_type="atomic",
    ),
}

INGRESS_CLASS: dict[str, dsl.Schema] = {
    P + "IngressClass": dsl.obj(
        "A kind of ingress controller that Ingresses can ask for by name. The annotation "
        "ingressclass.kubernetes.io/is-default-class=true makes it the default for Ingresses naming none.",
        dsl.kind_properties(dsl.ref(P + "IngressClassSpec", "The controller and its parameters.")),
        gvk=_gvk("IngressClass"),
    ),
    P + "IngressClassList": dsl.list_kind(
        P + "IngressClass", "A list of IngressClasses.", _gvk("IngressClassList")
    ),
    P + "IngressClassSpec": dsl.obj(
        "What an IngressClass names.",
        {
            "controller": dsl.string(
                "The controller that implements the class, as a domain-prefixed path such as "
                "example.com/ingress-controller. Immutable."
            ),
            "parameters": dsl.ref(
                P + "IngressClassParametersReference", "An object holding extra settings for the controller."
            ),
        },
    ),
    P + "IngressClassParametersReference": dsl.obj(
        "Names the object that parameterizes an IngressClass.",
        {
            "apiGroup": dsl.string("The API group of the object; unset means the core group."),
            "kind": dsl.string("The kind of the object."),
            "name": dsl.string("The name of the object."),
            "scope": dsl.string("Cluster (the default) or Namespace, saying where the object lives."),
            "namespace": dsl.string(
                "The object's namespace; required with scope Namespace, forbidden otherwise."
            ),
        },
        required=["kind", "name"],
    ),
}

DEFINITIONS: dict[str, dsl.Schema] = {**NETWORK_POLICY, **INGRESS, **INGRESS_CLASS}
