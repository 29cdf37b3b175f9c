"""The image store, layer unpacking, root filesystems and archive import."""

from __future__ import annotations

import argparse
import io
import os
import pathlib
import stat
import tarfile

import pytest

from kubeling.cli import image as image_cmd
from kubeling.kubelet import mount
from kubeling.kubelet.images import importer, layers, reference, rootfs
from kubeling.kubelet.images import store as storelib
from tests.kubelet import testimage


@pytest.mark.parametrize("given,want", [
    ("busybox", "docker.io/library/busybox:latest"),
    ("busybox:test", "docker.io/library/busybox:test"),
    ("library/busybox", "docker.io/library/busybox:latest"),
    ("user/app:1.0", "docker.io/user/app:1.0"),
    ("index.docker.io/user/app", "docker.io/user/app:latest"),
    ("registry:5000/x", "registry:5000/x:latest"),
    ("localhost/x:y", "localhost/x:y"),
    ("quay.io/a/b/c:v1", "quay.io/a/b/c:v1"),
    ("busybox@sha256:" + "a" * 64, "docker.io/library/busybox@sha256:" + "a" * 64),
    ("busybox:1@sha256:" + "a" * 64, "docker.io/library/busybox:1@sha256:" + "a" * 64),
])
def test_reference_normalisation(given: str, want: str) -> None:
    assert reference.normalize(given) == want


@pytest.mark.parametrize("bad", ["", "Busybox", "busybox:", "a@sha256:xyz", "a/../b", "busybox:te st"])
def test_invalid_references(bad: str) -> None:
    with pytest.raises(reference.InvalidReference):
        reference.parse(bad)


def test_import_oci_layout(tmp_path: pathlib.Path, busybox_archive: pathlib.Path) -> None:
    store = storelib.Store(tmp_path)
    [img] = importer.import_archive(store, str(busybox_archive))
    assert img.references == ["docker.io/library/busybox:test"]
    assert img.config["config"]["Cmd"] == ["sh"]
    assert store.resolve("busybox:test").id == img.id
    assert store.resolve(img.id).manifest_digest == img.manifest_digest
    assert store.resolve(img.id[7:19]).id == img.id
    assert store.resolve(f"busybox@{img.manifest_digest}").id == img.id
    assert img.repo_digests() == [f"docker.io/library/busybox@{img.manifest_digest}"]
    for blob in (img.manifest_digest, img.config_digest, *(x.digest for x in img.layers)):
        assert store.has_blob(blob)
    with pytest.raises(storelib.NotFound):
        store.resolve("busybox:latest")
    # Importing again changes nothing.
    [again] = importer.import_archive(store, str(busybox_archive))
    assert again.id == img.id and len(store.list()) == 1


def test_import_oci_ref_name_annotation(tmp_path: pathlib.Path) -> None:
    layer = testimage.layer_tar([("a", b"x")])
    archive = tmp_path / "a.tar"
    testimage.oci_layout(archive, [layer], names=["registry:5000/team/app:v2"],
                         annotation="org.opencontainers.image.ref.name")
    store = storelib.Store(tmp_path / "data")
    [img] = importer.import_archive(store, str(archive))
    assert img.references == ["registry:5000/team/app:v2"]
    # A bare tag as ref.name names no repository: the image is kept by digest only.
    testimage.oci_layout(archive, [testimage.layer_tar([("b", b"y")])], names=["latest"],
                         annotation="org.opencontainers.image.ref.name")
    [anon] = importer.import_archive(store, str(archive))
    assert anon.references == []
    assert {i.id for i in store.list()} == {img.id, anon.id}


@pytest.mark.parametrize("legacy", [True, False])
def test_import_docker_save(tmp_path: pathlib.Path, legacy: bool) -> None:
    archive = tmp_path / "save.tar"
    image_id = testimage.docker_save(archive, [testimage.layer_tar([("hello.txt", b"hi\n")])],
                                     repo_tags=["busybox:test", "myreg.local:5000/x/y:1"], legacy=legacy)
    store = storelib.Store(tmp_path / "data")
    [img] = importer.import_archive(store, str(archive))
    assert img.id == image_id
    assert img.references == ["docker.io/library/busybox:test", "myreg.local:5000/x/y:1"]


