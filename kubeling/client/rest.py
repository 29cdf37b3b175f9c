"""An asyncio client for the Kubernetes API, generic over resources.

``Client`` speaks JSON over one keep-alive aiohttp session. Resources are named
by :class:`ResourceRef` (group, version, plural, namespaced). Errors arrive as
:class:`ApiError` carrying the server's ``Status``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from kubeling.client import config as configlib

Obj = dict[str, Any]

PATCH_TYPES = {
    "json": "application/json-patch+json",
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


@dataclasses.dataclass(frozen=True)
class ResourceRef:
    group: str
    version: str
    plural: str
    namespaced: bool = True

    def path(self, *, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name, safe='')}"
            if subresource:
                base += f"/{subresource}"
        return base


# The resources the components built on this client use most.
PODS = ResourceRef("", "v1", "pods")
NODES = ResourceRef("", "v1", "nodes", namespaced=False)
NAMESPACES = ResourceRef("", "v1", "namespaces", namespaced=False)
CONFIGMAPS = ResourceRef("", "v1", "configmaps")
SERVICES = ResourceRef("", "v1", "services")
EVENTS = ResourceRef("", "v1", "events")
LEASES = ResourceRef("coordination.k8s.io", "v1", "leases")
DEPLOYMENTS = ResourceRef("apps", "v1", "deployments")
REPLICASETS = ResourceRef("apps", "v1", "replicasets")


class ApiError(Exception):
    def __init__(self, status_code: int, status: Obj) -> None:
        self.status_code = status_code
        self.status = status
        self.reason = str(status.get("reason", ""))
        self.message = str(status.get("message", ""))
        super().__init__(f"{status_code} {self.reason}: {self.message}")

    @property
    def not_found(self) -> bool:
        return self.status_code == 404

    @property
    def conflict(self) -> bool:
        return self.status_code == 409 and self.reason == "Conflict"

    @property
    def already_exists(self) -> bool:
        return self.status_code == 409 and self.reason == "AlreadyExists"

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def _params(**kw: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in kw.items():
        if v is None or v is False or v == "":
            continue
        out[k] = "true" if v is True else str(v)
    return out


class Client:
    def __init__(self, cfg: configlib.Config, *, user_agent: str = "kubeling") -> None:
        self.config = cfg
        headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if cfg.token:
            headers["Authorization"] = f"Bearer {cfg.token}"
        self._headers = headers
        self._ssl = cfg.ssl_context()
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_kubeconfig(cls, path: str, **kw: Any) -> Client:
        return cls(configlib.load_kubeconfig(path), **kw)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                connector=aiohttp.TCPConnector(ssl=self._ssl, limit=100),
                json_serialize=lambda o: orjson.dumps(o).decode(),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def request(self, method: str, path: str, *, params: dict[str, str] | None = None,
                      body: Any = None, content_type: str = "application/json") -> Any:
        data = None if body is None else orjson.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else None
        async with self.session.request(method, self.config.server + path, params=params, data=data,
                                        headers=headers) as resp:
            raw = await resp.read()
            if resp.status >= 400:
                raise ApiError(resp.status, _status(raw, resp.status))
            return orjson.loads(raw) if raw else None

    # ---- verbs -------------------------------------------------------------------
    async def get(self, ref: ResourceRef, name: str, *, namespace: str | None = None) -> Obj:
        return await self.request("GET", ref.path(namespace=namespace, name=name))  # type: ignore[no-any-return]

    async def list(self, ref: ResourceRef, *, namespace: str | None = None, label_selector: str | None = None,
                   field_selector: str | None = None, limit: int | None = None, continue_: str | None = None,
                   resource_version: str | None = None) -> Obj:
        params = _params(labelSelector=label_selector, fieldSelector=field_selector, limit=limit,
                         resourceVersion=resource_version, **{"continue": continue_})
        return await self.request("GET", ref.path(namespace=namespace), params=params)  # type: ignore[no-any-return]

    async def create(self, ref: ResourceRef, obj: Obj, *, namespace: str | None = None, dry_run: bool = False,
                     field_manager: str | None = None) -> Obj:
        ns = namespace or obj.get("metadata", {}).get("namespace")
        params = _params(dryRun="All" if dry_run else None, fieldManager=field_manager)
        return await self.request("POST", ref.path(namespace=ns), params=params, body=obj)  # type: ignore[no-any-return]

    async def update(self, ref: ResourceRef, obj: Obj, *, subresource: str | None = None) -> Obj:
        md = obj.get("metadata", {})
        path = ref.path(namespace=md.get("namespace"), name=md["name"], subresource=subresource)
        return await self.request("PUT", path, body=obj)  # type: ignore[no-any-return]

    async def update_status(self, ref: ResourceRef, obj: Obj) -> Obj:
        return await self.update(ref, obj, subresource="status")

    async def patch(self, ref: ResourceRef, name: str, patch: Any, *, namespace: str | None = None,
                    patch_type: str = "merge", subresource: str | None = None) -> Obj:
        path = ref.path(namespace=namespace, name=name, subresource=subresource)
        return await self.request("PATCH", path, body=patch,  # type: ignore[no-any-return]
                                  content_type=PATCH_TYPES[patch_type])

    async def delete(self, ref: ResourceRef, name: str, *, namespace: str | None = None,
                     propagation_policy: str | None = None, grace_period_seconds: int | None = None,
                     preconditions: Obj | None = None) -> Obj:
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            body["propagationPolicy"] = propagation_policy
        if grace_period_seconds is not None:
            body["gracePeriodSeconds"] = grace_period_seconds
        if preconditions:
            body["preconditions"] = preconditions
        return await self.request("DELETE", ref.path(namespace=namespace, name=name),  # type: ignore[no-any-return]
                                  body=body)

    async def watch(self, ref: ResourceRef, *, namespace: str | None = None, resource_version: str | None = None,
                    label_selector: str | None = None, field_selector: str | None = None,
                    allow_bookmarks: bool = True, timeout_seconds: int | None = None) -> AsyncIterator[Obj]:
        """Events as ``{"type": ..., "object": ...}`` until the server ends the stream.

        A 410 arrives either as an HTTP error (ApiError.gone) or as an ERROR event."""
        params = _params(watch=True, resourceVersion=resource_version, labelSelector=label_selector,
                         fieldSelector=field_selector, allowWatchBookmarks=allow_bookmarks,
                         timeoutSeconds=timeout_seconds)
        timeout = aiohttp.ClientTimeout(total=None, sock_read=(timeout_seconds or 1800) + 30)
        async with self.session.get(self.config.server + ref.path(namespace=namespace), params=params,
                                    timeout=timeout) as resp:
            if resp.status >= 400:
                raise ApiError(resp.status, _status(await resp.read(), resp.status))
            buf = b""
            async for chunk in resp.content.iter_any():
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield orjson.loads(line)


def _status(raw: bytes, code: int) -> Obj:
    try:
        st = json.loads(raw)
        if isinstance(st, dict):
            return st
    except ValueError:
        pass
    return {"kind": "Status", "code": code, "message": raw.decode(errors="replace")[:500]}
