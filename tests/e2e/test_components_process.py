"""`kubeling server --components-process`: the controller manager and the
scheduler run in a child process and still drive the cluster through the API."""

from __future__ import annotations

import json
import pathlib
import subprocess
import time

import pytest

from tests.e2e.cluster import Server

pytestmark = pytest.mark.e2e


def _children(pid: int) -> list[str]:
    out = subprocess.run(["ps", "-o", "args=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def test_components_in_their_own_process(tmp_path: pathlib.Path) -> None:
    srv = Server(tmp_path / "data", extra_args=("--components-process",))
    srv.start()
    try:
        assert srv.proc is not None
        pid = srv.proc.pid
        kids = _children(pid)
        assert sum("kubeling components" in c for c in kids) == 2, kids
        srv.kubectl("create", "deployment", "d", "--image=busybox", "--replicas=2")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pods = json.loads(srv.kubectl("get", "pods", "-l", "app=d", "-o", "json").stdout)["items"]
            events = srv.kubectl("get", "events", "--field-selector", "reason=FailedScheduling",
                                 "-o", "name").stdout
            if len(pods) == 2 and events.strip():
                break
            time.sleep(0.2)
        else:
            raise AssertionError(srv.log_path.read_text()[-3000:])
    finally:
        assert srv.stop() == 0
    assert not _children(pid)
