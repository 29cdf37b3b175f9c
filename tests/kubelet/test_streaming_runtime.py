"""Streaming on the real runc runtime (root): exec with pipes and with a TTY,
port-forward into the pod's network namespace, and the kubelet's HTTPS server
(client-certificate checks, SPDY-over-WebSocket port-forward) in front of it.
"""

from __future__ import annotations

import asyncio
import collections.abc
import pathlib
import ssl
import struct
import zlib

import aiohttp
import pytest
from spdy import dictionary as spdy_dictionary

from kubeling.apiserver import proxy
from kubeling.kubelet import network as networklib
from kubeling.kubelet import podsync
from kubeling.kubelet import server as kubeletserver
from kubeling.kubelet.images import importer
from kubeling.kubelet.images import store as storelib
from kubeling.kubelet.runtime import protocol as P
from kubeling.kubelet.runtime import runc
from kubeling.lib import pki
from tests.kubelet.conftest import require_root_runc
from tests.kubelet.test_runc import Env

pytestmark = pytest.mark.root

BRIDGE = "klstream0"
CIDR = "10.42.201.0/24"
WEB = "mkdir -p /www && echo hello-loopback > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www"


@pytest.fixture
async def env(tmp_path: pathlib.Path, busybox_archive: pathlib.Path) -> collections.abc.AsyncIterator[Env]:
    require_root_runc()
    data = tmp_path / "data"
    store = storelib.Store(data)
    importer.import_archive(store, str(busybox_archive))
    net = networklib.BridgeNetwork(data, pod_cidr=CIDR, bridge=BRIDGE)
    rt = runc.RuncRuntime(data, images=store, network=net)
    try:
        yield Env(data, rt, net)
    finally:
        for sb in await rt.list_pod_sandboxes():
            await rt.remove_pod_sandbox(sb.id)
        await net.destroy_node()


async def _drain(read: collections.abc.Callable[[], collections.abc.Awaitable[bytes]]) -> bytes:
    out = b""
    while chunk := await read():
        out += chunk
    return out


async def test_exec_stream_with_pipes(env: Env) -> None:
    cid = await env.run(await env.sandbox("pipes"), "c", ["sleep", "3600"])
    session = await env.rt.exec_stream(cid, ["sh", "-c", "tr a-z A-Z; echo err >&2; exit 3"], stdin=True)
    await session.write_stdin(b"hello ")
    await session.write_stdin(b"world\n")
    await session.close_stdin()
    out, err = await asyncio.wait_for(asyncio.gather(_drain(session.read_stdout), _drain(session.read_stderr)), 30)
    assert (out, err) == (b"HELLO WORLD\n", b"err\n")
    assert await session.wait() == 3
    await session.close()
    with pytest.raises(P.InvalidArgument):
        await env.rt.exec_stream(cid, [])


async def test_attach_pipes_stdin_and_stdin_once(env: Env) -> None:
    """stdin through the shim: input reaches the container, output comes back raw, and with
    stdinOnce the first attach that used stdin closes it, so the container sees EOF."""
    cid = await env.run(await env.sandbox("attach-pipes"), "c",
                        ["sh", "-c", "echo ready; while read line; do echo got-$line; echo err-$line >&2; done; "
                                     "echo eof; exit 7"], stdin=True, stdin_once=True)
    session = await env.rt.attach(cid, stdin=True)
    assert not session.tty
    await session.write_stdin(b"one\ntwo\n")
    out = b""
    while b"got-two" not in out:
        out += await asyncio.wait_for(session.read_stdout(), 30)
    assert b"got-one\ngot-two\n" in out
    assert b"err-one" in await asyncio.wait_for(session.read_stderr(), 30)
    await session.close()  # detach: stdinOnce closes the container's stdin
    status = await env.wait_exited(cid)
    assert status.exit_code == 7
    assert ("stdout", "F", "eof") in env.log_lines(status)
    with pytest.raises(P.InvalidArgument):
        await env.rt.attach(cid, stdin=True)


