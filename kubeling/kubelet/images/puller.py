"""Making a container's image present: ``imagePullPolicy`` and pull secrets.

:func:`ensure_image` is what the kubelet calls before creating a container:

* ``Never``: the image must already be in the store, else
  :class:`NeverPullError` (the container waits with reason ``ErrImageNeverPull``);
* ``IfNotPresent``: use the stored image, pull only when it is missing;
* ``Always``: ask the registry every time (only blobs the store lacks are
  downloaded, so an unchanged image costs one manifest request).

No policy means upstream's default: ``Always`` for ``:latest`` or no tag,
``IfNotPresent`` otherwise (a digest reference included). A pull that fails
raises :class:`PullError` (reason ``ErrImagePull``) with the registry's
message; an unparsable reference raises :class:`InvalidImageNameError`.

Credentials come from the pod's ``imagePullSecrets`` (Secret objects of type
``kubernetes.io/dockerconfigjson`` or ``kubernetes.io/dockercfg``); the entries
whose key matches the image's registry (host, optional port, optional path
prefix, ``*`` wildcards in host labels; any Docker Hub spelling matches
``docker.io``) are tried most specific first, then the pull is tried without a
credential when none matched, as upstream's keyring does.

Concurrent calls for the same image, store and credentials share one pull.
A pulled image's layers are unpacked right away (containerd's "pull and
unpack"), so the first container start does not pay for it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import fnmatch
import json
import os
import tarfile
import zlib
from collections.abc import Callable, Collection, Iterable
from typing import Any

import aiohttp

from kubeling.kubelet.images import layers as layerlib
from kubeling.kubelet.images import reference, registry
from kubeling.kubelet.images import store as storelib

Obj = dict[str, Any]

ALWAYS = "Always"
IF_NOT_PRESENT = "IfNotPresent"
NEVER = "Never"
POLICIES = (ALWAYS, IF_NOT_PRESENT, NEVER)

SECRET_DOCKERCONFIGJSON = "kubernetes.io/dockerconfigjson"
SECRET_DOCKERCFG = "kubernetes.io/dockercfg"
_DOCKER_HUB_KEYS = {"docker.io", "index.docker.io", "registry-1.docker.io"}


class PullError(storelib.ImageError):
    """The image could not be pulled (container reason ``ErrImagePull``)."""

    reason = "ErrImagePull"


class NeverPullError(storelib.ImageError):
    """The image is missing and the policy is ``Never`` (``ErrImageNeverPull``)."""

    reason = "ErrImageNeverPull"


class InvalidImageNameError(storelib.ImageError):
    """The container's image is not a valid reference (``InvalidImageName``)."""

    reason = "InvalidImageName"


def default_policy(image: str) -> str:
    """Upstream's defaulting of ``imagePullPolicy`` from the image reference."""
    try:
        parsed = reference.parse(image)
    except reference.InvalidReference:
        return IF_NOT_PRESENT
    return ALWAYS if parsed.tag == "latest" else IF_NOT_PRESENT


# ---- credentials from imagePullSecrets ---------------------------------------------------------

def _b64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError):
        return b""


def _entries(secret: Obj) -> dict[str, Any]:
    """The ``auths``-style map a pull secret carries (empty when it carries none)."""
    data = secret.get("data") or {}
    kind = secret.get("type", "")
    try:
        if kind == SECRET_DOCKERCONFIGJSON and ".dockerconfigjson" in data:
            doc = json.loads(_b64(data[".dockerconfigjson"]))
            auths = doc.get("auths") if isinstance(doc, dict) else None
            return auths if isinstance(auths, dict) else {}
        if kind == SECRET_DOCKERCFG and ".dockercfg" in data:
            doc = json.loads(_b64(data[".dockercfg"]))
            return doc if isinstance(doc, dict) else {}
    except ValueError:
        pass
    return {}


def _credential(entry: Any) -> registry.Credential | None:
    if not isinstance(entry, dict):
        return None
    user, password = str(entry.get("username") or ""), str(entry.get("password") or "")
    if entry.get("auth"):
        # "auth" is base64 of user:password and wins over the separate fields, as in Docker.
        decoded = _b64(str(entry["auth"])).decode("utf-8", "replace")
        if ":" in decoded:
            user, password = decoded.split(":", 1)
    if not user and not password:
        return None
    return registry.Credential(username=user, password=password)


def _split_key(key: str) -> tuple[str, str, str]:
    """(host, port, path) of a config key (``https://host:5000/v1/``, ``host/path``...)."""
    rest = key.strip()
    if "://" in rest:
        rest = rest.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, port = hostport, ""
    if hostport.startswith("["):
        host, _, tail = hostport.partition("]")
        host += "]"
        port = tail.removeprefix(":")
    elif ":" in hostport:
        host, port = hostport.rsplit(":", 1)
    host = host.lower()
    path = path.strip("/")
    if host in _DOCKER_HUB_KEYS:
        host = "docker.io"
        if path in ("v1", "v2"):
            path = ""  # "https://index.docker.io/v1/" is Docker's key for the whole of Docker Hub
    return host, port, path


def _matches(key: str, ref: reference.Reference) -> bool:
    khost, kport, kpath = _split_key(key)
    ihost, iport, _ = _split_key(ref.domain)
    if kport != iport:
        return False
    kparts, iparts = khost.split("."), ihost.split(".")
    if len(kparts) != len(iparts) or not all(fnmatch.fnmatchcase(i, k) for k, i in zip(kparts, iparts)):
        return False
    return not kpath or ref.path == kpath or ref.path.startswith(kpath + "/")


