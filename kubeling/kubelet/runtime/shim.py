"""The per-container shim (the role of containerd-shim or conmon).

Why a separate process: a container outlives the agent that started it (the
agent may restart), so something other than the agent must hold the read ends
of the container's stdout/stderr pipes, turn them into the CRI log format, and
collect the exit status. This module does only that, with the standard library
alone: shims are forked by a *zygote* (``python -I -S shim.py --zygote FD``,
see :func:`zygote`), one per node agent, so they cost a bare interpreter's
pages shared copy-on-write, not the agent's imports.

Sequence: the shim starts a new session, makes itself a *child subreaper* (so
the container's init, orphaned when ``runc create`` exits, is re-parented to
it and can be waited for), runs ``runc create`` with two pipes as the
container's stdout and stderr, and reports ``{"pid": <init pid>, "shim_pid":
...}`` (or ``{"error": ...}``) on the socket the request carried, which is what
the agent awaits. The shim then relays output to the log file (``<RFC 3339 nano> stdout|stderr F|P <line>``,
lines over 16 KiB split into partial ``P`` records) until the init process
exits, drains what is left, and writes ``exit.json`` atomically:
``{"exit_code": n, "signal": s, "finished_at": ns, "oom_killed": bool}``.
Killed by a signal gives exit code 128+signal, as containerd reports it.
OOM kills are read from the container's memory cgroup (``oom_kill`` in
``memory.oom_control`` on cgroup v1, ``memory.events`` on v2) before the
agent's ``runc delete`` removes the cgroup. SIGHUP reopens the log file (the
kubelet's rotation).

Stdin and terminals (``stdin``, ``stdin_once``, ``tty`` options, from the
container's spec): with ``tty`` the container gets a pseudo terminal, whose
master side runc hands us over ``--console-socket`` (a socket in a short temp
directory: socket paths are limited to 108 bytes and the container directory is
longer); its output is logged as stdout. Without ``tty`` but with ``stdin``,
the container's stdin is a pipe whose write end the shim holds, so the
container sees EOF only when stdin is closed. Otherwise stdin is /dev/null.

Attach: the shim listens on ``attach.sock`` in the container directory (bound
relative to it for the same path-length reason; clients connect through
``/proc/self/fd/<dir fd>/attach.sock``), a SOCK_SEQPACKET socket so every
message keeps its boundary. Each message starts with one byte: from the shim,
1 stdout and 2 stderr (raw output, as it is read); from a client, 0 stdin data,
3 close stdin, 4 resize (JSON ``{"Width": w, "Height": h}``) and 5 hello
(``b"1"`` when the client attaches stdin). With ``stdin_once``, stdin is closed
when the first client that attached stdin goes away, as upstream's StdinOnce
says. When the container has exited and its output is drained, clients see
EOF.
"""

import ctypes
import fcntl
import gc
import io
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import termios
import time

PR_SET_CHILD_SUBREAPER = 36
MAX_LINE = 16 * 1024
ATTACH_SOCKET = "attach.sock"
# Attach message types (the first byte of every message).
STDIN, STDOUT, STDERR, CLOSE_STDIN, RESIZE, HELLO = 0, 1, 2, 3, 4, 5
CLIENT_SNDBUF = 1 << 20


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


