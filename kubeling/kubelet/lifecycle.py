"""Container lifecycle hooks and termination messages (upstream's
``lifecycle.handlerRunner`` and the termination-message part of ``kuberuntime``).

* ``run_hook`` runs a postStart or preStop handler (exec, httpGet or sleep)
  and answers an error message, empty on success.
* Each container run gets its own termination-message file under the pod
  directory (``containers/<name>/<attempt>``), bind-mounted at the
  container's ``terminationMessagePath``; ``termination_message`` reads it
  back when the container has exited, falling back to the tail of the log
  (80 lines, 2048 bytes) for ``FallbackToLogsOnError`` when the container
  failed without writing one.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
from typing import Any

from kubeling.kubelet import probes
from kubeling.kubelet.runtime import protocol as cri

Obj = dict[str, Any]

DEFAULT_MESSAGE_PATH = "/dev/termination-log"
MESSAGE_LIMIT = 4096  # bytes of the file that reach the status
LOG_TAIL_LINES = 80
LOG_TAIL_BYTES = 2048


async def run_hook(handler: Obj, *, runtime: cri.RuntimeService, container_id: str, container: Obj,
                   pod_ip: str) -> str:
    if handler.get("exec") is not None:
        cmd = list(handler["exec"].get("command") or [])
        try:
            res = await runtime.exec_sync(container_id, cmd)
        except cri.RuntimeError_ as exc:
            return f"Exec lifecycle hook ({cmd}) for Container {container.get('name', '')!r} failed - error: {exc}"
        if res.exit_code != 0:
            out = (res.stdout + res.stderr).decode("utf-8", "replace")
            return (f"Exec lifecycle hook ({cmd}) for Container {container.get('name', '')!r} failed - error: "
                    f"command '{' '.join(cmd)}' exited with {res.exit_code}: {out}, message: {out!r}")
        return ""
    if handler.get("httpGet") is not None:
        outcome = await probes.check({"httpGet": handler["httpGet"]}, runtime=runtime, container_id=container_id,
                                     container=container, pod_ip=pod_ip, timeout=0)
        if outcome.ok:
            return ""
        return f"HTTP lifecycle hook ({handler['httpGet'].get('path', '')}) for Container " \
               f"{container.get('name', '')!r} failed - error: {outcome.message}"
    if handler.get("sleep") is not None:
        await asyncio.sleep(float(handler["sleep"].get("seconds") or 0))
        return ""
    if handler.get("tcpSocket") is not None:
        return "TCPSocket is not supported as a lifecycle hook handler"
    return "the lifecycle hook has no handler"


# ---- termination messages --------------------------------------------------------------------

def message_file(pod_dir: pathlib.Path, name: str, attempt: int) -> pathlib.Path:
    return pod_dir / "containers" / name / str(attempt)


def prepare_message_file(pod_dir: pathlib.Path, container: Obj, attempt: int) -> cri.Mount:
    """Create the run's (empty, world-writable: any user may write it) file and its mount."""
    path = message_file(pod_dir, container["name"], attempt)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    os.chmod(path, 0o666)
    return cri.Mount(container_path=container.get("terminationMessagePath") or DEFAULT_MESSAGE_PATH,
                     host_path=str(path))


def remove_message_file(pod_dir: pathlib.Path, name: str, attempt: int) -> None:
    message_file(pod_dir, name, attempt).unlink(missing_ok=True)


def termination_message(pod_dir: pathlib.Path, container: Obj, st: cri.ContainerStatus) -> str:
    try:
        with open(message_file(pod_dir, container["name"], st.metadata.attempt), "rb") as f:
            text = f.read(MESSAGE_LIMIT).decode("utf-8", "replace")
    except OSError:
        text = ""
    if text or st.exit_code == 0 or container.get("terminationMessagePolicy") != "FallbackToLogsOnError":
        return text
    return log_tail(st.log_path)


def log_tail(path: str) -> str:
    """The last lines of a CRI-format log, as the container wrote them."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 256 * 1024))
            raw = f.read()
    except OSError:
        return ""
    content = bytearray()
    for line in raw.splitlines():
        parts = line.split(b" ", 3)
        if len(parts) < 3:
            continue
        content += parts[3] if len(parts) == 4 else b""
        if parts[2] != b"P":
            content += b"\n"
    # The runtime cannot tell `echo -n DONE` from `echo DONE` at the end of a stream
    # (both end in a full record); the message is the text without that last newline.
    lines = bytes(content).removesuffix(b"\n").splitlines(keepends=True)[-LOG_TAIL_LINES:]
    return b"".join(lines)[-LOG_TAIL_BYTES:].decode("utf-8", "replace")
