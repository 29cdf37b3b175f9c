"""Test images built at test time (no binaries are committed).

:func:`busybox_layout` writes an OCI image-layout tar holding one layer made
from the host's static ``/bin/busybox`` (Debian's busybox-static): the binary at
``/bin/busybox``, a symlink per applet in ``/bin`` (``sh``, ``httpd``,
``sleep``...), ``/etc/passwd`` and ``/etc/group`` with root and nobody, and
``/tmp``. The config runs ``sh`` with a PATH. :func:`oci_layout` and
:func:`docker_save` build arbitrary archives from layer tars for the import
tests.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import pathlib
import subprocess
import tarfile
import time
from typing import Any

BUSYBOX = pathlib.Path("/bin/busybox")
BUSYBOX_REF = "docker.io/library/busybox:test"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(entries: list[tuple[str, Any]], *, gzipped: bool = False) -> bytes:
    """A layer from ``(path, spec)`` pairs. spec: bytes (a file, mode 0644), a
    dict ``{"type": "dir"|"symlink"|"hardlink"|"file"|"chr", ...}``."""
    buf = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, spec in entries:
            if isinstance(spec, bytes):
                spec = {"type": "file", "data": spec}
            info = tarfile.TarInfo(path)
            info.mtime = now
            info.mode = spec.get("mode", 0o755 if spec["type"] == "dir" else 0o644)
            info.uid = spec.get("uid", 0)
            info.gid = spec.get("gid", 0)
            data = None
            if spec["type"] == "dir":
                info.type = tarfile.DIRTYPE
            elif spec["type"] == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, spec["target"]
            elif spec["type"] == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, spec["target"]
            elif spec["type"] == "chr":
                info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, spec["major"], spec["minor"]
            else:
                data = spec["data"]
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0) if gzipped else raw


def _config(layers_raw: list[bytes], cmd: list[str], env: list[str] | None = None,
            extra: dict[str, Any] | None = None) -> bytes:
    diff_ids = [_digest(gzip.decompress(x) if x[:2] == b"\x1f\x8b" else x) for x in layers_raw]
    cfg: dict[str, Any] = {"Cmd": cmd, "Env": env or [PATH_ENV], "WorkingDir": "/"}
    cfg.update(extra or {})
    return json.dumps({
        "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
        "config": cfg, "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }).encode()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def oci_layout(path: pathlib.Path, layers: list[bytes], *, names: list[str], cmd: list[str] | None = None,
               env: list[str] | None = None, annotation: str = "io.containerd.image.name",
               config_extra: dict[str, Any] | None = None) -> str:
    """Write an OCI image-layout tar; returns the manifest digest."""
    config = _config(layers, cmd or ["sh"], env, config_extra)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _digest(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if x[:2] == b"\x1f\x8b"
                                                                               else ""),
                    "digest": _digest(x), "size": len(x)} for x in layers],
    }).encode()
    mdigest = _digest(manifest)
    descs = [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest,
              "size": len(manifest), "annotations": {annotation: n}} for n in names] or [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest, "size": len(manifest)}]
    index = json.dumps({"schemaVersion": 2, "manifests": descs}).encode()
    with tarfile.open(path, "w") as tar:
        _add(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        _add(tar, "index.json", index)
        for blob in [config, manifest, *layers]:
            _add(tar, "blobs/sha256/" + _digest(blob)[7:], blob)
    return mdigest


def docker_save(path: pathlib.Path, layers: list[bytes], *, repo_tags: list[str], cmd: list[str] | None = None,
                legacy: bool = True) -> str:
    """Write a ``docker save`` archive (legacy layout: ``<id>/layer.tar``);
    returns the config digest (the image ID)."""
    config = _config(layers, cmd or ["sh"])
    cname = _digest(config)[7:] + ".json" if legacy else "blobs/sha256/" + _digest(config)[7:]
    layer_names = [(f"{hashlib.sha256(x + b'id').hexdigest()}/layer.tar" if legacy
                    else "blobs/sha256/" + _digest(x)[7:]) for x in layers]
    manifest = json.dumps([{"Config": cname, "RepoTags": repo_tags, "Layers": layer_names}]).encode()
    with tarfile.open(path, "w") as tar:
        _add(tar, "manifest.json", manifest)
        _add(tar, cname, config)
        for name, blob in zip(layer_names, layers):
            _add(tar, name, blob)
    return _digest(config)


def busybox_layer(*, gzipped: bool = False) -> bytes:
    applets = subprocess.run([str(BUSYBOX), "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    entries: list[tuple[str, Any]] = [
        ("bin", {"type": "dir"}),
        ("bin/busybox", {"type": "file", "data": BUSYBOX.read_bytes(), "mode": 0o755}),
    ]
    entries += [(f"bin/{a}", {"type": "symlink", "target": "busybox"})
                for a in sorted(set(applets)) if a != "busybox" and "/" not in a]
    entries += [
        ("etc", {"type": "dir"}),
        ("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
        ("etc/group", b"root:x:0:\nnogroup:x:65534:\n"),
        ("root", {"type": "dir", "mode": 0o700}),
        ("tmp", {"type": "dir", "mode": 0o1777}),
        ("var", {"type": "dir"}),
        ("var/www", {"type": "dir"}),
        ("var/www/index.html", b"hello from busybox httpd\n"),
    ]
    return layer_tar(entries, gzipped=gzipped)


def busybox_layout(path: pathlib.Path, *, names: list[str] | None = None, gzipped: bool = True) -> str:
    """The busybox test image as an OCI image-layout tar at ``path``."""
    return oci_layout(path, [busybox_layer(gzipped=gzipped)], names=names or [BUSYBOX_REF], cmd=["sh"])
