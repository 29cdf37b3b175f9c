"""Container probes (upstream's prober and prober workers).

``check(handler, ...)`` runs one probe action — exec (through the runtime's
``exec_sync``), httpGet, tcpSocket or grpc (``grpc.health.v1.Health/Check``
through the ``grpcio`` package) — and answers success or failure with a
message. Lifecycle hooks reuse the exec/httpGet actions.

:class:`Manager` keeps one worker task per (pod, container, probe kind) on the
event loop, bound to one runtime container id: a restarted container gets
fresh workers and fresh results, as upstream. A worker honours the probe's
timing fields (initialDelaySeconds, periodSeconds, timeoutSeconds,
successThreshold, failureThreshold); a result flips only after its threshold
of consecutive outcomes, and every flip calls ``on_change(uid)`` so the pod is
synced again. A startup probe gates the other two: until it succeeds,
liveness and readiness are not run (readiness stays false). Each failed probe
is a Warning "Unhealthy" event, with upstream's wording.

Initial results are upstream's: readiness false, liveness true, startup false.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import os
import random
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from kubeling.kubelet.runtime import protocol as cri

Obj = dict[str, Any]
log = logging.getLogger("kubeling.kubelet.probes")

USER_AGENT = "kube-probe/1.30"
HTTP_BODY_LIMIT = 10 * 1024  # upstream reads at most this much of a probe's response
GRPC_SERVING = 1
GRPC_STATUS_NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


class Kind(enum.Enum):
    LIVENESS = "liveness"
    READINESS = "readiness"
    STARTUP = "startup"

    @property
    def field(self) -> str:
        return f"{self.value}Probe"

    @property
    def title(self) -> str:
        return self.value.capitalize()


@dataclasses.dataclass
class Outcome:
    ok: bool
    message: str = ""


def port_number(port: Any, container: Obj) -> int:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    text = str(port)
    if text.isdigit():
        return int(text)
    for p in container.get("ports") or []:
        if p.get("name") == text:
            return int(p["containerPort"])
    raise ValueError(f"port {text!r} is not a named port of container {container.get('name', '')!r}")


def _reason(exc: OSError) -> str:
    """Go's wording of a connect error ("connection refused")."""
    if exc.errno:
        return os.strerror(exc.errno).lower()
    return str(exc)


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


async def check(handler: Obj, *, runtime: cri.RuntimeService, container_id: str, container: Obj,
                pod_ip: str, timeout: float) -> Outcome:
    """Run one probe action; an action that cannot even be started is a failure too."""
    try:
        if handler.get("exec") is not None:
            return await _exec(runtime, container_id, list(handler["exec"].get("command") or []), timeout)
        if handler.get("httpGet") is not None:
            return await _http(handler["httpGet"], container, pod_ip, timeout)
        if handler.get("tcpSocket") is not None:
            return await _tcp(handler["tcpSocket"], container, pod_ip, timeout)
        if handler.get("grpc") is not None:
            return await _grpc(handler["grpc"], pod_ip, timeout)
    except ValueError as exc:
        return Outcome(False, str(exc))
    return Outcome(False, "missing probe handler")


async def _exec(runtime: cri.RuntimeService, cid: str, cmd: list[str], timeout: float) -> Outcome:
    try:
        res = await runtime.exec_sync(cid, cmd, timeout=timeout)
    except cri.ExecTimeout:
        return Outcome(False, f"command {' '.join(repr(c) for c in cmd)} timed out")
    except cri.RuntimeError_ as exc:
        return Outcome(False, str(exc))
    output = (res.stdout + res.stderr).decode("utf-8", "replace")
    return Outcome(res.exit_code == 0, output)


