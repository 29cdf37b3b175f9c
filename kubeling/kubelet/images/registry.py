"""A client of the OCI distribution API that pulls images into the store.

:meth:`Client.pull` resolves a reference (``busybox``, ``host:5000/app:1``,
``name@sha256:...``) to a manifest with ``GET /v2/<name>/manifests/<ref>``,
accepting OCI and Docker v2 manifests and lists; from an index or a manifest
list it takes the linux entry of this machine's architecture (amd64 here). The
config and layer blobs are streamed into :class:`store.Store` through its
``write_blob`` (in a worker thread, reading the response chunk by chunk, so a
large layer never sits in memory) and verified against their digests; a
manifest fetched by digest is verified too. Blobs already in the store are not
fetched again.

Where the registry is: Docker Hub (``docker.io``) is ``registry-1.docker.io``;
every registry is spoken to over HTTPS except loopback hosts (``localhost``,
``127.0.0.0/8``, ``::1``, as containerd allows by default) and the hosts named
in ``insecure_registries`` (``host`` or ``host:port``), which use plain HTTP.

Authentication follows the registry's ``WWW-Authenticate`` challenge: for
``Bearer realm=...,service=...,scope=...`` a token is fetched from the realm
(Docker's token protocol, sending the credential as Basic auth when there is
one) and cached per repository; for ``Basic`` the credential is sent directly.

Errors are :class:`RegistryError` (and its subclasses) whose message carries
the registry's own words from its JSON error body (``manifest unknown``,
``authentication required``...).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import ipaddress
import json
import platform
import re
from collections.abc import Collection
from typing import IO, Any

import aiohttp

from kubeling.kubelet.images import reference
from kubeling.kubelet.images import store as storelib

DOCKER_HUB_HOST = "registry-1.docker.io"
MAX_MANIFEST_BYTES = 4 << 20  # distribution's own limit on manifests
CHUNK = 1 << 20
READ_TIMEOUT = 300.0

MEDIA_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MEDIA_DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
MEDIA_OCI_NONDIST_LAYER_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
MEDIA_OCI_NONDIST_LAYER = "application/vnd.oci.image.layer.nondistributable.v1.tar"
MEDIA_DOCKER_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
                        "application/vnd.docker.distribution.manifest.v1+prettyjws")
# Layer encodings the layer unpacker (tarfile, plain or gzip) can read.
LAYER_TYPES = (storelib.MEDIA_OCI_LAYER, storelib.MEDIA_OCI_LAYER_GZIP, MEDIA_DOCKER_LAYER_GZIP,
               MEDIA_DOCKER_FOREIGN_LAYER, MEDIA_OCI_NONDIST_LAYER_GZIP, MEDIA_OCI_NONDIST_LAYER)
ACCEPT_TYPES = (storelib.MEDIA_OCI_INDEX, storelib.MEDIA_DOCKER_LIST, storelib.MEDIA_OCI_MANIFEST,
                storelib.MEDIA_DOCKER_MANIFEST)
ACCEPT = ", ".join(ACCEPT_TYPES)


class RegistryError(storelib.ImageError):
    """The registry refused or failed a request; ``status`` is its HTTP status
    (0 when it was never reached) and ``codes`` its error codes."""

    def __init__(self, message: str, *, status: int = 0, codes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.codes = codes


class Unreachable(RegistryError):
    """No connection to the registry at all (DNS, refused, no route): unlike an
    answer from it, this says nothing about the image."""


class Unauthorized(RegistryError):
    """401/403: no credential, a wrong one, or the token server said no."""


class NotFound(RegistryError):
    """The repository, tag, manifest or blob is not in the registry."""


class Unsupported(RegistryError):
    """A manifest or layer kubeling cannot run (schema 1, zstd, no linux entry...)."""


@dataclasses.dataclass(frozen=True)
class Credential:
    username: str
    password: str


def platform_arch() -> str:
    """This machine's architecture in OCI's words (``amd64``, ``arm64``...)."""
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(m, m)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (possibly with a port) names this machine's loopback."""
    name = host
    if name.startswith("["):
        name = name[1:].split("]", 1)[0]
    elif name.count(":") == 1:
        name = name.split(":", 1)[0]
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def endpoint(domain: str, *, insecure_registries: Collection[str] = ()) -> str:
    """The base URL of the registry an image reference's ``domain`` names."""
    host = DOCKER_HUB_HOST if domain == reference.DEFAULT_DOMAIN else domain
    bare = host.rsplit(":", 1)[0] if not host.endswith("]") and host.count(":") == 1 else host
    plain = is_loopback(host) or host in insecure_registries or bare in insecure_registries
    return f"{'http' if plain else 'https'}://{host}"


