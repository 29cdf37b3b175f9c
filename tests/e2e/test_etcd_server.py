"""`kubeling server --datastore-endpoint`: the same API on a real etcd."""

from __future__ import annotations

import json
import pathlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.e2e.cluster import Server

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def etcd(tmp_path: pathlib.Path) -> Iterator[str]:
    binary = shutil.which("etcd")
    if binary is None:
        pytest.skip("etcd is not installed (apt-get install etcd-server)")
    client, peer = _free_port(), _free_port()
    url = f"http://127.0.0.1:{client}"
    proc = subprocess.Popen(
        [binary, "--data-dir", str(tmp_path / "etcd"), "--listen-client-urls", url, "--advertise-client-urls", url,
         "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls",
         f"http://127.0.0.1:{peer}", "--initial-cluster", f"default=http://127.0.0.1:{peer}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", client), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(10)


def test_etcd_backed_server(tmp_path: pathlib.Path, etcd: str) -> None:
    srv = Server(tmp_path / "data", extra_args=("--datastore-endpoint", etcd))
    srv.start()
    try:
        srv.kubectl("create", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata: {name: e}\n")
        srv.kubectl("-n", "e", "create", "-f", "-",
                    input="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: '1'}\n")
        srv.kubectl("-n", "e", "patch", "cm", "c", "--type", "merge", "-p", '{"data":{"b":"2"}}')
        cm = json.loads(srv.kubectl("-n", "e", "get", "cm", "c", "-o", "json").stdout)
        assert cm["data"] == {"a": "1", "b": "2"}
        rv = int(cm["metadata"]["resourceVersion"])
        srv.stop()
        srv.start()  # state lives in etcd: a restart keeps it
        cm2 = json.loads(srv.kubectl("-n", "e", "get", "cm", "c", "-o", "json").stdout)
        assert cm2["metadata"]["uid"] == cm["metadata"]["uid"] and int(cm2["metadata"]["resourceVersion"]) == rv
        srv.kubectl("delete", "namespace", "e", "--timeout=60s")
        assert "not found" in srv.kubectl("get", "ns", "e", check=False).stderr
    finally:
        srv.stop()
