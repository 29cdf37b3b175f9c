"""The real runtime: pod sandboxes of held namespaces and containers run by
``runc``, each watched by a small shim process (see ``shim.py``), forked by the
agent's shim zygote (``shimlauncher``).

Layout under the data dir::

    run/runc/                          runc's state (--root)
    run/netns/<sandbox>                the sandbox's network namespace (bind mount)
    sandboxes/<sandbox>/               sandbox.json, ns/{ipc,uts}, hosts, resolv.conf, hostname, shm/
    containers/<container>/            container.json, config.json (the OCI bundle), rootfs/ (+ upper,
                                       work with overlayfs), init.pid, exit.json (written by the shim)

Everything a status needs is on disk, so a restarted agent finds its sandboxes
and containers as they are (``list_*`` read the directories). Containers go to
the cgroup ``/kubeling/<container id>`` (runc's cgroupfs driver), where the
shim finds the OOM-kill counter.

Life of a container: ``create_container`` prepares the rootfs and config and
launches the shim, which runs ``runc create`` (state CREATED); ``start_container``
runs ``runc start`` (RUNNING); when the init process exits the shim writes
``exit.json`` (EXITED); ``remove_container`` runs ``runc delete`` and removes
the rootfs. ``stop_container`` signals through ``runc kill`` and waits for the
shim to finish, watching it through a pidfd (no polling).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pathlib
import secrets
import shutil
import signal
import socket
import time
from typing import Any, Protocol

from kubeling.kubelet import network as networklib
from kubeling.kubelet.images import rootfs as rootfslib
from kubeling.kubelet.images import store as storelib
from kubeling.kubelet.runtime import (
    attachstream,
    execstream,
    netnssocket,
    protocol,
    sandbox,
    shimlauncher,
    spec,
)

P = protocol
EXEC_OUTPUT_LIMIT = 16 << 20


class PodNetwork(Protocol):
    async def setup(self, sandbox_id: str, netns: str, port_mappings: list[P.PortMapping] | None = None) -> str: ...

    async def teardown(self, sandbox_id: str, netns: str | None) -> None: ...


def _read_json(path: pathlib.Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return None


def _write_json(path: pathlib.Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


class RuncRuntime:
    def __init__(self, data_dir: str | os.PathLike[str], *, images: storelib.Store,
                 network: PodNetwork | None = None, runc: str | None = None) -> None:
        self.data_dir = pathlib.Path(data_dir)
        self.images = images
        self.network = network
        self.runc = runc or shutil.which("runc") or "/usr/sbin/runc"
        self.state_root = self.data_dir / "run" / "runc"
        self.netns_dir = self.data_dir / "run" / "netns"
        self.sandboxes_dir = self.data_dir / "sandboxes"
        self.containers_dir = self.data_dir / "containers"
        for d in (self.state_root, self.netns_dir, self.sandboxes_dir, self.containers_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.shims = shimlauncher.ShimLauncher()

    # ---- helpers ---------------------------------------------------------------------------

    async def _run_runc(self, *args: str, check: bool = True) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            self.runc, "--root", str(self.state_root), *args, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        rc = proc.returncode or 0
        if check and rc != 0:
            raise P.RuntimeError_(f"runc {args[0]}: {err.decode(errors='replace').strip() or f'exit {rc}'}")
        return rc, out.decode(errors="replace"), err.decode(errors="replace")

    async def version(self) -> tuple[str, str]:
        _, out, _ = await self._run_runc("--version")
        first = out.splitlines()[0] if out else "runc"
        return "runc", first.split()[-1]

    def _sandbox_dir(self, sandbox_id: str) -> pathlib.Path:
        if not sandbox_id or "/" in sandbox_id or sandbox_id.startswith("."):
            raise P.NotFound(f"sandbox {sandbox_id!r} not found")
        return self.sandboxes_dir / sandbox_id

    def _container_dir(self, container_id: str) -> pathlib.Path:
        if not container_id or "/" in container_id or container_id.startswith("."):
            raise P.NotFound(f"container {container_id!r} not found")
        return self.containers_dir / container_id

    def _sandbox_record(self, sandbox_id: str) -> dict[str, Any]:
        rec = _read_json(self._sandbox_dir(sandbox_id) / "sandbox.json")
        if rec is None:
            raise P.NotFound(f"sandbox {sandbox_id} not found")
        return dict(rec)

    def _container_record(self, container_id: str) -> dict[str, Any]:
        rec = _read_json(self._container_dir(container_id) / "container.json")
        if rec is None:
            raise P.NotFound(f"container {container_id} not found")
        return dict(rec)

    def _ns_files(self, sandbox_id: str, config: P.PodSandboxConfig) -> dict[str, pathlib.Path]:
        files = {}
        d = self._sandbox_dir(sandbox_id)
        if config.network == P.NamespaceMode.POD:
            files["network"] = self.netns_dir / sandbox_id
            files["uts"] = d / "ns" / "uts"
        if config.ipc == P.NamespaceMode.POD:
            files["ipc"] = d / "ns" / "ipc"
        return files

    # ---- sandboxes -------------------------------------------------------------------------

    async def run_pod_sandbox(self, config: P.PodSandboxConfig) -> str:
        sandbox_id = secrets.token_hex(32)
        d = self._sandbox_dir(sandbox_id)
        d.mkdir(parents=True)
        host_network = config.network == P.NamespaceMode.NODE
        hostname = socket.gethostname() if host_network else (config.hostname or config.metadata.name)
        files = self._ns_files(sandbox_id, config)
        rec: dict[str, Any] = {
            "id": sandbox_id, "state": P.SandboxState.NOTREADY.value, "created_at": time.time_ns(),
            "metadata": vars(config.metadata).copy(), "labels": dict(config.labels),
            "annotations": dict(config.annotations), "network": config.network.value,
            "ipc": config.ipc.value, "pid": config.pid.value, "hostname": hostname, "ip": "",
            "namespaces": {k: str(v) for k, v in files.items()},
        }
        _write_json(d / "sandbox.json", rec)
        try:
            await sandbox.hold_namespaces(files, hostname)
            if config.pid == P.NamespaceMode.POD:
                rec["pid_holder"] = await sandbox.start_pid_holder()
                _write_json(d / "sandbox.json", rec)
            if "network" in files:
                if self.network is not None:
                    rec["ip"] = await self.network.setup(sandbox_id, str(files["network"]), config.port_mappings)
                else:
                    await asyncio.to_thread(networklib.loopback_up, str(files["network"]))
            if config.ipc == P.NamespaceMode.POD:
                await asyncio.to_thread(sandbox.mount_shm, d / "shm")
            sandbox.write_file(d / "hostname", hostname + "\n")
            if host_network:
                hosts = pathlib.Path("/etc/hosts").read_text() if os.path.exists("/etc/hosts") else ""
            else:
                hosts = sandbox.hosts_file(ip=rec["ip"], hostname=hostname, aliases=config.host_aliases)
            sandbox.write_file(d / "hosts", hosts)
            sandbox.write_file(d / "resolv.conf", sandbox.resolv_conf(config.dns_config))
        except BaseException:
            await self.remove_pod_sandbox(sandbox_id)
            raise
        rec["state"] = P.SandboxState.READY.value
        _write_json(d / "sandbox.json", rec)
        return sandbox_id

    async def stop_pod_sandbox(self, sandbox_id: str) -> None:
        rec = self._sandbox_record(sandbox_id)
        for c in await self.list_containers(P.ContainerFilter(sandbox_id=sandbox_id)):
            await self.stop_container(c.id, 0)
        if not rec.get("network_released"):
            if self.network is not None and rec["network"] == P.NamespaceMode.POD.value:
                await self.network.teardown(sandbox_id, rec["namespaces"].get("network"))
            rec["network_released"] = True
        if rec.get("pid_holder"):
            sandbox.stop_pid_holder(rec["pid_holder"])
        rec["state"] = P.SandboxState.NOTREADY.value
        _write_json(self._sandbox_dir(sandbox_id) / "sandbox.json", rec)

    async def remove_pod_sandbox(self, sandbox_id: str) -> None:
        d = self._sandbox_dir(sandbox_id)
        rec = _read_json(d / "sandbox.json")
        for c in await self.list_containers(P.ContainerFilter(sandbox_id=sandbox_id)):
            await self.remove_container(c.id)
        if rec is not None:
            if not rec.get("network_released") and self.network is not None and \
                    rec["network"] == P.NamespaceMode.POD.value:
                await self.network.teardown(sandbox_id, rec["namespaces"].get("network"))
            sandbox.release_namespaces({k: pathlib.Path(v) for k, v in rec.get("namespaces", {}).items()})
            if rec.get("pid_holder"):
                sandbox.stop_pid_holder(rec["pid_holder"])
        await asyncio.to_thread(sandbox.unmount_shm, d / "shm")
        shutil.rmtree(d, ignore_errors=True)

    def _sandbox_status(self, rec: dict[str, Any]) -> P.PodSandboxStatus:
        return P.PodSandboxStatus(
            id=rec["id"], metadata=P.PodSandboxMetadata(**rec["metadata"]), state=P.SandboxState(rec["state"]),
            created_at=rec["created_at"], ip=rec.get("ip", ""), network=P.NamespaceMode(rec["network"]),
            labels=rec["labels"], annotations=rec["annotations"])

    async def pod_sandbox_status(self, sandbox_id: str) -> P.PodSandboxStatus:
        return self._sandbox_status(self._sandbox_record(sandbox_id))

    async def list_pod_sandboxes(self) -> list[P.PodSandboxStatus]:
        out = []
        for d in sorted(self.sandboxes_dir.iterdir()):
            rec = _read_json(d / "sandbox.json")
            if rec is not None:
                out.append(self._sandbox_status(rec))
        return out

    # ---- containers ------------------------------------------------------------------------

    async def create_container(self, sandbox_id: str, config: P.ContainerConfig,
                               sandbox_config: P.PodSandboxConfig) -> str:
        sb = self._sandbox_record(sandbox_id)
        if sb["state"] != P.SandboxState.READY.value:
            raise P.InvalidArgument(f"sandbox {sandbox_id} is not ready")
        try:
            image = await asyncio.to_thread(self.images.resolve, config.image)
        except storelib.NotFound as exc:
            raise P.NotFound(str(exc)) from exc
        container_id = secrets.token_hex(32)
        d = self._container_dir(container_id)
        d.mkdir(parents=True)
        log_path = ""
        if config.log_path and sandbox_config.log_directory:
            log_path = os.path.join(sandbox_config.log_directory, config.log_path)
            os.makedirs(os.path.dirname(log_path), exist_ok=True)
        rec: dict[str, Any] = {
            "id": container_id, "sandbox_id": sandbox_id, "metadata": vars(config.metadata).copy(),
            "image": config.image, "image_id": image.id,
            "image_ref": (image.repo_digests() or [image.manifest_digest])[0],
            "log_path": log_path, "labels": dict(config.labels), "annotations": dict(config.annotations),
            "created_at": time.time_ns(), "started_at": 0,
            "stop_signal": image.config.get("config", {}).get("StopSignal") or "SIGTERM",
            "stdin": config.stdin, "stdin_once": config.stdin_once, "tty": config.tty,
        }
        _write_json(d / "container.json", rec)
        try:
            root = await asyncio.to_thread(rootfslib.prepare, self.images, image, d)
            sd = self._sandbox_dir(sandbox_id)
            mounts = {"/etc/hosts": str(sd / "hosts"), "/etc/resolv.conf": str(sd / "resolv.conf"),
                      "/etc/hostname": str(sd / "hostname")}
            mounts["/dev/shm"] = str(sd / "shm") if sb["ipc"] == P.NamespaceMode.POD.value else "/dev/shm"
            oci = spec.build(rootfs=root, image_config=image.config, config=config, sandbox=sandbox_config,
                             hostname=sb["hostname"], namespaces={**sb["namespaces"], **self._pid_namespace(sb, config)},
                             sandbox_mounts=mounts,
                             cgroups_path=f"/kubeling/{container_id}")
            _write_json(d / "config.json", oci)
            await self._launch_shim(container_id, d, log_path, rec)
        except BaseException:
            await self.remove_container(container_id)
            raise
        return container_id

    def _pid_namespace(self, sb: dict[str, Any], config: P.ContainerConfig) -> dict[str, str]:
        """The PID namespace to join: a target container's (kubectl debug --target), the pod's
        (shareProcessNamespace), or none (the container's own, or the host's)."""
        if config.pid_target:
            target = self._container_record(config.pid_target)
            if self._status(target).state != P.ContainerState.RUNNING:
                raise P.InvalidArgument(f"target container {config.pid_target} is not running")
            return {"pid": f"/proc/{target['pid']}/ns/pid"}
        if sb.get("pid_holder"):
            return {"pid": sandbox.pid_holder_path(sb["pid_holder"])}
        return {}

    async def _launch_shim(self, container_id: str, d: pathlib.Path, log_path: str, rec: dict[str, Any]) -> None:
        opts = {
            "id": container_id, "dir": str(d), "bundle": str(d), "runc": self.runc,
            "runc_root": str(self.state_root), "log_path": log_path,
            "stdin": rec["stdin"], "stdin_once": rec["stdin_once"], "tty": rec["tty"],
            "oom_files": [f"/sys/fs/cgroup/memory/kubeling/{container_id}/memory.oom_control",
                          f"/sys/fs/cgroup/kubeling/{container_id}/memory.events"],
        }
        report = await self.shims.launch(opts)
        if "pid" not in report:
            raise P.RuntimeError_(f"creating container: {report.get('error')}")
        rec["pid"] = report["pid"]
        rec["shim_pid"] = report["shim_pid"]
        _write_json(d / "container.json", rec)

    async def start_container(self, container_id: str) -> None:
        d = self._container_dir(container_id)
        rec = self._container_record(container_id)
        if rec["started_at"]:
            raise P.InvalidArgument(f"container {container_id} was already started")
        # Stamped before the process can run, so started_at <= finished_at always holds.
        rec["started_at"] = time.time_ns()
        _write_json(d / "container.json", rec)
        try:
            await self._run_runc("start", container_id)
        except P.RuntimeError_:
            rec["started_at"] = 0
            _write_json(d / "container.json", rec)
            raise

    def _shim_alive(self, rec: dict[str, Any]) -> bool:
        pid = rec.get("shim_pid")
        if not pid:
            return False
        # The pid is still that shim (pids are reused) if it sits in the container's directory:
        # every shim is forked from the zygote, so its command line does not name the container.
        try:
            return os.readlink(f"/proc/{pid}/cwd") == os.path.realpath(self._container_dir(rec["id"]))
        except OSError:
            return False

    async def _wait_exit(self, rec: dict[str, Any], timeout: float | None) -> bool:
        """Wait until the shim has recorded the exit; False on timeout."""
        exit_file = self._container_dir(rec["id"]) / "exit.json"
        if exit_file.exists():
            return True
        try:
            pidfd = os.pidfd_open(rec["shim_pid"])
        except (OSError, KeyError):
            return exit_file.exists()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def exited() -> None:
            if not done.done():
                done.set_result(None)

        loop.add_reader(pidfd, exited)
        try:
            if self._shim_alive(rec):
                await asyncio.wait_for(asyncio.shield(done), timeout)
        except TimeoutError:
            pass
        finally:
            loop.remove_reader(pidfd)
            os.close(pidfd)
        return exit_file.exists()

    async def stop_container(self, container_id: str, timeout: float) -> None:
        rec = self._container_record(container_id)
        status = self._status(rec)
        if status.state in (P.ContainerState.EXITED, P.ContainerState.UNKNOWN) and not self._shim_alive(rec):
            return
        if timeout > 0:
            await self._run_runc("kill", container_id, str(rec.get("stop_signal", "SIGTERM")), check=False)
            if await self._wait_exit(rec, timeout):
                return
        await self._run_runc("kill", "--all", container_id, "KILL", check=False)
        if not await self._wait_exit(rec, 30):
            raise P.RuntimeError_(f"container {container_id} did not stop after SIGKILL")

    async def remove_container(self, container_id: str) -> None:
        d = self._container_dir(container_id)
        rec = _read_json(d / "container.json")
        if rec is not None and self._shim_alive(rec):
            await self._run_runc("kill", "--all", container_id, "KILL", check=False)
            await self._wait_exit(rec, 30)
        await self._run_runc("delete", "--force", container_id, check=False)
        await asyncio.to_thread(rootfslib.release, d)

    def _status(self, rec: dict[str, Any]) -> P.ContainerStatus:
        d = self._container_dir(rec["id"])
        st = P.ContainerStatus(
            id=rec["id"], sandbox_id=rec["sandbox_id"], metadata=P.ContainerMetadata(**rec["metadata"]),
            state=P.ContainerState.CREATED, created_at=rec["created_at"], started_at=rec["started_at"],
            image=rec["image"], image_id=rec["image_id"], image_ref=rec["image_ref"], log_path=rec["log_path"],
            labels=rec["labels"], annotations=rec["annotations"])
        ex = _read_json(d / "exit.json")
        if ex is not None:
            st.state = P.ContainerState.EXITED
            st.exit_code = ex["exit_code"]
            st.finished_at = ex["finished_at"]
            if ex.get("oom_killed"):
                st.reason = P.REASON_OOMKILLED
            else:
                st.reason = P.REASON_COMPLETED if st.exit_code == 0 else P.REASON_ERROR
        elif not self._shim_alive(rec):
            # The shim is gone without a word (killed, or the machine restarted): unknown.
            st.state = P.ContainerState.UNKNOWN
        elif rec["started_at"]:
            st.state = P.ContainerState.RUNNING
            st.pid = rec.get("pid", 0)
        return st

    async def container_status(self, container_id: str) -> P.ContainerStatus:
        return self._status(self._container_record(container_id))

    async def list_containers(self, flt: P.ContainerFilter | None = None) -> list[P.ContainerStatus]:
        flt = flt or P.ContainerFilter()
        out = []
        for d in sorted(self.containers_dir.iterdir()):
            if flt.id and d.name != flt.id:
                continue
            rec = _read_json(d / "container.json")
            if rec is None or (flt.sandbox_id and rec["sandbox_id"] != flt.sandbox_id):
                continue
            if any(rec["labels"].get(k) != v for k, v in flt.labels.items()):
                continue
            st = self._status(rec)
            if flt.state is None or st.state == flt.state:
                out.append(st)
        return out

    async def exec_sync(self, container_id: str, cmd: list[str], *, timeout: float = 0) -> P.ExecResult:
        rec = self._container_record(container_id)
        if self._status(rec).state != P.ContainerState.RUNNING:
            raise P.InvalidArgument(f"container {container_id} is not running")
        if not cmd:
            raise P.InvalidArgument("exec needs a command")
        proc = await asyncio.create_subprocess_exec(
            self.runc, "--root", str(self.state_root), "exec", container_id, *cmd,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)

        async def collect(stream: asyncio.StreamReader | None) -> bytes:
            assert stream is not None
            data = bytearray()
            while chunk := await stream.read(65536):
                if len(data) < EXEC_OUTPUT_LIMIT:
                    data += chunk[:EXEC_OUTPUT_LIMIT - len(data)]
            return bytes(data)

        gathered = asyncio.gather(collect(proc.stdout), collect(proc.stderr), proc.wait())
        try:
            out, err, code = await asyncio.wait_for(gathered, timeout if timeout > 0 else None)
        except TimeoutError:
            # runc exec passes SIGTERM on to the process; SIGKILL would only end runc itself.
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 2)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            raise P.ExecTimeout(f"command {cmd!r} timed out after {timeout}s") from None
        return P.ExecResult(exit_code=code if code >= 0 else 128 - code, stdout=out, stderr=err)

    async def exec_stream(self, container_id: str, cmd: list[str], *, tty: bool = False,
                          stdin: bool = False) -> execstream.ExecSession:
        rec = self._container_record(container_id)
        if self._status(rec).state != P.ContainerState.RUNNING:
            raise P.InvalidArgument(f"container {container_id} is not running")
        if not cmd:
            raise P.InvalidArgument("exec needs a command")
        try:
            return await execstream.start(self.runc, str(self.state_root), container_id, cmd, tty=tty, stdin=stdin)
        except OSError as exc:
            raise P.RuntimeError_(str(exc)) from exc

    async def attach(self, container_id: str, *, stdin: bool) -> attachstream.AttachSession:
        """Attach to the running container's stdio through its shim (CRI's Attach)."""
        rec = self._container_record(container_id)
        if self._status(rec).state != P.ContainerState.RUNNING:
            raise P.InvalidArgument(f"container {container_id} is not running")

        async def exit_code() -> int:
            return (await self.container_status(container_id)).exit_code

        try:
            return await attachstream.connect(self._container_dir(container_id), tty=bool(rec.get("tty")),
                                              stdin=stdin and bool(rec.get("stdin")), exit_code=exit_code)
        except OSError as exc:
            raise P.RuntimeError_(f"attaching to container {container_id}: {exc}") from exc

    async def port_forward(self, sandbox_id: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to ``port`` on the loopback of the sandbox's network namespace
        (CRI's PortForward: what listens only on the pod's localhost is reachable too)."""
        rec = self._sandbox_record(sandbox_id)
        if rec["state"] != P.SandboxState.READY.value:
            raise P.InvalidArgument(f"sandbox {sandbox_id} is not ready")
        netns = rec.get("namespaces", {}).get("network")
        if not netns:  # the host's network
            return await asyncio.open_connection("127.0.0.1", port)
        sock = await asyncio.to_thread(netnssocket.socket_in_netns, netns)
        try:
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock)

    async def reopen_container_log(self, container_id: str) -> None:
        rec = self._container_record(container_id)
        if self._status(rec).state != P.ContainerState.RUNNING:
            raise P.InvalidArgument(f"container {container_id} is not running")
        with contextlib.suppress(ProcessLookupError):
            os.kill(rec["shim_pid"], signal.SIGHUP)
