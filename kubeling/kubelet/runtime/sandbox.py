"""The pieces of a pod sandbox that are not containers: held namespaces and
the files every container of the pod shares.

Namespaces are *held* without a process, the way ``ip netns add`` holds one:
``unshare --net=FILE --ipc=FILE --uts=FILE hostname NAME`` creates them, sets
the hostname inside the new UTS namespace, and bind-mounts each namespace onto
its file; containers then join them through the OCI spec's
``namespaces[].path``. Unmounting the files (and the last container leaving)
frees them. Files: ``hosts``, ``resolv.conf``, ``hostname`` and a ``shm``
tmpfs (the pod's /dev/shm, shared as the IPC namespace is).

A PID namespace cannot be held that way: once its first process (its init)
is gone, nothing can join it. So a pod-wide one (``shareProcessNamespace``)
is held by a process, as upstream's pause container does: ``catatonit -P``
(Debian's ``catatonit``, an init made to pause and reap zombies) runs as PID 1
of a new PID namespace, detached from the agent so it outlives restarts;
containers join ``/proc/<its pid>/ns/pid``, and killing it ends every process
of the namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pathlib
import shutil
import signal
import subprocess
import sys

from kubeling.kubelet import mount
from kubeling.kubelet.runtime import protocol

SHM_SIZE = 64 * 1024 * 1024


async def hold_namespaces(files: dict[str, pathlib.Path], hostname: str) -> None:
    """Create the namespaces named in ``files`` (keys ``network``, ``ipc``,
    ``uts``) and bind them onto those files."""
    if not files:
        return
    flag = {"network": "--net", "ipc": "--ipc", "uts": "--uts"}
    args = []
    for kind, path in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        args.append(f"{flag[kind]}={path}")
    unshare = shutil.which("unshare") or "/usr/bin/unshare"
    command = ["hostname", hostname] if "uts" in files and hostname else ["true"]
    proc = await asyncio.create_subprocess_exec(unshare, *args, *command, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        release_namespaces(files)
        raise protocol.RuntimeError_(f"creating the sandbox namespaces: {err.decode(errors='replace').strip()}")


# Run as `python -I -S -c PID_HOLDER <catatonit>`: unshare(CLONE_NEWPID) applies to the caller's
# next child, which becomes the namespace's PID 1; the launcher prints its host pid and exits, so
# the holder is re-parented away from the agent (nothing of the agent's to reap).
PID_HOLDER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x20000000) != 0:
    sys.exit("unshare(CLONE_NEWPID): " + os.strerror(ctypes.get_errno()))
pid = os.fork()
if pid == 0:
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.execv(sys.argv[1], [sys.argv[1], "-P"])
print(pid)
"""


def _ns_inode(pid: int) -> int:
    return os.stat(f"/proc/{pid}/ns/pid").st_ino


async def start_pid_holder() -> dict[str, int]:
    """A new PID namespace with its init; returns ``{"pid": host pid, "ino": namespace inode}``."""
    catatonit = shutil.which("catatonit")
    if catatonit is None:
        raise protocol.RuntimeError_("a pod-wide PID namespace (shareProcessNamespace) needs catatonit: "
                                     "apt-get install catatonit")
    proc = await asyncio.to_thread(subprocess.run, [sys.executable, "-I", "-S", "-c", PID_HOLDER, catatonit],
                                   stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if proc.returncode != 0:
        raise protocol.RuntimeError_(f"creating the pod's PID namespace: {proc.stderr.decode(errors='replace')}")
    pid = int(proc.stdout)
    return {"pid": pid, "ino": _ns_inode(pid)}


def pid_holder_path(holder: dict[str, int]) -> str:
    """The namespace file to join, after checking the pid still is that holder (pids are reused)."""
    try:
        if _ns_inode(holder["pid"]) == holder["ino"]:
            return f"/proc/{holder['pid']}/ns/pid"
    except OSError:
        pass
    raise protocol.RuntimeError_("the pod's PID namespace is gone (its holder process exited)")


def stop_pid_holder(holder: dict[str, int]) -> None:
    with contextlib.suppress(protocol.RuntimeError_, ProcessLookupError):
        pid_holder_path(holder)
        os.kill(holder["pid"], signal.SIGKILL)


def release_namespaces(files: dict[str, pathlib.Path]) -> None:
    for path in files.values():
        mount.umount(str(path))
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def mount_shm(path: pathlib.Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if not mount.is_mountpoint(str(path)):
        mount.mount("shm", str(path), "tmpfs", mount.MS_NOSUID | mount.MS_NODEV | mount.MS_NOEXEC,
                    f"mode=1777,size={SHM_SIZE}")


def unmount_shm(path: pathlib.Path) -> None:
    if mount.is_mountpoint(str(path)):
        mount.umount(str(path))


def hosts_file(*, ip: str, hostname: str, aliases: list[tuple[str, list[str]]]) -> str:
    lines = [
        "# Kubernetes-managed hosts file.",
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "fe00::0\tip6-localnet",
        "fe00::0\tip6-mcastprefix",
        "fe00::1\tip6-allnodes",
        "fe00::2\tip6-allrouters",
    ]
    if ip:
        lines.append(f"{ip}\t{hostname}")
    if aliases:
        lines.append("")
        lines.append("# Entries added by HostAliases.")
        lines += [f"{alias_ip}\t{chr(9).join(names)}" for alias_ip, names in aliases]
    return "\n".join(lines) + "\n"


def resolv_conf(dns: protocol.DNSConfig | None) -> str:
    if dns is None:
        try:
            return pathlib.Path("/etc/resolv.conf").read_text()
        except OSError:
            return ""
    out = []
    if dns.searches:
        out.append("search " + " ".join(dns.searches))
    out += [f"nameserver {s}" for s in dns.servers]
    if dns.options:
        out.append("options " + " ".join(dns.options))
    return "\n".join(out) + "\n"


def write_file(path: pathlib.Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
