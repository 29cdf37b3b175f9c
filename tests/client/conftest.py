from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import test_utils

from kubeling.client import config, rest
from tests.client import fakeapi


@pytest.fixture
async def api() -> AsyncIterator[fakeapi.FakeAPI]:
    fake = fakeapi.FakeAPI()
    server = test_utils.TestServer(fake.app)
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    yield fake
    fake.end_watches()
    await server.close()


@pytest.fixture
async def client(api: fakeapi.FakeAPI) -> AsyncIterator[rest.Client]:
    async with rest.Client(config.Config(server=api.url, token="t0k3n"),
                           retry_delay=0.001) as c:
        yield c


async def until(cond: Callable[[], object], *, timeout: float = 5.0) -> None:
    """Poll until ``cond()`` is true (the timeout only turns a hang into a failure)."""
    async def poll() -> None:
        while not cond():
            await asyncio.sleep(0.002)
    await asyncio.wait_for(poll(), timeout)