async def test_attach_to_a_terminal_with_resize_and_exit_code(env: Env) -> None:
    """tty: the container's init runs on a terminal (runc's console socket); attach sees its
    prompt without a newline, its input echoes, a resize reaches `stty size`, and when the
    shell exits the session ends with the container's exit code."""
    cid = await env.run(await env.sandbox("attach-tty"), "c", ["sh"], stdin=True, tty=True)
    session = await env.rt.attach(cid, stdin=True)
    assert session.tty
    session.resize(100, 33)
    await session.write_stdin(b"tty; stty size; echo $TERM\n")
    out = b""
    while b"xterm" not in out:
        out += await asyncio.wait_for(session.read_stdout(), 30)
    assert b"/dev/pts/" in out and b"33 100" in out
    await session.write_stdin(b"exit 5\n")
    assert await asyncio.wait_for(session.wait(), 30) == 5
    await session.close()
    assert (await env.rt.container_status(cid)).exit_code == 5


async def test_attach_without_stdin_streams_output_only(env: Env) -> None:
    cid = await env.run(await env.sandbox("attach-out"), "c",
                        ["sh", "-c", "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.2; done"])
    session = await env.rt.attach(cid, stdin=True)
    await session.write_stdin(b"ignored\n")  # no stdin: dropped, not an error
    out = b""
    while out.count(b"tick-") < 2:
        out += await asyncio.wait_for(session.read_stdout(), 30)
    await session.close()
    assert (await env.rt.container_status(cid)).state == P.ContainerState.RUNNING


async def test_exec_stream_with_a_tty_and_resize(env: Env) -> None:
    cid = await env.run(await env.sandbox("tty"), "c", ["sleep", "3600"])
    session = await env.rt.exec_stream(cid, ["sh", "-c", "read line; tty; stty size; echo got-$line"], tty=True,
                                       stdin=True)
    session.resize(77, 22)
    await session.write_stdin(b"abc\r")
    out = await asyncio.wait_for(_drain(session.read_stdout), 30)
    assert b"/dev/pts/" in out and b"22 77" in out and b"got-abc" in out
    assert await session.wait() == 0
    await session.close()


async def test_port_forward_reaches_the_pods_loopback(env: Env) -> None:
    sb = await env.sandbox("pf")
    await env.run(sb, "c", ["sh", "-c", WEB])

    async def fetch() -> bytes:
        try:
            reader, writer = await env.rt.port_forward(sb[0], 8080)
        except OSError:
            return b""
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        body = await reader.read()
        writer.close()
        return body

    for _ in range(100):
        got = await fetch()
        if got:
            break
        await asyncio.sleep(0.1)
    assert got.startswith(b"HTTP/1.") and got.endswith(b"hello-loopback\n")
    with pytest.raises(OSError):
        await env.rt.port_forward(sb[0], 8081)


# ---- the kubelet server ------------------------------------------------------------------

def _spdy_frame(ftype: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | 3, ftype, (flags << 24) | len(payload)) + payload


def _headers(deflate: zlib._Compress, headers: dict[str, str]) -> bytes:
    raw = struct.pack(">I", len(headers))
    for k, v in headers.items():
        raw += struct.pack(">I", len(k)) + k.encode() + struct.pack(">I", len(v)) + v.encode()
    return deflate.compress(raw) + deflate.flush(zlib.Z_SYNC_FLUSH)


def _frames(buf: bytearray) -> list[tuple[bool, int, int, bytes]]:
    """(control, type or stream id, flags, payload) of every whole frame in ``buf`` (consumed)."""
    out = []
    while len(buf) >= 8:
        (word,) = struct.unpack_from(">I", buf, 4)
        length = word & 0xFFFFFF
        if len(buf) < 8 + length:
            break
        control = bool(buf[0] & 0x80)
        ident = struct.unpack_from(">H", buf, 2)[0] if control else struct.unpack_from(">I", buf, 0)[0]
        out.append((control, ident, word >> 24, bytes(buf[8:8 + length])))
        del buf[:8 + length]
    return out


@pytest.fixture
async def kubelet_server(env: Env, tmp_path: pathlib.Path) -> collections.abc.AsyncIterator[tuple[
        kubeletserver.KubeletServer, pki.PKI, dict[str, object]]]:
    cluster = pki.ensure_pki(tmp_path / "cluster", hosts=[])
    tls = tmp_path / "kubelet-tls"
    tls.mkdir()
    cert, key = proxy._sign_serving(cluster, "node-a", ["127.0.0.1"])
    (tls / "serving.crt").write_text(cert)
    (tls / "serving.key").write_text(key)
    (tls / "ca.crt").write_bytes(cluster.ca_pem())
    pod = {"metadata": {"name": "web", "namespace": "default", "uid": "uid-web"},
           "spec": {"containers": [{"name": "c"}]}}
    sb = await env.sandbox("web", labels={podsync.UID_LABEL: "uid-web"})
    await env.run(sb, "c", ["sh", "-c", WEB], labels={podsync.UID_LABEL: "uid-web", podsync.NAME_LABEL: "c"})
    srv = kubeletserver.KubeletServer(env.rt, get_pod=lambda ns, n: pod if (ns, n) == ("default", "web") else None,
                                      tls_dir=tls, port=0, bind="127.0.0.1")
    await srv.start()
    try:
        yield srv, cluster, pod
    finally:
        await srv.stop()


