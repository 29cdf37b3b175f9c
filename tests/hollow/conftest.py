from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator

import pytest

from tests.controllers.harness import Cluster


@pytest.fixture
async def cluster(tmp_path: pathlib.Path) -> AsyncIterator[Cluster]:
    c = Cluster(tmp_path / "data")
    await c.start()
    yield c
    await c.stop()
