"""Streaming end to end (issue 4): `kubectl logs`, `exec` (with a TTY), `cp`,
`attach` and `port-forward` with stock kubectl against `kubeling server` and
its in-process agent, real runc containers, through the API server's proxy to
the kubelet's HTTPS server. Needs root and runc; under CI a missing one fails.
"""

from __future__ import annotations

import asyncio
import fcntl
import ipaddress
import json
import os
import pathlib
import pty
import re
import select
import ssl
import struct
import subprocess
import termios
import time
import urllib.error
import urllib.request

import aiohttp
import pytest
from cryptography import x509

from tests.e2e.cluster import Server

# `node`: the same module-scoped fixture (its own server for this module), not a second copy of it.
from tests.e2e.test_node import container, pod_status, run_pod, wait
from tests.e2e.test_node import node  # noqa: F401 - the fixture, used by name

pytestmark = [pytest.mark.e2e, pytest.mark.root]


def running(srv: Server, name: str) -> None:
    wait(lambda: pod_status(srv, name).get("phase") == "Running", f"{name} Running", srv)


def kubectl(srv: Server, *args: str, check: bool = True, input: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", str(srv.kubeconfig), *args], capture_output=True, text=True,
                          input=input, timeout=timeout, check=check)


@pytest.mark.conformance("Kubectl, logs")
def test_logs_tail_timestamps_and_follow(node: Server) -> None:
    run_pod(node, "talker", "sh", "-c", "for i in 1 2 3 4 5; do echo line $i; done; echo oops >&2; sleep 3600")
    running(node, "talker")
    wait(lambda: "oops" in kubectl(node, "logs", "talker", check=False).stdout, "talker's output", node)
    out = kubectl(node, "logs", "talker").stdout
    assert out == "line 1\nline 2\nline 3\nline 4\nline 5\noops\n"
    assert kubectl(node, "logs", "talker", "--tail=2").stdout == "line 5\noops\n"
    assert kubectl(node, "logs", "talker", "--limit-bytes=9").stdout == "line 1\nli"
    stamped = kubectl(node, "logs", "talker", "--timestamps", "--tail=1").stdout
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z oops\n", stamped), stamped
    assert kubectl(node, "logs", "talker", "--since=1h").stdout == out
    assert kubectl(node, "logs", "talker", "--since-time=2999-01-01T00:00:00Z").stdout == ""
    assert kubectl(node, "logs", "talker", "-c", "c").stdout == out
    wrong = kubectl(node, "logs", "talker", "-c", "nope", check=False)
    assert wrong.returncode != 0 and "nope" in wrong.stderr

    # -f ends when the container does, with everything it wrote on the way.
    run_pod(node, "counter", "sh", "-c", "for i in 1 2 3; do echo tick $i; sleep 1; done", restart="Never")
    wait(lambda: container(node, "counter").get("state", {}).get("running") or
         container(node, "counter").get("state", {}).get("terminated"), "counter started", node)
    followed = kubectl(node, "logs", "-f", "counter", timeout=60).stdout
    assert followed == "tick 1\ntick 2\ntick 3\n"


def test_logs_previous(node: Server) -> None:
    run_pod(node, "crasher", "sh", "-c", "echo run at $(date +%s%N); sleep 1; exit 1")
    wait(lambda: container(node, "crasher").get("restartCount", 0) >= 1, "crasher restarted", node, timeout=90)
    prev = kubectl(node, "logs", "crasher", "--previous").stdout
    assert prev.startswith("run at ") and prev.count("\n") == 1
    never = kubectl(node, "logs", "talker", "--previous", check=False)
    assert never.returncode != 0 and "previous terminated container" in never.stderr


