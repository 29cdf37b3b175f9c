"""The OCI runtime spec (``config.json``) of a container, from its image config,
its CRI-shaped container config and its sandbox.

Upstream rules this follows:

* process args: ``command`` replaces the image's Entrypoint and then the
  image's Cmd is dropped; ``args`` replace the image's Cmd; so
  ``(command or Entrypoint) + (args or (Cmd unless command))``;
* env: the image's, then the container's (a later name replaces an earlier);
  PATH stays if the image has one; HOSTNAME is the sandbox's hostname;
* user: ``runAsUser``/``runAsGroup`` win over the image's ``User``, which may be
  ``name``, ``uid``, ``name:group`` or ``uid:gid`` (names looked up in the
  rootfs' /etc/passwd and /etc/group); supplementary groups are the user's
  groups from /etc/group plus ``supplementalGroups``;
* capabilities: the default set of Docker/containerd, then ``drop`` and
  ``add`` (``ALL`` works in both); privileged gets every capability, no masked
  paths and read-write /sys;
* resources: CPU shares/quota/period, memory (swap capped at the same value so
  the limit is real) and pids go to ``linux.resources``.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

from kubeling.kubelet.runtime import protocol

DEFAULT_CAPS = ["CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
                "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"]
ALL_CAPS = ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
            "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
            "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
            "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
            "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
            "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"]
MASKED_PATHS = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def _norm_cap(name: str) -> str:
    name = name.upper()
    return name.removeprefix("CAP_")


def capabilities(sec: protocol.SecurityContext) -> list[str]:
    if sec.privileged:
        return list(ALL_CAPS)
    drop = {_norm_cap(c) for c in sec.drop_capabilities}
    add = [_norm_cap(c) for c in sec.add_capabilities]
    caps = [] if "ALL" in drop else [c for c in DEFAULT_CAPS if c not in drop]
    for c in (ALL_CAPS if "ALL" in add else add):
        if c not in caps:
            caps.append(c)
    return caps


def process_args(image_config: dict[str, Any], config: protocol.ContainerConfig) -> list[str]:
    entrypoint = image_config.get("Entrypoint") or []
    cmd = image_config.get("Cmd") or []
    if config.command:
        return list(config.command) + list(config.args)
    return list(entrypoint) + list(config.args or cmd)


def merge_env(image_env: list[str], envs: list[tuple[str, str]], *, hostname: str, tty: bool = False) -> list[str]:
    merged: dict[str, str] = {}
    if tty:
        merged["TERM"] = "xterm"  # as containerd sets it for a terminal; the image or pod may override
    for item in image_env:
        key, _, value = item.partition("=")
        merged[key] = value
    merged.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    if hostname:
        merged["HOSTNAME"] = hostname
    for key, value in envs:
        merged[key] = value
    return [f"{k}={v}" for k, v in merged.items()]


def _read_db(rootfs: pathlib.Path, name: str) -> list[list[str]]:
    # Read through the rootfs without following absolute symlinks out of it: the
    # files are small and only consulted when the image names a user.
    path = rootfs / "etc" / name
    try:
        if path.is_symlink():
            return []
        return [line.split(":") for line in path.read_text(errors="replace").splitlines()
                if line and not line.startswith("#")]
    except OSError:
        return []


def resolve_user(rootfs: pathlib.Path, image_user: str,
                 sec: protocol.SecurityContext) -> tuple[int, int, list[int]]:
    """(uid, gid, additional gids) for the container's process."""
    passwd = _read_db(rootfs, "passwd")
    groups = _read_db(rootfs, "group")
    user_part, _, group_part = (image_user or "").partition(":")
    uid, gid, username = 0, 0, "root"
    if sec.run_as_user is not None:
        uid = sec.run_as_user
        username = next((p[0] for p in passwd if len(p) > 3 and p[2] == str(uid)), "")
        gid = next((int(p[3]) for p in passwd if len(p) > 3 and p[2] == str(uid) and p[3].isdigit()), 0)
        group_part = ""
    elif sec.run_as_username or user_part:
        name = sec.run_as_username or user_part
        if name.isdigit():
            uid = int(name)
            entry = next((p for p in passwd if len(p) > 3 and p[2] == name), None)
        else:
            entry = next((p for p in passwd if len(p) > 3 and p[0] == name), None)
            if entry is None:
                raise protocol.InvalidArgument(f"unable to find user {name}: no matching entries in passwd file")
            uid = int(entry[2])
        username = entry[0] if entry else ""
        gid = int(entry[3]) if entry and entry[3].isdigit() else 0
    if group_part:
        if group_part.isdigit():
            gid = int(group_part)
        else:
            g = next((g for g in groups if len(g) > 2 and g[0] == group_part), None)
            if g is None:
                raise protocol.InvalidArgument(f"unable to find group {group_part}")
            gid = int(g[2])
    if sec.run_as_group is not None:
        gid = sec.run_as_group
    extra: list[int] = []
    if username:
        for g in groups:
            if len(g) > 3 and username in g[3].split(",") and g[2].isdigit() and int(g[2]) != gid:
                extra.append(int(g[2]))
    for g2 in sec.supplemental_groups:
        if g2 not in extra:
            extra.append(g2)
    return uid, gid, extra


