"""core/v1 top-level kinds (Pod, Service, Node, ...), their lists, and the
types only they use. Pod internals live in core_pod.py, storage in core_volume.py.

Names and structure follow upstream; descriptions are kubeling's own.
"""

from __future__ import annotations

from kubeling.api.schemas import dsl
from kubeling.api.schemas.dsl import (
    array,
    boolean,
    int64,
    int_or_string,
    integer,
    kind_properties,
    list_kind,
    map_of,
    meta,
    obj,
    quantity_map,
    string,
    string_array,
    string_map,
    time,
)

C = dsl.CORE
c = dsl.core


def _gvk(kind: str) -> tuple[str, str, str]:
    return ("", "v1", kind)


def _conditions(item: str, description: str) -> dsl.Schema:
    return array(c(item), description, merge_key="type", list_type="map", list_map_keys=["type"])


def _condition(description: str, *, heartbeat: bool = False, error: bool = False) -> dsl.Schema:
    props: dict[str, dsl.Schema] = {
        "lastTransitionTime": time("When status last changed."),
        "message": string("Human-readable details."),
        "reason": string("CamelCase cause of the last transition."),
        "status": string("True, False or Unknown."),
        "type": string("The condition's type."),
    }
    if heartbeat:
        props["lastHeartbeatTime"] = time("When the condition was last reported.")
    return obj(description, dict(sorted(props.items())), required=["type", "status"])


#: kind -> (description, list description). Every one gets a <Kind>List.
_KINDS: dict[str, tuple[str, str]] = {
    "Pod": ("A group of containers scheduled together onto one node.", "A list of pods."),
    "PodTemplate": ("A stored pod template.", "A list of pod templates."),
    "Service": (
        "A stable virtual address and DNS name in front of a set of pods, with load balancing.",
        "A list of services.",
    ),
    "Endpoints": (
        "The addresses and ports behind a service (the older API; see discovery.k8s.io EndpointSlice).",
        "A list of endpoints.",
    ),
    "ConfigMap": ("Non-secret configuration data as key/value pairs.", "A list of config maps."),
    "Secret": ("Sensitive data, such as passwords, tokens and keys.", "A list of secrets."),
    "ServiceAccount": ("An identity for processes running in pods.", "A list of service accounts."),
    "Event": ("A report of something that happened to an object.", "A list of events."),
    "Namespace": ("A scope for names; most objects live in one.", "A list of namespaces."),
    "Node": ("A machine that runs pods.", "A list of nodes."),
    "PersistentVolume": ("A piece of storage provisioned in the cluster.", "A list of persistent volumes."),
    "PersistentVolumeClaim": ("A user's request for storage.", "A list of persistent volume claims."),
    "LimitRange": ("Per-object resource limits and defaults in a namespace.", "A list of limit ranges."),
    "ResourceQuota": ("Limits on total resource use in a namespace.", "A list of resource quotas."),
    "ReplicationController": (
        "Keeps a number of pod replicas running (the older form of ReplicaSet).",
        "A list of replication controllers.",
    ),
    "ComponentStatus": ("Deprecated health of a control-plane component.", "A list of component statuses."),
}


def _kind(kind: str, props: dict[str, dsl.Schema], *, required: list[str] | None = None) -> dsl.Schema:
    merged = {**kind_properties(), **props}
    return obj(_KINDS[kind][0], dict(sorted(merged.items())), required=required, gvk=_gvk(kind))


def _spec(name: str, description: str) -> dsl.Schema:
    return c(name, description)


