"""CRI log reading for `kubectl logs` and size-based rotation (kubeling.kubelet.logs)."""

from __future__ import annotations

import asyncio
import os
import pathlib

import pytest

from kubeling.kubelet import logs
from kubeling.kubelet.runtime import protocol as cri

T1 = "2026-01-02T03:04:05.000000001Z"
T2 = "2026-01-02T03:04:06.5Z"
T3 = "2026-01-02T03:04:07Z"


def _file(tmp: pathlib.Path) -> pathlib.Path:
    path = tmp / "0.log"
    path.write_text(
        f"{T1} stdout F first\n"
        f"{T2} stderr P par\n"
        f"{T2} stdout F second\n"
        f"{T2} stderr F tial\n"
        f"{T3} stdout F \n"
        f"{T3} stdout F last\n")
    return path


async def _read(path: pathlib.Path, **kw: object) -> bytes:
    out = bytearray()

    async def write(chunk: bytes) -> None:
        out.extend(chunk)

    async def running() -> bool:
        return False

    await logs.stream(str(path), logs.Options(**kw), write, running=running)  # type: ignore[arg-type]
    return bytes(out)


def test_parse_time_keeps_nanoseconds() -> None:
    assert logs.parse_time(T1) == 1767323045_000000001
    assert logs.parse_time(T2) == 1767323046_500000000
    assert logs.parse_time("2026-01-02T04:04:07+01:00") == logs.parse_time(T3)


async def test_options(tmp_path: pathlib.Path) -> None:
    path = _file(tmp_path)
    assert await _read(path) == b"first\nsecond\npartial\n\nlast\n"
    assert await _read(path, tail=2) == b"\nlast\n"
    assert await _read(path, tail=0) == b""
    assert await _read(path, limit_bytes=8) == b"first\nse"
    assert await _read(path, since_ns=logs.parse_time(T2)) == b"second\npartial\n\nlast\n"
    assert await _read(path, timestamps=True, tail=1) == f"{T3} last\n".encode()
    assert await _read(tmp_path / "missing.log") == b""


async def test_follow_waits_for_the_file_goes_on_after_rotation_and_ends_with_the_container(
        tmp_path: pathlib.Path) -> None:
    path = tmp_path / "0.log"
    alive = True
    got = bytearray()

    async def write(chunk: bytes) -> None:
        got.extend(chunk)

    async def running() -> bool:
        return alive

    task = asyncio.create_task(logs.stream(str(path), logs.Options(follow=True), write, running=running))

    async def until(data: bytes) -> None:
        for _ in range(200):
            if bytes(got) == data:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{bytes(got)!r} is not {data!r}")

    await asyncio.sleep(0.3)
    path.write_text(f"{T1} stdout F one\n")
    await until(b"one\n")
    with path.open("a") as f:
        f.write(f"{T1} stdout F two\n{T1} stdout P thr\n")
    await until(b"one\ntwo\n")
    os.rename(path, str(path) + ".20260102-030405")
    path.write_text(f"{T1} stdout F ee?\n")  # the partial in the old file is a different record
    await until(b"one\ntwo\nthree?\n")
    with path.open("a") as f:
        f.write(f"{T2} stderr F four\n")
    await until(b"one\ntwo\nthree?\nfour\n")
    alive = False
    await asyncio.wait_for(task, 10)


class _Runtime:
    def __init__(self, containers: list[cri.ContainerStatus]) -> None:
        self.containers = containers
        self.reopened: list[str] = []

    async def list_containers(self, flt: cri.ContainerFilter | None = None) -> list[cri.ContainerStatus]:
        return [c for c in self.containers if flt is None or flt.state in (None, c.state)]

    async def reopen_container_log(self, container_id: str) -> None:
        self.reopened.append(container_id)
        c = next(c for c in self.containers if c.id == container_id)
        pathlib.Path(c.log_path).touch()  # what the shim does on SIGHUP


async def test_rotation_by_size_keeps_max_files(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "c" / "0.log"
    path.parent.mkdir()
    status = cri.ContainerStatus(id="c1", sandbox_id="s", metadata=cri.ContainerMetadata(name="c"),
                                 state=cri.ContainerState.RUNNING, created_at=1, log_path=str(path))
    rt = _Runtime([status])
    rotator = logs.Rotator(rt, max_size=100, max_files=3)  # type: ignore[arg-type]
    path.write_bytes(b"x" * 50)
    await rotator.rotate_all()
    assert rt.reopened == [] and os.listdir(path.parent) == ["0.log"]
    for n in range(4):
        path.write_bytes(bytes([65 + n]) * 150)
        os.utime(path, (1000 + n, 1000 + n))
        await rotator.rotate_all()
        await asyncio.sleep(0.01)
    assert rt.reopened == ["c1"] * 4
    names = sorted(os.listdir(path.parent))
    assert "0.log" in names and len(names) == 3  # the live file and max_files - 1 rotated ones
    kept = sorted((path.parent / n).read_bytes()[:1] for n in names if n != "0.log")
    assert kept == [b"C", b"D"]  # the newest rotated files
    assert path.stat().st_size == 0


@pytest.mark.parametrize("tail", [1, 3])
async def test_tail_counts_lines_not_records(tmp_path: pathlib.Path, tail: int) -> None:
    path = tmp_path / "0.log"
    path.write_text(f"{T1} stdout P a\n{T1} stdout P b\n{T1} stdout F c\n" * 3)
    assert await _read(path, tail=tail) == b"abc\n" * tail
