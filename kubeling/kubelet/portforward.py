"""Port forwarding to a pod over a WebSocket, in the two forms clients use.

* ``SPDY/3.1+portforward.k8s.io`` (kubectl 1.31+, KEP 4006): the WebSocket's
  binary messages carry a SPDY/3.1 session, byte for byte (the tunnel). For
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
import zlib
from collections.abc import Awaitable, Callable

from aiohttp import WSMsgType, web
from spdy import dictionary as spdy_dictionary

log = logging.getLogger("kubeling.kubelet.portforward")

SPDY_TUNNEL = "SPDY/3.1+portforward.k8s.io"
CHANNEL_PROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io")
PROTOCOLS = (SPDY_TUNNEL, *CHANNEL_PROTOCOLS)

Connect = Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]

# SPDY/3 control frame types and flags.
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
RST_CANCEL = 5
READ_SIZE = 32 * 1024


class _SpdyStream:
    def __init__(self, stream_id: int, headers: dict[str, str]) -> None:
        self.id = stream_id
        self.headers = headers
        self.incoming: asyncio.Queue[bytes] = asyncio.Queue()  # b"" is FIN
        self.closed_local = False


class SpdySession:
    """The server side of a SPDY/3.1 session carried in WebSocket messages."""

    def __init__(self, ws: web.WebSocketResponse, connect: Connect) -> None:
        self.ws = ws
        self.connect = connect
        self.inflate = zlib.decompressobj(zdict=spdy_dictionary.zdict)
        self.deflate = zlib.compressobj(zdict=spdy_dictionary.zdict)
        self.buf = bytearray()
        self.streams: dict[int, _SpdyStream] = {}
        self.pairs: dict[str, dict[str, _SpdyStream]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()

    async def _send(self, frame: bytes) -> None:
        async with self._lock:
            if not self.ws.closed:
                with contextlib.suppress(ConnectionResetError):
                    await self.ws.send_bytes(frame)

    async def _control(self, ftype: int, flags: int, payload: bytes) -> None:
        await self._send(struct.pack(">HHI", 0x8000 | 3, ftype, (flags << 24) | len(payload)) + payload)

    async def data(self, stream: _SpdyStream, data: bytes, *, fin: bool = False) -> None:
        if stream.closed_local:
            return
        if fin:
            stream.closed_local = True
        await self._send(struct.pack(">II", stream.id & 0x7FFFFFFF, ((FLAG_FIN if fin else 0) << 24) | len(data))
                         + data)

    def _header_block(self, headers: dict[str, str]) -> bytes:
        raw = struct.pack(">I", len(headers))
        for k, v in headers.items():
            kb, vb = k.lower().encode(), v.encode()
            raw += struct.pack(">I", len(kb)) + kb + struct.pack(">I", len(vb)) + vb
        return self.deflate.compress(raw) + self.deflate.flush(zlib.Z_SYNC_FLUSH)

    def _parse_headers(self, block: bytes) -> dict[str, str]:
        raw = self.inflate.decompress(block)
        out: dict[str, str] = {}
        (count,), pos = struct.unpack_from(">I", raw, 0), 4
        for _ in range(count):
            (n,) = struct.unpack_from(">I", raw, pos)
            name = raw[pos + 4:pos + 4 + n].decode().lower()
            pos += 4 + n
            (n,) = struct.unpack_from(">I", raw, pos)
            out[name] = raw[pos + 4:pos + 4 + n].decode()
            pos += 4 + n
        return out

    async def run(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.BINARY:
                    if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                        break
                    continue
                self.buf += msg.data
                while len(self.buf) >= 8:
                    (length,) = struct.unpack_from(">I", self.buf, 4)
                    flags, length = length >> 24, length & 0xFFFFFF
                    if len(self.buf) < 8 + length:
                        break
                    head, payload = bytes(self.buf[:8]), bytes(self.buf[8:8 + length])
                    del self.buf[:8 + length]
                    await self._frame(head, flags, payload)
        finally:
            for s in self.streams.values():
                s.incoming.put_nowait(b"")
            for t in list(self.tasks):
                t.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _frame(self, head: bytes, flags: int, payload: bytes) -> None:
        if not head[0] & 0x80:
            (sid,) = struct.unpack_from(">I", head, 0)
            stream = self.streams.get(sid & 0x7FFFFFFF)
            if stream is not None:
                if payload:
                    stream.incoming.put_nowait(payload)
                    # Give the window back at once: we queue what the client sends.
                    await self._control(WINDOW_UPDATE, 0, struct.pack(">II", stream.id, len(payload)))
                if flags & FLAG_FIN:
                    stream.incoming.put_nowait(b"")
            return
        (ftype,) = struct.unpack_from(">H", head, 2)
        if ftype == SYN_STREAM:
            (sid,) = struct.unpack_from(">I", payload, 0)
            sid &= 0x7FFFFFFF
            stream = _SpdyStream(sid, self._parse_headers(payload[10:]))
            self.streams[sid] = stream
            await self._control(SYN_REPLY, 0, struct.pack(">I", sid) + self._header_block({}))
            if flags & FLAG_FIN:
                stream.incoming.put_nowait(b"")
            self._pair(stream)
        elif ftype == RST_STREAM:
            (sid,) = struct.unpack_from(">I", payload, 0)
            stream = self.streams.pop(sid & 0x7FFFFFFF, None)
            if stream is not None:
                stream.closed_local = True
                stream.incoming.put_nowait(b"")
        elif ftype == PING:
            await self._control(PING, 0, payload[:4])
        elif ftype == GOAWAY:
            await self.ws.close()
        elif ftype == HEADERS:
            self._parse_headers(payload[4:])  # keeps the shared compression state in step

    def _pair(self, stream: _SpdyStream) -> None:
        rid = stream.headers.get("requestid", "")
        kind = stream.headers.get("streamtype", "")
        pair = self.pairs.setdefault(rid, {})
        pair[kind] = stream
        if "data" in pair and "error" in pair:
            del self.pairs[rid]
            task = asyncio.create_task(self._forward(pair["data"], pair["error"]))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _forward(self, data: _SpdyStream, error: _SpdyStream) -> None:
        port_text = data.headers.get("port", "")
        try:
            port = int(port_text)
            reader, writer = await self.connect(port)
        except (ValueError, OSError) as exc:
            msg = f"error forwarding port {port_text} to pod: {exc}"
            await self.data(error, msg.encode(), fin=True)
            await self.data(data, b"", fin=True)
            return

        async def upstream() -> None:
            while chunk := await data.incoming.get():
                writer.write(chunk)
                await writer.drain()
            with contextlib.suppress(OSError):
                writer.write_eof()

        async def downstream() -> None:
            while chunk := await reader.read(READ_SIZE):
                await self.data(data, chunk)
            await self.data(data, b"", fin=True)

        try:
            await asyncio.gather(upstream(), downstream())
        except (OSError, ConnectionError) as exc:
            await self.data(error, f"error forwarding port {port}: {exc}".encode())
        finally:
            writer.close()
            await self.data(error, b"", fin=True)
            await self.data(data, b"", fin=True)
            self.streams.pop(data.id, None)
            self.streams.pop(error.id, None)


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
