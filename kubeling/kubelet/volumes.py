"""Pod volumes on the node (upstream's volume plugins, the simple in-tree ones).

``materialize`` makes each volume of the pod exist under
``<pod dir>/volumes/<name>`` (or names a host path) and returns host paths by
volume name; ``mounts`` turns a container's volumeMounts into runtime mounts.

ConfigMap, Secret, downward API and projected volumes are written the way
upstream's AtomicWriter does it, so a running container never sees half an
update: the files go into a fresh timestamped directory, a ``..data`` symlink
is swapped to it with one rename, and each key is a symlink through
``..data``. Calling ``materialize`` again on a running pod is how updates
reach it; an unchanged payload is left alone. With a pod ``fsGroup`` these
volumes belong to that group, which can always read them (files at least
0440, directories setgid), as upstream's volume ownership does.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import pathlib
import shutil
import stat
import time
from typing import Any

from kubeling.kubelet import containerconfig, mount
from kubeling.kubelet.runtime import protocol as cri
from kubeling.lib import quantity

Obj = dict[str, Any]


class VolumeError(Exception):
    """A volume cannot be set up (the message becomes a FailedMount event)."""


@dataclasses.dataclass
class Sources(containerconfig.Sources):
    """Objects the volumes refer to: ConfigMaps, Secrets, and PVC name → host path."""

    claims: dict[str, str | None] = dataclasses.field(default_factory=dict)


def _default_mode(src: Obj, default: int) -> int:
    """A volume source's defaultMode (projected sources inherit the volume's)."""
    mode = src.get("defaultMode")
    return int(mode) if mode is not None else default


def _mode(item: Obj, default: int) -> int:
    mode = item.get("mode")
    return int(mode) if mode is not None else default


def _atomic_write(target: pathlib.Path, files: dict[str, tuple[bytes, int]], gid: int | None = None) -> None:
    """``gid``: the pod's fsGroup, which then owns the volume (see :func:`_own`).
    A payload equal to what the volume holds is not written again."""
    target.mkdir(parents=True, exist_ok=True)
    if _unchanged(target, files, gid):
        return
    data_dir = target / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.time_ns() % 10**9}"
    data_dir.mkdir()
    for rel, (content, mode) in files.items():
        path = data_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.chmod(path, mode)
    if gid is not None:
        # Before the swap, so a container never sees files without the group's access.
        _own(data_dir, gid)
    link = target / "..data"
    tmp = target / "..data_tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(data_dir.name)
    old = os.readlink(link) if link.is_symlink() else None
    os.replace(tmp, link)
    tops = {rel.split("/", 1)[0] for rel in files}
    for top in tops:
        p = target / top
        if not p.is_symlink():
            p.symlink_to(f"..data/{top}")
    for entry in target.iterdir():
        if entry.name.startswith("..") or entry.name in tops:
            continue
        entry.unlink()  # a key that went away
    if old and old != data_dir.name:
        shutil.rmtree(target / old, ignore_errors=True)
    if gid is not None:
        _own_entry(target, gid)
        for entry in target.iterdir():
            if entry.is_symlink():
                os.lchown(entry, -1, gid)


def _unchanged(target: pathlib.Path, files: dict[str, tuple[bytes, int]], gid: int | None) -> bool:
    link = target / "..data"
    if not link.is_symlink():
        return False
    data_dir = target / os.readlink(link)
    present = {os.path.relpath(os.path.join(d, n), data_dir) for d, _, names in os.walk(data_dir) for n in names}
    if present != set(files):
        return False
    tops = {rel.split("/", 1)[0] for rel in files}
    if {e.name for e in target.iterdir() if not e.name.startswith("..")} != tops:
        return False
    for rel, (content, mode) in files.items():
        st = os.lstat(data_dir / rel)
        want = mode | _FILE_MASK if gid is not None else mode
        if stat.S_IMODE(st.st_mode) != want or (gid is not None and st.st_gid != gid):
            return False
        if (data_dir / rel).read_bytes() != content:
            return False
    return True


# Upstream's volume ownership for its read-only volume kinds (configMap, secret,
# downwardAPI, projected): the fsGroup owns everything, files gain group read,
# directories group read+search and setgid.
_FILE_MASK = 0o440
_DIR_MASK = 0o2550


def _own(root: pathlib.Path, gid: int) -> None:
    _own_entry(root, gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            _own_entry(pathlib.Path(dirpath) / name, gid)


def _own_entry(path: pathlib.Path, gid: int) -> None:
    os.lchown(path, -1, gid)
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return
    mask = _DIR_MASK if stat.S_ISDIR(st.st_mode) else _FILE_MASK
    os.chmod(path, stat.S_IMODE(st.st_mode) | mask)


def _key_files(data: dict[str, bytes], items: list[Obj] | None, default_mode: int,
               missing_ok: bool, what: str) -> dict[str, tuple[bytes, int]]:
    if not items:
        return {k: (v, default_mode) for k, v in data.items()}
    out: dict[str, tuple[bytes, int]] = {}
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if missing_ok:
                continue
            raise VolumeError(f"configuration key {key!r} not found in {what}")
        out[item.get("path") or key] = (data[key], _mode(item, default_mode))
    return out


def _configmap_files(src: Obj, sources: Sources, default_mode: int) -> dict[str, tuple[bytes, int]]:
    name = src.get("name", "")
    cm = sources.configmaps.get(name)
    if cm is None:
        if src.get("optional"):
            return {}
        raise VolumeError(f'configmap "{name}" not found')
    data = {k: v.encode() for k, v in (cm.get("data") or {}).items()}
    data.update({k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()})
    return _key_files(data, src.get("items"), _default_mode(src, default_mode), bool(src.get("optional")),
                      f'configmap "{name}"')


def _secret_files(src: Obj, sources: Sources, default_mode: int) -> dict[str, tuple[bytes, int]]:
    name = src.get("secretName") or src.get("name", "")
    secret = sources.secrets.get(name)
    if secret is None:
        if src.get("optional"):
            return {}
        raise VolumeError(f'secret "{name}" not found')
    data = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
    return _key_files(data, src.get("items"), _default_mode(src, default_mode), bool(src.get("optional")),
                      f'secret "{name}"')


def _downward_files(pod: Obj, src: Obj, default_mode: int,
                    node_allocatable: Obj | None = None) -> dict[str, tuple[bytes, int]]:
    out: dict[str, tuple[bytes, int]] = {}
    spec = pod.get("spec") or {}
    # resourceFieldRef may name an init container too
    containers = {c["name"]: c for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])}
    for item in src.get("items") or []:
        if item.get("fieldRef"):
            value = containerconfig.field_value(pod, item["fieldRef"].get("fieldPath", ""))
        elif item.get("resourceFieldRef"):
            ref = item["resourceFieldRef"]
            value = containerconfig.resource_value(containers.get(ref.get("containerName", ""), {}), ref,
                                                   node_allocatable=node_allocatable)
        else:
            continue
        out[item.get("path", "")] = (value.encode(), _mode(item, default_mode))
    return out


def materialize(pod: Obj, pod_dir: pathlib.Path, sources: Sources, *,
                node_allocatable: Obj | None = None) -> dict[str, str]:
    """Set up every volume; returns volume name → host path. ``node_allocatable``
    stands in for limits a container does not set (downward API resourceFieldRef)."""
    paths: dict[str, str] = {}
    base = pod_dir / "volumes"
    fs_group = ((pod.get("spec") or {}).get("securityContext") or {}).get("fsGroup")
    gid = int(fs_group) if fs_group is not None else None
    for vol in (pod.get("spec") or {}).get("volumes") or []:
        name = vol.get("name", "")
        target = base / name
        if "emptyDir" in vol:
            target.mkdir(parents=True, exist_ok=True)
            ed = vol.get("emptyDir") or {}
            if ed.get("medium") == "Memory" and not mount.is_mountpoint(str(target)):
                opts = "mode=0777"
                if ed.get("sizeLimit"):
                    size = quantity.parse(str(ed["sizeLimit"])).nanos // 1_000_000_000
                    opts += f",size={size}"
                mount.mount("tmpfs", str(target), "tmpfs", 0, opts)
            else:
                os.chmod(target, 0o777)
            if gid is not None:
                os.chown(target, -1, gid)
                os.chmod(target, 0o2777)  # setgid: new files belong to the fsGroup
        elif "configMap" in vol:
            _atomic_write(target, _configmap_files(vol["configMap"], sources, 0o644), gid)
        elif "secret" in vol:
            _atomic_write(target, _secret_files(vol["secret"], sources, 0o644), gid)
        elif "downwardAPI" in vol:
            _atomic_write(target, _downward_files(pod, vol["downwardAPI"], _default_mode(vol["downwardAPI"], 0o644),
                                                  node_allocatable), gid)
        elif "projected" in vol:
            proj = vol["projected"] or {}
            mode = _default_mode(proj, 0o644)
            files: dict[str, tuple[bytes, int]] = {}
            for src in proj.get("sources") or []:
                if src.get("configMap"):
                    files.update(_configmap_files(src["configMap"], sources, mode))
                elif src.get("secret"):
                    files.update(_secret_files(src["secret"], sources, mode))
                elif src.get("downwardAPI"):
                    files.update(_downward_files(pod, src["downwardAPI"], mode, node_allocatable))
            _atomic_write(target, files, gid)
        elif "hostPath" in vol:
            paths[name] = _host_path(vol["hostPath"])
            continue
        elif "persistentVolumeClaim" in vol:
            claim = (vol["persistentVolumeClaim"] or {}).get("claimName", "")
            host = sources.claims.get(claim)
            if not host:
                raise VolumeError(f'persistentvolumeclaim "{claim}" is not bound to a hostPath or local volume')
            pathlib.Path(host).mkdir(parents=True, exist_ok=True)
            paths[name] = host
            continue
        else:
            raise VolumeError(f"volume {name!r}: this volume type is not supported by kubeling's agent")
        paths[name] = str(target)
    return paths


def _host_path(src: Obj) -> str:
    path = src.get("path", "")
    kind = src.get("type") or ""
    p = pathlib.Path(path)
    if kind == "DirectoryOrCreate":
        p.mkdir(parents=True, exist_ok=True, mode=0o755)
    elif kind == "FileOrCreate":
        p.parent.mkdir(parents=True, exist_ok=True)
        p.touch(exist_ok=True)
    elif kind == "Directory" and not p.is_dir():
        raise VolumeError(f"hostPath type check failed: {path} is not a directory")
    elif kind == "File" and not p.is_file():
        raise VolumeError(f"hostPath type check failed: {path} is not a file")
    elif kind == "Socket" and not p.is_socket():
        raise VolumeError(f"hostPath type check failed: {path} is not a socket file")
    return path


def mounts(container: Obj, paths: dict[str, str]) -> list[cri.Mount]:
    out: list[cri.Mount] = []
    for vm in container.get("volumeMounts") or []:
        host = paths.get(vm.get("name", ""))
        if host is None:
            raise VolumeError(f"volume {vm.get('name', '')!r} of mount {vm.get('mountPath', '')!r} does not exist")
        sub = vm.get("subPath") or ""
        if sub:
            if ".." in pathlib.PurePosixPath(sub).parts or sub.startswith("/"):
                raise VolumeError(f"subPath {sub!r} must be a relative path without '..'")
            host = os.path.join(host, sub)
            if not os.path.exists(host):
                os.makedirs(host, exist_ok=True)
        prop = {"HostToContainer": "rslave", "Bidirectional": "rshared"}.get(vm.get("mountPropagation") or "",
                                                                             "private")
        out.append(cri.Mount(container_path=vm.get("mountPath", ""), host_path=host,
                             readonly=bool(vm.get("readOnly")), propagation=prop))
    return out


def teardown(pod_dir: pathlib.Path) -> None:
    """Unmount memory-backed volumes and remove the pod's volume directory."""
    base = pod_dir / "volumes"
    if not base.exists():
        return
    for entry in base.iterdir():
        if mount.is_mountpoint(str(entry)):
            mount.umount(str(entry))
    shutil.rmtree(base, ignore_errors=True)
