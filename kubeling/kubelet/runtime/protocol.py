"""The runtime protocol the kubelet drives: CRI's RuntimeService, in Python.

The shapes follow CRI (k8s.io/cri-api runtime/v1) closely enough that the
kubelet's logic can mirror upstream's: a *pod sandbox* holds the namespaces
and network of a pod; *containers* are created in a sandbox, started, stopped
with a grace period, and removed; statuses carry CRI's state, exit code,
reason and nanosecond timestamps. Fields the kubelet computes (the cgroup
values from resource requests, the mounts of volumes, the env after
``$(VAR)`` expansion) arrive already computed, as with CRI.

Every method is a coroutine. Errors are :class:`RuntimeError_` subclasses.
``exec_sync`` (exec probes) and ``exec_stream`` (``kubectl exec``: an
:class:`~kubeling.kubelet.runtime.execstream.ExecSession` with stdin, output,
resize and exit code) are here; ``port_forward`` connects inside the
sandbox's network namespace; ``attach`` joins the running container's own
stdio (an :class:`~kubeling.kubelet.runtime.attachstream.AttachSession` with
the exec session's face).
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Protocol


class RuntimeError_(Exception):
    """Base of the runtime's errors."""


class NotFound(RuntimeError_):
    pass


class InvalidArgument(RuntimeError_):
    pass


class ExecTimeout(RuntimeError_):
    """An exec did not finish within its timeout (and was killed)."""


class SandboxState(enum.Enum):
    READY = "SANDBOX_READY"
    NOTREADY = "SANDBOX_NOTREADY"


class ContainerState(enum.Enum):
    CREATED = "CONTAINER_CREATED"
    RUNNING = "CONTAINER_RUNNING"
    EXITED = "CONTAINER_EXITED"
    UNKNOWN = "CONTAINER_UNKNOWN"


class NamespaceMode(enum.Enum):
    POD = "POD"              # shared by the pod's containers (held by the sandbox)
    CONTAINER = "CONTAINER"  # the container's own
    NODE = "NODE"            # the host's (hostNetwork, hostPID, hostIPC)


# Container-level reasons as CRI runtimes report them (the kubelet copies them).
REASON_COMPLETED = "Completed"
REASON_ERROR = "Error"
REASON_OOMKILLED = "OOMKilled"


@dataclasses.dataclass
class PodSandboxMetadata:
    name: str
    namespace: str
    uid: str
    attempt: int = 0


@dataclasses.dataclass
class DNSConfig:
    servers: list[str] = dataclasses.field(default_factory=list)
    searches: list[str] = dataclasses.field(default_factory=list)
    options: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class PortMapping:
    """A container port published on the node (``hostPort``), CRI's PortMapping."""
    protocol: str  # TCP, UDP or SCTP
    container_port: int
    host_port: int
    host_ip: str = ""  # empty: every address of the node


@dataclasses.dataclass
class PodSandboxConfig:
    metadata: PodSandboxMetadata
    hostname: str = ""
    log_directory: str = ""  # container log_path values are relative to it
    dns_config: DNSConfig | None = None  # None: the host's /etc/resolv.conf
    host_aliases: list[tuple[str, list[str]]] = dataclasses.field(default_factory=list)  # (ip, hostnames)
    network: NamespaceMode = NamespaceMode.POD
    ipc: NamespaceMode = NamespaceMode.POD
    pid: NamespaceMode = NamespaceMode.CONTAINER  # POD: shareProcessNamespace
    sysctls: dict[str, str] = dataclasses.field(default_factory=dict)
    port_mappings: list[PortMapping] = dataclasses.field(default_factory=list)
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    annotations: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class PodSandboxStatus:
    id: str
    metadata: PodSandboxMetadata
    state: SandboxState
    created_at: int  # nanoseconds since the epoch
    ip: str = ""  # empty with the host's network
    network: NamespaceMode = NamespaceMode.POD
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    annotations: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ContainerMetadata:
    name: str
    attempt: int = 0


@dataclasses.dataclass
class Mount:
    container_path: str
    host_path: str
    readonly: bool = False
    propagation: str = "private"  # private | rslave | rshared (mountPropagation)


@dataclasses.dataclass
class Resources:
    cpu_shares: int = 0       # 0: the runtime's default (1024)
    cpu_quota: int = 0        # microseconds per period; 0: no limit
    cpu_period: int = 0       # microseconds; 0: 100000
    memory_limit: int = 0     # bytes; 0: no limit
    pids_limit: int = 0       # 0: no limit
    oom_score_adj: int | None = None