DEFINITIONS: dict[str, dsl.Schema] = {
    # --- kinds -------------------------------------------------------------------------------
    C + "Pod": _kind(
        "Pod",
        {
            "spec": _spec("PodSpec", "The desired state of the pod."),
            "status": _spec("PodStatus", "The observed state of the pod. Read-only."),
        },
    ),
    C + "PodTemplate": _kind("PodTemplate", {"template": c("PodTemplateSpec", "The template.")}),
    C + "Service": _kind(
        "Service",
        {
            "spec": _spec("ServiceSpec", "The desired behaviour of the service."),
            "status": _spec("ServiceStatus", "The observed state of the service."),
        },
    ),
    C + "Endpoints": _kind(
        "Endpoints",
        {
            "subsets": array(
                c("EndpointSubset"),
                "Groups of addresses sharing the same ports; together they are every endpoint of the service.",
                list_type="atomic",
            ),
        },
    ),
    C + "ConfigMap": _kind(
        "ConfigMap",
        {
            "binaryData": map_of(
                {"type": "string", "format": "byte"},
                "Binary values, base64-encoded; keys may not repeat data's.",
            ),
            "data": string_map("UTF-8 values; keys may not repeat binaryData's."),
            "immutable": boolean("When true, data cannot change; the ConfigMap can only be deleted."),
        },
    ),
    C + "Secret": _kind(
        "Secret",
        {
            "data": map_of({"type": "string", "format": "byte"}, "The values, base64-encoded."),
            "immutable": boolean("When true, data cannot change; the Secret can only be deleted."),
            "stringData": string_map(
                "Plain-text values merged into data on write (they win over data); never returned on read."
            ),
            "type": string("How the data is meant to be used, such as Opaque or kubernetes.io/tls."),
        },
    ),
    C + "ServiceAccount": _kind(
        "ServiceAccount",
        {
            "automountServiceAccountToken": boolean("Whether pods mount a token of this account by default."),
            "imagePullSecrets": array(
                c("LocalObjectReference"),
                "Registry credentials added to pods running as this account.",
                list_type="atomic",
            ),
            "secrets": array(
                c("ObjectReference"),
                "Secrets pods of this account may use (the older token secrets).",
                merge_key="name",
                list_type="map",
                list_map_keys=["name"],
            ),
        },
    ),
    C + "Event": _kind(
        "Event",
        {
            "action": string("What was done, or failed, to the regarding object."),
            "count": integer("How many times the event has happened."),
            "eventTime": meta("MicroTime", "When the event first happened, in microseconds."),
            "firstTimestamp": time("When the event was first recorded."),
            "involvedObject": c("ObjectReference", "The object the event is about."),
            "lastTimestamp": time("When the event last happened."),
            "message": string("Human-readable description."),
            "reason": string("Short CamelCase reason."),
            "related": c("ObjectReference", "A second object involved, if any."),
            "reportingComponent": string("The controller that emitted the event."),
            "reportingInstance": string("The instance of that controller."),
            "series": c("EventSeries", "Data about a repeating event."),
            "source": c("EventSource", "The component that reported the event."),
            "type": string("Normal or Warning."),
        },
        required=["metadata", "involvedObject"],
    ),
    C + "Namespace": _kind(
        "Namespace",
        {
            "spec": _spec("NamespaceSpec", "The namespace's behaviour."),
            "status": _spec("NamespaceStatus", "The namespace's observed state."),
        },
    ),
    C + "Node": _kind(
        "Node",
        {
            "spec": _spec("NodeSpec", "How the node is configured."),
            "status": _spec("NodeStatus", "The node's observed state."),
        },
    ),
    C + "PersistentVolume": _kind(
        "PersistentVolume",
        {
            "spec": _spec("PersistentVolumeSpec", "The volume's source, size and use."),
            "status": _spec("PersistentVolumeStatus", "The volume's observed state."),
        },
    ),
    C + "PersistentVolumeClaim": _kind(
        "PersistentVolumeClaim",
        {
            "spec": _spec("PersistentVolumeClaimSpec", "The storage requested."),
            "status": _spec("PersistentVolumeClaimStatus", "The claim's observed state."),
        },
    ),
    C + "LimitRange": _kind("LimitRange", {"spec": _spec("LimitRangeSpec", "The limits.")}),
    C + "ResourceQuota": _kind(
        "ResourceQuota",
        {
            "spec": _spec("ResourceQuotaSpec", "The hard limits."),
            "status": _spec("ResourceQuotaStatus", "Current usage against the limits."),
        },
    ),
    C + "ReplicationController": _kind(
        "ReplicationController",
        {
            "spec": _spec("ReplicationControllerSpec", "The desired pods."),
            "status": _spec("ReplicationControllerStatus", "The observed pods. Read-only."),
        },
    ),
    C + "ComponentStatus": _kind(
        "ComponentStatus",
        {"conditions": _conditions("ComponentCondition", "The component's conditions.")},
    ),
    C + "Binding": obj(
        "Binds a pod to a node; posted to the pod's binding subresource by the scheduler.",
        dict(sorted({**kind_properties(), "target": c("ObjectReference", "The node to bind to.")}.items())),
        required=["target"],
        gvk=_gvk("Binding"),
    ),
    # --- references ----------------------------------------------------------------------------
    C + "ObjectReference": obj(
        "A reference to an object, precise enough to inspect or change it.",
        {
            "apiVersion": string("API version of the referent."),
            "fieldPath": string(
                "A part of the object, such as spec.containers{name}, when that is what is meant."
            ),
            "kind": string("Kind of the referent."),
            "name": string("Name of the referent."),
            "namespace": string("Namespace of the referent."),
            "resourceVersion": string("The referent's resourceVersion this reference was made at."),
            "uid": string("UID of the referent."),
        },
        map_type="atomic",
    ),
    # --- service -------------------------------------------------------------------------------
    C + "ServiceSpec": obj(
        "How a service is exposed and which pods it routes to.",
        {
            "allocateLoadBalancerNodePorts": boolean(
                "Whether a LoadBalancer service gets node ports. Defaults to true."
            ),
            "clusterIP": string(
                "The virtual IP; allocated when empty, 'None' for a headless service. Immutable once set."
            ),
            "clusterIPs": string_array(
                "Virtual IPs, one per IP family; the first equals clusterIP.", list_type="atomic"
            ),
            "externalIPs": string_array(
                "Extra addresses on which nodes accept traffic for the service.", list_type="atomic"
            ),
            "externalName": string(
                "For type ExternalName: the DNS name the service's name is an alias (CNAME) of."
            ),
            "externalTrafficPolicy": string(
                "Cluster (default) spreads external traffic over all endpoints; Local keeps it on the node it "
                "arrived at and preserves the client address.",
                enum=["Cluster", "Local"],
            ),
            "healthCheckNodePort": integer(
                "Node port answering load balancer health checks, with policy Local."
            ),
            "internalTrafficPolicy": string(
                "Cluster (default) or Local for traffic from inside the cluster.", enum=["Cluster", "Local"]
            ),
            "ipFamilies": string_array("IP families of the service: IPv4, IPv6.", list_type="atomic"),
            "ipFamilyPolicy": string(
                "SingleStack, PreferDualStack or RequireDualStack.",
                enum=["PreferDualStack", "RequireDualStack", "SingleStack"],
            ),
            "loadBalancerClass": string("The load balancer implementation to use."),
            "loadBalancerIP": string("Deprecated requested load balancer address."),
            "loadBalancerSourceRanges": string_array(
                "Client networks allowed through the load balancer.", list_type="atomic"
            ),
            "ports": array(
                c("ServicePort"),
                "The ports the service exposes.",
                merge_key="port",
                list_type="map",
                list_map_keys=["port", "protocol"],
            ),
            "publishNotReadyAddresses": boolean("Publish endpoints of pods that are not ready."),
            "selector": {
                **string_map(
                    "Labels of the pods that back the service; none means endpoints are managed by hand."
                ),
                "x-kubernetes-map-type": "atomic",
            },
            "sessionAffinity": string(
                "ClientIP sends a client to the same endpoint; None (default) does not.",
                enum=["ClientIP", "None"],
            ),
            "sessionAffinityConfig": c("SessionAffinityConfig", "Session affinity settings."),
            "trafficDistribution": string("A preference for how traffic is spread, such as PreferClose."),
            "type": string(
                "ClusterIP (default), NodePort, LoadBalancer or ExternalName.",
                enum=["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
            ),
        },
    ),
    C + "ServicePort": obj(
        "One port of a service.",
        {
            "appProtocol": string("The application protocol, such as http or kubernetes.io/h2c."),
            "name": string("The port's name; required when there are several ports."),
            "nodePort": integer("Port opened on every node for NodePort and LoadBalancer services."),
            "port": integer("The port the service listens on."),
            "protocol": string("TCP (default), UDP or SCTP.", enum=["SCTP", "TCP", "UDP"]),
            "targetPort": int_or_string("Port number or name on the pods; defaults to port."),
        },
        required=["port"],
    ),
    C + "SessionAffinityConfig": obj(
        "Session affinity settings.",
        {"clientIP": c("ClientIPConfig", "Settings of ClientIP affinity.")},
    ),
    C + "ClientIPConfig": obj(
        "Settings of ClientIP session affinity.",
        {"timeoutSeconds": integer("How long affinity lasts, 1 to 86400 seconds; 10800 by default.")},
    ),
    C + "ServiceStatus": obj(
        "The observed state of a service.",
        {
            "conditions": array(
                meta("Condition"),
                "Current conditions.",
                merge_key="type",
                list_type="map",
                list_map_keys=["type"],
            ),
            "loadBalancer": c("LoadBalancerStatus", "The load balancer, if there is one."),
        },
    ),
    C + "LoadBalancerStatus": obj(
        "The state of a load balancer.",
        {"ingress": array(c("LoadBalancerIngress"), "Its entry points.", list_type="atomic")},
    ),
    C + "LoadBalancerIngress": obj(
        "One entry point of a load balancer.",
        {
            "hostname": string("A DNS name."),
            "ip": string("An IP address."),
            "ipMode": string("VIP or Proxy: how traffic reaches the nodes."),
            "ports": array(c("PortStatus"), "Status of each port.", list_type="atomic"),
        },
    ),
    C + "PortStatus": obj(
        "The state of one service port.",
        {
            "error": string("A CamelCase problem, if any."),
            "port": integer("The port."),
            "protocol": string("TCP, UDP or SCTP."),
        },
        required=["port", "protocol"],
    ),
    # --- endpoints -----------------------------------------------------------------------------
    C + "EndpointSubset": obj(
        "Addresses that share a set of ports.",
        {
            "addresses": array(c("EndpointAddress"), "Ready addresses.", list_type="atomic"),
            "notReadyAddresses": array(c("EndpointAddress"), "Addresses not ready yet.", list_type="atomic"),
            "ports": array(c("EndpointPort"), "The ports.", list_type="atomic"),
        },
    ),
    C + "EndpointAddress": obj(
        "One endpoint address.",
        {
            "hostname": string("The endpoint's hostname."),
            "ip": string("The IP."),
            "nodeName": string("The node hosting the endpoint."),
            "targetRef": c("ObjectReference", "The object (usually a pod) behind the address."),
        },
        required=["ip"],
        map_type="atomic",
    ),
    C + "EndpointPort": obj(
        "One endpoint port.",
        {
            "appProtocol": string("The application protocol."),
            "name": string("Matches the service port's name."),
            "port": integer("The port number."),
            "protocol": string("TCP, UDP or SCTP.", enum=["SCTP", "TCP", "UDP"]),
        },
        required=["port"],
        map_type="atomic",
    ),
    # --- event -----------------------------------------------------------------------------------
    C + "EventSource": obj(
        "Who reported an event.",
        {"component": string("The reporting component."), "host": string("The node it ran on.")},
    ),
    C + "EventSeries": obj(
        "A repeating event.",
        {
            "count": integer("Occurrences so far."),
            "lastObservedTime": meta("MicroTime", "When it last occurred."),
        },
    ),
    # --- namespace -------------------------------------------------------------------------------
    C + "NamespaceSpec": obj(
        "How a namespace behaves.",
        {
            "finalizers": string_array(
                "Steps that must finish before the namespace is removed.", list_type="atomic"
            )
        },
    ),
    C + "NamespaceStatus": obj(
        "The observed state of a namespace.",
        {
            "conditions": _conditions("NamespaceCondition", "Current conditions."),
            "phase": string("Active or Terminating.", enum=["Active", "Terminating"]),
        },
    ),
    C + "NamespaceCondition": _condition("One aspect of a namespace's state."),
    # --- node ------------------------------------------------------------------------------------
    C + "NodeSpec": obj(
        "How a node is configured.",
        {
            "configSource": c("NodeConfigSource", "Deprecated dynamic kubelet configuration."),
            "externalID": string("Deprecated."),
            "podCIDR": string("The pod address range of the node."),
            "podCIDRs": string_array(
                "Pod address ranges, at most one per family; the first equals podCIDR.",
                strategy="merge",
                list_type="set",
            ),
            "providerID": string("The cloud provider's id of the node."),
            "taints": array(
                c("Taint"), "Taints that repel pods without a matching toleration.", list_type="atomic"
            ),
            "unschedulable": boolean("Keep new pods off the node (cordon)."),
        },
    ),
    C + "Taint": obj(
        "Marks a node so that pods not tolerating it stay away.",
        {
            "effect": string(
                "NoSchedule, PreferNoSchedule or NoExecute.",
                enum=["NoExecute", "NoSchedule", "PreferNoSchedule"],
            ),
            "key": string("The taint key."),
            "timeAdded": time("When a NoExecute taint was added."),
            "value": string("The taint value."),
        },
        required=["key", "effect"],
    ),
    C + "NodeConfigSource": obj(
        "Deprecated source of kubelet configuration.",
        {"configMap": c("ConfigMapNodeConfigSource", "A ConfigMap holding the configuration.")},
    ),
    C + "ConfigMapNodeConfigSource": obj(
        "A ConfigMap holding kubelet configuration.",
        {
            "kubeletConfigKey": string("The key holding the configuration."),
            "name": string("The ConfigMap's name."),
            "namespace": string("The ConfigMap's namespace."),
            "resourceVersion": string("Its resourceVersion (status only)."),
            "uid": string("Its UID (status only)."),
        },
        required=["namespace", "name", "kubeletConfigKey"],
    ),
    C + "NodeStatus": obj(
        "The observed state of a node.",
        {
            "addresses": array(
                c("NodeAddress"),
                "How the node can be reached.",
                merge_key="type",
                list_type="atomic",
            ),
            "allocatable": quantity_map("Resources available to pods."),
            "capacity": quantity_map("Total resources of the node."),
            "conditions": _conditions("NodeCondition", "Current conditions, such as Ready."),
            "config": c("NodeConfigStatus", "Deprecated dynamic configuration status."),
            "daemonEndpoints": c("NodeDaemonEndpoints", "Ports of daemons on the node."),
            "features": c("NodeFeatures", "Features the node supports."),
            "images": array(c("ContainerImage"), "Images present on the node.", list_type="atomic"),
            "nodeInfo": c("NodeSystemInfo", "Versions and identities of the node."),
            "phase": string("Deprecated; unused."),
            "runtimeHandlers": array(
                c("NodeRuntimeHandler"), "Runtime handlers available.", list_type="atomic"
            ),
            "volumesAttached": array(
                c("AttachedVolume"), "Volumes attached to the node.", list_type="atomic"
            ),
            "volumesInUse": string_array("Volumes in use (mounted) on the node.", list_type="atomic"),
        },
    ),
    C + "NodeAddress": obj(
        "One address of a node.",
        {
            "address": string("The address."),
            "type": string("Hostname, InternalIP, ExternalIP, InternalDNS or ExternalDNS."),
        },
        required=["type", "address"],
    ),
    C + "NodeCondition": _condition("One aspect of a node's state.", heartbeat=True),
    C + "NodeConfigStatus": obj(
        "Deprecated status of dynamic kubelet configuration.",
        {
            "active": c("NodeConfigSource", "The configuration in use."),
            "assigned": c("NodeConfigSource", "The configuration assigned."),
            "error": string("A configuration problem."),
            "lastKnownGood": c("NodeConfigSource", "The fallback configuration."),
        },
    ),
    C + "NodeDaemonEndpoints": obj(
        "Ports of daemons on a node.",
        {"kubeletEndpoint": c("DaemonEndpoint", "The kubelet's endpoint.")},
    ),
    C + "DaemonEndpoint": obj(
        "A daemon's port.",
        {"Port": integer("The port number.")},
        required=["Port"],
    ),
    C + "NodeFeatures": obj(
        "Features a node supports.",
        {"supplementalGroupsPolicy": boolean("Whether supplementalGroupsPolicy is honoured.")},
    ),
    C + "ContainerImage": obj(
        "An image on a node.",
        {
            "names": string_array("Names and digests of the image.", list_type="atomic"),
            "sizeBytes": int64("Size in bytes."),
        },
    ),
    C + "NodeSystemInfo": obj(
        "Identity and versions of a node.",
        {
            "architecture": string("CPU architecture."),
            "bootID": string("Id of the current boot."),
            "containerRuntimeVersion": string("Container runtime and version."),
            "kernelVersion": string("Kernel version."),
            "kubeProxyVersion": string("Deprecated kube-proxy version."),
            "kubeletVersion": string("Kubelet version."),
            "machineID": string("The machine id."),
            "operatingSystem": string("Operating system (linux)."),
            "osImage": string("OS image (distribution)."),
            "swap": c("NodeSwapStatus", "Swap memory."),
            "systemUUID": string("The system UUID."),
        },
        required=[
            "machineID",
            "systemUUID",
            "bootID",
            "kernelVersion",
            "osImage",
            "containerRuntimeVersion",
            "kubeletVersion",
            "kubeProxyVersion",
            "operatingSystem",
            "architecture",
        ],
    ),
    C + "NodeSwapStatus": obj("Swap memory of a node.", {"capacity": int64("Total swap in bytes.")}),
    C + "NodeRuntimeHandler": obj(
        "A runtime handler on a node.",
        {
            "features": c("NodeRuntimeHandlerFeatures", "What it supports."),
            "name": string("Its name; empty for the default."),
        },
    ),
    C + "NodeRuntimeHandlerFeatures": obj(
        "Features of a runtime handler.",
        {
            "recursiveReadOnlyMounts": boolean("Supports recursive read-only mounts."),
            "userNamespaces": boolean("Supports user namespaces."),
        },
    ),
    C + "AttachedVolume": obj(
        "A volume attached to a node.",
        {"devicePath": string("Where it is attached."), "name": string("The volume.")},
        required=["name", "devicePath"],
    ),
    C + "TopologySelectorTerm": obj(
        "Requirements on topology labels, ANDed (used by StorageClass allowedTopologies).",
        {
            "matchLabelExpressions": array(
                c("TopologySelectorLabelRequirement"), "The requirements.", list_type="atomic"
            ),
        },
        map_type="atomic",
    ),
    C + "TopologySelectorLabelRequirement": obj(
        "A topology label and the values it may have.",
        {
            "key": string("The label key."),
            "values": string_array("Allowed values; any of them matches.", list_type="atomic"),
        },
        required=["key", "values"],
    ),
    # --- limits and quotas -------------------------------------------------------------------------
    C + "LimitRangeSpec": obj(
        "The limits of a LimitRange.",
        {"limits": array(c("LimitRangeItem"), "The limits, per kind of object.", list_type="atomic")},
        required=["limits"],
    ),
    C + "LimitRangeItem": obj(
        "Limits for one kind of object.",
        {
            "default": quantity_map("Limits applied when a container sets none."),
            "defaultRequest": quantity_map("Requests applied when a container sets none."),
            "max": quantity_map("Largest allowed values."),
            "maxLimitRequestRatio": quantity_map("Largest allowed limit to request ratio."),
            "min": quantity_map("Smallest allowed values."),
            "type": string("Pod, Container or PersistentVolumeClaim."),
        },
        required=["type"],
    ),
    C + "ResourceQuotaSpec": obj(
        "The limits of a ResourceQuota.",
        {
            "hard": quantity_map("Hard limits per resource name."),
            "scopeSelector": c("ScopeSelector", "Which objects are counted, as expressions."),
            "scopes": string_array("Which objects are counted.", list_type="atomic"),
        },
    ),
    C + "ScopeSelector": obj(
        "Quota scope requirements, ANDed.",
        {
            "matchExpressions": array(
                c("ScopedResourceSelectorRequirement"), "The requirements.", list_type="atomic"
            ),
        },
        map_type="atomic",
    ),
    C + "ScopedResourceSelectorRequirement": obj(
        "One quota scope requirement.",
        {
            "operator": string("In, NotIn, Exists or DoesNotExist."),
            "scopeName": string("The scope."),
            "values": string_array("Values for In and NotIn.", list_type="atomic"),
        },
        required=["scopeName", "operator"],
    ),
    C + "ResourceQuotaStatus": obj(
        "Usage against a quota.",
        {
            "hard": quantity_map("The enforced limits."),
            "used": quantity_map("Current usage."),
        },
    ),
    # --- replication controller -----------------------------------------------------------------------
    C + "ReplicationControllerSpec": obj(
        "The pods a replication controller keeps running.",
        {
            "minReadySeconds": integer("Seconds a new pod must be ready to count as available."),
            "replicas": integer("Desired number of pods. Defaults to 1."),
            "selector": {
                **string_map("Labels of the pods counted; defaults to the template's labels."),
                "x-kubernetes-map-type": "atomic",
            },
            "template": c("PodTemplateSpec", "The pod created when there are too few."),
        },
    ),
    C + "ReplicationControllerStatus": obj(
        "The observed pods of a replication controller.",
        {
            "availableReplicas": integer("Pods ready for at least minReadySeconds."),
            "conditions": _conditions("ReplicationControllerCondition", "Current conditions."),
            "fullyLabeledReplicas": integer("Pods whose labels match the template's."),
            "observedGeneration": int64("The generation last acted on."),
            "readyReplicas": integer("Ready pods."),
            "replicas": integer("Pods found."),
        },
        required=["replicas"],
    ),
    C + "ReplicationControllerCondition": _condition("One aspect of a replication controller's state."),
    C + "ComponentCondition": obj(
        "One aspect of a component's health.",
        {
            "error": string("The error, when unhealthy."),
            "message": string("The health message."),
            "status": string("True, False or Unknown."),
            "type": string("Only 'Healthy'."),
        },
        required=["type", "status"],
    ),
}

for _kind_name, (_, _list_desc) in _KINDS.items():
    DEFINITIONS[C + _kind_name + "List"] = list_kind(C + _kind_name, _list_desc, _gvk(_kind_name + "List"))
