"""Taking over a client connection after an ``Upgrade: SPDY/3.1`` and tunnelling its
bytes to the kubelet (see ``proxy``'s docstring for the protocol).

The API server never parses SPDY: once the kubelet has accepted the tunnel
WebSocket, ``serve`` answers the client 101, takes the raw connection out of
aiohttp's HTTP handling, and relays bytes both ways as binary messages.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
from aiohttp import http_writer, web

SPDY_UPGRADE = "SPDY/3.1"
STREAM_PROTOCOL_HEADER = "X-Stream-Protocol-Version"


async def serve(request: web.Request, upstream: aiohttp.ClientWebSocketResponse, version: str) -> web.StreamResponse:
    """Answer 101 with the negotiated stream protocol ``version`` and relay until either side ends."""
    transport = request.transport
    if transport is None:
        await upstream.close()
        raise ConnectionResetError("the client went away")
    # Hijacking the connection. aiohttp's HTTP parser switches protocols only for
    # "websocket" (and "tcp"), so after a SPDY upgrade request it would go on parsing
    # the session's frames as further HTTP requests. RequestHandler.set_parser() is the
    # hook WebSocketResponse itself uses to take over the bytes that follow a request:
    # once a payload parser is set, every byte read goes to it instead of the HTTP
    # parser. It is set before the 101 goes out, so not one byte of the session can
    # reach the HTTP parser (the client opens its streams only after reading the 101).
    # The alternative, a low-level aiohttp server of our own, would bypass the
    # authentication and routing that got the request here.
    incoming = RawReader(transport)
    request.protocol.set_parser(incoming)  # type: ignore[arg-type]  # duck-types WebSocketReader
    resp = web.StreamResponse(status=101, headers={"Connection": "Upgrade", "Upgrade": SPDY_UPGRADE,
                                                   STREAM_PROTOCOL_HEADER: version})
    resp.force_close()  # the connection belongs to the session now; never back to HTTP
    try:
        await resp.prepare(request)
        writer = http_writer.StreamWriter(request.protocol, asyncio.get_running_loop())
        await relay_raw(incoming, writer, upstream)
    finally:
        await upstream.close()
        transport.close()  # flushes what is buffered, then closes
    return resp


class RawReader:
    """The bytes a hijacked client connection sends, as a queue (what set_parser() feeds).

    Reading pauses while more than ``HIGH_WATER`` bytes wait, so a fast client
    cannot fill our memory faster than the kubelet takes it."""

    HIGH_WATER = 1 << 20

    def __init__(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._chunks: asyncio.Queue[bytes] = asyncio.Queue()
        self._size = 0
        self._paused = False
        self._eof = False

    # The payload-parser interface of aiohttp's RequestHandler.
    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if data and not self._eof:
            self._chunks.put_nowait(bytes(data))
            self._size += len(data)
            if self._size > self.HIGH_WATER and not self._paused and isinstance(self._transport, asyncio.ReadTransport):
                self._paused = True
                self._transport.pause_reading()
        return False, b""

    def feed_eof(self) -> None:
        if not self._eof:
            self._eof = True
            self._chunks.put_nowait(b"")

    async def read(self) -> bytes:
        """The next bytes; ``b""`` once the client has closed the connection."""
        chunk = await self._chunks.get()
        self._size -= len(chunk)
        if self._paused and self._size <= self.HIGH_WATER // 2 and isinstance(self._transport, asyncio.ReadTransport):
            self._paused = False
            with contextlib.suppress(RuntimeError, AttributeError):
                self._transport.resume_reading()
        if not chunk:
            self._chunks.put_nowait(b"")  # stays at EOF
        return chunk


async def relay_raw(client: RawReader, writer: http_writer.StreamWriter,
                     kubelet: aiohttp.ClientWebSocketResponse) -> None:
    """Client bytes to the kubelet as binary messages, the kubelet's messages back as bytes."""

    async def up() -> None:
        while chunk := await client.read():
            await kubelet.send_bytes(chunk)

    async def down() -> None:
        async for msg in kubelet:
            if msg.type != aiohttp.WSMsgType.BINARY:
                break
            await writer.write(msg.data)
        await writer.drain()

    tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
