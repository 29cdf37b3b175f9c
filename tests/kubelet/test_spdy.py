"""SPDY/3.1 (kubeling.kubelet.spdy) and exec over it (kubeling.kubelet.spdyexec).

Frames and header blocks are checked both ways against independent code: what
we write is read back with spdy-py's frame reader, what we read is built here
by hand with struct and zlib. The exec test drives spdyexec.serve_exec over a
real WebSocket with a real local process behind the exec session (no root).
"""

from __future__ import annotations

import asyncio
import collections.abc
import json
import struct
import zlib

import aiohttp
import pytest
from aiohttp import web
from spdy import conn as spdy_conn
from spdy import dictionary as spdy_dictionary

from kubeling.kubelet import spdy, spdyexec
from kubeling.kubelet.runtime import execstream


def raw_block(pairs: list[tuple[str, str]], deflate: zlib._Compress) -> bytes:
    """A header block built by hand: count, then length-prefixed names and values."""
    raw = struct.pack(">I", len(pairs))
    for k, v in pairs:
        raw += struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode()
    return deflate.compress(raw) + deflate.flush(zlib.Z_SYNC_FLUSH)


def new_deflate() -> zlib._Compress:
    return zlib.compressobj(zdict=spdy_dictionary.zdict)


def syn_stream(sid: int, block: bytes, *, flags: int = 0) -> bytes:
    payload = struct.pack(">IIBB", sid, 0, 0, 0) + block
    return struct.pack(">HHI", 0x8003, 1, (flags << 24) | len(payload)) + payload


def data(sid: int, payload: bytes, *, fin: bool = False) -> bytes:
    return struct.pack(">II", sid, ((1 if fin else 0) << 24) | len(payload)) + payload


def read_back(wire: bytes) -> list[spdy_conn.Frame]:
    framer = spdy_conn.Framer()
    return framer.read_frames(wire) or []


# ---- framing and header blocks -----------------------------------------------------------------

def test_frames_survive_any_split() -> None:
    codec = spdy.HeaderCodec()
    wire = (spdy.control_frame(spdy.SYN_STREAM, struct.pack(">IIBB", 1, 0, 0, 0) + codec.encode({"a": "b"}),
                               flags=spdy.FLAG_FIN)
            + spdy.data_frame(1, b"hello", fin=True)
            + spdy.data_frame(3, b"")
            + spdy.control_frame(spdy.PING, struct.pack(">I", 7))
            + spdy.control_frame(spdy.WINDOW_UPDATE, struct.pack(">II", 5, 1000)))
    reader = spdy.FrameReader()
    got = [f for i in range(len(wire)) for f in reader.feed(wire[i:i + 1])]
    assert [(f.control, f.type, f.flags, f.stream_id) for f in got] == [
        (True, spdy.SYN_STREAM, spdy.FLAG_FIN, 1), (False, 0, spdy.FLAG_FIN, 1), (False, 0, 0, 3),
        (True, spdy.PING, 0, 0), (True, spdy.WINDOW_UPDATE, 0, 5)]
    assert got[1].payload == b"hello" and got[2].payload == b""
    assert spdy.HeaderCodec().decode(got[0].payload[10:]) == {"a": "b"}
    assert reader.feed(wire[:20]) == []  # a partial frame waits for the rest
    assert len(reader.feed(wire[20:])) == 5


def test_other_versions_and_short_frames_are_protocol_errors() -> None:
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameReader().feed(struct.pack(">HHI", 0x8002, 1, 0))
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameReader().feed(struct.pack(">HHI", 0x8003, spdy.RST_STREAM, 2) + b"\0\0")


def test_what_we_write_another_implementation_reads() -> None:
    codec = spdy.HeaderCodec()
    wire = b"".join([
        spdy.control_frame(spdy.SYN_REPLY, struct.pack(">I", 1) + codec.encode({})),
        spdy.control_frame(spdy.SYN_REPLY, struct.pack(">I", 3) + codec.encode({"Port": "8080", "x": "y"})),
        spdy.data_frame(3, b"payload", fin=True),
        spdy.control_frame(spdy.RST_STREAM, struct.pack(">II", 5, spdy.RST_CANCEL)),
        spdy.control_frame(spdy.WINDOW_UPDATE, struct.pack(">II", 3, 4096)),
    ])
    frames = read_back(wire)
    assert [f["control"] for f in frames] == [1, 1, 0, 1, 1]
    assert frames[0]["type"] == spdy.SYN_REPLY and frames[0]["stream_id"] == 1 and frames[0]["headers"] == {}
    assert frames[1]["headers"] == {"port": "8080", "x": "y"}  # names lowercased on the wire
    assert frames[2]["stream_id"] == 3 and frames[2]["data"] == b"payload"
    assert spdy.data_frame(3, b"payload", fin=True)[4] == spdy.FLAG_FIN  # spdy-py misreads data frame flags
    assert frames[3]["status_code"] == spdy.RST_CANCEL
    assert frames[4]["delta_window_size"] == 4096