# One auth-param or a bare token (a scheme name); quoted values may hold commas.
_CHALLENGE_PART = re.compile(
    r'[\s,]*([A-Za-z0-9!#$%&\'*+.^_`|~-]+)(?:\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*)))?')


def parse_challenges(headers: list[str]) -> list[tuple[str, dict[str, str]]]:
    """``WWW-Authenticate`` values as [(lower-case scheme, {param: value})]."""
    out: list[tuple[str, dict[str, str]]] = []
    for text in headers:
        pos = 0
        while pos < len(text):
            m = _CHALLENGE_PART.match(text, pos)
            if not m or m.end() == pos:
                break
            pos = m.end()
            if m.group(2) is None and m.group(3) is None:
                out.append((m.group(1).lower(), {}))
            elif out:
                value = m.group(2)
                value = re.sub(r"\\(.)", r"\1", value) if value is not None else m.group(3)
                out[-1][1][m.group(1).lower()] = value
    return out


async def _read_at_most(content: aiohttp.StreamReader, limit: int) -> bytes:
    """The body up to ``limit`` bytes (``read(n)`` alone may stop at any chunk)."""
    parts: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await content.read(limit - size)
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)


async def _error_text(resp: aiohttp.ClientResponse) -> tuple[str, tuple[str, ...]]:
    """The registry's error messages and codes from a failed response's body."""
    try:
        body = await _read_at_most(resp.content, 64 << 10)
    except aiohttp.ClientError:
        body = b""
    try:
        errors = json.loads(body).get("errors") or []
        messages = [str(e.get("message") or e.get("code") or "") for e in errors]
        codes = tuple(str(e.get("code", "")) for e in errors)
        if any(messages):
            return "; ".join(m for m in messages if m), codes
    except (ValueError, AttributeError):
        pass
    text = body.decode("utf-8", "replace").strip()
    return (text[:300] or f"{resp.status} {resp.reason or ''}".strip()), ()


def _error_class(status: int) -> type[RegistryError]:
    if status in (401, 403):
        return Unauthorized
    if status == 404:
        return NotFound
    return RegistryError


class _ResponseReader:
    """A blocking file object over an aiohttp response body, for a worker
    thread: each read asks the event loop for the next chunk. Refuses to read
    past ``limit`` bytes (the descriptor's size) so a lying registry cannot
    fill the disk."""

    def __init__(self, content: aiohttp.StreamReader, loop: asyncio.AbstractEventLoop, limit: int | None) -> None:
        self._content = content
        self._loop = loop
        self._limit = limit
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        size = n if n > 0 else CHUNK
        # Bounded wait: should the loop stop under us, the thread (and so write_blob's
        # cleanup of its partial file) must still end.
        future = asyncio.run_coroutine_threadsafe(self._content.read(size), self._loop)
        data = future.result(timeout=READ_TIMEOUT)
        self.count += len(data)
        if self._limit is not None and self.count > self._limit:
            raise storelib.DigestMismatch(f"blob is larger than its descriptor's {self._limit} bytes")
        return data


