"""The content-addressed image store under ``<data-dir>/images``.

Layout::

    blobs/sha256/<hex>       manifests, configs and layer tars, by digest
    index.json               {"references": {"docker.io/library/busybox:latest": "sha256:<manifest>"}}
    layers/<hex>/            a layer unpacked once, named by its blob digest
    tmp/                     partial writes (same filesystem, so renames are atomic)

Every blob is hashed while it is written and only renamed into place when the
digest matches. The index is rewritten atomically under an exclusive
``flock`` so the CLI and a running agent can share one store. The store is
synchronous (file I/O); the agent calls it through ``asyncio.to_thread``.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import pathlib
import shutil
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from kubeling.kubelet.images import layers as layerlib
from kubeling.kubelet.images import reference

MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MEDIA_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST)
INDEX_TYPES = (MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST)


class ImageError(Exception):
    """Base of the store's errors."""


class DigestMismatch(ImageError):
    pass


class NotFound(ImageError):
    pass


@dataclasses.dataclass(frozen=True)
class Layer:
    digest: str
    media_type: str
    size: int


@dataclasses.dataclass
class Image:
    """One image in the store: its manifest, config and the names pointing at it."""

    manifest_digest: str
    config_digest: str  # the image ID, as upstream reports it in containerStatuses[].imageID
    layers: list[Layer]
    config: dict[str, Any]  # the whole image config JSON (config.Cmd, config.Env, ...)
    references: list[str]
    size: int  # manifest + config + layer blobs, compressed as stored

    @property
    def id(self) -> str:
        return self.config_digest

    def repo_digests(self) -> list[str]:
        """``name@sha256:<manifest>`` for each repository the image is known under."""
        names = {reference.parse(r).name for r in self.references}
        return sorted(f"{n}@{self.manifest_digest}" for n in names)


def _hex(digest: str) -> str:
    if not reference.is_digest(digest):
        raise ImageError(f"unsupported digest {digest!r}")
    return digest.split(":", 1)[1]


