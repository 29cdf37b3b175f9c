"""imagePullPolicy, imagePullSecrets and shared pulls, against a real registry
on loopback (Debian's docker-registry)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import pathlib
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from kubeling.kubelet.images import importer, puller, registry
from kubeling.kubelet.images import store as storelib
from tests.kubelet import registryhelper as rh
from tests.kubelet import testimage


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
        yield r
    finally:
        r.stop()


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory, busybox_layer: bytes) -> Iterator[rh.Registry]:
    rh.require_registry()
    r = rh.htpasswd_registry(tmp_path_factory.mktemp("private"))
    try:
        r.push("private/busybox", "1", rh.image([busybox_layer], cmd=["private"]))
        yield r
    finally:
        r.stop()


def dockerconfigjson(auths: dict[str, dict[str, str]]) -> dict[str, Any]:
    data = base64.b64encode(json.dumps({"auths": auths}).encode()).decode()
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pull", "namespace": "default"},
            "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": data}}


def dockercfg(entries: dict[str, dict[str, str]]) -> dict[str, Any]:
    data = base64.b64encode(json.dumps(entries).encode()).decode()
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "old", "namespace": "default"},
            "type": "kubernetes.io/dockercfg", "data": {".dockercfg": data}}


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(("image", "want"), [
    ("busybox", "Always"), ("busybox:latest", "Always"), ("registry:5000/app", "Always"),
    ("busybox:1.36", "IfNotPresent"), ("registry:5000/app:v1", "IfNotPresent"),
    ("busybox@sha256:" + "a" * 64, "IfNotPresent"),
])
def test_default_policy(image: str, want: str) -> None:
    assert puller.default_policy(image) == want


async def test_if_not_present_pulls_once_and_unpacks(tmp_path: pathlib.Path, reg: rh.Registry) -> None:
    store = storelib.Store(tmp_path)
    ref = f"{reg.host}/test/busybox:1.0"
    pulls: list[str] = []
    img = await puller.ensure_image(store, ref, policy=puller.IF_NOT_PRESENT, on_pull=lambda: pulls.append(ref))
    assert img.references == [ref] and pulls == [ref]
    # Unpacked during the pull, ready for the first container.
    assert (store.layers_dir / img.layers[0].digest[7:] / "bin" / "busybox").exists()
    # A tag other than latest: IfNotPresent by default, and the stored image serves.
    again = await puller.ensure_image(store, ref, on_pull=lambda: pulls.append(ref))
    assert again.manifest_digest == img.manifest_digest and pulls == [ref]


async def test_present_images_need_no_registry(tmp_path: pathlib.Path) -> None:
    # The image names a registry nobody listens on: only the store can answer.
    ref = f"127.0.0.1:{rh.free_port()}/offline/image:1"
    archive = tmp_path / "img.tar"
    testimage.oci_layout(archive, [testimage.layer_tar([("f", b"x")])], names=[ref])
    store = storelib.Store(tmp_path / "data")
    (imported,) = importer.import_archive(store, str(archive))
    for policy in (puller.IF_NOT_PRESENT, puller.NEVER, None):
        assert (await puller.ensure_image(store, ref, policy=policy)).id == imported.id
    # Always with the registry out of reach: the stored image, and the caller is told why.
    told: list[str] = []
    got = await puller.ensure_image(store, ref, policy=puller.ALWAYS, on_offline=told.append)
    assert got.id == imported.id and told and "failed to pull" in told[0]
    # Without a stored image the pull fails as usual.
    other = f"127.0.0.1:{rh.free_port()}/offline/missing:1"
    with pytest.raises(puller.PullError, match="failed to pull") as info:
        await puller.ensure_image(store, other, policy=puller.ALWAYS)
    assert info.value.reason == "ErrImagePull"


async def test_never_with_a_missing_image(tmp_path: pathlib.Path, reg: rh.Registry) -> None:
    store = storelib.Store(tmp_path)
    ref = f"{reg.host}/test/busybox:1.0"
    with pytest.raises(puller.NeverPullError, match="is not present with pull policy of Never") as info:
        await puller.ensure_image(store, ref, policy=puller.NEVER)
    assert info.value.reason == "ErrImageNeverPull"
    assert store.list() == []


async def test_always_follows_the_tag(tmp_path: pathlib.Path, reg: rh.Registry) -> None:
    store = storelib.Store(tmp_path)
    ref = f"{reg.host}/test/moving:latest"
    one = rh.image([testimage.layer_tar([("v", b"1")], gzipped=True)], cmd=["one"])
    two = rh.image([testimage.layer_tar([("v", b"2")], gzipped=True)], cmd=["two"])
    reg.push("test/moving", "latest", one)
    assert (await puller.ensure_image(store, ref)).manifest_digest == one.digest  # latest: Always
    reg.push("test/moving", "latest", two)
    assert (await puller.ensure_image(store, ref, policy=puller.IF_NOT_PRESENT)).manifest_digest == one.digest
    got = await puller.ensure_image(store, ref)
    assert got.manifest_digest == two.digest and got.config["config"]["Cmd"] == ["two"]
    assert store.resolve(ref).manifest_digest == two.digest


async def test_concurrent_pulls_share_one(tmp_path: pathlib.Path, reg: rh.Registry) -> None:
    store = storelib.Store(tmp_path)
    ref = f"{reg.host}/test/busybox:1.0"
    requests: list[str] = []

    async def on_start(_s: object, _ctx: object, params: aiohttp.TraceRequestStartParams) -> None:
        requests.append(f"{params.method} {params.url.path}")

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as session:
        images = await asyncio.gather(*(puller.ensure_image(store, ref, policy=puller.ALWAYS, session=session)
                                        for _ in range(5)))
    assert {img.manifest_digest for img in images} == {images[0].manifest_digest}
    assert [r for r in requests if "/manifests/" in r] == ["GET /v2/test/busybox/manifests/1.0"]
    assert not puller.pulling(store)


async def test_errors_carry_the_registrys_message(tmp_path: pathlib.Path, reg: rh.Registry) -> None:
    store = storelib.Store(tmp_path)
    with pytest.raises(puller.PullError, match="manifest unknown") as info:
        await puller.ensure_image(store, f"{reg.host}/test/busybox:nope")
    assert info.value.reason == "ErrImagePull"
    assert isinstance(info.value.__cause__, registry.NotFound)
    with pytest.raises(puller.InvalidImageNameError) as bad:
        await puller.ensure_image(store, "UPPER/Case:1")
    assert bad.value.reason == "InvalidImageName"


async def test_image_pull_secrets(tmp_path: pathlib.Path, private: rh.Registry) -> None:
    ref = f"{private.host}/private/busybox:1"
    good = {"username": rh.USER, "password": rh.PASSWORD}
    with pytest.raises(puller.PullError, match="authentication required"):
        await puller.ensure_image(storelib.Store(tmp_path / "a"), ref)
    # A secret for another registry does not apply.
    with pytest.raises(puller.PullError, match="authentication required"):
        await puller.ensure_image(storelib.Store(tmp_path / "a"), ref,
                                  credentials=[dockerconfigjson({"registry.example:5000": good})])
    for name, secrets in {
        "dockerconfigjson": [dockerconfigjson({private.host: good})],
        "auth field and URL key": [dockerconfigjson({f"http://{private.host}/": {
            "auth": _auth(rh.USER, rh.PASSWORD)}})],
        "dockercfg": [dockercfg({private.host: good})],
        # The more specific (path) key is tried first and fails; the host's key then works.
        "fallthrough": [dockerconfigjson({f"{private.host}/private": {"username": rh.USER, "password": "no"}}),
                        dockerconfigjson({private.host: good})],
    }.items():
        store = storelib.Store(tmp_path / name.replace(" ", "-"))
        img = await puller.ensure_image(store, ref, credentials=secrets)
        assert img.config["config"]["Cmd"] == ["private"], name


def test_credentials_for() -> None:
    a, b, c = ({"username": u, "password": "p"} for u in ("a", "b", "c"))
    secrets = [dockerconfigjson({"https://index.docker.io/v1/": a, "*.example.com": b,
                                 "reg.example.com:5000/team": c}),
               {"type": "Opaque", "data": {".dockerconfigjson": "e30="}}]  # not a pull secret: ignored

    def users(image: str) -> list[str]:
        return [x.username for x in puller.credentials_for(secrets, image)]

    assert users("busybox") == ["a"]
    assert users("docker.io/someone/app:1") == ["a"]
    assert users("reg.example.com/app") == ["b"]
    assert users("reg.example.com:5000/team/app") == ["c"]
    assert users("reg.example.com:5000/other/app") == []
    assert users("deep.reg.example.com/app") == []  # a wildcard is one label
    assert users("quay.io/app") == []
