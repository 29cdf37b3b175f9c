"""Attaching to a running container's stdio (CRI's Attach, served by the kubelet).

The container's shim (``shim.py``) owns its stdin, its output and, with a TTY,
its terminal; it listens on ``attach.sock`` in the container's directory. This
is the client side: ``connect`` returns an :class:`AttachSession` with the
same face as an exec session (``execstream.ExecSession``), so the kubelet's
stream servers drive both alike. Closing the session only detaches: the
container keeps running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import socket
from collections.abc import Awaitable, Callable

from kubeling.kubelet.runtime import shim

READ_SIZE = 65536 + 1  # the shim's messages: one kind byte and at most 64 KiB


class AttachSession:
    def __init__(self, sock: socket.socket, *, tty: bool, stdin: bool,
                 exit_code: Callable[[], Awaitable[int]]) -> None:
        self.sock = sock
        self.tty = tty
        self.stdin = stdin
        self._exit_code = exit_code
        self._out: asyncio.Queue[bytes] = asyncio.Queue()
        self._err: asyncio.Queue[bytes] = asyncio.Queue()
        self._eof = asyncio.Event()
        self._detached = False
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                msg = await loop.sock_recv(self.sock, READ_SIZE)
                if not msg:
                    break
                if msg[0] == shim.STDOUT:
                    self._out.put_nowait(msg[1:])
                elif msg[0] == shim.STDERR:
                    self._err.put_nowait(msg[1:])
        except OSError:
            pass
        finally:
            self._eof.set()
            self._out.put_nowait(b"")
            self._err.put_nowait(b"")

    async def read_stdout(self) -> bytes:
        """The next chunk of output (with a TTY: of the terminal); ``b""`` at the end."""
        return await self._out.get()

    async def read_stderr(self) -> bytes:
        return await self._err.get()

    async def _send(self, kind: int, data: bytes = b"") -> None:
        if self._eof.is_set() or self._detached:
            return
        with contextlib.suppress(OSError):
            await asyncio.get_running_loop().sock_sendall(self.sock, bytes([kind]) + data)

    async def write_stdin(self, data: bytes) -> None:
        if not self.stdin:
            return  # the container has no stdin, or the client did not ask for it
        for i in range(0, len(data), 32 * 1024):
            await self._send(shim.STDIN, data[i:i + 32 * 1024])

    async def close_stdin(self) -> None:
        if self.stdin:
            await self._send(shim.CLOSE_STDIN)

    def resize(self, width: int, height: int) -> None:
        if self.tty and width > 0 and height > 0 and not self._eof.is_set():
            with contextlib.suppress(OSError):
                self.sock.send(bytes([shim.RESIZE]) + json.dumps({"Width": width, "Height": height}).encode())

    async def wait(self) -> int:
        """Until the container exits (its shim closes the socket): its exit code. After a
        detach, 0: the container goes on."""
        await self._eof.wait()
        if self._detached:
            return 0
        return await self._exit_code()

    async def close(self) -> None:
        """Detach."""
        if not self._eof.is_set():
            self._detached = True
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader
        self.sock.close()
        self._eof.set()


async def connect(container_dir: pathlib.Path, *, tty: bool, stdin: bool,
                  exit_code: Callable[[], Awaitable[int]]) -> AttachSession:
    """Attach to the shim of the container in ``container_dir``."""
    # Through the directory's descriptor: the socket's full path may exceed the 108
    # bytes a socket address holds.
    dir_fd = os.open(container_dir, os.O_PATH | os.O_DIRECTORY)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        path = f"/proc/self/fd/{dir_fd}/{shim.ATTACH_SOCKET}"
        if not os.path.exists(path):
            raise OSError("the container's shim offers no attach socket (it was started by an older kubeling)")
        sock.connect(path)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_sendall(sock, bytes([shim.HELLO]) + (b"1" if stdin else b"0"))
    except BaseException:
        sock.close()
        raise
    finally:
        os.close(dir_fd)
    return AttachSession(sock, tty=tty, stdin=stdin, exit_code=exit_code)
