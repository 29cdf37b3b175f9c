"""The distribution client against a real registry on loopback (Debian's
docker-registry): manifests of every kind, platform choice in lists, digest
references, verification, streaming, Basic and Bearer auth, and the CLI."""

from __future__ import annotations

import argparse
import os
import pathlib
import tracemalloc
from collections.abc import Iterator

import aiohttp
import pytest

from kubeling.cli import image as image_cmd
from kubeling.kubelet.images import reference, registry
from kubeling.kubelet.images import store as storelib
from tests.kubelet import registryhelper as rh
from tests.kubelet import testimage

ARCH = registry.platform_arch()
OTHER_ARCH = "arm64" if ARCH != "arm64" else "amd64"


@pytest.fixture(scope="module")
def busybox_layer() -> bytes:
    if not testimage.BUSYBOX.exists():
        if os.environ.get("CI"):
            pytest.fail("needs /bin/busybox (busybox-static)")
        pytest.skip("needs /bin/busybox (busybox-static)")
    return testimage.busybox_layer(gzipped=True)


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory, busybox_layer: bytes) -> Iterator[rh.Registry]:
    rh.require_registry()
    r = rh.Registry(tmp_path_factory.mktemp("registry"))
    try:
        r.push("test/busybox", "1.0", rh.image([busybox_layer], cmd=["sh"]))
        r.push("test/busybox", "docker", rh.image([busybox_layer], cmd=["docker"], docker=True))
        other = rh.image([testimage.layer_tar([("other", b"not this one\n")], gzipped=True)],
                         cmd=["other"], arch=OTHER_ARCH)
        mine = rh.image([busybox_layer], cmd=["mine"], arch=ARCH)
        # The other platform first, so taking the first entry would be wrong.
        r.push_index("test/multi", "list", [(other, OTHER_ARCH), (mine, ARCH)], docker=True)
        r.push_index("test/multi", "index", [(other, OTHER_ARCH), (mine, ARCH)])
        r.push_index("test/multi", "foreign", [(other, OTHER_ARCH)])
        yield r
    finally:
        r.stop()


async def _pull(store: storelib.Store, ref: str, **kw: object) -> storelib.Image:
    async with aiohttp.ClientSession() as session:
        return await registry.Client(session, **kw).pull(store, ref)  # type: ignore[arg-type]


async def test_pull_oci_manifest_with_gzip_layer(tmp_path: pathlib.Path, reg: rh.Registry,
                                                 busybox_layer: bytes) -> None:
    store = storelib.Store(tmp_path)
    ref = f"{reg.host}/test/busybox:1.0"
    img = await _pull(store, ref)
    assert img.references == [ref]
    assert img.config["config"]["Cmd"] == ["sh"]
    assert [x.digest for x in img.layers] == [rh.digest(busybox_layer)]
    assert img.layers[0].media_type == rh.OCI_LAYER_GZIP
    assert store.resolve(ref).manifest_digest == img.manifest_digest
    assert img.repo_digests() == [f"{reg.host}/test/busybox@{img.manifest_digest}"]
    layer_dir = store.unpack_layer(img.layers[0], overlay_whiteouts=False)
    assert (layer_dir / "bin" / "busybox").read_bytes() == testimage.BUSYBOX.read_bytes()
    assert list(store.tmp.iterdir()) == []


async def test_pull_docker_schema2(tmp_path: pathlib.Path, reg: rh.Registry) -> None:
    store = storelib.Store(tmp_path)
    img = await _pull(store, f"{reg.host}/test/busybox:docker")
    assert img.config["config"]["Cmd"] == ["docker"]
    assert img.layers[0].media_type == rh.DOCKER_LAYER_GZIP
    assert store.read_json(img.manifest_digest)["mediaType"] == rh.DOCKER_MANIFEST


@pytest.mark.parametrize("tag", ["list", "index"])
async def test_manifest_list_picks_this_platform(tmp_path: pathlib.Path, reg: rh.Registry, tag: str) -> None:
    store = storelib.Store(tmp_path)
    ref = f"{reg.host}/test/multi:{tag}"
    img = await _pull(store, ref)
    assert img.config["architecture"] == ARCH
    assert img.config["config"]["Cmd"] == ["mine"]
    assert store.resolve(ref).id == img.id
    # Nothing of the other platform was fetched.
    assert len(list(store.blobs.iterdir())) == 3  # manifest, config, layer


