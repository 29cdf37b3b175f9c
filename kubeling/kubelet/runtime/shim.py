"""The per-container shim (the role of containerd-shim or conmon).

Why a separate process: a container outlives the agent that started it (the
agent may restart), so something other than the agent must hold the read ends
of the container's stdout/stderr pipes, turn them into the CRI log format, and
collect the exit status. This script does only that, with the standard library
alone (it is run as ``python -I -S shim.py '<json options>'``, so it costs
a bare interpreter, not the agent's imports).

Sequence: the launched process forks; the child starts a new session, makes
itself a *child subreaper* (so the container's init, orphaned when ``runc
create`` exits, is re-parented to it and can be waited for), runs ``runc
create`` with two pipes as the container's stdout and stderr, and reports
``{"pid": <init pid>}`` (or ``{"error": ...}``) to the parent over a pipe; the
parent prints that and exits, which is what the agent awaits. The child then
relays output to the log file (``<RFC 3339 nano> stdout|stderr F|P <line>``,
lines over 16 KiB split into partial ``P`` records) until the init process
exits, drains what is left, and writes ``exit.json`` atomically:
``{"exit_code": n, "signal": s, "finished_at": ns, "oom_killed": bool}``.
Killed by a signal gives exit code 128+signal, as containerd reports it.
OOM kills are read from the container's memory cgroup (``oom_kill`` in
``memory.oom_control`` on cgroup v1, ``memory.events`` on v2) before the
agent's ``runc delete`` removes the cgroup. SIGHUP reopens the log file (the
kubelet's rotation).
"""

import ctypes
import io
import json
import os
import selectors
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
MAX_LINE = 16 * 1024


def _timestamp() -> bytes:
    ns = time.time_ns()
    sec, frac = divmod(ns, 1_000_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    fraction = f"{frac:09d}".rstrip("0")
    return (base + ("." + fraction if fraction else "") + "Z").encode()


class LogWriter:
    def __init__(self, path: str) -> None:
        self.path = path
        self.file: io.RawIOBase | None = None
        self.reopen()

    def reopen(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        if self.path:
            self.file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - lives as long as the shim

    def record(self, stream: bytes, tag: bytes, line: bytes) -> None:
        if self.file is not None:
            try:
                self.file.write(_timestamp() + b" " + stream + b" " + tag + b" " + line + b"\n")
            except OSError:
                pass  # a full disk must not kill the container's output pipe


class Relay:
    """Splits one stream's bytes into CRI log records."""

    def __init__(self, name: bytes, log: LogWriter) -> None:
        self.name = name
        self.log = log
        self.buf = b""

    def feed(self, data: bytes) -> None:
        self.buf += data
        while True:
            nl = self.buf.find(b"\n")
            if nl < 0:
                break
            line, self.buf = self.buf[:nl], self.buf[nl + 1:]
            while len(line) > MAX_LINE:
                self.log.record(self.name, b"P", line[:MAX_LINE])
                line = line[MAX_LINE:]
            self.log.record(self.name, b"F", line)
        while len(self.buf) > MAX_LINE:
            self.log.record(self.name, b"P", self.buf[:MAX_LINE])
            self.buf = self.buf[MAX_LINE:]

    def close(self) -> None:
        if self.buf:
            self.log.record(self.name, b"F", self.buf)
            self.buf = b""


def _oom_killed(files: list) -> bool:
    for path in files:
        try:
            with open(path) as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and int(value) > 0:
                        return True
        except (OSError, ValueError):
            continue
    return False


def _runc_error(path: str) -> str:
    """The last error runc logged (its --log file holds one JSON object a line)."""
    msg = ""
    try:
        with open(path) as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("level") in ("error", "fatal"):
                    msg = entry.get("msg", "")
    except OSError:
        pass
    return msg


def _write_json(path: str, data: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main() -> int:
    opts = json.loads(sys.argv[1])
    status_r, status_w = os.pipe()
    if os.fork() != 0:
        os.close(status_w)
        chunks = []
        while chunk := os.read(status_r, 65536):
            chunks.append(chunk)
        report = json.loads(b"".join(chunks) or b'{"error": "shim died before reporting"}')
        sys.stdout.write(json.dumps(report))
        return 0 if "pid" in report else 1
    os.close(status_r)
    os.setsid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid_file = os.path.join(opts["dir"], "init.pid")
    # runc's own messages go to runc.log, not into the container's stderr (and so its log).
    runc_log = os.path.join(opts["dir"], "runc.log")
    cmd = [opts["runc"], "--root", opts["runc_root"], "--log", runc_log, "--log-format", "json", "create", "--bundle", opts["bundle"],
           "--pid-file", pid_file, opts["id"]]
    try:
        proc = subprocess.run(cmd, check=False, stdin=devnull, stdout=out_w, stderr=err_w, pass_fds=(), timeout=120)
        code = proc.returncode
    except (OSError, subprocess.TimeoutExpired) as exc:
        code, early = -1, str(exc)
    os.close(out_w)
    os.close(err_w)
    if code != 0:
        if code != -1:
            early = _runc_error(runc_log)
            if not early:
                os.set_blocking(err_r, False)
                try:
                    early = os.read(err_r, 65536).decode(errors="replace").strip()
                except BlockingIOError:
                    early = ""
        os.write(status_w, json.dumps({"error": early or f"runc create exited with {code}"}).encode())
        return 1
    with open(pid_file) as f:
        init_pid = int(f.read().strip())
    os.write(status_w, json.dumps({"pid": init_pid, "shim_pid": os.getpid()}).encode())
    os.close(status_w)

    log = LogWriter(opts.get("log_path", ""))
    relays = {out_r: Relay(b"stdout", log), err_r: Relay(b"stderr", log)}
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    reopen = []
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGHUP, lambda *_: reopen.append(True))
    sel = selectors.DefaultSelector()
    for fd in relays:
        sel.register(fd, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    exit_status: int | None = None
    drain_deadline: float | None = None
    while relays:
        timeout: float | None = None if drain_deadline is None else max(0.0, drain_deadline - time.monotonic())
        if drain_deadline is not None and timeout == 0:
            break
        for key, _ in sel.select(timeout if timeout is not None else 5.0):
            fd = key.fd
            if fd == wake_r:
                try:
                    os.read(wake_r, 4096)
                except BlockingIOError:
                    pass
                continue
            data = os.read(fd, 65536)
            if data:
                relays[fd].feed(data)
            else:
                relays.pop(fd).close()
                sel.unregister(fd)
                os.close(fd)
        if reopen:
            reopen.clear()
            log.reopen()
        # Reap every orphan that was re-parented to us; note the container's init.
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid == init_pid:
                exit_status = status
                finished = time.time_ns()
                # Whatever still holds the pipes gets a moment to finish writing.
                drain_deadline = time.monotonic() + 2.0
        if exit_status is None and drain_deadline is None and not relays:
            break
    for relay in relays.values():
        relay.close()
    while exit_status is None:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            # Not our child after all (should not happen): poll until it is gone.
            while os.path.exists(f"/proc/{init_pid}"):
                time.sleep(0.1)
            status = 255 << 8
            pid = init_pid
        if pid == init_pid:
            exit_status = status
            finished = time.time_ns()
    if os.WIFSIGNALED(exit_status):
        sig = os.WTERMSIG(exit_status)
        exit_code = 128 + sig
    else:
        sig = 0
        exit_code = os.WEXITSTATUS(exit_status)
    _write_json(os.path.join(opts["dir"], "exit.json"), {
        "exit_code": exit_code, "signal": sig, "finished_at": finished,
        "oom_killed": _oom_killed(opts.get("oom_files", [])),
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
