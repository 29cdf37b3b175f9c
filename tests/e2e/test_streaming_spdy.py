"""Streaming for older kubectl, end to end: SPDY/3.1 clients through the API
server's byte tunnel to the kubelet's SPDY server, real runc containers.

kubectl 1.27-1.29 speak SPDY/3.1 for exec, attach and cp, 1.27-1.30 for
port-forward (1.30's exec and every newer kubectl use WebSockets, covered in
test_streaming.py, and run here too so each version is seen doing all of it).
The kubectl binaries sit beside ``kubectl`` as ``kubectl.<minor>``. Needs root
and runc; under CI a missing one fails.
"""

from __future__ import annotations

import fcntl
import os
import pathlib
import re
import shutil
import struct
import subprocess
import termios
import time
import urllib.request

import pytest

from tests.e2e import test_node
from tests.e2e.cluster import Server
from tests.e2e.test_node import container, pod_status, run_pod, wait
from tests.e2e.test_streaming import Terminal

pytestmark = [pytest.mark.e2e, pytest.mark.root]

# The module-scoped fixture of test_node (this module gets its own server from it), not a copy of it.
node = test_node.node

VERSIONS = ("1.27", "1.29", "1.30")
# Feature gates that would switch 1.29/1.30 to WebSockets: the defaults are wanted here.
GATES = ("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "KUBECTL_PORT_FORWARD_WEBSOCKETS")


def kubectl_path(version: str) -> str:
    found = shutil.which("kubectl")
    path = pathlib.Path(found).resolve().parent / f"kubectl.{version}" if found else None
    if path is None or not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"needs kubectl {version}")
        pytest.skip(f"needs kubectl {version}")
    return str(path)


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in GATES}


def kubectl(srv: Server, version: str, *args: str, check: bool = True, input: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([kubectl_path(version), "--kubeconfig", str(srv.kubeconfig), *args], capture_output=True,
                          text=True, input=input, timeout=timeout, check=check, env=env())


def running(srv: Server, name: str, *command: str) -> None:
    """Pod ``name`` running ``command`` (made by the first test that needs it)."""
    if srv.kubectl("get", "pod", name, check=False).returncode != 0:
        run_pod(srv, name, *command)
    wait(lambda: pod_status(srv, name).get("phase") == "Running", f"{name} Running", srv)


@pytest.mark.parametrize("version", VERSIONS)
def test_exec_output_stdin_and_exit_code(node: Server, version: str) -> None:
    running(node, "spdy-shell", "sleep", "3600")
    res = kubectl(node, version, "exec", "spdy-shell", "--", "sh", "-c", "echo out; echo err >&2; exit 3",
                  check=False)
    assert res.returncode == 3, res.stderr
    assert res.stdout == "out\n"
    assert "err" in res.stderr
    ok = kubectl(node, version, "exec", "spdy-shell", "-c", "c", "--", "cat", "/etc/hostname")
    assert ok.stdout.strip() == "spdy-shell"
    piped = kubectl(node, version, "exec", "-i", "spdy-shell", "--", "sh", "-c", "tr a-z A-Z; echo done",
                    input="hello stdin\n")
    assert piped.stdout == "HELLO STDIN\ndone\n"


@pytest.mark.parametrize("version", VERSIONS)
def test_cp_both_ways(node: Server, version: str, tmp_path: pathlib.Path) -> None:
    running(node, "spdy-shell", "sleep", "3600")
    src = tmp_path / "payload.txt"
    src.write_text("".join(f"row {i} of kubectl {version}\n" for i in range(20000)))
    kubectl(node, version, "cp", str(src), f"default/spdy-shell:/tmp/payload-{version}.txt")
    remote = kubectl(node, version, "exec", "spdy-shell", "--", "wc", "-c", f"/tmp/payload-{version}.txt").stdout
    assert remote.split()[0] == str(src.stat().st_size)
    back = tmp_path / "back.txt"
    kubectl(node, version, "cp", f"default/spdy-shell:/tmp/payload-{version}.txt", str(back))
    assert back.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("version", VERSIONS)
def test_port_forward(node: Server, version: str) -> None:
    running(node, "spdy-web", "sh", "-c", "mkdir -p /www && echo hello-over-spdy > /www/index.html && "
            "exec httpd -f -p 8080 -h /www")
    proc = subprocess.Popen([kubectl_path(version), "--kubeconfig", str(node.kubeconfig), "port-forward",
                             "pod/spdy-web", ":8080"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env())
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        m = re.search(r"127\.0\.0\.1:(\d+) -> 8080", line)
        assert m, line + (proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        for _ in range(3):  # several connections over one session
            with urllib.request.urlopen(f"http://127.0.0.1:{m.group(1)}/", timeout=20) as r:
                assert r.read() == b"hello-over-spdy\n"
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_exec_with_a_tty_and_a_resize(node: Server) -> None:
    running(node, "spdy-shell", "sleep", "3600")
    term = Terminal([kubectl_path("1.27"), "--kubeconfig", str(node.kubeconfig), "exec", "-it", "spdy-shell",
                     "--", "sh"], env=env())
    try:
        term.expect(b"/ # ")  # the shell is up (see test_streaming.test_exec_with_a_tty)
        term.send(b"echo sum-$((40+2)); tty; stty size\n")
        term.expect(b"sum-42")
        term.expect(b"/dev/pts/")
        term.expect(b"33 101")
        # The user's terminal changes size: kubectl sends it on the resize stream.
        fcntl.ioctl(term.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        for _ in range(15):  # the resize travels on its own stream: ask until it has arrived
            term.send(b"stty size\n")
            try:
                term.expect(b"40 120", timeout=2)
                break
            except AssertionError:
                continue
        assert b"40 120" in term.seen, term.seen
        term.send(b"exit 7\n")
        assert term.exit_status() == 7
    finally:
        term.close()


def test_attach_streams_output(node: Server) -> None:
    running(node, "spdy-ticker", "sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.5; done")
    proc = subprocess.Popen([kubectl_path("1.27"), "--kubeconfig", str(node.kubeconfig), "attach", "spdy-ticker"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    try:
        got: list[int] = []
        deadline = time.monotonic() + 30
        while len(got) < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line:
                break
            if line.startswith("tick "):
                got.append(int(line.split()[1]))
        assert len(got) == 3 and got == sorted(got), (got, proc.stderr.read() if proc.poll() is not None and
                                                      proc.stderr else "")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_request_without_an_upgrade_is_refused(node: Server) -> None:
    running(node, "spdy-shell", "sleep", "3600")
    assert container(node, "spdy-shell").get("ready")
    res = node.kubectl("get", "--raw", "/api/v1/namespaces/default/pods/spdy-shell/exec?command=true&stdout=1",
                       check=False)
    assert res.returncode != 0 and "Upgrade request required" in res.stderr