async def _http(get: Obj, container: Obj, pod_ip: str, timeout: float) -> Outcome:
    scheme = (get.get("scheme") or "HTTP").lower()
    host = get.get("host") or pod_ip
    port = port_number(get.get("port", 80 if scheme == "http" else 443), container)
    path = get.get("path") or "/"
    if not path.startswith("/"):
        path = "/" + path
    url = f"{scheme}://{_host(host)}:{port}{path}"
    headers = {"User-Agent": USER_AGENT, "Accept": "*/*"}
    for h in get.get("httpHeaders") or []:
        headers[h.get("name", "")] = h.get("value", "")
    client_timeout = aiohttp.ClientTimeout(total=timeout if timeout > 0 else None)
    try:
        async with aiohttp.ClientSession(timeout=client_timeout,
                                         connector=aiohttp.TCPConnector(ssl=False, force_close=True)) as session, \
                session.get(url, headers=headers, skip_auto_headers=("User-Agent",)) as resp:
            body = await resp.content.read(HTTP_BODY_LIMIT)
            text = body.decode("utf-8", "replace")
            if 200 <= resp.status < 400:
                return Outcome(True, text)
            return Outcome(False, f"HTTP probe failed with statuscode: {resp.status}")
    except TimeoutError:
        return Outcome(False, f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting '
                              f'headers)')
    except aiohttp.ClientConnectorError as exc:
        return Outcome(False, f'Get "{url}": dial tcp {_host(host)}:{port}: connect: {_reason(exc.os_error)}')
    except aiohttp.ClientError as exc:
        return Outcome(False, f'Get "{url}": {exc}')


async def _tcp(sock: Obj, container: Obj, pod_ip: str, timeout: float) -> Outcome:
    host = sock.get("host") or pod_ip
    port = port_number(sock.get("port"), container)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout if timeout > 0 else None)
    except TimeoutError:
        return Outcome(False, f"dial tcp {_host(host)}:{port}: i/o timeout")
    except OSError as exc:
        return Outcome(False, f"dial tcp {_host(host)}:{port}: connect: {_reason(exc)}")
    writer.close()
    return Outcome(True)


def _grpc_request(service: str) -> bytes:
    """HealthCheckRequest{service} in protobuf wire form (field 1, length-delimited)."""
    raw = service.encode()
    if not raw:
        return b""
    n, varint = len(raw), bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        varint.append(byte | (0x80 if n else 0))
        if not n:
            break
    return b"\x0a" + bytes(varint) + raw


def _grpc_status(body: bytes) -> int:
    """HealthCheckResponse.status (field 1, varint); absent means UNKNOWN (0)."""
    i = 0
    while i < len(body):
        key = body[i]
        i += 1
        if key == 0x08:
            value, shift = 0, 0
            while i < len(body):
                b = body[i]
                i += 1
                value |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            return value
        break  # unknown fields: a health response has only the one
    return 0


def _grpc_call(target: str, service: str, timeout: float) -> int:
    import grpc  # imported lazily: only nodes that run grpc probes load it

    with grpc.insecure_channel(target) as channel:
        call = channel.unary_unary("/grpc.health.v1.Health/Check")
        return _grpc_status(call(_grpc_request(service), timeout=timeout, wait_for_ready=False))


async def _grpc(spec: Obj, pod_ip: str, timeout: float) -> Outcome:
    import grpc

    port = int(spec.get("port", 0))
    target = f"{_host(pod_ip)}:{port}"
    try:
        status = await asyncio.to_thread(_grpc_call, target, spec.get("service") or "", timeout or 1.0)
    except grpc.RpcError as exc:
        code = exc.code() if hasattr(exc, "code") else None
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return Outcome(False, f"timeout: health rpc did not complete within {timeout:g}s")
        if code == grpc.StatusCode.UNAVAILABLE:
            return Outcome(False, f'timeout: failed to connect service "{target}" within {timeout:g}s')
        return Outcome(False, f"error: health rpc probe failed: {exc}")
    if status != GRPC_SERVING:
        return Outcome(False, f'service unhealthy (responded with "{GRPC_STATUS_NAMES.get(status, status)}")')
    return Outcome(True)


# ---- workers -------------------------------------------------------------------------------

@dataclasses.dataclass
class _Target:
    pod: Obj
    container: Obj
    container_id: str
    started_at: float  # wall seconds
    pod_ip: str