@dataclasses.dataclass
class SecurityContext:
    run_as_user: int | None = None  # None: the image's user
    run_as_group: int | None = None
    run_as_username: str = ""
    supplemental_groups: list[int] = dataclasses.field(default_factory=list)
    privileged: bool = False
    add_capabilities: list[str] = dataclasses.field(default_factory=list)   # "NET_ADMIN" or "ALL"
    drop_capabilities: list[str] = dataclasses.field(default_factory=list)
    readonly_rootfs: bool = False
    no_new_privs: bool = False


@dataclasses.dataclass
class ContainerConfig:
    metadata: ContainerMetadata
    image: str  # a reference or image ID the image store resolves
    command: list[str] = dataclasses.field(default_factory=list)  # overrides the image's Entrypoint
    args: list[str] = dataclasses.field(default_factory=list)     # overrides the image's Cmd
    working_dir: str = ""
    envs: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    mounts: list[Mount] = dataclasses.field(default_factory=list)
    log_path: str = ""  # relative to the sandbox's log_directory; empty: no log
    stdin: bool = False
    stdin_once: bool = False  # stdin closes when the first attach that used it ends
    pid_target: str = ""  # a container whose PID namespace this one joins (CRI's TARGET mode: kubectl debug --target)
    tty: bool = False
    resources: Resources = dataclasses.field(default_factory=Resources)
    security: SecurityContext = dataclasses.field(default_factory=SecurityContext)
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    annotations: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ContainerStatus:
    id: str
    sandbox_id: str
    metadata: ContainerMetadata
    state: ContainerState
    created_at: int  # nanoseconds since the epoch; 0 when not (yet) known
    started_at: int = 0
    finished_at: int = 0
    exit_code: int = 0
    reason: str = ""
    message: str = ""
    image: str = ""      # what the config asked for
    image_id: str = ""   # the image's config digest
    image_ref: str = ""  # repository@manifest-digest
    pid: int = 0         # host pid of the container's init while running
    log_path: str = ""   # absolute
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    annotations: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ContainerFilter:
    id: str = ""
    sandbox_id: str = ""
    state: ContainerState | None = None
    labels: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


class RuntimeService(Protocol):
    async def version(self) -> tuple[str, str]:
        """(runtime name, runtime version), e.g. ("runc", "1.1.5")."""

    async def run_pod_sandbox(self, config: PodSandboxConfig) -> str:
        """Create and start a sandbox; returns its id."""

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        """Stop every container of the sandbox (forcibly) and release its network.
        Idempotent; the sandbox stays listed as NOTREADY until removed."""

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        """Remove the sandbox and its containers. Idempotent (a missing one is fine)."""

    async def pod_sandbox_status(self, sandbox_id: str) -> PodSandboxStatus: ...

    async def list_pod_sandboxes(self) -> list[PodSandboxStatus]: ...

    async def create_container(self, sandbox_id: str, config: ContainerConfig,
                               sandbox_config: PodSandboxConfig) -> str:
        """Create (not start) a container in the sandbox; returns its id."""

    async def start_container(self, container_id: str) -> None: ...

    async def stop_container(self, container_id: str, timeout: float) -> None:
        """SIGTERM (or the image's StopSignal), then SIGKILL after ``timeout``
        seconds; returns once the container has exited. Idempotent."""

    async def remove_container(self, container_id: str) -> None:
        """Remove the container (killing it if it still runs). Idempotent."""

    async def container_status(self, container_id: str) -> ContainerStatus: ...

    async def list_containers(self, flt: ContainerFilter | None = None) -> list[ContainerStatus]: ...

    async def exec_sync(self, container_id: str, cmd: list[str], *, timeout: float = 0) -> ExecResult:
        """Run ``cmd`` in the running container (its env, user and working
        directory) and collect its output; ``timeout`` > 0 bounds the wait
        (then :class:`ExecTimeout`). Output beyond 16 MiB per stream is cut."""

    async def exec_stream(self, container_id: str, cmd: list[str], *, tty: bool = False,
                          stdin: bool = False) -> Any:
        """Start ``cmd`` in the running container, attached to pipes (or, with
        ``tty``, a terminal); returns an ``ExecSession``."""

    async def attach(self, container_id: str, *, stdin: bool) -> Any:
        """Join the running container's stdin (if ``stdin`` and it has one), output and
        terminal; returns an ``AttachSession``, whose ``close`` only detaches."""

    async def port_forward(self, sandbox_id: str, port: int) -> Any:
        """A TCP connection (asyncio reader, writer) to ``port`` on the sandbox's loopback."""

    async def reopen_container_log(self, container_id: str) -> None:
        """Make the running container write to a fresh log file at its log path
        (after the kubelet rotated the old one away)."""