class Attach:
    """The container's stdin and the attached clients (see the module docstring)."""

    def __init__(self, sel: selectors.BaseSelector, *, stdin_fd: int | None, master: int | None,
                 stdin_once: bool) -> None:
        self.sel = sel
        self.stdin_fd = stdin_fd  # the pipe's write end or the terminal's master; None: no stdin
        self.master = master
        self.stdin_once = stdin_once
        self.pending = b""  # stdin the container has not read yet
        self.clients: dict = {}  # fd -> [socket, attached stdin?]
        if os.path.exists(ATTACH_SOCKET):
            os.unlink(ATTACH_SOCKET)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.listener.bind(ATTACH_SOCKET)
        os.chmod(ATTACH_SOCKET, 0o600)
        self.listener.listen(16)
        self.listener.setblocking(False)
        sel.register(self.listener.fileno(), selectors.EVENT_READ)
        if stdin_fd is not None:
            os.set_blocking(stdin_fd, False)

    def owns(self, fd: int) -> bool:
        return fd == self.listener.fileno() or fd in self.clients

    def on_readable(self, fd: int) -> None:
        if fd == self.listener.fileno():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            conn.setblocking(False)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, CLIENT_SNDBUF)
            self.clients[conn.fileno()] = [conn, False]
            self.sel.register(conn.fileno(), selectors.EVENT_READ)
            return
        client = self.clients[fd]
        try:
            msg = client[0].recv(65536 + 1)
        except BlockingIOError:
            return
        except OSError:
            msg = b""
        if not msg:
            self.drop(fd)
            return
        kind, payload = msg[0], msg[1:]
        if kind == STDIN:
            self.pending += payload
            self.flush()
        elif kind == CLOSE_STDIN:
            self.close_stdin()
        elif kind == RESIZE and self.master is not None:
            try:
                size = json.loads(payload)
                fcntl.ioctl(self.master, termios.TIOCSWINSZ,
                            struct.pack("HHHH", int(size["Height"]), int(size["Width"]), 0, 0))
            except (ValueError, KeyError, TypeError, OSError):
                pass
        elif kind == HELLO:
            client[1] = payload == b"1"

    def drop(self, fd: int) -> None:
        conn, had_stdin = self.clients.pop(fd)
        self.sel.unregister(fd)
        conn.close()
        if had_stdin and self.stdin_once:
            self.close_stdin()

    def flush(self) -> None:
        """Write what stdin holds without blocking (the rest waits for the next turn)."""
        if self.stdin_fd is None:
            self.pending = b""
            return
        while self.pending:
            try:
                n = os.write(self.stdin_fd, self.pending)
            except BlockingIOError:
                return
            except OSError:  # the reader is gone
                self.pending = b""
                return
            self.pending = self.pending[n:]

    def close_stdin(self) -> None:
        """EOF for the container: the pipe closes; a terminal has no half-close, so it sends ^D."""
        if self.stdin_fd is None:
            return
        if self.master is not None:
            self.pending += b"\x04"
            self.flush()
            return
        self.flush()
        os.close(self.stdin_fd)
        self.stdin_fd = None
        self.pending = b""

    def broadcast(self, kind: int, data: bytes) -> None:
        msg = bytes([kind]) + data
        for fd, (conn, _) in list(self.clients.items()):
            try:
                conn.send(msg)
            except OSError:
                # A client that cannot keep up (a full 1 MiB buffer) or is gone is detached
                # rather than stalling the container's output for everyone.
                self.drop(fd)

    def close(self) -> None:
        for fd in list(self.clients):
            conn, _ = self.clients.pop(fd)
            conn.close()
        self.listener.close()
        try:
            os.unlink(ATTACH_SOCKET)
        except OSError:
            pass


def _receive_console(listener: socket.socket) -> int:
    """The terminal master runc sent over the console socket."""
    listener.settimeout(10)
    conn, _ = listener.accept()
    with conn:
        _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
    if not fds:
        raise OSError("runc sent no terminal")
    return fds[0]


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