def build(*, rootfs: pathlib.Path, image_config: dict[str, Any], config: protocol.ContainerConfig,
          sandbox: protocol.PodSandboxConfig, hostname: str, namespaces: dict[str, str],
          sandbox_mounts: dict[str, str], cgroups_path: str) -> dict[str, Any]:
    """The OCI config. ``namespaces`` maps ``network``/``ipc``/``uts`` to the
    sandbox's namespace files (a missing key with a NODE mode means the host's);
    ``sandbox_mounts`` maps /etc/hosts, /etc/resolv.conf, /etc/hostname and
    /dev/shm to the sandbox's files, bind-mounted unless the container config
    mounts that path itself (the kubelet manages /etc/hosts that way)."""
    img = image_config.get("config") or {}
    args = process_args(img, config)
    if not args:
        raise protocol.InvalidArgument("no command specified: the image has no Entrypoint or Cmd and the "
                                       "container gives no command")
    sec = config.security
    uid, gid, extra_gids = resolve_user(rootfs, img.get("User", ""), sec)
    caps = capabilities(sec)
    process: dict[str, Any] = {
        "terminal": config.tty,
        "user": {"uid": uid, "gid": gid, "additionalGids": extra_gids},
        "args": args,
        "env": merge_env(img.get("Env") or [], config.envs, hostname=hostname, tty=config.tty),
        "cwd": config.working_dir or img.get("WorkingDir") or "/",
        # The OCI spec spells them CAP_CHOWN; Kubernetes spells them CHOWN.
        "capabilities": {k: ["CAP_" + c for c in caps] for k in ("bounding", "effective", "permitted")},
        "noNewPrivileges": sec.no_new_privs and not sec.privileged,
    }
    if not process["cwd"].startswith("/"):
        raise protocol.InvalidArgument(f"working directory {process['cwd']!r} is not absolute")
    if config.resources.oom_score_adj is not None:
        process["oomScoreAdj"] = config.resources.oom_score_adj
    sys_opts = ["nosuid", "noexec", "nodev"] + ([] if sec.privileged else ["ro"])
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime"] + ([] if sec.privileged else ["ro"])},
    ]
    wanted = {m.container_path.rstrip("/") or "/" for m in config.mounts}
    for dest, src in sandbox_mounts.items():
        if dest in wanted:
            continue
        opts = ["rbind", "rprivate"] + (["ro"] if sec.readonly_rootfs and dest != "/dev/shm" else [])
        mounts.append({"destination": dest, "type": "bind", "source": src, "options": opts})
    for m in config.mounts:
        if not m.container_path.startswith("/"):
            raise protocol.InvalidArgument(f"mount path {m.container_path!r} is not absolute")
        prop = {"private": "rprivate", "rslave": "rslave", "rshared": "rshared",
                "HostToContainer": "rslave", "Bidirectional": "rshared"}.get(m.propagation, "rprivate")
        mounts.append({"destination": m.container_path, "type": "bind", "source": m.host_path,
                       "options": ["rbind", prop] + (["ro"] if m.readonly else ["rw"])})
    ns: list[dict[str, str]] = [{"type": "mount"}]
    if "pid" in namespaces:  # the pod's (shareProcessNamespace) or a target container's
        ns.append({"type": "pid", "path": namespaces["pid"]})
    elif sandbox.pid != protocol.NamespaceMode.NODE:
        ns.append({"type": "pid"})
    host_network = sandbox.network == protocol.NamespaceMode.NODE
    for kind in ("network", "ipc", "uts"):
        if kind in namespaces:
            ns.append({"type": kind, "path": namespaces[kind]})
        elif (kind == "ipc" and sandbox.ipc != protocol.NamespaceMode.NODE) or (kind == "uts" and not host_network):
            ns.append({"type": kind})
    res = config.resources
    resources: dict[str, Any] = {"devices": [{"allow": sec.privileged, "access": "rwm"}]}
    cpu: dict[str, Any] = {}
    if res.cpu_shares:
        cpu["shares"] = res.cpu_shares
    if res.cpu_quota:
        cpu["quota"] = res.cpu_quota
        cpu["period"] = res.cpu_period or 100000
    if cpu:
        resources["cpu"] = cpu
    if res.memory_limit:
        resources["memory"] = {"limit": res.memory_limit}
        if os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes") or os.path.exists(
                "/sys/fs/cgroup/cgroup.controllers"):
            resources["memory"]["swap"] = res.memory_limit
    if res.pids_limit:
        resources["pids"] = {"limit": res.pids_limit}
    linux: dict[str, Any] = {
        "namespaces": ns,
        "resources": resources,
        "cgroupsPath": cgroups_path,
        "sysctl": dict(sandbox.sysctls),
    }
    if not sec.privileged:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
    spec: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": str(rootfs), "readonly": sec.readonly_rootfs},
        "mounts": mounts,
        "linux": linux,
        "annotations": dict(config.annotations),
    }
    if any(n["type"] == "uts" for n in ns):
        # With the host's UTS namespace (hostNetwork) the hostname is the node's own.
        spec["hostname"] = hostname
    return spec
