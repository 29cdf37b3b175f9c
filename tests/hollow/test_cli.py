"""``kubeling hollow-nodes`` as a real process against a real server, seen through stock kubectl."""

from __future__ import annotations

import json
import pathlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.e2e.cluster import Server

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: pathlib.Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data")
    srv.start()
    yield srv
    srv.stop()


def wait_for(check, *, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    """Poll until ``check()`` returns something true; the timeout only turns a hang into a failure."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def ready_nodes(server: Server) -> list[str]:
    res = server.kubectl("get", "nodes", "-l", "type=hollow", "-o", "json")
    out = []
    for n in json.loads(res.stdout)["items"]:
        if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"]):
            out.append(n["metadata"]["name"])
    return sorted(out)


def test_hollow_nodes_command_registers_ready_nodes_and_runs_pods(server: Server, tmp_path: pathlib.Path) -> None:
    with open(tmp_path / "hollow.log", "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kubeling", "hollow-nodes", "--kubeconfig", str(server.kubeconfig),
             "--count", "4", "--name-prefix", "sim-", "--cleanup"],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        want = ["sim-0", "sim-1", "sim-2", "sim-3"]
        got = wait_for(lambda: ready_nodes(server) == want and want)
        assert got == want, (tmp_path / "hollow.log").read_text()
        table = server.kubectl("get", "nodes").stdout
        for name in want:
            assert any(line.split()[:2] == [name, "Ready"] for line in table.splitlines()), table

        server.kubectl("run", "sleeper", "--image=busybox", "--restart=Never",
                       "--overrides", json.dumps({"spec": {"nodeName": "sim-2"}}), "--", "sleep", "1")
        phase = wait_for(lambda: server.kubectl("get", "pod", "sleeper", "-o",
                                                "jsonpath={.status.phase}").stdout == "Succeeded" and "ok")
        assert phase == "ok", server.kubectl("get", "pod", "sleeper", "-o", "yaml").stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, (tmp_path / "hollow.log").read_text()
    # --cleanup: the nodes went with the process.
    assert server.kubectl("get", "nodes", "-l", "type=hollow", "-o", "name").stdout.strip() == ""
