"""Streaming exec in a running runc container (CRI's Exec, served by the kubelet).

``start(runc, root, container_id, cmd, tty=..., stdin=...)`` runs ``runc exec``
and returns an :class:`ExecSession`: write to the process's stdin, read its
output, resize its terminal, wait for its exit code.

Without a TTY the process gets three pipes (``runc exec`` hands its own stdio
to the process). With a TTY, ``runc exec -t`` makes a pseudo terminal in the
container and relays it to its own stdio, which is the slave side of a pseudo
terminal we open (runc's ``--console-socket`` is only for detached processes,
whose exit status we could not collect); input and output both go through our
master side, and a resize is ``TIOCSWINSZ`` on it plus SIGWINCH to runc, which
copies the new size into the container's terminal. ``runc exec`` waits for the process
and exits with its status, which is the exec's exit code (128+signal when
killed, as CRI reports it).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import signal
import struct
import termios
import tty as ttylib

READ_SIZE = 32 * 1024


class ExecSession:
    """One running exec. ``stdout``/``stderr`` yield chunks until EOF (``b""``)."""

    def __init__(self, proc: asyncio.subprocess.Process, *, master: int | None) -> None:
        self.proc = proc
        self.master = master
        self.tty = master is not None
        self._out: asyncio.Queue[bytes] = asyncio.Queue()
        self._reader_done = asyncio.Event()
        if master is not None:
            os.set_blocking(master, False)
            asyncio.get_running_loop().add_reader(master, self._on_master)

    def _on_master(self) -> None:
        assert self.master is not None
        try:
            data = os.read(self.master, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:  # EIO: every slave side is closed (the process and its children are gone)
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.master)
            self._reader_done.set()
        self._out.put_nowait(data)

    async def read_stdout(self) -> bytes:
        """The next chunk of output (with a TTY: of the terminal); ``b""`` at the end."""
        if self.master is not None:
            if self._reader_done.is_set() and self._out.empty():
                return b""
            return await self._out.get()
        assert self.proc.stdout is not None
        return await self.proc.stdout.read(READ_SIZE)

    async def read_stderr(self) -> bytes:
        if self.master is not None or self.proc.stderr is None:
            return b""
        return await self.proc.stderr.read(READ_SIZE)

    async def write_stdin(self, data: bytes) -> None:
        if self.master is not None:
            view = memoryview(data)
            while view:
                try:
                    n = os.write(self.master, view)
                    view = view[n:]
                except BlockingIOError:
                    await asyncio.sleep(0.01)
                except OSError:
                    return  # the terminal is gone
            return
        if self.proc.stdin is None:
            return
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            self.proc.stdin.write(data)
            await self.proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self.master is not None:
            # A terminal has no half-close: send EOF the way a user would (^D).
            await self.write_stdin(b"\x04")
            return
        if self.proc.stdin is not None:
            with contextlib.suppress(ConnectionResetError, BrokenPipeError, OSError):
                self.proc.stdin.close()

    def resize(self, width: int, height: int) -> None:
        if self.master is not None and width > 0 and height > 0:
            with contextlib.suppress(OSError):
                fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
                os.kill(self.proc.pid, signal.SIGWINCH)

    async def wait(self) -> int:
        code = await self.proc.wait()
        return code if code >= 0 else 128 - code

    async def close(self) -> None:
        """Kill the exec if it still runs (the client went away) and release the terminal."""
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()  # runc forwards it to the process
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        if self.master is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self.master)
            with contextlib.suppress(OSError):
                os.close(self.master)
            self.master = None
            self._reader_done.set()
            self._out.put_nowait(b"")


async def start(runc: str, root: str, container_id: str, cmd: list[str], *, tty: bool,
                stdin: bool) -> ExecSession:
    base = [runc, "--root", root, "exec"]
    if not tty:
        proc = await asyncio.create_subprocess_exec(
            *base, container_id, *cmd,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        return ExecSession(proc, master=None)
    master, slave = pty.openpty()
    try:
        # runc's own stdio is the terminal's front end: runc copies between it and the
        # container's terminal, and on SIGWINCH copies its size across.
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        # Raw from the start (runc would set it, but only once running): one terminal, the
        # container's, does echo and line editing; ours only carries bytes.
        ttylib.setraw(slave)
        proc = await asyncio.create_subprocess_exec(
            *base, "-t", "--env", "TERM=xterm", container_id, *cmd,
            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    return ExecSession(proc, master=master)
