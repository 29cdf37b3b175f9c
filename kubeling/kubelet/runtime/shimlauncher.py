"""Starting container shims through the node's shim zygote (see ``shim.zygote``).

The runtime keeps one zygote process per agent, started on first use and again
if it has died. A launch hands the zygote the shim's options and one end of a
fresh socket pair, and awaits the shim's report (``{"pid", "shim_pid"}`` or
``{"error"}``) on the other end; the zygote's control socket is a
SOCK_SEQPACKET pair, so concurrent launches cannot interleave. The zygote ends
when the agent does (its control socket closes); the shims do not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import threading
from typing import Any

from kubeling.kubelet.runtime import shim


class ShimLauncher:
    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._ctl: socket.socket | None = None
        self._lock = threading.Lock()

    def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            # Popen in a worker thread, not the event loop's subprocess support: under uvloop
            # (libuv's spawn) `runc create` below a shim never completes; a plain fork/exec works.
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", shim.__file__, "--zygote", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._ctl = ours

    def _send(self, request: bytes, fd: int) -> None:
        with self._lock:
            for attempt in (1, 2):
                if self._proc is None or self._proc.poll() is not None or self._ctl is None:
                    self._stop_locked()
                    self._start()
                assert self._ctl is not None
                try:
                    socket.send_fds(self._ctl, [request], [fd])
                    return
                except OSError:
                    if attempt == 2:
                        raise
                    self._stop_locked()  # a zygote that cannot take requests: start another

    def _stop_locked(self) -> None:
        if self._ctl is not None:
            self._ctl.close()
            self._ctl = None
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)  # it exits on EOF of its control socket
            self._proc = None

    async def launch(self, opts: dict[str, Any]) -> dict[str, Any]:
        """Start a shim for ``opts``; its report once ``runc create`` has run."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                await asyncio.to_thread(self._send, json.dumps(opts).encode(), theirs.fileno())
            finally:
                theirs.close()  # the shim holds its own copy now; EOF here means it is gone
            ours.setblocking(False)
            loop = asyncio.get_running_loop()
            chunks = []
            while chunk := await loop.sock_recv(ours, 65536):
                chunks.append(chunk)
        finally:
            ours.close()
        try:
            return dict(json.loads(b"".join(chunks)))
        except ValueError:
            return {"error": "the shim died before reporting"}

    def close(self) -> None:
        with self._lock:
            self._stop_locked()
