"""Importing image archives into the store (the air-gap path).

Two formats, told apart by their files:

* an OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256/...``):
  every manifest the index names is imported (an image index inside is
  followed to its linux/amd64 manifest); names come from the
  ``io.containerd.image.name`` annotation, else from
  ``org.opencontainers.image.ref.name`` when that is a whole reference (a bare
  tag names nothing by itself);
* a ``docker save`` archive (``manifest.json`` with ``Config``, ``RepoTags``,
  ``Layers``): an OCI manifest is written for each entry, with the layer tars as
  they are (uncompressed, or gzip if the archive carries them so).

Every blob is verified against its digest. The archive may be a plain or a
gzip-compressed tar. Returns the images imported, with their normalised names.
"""

from __future__ import annotations

import json
import platform
import re
import tarfile
from typing import IO, Any

from kubeling.kubelet.images import reference
from kubeling.kubelet.images import store as storelib

ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"


class ArchiveError(storelib.ImageError):
    """The archive is not an image archive kubeling understands."""


def _arch() -> str:
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


def import_archive(store: storelib.Store, path: str) -> list[storelib.Image]:
    try:
        tar = tarfile.open(path, mode="r:*")  # noqa: SIM115 - closed by the `with` below
    except (tarfile.TarError, OSError) as exc:
        raise ArchiveError(f"{path}: not a tar archive: {exc}") from exc
    with tar:
        members = {m.name.removeprefix("./"): m for m in tar.getmembers()}
        if "index.json" in members:
            return _import_oci(store, tar, members)
        if "manifest.json" in members:
            return _import_docker(store, tar, members)
    raise ArchiveError(f"{path}: neither an OCI image layout (index.json) nor a docker save archive "
                       "(manifest.json)")


def _open(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str) -> IO[bytes]:
    m = members.get(name.removeprefix("./"))
    if m is None:
        raise ArchiveError(f"archive has no {name}")
    # Follow hard/symbolic links inside the archive (docker save links duplicate layers).
    f = tar.extractfile(m)
    if f is None:
        raise ArchiveError(f"{name} in the archive is not a file")
    return f


def _read_json(tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str) -> Any:
    with _open(tar, members, name) as f:
        return json.loads(f.read())


def _blob_name(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    return f"blobs/{algo}/{hexpart}"


def _copy_blob(store: storelib.Store, tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo],
               digest: str) -> None:
    if store.has_blob(digest):
        return
    with _open(tar, members, _blob_name(digest)) as f:
        store.write_blob(f, expected=digest)


def _names(annotations: dict[str, str]) -> list[str]:
    for key in (ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME):
        value = annotations.get(key, "")
        if not value:
            continue
        if key == ANNOTATION_REF_NAME and "/" not in value and ":" not in value:
            continue  # a bare tag: OCI allows it, but it names no repository
        try:
            return [reference.normalize(value)]
        except reference.InvalidReference:
            continue
    return []


def _import_oci(store: storelib.Store, tar: tarfile.TarFile,
                members: dict[str, tarfile.TarInfo]) -> list[storelib.Image]:
    index = _read_json(tar, members, "index.json")
    images = []
    for desc in index.get("manifests", []):
        names = _names(desc.get("annotations") or {})
        manifest_digest = _pick_manifest(store, tar, members, desc)
        manifest = store.read_json(manifest_digest)
        for blob in [manifest["config"], *manifest["layers"]]:
            _copy_blob(store, tar, members, blob["digest"])
        images.append(store.add_manifest(manifest_digest, names))
    if not images:
        raise ArchiveError("the archive's index.json lists no images")
    return images


def _pick_manifest(store: storelib.Store, tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo],
                   desc: dict[str, Any]) -> str:
    """Copy the manifest ``desc`` points at; for an index, the linux/<this arch> entry."""
    for _ in range(4):  # indexes may nest, but not forever
        digest = desc["digest"]
        _copy_blob(store, tar, members, digest)
        doc = store.read_json(digest)
        media = desc.get("mediaType") or doc.get("mediaType", "")
        if media not in storelib.INDEX_TYPES and "manifests" not in doc:
            return str(digest)
        arch = _arch()
        entries = doc.get("manifests", [])
        chosen = [e for e in entries if (e.get("platform") or {}).get("os") == "linux"
                  and (e.get("platform") or {}).get("architecture") == arch]
        chosen = chosen or [e for e in entries if not e.get("platform")]
        if not chosen:
            raise ArchiveError(f"image index {digest} has no linux/{arch} manifest")
        desc = chosen[0]
    raise ArchiveError("image indexes nest too deeply")


def _digest_in_name(name: str) -> str | None:
    """The digest a docker save file name promises: ``blobs/sha256/<hex>`` (Docker 25+)
    or ``<hex>.json`` for the config of older versions (whose layer directories
    are named by legacy IDs, not digests)."""
    m = re.fullmatch(r"(?:\./)?(?:blobs/sha256/([0-9a-f]{64})|([0-9a-f]{64})\.json)", name)
    if not m:
        return None
    return "sha256:" + (m.group(1) or m.group(2))


def _import_docker(store: storelib.Store, tar: tarfile.TarFile,
                   members: dict[str, tarfile.TarInfo]) -> list[storelib.Image]:
    entries = _read_json(tar, members, "manifest.json")
    images = []
    for entry in entries:
        with _open(tar, members, entry["Config"]) as f:
            config_digest, config_size = store.write_blob(f, expected=_digest_in_name(entry["Config"]))
        layer_descs = []
        for layer_name in entry.get("Layers", []):
            with _open(tar, members, layer_name) as f:
                head = f.read(2)
            media = storelib.MEDIA_OCI_LAYER_GZIP if head == b"\x1f\x8b" else storelib.MEDIA_OCI_LAYER
            with _open(tar, members, layer_name) as f:
                digest, size = store.write_blob(f, expected=_digest_in_name(layer_name))
            layer_descs.append({"mediaType": media, "digest": digest, "size": size})
        manifest = {
            "schemaVersion": 2,
            "mediaType": storelib.MEDIA_OCI_MANIFEST,
            "config": {"mediaType": storelib.MEDIA_OCI_CONFIG, "digest": config_digest, "size": config_size},
            "layers": layer_descs,
        }
        manifest_digest, _ = store.write_blob_bytes(json.dumps(manifest, separators=(",", ":")).encode())
        names = []
        for tag in entry.get("RepoTags") or []:
            try:
                names.append(reference.normalize(tag))
            except reference.InvalidReference as exc:
                raise ArchiveError(f"bad RepoTags entry {tag!r}: {exc}") from exc
        images.append(store.add_manifest(manifest_digest, names))
    if not images:
        raise ArchiveError("the archive's manifest.json lists no images")
    return images