def test_import_rejects_corrupt_blob(tmp_path: pathlib.Path) -> None:
    archive = tmp_path / "a.tar"
    testimage.oci_layout(archive, [testimage.layer_tar([("a", b"x")])], names=["x:1"])
    # Rewrite the archive with one layer blob's content changed.
    bad = tmp_path / "bad.tar"
    with tarfile.open(archive) as src, tarfile.open(bad, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()  # type: ignore[union-attr]
            if m.name.startswith("blobs/") and data[:1] != b"{":
                data = testimage.layer_tar([("a", b"tampered")])
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data))
    store = storelib.Store(tmp_path / "data")
    with pytest.raises(storelib.DigestMismatch):
        importer.import_archive(store, str(bad))
    assert store.list() == []
    assert not any(store.tmp.iterdir())


def test_import_rejects_other_files(tmp_path: pathlib.Path) -> None:
    (tmp_path / "x.txt").write_text("nope")
    with pytest.raises(importer.ArchiveError):
        importer.import_archive(storelib.Store(tmp_path), str(tmp_path / "x.txt"))


def _unpack(entries: list, tmp_path: pathlib.Path, *, overlay: bool = False, gz: bool = False) -> pathlib.Path:
    target = tmp_path / "out"
    target.mkdir()
    layers.unpack(io.BytesIO(testimage.layer_tar(entries, gzipped=gz)), str(target), overlay_whiteouts=overlay)
    return target


@pytest.mark.parametrize("gz", [False, True])
def test_unpack_files_links_modes(tmp_path: pathlib.Path, gz: bool) -> None:
    out = _unpack([
        ("d", {"type": "dir", "mode": 0o750}),
        ("d/f", {"type": "file", "data": b"data", "mode": 0o4755}),
        ("d/hl", {"type": "hardlink", "target": "d/f"}),
        ("/abs/file", b"abs"),
        ("d/sl", {"type": "symlink", "target": "/etc/passwd"}),
        ("dev/null", {"type": "chr", "major": 1, "minor": 3}),
    ], tmp_path, gz=gz)
    assert (out / "d/f").read_bytes() == b"data"
    assert os.stat(out / "d/hl").st_ino == os.stat(out / "d/f").st_ino
    assert stat.S_IMODE(os.stat(out / "d").st_mode) in (0o750, 0o750 | 0o700)
    assert (out / "abs/file").read_bytes() == b"abs"
    assert os.readlink(out / "d/sl") == "/etc/passwd"
    if os.geteuid() == 0:
        assert stat.S_IMODE(os.stat(out / "d/f").st_mode) == 0o4755
        assert stat.S_ISCHR(os.lstat(out / "dev/null").st_mode)
    else:
        assert not (out / "dev/null").exists()


@pytest.mark.parametrize("entries", [
    [("../escape", b"x")],
    [("a/../../escape", b"x")],
    [("link", {"type": "symlink", "target": "/tmp"}), ("link/escape", b"x")],
    [("hl", {"type": "hardlink", "target": "../../etc/passwd"})],
])
def test_unpack_refuses_escapes(tmp_path: pathlib.Path, entries: list) -> None:
    with pytest.raises(layers.LayerError):
        _unpack(entries, tmp_path)
    assert not (tmp_path / "escape").exists()
    assert not pathlib.Path("/tmp/escape").exists()


def _layered_image(tmp_path: pathlib.Path) -> tuple[storelib.Store, storelib.Image]:
    base = testimage.layer_tar([
        ("etc", {"type": "dir"}), ("etc/keep", b"keep"), ("etc/gone", b"gone"),
        ("opaque", {"type": "dir"}), ("opaque/old", b"old"), ("data", {"type": "dir"}), ("data/x", b"1"),
    ])
    top = testimage.layer_tar([
        ("etc/.wh.gone", b""), ("opaque", {"type": "dir"}), ("opaque/.wh..wh..opq", b""),
        ("opaque/new", b"new"), ("data/x", b"2"),
    ], gzipped=True)
    archive = tmp_path / "layered.tar"
    testimage.oci_layout(archive, [base, top], names=["layered:1"])
    store = storelib.Store(tmp_path / "data")
    [img] = importer.import_archive(store, str(archive))
    return store, img


