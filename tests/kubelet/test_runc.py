"""The runc runtime with real containers from the busybox test image (root).

Each test gets its own data dir, bridge (``kltest0``, 10.42.200.0/24) and
runtime; the fixture's teardown removes every sandbox and then checks that
nothing is left behind: no veth, no mounts under the data dir, no runc state,
no container directories or cgroups, no allocated addresses.
"""

from __future__ import annotations

import asyncio
import collections.abc
import os
import pathlib
import re
import urllib.request

import pytest

from kubeling.kubelet import network as networklib
from kubeling.kubelet.images import importer
from kubeling.kubelet.images import store as storelib
from kubeling.kubelet.runtime import protocol as P
from kubeling.kubelet.runtime import runc
from tests.kubelet.conftest import require_root_runc

pytestmark = pytest.mark.root

BRIDGE = "kltest0"
CIDR = "10.42.200.0/24"
IMAGE = "busybox:test"
CRI_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z (stdout|stderr) (F|P) (.*)$")


class Env:
    def __init__(self, data: pathlib.Path, rt: runc.RuncRuntime, net: networklib.BridgeNetwork) -> None:
        self.data, self.rt, self.net = data, rt, net
        self.logs = data / "pods"

    def sandbox_config(self, name: str, **kw: object) -> P.PodSandboxConfig:
        return P.PodSandboxConfig(metadata=P.PodSandboxMetadata(name=name, namespace="default", uid=f"uid-{name}"),
                                  log_directory=str(self.logs / name), **kw)  # type: ignore[arg-type]

    async def sandbox(self, name: str, **kw: object) -> tuple[str, P.PodSandboxConfig]:
        cfg = self.sandbox_config(name, **kw)
        return await self.rt.run_pod_sandbox(cfg), cfg

    async def run(self, sandbox: tuple[str, P.PodSandboxConfig], name: str, command: list[str],
                  **kw: object) -> str:
        cfg = P.ContainerConfig(metadata=P.ContainerMetadata(name=name), image=IMAGE, command=command,
                                log_path=f"{name}/0.log", **kw)  # type: ignore[arg-type]
        cid = await self.rt.create_container(sandbox[0], cfg, sandbox[1])
        await self.rt.start_container(cid)
        return cid

    async def wait_exited(self, cid: str, timeout: float = 60) -> P.ContainerStatus:
        return await eventually(lambda: self._exited(cid), timeout)

    async def _exited(self, cid: str) -> P.ContainerStatus | None:
        st = await self.rt.container_status(cid)
        return st if st.state == P.ContainerState.EXITED else None

    def log_lines(self, cid_status: P.ContainerStatus) -> list[tuple[str, str, str]]:
        out = []
        for line in pathlib.Path(cid_status.log_path).read_text().splitlines():
            m = CRI_LINE.match(line)
            assert m, f"not a CRI log line: {line!r}"
            out.append((m.group(2), m.group(3), m.group(4)))
        return out


async def eventually(check: collections.abc.Callable[[], collections.abc.Awaitable[object]],
                     timeout: float = 60) -> object:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def _mounts_under(path: pathlib.Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(path))]


def _links() -> set[str]:
    return {name for name in os.listdir("/sys/class/net")}


@pytest.fixture
async def env(tmp_path: pathlib.Path, busybox_archive: pathlib.Path) -> collections.abc.AsyncIterator[Env]:
    require_root_runc()
    data = tmp_path / "data"
    store = storelib.Store(data)
    importer.import_archive(store, str(busybox_archive))
    net = networklib.BridgeNetwork(data, pod_cidr=CIDR, bridge=BRIDGE)
    rt = runc.RuncRuntime(data, images=store, network=net)
    e = Env(data, rt, net)
    try:
        yield e
    finally:
        sandboxes = [sb.id for sb in await rt.list_pod_sandboxes()]
        containers = [c.id for c in await rt.list_containers()]
        for sb_id in sandboxes:
            await rt.remove_pod_sandbox(sb_id)
        # Only what this test made is checked: other runtimes may share the machine.
        leaks = {
            "sandboxes": await rt.list_pod_sandboxes(),
            "containers": os.listdir(rt.containers_dir),
            "runc state": os.listdir(rt.state_root),
            "mounts": _mounts_under(data),
            "veths": [v for v in map(net.host_ifname, sandboxes) if v in _links()],
            "addresses": net.allocated(),
            "cgroups": [c for c in containers if any(
                os.path.exists(f"/sys/fs/cgroup/{ctl}/kubeling/{c}") for ctl in ("memory", "pids", "cpu"))],
            "netns files": os.listdir(rt.netns_dir),
        }
        await net.destroy_node()
        assert not any(leaks.values()), leaks


