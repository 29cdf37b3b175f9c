"""core/v1 pod types: PodSpec, Container and everything they reach except
volume sources (core_volume.py), plus PodStatus.

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
    meta,
    obj,
    quantity,
    quantity_map,
    string,
    string_array,
    string_map,
    time,
)

C = dsl.CORE
c = dsl.core


def _container(description: str, *, ephemeral: bool) -> dsl.Schema:
    props: dict[str, dsl.Schema] = {
        "args": string_array(
            "Arguments to the entrypoint; the image's CMD when empty. $(VAR) refers to a container variable.",
            list_type="atomic",
        ),
        "command": string_array(
            "The entrypoint, run without a shell; the image's ENTRYPOINT when empty.", list_type="atomic"
        ),
        "env": array(
            c("EnvVar"),
            "Environment variables to set in the container.",
            merge_key="name",
            list_type="map",
            list_map_keys=["name"],
        ),
        "envFrom": array(
            c("EnvFromSource"),
            "Sources whose keys all become environment variables; explicit env entries win.",
            list_type="atomic",
        ),
        "image": string("The container image reference."),
        "imagePullPolicy": string(
            "When to pull the image: Always, Never or IfNotPresent. Defaults to Always for ':latest' "
            "or untagged images, IfNotPresent otherwise.",
            enum=["Always", "IfNotPresent", "Never"],
        ),
        "lifecycle": c("Lifecycle", "Hooks run after start and before stop."),
        "livenessProbe": c("Probe", "Check that restarts the container when it fails."),
        "name": string("The container's name, unique within the pod (a DNS label)."),
        "ports": array(
            c("ContainerPort"),
            "Ports the container exposes; informational, any listening port is reachable.",
            merge_key="containerPort",
            list_type="map",
            list_map_keys=["containerPort", "protocol"],
        ),
        "readinessProbe": c("Probe", "Check that removes the pod from service endpoints when it fails."),
        "resizePolicy": array(
            c("ContainerResizePolicy"), "How each resource may be resized in place.", list_type="atomic"
        ),
        "resources": c("ResourceRequirements", "Compute resources the container requests and is limited to."),
        "restartPolicy": string(
            "Per-container restart policy; 'Always' on an init container makes it a sidecar."
        ),
        "restartPolicyRules": array(
            c("ContainerRestartRule"),
            "Rules on exit codes that override the restart policy.",
            list_type="atomic",
        ),
        "securityContext": c("SecurityContext", "Security options for this container."),
        "startupProbe": c("Probe", "Check that must pass before the other probes start."),
        "stdin": boolean("Allocate a stdin buffer for the container."),
        "stdinOnce": boolean("Close stdin after the first attached client disconnects."),
        "terminationMessagePath": string(
            "File whose content becomes the termination message. Defaults to /dev/termination-log."
        ),
        "terminationMessagePolicy": string(
            "'File', or 'FallbackToLogsOnError' to use the log tail when the file is empty and the container failed.",
            enum=["FallbackToLogsOnError", "File"],
        ),
        "tty": boolean("Allocate a TTY; needs stdin."),
        "volumeDevices": array(
            c("VolumeDevice"),
            "Raw block devices to expose in the container.",
            merge_key="devicePath",
            list_type="map",
            list_map_keys=["devicePath"],
        ),
        "volumeMounts": array(
            c("VolumeMount"),
            "Pod volumes to mount into the container's filesystem.",
            merge_key="mountPath",
            list_type="map",
            list_map_keys=["mountPath"],
        ),
        "workingDir": string("The working directory; the image's default when empty."),
    }
    if ephemeral:
        props["targetContainerName"] = string(
            "Name of the container whose namespaces (IPC, PID ...) this debug container joins."
        )
    return obj(description, props, required=["name"])


def _conditions(item: str, description: str) -> dsl.Schema:
    return array(c(item), description, merge_key="type", list_type="map", list_map_keys=["type"])


_NODE_SELECTOR_REQ = array(c("NodeSelectorRequirement"), "", list_type="atomic")

DEFINITIONS: dict[str, dsl.Schema] = {
    C + "PodTemplateSpec": obj(
        "The pod a controller creates: its metadata and spec.",
        {
            "metadata": meta("ObjectMeta", "Metadata of the pods created from this template."),
            "spec": c("PodSpec", "Desired state of the pods created from this template."),
        },
    ),
    C + "PodSpec": obj(
        "The desired state of a pod.",
        {
            "activeDeadlineSeconds": int64(
                "Seconds the pod may run, counted from its start, before the kubelet kills it."
            ),
            "affinity": c("Affinity", "Scheduling constraints relative to nodes and other pods."),
            "automountServiceAccountToken": boolean(
                "Whether the service account token is mounted automatically."
            ),
            "containers": array(
                c("Container"),
                "The pod's containers; at least one. They cannot be added or removed later.",
                merge_key="name",
                list_type="map",
                list_map_keys=["name"],
            ),
            "dnsConfig": c("PodDNSConfig", "Extra DNS settings merged into those chosen by dnsPolicy."),
            "dnsPolicy": string(
                "How the pod's DNS is set up: ClusterFirst (default), ClusterFirstWithHostNet, Default or None.",
                enum=["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"],
            ),
            "enableServiceLinks": boolean(
                "Whether variables describing the namespace's services are injected. Defaults to true."
            ),
            "ephemeralContainers": array(
                c("EphemeralContainer"),
                "Debugging containers added to a running pod through the ephemeralcontainers subresource.",
                merge_key="name",
                list_type="map",
                list_map_keys=["name"],
            ),
            "hostAliases": array(
                c("HostAlias"),
                "Extra entries for the pod's /etc/hosts.",
                merge_key="ip",
                list_type="map",
                list_map_keys=["ip"],
            ),
            "hostIPC": boolean("Use the host's IPC namespace."),
            "hostNetwork": boolean("Use the host's network namespace; ports then bind on the node."),
            "hostPID": boolean("Use the host's PID namespace."),
            "hostUsers": boolean("Use the host's user namespace (true, the default) or a new one (false)."),
            "hostname": string("The pod's hostname; defaults to the pod name."),
            "imagePullSecrets": array(
                c("LocalObjectReference"),
                "Secrets in the pod's namespace holding registry credentials for pulling images.",
                merge_key="name",
                list_type="map",
                list_map_keys=["name"],
            ),
            "initContainers": array(
                c("Container"),
                "Containers run one after another to completion before the main containers start.",
                merge_key="name",
                list_type="map",
                list_map_keys=["name"],
            ),
            "nodeName": string(
                "The node the pod is bound to. Set by the scheduler, or by hand to bypass it."
            ),
            "nodeSelector": string_map("Labels a node must have for the pod to run there."),
            "os": c("PodOS", "The operating system the pod's containers need."),
            "overhead": quantity_map(
                "Resources the pod sandbox uses beyond its containers, set from the runtime class."
            ),
            "preemptionPolicy": string(
                "Whether the pod may preempt lower-priority pods: PreemptLowerPriority (default) or Never.",
                enum=["Never", "PreemptLowerPriority"],
            ),
            "priority": integer("The pod's priority, resolved from priorityClassName by admission."),
            "priorityClassName": string("Name of the PriorityClass that gives the pod its priority."),
            "readinessGates": array(
                c("PodReadinessGate"),
                "Extra conditions that must be True for the pod to count as ready.",
                list_type="atomic",
            ),
            "resourceClaims": array(
                c("PodResourceClaim"),
                "Dynamically allocated resources the pod's containers may use.",
                merge_key="name",
                strategy="merge,retainKeys",
                list_type="map",
                list_map_keys=["name"],
            ),
            "resources": c("ResourceRequirements", "Pod-level resources shared by all containers."),
            "restartPolicy": string(
                "When containers are restarted: Always (default), OnFailure or Never.",
                enum=["Always", "Never", "OnFailure"],
            ),
            "runtimeClassName": string(
                "Name of the RuntimeClass that selects the container runtime handler."
            ),
            "schedulerName": string("The scheduler that places the pod; defaults to default-scheduler."),
            "schedulingGates": array(
                c("PodSchedulingGate"),
                "While any gate is present the pod is not scheduled.",
                merge_key="name",
                list_type="map",
                list_map_keys=["name"],
            ),
            "securityContext": c("PodSecurityContext", "Security settings for the whole pod."),
            "serviceAccount": string("Deprecated alias of serviceAccountName."),
            "serviceAccountName": string("The ServiceAccount the pod runs as."),
            "setHostnameAsFQDN": boolean("Make the pod's hostname its fully qualified domain name."),
            "shareProcessNamespace": boolean("Put all containers in one PID namespace."),
            "subdomain": string(
                "With hostname, gives the pod the name <hostname>.<subdomain>.<namespace>.svc.<domain>."
            ),
            "terminationGracePeriodSeconds": int64(
                "Seconds between the stop signal and the kill signal when the pod is deleted. Defaults to 30."
            ),
            "tolerations": array(c("Toleration"), "Node taints this pod tolerates.", list_type="atomic"),
            "topologySpreadConstraints": array(
                c("TopologySpreadConstraint"),
                "How matching pods should be spread across topology domains.",
                merge_key="topologyKey",
                list_type="map",
                list_map_keys=["topologyKey", "whenUnsatisfiable"],
            ),
            "volumes": array(
                c("Volume"),
                "Volumes the pod's containers can mount.",
                merge_key="name",
                strategy="merge,retainKeys",
                list_type="map",
                list_map_keys=["name"],
            ),
        },
        required=["containers"],
    ),
    C + "Container": _container("One application container of a pod.", ephemeral=False),
    C + "EphemeralContainer": _container(
        "A temporary container added to a running pod for debugging. It has no ports, probes or "
        "resources, and is never restarted.",
        ephemeral=True,
    ),
    C + "ContainerPort": obj(
        "A network port of a container.",
        {
            "containerPort": integer("The port number on the pod's IP."),
            "hostIP": string("The host address to bind hostPort on."),
            "hostPort": integer("The port to expose on the node; needed rarely."),
            "name": string("A name (IANA_SVC_NAME) services can refer to."),
            "protocol": string("TCP (default), UDP or SCTP.", enum=["SCTP", "TCP", "UDP"]),
        },
        required=["containerPort"],
    ),
    C + "EnvVar": obj(
        "One environment variable.",
        {
            "name": string("The variable's name."),
            "value": string("The value; $(VAR) refers to earlier variables, $$ escapes a dollar."),
            "valueFrom": c("EnvVarSource", "Where to read the value from; not allowed with value."),
        },
        required=["name"],
    ),
    C + "EnvVarSource": obj(
        "The source of an environment variable's value.",
        {
            "configMapKeyRef": c("ConfigMapKeySelector", "A key of a ConfigMap."),
            "fieldRef": c(
                "ObjectFieldSelector", "A field of the pod, such as metadata.name or status.podIP."
            ),
            "fileKeyRef": c("FileKeySelector", "A key in an env file on a volume."),
            "resourceFieldRef": c("ResourceFieldSelector", "A resource limit or request of a container."),
            "secretKeyRef": c("SecretKeySelector", "A key of a Secret."),
        },
    ),
    C + "ConfigMapKeySelector": obj(
        "One key of a ConfigMap.",
        {
            "key": string("The key."),
            "name": string("The ConfigMap's name."),
            "optional": boolean("Whether the ConfigMap or key may be missing."),
        },
        required=["key"],
        map_type="atomic",
    ),
    C + "SecretKeySelector": obj(
        "One key of a Secret.",
        {
            "key": string("The key."),
            "name": string("The Secret's name."),
            "optional": boolean("Whether the Secret or key may be missing."),
        },
        required=["key"],
        map_type="atomic",
    ),
    C + "FileKeySelector": obj(
        "One key of an env-format file on a volume.",
        {
            "key": string("The key."),
            "optional": boolean("Whether the file or key may be missing."),
            "path": string("Path of the file inside the volume."),
            "volumeName": string("The volume holding the file."),
        },
        required=["volumeName", "path", "key"],
        map_type="atomic",
    ),
    C + "ObjectFieldSelector": obj(
        "A field of an object, by path.",
        {
            "apiVersion": string("Version of the schema the path is written in; defaults to v1."),
            "fieldPath": string("Path of the field."),
        },
        required=["fieldPath"],
        map_type="atomic",
    ),
    C + "ResourceFieldSelector": obj(
        "A resource (limits.cpu, requests.memory ...) of a container.",
        {
            "containerName": string("The container; required for volumes, optional for env."),
            "divisor": quantity("Unit the value is expressed in; defaults to 1."),
            "resource": string("The resource to read."),
        },
        required=["resource"],
        map_type="atomic",
    ),
    C + "EnvFromSource": obj(
        "A ConfigMap or Secret whose keys become environment variables.",
        {
            "configMapRef": c("ConfigMapEnvSource", "The ConfigMap to read."),
            "prefix": string("A prefix added to every key."),
            "secretRef": c("SecretEnvSource", "The Secret to read."),
        },
    ),
    C + "ConfigMapEnvSource": obj(
        "A ConfigMap used as a source of environment variables.",
        {"name": string("The ConfigMap's name."), "optional": boolean("Whether it may be missing.")},
    ),
    C + "SecretEnvSource": obj(
        "A Secret used as a source of environment variables.",
        {"name": string("The Secret's name."), "optional": boolean("Whether it may be missing.")},
    ),
    C + "VolumeMount": obj(
        "Where a volume is mounted in a container.",
        {
            "mountPath": string("Path inside the container; may not contain ':'."),
            "mountPropagation": string(
                "How mounts propagate between host and container: None (default), HostToContainer "
                "or Bidirectional.",
                enum=["Bidirectional", "HostToContainer", "None"],
            ),
            "name": string("Name of the pod volume."),
            "readOnly": boolean("Mount read-only."),
            "recursiveReadOnly": string(
                "Whether read-only applies to submounts: Disabled, IfPossible or Enabled."
            ),
            "subPath": string("Path inside the volume to mount instead of its root."),
            "subPathExpr": string("Like subPath, with $(VAR) expanded from the container's environment."),
        },
        required=["name", "mountPath"],
    ),
    C + "VolumeDevice": obj(
        "A raw block volume mapped into a container.",
        {
            "devicePath": string("Path of the device inside the container."),
            "name": string("Name of a persistentVolumeClaim volume of the pod."),
        },
        required=["name", "devicePath"],
    ),
    C + "ResourceRequirements": obj(
        "Compute resource requests and limits.",
        {
            "claims": array(
                c("ResourceClaim"),
                "Entries of spec.resourceClaims this container uses.",
                list_type="map",
                list_map_keys=["name"],
            ),
            "limits": quantity_map("The most of each resource the container may use."),
            "requests": quantity_map(
                "The amount of each resource reserved for scheduling; defaults to the limits when omitted."
            ),
        },
    ),
    C + "ResourceClaim": obj(
        "A reference to one entry of PodSpec.resourceClaims.",
        {
            "name": string("Name of the pod's resource claim entry."),
            "request": string("A single request within the claim, when only that one is wanted."),
        },
        required=["name"],
    ),
    C + "ContainerResizePolicy": obj(
        "What happens when a resource of a container is resized.",
        {
            "resourceName": string("The resource (cpu, memory)."),
            "restartPolicy": string("NotRequired (default) or RestartContainer."),
        },
        required=["resourceName", "restartPolicy"],
    ),
    C + "ContainerRestartRule": obj(
        "A rule deciding whether an exited container is restarted.",
        {
            "action": string("What to do when the rule matches; 'Restart'."),
            "exitCodes": c("ContainerRestartRuleOnExitCodes", "The exit codes the rule matches."),
        },
        required=["action"],
    ),
    C + "ContainerRestartRuleOnExitCodes": obj(
        "Matches container exit codes.",
        {
            "operator": string("In or NotIn."),
            "values": array(integer(), "The exit codes.", list_type="set"),
        },
        required=["operator"],
    ),
    # --- probes and hooks ------------------------------------------------------------------
    C + "Probe": obj(
        "A periodic health check of a container. Exactly one handler is set.",
        {
            "exec": c("ExecAction", "Run a command in the container."),
            "failureThreshold": integer("Consecutive failures that make the probe fail. Defaults to 3."),
            "grpc": c("GRPCAction", "Call the gRPC health service."),
            "httpGet": c("HTTPGetAction", "Send an HTTP GET request."),
            "initialDelaySeconds": integer("Seconds after the container starts before the first probe."),
            "periodSeconds": integer("Seconds between probes. Defaults to 10."),
            "successThreshold": integer(
                "Consecutive successes that make a failed probe pass again. Defaults to 1; must be 1 "
                "for liveness and startup."
            ),
            "tcpSocket": c("TCPSocketAction", "Open a TCP connection."),
            "terminationGracePeriodSeconds": int64(
                "Grace period used when a failing probe kills the container; overrides the pod's."
            ),
            "timeoutSeconds": integer("Seconds before one probe attempt times out. Defaults to 1."),
        },
    ),
    C + "ExecAction": obj(
        "Runs a command inside the container; exit status 0 is success.",
        {"command": string_array("The command and its arguments, run without a shell.", list_type="atomic")},
    ),
    C + "HTTPGetAction": obj(
        "An HTTP GET request; a 2xx or 3xx answer is success.",
        {
            "host": string("Host to connect to; defaults to the pod IP."),
            "httpHeaders": array(c("HTTPHeader"), "Extra request headers.", list_type="atomic"),
            "path": string("Path to request."),
            "port": int_or_string("Port number or container port name."),
            "scheme": string("HTTP (default) or HTTPS.", enum=["HTTP", "HTTPS"]),
        },
        required=["port"],
    ),
    C + "HTTPHeader": obj(
        "One HTTP header.",
        {"name": string("Header name."), "value": string("Header value.")},
        required=["name", "value"],
    ),
    C + "TCPSocketAction": obj(
        "Opens a TCP connection; success if it connects.",
        {
            "host": string("Host to connect to; defaults to the pod IP."),
            "port": int_or_string("Port number or container port name."),
        },
        required=["port"],
    ),
    C + "GRPCAction": obj(
        "Calls the standard gRPC health-checking service.",
        {
            "port": integer("Port number of the gRPC service."),
            "service": string("Service name sent in the health check request."),
        },
        required=["port"],
    ),
    C + "SleepAction": obj(
        "Waits for a number of seconds.",
        {"seconds": int64("How long to sleep.")},
        required=["seconds"],
    ),
    C + "Lifecycle": obj(
        "Actions the kubelet runs at container lifecycle events.",
        {
            "postStart": c(
                "LifecycleHandler", "Runs right after the container is created; failure restarts it."
            ),
            "preStop": c(
                "LifecycleHandler", "Runs before the container is stopped, within the grace period."
            ),
            "stopSignal": string("The signal sent to stop the container, overriding the image's."),
        },
    ),
    C + "LifecycleHandler": obj(
        "One lifecycle hook action. Exactly one field is set.",
        {
            "exec": c("ExecAction", "Run a command in the container."),
            "httpGet": c("HTTPGetAction", "Send an HTTP GET request."),
            "sleep": c("SleepAction", "Sleep for a while."),
            "tcpSocket": c("TCPSocketAction", "Deprecated; kept for compatibility and not run."),
        },
    ),
    # --- security --------------------------------------------------------------------------
    C + "SecurityContext": obj(
        "Security settings of one container; they override the pod's.",
        {
            "allowPrivilegeEscalation": boolean(
                "Whether a process may gain more privileges than its parent."
            ),
            "appArmorProfile": c("AppArmorProfile", "The AppArmor profile to apply."),
            "capabilities": c("Capabilities", "Linux capabilities to add or drop."),
            "privileged": boolean("Run as privileged: like root on the host."),
            "procMount": string("How /proc is mounted: Default or Unmasked."),
            "readOnlyRootFilesystem": boolean("Mount the root filesystem read-only."),
            "runAsGroup": int64("GID to run the entrypoint as."),
            "runAsNonRoot": boolean("Refuse to start when the container would run as UID 0."),
            "runAsUser": int64("UID to run the entrypoint as."),
            "seLinuxOptions": c("SELinuxOptions", "The SELinux context to apply."),
            "seccompProfile": c("SeccompProfile", "The seccomp profile to apply."),
            "windowsOptions": c("WindowsSecurityContextOptions", "Windows-only settings."),
        },
    ),
    C + "PodSecurityContext": obj(
        "Security settings applied to every container of a pod, and to its volumes.",
        {
            "appArmorProfile": c("AppArmorProfile", "The AppArmor profile to apply."),
            "fsGroup": int64(
                "A supplementary group that owns the pod's volumes and is given to every container."
            ),
            "fsGroupChangePolicy": string(
                "When volume ownership is changed: OnRootMismatch or Always.",
                enum=["Always", "OnRootMismatch"],
            ),
            "runAsGroup": int64("GID to run container entrypoints as."),
            "runAsNonRoot": boolean("Refuse to start containers that would run as UID 0."),
            "runAsUser": int64("UID to run container entrypoints as."),
            "seLinuxChangePolicy": string(
                "How SELinux labels are applied to volumes: MountOption or Recursive."
            ),
            "seLinuxOptions": c("SELinuxOptions", "The SELinux context for all containers."),
            "seccompProfile": c("SeccompProfile", "The seccomp profile for all containers."),
            "supplementalGroups": array(
                int64(), "Extra groups given to the first process of every container.", list_type="atomic"
            ),
            "supplementalGroupsPolicy": string("How supplemental groups are computed: Merge or Strict."),
            "sysctls": array(c("Sysctl"), "Namespaced kernel parameters to set.", list_type="atomic"),
            "windowsOptions": c("WindowsSecurityContextOptions", "Windows-only settings."),
        },
    ),
    C + "Capabilities": obj(
        "Linux capabilities to add to or drop from the runtime's default set.",
        {
            "add": string_array("Capabilities to add.", list_type="atomic"),
            "drop": string_array("Capabilities to drop.", list_type="atomic"),
        },
    ),
    C + "SELinuxOptions": obj(
        "An SELinux context.",
        {
            "level": string("The level label."),
            "role": string("The role label."),
            "type": string("The type label."),
            "user": string("The user label."),
        },
    ),
    C + "SeccompProfile": obj(
        "A seccomp profile.",
        {
            "localhostProfile": string("Path of a profile file on the node, for type Localhost."),
            "type": string(
                "RuntimeDefault, Unconfined or Localhost.", enum=["Localhost", "RuntimeDefault", "Unconfined"]
            ),
        },
        required=["type"],
    ),
    C + "AppArmorProfile": obj(
        "An AppArmor profile.",
        {
            "localhostProfile": string("Name of a profile loaded on the node, for type Localhost."),
            "type": string(
                "RuntimeDefault, Unconfined or Localhost.", enum=["Localhost", "RuntimeDefault", "Unconfined"]
            ),
        },
        required=["type"],
    ),
    C + "WindowsSecurityContextOptions": obj(
        "Windows-specific security settings.",
        {
            "gmsaCredentialSpec": string("Content of the GMSA credential spec."),
            "gmsaCredentialSpecName": string("Name of the GMSA credential spec."),
            "hostProcess": boolean("Run as a host process container."),
            "runAsUserName": string("The Windows user to run the entrypoint as."),
        },
    ),
    C + "Sysctl": obj(
        "One kernel parameter.",
        {"name": string("Parameter name."), "value": string("Parameter value.")},
        required=["name", "value"],
    ),
    # --- scheduling ------------------------------------------------------------------------
    C + "Affinity": obj(
        "Scheduling constraints of a pod.",
        {
            "nodeAffinity": c("NodeAffinity", "Which nodes the pod may or prefers to run on."),
            "podAffinity": c("PodAffinity", "Pods this pod should run near."),
            "podAntiAffinity": c("PodAntiAffinity", "Pods this pod should run away from."),
        },
    ),
    C + "NodeAffinity": obj(
        "Node placement rules, by node labels and fields.",
        {
            "preferredDuringSchedulingIgnoredDuringExecution": array(
                c("PreferredSchedulingTerm"),
                "Weighted preferences; nodes matching more weight score higher.",
                list_type="atomic",
            ),
            "requiredDuringSchedulingIgnoredDuringExecution": c(
                "NodeSelector", "Rules a node must satisfy for the pod to be scheduled there."
            ),
        },
    ),
    C + "NodeSelector": obj(
        "A set of node selector terms; a node matches if any term matches.",
        {"nodeSelectorTerms": array(c("NodeSelectorTerm"), "The terms, ORed.", list_type="atomic")},
        required=["nodeSelectorTerms"],
        map_type="atomic",
    ),
    C + "NodeSelectorTerm": obj(
        "Requirements on node labels and fields, ANDed. An empty term matches nothing.",
        {
            "matchExpressions": {**_NODE_SELECTOR_REQ, "description": "Requirements on node labels."},
            "matchFields": {
                **_NODE_SELECTOR_REQ,
                "description": "Requirements on node fields (metadata.name).",
            },
        },
        map_type="atomic",
    ),
    C + "NodeSelectorRequirement": obj(
        "One requirement on a node label or field.",
        {
            "key": string("The label key or field name."),
            "operator": string(
                "In, NotIn, Exists, DoesNotExist, Gt or Lt.",
                enum=["DoesNotExist", "Exists", "Gt", "In", "Lt", "NotIn"],
            ),
            "values": string_array(
                "Values to compare with; one integer for Gt and Lt, none for Exists and DoesNotExist.",
                list_type="atomic",
            ),
        },
        required=["key", "operator"],
    ),
    C + "PreferredSchedulingTerm": obj(
        "A weighted node preference.",
        {
            "preference": c("NodeSelectorTerm", "The nodes preferred."),
            "weight": integer("Weight, 1 to 100."),
        },
        required=["weight", "preference"],
    ),
    C + "PodAffinity": obj(
        "Rules that place a pod in the same topology domain as other pods.",
        {
            "preferredDuringSchedulingIgnoredDuringExecution": array(
                c("WeightedPodAffinityTerm"), "Weighted preferences.", list_type="atomic"
            ),
            "requiredDuringSchedulingIgnoredDuringExecution": array(
                c("PodAffinityTerm"), "Rules that must hold at scheduling time.", list_type="atomic"
            ),
        },
    ),
    C + "PodAntiAffinity": obj(
        "Rules that keep a pod out of topology domains holding certain other pods.",
        {
            "preferredDuringSchedulingIgnoredDuringExecution": array(
                c("WeightedPodAffinityTerm"), "Weighted preferences.", list_type="atomic"
            ),
            "requiredDuringSchedulingIgnoredDuringExecution": array(
                c("PodAffinityTerm"), "Rules that must hold at scheduling time.", list_type="atomic"
            ),
        },
    ),
    C + "WeightedPodAffinityTerm": obj(
        "A pod affinity term with a weight.",
        {
            "podAffinityTerm": c("PodAffinityTerm", "The term."),
            "weight": integer("Weight, 1 to 100."),
        },
        required=["weight", "podAffinityTerm"],
    ),
    C + "PodAffinityTerm": obj(
        "A set of pods (by labels and namespaces) and the topology key that defines 'near'.",
        {
            "labelSelector": meta("LabelSelector", "Labels of the pods this term refers to."),
            "matchLabelKeys": string_array(
                "Label keys whose values, taken from the incoming pod, are added to labelSelector.",
                list_type="atomic",
            ),
            "mismatchLabelKeys": string_array(
                "Label keys whose values, taken from the incoming pod, must differ.", list_type="atomic"
            ),
            "namespaceSelector": meta("LabelSelector", "Namespaces to consider, by labels."),
            "namespaces": string_array(
                "Namespaces to consider by name; the pod's own when both this and namespaceSelector are empty.",
                list_type="atomic",
            ),
            "topologyKey": string("The node label whose value defines a topology domain."),
        },
        required=["topologyKey"],
    ),
    C + "Toleration": obj(
        "Lets a pod schedule onto (or stay on) nodes with a matching taint.",
        {
            "effect": string(
                "The taint effect to match; empty matches all.",
                enum=["NoExecute", "NoSchedule", "PreferNoSchedule"],
            ),
            "key": string("The taint key to match; empty with operator Exists matches every taint."),
            "operator": string("Equal (default) or Exists.", enum=["Equal", "Exists"]),
            "tolerationSeconds": int64(
                "For NoExecute: how long the pod stays bound after the taint appears; unset means forever."
            ),
            "value": string("The taint value to match, with operator Equal."),
        },
    ),
    C + "TopologySpreadConstraint": obj(
        "How evenly matching pods are spread across topology domains.",
        {
            "labelSelector": meta("LabelSelector", "The pods counted in each domain."),
            "matchLabelKeys": string_array(
                "Label keys whose values, taken from the incoming pod, narrow the selector.",
                list_type="atomic",
            ),
            "maxSkew": integer("The largest allowed difference in matching pods between two domains."),
            "minDomains": integer("Minimum number of eligible domains."),
            "nodeAffinityPolicy": string(
                "Whether node affinity limits the domains: Honor (default) or Ignore."
            ),
            "nodeTaintsPolicy": string("Whether node taints limit the domains: Honor or Ignore (default)."),
            "topologyKey": string("The node label that defines a domain."),
            "whenUnsatisfiable": string(
                "DoNotSchedule (default) or ScheduleAnyway.", enum=["DoNotSchedule", "ScheduleAnyway"]
            ),
        },
        required=["maxSkew", "topologyKey", "whenUnsatisfiable"],
    ),
    C + "PodDNSConfig": obj(
        "DNS settings of a pod beyond those from its DNS policy.",
        {
            "nameservers": string_array("Name server addresses.", list_type="atomic"),
            "options": array(c("PodDNSConfigOption"), "Resolver options.", list_type="atomic"),
            "searches": string_array("Search domains.", list_type="atomic"),
        },
    ),
    C + "PodDNSConfigOption": obj(
        "One resolver option.",
        {"name": string("Option name."), "value": string("Option value.")},
    ),
    C + "HostAlias": obj(
        "An /etc/hosts entry.",
        {
            "hostnames": string_array("Names for the address.", list_type="atomic"),
            "ip": string("The address."),
        },
        required=["ip"],
    ),
    C + "PodOS": obj(
        "The operating system of a pod.",
        {"name": string("linux or windows.")},
        required=["name"],
    ),
    C + "PodReadinessGate": obj(
        "An extra condition that must be True for the pod to be ready.",
        {"conditionType": string("The type of a condition in the pod's status.")},
        required=["conditionType"],
    ),
    C + "PodSchedulingGate": obj(
        "A gate that holds a pod back from scheduling.",
        {"name": string("The gate's name; unique in the pod.")},
        required=["name"],
    ),
    C + "PodResourceClaim": obj(
        "A named dynamic resource claim of a pod: an existing claim or one made from a template.",
        {
            "name": string("Name of the entry, referred to by containers."),
            "resourceClaimName": string("An existing ResourceClaim in the pod's namespace."),
            "resourceClaimTemplateName": string(
                "A ResourceClaimTemplate from which a claim is made for this pod."
            ),
        },
        required=["name"],
    ),
    C + "LocalObjectReference": obj(
        "A reference to an object in the same namespace, by name.",
        {"name": string("Name of the object.")},
        map_type="atomic",
    ),
    # --- status ----------------------------------------------------------------------------
    C + "PodStatus": obj(
        "The observed state of a pod; may lag behind the real state.",
        {
            "conditions": _conditions("PodCondition", "The pod's current conditions."),
            "containerStatuses": array(
                c("ContainerStatus"), "One entry per container of spec.containers.", list_type="atomic"
            ),
            "ephemeralContainerStatuses": array(
                c("ContainerStatus"), "One entry per ephemeral container.", list_type="atomic"
            ),
            "hostIP": string("Primary IP of the node the pod is on."),
            "hostIPs": array(
                c("HostIP"), "IPs of the node the pod is on.", merge_key="ip", list_type="atomic"
            ),
            "initContainerStatuses": array(
                c("ContainerStatus"), "One entry per init container.", list_type="atomic"
            ),
            "message": string("A human-readable note on why the pod is in this state."),
            "nominatedNodeName": string("A node where preemption made room for this pod."),
            "observedGeneration": int64("The pod generation this status reflects."),
            "phase": string(
                "Where the pod is in its lifecycle: Pending, Running, Succeeded, Failed or Unknown.",
                enum=["Failed", "Pending", "Running", "Succeeded", "Unknown"],
            ),
            "podIP": string("Primary IP of the pod."),
            "podIPs": array(
                c("PodIP"),
                "IPs of the pod, at most one per family; the first equals podIP.",
                merge_key="ip",
                list_type="map",
                list_map_keys=["ip"],
            ),
            "qosClass": string(
                "Quality of service class: Guaranteed, Burstable or BestEffort.",
                enum=["BestEffort", "Burstable", "Guaranteed"],
            ),
            "reason": string("A short CamelCase reason for the state, such as Evicted."),
            "resize": string("Deprecated progress of an in-place resize."),
            "resourceClaimStatuses": array(
                c("PodResourceClaimStatus"),
                "The ResourceClaims generated for the pod's claim entries.",
                merge_key="name",
                strategy="merge,retainKeys",
                list_type="map",
                list_map_keys=["name"],
            ),
            "startTime": time("When the kubelet acknowledged the pod, before any image was pulled."),
        },
    ),
    C + "PodCondition": obj(
        "One aspect of a pod's state (PodScheduled, Initialized, ContainersReady, Ready ...).",
        {
            "lastProbeTime": time("When the condition was last checked."),
            "lastTransitionTime": time("When status last changed."),
            "message": string("Human-readable details."),
            "observedGeneration": int64("The pod generation this condition reflects."),
            "reason": string("CamelCase cause of the last transition."),
            "status": string("True, False or Unknown."),
            "type": string("The condition's type."),
        },
        required=["type", "status"],
    ),
    C + "PodIP": obj("An IP address of a pod.", {"ip": string("The address.")}, required=["ip"]),
    C + "HostIP": obj("An IP address of a pod's node.", {"ip": string("The address.")}, required=["ip"]),
    C + "PodResourceClaimStatus": obj(
        "The ResourceClaim made for one of a pod's claim entries.",
        {
            "name": string("The entry in spec.resourceClaims."),
            "resourceClaimName": string("The generated claim; empty when none was needed."),
        },
        required=["name"],
    ),
    C + "ContainerStatus": obj(
        "The observed state of one container.",
        {
            "allocatedResources": quantity_map("Resources the node has allocated to the container."),
            "allocatedResourcesStatus": array(
                c("ResourceStatus"),
                "Health of the devices allocated to the container.",
                list_type="map",
                list_map_keys=["name"],
            ),
            "containerID": string("The runtime's id, as '<runtime>://<id>'."),
            "image": string("The image the container runs."),
            "imageID": string("The id (digest) of the image."),
            "lastState": c("ContainerState", "The state of the previous run, after a restart."),
            "name": string("The container's name."),
            "ready": boolean("Whether the readiness probe passes."),
            "resources": c("ResourceRequirements", "Resources actually applied to the running container."),
            "restartCount": integer("How many times the container has been restarted."),
            "started": boolean("Whether the startup probe has passed (true when there is none)."),
            "state": c("ContainerState", "The current state."),
            "stopSignal": string("The signal used to stop the container."),
            "user": c("ContainerUser", "The identity the first process runs as."),
            "volumeMounts": array(
                c("VolumeMountStatus"),
                "Status of the container's volume mounts.",
                merge_key="mountPath",
                list_type="map",
                list_map_keys=["mountPath"],
            ),
        },
        required=["name", "ready", "restartCount", "image", "imageID"],
    ),
    C + "ContainerState": obj(
        "The state of a container: exactly one of waiting, running or terminated (waiting when none is set).",
        {
            "running": c("ContainerStateRunning", "The container is running."),
            "terminated": c("ContainerStateTerminated", "The container has exited."),
            "waiting": c("ContainerStateWaiting", "The container is not running yet."),
        },
    ),
    C + "ContainerStateWaiting": obj(
        "A container that has not started.",
        {
            "message": string("Why the container is waiting."),
            "reason": string("A short reason, such as ContainerCreating or CrashLoopBackOff."),
        },
    ),
    C + "ContainerStateRunning": obj(
        "A running container.",
        {"startedAt": time("When it last (re)started.")},
    ),
    C + "ContainerStateTerminated": obj(
        "A container that has exited.",
        {
            "containerID": string("The runtime's id of the container."),
            "exitCode": integer("The exit status."),
            "finishedAt": time("When it exited."),
            "message": string("The termination message."),
            "reason": string("A short reason, such as Completed, Error or OOMKilled."),
            "signal": integer("The signal that ended it, if any."),
            "startedAt": time("When it started."),
        },
        required=["exitCode"],
    ),
    C + "ContainerUser": obj(
        "The identity a container's first process runs with.",
        {"linux": c("LinuxContainerUser", "Linux identity.")},
    ),
    C + "LinuxContainerUser": obj(
        "A Linux process identity.",
        {
            "gid": int64("Primary GID."),
            "supplementalGroups": array(int64(), "Supplementary GIDs.", list_type="atomic"),
            "uid": int64("UID."),
        },
        required=["uid", "gid"],
    ),
    C + "VolumeMountStatus": obj(
        "The state of one volume mount.",
        {
            "mountPath": string("Where the volume is mounted."),
            "name": string("The volume."),
            "readOnly": boolean("Whether it is mounted read-only."),
            "recursiveReadOnly": string("Whether submounts are read-only too: Disabled or Enabled."),
        },
        required=["name", "mountPath"],
    ),
    C + "ResourceStatus": obj(
        "Health of the devices behind one allocated resource.",
        {
            "name": string("The resource name."),
            "resources": array(
                c("ResourceHealth"), "Each device.", list_type="map", list_map_keys=["resourceID"]
            ),
        },
        required=["name"],
    ),
    C + "ResourceHealth": obj(
        "Health of one device.",
        {
            "health": string("Healthy, Unhealthy or Unknown."),
            "resourceID": string("The device's id."),
        },
        required=["resourceID"],
    ),
}