def test_header_blocks_built_by_hand_decode() -> None:
    deflate, codec = new_deflate(), spdy.HeaderCodec()
    assert codec.decode(raw_block([("streamType", "stdout"), ("Accept", "a\x00b")], deflate)) == \
        {"streamtype": "stdout", "accept": "a"}
    # Later blocks continue the same zlib stream: the codec keeps its state...
    assert codec.decode(raw_block([("port", "80")], deflate)) == {"port": "80"}
    # ...and a decoder that missed the first blocks cannot read them.
    with pytest.raises(spdy.ProtocolError):
        spdy.HeaderCodec().decode(raw_block([("port", "81")], deflate))


# ---- the session ---------------------------------------------------------------------------------

class Wire:
    """What a session sends, read back frame by frame with spdy-py."""

    def __init__(self) -> None:
        self.framer = spdy_conn.Framer()
        self.frames: list[spdy_conn.Frame] = []

    async def send(self, b: bytes) -> None:
        self.frames += self.framer.read_frames(b) or []


async def test_session_replies_delivers_acknowledges_and_resets() -> None:
    wire, opened = Wire(), list[spdy.Stream]()
    session = spdy.Session(wire.send, opened.append)
    deflate = new_deflate()
    await session.feed(syn_stream(1, raw_block([("streamtype", "stdin")], deflate)))
    await session.feed(syn_stream(3, raw_block([("streamtype", "error")], deflate), flags=spdy.FLAG_FIN))
    assert [s.headers for s in opened] == [{"streamtype": "stdin"}, {"streamtype": "error"}]
    assert [(f["type"], f["stream_id"]) for f in wire.frames] == [(spdy.SYN_REPLY, 1), (spdy.SYN_REPLY, 3)]
    stdin, error = opened
    assert await error.read() == b""  # opened with FIN: nothing will come

    both = data(1, b"abc") + data(1, b"def", fin=True)
    await session.feed(both[:5])
    await session.feed(both[5:])
    assert [await stdin.read(), await stdin.read(), await stdin.read()] == [b"abc", b"def", b""]
    assert [(f["type"], f["stream_id"], f["delta_window_size"]) for f in wire.frames[2:]] == \
        [(spdy.WINDOW_UPDATE, 1, 3), (spdy.WINDOW_UPDATE, 1, 3)]

    await session.feed(spdy.control_frame(spdy.PING, struct.pack(">I", 9)))  # the client's: echoed
    await session.feed(spdy.control_frame(spdy.PING, struct.pack(">I", 2)))  # an answer to ours: not
    assert [(f["type"], f["id"]) for f in wire.frames[4:]] == [(spdy.PING, 9)]

    await session.feed(syn_stream(4, raw_block([("streamtype", "x")], deflate)))  # even: a server's id
    await session.feed(syn_stream(5, raw_block([("streamtype", "stdout")], deflate)))
    assert (wire.frames[5]["type"], wire.frames[5]["stream_id"], wire.frames[5]["status_code"]) == \
        (spdy.RST_STREAM, 4, spdy.RST_PROTOCOL_ERROR)
    stdout = opened[-1]
    await stdout.write(b"x" * 70000, fin=True)
    sent = [f for f in wire.frames if not f["control"]]
    assert [len(f["data"]) for f in sent] == [32768, 32768, 4464] and {f["stream_id"] for f in sent} == {5}
    await stdout.write(b"more")  # after our FIN: nothing goes out
    assert len([f for f in wire.frames if not f["control"]]) == 3

    await session.feed(spdy.control_frame(spdy.RST_STREAM, struct.pack(">II", 5, spdy.RST_CANCEL)))
    assert await stdout.read() == b"" and 5 not in session.streams
    session.close()
    assert await opened[0].read() == b""