def test_exec_output_and_exit_code(node: Server) -> None:
    run_pod(node, "shell", "sleep", "3600")
    running(node, "shell")
    res = kubectl(node, "exec", "shell", "--", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert res.returncode == 3
    assert res.stdout == "out\n"
    assert "err" in res.stderr
    ok = kubectl(node, "exec", "shell", "-c", "c", "--", "cat", "/etc/hostname")
    assert ok.returncode == 0 and ok.stdout.strip() == "shell"
    piped = kubectl(node, "exec", "-i", "shell", "--", "sh", "-c", "tr a-z A-Z", input="hello stdin\n")
    assert piped.stdout == "HELLO STDIN\n"


class Terminal:
    """A command run on a pseudo terminal of 33 rows and 101 columns, as a user's shell would."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
            if env is None:
                os.execvp(argv[0], argv)
            os.execvpe(argv[0], argv, env)
        self.seen = b""

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def expect(self, pattern: bytes, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while pattern not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {pattern!r} in {self.seen!r}"
            if select.select([self.fd], [], [], left)[0]:
                try:
                    self.seen += os.read(self.fd, 4096)
                except OSError:
                    break
        assert pattern in self.seen, self.seen

    def exit_status(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        return os.WEXITSTATUS(status)

    def close(self) -> None:
        os.close(self.fd)


def test_exec_with_a_tty(node: Server) -> None:
    running(node, "shell")
    term = Terminal(["kubectl", "--kubeconfig", str(node.kubeconfig), "exec", "-it", "shell", "--", "sh"])
    try:
        # Type once the shell is up: runc copies the window size onto the container's terminal
        # just after starting the process, and a command run before that sees no size.
        term.expect(b"/ # ")
        term.send(b"echo sum-$((40+2)); tty; stty size\n")
        term.expect(b"sum-42")
        term.expect(b"/dev/pts/")
        term.expect(b"33 101")
        term.send(b"exit 7\n")
        assert term.exit_status() == 7
    finally:
        term.close()


def test_run_it_gives_a_shell_on_a_terminal_and_removes_the_pod(node: Server) -> None:
    """`kubectl run -it --rm`: the container's own shell on a terminal (stdin, stdinOnce, tty),
    attached through the shim; its exit code is kubectl's, and the pod goes afterwards."""
    term = Terminal(["kubectl", "--kubeconfig", str(node.kubeconfig), "run", "-it", "--rm", "--restart=Never",
                     "--image=busybox", "runit", "--", "sh"])
    try:
        term.expect(b"If you don't see a command prompt")
        term.send(b"echo sum-$((40+3)); tty; stty size; echo term=$TERM\n")
        term.expect(b"sum-43")
        term.expect(b"/dev/pts/0")
        term.expect(b"33 101")
        term.expect(b"term=xterm")
        term.send(b"exit 3\n")
        assert term.exit_status() == 3
    finally:
        term.close()
    assert "NotFound" in kubectl(node, "get", "pod", "runit", check=False).stderr


def test_run_i_pipes_stdin_until_eof(node: Server) -> None:
    """`kubectl run -i` without a terminal: piped input reaches the container's stdin and its
    end is the container's EOF (stdinOnce)."""
    out = kubectl(node, "run", "-i", "--rm", "--restart=Never", "--image=busybox", "runi", "--",
                  "sh", "-c", "while read line; do echo got-$line; done; echo done-reading",
                  input="alpha\nbeta\n", timeout=90)
    assert "got-alpha\ngot-beta\ndone-reading" in out.stdout, out


def test_attach_with_stdin(node: Server) -> None:
    """`kubectl attach -i`: input to a running container made with stdin; detaching leaves it running."""
    run_pod(node, "reader", "sh", "-c", "while read line; do echo heard-$line; done",
            container={"stdin": True})
    running(node, "reader")
    out = kubectl(node, "attach", "-i", "reader", input="first\nsecond\n", timeout=60)
    assert "heard-first\nheard-second" in out.stdout, out
    assert pod_status(node, "reader")["phase"] == "Running"
    assert container(node, "reader").get("restartCount") == 0


def test_cp_both_ways(node: Server, tmp_path: pathlib.Path) -> None:
    running(node, "shell")
    src = tmp_path / "payload.txt"
    src.write_text("".join(f"row {i}\n" for i in range(20000)))
    kubectl(node, "cp", str(src), "default/shell:/tmp/payload.txt")
    remote = kubectl(node, "exec", "shell", "--", "wc", "-c", "/tmp/payload.txt").stdout
    assert remote.split()[0] == str(src.stat().st_size)
    back = tmp_path / "back.txt"
    kubectl(node, "cp", "default/shell:/tmp/payload.txt", str(back))
    assert back.read_bytes() == src.read_bytes()


def test_port_forward_to_httpd(node: Server) -> None:
    run_pod(node, "web", "sh", "-c", "mkdir -p /www && echo hello-through-the-tunnel > /www/index.html && "
            "exec httpd -f -p 8080 -h /www")
    running(node, "web")
    proc = subprocess.Popen(["kubectl", "--kubeconfig", str(node.kubeconfig), "port-forward", "pod/web", ":8080"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        m = re.search(r"127\.0\.0\.1:(\d+) -> 8080", line)
        assert m, line + (proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        for _ in range(3):  # several connections over one forward
            with urllib.request.urlopen(f"http://127.0.0.1:{m.group(1)}/", timeout=20) as r:
                assert r.read() == b"hello-through-the-tunnel\n"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_attach_streams_output(node: Server) -> None:
    run_pod(node, "ticker", "sh", "-c", "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.5; done")
    running(node, "ticker")
    proc = subprocess.Popen(["kubectl", "--kubeconfig", str(node.kubeconfig), "attach", "ticker"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline() if proc.stdout else ""
            if not line:
                break
            if line.startswith("tick "):
                got.append(int(line.split()[1]))
        assert len(got) == 3 and got == sorted(got), got
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _ws_messages(srv: Server, path: str, protocols: list[str]) -> tuple[str, list[bytes]]:
    """Open a WebSocket on the API server as the admin; every message until it closes."""
    d = srv.data_dir / "tls"
    ctx = ssl.create_default_context(cafile=str(d / "ca.crt"))
    ctx.load_cert_chain(str(d / "admin.crt"), str(d / "admin.key"))
    out: list[bytes] = []
    async with aiohttp.ClientSession() as session, \
            session.ws_connect(srv.url + path, protocols=protocols, ssl=ctx) as ws:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                out.append(msg.data)
            elif msg.type == aiohttp.WSMsgType.TEXT:
                out.append(msg.data.encode())
        return ws.protocol or "", out


def test_logs_of_a_deployment_and_a_job(node: Server) -> None:
    kubectl(node, "create", "deployment", "logdep", "--image=busybox", "--", "sh", "-c",
            "echo from-deploy; sleep 3600")
    kubectl(node, "create", "job", "logjob", "--image=busybox", "--", "sh", "-c", "echo from-job")
    wait(lambda: kubectl(node, "logs", "deploy/logdep", check=False).stdout == "from-deploy\n", "deploy logs", node)
    wait(lambda: kubectl(node, "logs", "job/logjob", check=False).stdout == "from-job\n", "job logs", node)


@pytest.mark.conformance("Pods, remote command execution over websocket")
def test_exec_over_a_websocket_as_the_conformance_test_does(node: Server) -> None:
    running(node, "shell")
    path = ("/api/v1/namespaces/default/pods/shell/exec?command=echo&command=remote%20execution%20test"
            "&container=c&stderr=1&stdout=1")
    proto, msgs = asyncio.run(_ws_messages(node, path, ["channel.k8s.io"]))
    assert proto == "channel.k8s.io"
    assert all(m[0] == 1 for m in msgs if len(m) > 1), msgs  # nothing but stdout when all is well
    assert b"".join(m[1:] for m in msgs) == b"remote execution test\n"
    # v4: the error stream carries a Status with the exit code.
    path = "/api/v1/namespaces/default/pods/shell/exec?command=sh&command=-c&command=exit%209&stdout=1"
    proto, msgs = asyncio.run(_ws_messages(node, path, ["v4.channel.k8s.io"]))
    status = json.loads(next(m[1:] for m in msgs if m[0] == 3))
    assert proto == "v4.channel.k8s.io" and status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "9"}]


@pytest.mark.conformance("Pods, logs from websockets")
def test_logs_over_a_websocket_as_the_conformance_test_does(node: Server) -> None:
    run_pod(node, "alive", "sh", "-c", "echo container is alive; sleep 3600")
    running(node, "alive")
    wait(lambda: kubectl(node, "logs", "alive").stdout, "alive's output", node)
    proto, msgs = asyncio.run(_ws_messages(node, "/api/v1/namespaces/default/pods/alive/log?container=c",
                                           ["binary.k8s.io"]))
    assert proto == "binary.k8s.io"
    assert b"".join(msgs) == b"container is alive\n"


def test_port_forward_with_the_python_client(node: Server) -> None:
    """The channel form (v4.channel.k8s.io, ?ports=) the official client speaks."""
    running(node, "web")
    from kubernetes import client, config
    from kubernetes.stream import portforward

    api = client.CoreV1Api(config.new_client_from_config(str(node.kubeconfig)))
    pf = portforward(api.connect_get_namespaced_pod_portforward, "web", "default", ports="8080")
    sock = pf.socket(8080)
    sock.settimeout(30)
    sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
    got = b""
    while chunk := sock.recv(4096):
        got += chunk
    sock.close()
    assert got.startswith(b"HTTP/1.") and got.endswith(b"hello-through-the-tunnel\n"), got
    assert pf.error(8080) is None
    pf.close()


def test_kubelet_serving_certificates_are_for_nodes_only(node: Server) -> None:
    """The endpoint a remote `kubeling agent` (join token: group system:nodes) gets its
    kubelet serving certificate from; anonymous callers are refused."""
    ctx = ssl.create_default_context(cafile=str(node.data_dir / "tls" / "ca.crt"))
    body = json.dumps({"nodeName": "far-node", "addresses": ["192.0.2.77"]}).encode()

    def post(headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        req = urllib.request.Request(node.url + "/kubeling/v1/kubelet-serving-certificate", data=body,
                                     headers={"Content-Type": "application/json", **headers}, method="POST")
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=20) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, {}

    assert post({})[0] == 401
    token = (node.data_dir / "token").read_text().strip().rsplit(":", 1)[1]
    code, got = post({"Authorization": f"Bearer {token}"})
    assert code == 200
    cert = x509.load_pem_x509_certificate(got["cert"].encode())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "far-node" in sans.get_values_for_type(x509.DNSName)
    assert ipaddress.ip_address("192.0.2.77") in sans.get_values_for_type(x509.IPAddress)
    assert got["ca"] == (node.data_dir / "tls" / "ca.crt").read_text()
