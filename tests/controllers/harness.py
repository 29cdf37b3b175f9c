"""An in-process API server plus a client, for controller and scheduler tests.

Controllers are tested against the real API (defaults, validation, watch
semantics are the server's own), not a mock of it: ``cluster`` starts an
``APIServer`` on a free port in the test's event loop, ``cluster.client`` is
the admin client, and ``cluster.run(ControllerClass)`` starts a controller
that is stopped when the test ends.
"""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import Awaitable, Callable
from typing import Any

from kubeling.apiserver import server as apiserver
from kubeling.client import config as configlib
from kubeling.client import informer as informerlib
from kubeling.client import rest
from kubeling.controllers import base, events

Obj = dict[str, Any]


class Cluster:
    def __init__(self, data_dir: pathlib.Path) -> None:
        self.srv = apiserver.APIServer(apiserver.Options(data_dir=data_dir, https_port=0,
                                                         bind_address="127.0.0.1"))
        self.client: rest.Client = None  # type: ignore[assignment]
        self._tasks: list[asyncio.Task[Any]] = []
        self._contexts: list[base.Context] = []

    async def start(self) -> None:
        await self.srv.start()
        assert self.srv.pki is not None
        cfg = configlib.Config(server=f"https://127.0.0.1:{self.srv.port}", ca_data=self.srv.pki.ca_cert.read_bytes(),
                               cert_data=self.srv.pki.admin_cert.read_bytes(),
                               key_data=self.srv.pki.admin_key.read_bytes())
        self.client = rest.Client(cfg, retry_delay=0.01)

    def context(self, *, options: base.Options | None = None, **kw: Any) -> base.Context:
        ctx = base.Context(client=self.client, factory=informerlib.Factory(self.client),
                           recorder=events.Recorder(self.client, "test"), options=options or base.Options(), **kw)
        self._contexts.append(ctx)
        return ctx

    async def run(self, cls: type[base.Controller], *, ctx: base.Context | None = None) -> base.Controller:
        """Start a controller; returns once its caches have synced."""
        ctrl = cls(ctx or self.context())
        task = asyncio.create_task(ctrl.run())
        self._tasks.append(task)
        await informerlib.wait_for_sync(*ctrl._informers, timeout=10)
        return ctrl

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.append(task)
        return task

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for ctx in self._contexts:
            ctx.factory.stop()
            await ctx.recorder.close()
        await self.client.close()
        await self.srv.stop()


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout: float = 10.0) -> Any:
    """Retry an async assertion until it holds; API errors (404 while an object is
    not made yet) count as not yet. The timeout only turns a hang into a failure."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await check()
        except (AssertionError, rest.ApiError):
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.02)
