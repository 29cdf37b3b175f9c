"""``exec`` and ``attach`` over WebSockets: the ``channel.k8s.io`` protocols.

What kubectl 1.30+ speaks (KEP 4006; subprotocols ``v5.channel.k8s.io``
preferred, ``v4.channel.k8s.io`` accepted; the older ``v3``, ``v2`` and plain
``channel.k8s.io`` put the failure's text, not a Status, on the error stream): every binary message starts with
one byte naming the stream, the rest is that stream's data. Streams: 0 stdin,
1 stdout, 2 stderr, 3 error, 4 resize. When the command ends the error stream
carries one ``Status`` (v4 encoding): ``Success``, or ``Failure`` with reason
``NonZeroExitCode`` and the exit code as the ``ExitCode`` cause, which kubectl
turns into its own exit status. Resize messages are JSON ``{"Width": w,
"Height": h}``. v5 adds a close signal: a message ``[255, stream]`` from the
client means that stream (stdin) has ended, so a command reading to EOF (``tar
x`` behind ``kubectl cp``) finishes.

Attach uses the same relay as exec: its session (``attachstream``) talks to
the shim that owns the container's stdin, output and terminal, and its end is
the container's exit; a client that goes away only detaches.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger("kubeling.kubelet.streaming")

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
# The older versions (and the unversioned base) differ in what the error stream carries:
# the failure's text, and nothing on success.
LEGACY = ("v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io")
PROTOCOLS = (V5, V4, *LEGACY)
STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255


def status_success() -> dict[str, Any]:
    return {"metadata": {}, "status": "Success"}


def status_exit(code: int, cmd: list[str]) -> dict[str, Any]:
    return {
        "metadata": {}, "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command {cmd}, exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def status_error(message: str) -> dict[str, Any]:
    return {"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError", "code": 500}


class Channels:
    """The server side of one channel-protocol WebSocket."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.v5 = ws.ws_protocol == V5
        self._lock = asyncio.Lock()

    async def send(self, stream: int, data: bytes) -> None:
        async with self._lock:
            if not self.ws.closed:
                with contextlib.suppress(ConnectionResetError):
                    await self.ws.send_bytes(bytes([stream]) + data)

    async def finish(self, status: dict[str, Any]) -> None:
        if self.ws.ws_protocol in (V5, V4):
            await self.send(ERROR, json.dumps(status).encode())
        elif status.get("status") != "Success":
            await self.send(ERROR, str(status.get("message", "")).encode())
        with contextlib.suppress(ConnectionResetError):
            await self.ws.close()

    async def receive(self, *, on_stdin: Callable[[bytes], Awaitable[None]],
                      on_stdin_close: Callable[[], Awaitable[None]],
                      on_resize: Callable[[int, int], None]) -> None:
        """Dispatch client messages until the socket closes (stdin then counts as closed)."""
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.TEXT:
                    data = msg.data.encode()
                elif msg.type == WSMsgType.BINARY:
                    data = msg.data
                else:
                    break
                if not data:
                    continue
                stream, payload = data[0], data[1:]
                if stream == STDIN and payload:
                    await on_stdin(payload)
                elif stream == RESIZE and payload:
                    with contextlib.suppress(ValueError, TypeError, AttributeError):
                        size = json.loads(payload)
                        on_resize(int(size.get("Width", 0)), int(size.get("Height", 0)))
                elif stream == CLOSE and self.v5 and payload[:1] == bytes([STDIN]):
                    await on_stdin_close()
        finally:
            await on_stdin_close()


async def serve_exec(ws: web.WebSocketResponse, session: Any, cmd: list[str], *, stdin: bool,
                     stdout: bool, stderr: bool) -> None:
    """Relay one exec or attach session (``execstream.ExecSession``, ``attachstream.AttachSession``)
    over ``ws`` until the command or container ends."""
    ch = Channels(ws)
    stdin_closed = False

    async def on_stdin(data: bytes) -> None:
        if stdin and not stdin_closed:
            await session.write_stdin(data)

    async def on_stdin_close() -> None:
        nonlocal stdin_closed
        if stdin and not stdin_closed:
            stdin_closed = True
            await session.close_stdin()

    async def pump(read: Callable[[], Awaitable[bytes]], stream: int, wanted: bool) -> None:
        while chunk := await read():
            if wanted:
                await ch.send(stream, chunk)

    receiver = asyncio.create_task(ch.receive(on_stdin=on_stdin, on_stdin_close=on_stdin_close,
                                              on_resize=session.resize))
    pumps = asyncio.gather(pump(session.read_stdout, STDOUT, stdout), pump(session.read_stderr, STDERR, stderr))
    try:
        waiter = asyncio.ensure_future(session.wait())
        done, _ = await asyncio.wait([waiter, receiver], return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            # The client went away first: end the command, as upstream does.
            await session.close()
        code = await waiter
        if session.tty:
            # The terminal keeps no data once the process is gone; do not wait for EOF for ever.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(pumps), 2)
            await session.close()
        await pumps
        await ch.finish(status_success() if code == 0 else status_exit(code, cmd))
    finally:
        receiver.cancel()
        pumps.cancel()
        await session.close()
        with contextlib.suppress(BaseException):
            await pumps
