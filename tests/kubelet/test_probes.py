"""Probe actions and probe workers (kubeling.kubelet.probes) against real
servers on loopback: an aiohttp HTTP server, a TCP listener and a grpcio
health server. Exec probes go through the runtime and are covered end to end
in tests/e2e/test_node_pods.py."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from kubeling.kubelet import probes

CONTAINER = {"name": "c", "ports": [{"name": "web", "containerPort": 0}]}


class Web:
    def __init__(self) -> None:
        self.status = 200
        self.seen: list[dict[str, str]] = []
        self.port = 0


@pytest.fixture
async def http_server() -> AsyncIterator[Web]:
    state = Web()

    async def handle(request: web.Request) -> web.Response:
        state.seen.append({"path": request.path, **dict(request.headers)})
        return web.Response(status=state.status, text="hi")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield state
    await runner.cleanup()


async def _check(handler: dict[str, Any], container: dict[str, Any] | None = None) -> probes.Outcome:
    return await probes.check(handler, runtime=None, container_id="", container=container or CONTAINER,  # type: ignore[arg-type]
                              pod_ip="127.0.0.1", timeout=2)


async def test_http_probe_status_path_headers_and_named_port(http_server: Web) -> None:
    container = {"name": "c", "ports": [{"name": "web", "containerPort": http_server.port}]}
    got = await _check({"httpGet": {"path": "/healthz", "port": "web",
                                    "httpHeaders": [{"name": "X-Custom", "value": "yes"}]}}, container)
    assert got.ok
    seen = http_server.seen[-1]
    assert seen["path"] == "/healthz" and seen["X-Custom"] == "yes"
    assert seen["User-Agent"].startswith("kube-probe/")
    http_server.status = 500
    got = await _check({"httpGet": {"path": "/healthz", "port": http_server.port}})
    assert not got.ok and got.message == "HTTP probe failed with statuscode: 500"
    http_server.status = 404
    assert not (await _check({"httpGet": {"path": "/", "port": http_server.port}})).ok


async def test_http_probe_unknown_named_port_fails() -> None:
    got = await _check({"httpGet": {"path": "/", "port": "nope"}})
    assert not got.ok and "nope" in got.message


async def test_tcp_probe_open_and_closed_ports() -> None:
    server = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    assert (await _check({"tcpSocket": {"port": port}})).ok
    server.close()
    await server.wait_closed()
    got = await _check({"tcpSocket": {"port": port}})
    assert not got.ok and f"127.0.0.1:{port}: connect: connection refused" in got.message


def _grpc_server(status: list[int]) -> tuple[Any, int]:
    grpc = pytest.importorskip("grpc")
    requests: list[bytes] = []

    def check(req: bytes, _ctx: Any) -> bytes:
        requests.append(req)
        return bytes([0x08, status[0]])

    server = grpc.server(concurrent.futures.ThreadPoolExecutor(2))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(check)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    server.requests = requests
    return server, port


async def test_grpc_probe_serving_not_serving_and_service_name() -> None:
    status = [1]
    server, port = _grpc_server(status)
    try:
        assert (await _check({"grpc": {"port": port, "service": "db"}})).ok
        assert server.requests[-1] == b"\x0a\x02db"  # HealthCheckRequest{service: "db"}
        status[0] = 2
        got = await _check({"grpc": {"port": port}})
        assert not got.ok and 'responded with "NOT_SERVING"' in got.message
    finally:
        server.stop(0)
    got = await _check({"grpc": {"port": port}})
    assert not got.ok


async def test_worker_thresholds_flip_results_and_notify(http_server: Web) -> None:
    changes: list[str] = []
    unhealthy: list[str] = []
    mgr = probes.Manager(None, on_change=changes.append,  # type: ignore[arg-type]
                         on_unhealthy=lambda _p, _c, msg: unhealthy.append(msg))
    probe = {"httpGet": {"path": "/", "port": http_server.port}, "periodSeconds": 0.05,
             "successThreshold": 2, "failureThreshold": 2}
    pod = {"metadata": {"uid": "u1", "name": "p", "namespace": "ns"},
           "spec": {"containers": [{"name": "c", "readinessProbe": probe, "livenessProbe": probe}]}}
    mgr.update(pod, {"c": ("cid1", time.time())}, "127.0.0.1")
    try:
        assert mgr.result("u1", "c", probes.Kind.READINESS, "cid1") is None  # before any probe: the default
        await _eventually(lambda: mgr.result("u1", "c", probes.Kind.READINESS, "cid1") is True)
        assert changes and changes[-1] == "u1"
        http_server.status = 503
        await _eventually(lambda: mgr.result("u1", "c", probes.Kind.READINESS, "cid1") is False)
        await _eventually(lambda: mgr.result("u1", "c", probes.Kind.LIVENESS, "cid1") is False)
        assert any(m.startswith("Liveness probe failed: HTTP probe failed with statuscode: 503") for m in unhealthy)
        assert any(m.startswith("Readiness probe failed:") for m in unhealthy)
        # A new container run starts from fresh results.
        http_server.status = 200
        mgr.update(pod, {"c": ("cid2", time.time())}, "127.0.0.1")
        assert mgr.result("u1", "c", probes.Kind.LIVENESS, "cid2") is None
        await _eventually(lambda: mgr.result("u1", "c", probes.Kind.READINESS, "cid2") is True)
    finally:
        mgr.remove_pod("u1")
    assert mgr.result("u1", "c", probes.Kind.READINESS, "cid2") is None


async def test_startup_probe_gates_the_others(http_server: Web) -> None:
    mgr = probes.Manager(None, on_change=lambda _u: None, on_unhealthy=lambda *_a: None)  # type: ignore[arg-type]
    http_server.status = 500
    fast = {"httpGet": {"path": "/", "port": http_server.port}, "periodSeconds": 0.05, "failureThreshold": 100}
    pod = {"metadata": {"uid": "u2", "name": "p", "namespace": "ns"},
           "spec": {"containers": [{"name": "c", "startupProbe": fast,
                                    "readinessProbe": {**fast, "httpGet": {"path": "/ready",
                                                                           "port": http_server.port}}}]}}
    mgr.update(pod, {"c": ("cid", time.time())}, "127.0.0.1")
    try:
        await _eventually(lambda: len(http_server.seen) >= 3)
        assert all(s["path"] == "/" for s in http_server.seen)  # readiness not probed before startup
        http_server.status = 200
        await _eventually(lambda: mgr.result("u2", "c", probes.Kind.STARTUP, "cid") is True)
        await _eventually(lambda: any(s["path"] == "/ready" for s in http_server.seen))
        await _eventually(lambda: mgr.result("u2", "c", probes.Kind.READINESS, "cid") is True)
    finally:
        mgr.remove_pod("u2")


async def _eventually(cond: Any, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