async def test_manifest_list_without_this_platform(tmp_path: pathlib.Path, reg: rh.Registry) -> None:
    store = storelib.Store(tmp_path)
    with pytest.raises(registry.Unsupported, match=f"no match for platform linux/{ARCH}.*linux/{OTHER_ARCH}"):
        await _pull(store, f"{reg.host}/test/multi:foreign")
    assert store.list() == []


async def test_digest_references(tmp_path: pathlib.Path, reg: rh.Registry) -> None:
    store = storelib.Store(tmp_path)
    by_tag = await _pull(storelib.Store(tmp_path / "other"), f"{reg.host}/test/busybox:1.0")
    ref = f"{reg.host}/test/busybox@{by_tag.manifest_digest}"
    img = await _pull(store, ref)
    assert img.manifest_digest == by_tag.manifest_digest
    assert store.resolve(ref).id == by_tag.id
    # A digest naming a manifest list resolves to this platform's manifest.
    list_digest = rh.digest(reg._req("GET", "/v2/test/multi/manifests/list",
                                     headers={"Accept": rh.DOCKER_LIST}).read())
    img2 = await _pull(store, f"{reg.host}/test/multi@{list_digest}")
    assert img2.config["config"]["Cmd"] == ["mine"]
    assert store.resolve(f"{reg.host}/test/multi@{list_digest}").id == img2.id


async def test_missing_tag_and_repository_carry_the_registrys_message(tmp_path: pathlib.Path,
                                                                       reg: rh.Registry) -> None:
    store = storelib.Store(tmp_path)
    with pytest.raises(registry.NotFound, match="manifest unknown") as info:
        await _pull(store, f"{reg.host}/test/busybox:nope")
    assert info.value.status == 404 and "MANIFEST_UNKNOWN" in info.value.codes
    assert f'"{reg.host}/test/busybox:nope"' in str(info.value)
    with pytest.raises(registry.NotFound) as info:
        await _pull(store, f"{reg.host}/no/such-repo:1")
    assert "unknown" in str(info.value) and info.value.codes
    missing = "sha256:" + "0" * 64
    with pytest.raises(registry.NotFound, match="manifest unknown"):
        await _pull(store, f"{reg.host}/test/busybox@{missing}")
    assert store.list() == []


async def test_unreachable_registry(tmp_path: pathlib.Path) -> None:
    with pytest.raises(registry.RegistryError, match=r"failed to pull .* from http://127\.0\.0\.1:"):
        await _pull(storelib.Store(tmp_path), f"127.0.0.1:{rh.free_port()}/x/y:1")


async def test_corrupt_blob_is_refused(tmp_path: pathlib.Path, reg: rh.Registry) -> None:
    layer = testimage.layer_tar([("hello", b"hello world\n" * 100)], gzipped=True)
    built = rh.image([layer], cmd=["x"])
    reg.push("test/corrupt", "1", built)
    data = reg.blob_file(rh.digest(layer))
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))  # the registry serves what is on its disk
    store = storelib.Store(tmp_path)
    with pytest.raises(storelib.DigestMismatch):
        await _pull(store, f"{reg.host}/test/corrupt:1")
    assert not store.has_blob(rh.digest(layer))
    assert list(store.tmp.iterdir()) == []
    assert store.list() == []


async def test_big_layer_is_streamed(tmp_path: pathlib.Path, reg: rh.Registry) -> None:
    size = 24 << 20
    layer = testimage.layer_tar([("big", os.urandom(size))])
    reg.push("test/big", "1", rh.image([layer], cmd=["x"]))
    del layer
    store = storelib.Store(tmp_path)
    tracemalloc.start()
    try:
        img = await _pull(store, f"{reg.host}/test/big:1")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert store.blob_path(img.layers[0].digest).stat().st_size > size
    assert peak < size // 3, f"the pull held {peak} bytes at once"


async def test_basic_auth(tmp_path: pathlib.Path, busybox_layer: bytes) -> None:
    rh.require_registry()
    reg = rh.htpasswd_registry(tmp_path / "reg")
    try:
        reg.push("private/busybox", "1", rh.image([busybox_layer], cmd=["sh"]))
        ref = f"{reg.host}/private/busybox:1"
        store = storelib.Store(tmp_path / "data")
        with pytest.raises(registry.Unauthorized, match="unauthorized: authentication required"):
            await _pull(store, ref)
        with pytest.raises(registry.Unauthorized):
            await _pull(store, ref, credential=registry.Credential(rh.USER, "wrong"))
        img = await _pull(store, ref, credential=registry.Credential(rh.USER, rh.PASSWORD))
        assert store.resolve(ref).id == img.id
    finally:
        reg.stop()