def credentials_for(secrets: Iterable[Obj], image: str) -> list[registry.Credential]:
    """The credentials of ``secrets`` that apply to ``image``, most specific key first."""
    ref = reference.parse(image)
    found: list[tuple[str, registry.Credential]] = []
    for secret in secrets:
        for key, entry in _entries(secret).items():
            cred = _credential(entry)
            if cred is not None and _matches(str(key), ref):
                found.append((str(key), cred))
    # Reverse lexical order puts longer (more specific) keys of the same host first, as upstream does.
    found.sort(key=lambda kc: kc[0], reverse=True)
    out: list[registry.Credential] = []
    for _, cred in found:
        if cred not in out:
            out.append(cred)
    return out


# ---- pulling ----------------------------------------------------------------------------------

_inflight: dict[tuple[str, str, tuple[registry.Credential, ...], tuple[str, ...]], asyncio.Task[storelib.Image]] = {}


def pulling(store: storelib.Store) -> bool:
    """Whether a pull into ``store`` is under way (image GC waits for it: the
    blobs it has written are not yet referenced by any image)."""
    root = str(store.root)
    return any(key[0] == root for key in _inflight)


async def ensure_image(store: storelib.Store, ref: str, *, policy: str | None = None,
                       credentials: Iterable[Obj] = (), insecure_registries: Collection[str] = (),
                       session: aiohttp.ClientSession | None = None,
                       on_pull: Callable[[], object] | None = None,
                       on_offline: Callable[[str], object] | None = None) -> storelib.Image:
    """Return the image ``ref`` from ``store``, pulling it as ``policy`` says.

    ``credentials`` are the pod's ``imagePullSecrets`` resolved to Secret
    objects (missing secrets simply left out). ``session`` is an optional
    aiohttp session to pull through (a private one is made otherwise).
    ``on_pull`` is called when the registry is about to be asked (the kubelet's
    ``Pulling`` event); not being called means the stored image was used.
    ``on_offline(message)`` is called when policy Always falls back to the
    stored image because the registry cannot be reached."""
    try:
        parsed = reference.parse(ref)
    except reference.InvalidReference as exc:
        raise InvalidImageNameError(f'Failed to apply default image tag "{ref}": {exc}') from exc
    policy = policy or default_policy(ref)
    if policy not in POLICIES:
        raise PullError(f"unknown imagePullPolicy {policy!r}")
    if policy != ALWAYS:
        try:
            return await asyncio.to_thread(store.resolve, ref)
        except storelib.NotFound:
            if policy == NEVER:
                raise NeverPullError(f'Container image "{ref}" is not present with pull policy of Never') from None
    if on_pull is not None:
        on_pull()
    creds = tuple(credentials_for(credentials, ref))
    key = (str(store.root), str(parsed), creds, tuple(sorted(insecure_registries)))
    task = _inflight.get(key)
    if task is None:
        task = asyncio.get_running_loop().create_task(
            _pull(store, str(parsed), creds, insecure_registries=tuple(insecure_registries), session=session))
        _inflight[key] = task
        task.add_done_callback(lambda t: _done(key, t))
    # Shielded: one waiter giving up must not cancel the pull the others wait for.
    try:
        return await asyncio.shield(task)
    except PullError as exc:
        # Policy Always with the registry out of reach (an air-gapped node running
        # images imported with `kubeling image import`): use the image the node
        # has, and say so. Upstream fails here; a node that can never reach the
        # registry would then run no `:latest` image at all. Any answer from the
        # registry (missing tag, refused credentials) still fails the pull.
        if policy != ALWAYS or not isinstance(exc.__cause__, registry.Unreachable):
            raise
        try:
            image = await asyncio.to_thread(store.resolve, ref)
        except storelib.NotFound:
            raise exc from None
        if on_offline is not None:
            on_offline(str(exc.__cause__))
        return image


def _done(key: tuple[str, str, tuple[registry.Credential, ...], tuple[str, ...]],
          task: asyncio.Task[storelib.Image]) -> None:
    if _inflight.get(key) is task:
        del _inflight[key]
    if not task.cancelled():
        task.exception()  # retrieved here so an unawaited failure is not reported as lost


async def _pull(store: storelib.Store, ref: str, creds: tuple[registry.Credential, ...], *,
                insecure_registries: tuple[str, ...], session: aiohttp.ClientSession | None) -> storelib.Image:
    if session is None:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)
        async with aiohttp.ClientSession(timeout=timeout) as own:
            return await _pull_with(own, store, ref, creds, insecure_registries=insecure_registries)
    return await _pull_with(session, store, ref, creds, insecure_registries=insecure_registries)


async def _pull_with(session: aiohttp.ClientSession, store: storelib.Store, ref: str,
                     creds: tuple[registry.Credential, ...], *, insecure_registries: tuple[str, ...]
                     ) -> storelib.Image:
    last: Exception | None = None
    for cred in creds or (None,):
        client = registry.Client(session, credential=cred, insecure_registries=insecure_registries)
        try:
            image = await client.pull(store, ref)
            break
        except registry.Unauthorized as exc:
            last = exc  # the next matching credential may be the right one
        except (storelib.ImageError, OSError) as exc:
            raise PullError(str(exc)) from exc
    else:
        raise PullError(str(last)) from last
    try:
        await asyncio.to_thread(store.unpacked_layers, image, overlay_whiteouts=os.geteuid() == 0)
    except (layerlib.LayerError, tarfile.TarError, zlib.error, OSError, EOFError, ValueError) as exc:
        raise PullError(f'failed to unpack image "{ref}": {exc}') from exc
    return image
