"""SPDY/3.1, the server side: framing, the header-block codec and a session.

Older kubectl (exec, attach and cp up to 1.29, port-forward up to 1.30) and,
tunnelled in WebSocket messages, kubectl 1.31+'s port-forward speak SPDY/3.1
to the kubelet. The client opens every stream (SYN_STREAM, with headers saying
what the stream is for); the server answers each with SYN_REPLY and then both
sides send DATA frames, a FIN flag half-closing a direction. This module knows
the wire format and nothing about exec or ports: :class:`Session` hands each
new :class:`Stream` to a callback, and the protocol modules
(:mod:`kubeling.kubelet.portforward`, :mod:`kubeling.kubelet.spdyexec`) drive
the streams.

Wire format (SPDY/3 draft, section 2.2): a control frame starts with a
16-bit word whose top bit is set and the version (3), then the 16-bit type;
a data frame starts with the 31-bit stream id. Both then carry 8 bits of flags
and a 24-bit payload length. Header blocks (in SYN_STREAM, SYN_REPLY and
HEADERS) are a count and length-prefixed name/value strings, compressed with
zlib primed with the SPDY dictionary; each direction is ONE zlib stream for
the whole session (every block ends with a sync flush, never a full reset),
so the codec keeps its state from block to block and must see every block.

Flow control: the Go client (moby/spdystream) neither enforces its send
window nor tracks ours, but a strict peer would, so every DATA frame received
is acknowledged at once with a WINDOW_UPDATE (the stream's data is queued
here, not held in a fixed window).

The session is transport-agnostic: :meth:`Session.feed` takes whatever bytes
arrived (any split), ``send`` writes bytes out; :meth:`Session.run_ws` drives
it from a WebSocket whose binary messages carry the byte stream (how the API
server tunnels a client's connection to the kubelet).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import struct
import zlib
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import WSMsgType, web
from spdy import dictionary as spdy_dictionary

log = logging.getLogger("kubeling.kubelet.spdy")

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02
# RST_STREAM status codes (SPDY/3 section 2.4.2).
RST_PROTOCOL_ERROR, RST_INVALID_STREAM, RST_CANCEL = 1, 2, 5
MAX_LENGTH = 0xFFFFFF
HEADER_SIZE = 8
STREAM_ID_MASK = 0x7FFFFFFF


class ProtocolError(Exception):
    """The peer sent something that is not SPDY/3; the session cannot go on."""


@dataclasses.dataclass(frozen=True)
class Frame:
    """One frame. ``type`` is 0 for a data frame; ``stream_id`` is 0 where the frame has none."""

    control: bool
    type: int
    flags: int
    stream_id: int
    payload: bytes


def control_frame(ftype: int, payload: bytes, *, flags: int = 0) -> bytes:
    if len(payload) > MAX_LENGTH:
        raise ValueError("control frame too long")
    return struct.pack(">HHI", 0x8000 | VERSION, ftype, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, data: bytes, *, fin: bool = False) -> bytes:
    if len(data) > MAX_LENGTH:
        raise ValueError("data frame too long")
    return struct.pack(">II", stream_id & STREAM_ID_MASK, ((FLAG_FIN if fin else 0) << 24) | len(data)) + data


# Control frames whose payload starts with the (31-bit) stream id.
_WITH_STREAM_ID = frozenset({SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE})


class FrameReader:
    """Cuts a byte stream, fed in pieces of any size, into frames."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        out: list[Frame] = []
        while len(self._buf) >= HEADER_SIZE:
            first, second = struct.unpack_from(">II", self._buf, 0)
            flags, length = second >> 24, second & MAX_LENGTH
            if len(self._buf) < HEADER_SIZE + length:
                break
            payload = bytes(self._buf[HEADER_SIZE:HEADER_SIZE + length])
            del self._buf[:HEADER_SIZE + length]
            if first & 0x80000000:
                version, ftype = (first >> 16) & 0x7FFF, first & 0xFFFF
                if version != VERSION:
                    raise ProtocolError(f"SPDY version {version}, expected {VERSION}")
                sid = 0
                if ftype in _WITH_STREAM_ID:
                    if len(payload) < 4:
                        raise ProtocolError(f"control frame {ftype} too short")
                    sid = struct.unpack_from(">I", payload, 0)[0] & STREAM_ID_MASK
                out.append(Frame(True, ftype, flags, sid, payload))
            else:
                out.append(Frame(False, 0, flags, first & STREAM_ID_MASK, payload))
        return out


