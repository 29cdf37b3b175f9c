from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from tests.e2e.cluster import Server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server shared by the e2e tests of a session (each test uses its own namespace)."""
    srv = Server(tmp_path_factory.mktemp("kubeling") / "data")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def fresh_server(tmp_path: pathlib.Path) -> Iterator[Server]:
    """A server of its own, for tests that restart or kill it."""
    srv = Server(tmp_path / "data")
    srv.start()
    yield srv
    srv.stop()


_counter = 0


@pytest.fixture
def namespace(server: Server, request: pytest.FixtureRequest) -> Iterator[str]:
    global _counter
    _counter += 1
    name = f"t{_counter}-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    name = "".join(c for c in name if c.isalnum() or c == "-").strip("-")
    server.kubectl("create", "namespace", name)
    yield name
    server.kubectl("delete", "namespace", name, "--wait=false", check=False)
