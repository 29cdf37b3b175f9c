"""Container logs: reading CRI-format log files for ``kubectl logs``, and rotating them.

A CRI log file holds one record a line: ``<RFC 3339 nano time> <stdout|stderr>
<F|P> <content>``; ``P`` (partial) records are the pieces of a line longer than
the runtime's buffer, ``F`` ends a line. :func:`stream` turns a file back into
the container's output with the options of ``pods/log`` (upstream's
``PodLogOptions``): ``tail`` lines, ``since`` (a time), ``timestamps``,
``limit_bytes`` and ``follow``. Following keeps reading as the file grows, goes
on in the new file when the kubelet rotated the old one away, waits for a file
that does not exist yet, and stops at the end once the container is no longer
running.

:class:`Rotator` is upstream's containerLogMaxSize/containerLogMaxFiles: a
running container's file over ``max_size`` is renamed to
``<file>.<UTC time>`` and the runtime is told to reopen its log; only the
newest ``max_files - 1`` rotated files are kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import logging
import os
import time
from collections.abc import Awaitable, Callable

from kubeling.kubelet.runtime import protocol as cri

log = logging.getLogger("kubeling.kubelet.logs")

FOLLOW_POLL = 0.2
MAX_SIZE = 10 << 20
MAX_FILES = 5
ROTATE_PERIOD = 10.0


@dataclasses.dataclass
class Options:
    follow: bool = False
    tail: int | None = None          # None: all lines
    since_ns: int | None = None      # only lines at or after this time
    timestamps: bool = False
    limit_bytes: int | None = None


@dataclasses.dataclass
class Line:
    time_ns: int
    timestamp: bytes   # as written in the file
    stream: bytes
    content: bytes     # with the trailing newline of a full line


def parse_time(text: str) -> int:
    """Nanoseconds since the epoch of an RFC 3339 time with up to nine fraction digits."""
    text = text.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    frac_ns = 0
    if "." in text:
        head, _, rest = text.partition(".")
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        frac_ns = int((digits + "000000000")[:9])
        text = head + rest
    dt = datetime.datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.UTC)
    return int(dt.timestamp()) * 1_000_000_000 + frac_ns


class Parser:
    """Feeds bytes of a CRI log file, yields whole lines (partials joined)."""

    def __init__(self) -> None:
        self._buf = b""
        self._partial: dict[bytes, list[bytes]] = {}

    def feed(self, data: bytes) -> list[Line]:
        self._buf += data
        out: list[Line] = []
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                return out
            record, self._buf = self._buf[:nl], self._buf[nl + 1:]
            line = self._record(record)
            if line is not None:
                out.append(line)

    def _record(self, record: bytes) -> Line | None:
        parts = record.split(b" ", 3)
        if len(parts) < 3:
            return None
        ts, stream, tag = parts[0], parts[1], parts[2]
        content = parts[3] if len(parts) > 3 else b""
        if tag == b"P":
            self._partial.setdefault(stream, []).append(content)
            return None
        pieces = self._partial.pop(stream, [])
        try:
            t = parse_time(ts.decode())
        except ValueError:
            return None
        return Line(t, ts, stream, b"".join(pieces) + content + b"\n")


class _Writer:
    """Applies ``timestamps`` and ``limit_bytes`` to what goes out."""

    def __init__(self, opts: Options, write: Callable[[bytes], Awaitable[None]],
                 per_line: Callable[[Line], Awaitable[None]] | None) -> None:
        self.opts = opts
        self.write = write
        self.per_line = per_line
        self.left = opts.limit_bytes

    async def lines(self, lines: list[Line]) -> bool:
        """False once the byte limit is reached."""
        if self.per_line is not None:
            for ln in lines:
                await self.per_line(ln)
            return True
        chunk = b"".join((ln.timestamp + b" " + ln.content) if self.opts.timestamps else ln.content
                         for ln in lines if self.opts.since_ns is None or ln.time_ns >= self.opts.since_ns)
        if not chunk:
            return self.left is None or self.left > 0
        if self.left is not None:
            chunk = chunk[:self.left]
            self.left -= len(chunk)
        await self.write(chunk)
        return self.left is None or self.left > 0


def _same_file(fd: int, path: str) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


async def stream(path: str, opts: Options, write: Callable[[bytes], Awaitable[None]], *,
                 running: Callable[[], Awaitable[bool]],
                 per_line: Callable[[Line], Awaitable[None]] | None = None) -> None:
    """Send the log at ``path`` through ``write`` as ``opts`` ask (see the module docstring);
    with ``per_line``, each line goes there instead, with its stream (attach needs it)."""
    out = _Writer(opts, write, per_line)
    parser = Parser()
    fd = -1
    try:
        while fd < 0:
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                if not opts.follow or not await running():
                    return
                await asyncio.sleep(FOLLOW_POLL)
        data = await asyncio.to_thread(_read_all, fd)
        lines = parser.feed(data)
        if opts.tail is not None:
            lines = lines[-opts.tail:] if opts.tail > 0 else []
        if not await out.lines(lines) or not opts.follow:
            return
        while True:
            data = os.read(fd, 1 << 20)
            if data:
                if not await out.lines(parser.feed(data)):
                    return
                continue
            if not _same_file(fd, path) and os.path.exists(path):
                # Rotated: what is left of the old file was read above; go on in the new one.
                os.close(fd)
                fd = os.open(path, os.O_RDONLY)
                continue
            if not await running():
                # One last read: the runtime may have written its last lines just before exiting.
                data = os.read(fd, 1 << 20)
                if data:
                    continue
                return
            await asyncio.sleep(FOLLOW_POLL)
    finally:
        if fd >= 0:
            os.close(fd)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


class Rotator:
    """Rotates the log files of running containers by size (see the module docstring)."""

    def __init__(self, runtime: cri.RuntimeService, *, max_size: int = MAX_SIZE, max_files: int = MAX_FILES,
                 period: float = ROTATE_PERIOD) -> None:
        self.runtime = runtime
        self.max_size = max_size
        self.max_files = max(max_files, 2)
        self.period = period

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            try:
                await self.rotate_all()
            except cri.RuntimeError_ as exc:
                log.warning("log rotation failed: %s", exc)

    async def rotate_all(self) -> None:
        for c in await self.runtime.list_containers(cri.ContainerFilter(state=cri.ContainerState.RUNNING)):
            if not c.log_path:
                continue
            try:
                size = os.stat(c.log_path).st_size
            except FileNotFoundError:
                continue
            if size > self.max_size:
                await self.rotate(c.id, c.log_path)

    async def rotate(self, container_id: str, path: str) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        rotated = f"{path}.{stamp}"
        n = 0
        while os.path.exists(rotated):
            n += 1
            rotated = f"{path}.{stamp}.{n}"
        os.rename(path, rotated)
        try:
            await self.runtime.reopen_container_log(container_id)
        except cri.RuntimeError_:
            # The container stopped meanwhile: put its file back where `kubectl logs` looks for it.
            with contextlib.suppress(OSError):
                if not os.path.exists(path):
                    os.rename(rotated, path)
            raise
        self._prune(path)

    def _prune(self, path: str) -> None:
        d, base = os.path.split(path)
        old = sorted((f for f in os.listdir(d) if f.startswith(base + ".")),
                     key=lambda f: os.stat(os.path.join(d, f)).st_mtime)
        for f in old[:max(0, len(old) - (self.max_files - 1))]:
            with contextlib.suppress(OSError):
                os.remove(os.path.join(d, f))