def zygote(ctl_fd: int) -> int:
    """Fork a shim for every request on the control socket, until the agent closes it.

    Why a zygote: a shim started as its own interpreter costs about 7 MB of pages
    of its own; forked from this process, which has already imported everything a
    shim uses, it shares those pages copy-on-write with every other shim and owns
    about 2 MB (and starts without an interpreter's start-up). Each request is one
    SOCK_SEQPACKET message, the options as JSON, carrying a socket (SCM_RIGHTS) on
    which the shim reports. Shims are forked twice, so they are not our children
    and outlive us, as they outlive the agent.
    """
    ctl = socket.socket(fileno=ctl_fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Everything alive now goes to the collector's permanent generation, so a shim's
    # collections never write to (and so copy) the pages it shares with the others.
    gc.freeze()
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(ctl, 1 << 20, 1)
        except InterruptedError:
            continue
        if not msg:
            return 0  # the agent is gone; running shims go on without us
        if not fds:
            continue
        pid = os.fork()
        if pid == 0:
            ctl.close()
            if os.fork() != 0:
                os._exit(0)
            try:
                code = shim(json.loads(msg), fds[0])
            except BaseException as exc:  # noqa: BLE001 - whatever went wrong goes to the report
                _report(fds[0], {"error": f"shim: {exc}"})
                code = 1
            os._exit(code)
        os.close(fds[0])
        os.waitpid(pid, 0)


def _report(fd: int, data: dict) -> None:
    try:
        os.write(fd, json.dumps(data).encode())
        os.close(fd)
    except OSError:
        pass


def shim(opts: dict, report_fd: int) -> int:
    """Run one container's shim; the outcome of ``runc create`` goes to ``report_fd``."""
    os.setsid()
    os.chdir(opts["dir"])  # attach.sock is bound relative to it
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    tty, want_stdin = bool(opts.get("tty")), bool(opts.get("stdin"))
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r = in_w = None
    if want_stdin and not tty:
        in_r, in_w = os.pipe()
    pid_file = os.path.join(opts["dir"], "init.pid")
    # runc's own messages go to runc.log, not into the container's stderr (and so its log).
    runc_log = os.path.join(opts["dir"], "runc.log")
    cmd = [opts["runc"], "--root", opts["runc_root"], "--log", runc_log, "--log-format", "json", "create", "--bundle", opts["bundle"],
           "--pid-file", pid_file]
    console_dir = console = None
    if tty:
        # Not tempfile.mkdtemp: the shim stays on the standard library's cheapest modules, as
        # every container pays for its memory. The directory is root's, mode 0700.
        console_dir = f"/tmp/kubeling-console-{os.getpid()}-{time.time_ns()}"
        os.mkdir(console_dir, 0o700)
        console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        console.bind(os.path.join(console_dir, "s"))
        console.listen(1)
        cmd += ["--console-socket", os.path.join(console_dir, "s")]
    cmd.append(opts["id"])
    master = None
    early = ""
    try:
        proc = subprocess.run(cmd, check=False, stdin=in_r if in_r is not None else devnull, stdout=out_w,
                              stderr=err_w, pass_fds=(), timeout=120)
        code = proc.returncode
        if code == 0 and console is not None:
            master = _receive_console(console)
    except (OSError, subprocess.TimeoutExpired) as exc:
        code, early = -1, str(exc)
    finally:
        if console is not None and console_dir is not None:
            console.close()
            for leftover in (os.path.join(console_dir, "s"), console_dir):
                try:
                    (os.rmdir if leftover == console_dir else os.unlink)(leftover)
                except OSError:
                    pass
    os.close(out_w)
    os.close(err_w)
    if in_r is not None:
        os.close(in_r)
    if code != 0:
        if code != -1:
            early = _runc_error(runc_log)
            if not early:
                os.set_blocking(err_r, False)
                try:
                    early = os.read(err_r, 65536).decode(errors="replace").strip()
                except BlockingIOError:
                    early = ""
        _report(report_fd, {"error": early or f"runc create exited with {code}"})
        return 1
    with open(pid_file) as f:
        init_pid = int(f.read().strip())
    sel = selectors.DefaultSelector()
    attach = Attach(sel, stdin_fd=master if (tty and want_stdin) else in_w, master=master,
                    stdin_once=bool(opts.get("stdin_once")))
    _report(report_fd, {"pid": init_pid, "shim_pid": os.getpid()})

    log = LogWriter(opts.get("log_path", ""))
    # With a terminal the container's output is the master side (logged as stdout); runc's
    # own stdio pipes then only see runc, and end when it exits.
    relays = {out_r: (Relay(b"stdout", log), STDOUT), err_r: (Relay(b"stderr", log), STDERR)}
    if master is not None:
        os.set_blocking(master, False)
        relays[master] = (Relay(b"stdout", log), STDOUT)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    reopen = []
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGHUP, lambda *_: reopen.append(True))
    for fd in relays:
        sel.register(fd, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    exit_status: int | None = None
    drain_deadline: float | None = None
    while relays:
        timeout: float | None = None if drain_deadline is None else max(0.0, drain_deadline - time.monotonic())
        if drain_deadline is not None and timeout == 0:
            break
        if attach.pending:  # stdin the container has not taken yet: try again soon
            timeout = 0.05 if timeout is None else min(timeout, 0.05)
        for key, _ in sel.select(timeout if timeout is not None else 5.0):
            fd = key.fd
            if fd == wake_r:
                try:
                    os.read(wake_r, 4096)
                except BlockingIOError:
                    pass
                continue
            if attach.owns(fd):
                attach.on_readable(fd)
                continue
            if fd not in relays:
                continue
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
            except OSError:  # EIO from a terminal whose every slave side is closed
                data = b""
            if data:
                relay, kind = relays[fd]
                relay.feed(data)
                attach.broadcast(kind, data)
            else:
                relays.pop(fd)[0].close()
                sel.unregister(fd)
                if fd != master:
                    os.close(fd)
        attach.flush()
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
    for relay, _ in relays.values():
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
    # Attached clients see EOF only now, so the exit status is there for them to read.
    attach.close()
    if master is not None:
        os.close(master)
    return 0


if __name__ == "__main__":
    # python -I -S shim.py --zygote <control socket fd>
    sys.exit(zygote(int(sys.argv[2])))
