"""From a Pod to the runtime's configs (upstream's ``kuberuntime`` container
config generation): the sandbox config, and for each container its command,
environment (service variables from :mod:`kubeling.kubelet.servicelinks`,
env, envFrom, downward API, ``$(VAR)`` expansion), resources as cgroup
values, security context and mounts (``subPathExpr`` resolved by
:mod:`kubeling.kubelet.subpath` against the environment).

Values that need other objects (ConfigMaps, Secrets) come from a
:class:`Sources` the caller fills through the API, so this module stays pure.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from typing import Any

from kubeling.kubelet import servicelinks, subpath, sysctls
from kubeling.kubelet.runtime import protocol as cri
from kubeling.lib import quantity

Obj = dict[str, Any]

# Upstream's cgroup conversions (pkg/kubelet/cm/helpers_linux.go facts).
MIN_SHARES = 2
SHARES_PER_CPU = 1024
QUOTA_PERIOD = 100_000  # microseconds

_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class ConfigError(Exception):
    """The pod cannot be started as written (a missing key, an unknown field path);
    the message is shown in the container's waiting reason CreateContainerConfigError."""


@dataclasses.dataclass
class Sources:
    """ConfigMaps and Secrets of the pod's namespace, by name (None: does not exist),
    and the cluster's Services for the service environment variables (None: the
    caller does not provide them, so none are set)."""

    configmaps: dict[str, Obj | None] = dataclasses.field(default_factory=dict)
    secrets: dict[str, Obj | None] = dataclasses.field(default_factory=dict)
    services: list[Obj] | None = None


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: known variables are replaced, unknown
    references stay as written, ``$$`` is a literal ``$``."""
    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env.get(name, m.group(0))

    return _VAR.sub(sub, text)


def _secret_value(secret: Obj, key: str) -> str | None:
    data = secret.get("data") or {}
    if key in data:
        return base64.b64decode(data[key]).decode("utf-8", "replace")
    string_data = secret.get("stringData") or {}
    return string_data.get(key)  # type: ignore[no-any-return]


def field_value(pod: Obj, path: str, *, node_ip: str = "") -> str:
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    simple = {
        "metadata.name": md.get("name", ""), "metadata.namespace": md.get("namespace", ""),
        "metadata.uid": md.get("uid", ""), "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": status.get("hostIP") or node_ip, "status.hostIPs": status.get("hostIP") or node_ip,
        "status.podIP": status.get("podIP", ""),
        "status.podIPs": ",".join(i.get("ip", "") for i in status.get("podIPs") or []),
    }
    if path in simple:
        return str(simple[path])
    m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if m:
        return str((md.get(m.group(1)) or {}).get(m.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = md.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    raise ConfigError(f"unsupported fieldRef fieldPath {path!r}")


def resource_value(container: Obj, ref: Obj, *, node_allocatable: Obj | None = None) -> str:
    """resourceFieldRef: limits.cpu, requests.memory … with an optional divisor
    (cpu rounds up to whole divisors, as upstream)."""
    res = ref.get("resource", "")
    kind, _, name = res.partition(".")
    value = ((container.get("resources") or {}).get(kind) or {}).get(name)
    if value is None and kind == "limits" and node_allocatable:
        value = node_allocatable.get(name)  # no limit: the node's allocatable, as upstream
    if value is None:
        value = "0"
    q = quantity.parse(str(value))
    divisor = quantity.parse(str(ref.get("divisor") or "1"))
    nanos, dnanos = q.nanos, divisor.nanos
    if dnanos == 0:
        raise ConfigError(f"divisor of {res} is zero")
    return str(-(-nanos // dnanos))


def environment(pod: Obj, container: Obj, sources: Sources, *, node_ip: str = "",
                service_env: dict[str, str] | None = None,
                node_allocatable: Obj | None = None) -> list[tuple[str, str]]:
    """The container's environment in upstream's order: service links, envFrom,
    then env (later entries win; ``$(VAR)`` sees what is defined before it).
    ``service_env`` defaults to what :func:`servicelinks.environment` makes of
    ``sources.services``."""
    if service_env is None and sources.services is not None:
        service_env = servicelinks.environment(sources.services, pod)
    env: dict[str, str] = dict(service_env or {})
    for src in container.get("envFrom") or []:
        prefix = src.get("prefix") or ""
        if src.get("configMapRef"):
            ref = src["configMapRef"]
            cm = sources.configmaps.get(ref.get("name", ""))
            if cm is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'configmap "{ref.get("name", "")}" not found')
            for k, v in (cm.get("data") or {}).items():
                env[prefix + k] = v
        elif src.get("secretRef"):
            ref = src["secretRef"]
            secret = sources.secrets.get(ref.get("name", ""))
            if secret is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'secret "{ref.get("name", "")}" not found')
            for k in (secret.get("data") or {}):
                env[prefix + k] = _secret_value(secret, k) or ""
    for var in container.get("env") or []:
        name = var.get("name", "")
        if "value" in var or not var.get("valueFrom"):
            env[name] = expand(str(var.get("value") or ""), env)
            continue
        vf = var["valueFrom"]
        if vf.get("fieldRef"):
            env[name] = field_value(pod, vf["fieldRef"].get("fieldPath", ""), node_ip=node_ip)
        elif vf.get("resourceFieldRef"):
            env[name] = resource_value(container, vf["resourceFieldRef"], node_allocatable=node_allocatable)
        elif vf.get("configMapKeyRef"):
            ref = vf["configMapKeyRef"]
            cm = sources.configmaps.get(ref.get("name", ""))
            value = None if cm is None else (cm.get("data") or {}).get(ref.get("key", ""))
            if value is None:
                if ref.get("optional"):
                    continue
                what = "configmap" if cm is None else f'key {ref.get("key", "")} in configmap'
                raise ConfigError(f'couldn\'t find {what} "{ref.get("name", "")}"' if cm is None
                                  else f'couldn\'t find {what} {ref.get("name", "")}')
            env[name] = value
        elif vf.get("secretKeyRef"):
            ref = vf["secretKeyRef"]
            secret = sources.secrets.get(ref.get("name", ""))
            value = None if secret is None else _secret_value(secret, ref.get("key", ""))
            if value is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'secret "{ref.get("name", "")}" not found' if secret is None
                                  else f'couldn\'t find key {ref.get("key", "")} in Secret '
                                       f'{pod["metadata"].get("namespace", "")}/{ref.get("name", "")}')
            env[name] = value
    return list(env.items())


def resources(container: Obj) -> cri.Resources:
    """requests.cpu → shares, limits.cpu → quota, limits.memory → limit."""
    res = container.get("resources") or {}
    requests = res.get("requests") or {}
    limits = res.get("limits") or {}
    out = cri.Resources()
    cpu_req = requests.get("cpu") or limits.get("cpu")
    if cpu_req is not None:
        milli = _milli(cpu_req)
        out.cpu_shares = max(MIN_SHARES, milli * SHARES_PER_CPU // 1000)
    else:
        out.cpu_shares = MIN_SHARES  # BestEffort CPU, as upstream
    if limits.get("cpu") is not None:
        out.cpu_period = QUOTA_PERIOD
        out.cpu_quota = max(1000, _milli(limits["cpu"]) * QUOTA_PERIOD // 1000)
    if limits.get("memory") is not None:
        out.memory_limit = _bytes(limits["memory"])
    return out


def _milli(value: Any) -> int:
    q = quantity.parse(str(value))
    return -(-q.nanos // 1_000_000)


def _bytes(value: Any) -> int:
    q = quantity.parse(str(value))
    return -(-q.nanos // 1_000_000_000)


def security(pod: Obj, container: Obj) -> cri.SecurityContext:
    psc = (pod.get("spec") or {}).get("securityContext") or {}
    sc = container.get("securityContext") or {}
    caps = sc.get("capabilities") or {}
    out = cri.SecurityContext(
        run_as_user=sc.get("runAsUser", psc.get("runAsUser")),
        run_as_group=sc.get("runAsGroup", psc.get("runAsGroup")),
        supplemental_groups=list(psc.get("supplementalGroups") or []),
        privileged=bool(sc.get("privileged")),
        add_capabilities=list(caps.get("add") or []),
        drop_capabilities=list(caps.get("drop") or []),
        readonly_rootfs=bool(sc.get("readOnlyRootFilesystem")),
        # allowPrivilegeEscalation defaults to true unless privileged is off and it is set false.
        no_new_privs=sc.get("allowPrivilegeEscalation") is False,
    )
    if psc.get("fsGroup") is not None and psc["fsGroup"] not in out.supplemental_groups:
        out.supplemental_groups.append(psc["fsGroup"])
    return out


def container_config(pod: Obj, container: Obj, *, attempt: int, env: list[tuple[str, str]],
                     mounts: list[cri.Mount], log_path: str) -> cri.ContainerConfig:
    envmap = dict(env)
    command = [expand(a, envmap) for a in container.get("command") or []]
    args = [expand(a, envmap) for a in container.get("args") or []]
    try:
        mounts = subpath.apply(container, mounts, envmap)
    except (subpath.SubPathError, OSError) as exc:
        raise ConfigError(str(exc)) from exc
    md = pod.get("metadata") or {}
    return cri.ContainerConfig(
        metadata=cri.ContainerMetadata(name=container["name"], attempt=attempt),
        image=container.get("image", ""),
        command=command, args=args, working_dir=container.get("workingDir") or "",
        envs=env, mounts=mounts, log_path=log_path,
        stdin=bool(container.get("stdin")), stdin_once=bool(container.get("stdinOnce")),
        tty=bool(container.get("tty")),
        resources=resources(container), security=security(pod, container),
        labels={"io.kubernetes.pod.uid": md.get("uid", ""), "io.kubernetes.pod.name": md.get("name", ""),
                "io.kubernetes.pod.namespace": md.get("namespace", ""),
                "io.kubernetes.container.name": container["name"]},
        annotations={"io.kubernetes.container.restartCount": str(attempt),
                     "io.kubernetes.container.terminationMessagePath":
                         container.get("terminationMessagePath") or "/dev/termination-log"},
    )


def sandbox_config(pod: Obj, *, log_directory: str, dns: cri.DNSConfig | None, attempt: int = 0) -> cri.PodSandboxConfig:
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    hostname = spec.get("hostname") or md.get("name", "")
    node = cri.NamespaceMode.NODE
    return cri.PodSandboxConfig(
        metadata=cri.PodSandboxMetadata(name=md.get("name", ""), namespace=md.get("namespace", ""),
                                        uid=md.get("uid", ""), attempt=attempt),
        hostname=hostname[:63],
        log_directory=log_directory,
        dns_config=None if spec.get("dnsPolicy") == "Default" or (
            spec.get("hostNetwork") and spec.get("dnsPolicy") != "ClusterFirstWithHostNet") else dns,
        host_aliases=[(a.get("ip", ""), list(a.get("hostnames") or [])) for a in spec.get("hostAliases") or []],
        network=node if spec.get("hostNetwork") else cri.NamespaceMode.POD,
        ipc=node if spec.get("hostIPC") else cri.NamespaceMode.POD,
        pid=node if spec.get("hostPID") else
        cri.NamespaceMode.POD if spec.get("shareProcessNamespace") else cri.NamespaceMode.CONTAINER,
        sysctls=sysctls.runtime_sysctls(pod),
        port_mappings=[] if spec.get("hostNetwork") else port_mappings(spec),
        labels={"io.kubernetes.pod.uid": md.get("uid", ""), "io.kubernetes.pod.name": md.get("name", ""),
                "io.kubernetes.pod.namespace": md.get("namespace", "")},
    )


def port_mappings(spec: Obj) -> list[cri.PortMapping]:
    """The containers' ports published on the node (``hostPort``)."""
    return [cri.PortMapping(protocol=p.get("protocol") or "TCP", container_port=int(p["containerPort"]),
                            host_port=int(p["hostPort"]), host_ip=p.get("hostIP") or "")
            for kind in ("initContainers", "containers") for c in spec.get(kind) or []
            for p in c.get("ports") or [] if p.get("hostPort") and p.get("containerPort")]