def test_resize_objects_in_pieces() -> None:
    d = spdyexec.ResizeDecoder()
    stream = b'{"Width":80,"Height":24}\n{"Width":120,' + b'"Height":40}\n'
    assert d.feed(stream[:10]) == []
    assert d.feed(stream[10:30]) == [(80, 24)]
    assert d.feed(stream[30:]) == [(120, 40)]
    assert d.feed(b'  {"Width": 1, "Height": 2}{"Width": 3, "Height": 4}') == [(1, 2), (3, 4)]


def test_the_streams_an_exec_waits_for() -> None:
    assert spdyexec.expected_streams(spdyexec.V4, stdin=True, stdout=True, stderr=True, tty=False) == \
        {"error", "stdin", "stdout", "stderr"}
    assert spdyexec.expected_streams(spdyexec.V4, stdin=True, stdout=True, stderr=True, tty=True) == \
        {"error", "stdin", "stdout", "resize"}
    assert spdyexec.expected_streams(spdyexec.V2, stdin=False, stdout=True, stderr=False, tty=True) == \
        {"error", "stdout"}


# ---- exec over a tunnelled session ---------------------------------------------------------------

@pytest.fixture
async def exec_server() -> collections.abc.AsyncIterator[str]:
    """A WebSocket endpoint serving ``sh -c <cmd>`` (a local process) with spdyexec, like the kubelet."""

    async def handler(request: web.Request) -> web.StreamResponse:
        proc = await asyncio.create_subprocess_exec(
            "sh", "-c", request.query["cmd"], stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        session = execstream.ExecSession(proc, master=None)
        ws = web.WebSocketResponse(protocols=spdyexec.PROTOCOLS, max_msg_size=0)
        await ws.prepare(request)
        await spdyexec.serve_exec(ws, session, ["sh", "-c", request.query["cmd"]], stdin=True, stdout=True,
                                  stderr=True)
        return ws

    app = web.Application()
    app.router.add_get("/exec", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/exec"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(("version", "error"), [
    (spdyexec.V4, {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                   "message": "command terminated with non-zero exit code: error executing command "
                              "['sh', '-c', 'tr a-z A-Z; echo err >&2; exit 4'], exit code 4",
                   "details": {"causes": [{"reason": "ExitCode", "message": "4"}]}}),
    (spdyexec.V3, ("command terminated with non-zero exit code: error executing command "
                   "['sh', '-c', 'tr a-z A-Z; echo err >&2; exit 4'], exit code 4")),
])
async def test_exec_over_spdy(exec_server: str, version: str, error: object) -> None:
    deflate = new_deflate()
    got: dict[int, bytes] = {1: b"", 3: b"", 5: b"", 7: b""}
    fins: set[int] = set()
    async with aiohttp.ClientSession() as http, \
            http.ws_connect(exec_server, params={"cmd": "tr a-z A-Z; echo err >&2; exit 4"},
                            protocols=["SPDY/3.1+" + version]) as ws:
        assert ws.protocol == "SPDY/3.1+" + version
        for sid, kind in ((1, "error"), (3, "stdin"), (5, "stdout"), (7, "stderr")):
            await ws.send_bytes(syn_stream(sid, raw_block([("streamtype", kind)], deflate)))
        # Typed in two pieces, then the stdin stream's FIN: the process sees its input end.
        await ws.send_bytes(data(3, b"hello "))
        await ws.send_bytes(data(3, b"spdy\n", fin=True))
        framer = spdy_conn.Framer()
        while fins != {1, 5, 7}:
            msg = await asyncio.wait_for(ws.receive(), 30)
            assert msg.type == aiohttp.WSMsgType.BINARY, msg
            raw = msg.data
            for f in framer.read_frames(raw) or []:
                if not f["control"]:
                    got[f["stream_id"]] += f["data"]
            # spdy-py misreads data frame flags: take FIN from the frame headers ourselves.
            pos = 0
            while pos + 8 <= len(raw):
                first, second = struct.unpack_from(">II", raw, pos)
                if not first & 0x80000000 and second >> 24 & spdy.FLAG_FIN:
                    fins.add(first)
                pos += 8 + (second & 0xFFFFFF)
    assert got[5] == b"HELLO SPDY\n" and got[7] == b"err\n" and got[3] == b""
    assert (json.loads(got[1]) if version == spdyexec.V4 else got[1].decode()) == error