async def test_echo_hello_logs_in_cri_format(env: Env) -> None:
    sb = await env.sandbox("echo")
    cid = await env.run(sb, "c", ["echo", "hello"])
    st = await env.wait_exited(cid)
    assert st.exit_code == 0 and st.reason == P.REASON_COMPLETED
    assert 0 < st.created_at <= st.started_at <= st.finished_at
    assert st.image_id.startswith("sha256:") and st.image_ref.startswith("docker.io/library/busybox@sha256:")
    assert env.log_lines(st) == [("stdout", "F", "hello")]
    assert [c.id for c in await env.rt.list_containers(P.ContainerFilter(sandbox_id=sb[0]))] == [cid]


async def test_exit_code_stderr_and_partial_lines(env: Env) -> None:
    sb = await env.sandbox("exit3")
    cid = await env.run(sb, "c", ["sh", "-c", "echo oops >&2; printf 'no newline'; exit 3"])
    st = await env.wait_exited(cid)
    assert st.exit_code == 3 and st.reason == P.REASON_ERROR
    assert sorted(env.log_lines(st)) == [("stderr", "F", "oops"), ("stdout", "F", "no newline")]
    long = await env.run(sb, "long", ["sh", "-c", "head -c 40000 /dev/zero | tr '\\0' x; echo"])
    lines = env.log_lines(await env.wait_exited(long))
    assert [t for _, t, _ in lines] == ["P", "P", "F"]
    assert sum(len(text) for _, _, text in lines) == 40000


async def test_memory_hog_is_oomkilled(env: Env) -> None:
    sb = await env.sandbox("hog")
    cid = await env.run(sb, "hog", ["sh", "-c", "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived"],
                        resources=P.Resources(memory_limit=20 * 1024 * 1024))
    st = await env.wait_exited(cid)
    assert st.reason == P.REASON_OOMKILLED
    assert st.exit_code != 0
    ok = await env.run(sb, "fine", ["sh", "-c", "x=$(head -c 1000 /dev/zero | tr '\\0' a); echo ok"],
                       resources=P.Resources(memory_limit=20 * 1024 * 1024))
    assert (await env.wait_exited(ok)).reason == P.REASON_COMPLETED


async def test_stop_sends_sigterm_then_sigkill(env: Env) -> None:
    sb = await env.sandbox("stop")
    # PID 1 ignores SIGTERM unless it installs a handler: busybox sleep does not, so SIGKILL ends it.
    stubborn = await env.run(sb, "stubborn", ["sleep", "1000"])
    polite = await env.run(sb, "polite", ["sh", "-c", ("trap 'echo got TERM; exit 0' TERM; "
                                          "while true; do sleep 0.1; done")])
    await eventually(lambda: _running(env, stubborn))
    await eventually(lambda: _running(env, polite))
    await asyncio.sleep(0.3)  # let the shell install its trap
    await env.rt.stop_container(polite, 30)
    st = await env.rt.container_status(polite)
    assert st.state == P.ContainerState.EXITED and st.exit_code == 0
    assert ("stdout", "F", "got TERM") in env.log_lines(st)
    await env.rt.stop_container(stubborn, 1)
    st = await env.rt.container_status(stubborn)
    assert st.state == P.ContainerState.EXITED and st.exit_code == 137 and st.reason == P.REASON_ERROR
    await env.rt.stop_container(stubborn, 1)  # idempotent


async def _running(env: Env, cid: str) -> bool:
    st = await env.rt.container_status(cid)
    return st.state == P.ContainerState.RUNNING and st.pid > 0