class Manager:
    def __init__(self, runtime: cri.RuntimeService, *, on_change: Callable[[str], None],
                 on_unhealthy: Callable[[Obj, Obj, str], None], wall: Callable[[], float] = time.time) -> None:
        self.runtime = runtime
        self.on_change = on_change  # uid of the pod whose results changed
        self.on_unhealthy = on_unhealthy  # (pod, container spec, event message)
        self.wall = wall
        self._workers: dict[tuple[str, str, Kind], tuple[str, asyncio.Task[None]]] = {}
        self._results: dict[tuple[str, str, Kind], tuple[str, bool]] = {}

    def update(self, pod: Obj, running: dict[str, tuple[str, float]], pod_ip: str) -> None:
        """Ensure workers for the pod's running containers (name → (id, started_at))
        and stop the others' workers."""
        uid = pod["metadata"]["uid"]
        specs = {c["name"]: c for c in (pod.get("spec") or {}).get("containers") or []}
        wanted: set[tuple[str, str, Kind]] = set()
        for name, (cid, started) in running.items():
            spec = specs.get(name)
            if spec is None:
                continue
            for kind in Kind:
                if not spec.get(kind.field):
                    continue
                key = (uid, name, kind)
                wanted.add(key)
                have = self._workers.get(key)
                if have is not None and have[0] == cid:
                    continue  # (a finished startup worker stays: its container has started)
                if have is not None:
                    have[1].cancel()
                if self._results.get(key, ("", False))[0] != cid:
                    self._results.pop(key, None)
                target = _Target(pod=pod, container=spec, container_id=cid, started_at=started, pod_ip=pod_ip)
                task = asyncio.get_running_loop().create_task(self._work(key, kind, target),
                                                              name=f"probe-{kind.value}-{name}")
                self._workers[key] = (cid, task)
        for key in [k for k in self._workers if k[0] == uid and k not in wanted]:
            self._workers.pop(key)[1].cancel()

    def result(self, uid: str, name: str, kind: Kind, container_id: str) -> bool | None:
        """The current result for that container run, or None before any (the caller applies the default)."""
        got = self._results.get((uid, name, kind))
        if got is None or got[0] != container_id:
            return None
        return got[1]

    def remove_pod(self, uid: str) -> None:
        for key in [k for k in self._workers if k[0] == uid]:
            self._workers.pop(key)[1].cancel()
        for key in [k for k in self._results if k[0] == uid]:
            del self._results[key]

    def close(self) -> None:
        for _, task in self._workers.values():
            task.cancel()
        self._workers.clear()

    async def _work(self, key: tuple[str, str, Kind], kind: Kind, t: _Target) -> None:
        try:
            await self._loop(key, kind, t)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s probe worker for %s/%s failed", kind.value, key[0], key[1])

    async def _loop(self, key: tuple[str, str, Kind], kind: Kind, t: _Target) -> None:
        uid, name, _ = key
        probe = t.container.get(kind.field) or {}
        period = float(probe.get("periodSeconds") or 10)
        timeout = float(probe.get("timeoutSeconds") or 1)
        initial = float(probe.get("initialDelaySeconds") or 0)
        need_ok = int(probe.get("successThreshold") or 1)
        need_fail = int(probe.get("failureThreshold") or 3)
        # After an agent restart many workers start at once for old containers: spread them.
        if self.wall() - t.started_at > period:
            await asyncio.sleep(random.random() * period)
        streak_ok = streak_fail = 0
        while True:
            current = self.result(uid, name, kind, t.container_id)
            gated = kind != Kind.STARTUP and (uid, name, Kind.STARTUP) in self._workers and \
                not self.result(uid, name, Kind.STARTUP, t.container_id)
            done = kind == Kind.STARTUP and current is True
            held = kind in (Kind.LIVENESS, Kind.STARTUP) and current is False  # waits for the restart
            if done:
                return
            if not gated and not held and self.wall() - t.started_at >= initial:
                outcome = await check(probe, runtime=self.runtime, container_id=t.container_id,
                                      container=t.container, pod_ip=t.pod_ip, timeout=timeout)
                if outcome.ok:
                    streak_ok, streak_fail = streak_ok + 1, 0
                else:
                    streak_ok, streak_fail = 0, streak_fail + 1
                    msg = outcome.message.strip()
                    self.on_unhealthy(t.pod, t.container, f"{kind.title} probe failed: {msg}")
                new = current
                if streak_ok >= need_ok:
                    new = True
                elif streak_fail >= need_fail:
                    new = False
                elif current is None and kind != Kind.LIVENESS:
                    new = None
                if new is not None and new != current:
                    self._results[key] = (t.container_id, new)
                    log.info("%s probe of %s/%s is now %s", kind.value, uid, name, "success" if new else "failure")
                    self.on_change(uid)
            await asyncio.sleep(period)
