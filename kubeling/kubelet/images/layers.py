"""Unpacking one image layer (a tar, gzip-compressed or not) into a directory.

Paths are confined to the target: absolute names are made relative, ``..``
components and entries below a symlink are refused, and hard links must point
at an earlier entry of the same layer. Whiteouts (``.wh.<name>``) and opaque
directory markers (``.wh..wh..opq``) are kept in one of two encodings:

* ``overlay`` (root only): a 0/0 character device for a deleted entry and the
  ``trusted.overlay.opaque=y`` xattr on an opaque directory, which is what
  overlayfs reads when the directory is a lower layer;
* ``aufs``: the marker files kept as empty regular files, for the copying
  fallback (which must not see them as content).

:func:`apply` copies an unpacked layer onto a root filesystem honouring either
encoding; it is the copying fallback when overlayfs is not available.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
from typing import IO

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"


class LayerError(Exception):
    """The layer is malformed or tries to escape its directory."""


def _clean_name(name: str) -> str:
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise LayerError(f"layer entry {name!r} escapes the layer")
    return "/".join(parts)


def _safe_parent(root: str, rel: str) -> str:
    """Create the parent directories of ``rel`` under ``root``, refusing to go
    through a symlink (which could point anywhere on the host)."""
    cur = root
    for part in rel.split("/")[:-1]:
        cur = os.path.join(cur, part)
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            os.mkdir(cur, 0o755)
            continue
        if stat.S_ISLNK(st.st_mode):
            raise LayerError(f"layer entry {rel!r} goes through a symlink")
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(cur)
            os.mkdir(cur, 0o755)
    return os.path.join(root, rel)


def _remove(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def unpack(fileobj: IO[bytes], target: str, *, overlay_whiteouts: bool) -> None:
    """Unpack the layer tar read from ``fileobj`` into the existing empty
    directory ``target``."""
    root_user = os.geteuid() == 0
    dir_times: list[tuple[str, float]] = []
    # "r|*" streams and detects gzip/uncompressed by itself.
    with tarfile.open(fileobj=fileobj, mode="r|*") as tar:
        for m in tar:
            rel = _clean_name(m.name)
            if not rel:
                continue
            base = os.path.basename(rel)
            path = _safe_parent(target, rel)
            if base == OPAQUE:
                parent = os.path.dirname(path)
                if overlay_whiteouts:
                    os.setxattr(parent, OVERLAY_OPAQUE_XATTR, b"y")
                else:
                    open(path, "wb").close()
                continue
            if base.startswith(WHITEOUT_PREFIX):
                if overlay_whiteouts:
                    hidden = os.path.join(os.path.dirname(path), base[len(WHITEOUT_PREFIX):])
                    _remove(hidden)
                    os.mknod(hidden, stat.S_IFCHR | 0o000, os.makedev(0, 0))
                else:
                    _remove(path)
                    open(path, "wb").close()
                continue
            if not (m.isdir() and os.path.isdir(path) and not os.path.islink(path)):
                _remove(path)
            if m.isdir():
                os.makedirs(path, exist_ok=True)
            elif m.isreg():
                src = tar.extractfile(m)
                assert src is not None
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
            elif m.issym():
                os.symlink(m.linkname, path)
            elif m.islnk():
                src_path = os.path.join(target, _clean_name(m.linkname))
                if not os.path.lexists(src_path):
                    raise LayerError(f"hard link {rel!r} to a missing entry {m.linkname!r}")
                os.link(src_path, path, follow_symlinks=False)
                continue  # a hard link shares the inode's owner, mode and times
            elif m.isfifo():
                os.mkfifo(path, m.mode & 0o7777)
            elif m.ischr() or m.isblk():
                if not root_user:
                    continue  # cannot create device nodes without privilege: skip them
                kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
                os.mknod(path, kind | (m.mode & 0o7777), os.makedev(m.devmajor, m.devminor))
            else:
                continue
            if root_user:
                os.lchown(path, m.uid, m.gid)
            if not m.issym():
                # After chown, which clears setuid/setgid bits.
                os.chmod(path, m.mode & 0o7777 | (0o700 if m.isdir() and not root_user else 0))
            if m.isdir():
                dir_times.append((path, m.mtime))
            else:
                os.utime(path, (m.mtime, m.mtime), follow_symlinks=False)
    for path, mtime in reversed(dir_times):
        os.utime(path, (mtime, mtime))


def _is_overlay_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OVERLAY_OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def apply(layer_dir: str, rootfs: str) -> None:
    """Copy the unpacked layer ``layer_dir`` on top of ``rootfs`` (copying
    fallback), deleting what its whiteouts delete."""
    for dirpath, dirnames, filenames in os.walk(layer_dir):
        rel = os.path.relpath(dirpath, layer_dir)
        dest_dir = rootfs if rel == "." else os.path.join(rootfs, rel)
        names = set(dirnames) | set(filenames)
        if rel != "." and (OPAQUE in names or _is_opaque(dirpath)):
            for child in os.listdir(dest_dir):
                _remove(os.path.join(dest_dir, child))
        for name in sorted(names):
            src = os.path.join(dirpath, name)
            dst = os.path.join(dest_dir, name)
            st = os.lstat(src)
            if name == OPAQUE:
                continue
            if name.startswith(WHITEOUT_PREFIX):
                _remove(os.path.join(dest_dir, name[len(WHITEOUT_PREFIX):]))
                continue
            if _is_overlay_whiteout(st):
                _remove(dst)
                continue
            if stat.S_ISDIR(st.st_mode):
                if not (os.path.isdir(dst) and not os.path.islink(dst)):
                    _remove(dst)
                    os.mkdir(dst)
                shutil.copystat(src, dst, follow_symlinks=False)
                if os.geteuid() == 0:
                    os.lchown(dst, st.st_uid, st.st_gid)
                    os.chmod(dst, stat.S_IMODE(st.st_mode))
                continue
            _remove(dst)
            if stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(src), dst)
            elif stat.S_ISREG(st.st_mode):
                shutil.copy2(src, dst, follow_symlinks=False)
            elif stat.S_ISFIFO(st.st_mode):
                os.mkfifo(dst, stat.S_IMODE(st.st_mode))
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                os.mknod(dst, st.st_mode, st.st_rdev)
            else:
                continue
            if os.geteuid() == 0:
                os.lchown(dst, st.st_uid, st.st_gid)
                if not stat.S_ISLNK(st.st_mode):
                    os.chmod(dst, stat.S_IMODE(st.st_mode))
        # os.walk does not descend into symlinks to directories: good, they are copied as links.