async def test_httpd_reachable_from_host_and_other_pod(env: Env) -> None:
    web = await env.sandbox("web", hostname="web-0")
    ip = (await env.rt.pod_sandbox_status(web[0])).ip
    assert ip.startswith("10.42.200.")
    await env.run(web, "httpd", ["httpd", "-f", "-p", "80", "-h", "/var/www"])

    async def fetch() -> str:
        def get() -> str:
            try:
                with urllib.request.urlopen(f"http://{ip}/index.html", timeout=2) as r:
                    return r.read().decode()
            except OSError:
                return ""
        return await asyncio.to_thread(get)

    assert await eventually(fetch) == "hello from busybox httpd\n"
    client = await env.sandbox("client")
    assert (await env.rt.pod_sandbox_status(client[0])).ip not in ("", ip)
    cid = await env.run(client, "wget", ["sh", "-c", (f"wget -q -O - http://{ip}/ && ping -c 1 -W 5 {ip} >/dev/null "
                                         "&& hostname && cat /etc/hostname && grep client /etc/hosts")])
    st = await env.wait_exited(cid)
    texts = [t for _, _, t in env.log_lines(st)]
    assert st.exit_code == 0, texts
    assert texts[0] == "hello from busybox httpd"
    assert texts[1:3] == ["client", "client"]
    assert texts[3].split() == [(await env.rt.pod_sandbox_status(client[0])).ip, "client"]
    # Stopping a sandbox releases its address; removal removes everything (checked by the fixture).
    await env.rt.stop_pod_sandbox(web[0])
    assert ip not in env.net.allocated()
    assert (await env.rt.pod_sandbox_status(web[0])).state == P.SandboxState.NOTREADY


async def test_containers_share_the_sandbox_namespaces(env: Env) -> None:
    sb = await env.sandbox("shared", dns_config=P.DNSConfig(servers=["10.43.0.10"], searches=["default.svc"],
                                                             options=["ndots:5"]))
    server = await env.run(sb, "server", ["httpd", "-f", "-p", "8080", "-h", "/var/www"])
    await eventually(lambda: _running(env, server))
    cid = await env.run(sb, "client", ["sh", "-c", ("for i in 1 2 3 4 5 6 7 8 9 10; do "
                                       "wget -q -O - http://127.0.0.1:8080/ && break; sleep 0.5; done; "
                                       "echo x > /dev/shm/shared; cat /etc/resolv.conf")])
    texts = [t for _, _, t in env.log_lines(await env.wait_exited(cid))]
    assert texts == ["hello from busybox httpd", "search default.svc", "nameserver 10.43.0.10", "options ndots:5"]
    reader = await env.run(sb, "reader", ["cat", "/dev/shm/shared"])
    assert [t for _, _, t in env.log_lines(await env.wait_exited(reader))] == ["x"]


async def test_security_context(env: Env) -> None:
    sb = await env.sandbox("sec")
    nobody = await env.run(sb, "nobody", ["sh", "-c", "id; touch /rootfs-write || echo readonly"],
                           security=P.SecurityContext(run_as_user=65534, run_as_group=65534, readonly_rootfs=True,
                                                      no_new_privs=True))
    lines = env.log_lines(await env.wait_exited(nobody))
    stdout = [t for s, _, t in lines if s == "stdout"]
    assert stdout[0].startswith("uid=65534(nobody) gid=65534(nogroup)")
    assert stdout[-1] == "readonly"
    nocaps = await env.run(sb, "nocaps", ["sh", "-c", "grep CapEff /proc/self/status; chown nobody /tmp"],
                           security=P.SecurityContext(drop_capabilities=["ALL"]))
    st = await env.wait_exited(nocaps)
    assert st.exit_code != 0
    assert ("stdout", "F", "CapEff:\t0000000000000000") in env.log_lines(st)
    env_wd = await env.run(sb, "envwd", ["sh", "-c", "pwd; echo $GREETING; echo $HOSTNAME"], working_dir="/tmp",
                           envs=[("GREETING", "hi there")])
    assert [t for _, _, t in env.log_lines(await env.wait_exited(env_wd))] == ["/tmp", "hi there", "sec"]


async def test_volume_mount_and_restart_adoption(env: Env, tmp_path: pathlib.Path) -> None:
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "in.txt").write_text("from the host\n")
    sb = await env.sandbox("vol")
    cid = await env.run(sb, "c", ["sh", "-c", "cat /data/in.txt; echo out > /data/out.txt; sleep 1000"],
                        mounts=[P.Mount(container_path="/data", host_path=str(vol))])
    async def written() -> bool:
        return (vol / "out.txt").exists()

    await eventually(written)
    # A new runtime on the same data dir (an agent restart) sees the running container as it is.
    again = runc.RuncRuntime(env.data, images=env.rt.images, network=env.net)
    st = await again.container_status(cid)
    assert st.state == P.ContainerState.RUNNING
    assert [c.id for c in await again.list_containers(P.ContainerFilter(state=P.ContainerState.RUNNING))] == [cid]
    await again.stop_container(cid, 0)
    st = await env.rt.container_status(cid)
    assert st.state == P.ContainerState.EXITED and st.exit_code == 137
    assert ("stdout", "F", "from the host") in env.log_lines(st)
    await env.rt.remove_container(cid)
    await env.rt.remove_container(cid)  # idempotent
    with pytest.raises(P.NotFound):
        await env.rt.container_status(cid)
    assert (vol / "in.txt").exists()