class Client:
    """Pulls from registries over one aiohttp session (owned by the caller),
    authenticating with ``credential`` when a registry asks for it."""

    def __init__(self, session: aiohttp.ClientSession, *, credential: Credential | None = None,
                 insecure_registries: Collection[str] = ()) -> None:
        self.session = session
        self.credential = credential
        self.insecure_registries = tuple(insecure_registries)
        self._auth: dict[tuple[str, str], str] = {}  # (registry base URL, repository) -> Authorization

    async def pull(self, store: storelib.Store, ref: str) -> storelib.Image:
        """Pull ``ref`` into ``store`` and name it ``ref`` (normalised) there."""
        parsed = reference.parse(ref)
        base = endpoint(parsed.domain, insecure_registries=self.insecure_registries)
        repo = parsed.path
        want = parsed.digest or parsed.tag
        try:
            body, media, digest = await self._manifest(base, repo, want, display=str(parsed))
            for _ in range(4):  # an index may point at another index, but not forever
                doc = _json(body, digest)
                kind = media or doc.get("mediaType", "")
                if kind in storelib.INDEX_TYPES or (not kind and "manifests" in doc):
                    chosen = _choose(doc, digest)
                    body, media, digest = await self._manifest(base, repo, chosen, display=str(parsed))
                    continue
                break
            else:
                raise Unsupported(f"image indexes of {parsed} nest too deeply")
            if kind in MEDIA_DOCKER_SCHEMA1 or doc.get("schemaVersion") == 1:
                raise Unsupported(f"{parsed}: Docker schema 1 manifests are not supported (re-push the image)")
            if "config" not in doc or "layers" not in doc:
                raise Unsupported(f"{parsed}: unsupported manifest type {kind or 'unknown'}")
            for layer in doc["layers"]:
                if layer.get("mediaType", storelib.MEDIA_OCI_LAYER) not in LAYER_TYPES:
                    raise Unsupported(f"{parsed}: layer {layer.get('digest')} has unsupported media type "
                                      f"{layer.get('mediaType')}")
            await asyncio.to_thread(store.write_blob_bytes, body, expected=digest)
            for desc in [doc["config"], *doc["layers"]]:
                await self._blob(store, base, repo, desc, display=str(parsed))
        except aiohttp.ClientConnectorError as exc:
            raise Unreachable(f"failed to pull {parsed} from {base}: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise RegistryError(f"failed to pull {parsed} from {base}: {exc}") from exc
        except TimeoutError as exc:
            raise RegistryError(f"failed to pull {parsed} from {base}: timed out") from exc
        return await asyncio.to_thread(store.add_manifest, digest, [str(parsed)])

    async def _manifest(self, base: str, repo: str, want: str, *, display: str) -> tuple[bytes, str, str]:
        url = f"{base}/v2/{repo}/manifests/{want}"
        prefix = f'failed to resolve reference "{display}"'
        async with await self._get(url, base, repo, prefix=prefix, headers={"Accept": ACCEPT}) as resp:
            if resp.status != 200:
                message, codes = await _error_text(resp)
                raise _error_class(resp.status)(f"{prefix}: {message}",
                                                status=resp.status, codes=codes)
            body = await _read_at_most(resp.content, MAX_MANIFEST_BYTES + 1)
            if len(body) > MAX_MANIFEST_BYTES:
                raise Unsupported(f'"{display}": manifest larger than {MAX_MANIFEST_BYTES} bytes')
            media = resp.headers.get("Content-Type", "").split(";", 1)[0].strip()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if reference.is_digest(want) and digest != want:
            raise storelib.DigestMismatch(f'"{display}": manifest has digest {digest}, expected {want}')
        # Generic JSON content types say nothing: the document's mediaType decides.
        if media not in (*storelib.MANIFEST_TYPES, *storelib.INDEX_TYPES, *MEDIA_DOCKER_SCHEMA1):
            media = ""
        return body, media, digest

    async def _blob(self, store: storelib.Store, base: str, repo: str, desc: dict[str, Any], *,
                    display: str) -> None:
        digest = str(desc["digest"])
        if store.has_blob(digest):
            return
        url = f"{base}/v2/{repo}/blobs/{digest}"
        prefix = f'failed to fetch blob {digest} of "{display}"'
        async with await self._get(url, base, repo, prefix=prefix) as resp:
            if resp.status != 200:
                message, codes = await _error_text(resp)
                raise _error_class(resp.status)(f"{prefix}: {message}",
                                                status=resp.status, codes=codes)
            size = desc.get("size")
            reader = _ResponseReader(resp.content, asyncio.get_running_loop(),
                                     int(size) if isinstance(size, int) else None)
            await asyncio.to_thread(store.write_blob, _as_io(reader), expected=digest)

    async def _get(self, url: str, base: str, repo: str, *, prefix: str,
                   headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
        """GET ``url``, answering one authentication challenge if there is one."""
        hdrs = dict(headers or {})
        auth = self._auth.get((base, repo))
        if auth:
            hdrs["Authorization"] = auth
        resp = await self.session.get(url, headers=hdrs)
        if resp.status != 401:
            return resp
        challenges = parse_challenges(resp.headers.getall("WWW-Authenticate", []))
        message, codes = await _error_text(resp)
        resp.release()
        auth = await self._authorize(challenges, repo, message=f"{prefix}: unauthorized: {message}",
                                     codes=codes, had_auth=bool(auth))
        self._auth[(base, repo)] = auth
        hdrs["Authorization"] = auth
        resp = await self.session.get(url, headers=hdrs)
        if resp.status == 401:
            message, codes = await _error_text(resp)
            resp.release()
            raise Unauthorized(f"{prefix}: unauthorized: {message}", status=401, codes=codes)
        return resp

    async def _authorize(self, challenges: list[tuple[str, dict[str, str]]], repo: str, *, message: str,
                         codes: tuple[str, ...], had_auth: bool) -> str:
        schemes = dict(challenges)
        if "bearer" in schemes and schemes["bearer"].get("realm"):
            return "Bearer " + await self._token(schemes["bearer"], repo)
        if "basic" in schemes and self.credential is not None and not had_auth:
            return _basic(self.credential)
        raise Unauthorized(message, status=401, codes=codes)

    async def _token(self, params: dict[str, str], repo: str) -> str:
        """A token from the realm of a Bearer challenge (Docker's token protocol)."""
        query = [("scope", params.get("scope") or f"repository:{repo}:pull")]
        if params.get("service"):
            query.insert(0, ("service", params["service"]))
        auth = _basic(self.credential) if self.credential is not None else None
        headers = {"Authorization": auth} if auth else {}
        async with self.session.get(params["realm"], params=query, headers=headers) as resp:
            if resp.status != 200:
                message, codes = await _error_text(resp)
                raise _error_class(resp.status if resp.status in (401, 403) else 401)(
                    f"failed to fetch an anonymous token from {params['realm']}: {message}" if auth is None else
                    f"failed to fetch a token from {params['realm']}: {message}", status=resp.status, codes=codes)
            try:
                data = json.loads(await _read_at_most(resp.content, 1 << 20))
                token = data.get("token") or data.get("access_token")
            except (ValueError, AttributeError):
                token = None
        if not token:
            raise Unauthorized(f"the token server {params['realm']} answered without a token")
        return str(token)


def _basic(cred: Credential) -> str:
    return "Basic " + base64.b64encode(f"{cred.username}:{cred.password}".encode()).decode()


def _as_io(reader: _ResponseReader) -> IO[bytes]:
    # write_blob only calls read(); the cast keeps the store's signature honest elsewhere.
    return reader  # type: ignore[return-value]


def _json(body: bytes, digest: str) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise Unsupported(f"manifest {digest} is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise Unsupported(f"manifest {digest} is not a JSON object")
    return doc


def _choose(index: dict[str, Any], digest: str) -> str:
    """The digest of the index entry for linux on this machine's architecture."""
    arch = platform_arch()
    entries = [e for e in index.get("manifests") or [] if isinstance(e, dict)]
    chosen = [e for e in entries if (e.get("platform") or {}).get("os") == "linux"
              and (e.get("platform") or {}).get("architecture") == arch]
    if not chosen:
        found = sorted({f"{(e.get('platform') or {}).get('os')}/{(e.get('platform') or {}).get('architecture')}"
                        for e in entries})
        raise Unsupported(f"no match for platform linux/{arch} in manifest list {digest} "
                          f"(it has {', '.join(found) or 'no entries'})")
    return str(chosen[0]["digest"])
