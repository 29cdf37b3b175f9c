"""The kubelet's own HTTPS server (port 10250): what the API server proxies
``pods/log``, ``pods/exec``, ``pods/attach`` and ``pods/portforward`` to.

Paths, as upstream's kubelet serves them::

    GET       /containerLogs/{namespace}/{pod}/{container}   ?follow&previous&tailLines&sinceSeconds
                                                              &sinceTime&timestamps&limitBytes
    GET|POST  /exec/{namespace}/{pod}/{container}            ?command=..&stdin&stdout&stderr&tty  (WebSocket)
    GET|POST  /attach/{namespace}/{pod}/{container}          ?stdin&stdout&stderr&tty           (WebSocket)
    GET|POST  /portForward/{namespace}/{pod}                 (WebSocket; ?ports= for the channel form)
    GET       /stats/summary                                  (kubeling.kubelet.stats)
    GET       /healthz

Every stream is a WebSocket: the channel protocols (``streaming``), or, for
clients that speak SPDY/3.1 to the API server, a ``SPDY/3.1+<version>``
subprotocol whose messages carry that client's SPDY session, byte for byte
(``spdyexec``, ``portforward``).

Only callers with a client certificate from the cluster CA get in (the TLS
handshake asks for one and checks it), and of those only the API server's
kubelet client (``O=system:masters``) may use the endpoints.

The serving certificate comes from the API server (:func:`fetch_serving_cert`):
the agent asks ``/kubeling/v1/kubelet-serving-certificate`` with its own
credentials and gets a certificate for its node name and IP, signed by the
cluster CA, plus the CA itself (as k3s hands out kubelet serving certs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pathlib
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from kubeling.client import rest
from kubeling.kubelet import logs, podsync, portforward, spdyexec, stats, streaming
from kubeling.kubelet.runtime import protocol as cri
from kubeling.lib import pki

log = logging.getLogger("kubeling.kubelet.server")
Obj = dict[str, Any]

SERVING_CERT_PATH = "/kubeling/v1/kubelet-serving-certificate"
DEFAULT_PORT = 10250
ALLOWED_GROUPS = frozenset({"system:masters"})


class HTTPError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


async def fetch_serving_cert(client: rest.Client, tls_dir: pathlib.Path, *, node_name: str,
                             node_ip: str) -> None:
    """Ask the API server for a serving certificate; writes ca.crt, serving.crt, serving.key."""
    got = await client.request("POST", SERVING_CERT_PATH, body={"nodeName": node_name, "addresses": [node_ip]})
    tls_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    for name, key, mode in (("ca.crt", "ca", 0o644), ("serving.crt", "cert", 0o644), ("serving.key", "key", 0o600)):
        path = tls_dir / name
        tmp = path.with_name(name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as f:
            f.write(got[key])
        os.replace(tmp, path)


def ssl_context(tls_dir: pathlib.Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(tls_dir / "serving.crt"), str(tls_dir / "serving.key"))
    ctx.load_verify_locations(cafile=str(tls_dir / "ca.crt"))
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def _truthy(v: str | None) -> bool:
    return (v or "").lower() in ("1", "true", "yes")


def _stream_server(ws: web.WebSocketResponse) -> Callable[..., Awaitable[None]]:
    """Who serves an exec or attach: SPDY/3.1 tunnelled by the API server (kubectl up to 1.29), or channels."""
    return spdyexec.serve_exec if ws.ws_protocol in spdyexec.PROTOCOLS else streaming.serve_exec

async def _healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


class KubeletServer:
    def __init__(self, runtime: cri.RuntimeService, *, get_pod: Callable[[str, str], Obj | None],
                 tls_dir: pathlib.Path, port: int = DEFAULT_PORT, bind: str = "0.0.0.0") -> None:
        self.runtime = runtime
        self.get_pod = get_pod
        self.tls_dir = tls_dir
        self.port = port
        self.bind = bind
        self.rotator = logs.Rotator(runtime)
        self.stats = stats.Collector(runtime, node_name=lambda: stats.node_name_of_cert(tls_dir / "serving.crt"))
        self._stats_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None

    # ---- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", _healthz)
        app.router.add_get("/containerLogs/{ns}/{pod}/{container}", self._logs)
        for verb in ("exec", "attach"):
            app.router.add_route("*", f"/{verb}/{{ns}}/{{pod}}/{{container}}", self._exec_or_attach)
        app.router.add_route("*", "/portForward/{ns}/{pod}", self._portforward)
        app.router.add_get("/stats/summary", self._stats_summary)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.bind, self.port, ssl_context=ssl_context(self.tls_dir),
                           reuse_address=True)
        await site.start()
        sockets = getattr(getattr(site, "_server", None), "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("kubelet server listening on %s:%d", self.bind, self.port)
        self._stats_task = asyncio.create_task(self.stats.run())

    async def run(self) -> None:
        await self.start()
        try:
            await self.rotator.run()
        finally:
            await self.stop()

    async def stop(self) -> None:
        if self._stats_task is not None:
            self._stats_task.cancel()
            await asyncio.gather(self._stats_task, return_exceptions=True)
            self._stats_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- common --------------------------------------------------------------------------
    def _authorize(self, request: web.Request) -> None:
        ssl_obj = request.transport.get_extra_info("ssl_object") if request.transport else None
        ident = pki.peer_identity(ssl_obj) if ssl_obj is not None else None
        if ident is None:
            raise HTTPError(401, "Unauthorized")
        if not ALLOWED_GROUPS & set(ident[1]):
            raise HTTPError(403, f"Forbidden (user={ident[0]})")

    def _pod(self, ns: str, name: str) -> Obj:
        pod = self.get_pod(ns, name)
        if pod is None:
            raise HTTPError(404, f'pod "{name}" not found in namespace "{ns}" on this node')
        return pod

    async def _containers(self, pod: Obj, name: str) -> list[cri.ContainerStatus]:
        """The pod's runs of container ``name``, oldest first."""
        flt = cri.ContainerFilter(labels={podsync.UID_LABEL: pod["metadata"]["uid"], podsync.NAME_LABEL: name})
        found = await self.runtime.list_containers(flt)
        return sorted(found, key=lambda c: (c.metadata.attempt, c.created_at))

    async def _running(self, container_id: str) -> bool:
        try:
            st = await self.runtime.container_status(container_id)
        except cri.NotFound:
            return False
        return st.state in (cri.ContainerState.RUNNING, cri.ContainerState.CREATED)

    @staticmethod
    def _spec(pod: Obj, name: str) -> Obj:
        spec = pod.get("spec") or {}
        for c in [c for kind in ("containers", "initContainers", "ephemeralContainers") for c in spec.get(kind) or []]:
            if c.get("name") == name:
                return dict(c)
        raise HTTPError(400, f"container {name} is not valid for pod {pod['metadata']['name']}")

    async def _guard(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        try:
            self._authorize(request)
            return await handler(request)
        except HTTPError as exc:
            return web.Response(status=exc.code, text=exc.message)
        except cri.NotFound as exc:
            return web.Response(status=404, text=str(exc))
        except cri.RuntimeError_ as exc:
            return web.Response(status=500, text=str(exc))

    # ---- logs ----------------------------------------------------------------------------
    async def _logs(self, request: web.Request) -> web.StreamResponse:
        return await self._guard(request, self._serve_logs)

    async def _serve_logs(self, request: web.Request) -> web.StreamResponse:
        m, q = request.match_info, request.query
        pod = self._pod(m["ns"], m["pod"])
        self._spec(pod, m["container"])
        runs = await self._containers(pod, m["container"])
        previous = _truthy(q.get("previous"))
        if previous:
            if len(runs) < 2:
                raise HTTPError(400, f'previous terminated container "{m["container"]}" in pod '
                                     f'"{m["pod"]}" not found')
            target = runs[-2]
        elif not runs:
            raise HTTPError(400, f'container "{m["container"]}" in pod "{m["pod"]}" is waiting to start: '
                                 "ContainerCreating")
        else:
            target = runs[-1]
        opts = logs.Options(follow=_truthy(q.get("follow")) and not previous,
                            timestamps=_truthy(q.get("timestamps")))
        try:
            if q.get("tailLines"):
                opts.tail = max(0, int(q["tailLines"]))
            if q.get("limitBytes"):
                opts.limit_bytes = max(1, int(q["limitBytes"]))
            if q.get("sinceSeconds"):
                opts.since_ns = time.time_ns() - int(q["sinceSeconds"]) * 1_000_000_000
            elif q.get("sinceTime"):
                opts.since_ns = logs.parse_time(q["sinceTime"])
        except ValueError as exc:
            raise HTTPError(400, f"invalid log options: {exc}") from exc
        resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await resp.prepare(request)

        async def write(chunk: bytes) -> None:
            await resp.write(chunk)

        with contextlib.suppress(ConnectionResetError):
            await logs.stream(target.log_path, opts, write, running=lambda: self._running(target.id))
            await resp.write_eof()
        return resp

    # ---- stats ---------------------------------------------------------------------------
    async def _stats_summary(self, request: web.Request) -> web.StreamResponse:
        async def serve(_request: web.Request) -> web.StreamResponse:
            return web.json_response(await self.stats.summary())

        return await self._guard(request, serve)

    # ---- exec and attach -----------------------------------------------------------------
    async def _exec_or_attach(self, request: web.Request) -> web.StreamResponse:
        return await self._guard(request, self._serve_exec_or_attach)

    async def _serve_exec_or_attach(self, request: web.Request) -> web.StreamResponse:
        m, q = request.match_info, request.query
        verb = request.path.split("/")[1]
        pod = self._pod(m["ns"], m["pod"])
        spec = self._spec(pod, m["container"])
        runs = await self._containers(pod, m["container"])
        if not runs or not await self._running(runs[-1].id):
            raise HTTPError(400, f'container {m["container"]} is not running in pod {m["pod"]}')
        target = runs[-1]
        tty, stdin = _truthy(q.get("tty")), _truthy(q.get("stdin"))
        stdout, stderr = _truthy(q.get("stdout")), _truthy(q.get("stderr"))
        ws = web.WebSocketResponse(protocols=streaming.PROTOCOLS + spdyexec.PROTOCOLS, max_msg_size=0,
                                   autoping=True)
        if verb == "exec":
            cmd = q.getall("command", [])
            if not cmd:
                raise HTTPError(400, "you must specify at least one command for the container")
            session = await self.runtime.exec_stream(target.id, list(cmd), tty=tty, stdin=stdin)
            try:
                await ws.prepare(request)
            except BaseException:
                await session.close()
                raise
            await _stream_server(ws)(ws, session, list(cmd), stdin=stdin, stdout=stdout, stderr=stderr and not tty)
            return ws

        # Attach: the container's own stdio, through its shim. Input counts only if the
        # container was made with stdin (kubectl warns the user otherwise).
        try:
            attached = await self.runtime.attach(target.id, stdin=stdin and bool(spec.get("stdin")))
        except cri.RuntimeError_ as exc:
            raise HTTPError(500, str(exc)) from exc
        try:
            await ws.prepare(request)
        except BaseException:
            await attached.close()
            raise
        await _stream_server(ws)(ws, attached, ["attach"], stdin=stdin, stdout=stdout,
                                 stderr=stderr and not attached.tty)
        return ws

    # ---- port forward --------------------------------------------------------------------
    async def _portforward(self, request: web.Request) -> web.StreamResponse:
        return await self._guard(request, self._serve_portforward)

    async def _serve_portforward(self, request: web.Request) -> web.StreamResponse:
        m = request.match_info
        pod = self._pod(m["ns"], m["pod"])
        sandbox_id = await self._sandbox(pod)

        async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            if not 0 < port < 65536:
                raise OSError(f"invalid port {port}")
            try:
                return await asyncio.wait_for(self.runtime.port_forward(sandbox_id, port), 10)
            except cri.RuntimeError_ as exc:
                raise OSError(str(exc)) from exc

        ws = web.WebSocketResponse(protocols=portforward.PROTOCOLS, max_msg_size=0, autoping=True)
        await ws.prepare(request)
        if ws.ws_protocol == portforward.SPDY_TUNNEL:
            await portforward.SpdySession(ws, connect).run()
        else:
            try:
                ports = [int(p) for p in request.query.getall("ports", []) for p in p.split(",") if p]
            except ValueError:
                await ws.close()
                return ws
            await portforward.serve_channels(ws, ports, connect)
        return ws

    async def _sandbox(self, pod: Obj) -> str:
        uid = pod["metadata"]["uid"]
        for sb in await self.runtime.list_pod_sandboxes():
            if sb.labels.get(podsync.UID_LABEL) == uid and sb.state == cri.SandboxState.READY:
                return sb.id
        raise HTTPError(400, f"pod {pod['metadata']['name']} has no running sandbox on this node")