class Store:
    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.root = pathlib.Path(data_dir) / "images"
        self.blobs = self.root / "blobs" / "sha256"
        self.layers_dir = self.root / "layers"
        self.tmp = self.root / "tmp"
        for d in (self.blobs, self.layers_dir, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        self._index_path = self.root / "index.json"
        self._lock_path = self.root / "lock"

    # ---- blobs -------------------------------------------------------------------------------

    def blob_path(self, digest: str) -> pathlib.Path:
        return self.blobs / _hex(digest)

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).exists()

    def write_blob(self, src: IO[bytes], *, expected: str | None = None) -> tuple[str, int]:
        """Copy ``src`` into the store; return (digest, size). With ``expected``
        the content must hash to it (else :class:`DigestMismatch`)."""
        if expected is not None and self.has_blob(expected):
            return expected, self.blob_path(expected).stat().st_size
        h = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self.tmp, prefix="blob-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := src.read(1 << 20):
                    h.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            digest = "sha256:" + h.hexdigest()
            if expected is not None and digest != expected:
                raise DigestMismatch(f"content has digest {digest}, expected {expected}")
            os.replace(tmp, self.blob_path(digest))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return digest, size

    def write_blob_bytes(self, data: bytes, *, expected: str | None = None) -> tuple[str, int]:
        import io

        return self.write_blob(io.BytesIO(data), expected=expected)

    def read_json(self, digest: str) -> Any:
        try:
            return json.loads(self.blob_path(digest).read_bytes())
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found") from None

    # ---- index -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self._lock_path, "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _read_index(self) -> dict[str, str]:
        try:
            data = json.loads(self._index_path.read_bytes())
        except FileNotFoundError:
            return {}
        return dict(data.get("references", {}))

    def _write_index(self, refs: dict[str, str]) -> None:
        tmp = self.tmp / f"index-{os.getpid()}.json"
        tmp.write_text(json.dumps({"references": dict(sorted(refs.items()))}, indent=1))
        os.replace(tmp, self._index_path)

    def tag(self, ref: str, manifest_digest: str) -> str:
        """Point the (normalised) reference ``ref`` at a manifest already in the store."""
        self.read_json(manifest_digest)
        name = reference.normalize(ref)
        with self._locked():
            refs = self._read_index()
            refs[name] = manifest_digest
            self._write_index(refs)
        return name

    def add_manifest(self, manifest_digest: str, refs: list[str]) -> Image:
        """Register a manifest whose blobs are all in the store, under ``refs``
        (possibly none: then it is known by its digest only)."""
        manifest = self.read_json(manifest_digest)
        for blob in [manifest["config"], *manifest["layers"]]:
            if not self.has_blob(blob["digest"]):
                raise NotFound(f"blob {blob['digest']} of {manifest_digest} is missing")
        names = [reference.normalize(r) for r in refs]
        with self._locked():
            index = self._read_index()
            for n in names:
                index[n] = manifest_digest
            # An image with no name stays findable by digest: index it under "@digest".
            if not names and manifest_digest not in index.values():
                index["@" + manifest_digest] = manifest_digest
            elif names:
                index.pop("@" + manifest_digest, None)
            self._write_index(index)
        return self._image(manifest_digest, index)

    def _image(self, manifest_digest: str, index: dict[str, str]) -> Image:
        manifest = self.read_json(manifest_digest)
        config_digest = manifest["config"]["digest"]
        layers = [Layer(digest=x["digest"], media_type=x.get("mediaType", MEDIA_OCI_LAYER), size=int(x["size"]))
                  for x in manifest["layers"]]
        size = (self.blob_path(manifest_digest).stat().st_size + int(manifest["config"]["size"])
                + sum(x.size for x in layers))
        refs = sorted(r for r, d in index.items() if d == manifest_digest and not r.startswith("@"))
        return Image(manifest_digest=manifest_digest, config_digest=config_digest, layers=layers,
                     config=self.read_json(config_digest), references=refs, size=size)

    def list(self) -> list[Image]:
        index = self._read_index()
        return [self._image(d, index) for d in sorted(set(index.values()))]

    def resolve(self, ref: str) -> Image:
        """Find an image by reference (normalised), ``name@digest``, manifest
        digest, image ID (config digest) or a unique ID prefix."""
        index = self._read_index()
        digests = set(index.values())
        candidates: set[str] = set()
        if reference.is_digest(ref):
            candidates = {d for d in digests if d == ref}
            if not candidates:
                candidates = {d for d in digests if self.read_json(d)["config"]["digest"] == ref}
        else:
            try:
                parsed = reference.parse(ref)
            except reference.InvalidReference:
                parsed = None
            if parsed is not None and parsed.digest and parsed.digest in digests:
                candidates = {parsed.digest}
            elif parsed is not None and str(parsed) in index:
                candidates = {index[str(parsed)]}
            elif len(ref) >= 4 and all(c in "0123456789abcdef" for c in ref.removeprefix("sha256:")):
                prefix = ref.removeprefix("sha256:")
                for d in digests:
                    if self.read_json(d)["config"]["digest"][7:].startswith(prefix):
                        candidates.add(d)
        if len(candidates) != 1:
            raise NotFound(f"image {ref!r} not found" if not candidates else f"image {ref!r} is ambiguous")
        return self._image(candidates.pop(), index)

    def remove(self, ref: str) -> builtins.list[str]:
        """Remove an image: by reference removes that name (the image goes when
        its last name goes); by digest or ID removes every name. Blobs and
        unpacked layers no other image uses are deleted, except layers still
        mounted by a container. Returns the removed references."""
        image = self.resolve(ref)
        with self._locked():
            index = self._read_index()
            try:
                parsed: reference.Reference | None = reference.parse(ref)
            except reference.InvalidReference:
                parsed = None
            if parsed is not None and str(parsed) in index and not reference.is_digest(ref):
                gone = [str(parsed)]
            else:
                gone = [r for r, d in index.items() if d == image.manifest_digest]
            for r in gone:
                index.pop(r, None)
            self._write_index(index)
            if image.manifest_digest not in index.values():
                self._collect(index)
        return [g for g in gone if not g.startswith("@")]

    def _collect(self, index: dict[str, str]) -> None:
        keep: set[str] = set()
        for d in set(index.values()):
            m = self.read_json(d)
            keep.add(_hex(d))
            keep.add(_hex(m["config"]["digest"]))
            keep.update(_hex(x["digest"]) for x in m["layers"])
        mounted = _mounted_text()
        for blob in self.blobs.iterdir():
            if blob.name not in keep:
                blob.unlink(missing_ok=True)
        for layer in self.layers_dir.iterdir():
            if layer.name not in keep and layer.name not in mounted:
                shutil.rmtree(layer, ignore_errors=True)

    # ---- layers ------------------------------------------------------------------------------

    def unpacked_layers(self, image: Image, *, overlay_whiteouts: bool) -> builtins.list[pathlib.Path]:
        """The image's layers unpacked (once each, shared), bottom layer first."""
        return [self.unpack_layer(x, overlay_whiteouts=overlay_whiteouts) for x in image.layers]

    def unpack_layer(self, layer: Layer, *, overlay_whiteouts: bool) -> pathlib.Path:
        target = self.layers_dir / _hex(layer.digest)
        if target.exists():
            return target
        work = pathlib.Path(tempfile.mkdtemp(dir=self.tmp, prefix="layer-"))
        try:
            os.chmod(work, 0o755)
            with open(self.blob_path(layer.digest), "rb") as f:
                layerlib.unpack(f, str(work), overlay_whiteouts=overlay_whiteouts)
            try:
                os.rename(work, target)
            except OSError:
                if not target.exists():  # else someone else unpacked it meanwhile: use theirs
                    raise
                shutil.rmtree(work, ignore_errors=True)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        return target


def _mounted_text() -> str:
    try:
        return pathlib.Path("/proc/self/mountinfo").read_text()
    except OSError:
        return ""