async def test_bearer_token_auth(tmp_path: pathlib.Path, busybox_layer: bytes) -> None:
    rh.require_registry()
    reg, tokens = rh.token_registry(tmp_path / "reg")
    try:
        reg.push("private/busybox", "1", rh.image([busybox_layer], cmd=["sh"]))
        ref = f"{reg.host}/private/busybox:1"
        store = storelib.Store(tmp_path / "data")
        with pytest.raises(registry.Unauthorized, match="unauthorized"):
            await _pull(store, ref)
        with pytest.raises(registry.Unauthorized, match="incorrect username or password"):
            await _pull(store, ref, credential=registry.Credential(rh.USER, "wrong"))
        tokens.requests.clear()
        img = await _pull(store, ref, credential=registry.Credential(rh.USER, rh.PASSWORD))
        assert store.resolve(ref).id == img.id
        # One token for the whole pull (manifest and blobs), asked for as the spec says.
        assert len(tokens.requests) == 1
        assert tokens.requests[0]["user"] == rh.USER
        assert tokens.requests[0]["query"]["scope"] == ["repository:private/busybox:pull"]
        assert tokens.requests[0]["query"]["service"] == [rh.TokenServer.SERVICE]
    finally:
        reg.stop()
        tokens.stop()


def test_endpoints() -> None:
    assert registry.endpoint(reference.parse("busybox").domain) == "https://registry-1.docker.io"
    assert str(reference.parse("busybox")) == "docker.io/library/busybox:latest"
    assert registry.endpoint("localhost:5000") == "http://localhost:5000"
    assert registry.endpoint("127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert registry.endpoint("[::1]:5000") == "http://[::1]:5000"
    assert registry.endpoint("registry.example:5000") == "https://registry.example:5000"
    assert registry.endpoint("registry.example:5000", insecure_registries=["registry.example:5000"]) == \
        "http://registry.example:5000"
    assert registry.endpoint("registry.example", insecure_registries=["registry.example"]) == \
        "http://registry.example"
    assert registry.endpoint("registry.example:5000", insecure_registries=["other:5000"]) == \
        "https://registry.example:5000"


def test_parse_challenges() -> None:
    header = ('Bearer realm="https://auth.example/token",service="registry.example",'
              'scope="repository:a/b:pull,push"')
    got = registry.parse_challenges([header])
    assert got == [("bearer", {"realm": "https://auth.example/token", "service": "registry.example",
                               "scope": "repository:a/b:pull,push"})]
    assert registry.parse_challenges(['Basic realm="x"', "Bearer realm=https://t/token, service=s"]) == [
        ("basic", {"realm": "x"}), ("bearer", {"realm": "https://t/token", "service": "s"})]
    assert registry.parse_challenges(['Basic realm="a \\"quoted\\" realm"']) == [
        ("basic", {"realm": 'a "quoted" realm'})]


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    image_cmd.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["image", *argv])
    return int(args.func(args))


def test_cli_pull(tmp_path: pathlib.Path, reg: rh.Registry, capsys: pytest.CaptureFixture[str]) -> None:
    d = str(tmp_path / "data")
    assert _cli("pull", "--data-dir", d, f"{reg.host}/test/busybox:1.0") == 0
    assert f"pulled {reg.host}/test/busybox:1.0 (sha256:" in capsys.readouterr().out
    assert _cli("ls", "--data-dir", d) == 0
    assert f"{reg.host}/test/busybox:1.0" in capsys.readouterr().out
    assert _cli("pull", "--data-dir", d, f"{reg.host}/test/busybox:nope") == 1
    assert "manifest unknown" in capsys.readouterr().err


def test_cli_pull_with_creds(tmp_path: pathlib.Path, busybox_layer: bytes,
                             capsys: pytest.CaptureFixture[str]) -> None:
    rh.require_registry()
    reg = rh.htpasswd_registry(tmp_path / "reg")
    try:
        reg.push("private/busybox", "1", rh.image([busybox_layer], cmd=["sh"]))
        d = str(tmp_path / "data")
        ref = f"{reg.host}/private/busybox:1"
        assert _cli("pull", "--data-dir", d, ref) == 1
        assert "authentication required" in capsys.readouterr().err
        assert _cli("pull", "--data-dir", d, "--creds", f"{rh.USER}:{rh.PASSWORD}", ref) == 0
        assert f"pulled {ref}" in capsys.readouterr().out
    finally:
        reg.stop()
