"""``exec`` and ``attach`` over SPDY/3.1: what kubectl up to 1.29 speaks.

The client's request is ``Upgrade: SPDY/3.1`` with the stream protocol
versions it knows in ``X-Stream-Protocol-Version``; the API server tunnels the
connection's bytes to the kubelet in a WebSocket whose subprotocol is
``SPDY/3.1+<version>`` (one offered per version the client named, the kubelet
choosing, as the port-forward tunnel ``SPDY/3.1+portforward.k8s.io`` does), so
the kubelet serves the SPDY session itself, with one implementation
(:mod:`kubeling.kubelet.spdy`) for exec, attach and port-forward.

Once upgraded the client opens one stream per wanted channel, each with a
``streamtype`` header: ``error`` always, ``stdin``, ``stdout`` and ``stderr``
as asked in the query (no ``stderr`` with a TTY), and ``resize`` with a TTY
(v3 and later). The session starts once they all exist (upstream waits up to
30 s). Then: stdin's data goes to the process and its FIN closes the
process's stdin (so ``tar x`` behind ``kubectl cp`` ends); resize carries a
sequence of JSON ``{"Width": w, "Height": h}`` objects; output goes out on
stdout and stderr, each FIN'd at EOF; when the command has ended, the error
stream carries the result (v4: a ``Status`` with the exit code as in
:mod:`kubeling.kubelet.streaming`; older versions the failure's text only) and
its FIN. The client reads to EOF on stdout, stderr and error, then hangs up;
the server waits for that, briefly, rather than cutting the connection under
frames the client has not read yet.

``session`` is the same object the WebSocket path drives
(``read_stdout``/``read_stderr``/``write_stdin``/``close_stdin``/``resize``/
``wait``/``close``/``tty``, see :mod:`kubeling.kubelet.runtime.execstream`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from kubeling.kubelet import spdy, streaming

log = logging.getLogger("kubeling.kubelet.spdyexec")

TUNNEL_PREFIX = "SPDY/3.1+"
V4, V3, V2, V1 = "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"
VERSIONS = (V4, V3, V2, V1)
PROTOCOLS = tuple(TUNNEL_PREFIX + v for v in VERSIONS)
STREAM_CREATION_TIMEOUT = 30.0
HANGUP_GRACE = 10.0
ERROR, STDIN, STDOUT, STDERR, RESIZE = "error", "stdin", "stdout", "stderr", "resize"


def expected_streams(version: str, *, stdin: bool, stdout: bool, stderr: bool, tty: bool) -> set[str]:
    want = {ERROR}
    if stdin:
        want.add(STDIN)
    if stdout:
        want.add(STDOUT)
    if stderr and not tty:
        want.add(STDERR)
    if tty and version in (V4, V3):
        want.add(RESIZE)
    return want


class ResizeDecoder:
    """JSON terminal sizes from a byte stream (objects one after another, in pieces of any size)."""

    def __init__(self) -> None:
        self._buf = ""
        self._decoder = json.JSONDecoder()
        self._bytes = b""

    def feed(self, data: bytes) -> list[tuple[int, int]]:
        self._bytes += data
        try:
            self._buf += self._bytes.decode()
            self._bytes = b""
        except UnicodeDecodeError:
            return []  # a character cut in two: wait for the rest
        out: list[tuple[int, int]] = []
        while True:
            text = self._buf.lstrip()
            if not text:
                self._buf = ""
                return out
            try:
                obj, end = self._decoder.raw_decode(text)
            except json.JSONDecodeError:
                self._buf = text
                return out
            self._buf = text[end:]
            if isinstance(obj, dict):
                with contextlib.suppress(TypeError, ValueError):
                    out.append((int(obj.get("Width", 0)), int(obj.get("Height", 0))))


def _error_payload(version: str, status: dict[str, Any]) -> bytes:
    if version == V4:
        return json.dumps(status).encode()
    if status.get("status") == "Success":
        return b""
    return str(status.get("message", "")).encode()


async def serve_exec(ws: web.WebSocketResponse, session: Any, cmd: list[str], *, stdin: bool, stdout: bool,
                     stderr: bool) -> None:
    """Serve one exec (or attach) ``session`` to the SPDY/3.1 client tunnelled in ``ws``."""
    version = (ws.ws_protocol or "")[len(TUNNEL_PREFIX):]
    want = expected_streams(version, stdin=stdin, stdout=stdout, stderr=stderr, tty=bool(session.tty))
    streams: dict[str, spdy.Stream] = {}
    complete = asyncio.Event()

    def on_stream(stream: spdy.Stream) -> None:
        kind = stream.headers.get("streamtype", "")
        if kind in want and kind not in streams:
            streams[kind] = stream
            if want <= streams.keys():
                complete.set()
        else:
            log.info("exec: ignoring an unexpected %r stream", kind)

    conn = spdy.Session(spdy.ws_sender(ws), on_stream)
    reader = asyncio.create_task(conn.run_ws(ws))
    try:
        got = asyncio.ensure_future(complete.wait())
        done, _ = await asyncio.wait([got, reader], timeout=STREAM_CREATION_TIMEOUT,
                                     return_when=asyncio.FIRST_COMPLETED)
        if got not in done:
            got.cancel()
            log.info("exec: the client did not open its streams (%s of %s)", sorted(streams), sorted(want))
            return
        await _run(conn, streams, session, cmd, version=version, reader=reader)
    finally:
        reader.cancel()
        await session.close()
        with contextlib.suppress(BaseException):
            await reader
        with contextlib.suppress(ConnectionResetError):
            await ws.close()


async def _run(conn: spdy.Session, streams: dict[str, spdy.Stream], session: Any, cmd: list[str], *,
               version: str, reader: asyncio.Task[None]) -> None:
    async def feed_stdin(stream: spdy.Stream) -> None:
        while chunk := await stream.read():
            await session.write_stdin(chunk)
        await session.close_stdin()  # the client's FIN (or the connection's end)

    async def feed_resize(stream: spdy.Stream) -> None:
        decoder = ResizeDecoder()
        while chunk := await stream.read():
            for width, height in decoder.feed(chunk):
                session.resize(width, height)

    async def pump(read: Callable[[], Awaitable[bytes]], stream: spdy.Stream | None) -> None:
        while chunk := await read():
            if stream is not None:
                await stream.write(chunk)
        if stream is not None:
            await stream.close()

    inputs = [asyncio.create_task(feed(streams[kind])) for kind, feed in ((STDIN, feed_stdin),
                                                                        (RESIZE, feed_resize)) if kind in streams]
    pumps = asyncio.gather(pump(session.read_stdout, streams.get(STDOUT)),
                           pump(session.read_stderr, streams.get(STDERR)))
    try:
        waiter = asyncio.ensure_future(session.wait())
        done, _ = await asyncio.wait([waiter, reader], return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            await session.close()  # the client hung up first: end the command, as upstream does
        code = await waiter
        if session.tty:
            # A terminal keeps no data once the process is gone; do not wait for EOF for ever.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(pumps), 2)
            await session.close()
        await pumps
        status = streaming.status_success() if code == 0 else streaming.status_exit(code, cmd)
        await streams[ERROR].write(_error_payload(version, status), fin=True)
        # The client reads every stream to its end and then closes the connection; closing
        # ours first could drop frames it has not taken in yet.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(reader), HANGUP_GRACE)
    finally:
        for t in inputs:
            t.cancel()
        pumps.cancel()
        with contextlib.suppress(BaseException):
            await pumps
        await asyncio.gather(*inputs, return_exceptions=True)