def _check_merged(root: pathlib.Path) -> None:
    assert (root / "etc/keep").read_bytes() == b"keep"
    assert not (root / "etc/gone").exists()
    assert sorted(os.listdir(root / "opaque")) == ["new"]
    assert (root / "data/x").read_bytes() == b"2"
    assert not any(n.startswith(".wh.") for _, ds, fs in os.walk(root) for n in ds + fs)


def test_rootfs_copy_fallback_honours_whiteouts(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, img = _layered_image(tmp_path)
    monkeypatch.setitem(rootfs._overlay_ok, str(store.tmp), False)
    root = rootfs.prepare(store, img, tmp_path / "c1")
    _check_merged(root)
    assert not mount.is_mountpoint(str(root))
    rootfs.release(tmp_path / "c1")
    assert not (tmp_path / "c1").exists()


@pytest.mark.root
def test_rootfs_overlay_shares_layers(tmp_path: pathlib.Path) -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("needs root")
        pytest.skip("needs root")
    store, img = _layered_image(tmp_path)
    assert rootfs.overlay_supported(store.tmp)
    r1 = rootfs.prepare(store, img, tmp_path / "c1")
    r2 = rootfs.prepare(store, img, tmp_path / "c2")
    try:
        assert mount.is_mountpoint(str(r1)) and mount.is_mountpoint(str(r2))
        _check_merged(r1)
        (r1 / "etc/keep").write_bytes(b"changed")  # copy-up: the shared layer stays as it was
        assert (r2 / "etc/keep").read_bytes() == b"keep"
        assert len(list(store.layers_dir.iterdir())) == 2
        # An image whose layers are mounted keeps them when removed; the blobs go.
        store.remove("layered:1")
        assert len(list(store.layers_dir.iterdir())) == 2
        assert not any(store.blobs.iterdir())
    finally:
        rootfs.release(tmp_path / "c1")
        rootfs.release(tmp_path / "c2")
    assert not mount.is_mountpoint(str(r1)) and not (tmp_path / "c2").exists()


def test_remove_and_collect(tmp_path: pathlib.Path, busybox_archive: pathlib.Path) -> None:
    store = storelib.Store(tmp_path)
    [img] = importer.import_archive(store, str(busybox_archive))
    store.tag("busybox:other", img.manifest_digest)
    store.unpacked_layers(img, overlay_whiteouts=os.geteuid() == 0)
    assert store.remove("busybox:test") == ["docker.io/library/busybox:test"]
    assert store.resolve("busybox:other").id == img.id  # still named: blobs kept
    assert store.has_blob(img.layers[0].digest)
    assert store.remove(img.id) == ["docker.io/library/busybox:other"]
    assert store.list() == []
    assert not any(store.blobs.iterdir()) and not any(store.layers_dir.iterdir())
    with pytest.raises(storelib.NotFound):
        store.remove("busybox:test")


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    image_cmd.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["image", *argv])
    return int(args.func(args))


def test_cli_import_ls_rm(tmp_path: pathlib.Path, busybox_archive: pathlib.Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    d = str(tmp_path / "data")
    assert _cli("import", "--data-dir", d, str(busybox_archive)) == 0
    assert "imported docker.io/library/busybox:test" in capsys.readouterr().out
    assert _cli("ls", "--data-dir", d) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["REFERENCE", "DIGEST", "IMAGE", "ID", "SIZE"]
    assert out[1].startswith("docker.io/library/busybox:test ")
    assert _cli("rm", "--data-dir", d, "busybox:test") == 0
    assert _cli("rm", "--data-dir", d, "busybox:test") == 1
    assert "not found" in capsys.readouterr().err
    assert _cli("import", "--data-dir", d, str(tmp_path / "missing.tar")) == 1
