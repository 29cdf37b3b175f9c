"""Image garbage collection: thresholds, least-recently-used order, images in
use and young images kept; once on a real (tmpfs) filesystem as root."""

from __future__ import annotations

import os
import pathlib
import subprocess
from collections.abc import Iterator

import pytest

from kubeling.kubelet.images import gc, importer
from kubeling.kubelet.images import store as storelib
from tests.kubelet import testimage

LAYER = 256 << 10


def _add_image(store: storelib.Store, tmp: pathlib.Path, name: str) -> storelib.Image:
    archive = tmp / f"{name}.tar"
    # Random content: incompressible, so each image costs its size on disk.
    testimage.oci_layout(archive, [testimage.layer_tar([(name, os.urandom(LAYER))])],
                         names=[f"example.com/gc/{name}:1"])
    (img,) = importer.import_archive(store, str(archive))
    archive.unlink()
    return img


def _blob_bytes(store: storelib.Store) -> int:
    return sum(p.stat().st_size for p in store.blobs.iterdir())


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def four(tmp_path: pathlib.Path) -> tuple[storelib.Store, dict[str, storelib.Image]]:
    store = storelib.Store(tmp_path / "data")
    return store, {n: _add_image(store, tmp_path, n) for n in ("a", "b", "c", "d")}


def _usage_over(store: storelib.Store, *, capacity: int, other: int = 0) -> gc.Usage:
    # A disk holding ``other`` bytes besides the store's blobs: usage moves exactly as images go.
    return gc.Usage(capacity=capacity, available=capacity - other - _blob_bytes(store))


async def test_removes_least_recently_used_until_below_low(
        four: tuple[storelib.Store, dict[str, storelib.Image]]) -> None:
    store, imgs = four
    per_image = imgs["a"].size
    # Other files fill 55% of the disk, each image 10%: 95% now, and reaching 80% takes removing two.
    capacity, other = 10 * per_image, int(5.5 * per_image)
    clock = Clock()
    in_use: set[str] = set()
    collector = gc.ImageGC(store, lambda: in_use, min_age=60, clock=clock,
                           usage=lambda: _usage_over(store, capacity=capacity, other=other))
    await collector.observe()                     # all first seen at t=1000
    for name in ("c", "a", "b"):                  # then used in this order; d never
        clock.now += 10
        in_use.clear()
        in_use.add(imgs[name].id)
        await collector.observe()
    clock.now += 100
    in_use.clear()
    in_use.add(imgs["b"].manifest_digest)  # still in use (by manifest digest, as a runtime may name it)
    result = await collector.collect()
    assert result.before.percent >= 85
    assert result.removed == [imgs["d"].id, imgs["c"].id]
    assert result.after.percent <= 80 and result.reached
    assert sorted(i.id for i in store.list()) == sorted([imgs["a"].id, imgs["b"].id])
    # Below the high threshold nothing happens.
    assert (await collector.collect()).removed == []


async def test_keeps_images_in_use_and_young_images(tmp_path: pathlib.Path,
                                                    four: tuple[storelib.Store, dict[str, storelib.Image]]) -> None:
    store, imgs = four
    # Other files fill 60% of the disk, each image 10%: even three images left are too many.
    capacity, other = 10 * imgs["a"].size, 6 * imgs["a"].size
    clock = Clock()

    async def in_use() -> list[str]:  # async callables are fine too
        return [imgs["a"].id, "example.com/gc/b:1"]

    collector = gc.ImageGC(store, in_use, min_age=60, clock=clock,
                           usage=lambda: _usage_over(store, capacity=capacity, other=other))
    await collector.observe()
    clock.now += 61
    young = _add_image(store, tmp_path, "young")
    result = await collector.collect()
    # c and d were old enough and unused; "young" was first seen just now.
    assert sorted(result.removed) == sorted([imgs["c"].id, imgs["d"].id])
    assert not result.reached
    assert sorted(i.id for i in store.list()) == sorted([imgs["a"].id, imgs["b"].id, young.id])


def test_thresholds_are_checked(tmp_path: pathlib.Path) -> None:
    store = storelib.Store(tmp_path)
    with pytest.raises(ValueError, match="thresholds"):
        gc.ImageGC(store, list, high=70, low=80)


@pytest.fixture
def tmpfs(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("needs root (mounts a tmpfs)")
        pytest.skip("needs root (mounts a tmpfs)")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "kubeling-imagegc-test", str(mnt)], check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


async def test_real_filesystem(tmp_path: pathlib.Path, tmpfs: pathlib.Path) -> None:
    store = storelib.Store(tmpfs)
    images = []
    while gc.disk_usage(tmpfs).percent < 86:
        images.append(_add_image(store, tmp_path, f"i{len(images)}"))
    keep = images[0]
    collector = gc.ImageGC(store, lambda: [keep.id], min_age=0)
    result = await collector.collect()
    assert result.before.percent >= 85
    assert result.removed and keep.id not in result.removed
    assert gc.disk_usage(tmpfs).percent <= 80
    assert keep.id in {i.id for i in store.list()}
    assert len(store.list()) == len(images) - len(result.removed)
