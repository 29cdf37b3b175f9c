"""Container root filesystems from unpacked layers.

With overlayfs (root, and a kernel that allows it — checked once by mounting a
tiny overlay) the layers are the read-only lower directories, shared by every
container, and each container gets its own ``upper``/``work`` directories.
Otherwise the layers are copied, bottom first, into the container's own
directory (slow and disk-hungry, but works anywhere).

A container's directory (``base``) holds ``rootfs`` and, with overlayfs,
``upper`` and ``work``; :func:`release` unmounts and removes all of it.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile

from kubeling.kubelet import mount
from kubeling.kubelet.images import layers as layerlib
from kubeling.kubelet.images import store as storelib

_overlay_ok: dict[str, bool] = {}


def overlay_supported(scratch: str | os.PathLike[str]) -> bool:
    """Whether an overlay mount works for directories under ``scratch`` (cached)."""
    key = str(scratch)
    if key not in _overlay_ok:
        ok = False
        if os.geteuid() == 0:
            d = tempfile.mkdtemp(dir=scratch, prefix="overlay-check-")
            try:
                for sub in ("l", "u", "w", "m"):
                    os.mkdir(os.path.join(d, sub))
                try:
                    mount.mount("overlay", os.path.join(d, "m"), "overlay", 0,
                                f"lowerdir={d}/l,upperdir={d}/u,workdir={d}/w")
                    ok = True
                    mount.umount(os.path.join(d, "m"))
                except OSError:
                    ok = False
            finally:
                shutil.rmtree(d, ignore_errors=True)
        _overlay_ok[key] = ok
    return _overlay_ok[key]


def prepare(store: storelib.Store, image: storelib.Image, base: str | os.PathLike[str]) -> pathlib.Path:
    """Build the root filesystem of ``image`` at ``<base>/rootfs`` and return it."""
    base = pathlib.Path(base)
    rootfs = base / "rootfs"
    rootfs.mkdir(parents=True, exist_ok=True)
    use_overlay = overlay_supported(store.tmp)
    layer_dirs = store.unpacked_layers(image, overlay_whiteouts=os.geteuid() == 0)
    if use_overlay:
        upper, work = base / "upper", base / "work"
        upper.mkdir(exist_ok=True)
        work.mkdir(exist_ok=True)
        if not layer_dirs:
            empty = base / "empty"
            empty.mkdir(exist_ok=True)
            layer_dirs = [empty]  # overlayfs needs at least one lower directory
        # overlayfs wants the topmost layer first.
        lower = ":".join(str(d) for d in reversed(layer_dirs))
        mount.mount("overlay", str(rootfs), "overlay", 0, f"lowerdir={lower},upperdir={upper},workdir={work}")
    else:
        for d in layer_dirs:
            layerlib.apply(str(d), str(rootfs))
    return rootfs


def release(base: str | os.PathLike[str]) -> None:
    """Unmount and delete a root filesystem made by :func:`prepare` (idempotent)."""
    base = pathlib.Path(base)
    rootfs = base / "rootfs"
    if mount.is_mountpoint(str(rootfs)):
        mount.umount(str(rootfs))
    shutil.rmtree(base, ignore_errors=True)
