"""``volumeMounts[].subPathExpr``: a sub path of the volume computed from the
container's environment, as upstream's kubelet does it when it makes mounts.

* ``$(VAR)`` references are replaced from the container's environment (``$$``
  is a literal ``$``); a reference to a variable that is unset or empty is an
  error, so is a result that is absolute or steps out with ``..``: the
  container then waits in CreateContainerConfigError and is retried, so a
  pod whose annotation (through the downward API) is fixed later starts then;
* the directory is created inside the volume, with the volume's own mode,
  and may not lead out of it through a symbolic link.

The kubelet hands in mounts built from ``volumeMounts`` in order (the
volume's root for these entries); :func:`apply` points the ``subPathExpr``
ones at their sub directory.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
import stat
from typing import Any

from kubeling.kubelet.runtime import protocol as cri

Obj = dict[str, Any]

_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class SubPathError(Exception):
    """The sub path cannot be used (the message is the container's waiting message)."""


def expand(expr: str, env: dict[str, str]) -> str:
    missing: list[str] = []

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        value = env.get(m.group(1), "")
        if not value:
            missing.append(m.group(1))
        return value

    out = _REF.sub(sub, expr)
    if missing:
        raise SubPathError(f"missing value for {', '.join(sorted(set(missing)))}")
    return out


def check(sub: str) -> None:
    if posixpath.isabs(sub):
        raise SubPathError(f"error SubPath `{sub}` must not be an absolute path")
    if ".." in sub.split("/"):
        raise SubPathError(f"unable to provision SubPath `{sub}`: must not contain '..'")


def provision(volume_root: str, sub: str) -> str:
    """The host directory for ``sub`` inside ``volume_root``, created if missing."""
    check(sub)
    root = os.path.realpath(volume_root)
    mode = stat.S_IMODE(os.stat(root).st_mode)
    current = root
    for part in [p for p in sub.split("/") if p and p != "."]:
        nxt = os.path.join(current, part)
        if not os.path.lexists(nxt):
            os.mkdir(nxt)
            os.chmod(nxt, mode)  # mkdir's mode is cut by the umask
        resolved = os.path.realpath(nxt)
        if resolved != root and not resolved.startswith(root + os.sep):
            raise SubPathError(f"subpath {sub!r} leads outside of the volume {volume_root!r}")
        current = resolved
    return current


def apply(container: Obj, mounts: list[cri.Mount], env: dict[str, str]) -> list[cri.Mount]:
    """``mounts`` with the ``subPathExpr`` entries of ``container`` resolved."""
    out = list(mounts)
    for i, vm in enumerate(container.get("volumeMounts") or []):
        expr = vm.get("subPathExpr") or ""
        if not expr:
            continue
        path = vm.get("mountPath", "")
        j = i if i < len(out) and out[i].container_path == path else next(
            (k for k, m in enumerate(out) if m.container_path == path), -1)
        if j < 0:
            raise SubPathError(f"no mount for {path!r}")
        sub = expand(expr, env)
        out[j] = dataclasses.replace(out[j], host_path=provision(out[j].host_path, sub))
    return out