async def test_create_errors(env: Env) -> None:
    sb = await env.sandbox("errors")
    with pytest.raises(P.NotFound):
        await env.rt.create_container(sb[0], P.ContainerConfig(metadata=P.ContainerMetadata(name="x"),
                                                               image="nosuch:image"), sb[1])
    cfg = P.ContainerConfig(metadata=P.ContainerMetadata(name="x"), image=IMAGE, command=["/no/such/binary"])
    with pytest.raises(P.RuntimeError_, match="no such file"):
        cid = await env.rt.create_container(sb[0], cfg, sb[1])
        await env.rt.start_container(cid)
    with pytest.raises(P.NotFound):
        await env.rt.pod_sandbox_status("0" * 64)


async def test_reopen_log_after_rotation(env: Env) -> None:
    sb = await env.sandbox("rotate")
    cid = await env.run(sb, "c", ["sh", "-c", "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.05; done"])
    st = await env.rt.container_status(cid)
    log = pathlib.Path(st.log_path)

    async def has_lines(path: pathlib.Path = log) -> bool:
        return path.exists() and path.stat().st_size > 0

    await eventually(has_lines)
    log.rename(log.with_name("0.log.1"))
    await env.rt.reopen_container_log(cid)
    await eventually(has_lines)
    first_new = env.log_lines(await env.rt.container_status(cid))[0]
    assert first_new[0] == "stdout" and first_new[2].startswith("line")
    await env.rt.stop_container(cid, 0)
    with pytest.raises(P.InvalidArgument):
        await env.rt.reopen_container_log(cid)


async def test_host_network_sandbox(env: Env) -> None:
    import socket

    sb = await env.sandbox("hostnet", network=P.NamespaceMode.NODE, ipc=P.NamespaceMode.NODE)
    status = await env.rt.pod_sandbox_status(sb[0])
    assert status.ip == "" and status.network == P.NamespaceMode.NODE
    uplink = min(n for n in os.listdir("/sys/class/net") if n != "lo" and not n.startswith("kl"))
    cid = await env.run(sb, "c", ["sh", "-c", f"hostname; cat /sys/class/net/{uplink}/address"])
    st = await env.wait_exited(cid)
    mac = pathlib.Path(f"/sys/class/net/{uplink}/address").read_text().strip()
    assert [t for _, _, t in env.log_lines(st)] == [socket.gethostname(), mac]
    assert os.listdir(env.rt.netns_dir) == []


async def test_exec_sync(env: Env) -> None:
    sb = await env.sandbox("exec")
    cid = await env.run(sb, "c", ["sleep", "1000"], envs=[("FOO", "bar")], working_dir="/tmp")
    await eventually(lambda: _running(env, cid))
    res = await env.rt.exec_sync(cid, ["sh", "-c", "echo $FOO; pwd; hostname; echo err >&2; exit 7"])
    assert (res.exit_code, res.stdout, res.stderr) == (7, b"bar\n/tmp\nexec\n", b"err\n")
    with pytest.raises(P.ExecTimeout):
        await env.rt.exec_sync(cid, ["sleep", "30"], timeout=0.5)
    assert (await env.rt.exec_sync(cid, ["true"])).exit_code == 0
    await env.rt.stop_container(cid, 0)
    with pytest.raises(P.InvalidArgument):
        await env.rt.exec_sync(cid, ["true"])


async def test_stop_and_remove_a_created_container(env: Env) -> None:
    sb = await env.sandbox("created")
    cfg = P.ContainerConfig(metadata=P.ContainerMetadata(name="x"), image=IMAGE, command=["sleep", "1000"])
    cid = await env.rt.create_container(sb[0], cfg, sb[1])
    assert (await env.rt.container_status(cid)).state == P.ContainerState.CREATED
    await env.rt.stop_container(cid, 1)
    assert (await env.rt.container_status(cid)).state == P.ContainerState.EXITED
    cid2 = await env.rt.create_container(sb[0], cfg, sb[1])
    await env.rt.remove_container(cid2)
    assert [c.id for c in await env.rt.list_containers()] == [cid]