def _client_ssl(cluster: pki.PKI, tmp: pathlib.Path, cn: str, orgs: list[str]) -> ssl.SSLContext:
    cert, key = cluster.sign_client_cert(cn, orgs)
    (tmp / f"{cn}.crt").write_bytes(cert)
    (tmp / f"{cn}.key").write_bytes(key)
    return cluster.client_ssl_context(cert=tmp / f"{cn}.crt", key=tmp / f"{cn}.key")


async def test_kubelet_server_wants_the_api_servers_client_certificate(
        kubelet_server: tuple[kubeletserver.KubeletServer, pki.PKI, dict[str, object]], tmp_path: pathlib.Path) -> None:
    srv, cluster, _ = kubelet_server
    url = f"https://127.0.0.1:{srv.port}/containerLogs/default/web/c"
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.ClientError):  # no certificate: the handshake fails
            async with s.get(url, ssl=cluster.client_ssl_context()) as r:
                await r.read()
        other = pki.ensure_pki(tmp_path / "other", hosts=[])
        foreign = _client_ssl(other, tmp_path, "intruder", ["system:masters"])
        foreign.load_verify_locations(cafile=str(cluster.ca_cert))
        with pytest.raises(aiohttp.ClientError):  # a certificate from another CA
            async with s.get(url, ssl=foreign) as r:
                await r.read()
        async with s.get(url, ssl=_client_ssl(cluster, tmp_path, "system:node:x", ["system:nodes"])) as r:
            assert r.status == 403
        admin = _client_ssl(cluster, tmp_path, proxy.CLIENT_CN, ["system:masters"])
        async with s.get(url, ssl=admin) as r:
            assert r.status == 200
        async with s.get(f"https://127.0.0.1:{srv.port}/containerLogs/default/nope/c", ssl=admin) as r:
            assert r.status == 404


async def test_spdy_port_forward_through_the_kubelet_server(
        kubelet_server: tuple[kubeletserver.KubeletServer, pki.PKI, dict[str, object]], tmp_path: pathlib.Path) -> None:
    srv, cluster, _ = kubelet_server
    admin = _client_ssl(cluster, tmp_path, proxy.CLIENT_CN, ["system:masters"])
    deflate = zlib.compressobj(zdict=spdy_dictionary.zdict)
    async with aiohttp.ClientSession() as s, s.ws_connect(
            f"https://127.0.0.1:{srv.port}/portForward/default/web", protocols=["SPDY/3.1+portforward.k8s.io"],
            ssl=admin) as ws:
        assert ws.protocol == "SPDY/3.1+portforward.k8s.io"
        body = b""
        for attempt in range(50):  # until httpd listens
            err_id, data_id = 4 * attempt + 1, 4 * attempt + 3
            for sid, kind in ((err_id, "error"), (data_id, "data")):
                block = _headers(deflate, {"streamtype": kind, "port": "8080", "requestid": str(attempt)})
                await ws.send_bytes(_spdy_frame(1, 0, struct.pack(">IIBB", sid, 0, 0, 0) + block))
            await ws.send_bytes(struct.pack(">II", data_id, (1 << 24) | 18) + b"GET / HTTP/1.0\r\n\r\n")
            buf, replies, errors, body, done = bytearray(), set(), b"", b"", False
            while not done:
                msg = await asyncio.wait_for(ws.receive(), 30)
                buf += msg.data
                for control, ident, flags, payload in _frames(buf):
                    if control and ident == 2:
                        replies.add(struct.unpack_from(">I", payload)[0])
                    elif not control and ident == data_id:
                        body += payload
                        done = done or bool(flags & 1)
                    elif not control and ident == err_id:
                        errors += payload
            assert replies == {err_id, data_id}
            if body:
                break
            assert b"refused" in errors
            await asyncio.sleep(0.1)
        assert body.startswith(b"HTTP/1.") and body.endswith(b"hello-loopback\n")