class HeaderCodec:
    """The header blocks of one session: one zlib stream each way (see the module docstring)."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(zdict=spdy_dictionary.zdict)
        self._inflate = zlib.decompressobj(zdict=spdy_dictionary.zdict)

    def encode(self, headers: Mapping[str, str]) -> bytes:
        raw = bytearray(struct.pack(">I", len(headers)))
        for name, value in headers.items():
            nb, vb = name.lower().encode(), value.encode()
            raw += struct.pack(">I", len(nb)) + nb + struct.pack(">I", len(vb)) + vb
        return self._deflate.compress(bytes(raw)) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def decode(self, block: bytes) -> dict[str, str]:
        """Names lowercased; of a multi-valued header (values NUL-separated) the first value."""
        try:
            raw = self._inflate.decompress(block)
            (count,), pos = struct.unpack_from(">I", raw, 0), 4
            out: dict[str, str] = {}
            for _ in range(count):
                (n,) = struct.unpack_from(">I", raw, pos)
                name = raw[pos + 4:pos + 4 + n].decode().lower()
                pos += 4 + n
                (n,) = struct.unpack_from(">I", raw, pos)
                value = raw[pos + 4:pos + 4 + n].decode()
                pos += 4 + n
                out.setdefault(name, value.split("\x00")[0])
        except (zlib.error, struct.error, UnicodeDecodeError) as exc:
            raise ProtocolError(f"bad header block: {exc}") from exc
        return out


class Stream:
    """One client-opened stream. :meth:`read` gives its data, ``b""`` once the client finished or reset it."""

    def __init__(self, session: Session, stream_id: int, headers: dict[str, str]) -> None:
        self.session = session
        self.id = stream_id
        self.headers = headers
        self._incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self.remote_done = False
        self.local_done = False

    async def read(self) -> bytes:
        if self.remote_done and self._incoming.empty():
            return b""
        return await self._incoming.get()

    def _deliver(self, data: bytes) -> None:
        if data and not self.remote_done:
            self._incoming.put_nowait(data)

    def _finish_remote(self) -> None:
        if not self.remote_done:
            self.remote_done = True
            self._incoming.put_nowait(b"")

    async def write(self, data: bytes, *, fin: bool = False) -> None:
        """Send ``data`` (cut into frames of at most 32 KiB); ``fin`` half-closes our side."""
        if self.local_done:
            return
        view = memoryview(data)
        while len(view) > Session.CHUNK:
            await self.session.send(data_frame(self.id, bytes(view[:Session.CHUNK])))
            view = view[Session.CHUNK:]
        if fin:
            self.local_done = True
        if view or fin:
            await self.session.send(data_frame(self.id, bytes(view), fin=fin))

    async def close(self) -> None:
        await self.write(b"", fin=True)


class Session:
    """The server side of one SPDY/3.1 session (see the module docstring)."""

    CHUNK = 32 * 1024

    def __init__(self, send: Callable[[bytes], Awaitable[None]], on_stream: Callable[[Stream], None]) -> None:
        self._send = send
        self.on_stream = on_stream
        self.codec = HeaderCodec()
        self.reader = FrameReader()
        self.streams: dict[int, Stream] = {}
        self.goaway = asyncio.Event()  # the peer said GOAWAY, or the connection is gone
        self._lock = asyncio.Lock()
        self._last_id = 0

    async def send(self, frame: bytes) -> None:
        # One writer at a time: frames must not interleave, and the header codec's
        # zlib stream must see blocks in the order they go out.
        async with self._lock:
            await self._send(frame)

    async def _send_headers(self, ftype: int, stream_id: int, headers: Mapping[str, str], *, flags: int = 0) -> None:
        async with self._lock:
            await self._send(control_frame(ftype, struct.pack(">I", stream_id) + self.codec.encode(headers),
                                           flags=flags))

    async def feed(self, data: bytes) -> None:
        for frame in self.reader.feed(data):
            await self._frame(frame)

    def close(self) -> None:
        """The connection is gone: every stream reads EOF."""
        for s in self.streams.values():
            s._finish_remote()
        self.goaway.set()

    async def _frame(self, f: Frame) -> None:
        if not f.control:
            stream = self.streams.get(f.stream_id)
            if stream is None:
                return  # late data for a stream we reset or finished with
            if f.payload:
                stream._deliver(f.payload)
                await self.send(control_frame(WINDOW_UPDATE, struct.pack(">II", f.stream_id, len(f.payload))))
            if f.flags & FLAG_FIN:
                stream._finish_remote()
            return
        if f.type == SYN_STREAM:
            # Always decode, even a block we then refuse: the zlib stream must stay in step.
            headers = self.codec.decode(f.payload[10:])
            if f.stream_id % 2 == 0 or f.stream_id <= self._last_id:
                # Clients open odd ids, each higher than the last.
                await self.send(control_frame(RST_STREAM, struct.pack(">II", f.stream_id, RST_PROTOCOL_ERROR)))
                return
            self._last_id = f.stream_id
            stream = Stream(self, f.stream_id, headers)
            self.streams[f.stream_id] = stream
            if f.flags & FLAG_FIN:
                stream._finish_remote()
            if f.flags & FLAG_UNIDIRECTIONAL:
                stream.local_done = True
            await self._send_headers(SYN_REPLY, f.stream_id, {})
            self.on_stream(stream)
        elif f.type == RST_STREAM:
            stream = self.streams.pop(f.stream_id, None)
            if stream is not None:
                stream.local_done = True
                stream._finish_remote()
        elif f.type == HEADERS:
            self.codec.decode(f.payload[4:])  # nothing to do with them, but the zlib stream must advance
        elif f.type == PING:
            if len(f.payload) >= 4 and struct.unpack_from(">I", f.payload, 0)[0] % 2 == 1:
                await self.send(control_frame(PING, f.payload[:4]))  # the client's (odd) id: echo it
        elif f.type == GOAWAY:
            self.goaway.set()
        # SETTINGS, WINDOW_UPDATE and SYN_REPLY (we open no streams) need nothing from us.

    async def run_ws(self, ws: web.WebSocketResponse) -> None:
        """Feed the session from ``ws``'s binary messages until it closes, the peer says GOAWAY or errs."""
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    await self.feed(msg.data)
                    if self.goaway.is_set():
                        break
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
        except ProtocolError as exc:
            log.info("closing a SPDY session: %s", exc)
        finally:
            self.close()


def ws_sender(ws: web.WebSocketResponse) -> Callable[[bytes], Awaitable[None]]:
    """``send`` for a session tunnelled in ``ws``: each write one binary message."""

    async def send(data: bytes) -> None:
        if not ws.closed:
            with contextlib.suppress(ConnectionResetError):
                await ws.send_bytes(data)

    return send
