"""Port forwarding to a pod over a WebSocket, in the two forms clients use.

* ``SPDY/3.1+portforward.k8s.io``: the WebSocket's binary messages carry a
  SPDY/3.1 session (:mod:`kubeling.kubelet.spdy`), byte for byte (the
  tunnel). kubectl 1.31+ opens it itself (KEP 4006); for older kubectl, whose
  request is a plain ``Upgrade: SPDY/3.1`` one, the API server opens it and
  relays the client connection's bytes through it. For
  each forwarded connection the client opens two SPDY streams with the headers
  ``streamtype`` (``error`` or ``data``), ``port`` and ``requestid``; the server
  answers each with SYN_REPLY, connects to the pod's port, relays the data
  stream both ways (FIN half-closes), and writes a failure to connect, as
  text, on the error stream.
* ``v4.channel.k8s.io`` (the channel form, used by client libraries): the
  ports come in the ``ports`` query parameter; port *i* has data channel
  ``2i`` and error channel ``2i+1``; the first message the server sends on
  each channel is the port number (two bytes, little-endian); there is one
  TCP connection per port, and the WebSocket closes when they all have.

``connect(port)`` opens the TCP connection to the pod: the runtime's
``port_forward``, to the port on the loopback of the pod's network namespace,
as upstream's runtimes do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Awaitable, Callable

from aiohttp import WSMsgType, web

from kubeling.kubelet import spdy

log = logging.getLogger("kubeling.kubelet.portforward")

SPDY_TUNNEL = "SPDY/3.1+portforward.k8s.io"
CHANNEL_PROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io")
PROTOCOLS = (SPDY_TUNNEL, *CHANNEL_PROTOCOLS)
READ_SIZE = 32 * 1024

Connect = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


class SpdySession:
    """Port forwarding over a SPDY/3.1 session carried in ``ws``'s binary messages."""

    def __init__(self, ws: web.WebSocketResponse, connect: Connect) -> None:
        self.ws = ws
        self.connect = connect
        self.session = spdy.Session(spdy.ws_sender(ws), self._stream)
        self.pairs: dict[str, dict[str, spdy.Stream]] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        try:
            await self.session.run_ws(self.ws)
        finally:
            for t in list(self.tasks):
                t.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            await self.ws.close()

    def _stream(self, stream: spdy.Stream) -> None:
        # A forwarded connection is two streams with one request id: "error" and "data".
        rid = stream.headers.get("requestid", "")
        kind = stream.headers.get("streamtype", "")
        pair = self.pairs.setdefault(rid, {})
        pair[kind] = stream
        if "data" in pair and "error" in pair:
            del self.pairs[rid]
            task = asyncio.create_task(self._forward(pair["data"], pair["error"]))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _forward(self, data: spdy.Stream, error: spdy.Stream) -> None:
        port_text = data.headers.get("port", "")
        try:
            port = int(port_text)
            reader, writer = await self.connect(port)
        except (ValueError, OSError) as exc:
            await error.write(f"error forwarding port {port_text} to pod: {exc}".encode(), fin=True)
            await data.close()
            return

        async def upstream() -> None:
            while chunk := await data.read():
                writer.write(chunk)
                await writer.drain()
            with contextlib.suppress(OSError):
                writer.write_eof()

        async def downstream() -> None:
            while chunk := await reader.read(READ_SIZE):
                await data.write(chunk)
            await data.close()

        try:
            await asyncio.gather(upstream(), downstream())
        except (OSError, ConnectionError) as exc:
            await error.write(f"error forwarding port {port}: {exc}".encode())
        finally:
            writer.close()
            await error.close()
            await data.close()
            self.session.streams.pop(data.id, None)
            self.session.streams.pop(error.id, None)


async def serve_channels(ws: web.WebSocketResponse, ports: list[int], connect: Connect) -> None:
    """The channel form (see the module docstring)."""
    lock = asyncio.Lock()

    async def send(channel: int, data: bytes) -> None:
        async with lock:
            if not ws.closed:
                with contextlib.suppress(ConnectionResetError):
                    await ws.send_bytes(bytes([channel]) + data)

    writers: dict[int, asyncio.StreamWriter] = {}
    tasks: list[asyncio.Task[None]] = []

    async def pump(i: int, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(OSError):
            while chunk := await reader.read(READ_SIZE):
                await send(2 * i, chunk)

    async def close_when_done() -> None:
        # Every connection to the pod has ended: so does the stream (the client sees EOF).
        await asyncio.gather(*tasks, return_exceptions=True)
        await ws.close()

    for i, port in enumerate(ports):
        prefix = struct.pack("<H", port)
        await send(2 * i, prefix)
        await send(2 * i + 1, prefix)
        try:
            reader, writer = await connect(port)
        except OSError as exc:
            await send(2 * i + 1, f"error forwarding port {port} to pod: {exc}".encode())
            continue
        writers[i] = writer
        tasks.append(asyncio.create_task(pump(i, reader)))
    closer = asyncio.create_task(close_when_done())
    try:
        async for msg in ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
                continue
            channel, payload = msg.data[0], msg.data[1:]
            w = writers.get(channel // 2)
            if w is not None and channel % 2 == 0 and payload:
                w.write(payload)
                with contextlib.suppress(OSError):
                    await w.drain()
    finally:
        closer.cancel()
        for t in tasks:
            t.cancel()
        for w in writers.values():
            w.close()
