"""An asyncio client for the Kubernetes API, generic over resources.

``Client`` speaks JSON over one keep-alive aiohttp session (TLS and
credentials from a :class:`kubeling.client.config.Config`). Resources are
named by :class:`ResourceRef` (group, version, plural, namespaced); the
common ones are constants here (``rest.PODS``, ``rest.DEPLOYMENTS``, ...).

Errors form one tree: :class:`ClientError`, split into :class:`ApiError`
(the server answered with a ``Status``: code, reason, message; subclasses
such as :class:`NotFound`, :class:`Conflict`, :class:`AlreadyExists`,
:class:`Gone`, and helpers ``is_not_found(exc)`` ...) and
:class:`TransportError` (the server could not be reached or the connection
broke). Requests that never reached the server, reads that broke off, and
answers that ask to come back later (429/5xx with ``Retry-After``) are
retried a few times before an error is raised.

``watch`` returns a :class:`Watch`: an async iterator of :class:`Event`
``(type, object)`` read from the newline-delimited JSON stream. Objects
returned are fresh dicts the caller owns.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any, NamedTuple, Self
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


# ---- resources ------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ResourceRef:
    """Where a resource lives in the API: ``/apis/<group>/<version>/[namespaces/<ns>/]<plural>``."""

    group: str
    version: str
    plural: str
    namespaced: bool = True
    kind: str = ""  # informational; lists name their kind anyway

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @classmethod
    def of(cls, api_version: str, plural: str, *, namespaced: bool = True, kind: str = "") -> ResourceRef:
        """``ResourceRef.of("apps/v1", "deployments")``."""
        group, _, version = api_version.rpartition("/")
        return cls(group, version, plural, namespaced, kind)

    def path(self, *, namespace: str | None = None, name: str | None = None,
             subresource: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name, safe='')}"
            if subresource:
                base += f"/{subresource}"
        elif subresource:
            raise ValueError(f"subresource {subresource!r} needs an object name")
        return base


def _ref(api_version: str, plural: str, kind: str, *, namespaced: bool = True) -> ResourceRef:
    return ResourceRef.of(api_version, plural, namespaced=namespaced, kind=kind)


PODS = _ref("v1", "pods", "Pod")
NODES = _ref("v1", "nodes", "Node", namespaced=False)
NAMESPACES = _ref("v1", "namespaces", "Namespace", namespaced=False)
SERVICES = _ref("v1", "services", "Service")
ENDPOINTS = _ref("v1", "endpoints", "Endpoints")
CONFIGMAPS = _ref("v1", "configmaps", "ConfigMap")
SECRETS = _ref("v1", "secrets", "Secret")
SERVICEACCOUNTS = _ref("v1", "serviceaccounts", "ServiceAccount")
EVENTS = _ref("v1", "events", "Event")
PERSISTENTVOLUMES = _ref("v1", "persistentvolumes", "PersistentVolume", namespaced=False)
PERSISTENTVOLUMECLAIMS = _ref("v1", "persistentvolumeclaims", "PersistentVolumeClaim")
REPLICATIONCONTROLLERS = _ref("v1", "replicationcontrollers", "ReplicationController")
RESOURCEQUOTAS = _ref("v1", "resourcequotas", "ResourceQuota")
LIMITRANGES = _ref("v1", "limitranges", "LimitRange")
PODTEMPLATES = _ref("v1", "podtemplates", "PodTemplate")
DEPLOYMENTS = _ref("apps/v1", "deployments", "Deployment")
REPLICASETS = _ref("apps/v1", "replicasets", "ReplicaSet")
STATEFULSETS = _ref("apps/v1", "statefulsets", "StatefulSet")
DAEMONSETS = _ref("apps/v1", "daemonsets", "DaemonSet")
CONTROLLERREVISIONS = _ref("apps/v1", "controllerrevisions", "ControllerRevision")
JOBS = _ref("batch/v1", "jobs", "Job")
CRONJOBS = _ref("batch/v1", "cronjobs", "CronJob")
LEASES = _ref("coordination.k8s.io/v1", "leases", "Lease")
ENDPOINTSLICES = _ref("discovery.k8s.io/v1", "endpointslices", "EndpointSlice")
EVENTS_V1 = _ref("events.k8s.io/v1", "events", "Event")
PODDISRUPTIONBUDGETS = _ref("policy/v1", "poddisruptionbudgets", "PodDisruptionBudget")
HORIZONTALPODAUTOSCALERS = _ref("autoscaling/v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler")
INGRESSES = _ref("networking.k8s.io/v1", "ingresses", "Ingress")
NETWORKPOLICIES = _ref("networking.k8s.io/v1", "networkpolicies", "NetworkPolicy")
STORAGECLASSES = _ref("storage.k8s.io/v1", "storageclasses", "StorageClass", namespaced=False)
PRIORITYCLASSES = _ref("scheduling.k8s.io/v1", "priorityclasses", "PriorityClass", namespaced=False)
RUNTIMECLASSES = _ref("node.k8s.io/v1", "runtimeclasses", "RuntimeClass", namespaced=False)
ROLES = _ref("rbac.authorization.k8s.io/v1", "roles", "Role")
ROLEBINDINGS = _ref("rbac.authorization.k8s.io/v1", "rolebindings", "RoleBinding")
CLUSTERROLES = _ref("rbac.authorization.k8s.io/v1", "clusterroles", "ClusterRole", namespaced=False)
CLUSTERROLEBINDINGS = _ref("rbac.authorization.k8s.io/v1", "clusterrolebindings", "ClusterRoleBinding",
                           namespaced=False)


# ---- errors ---------------------------------------------------------------------------
class ClientError(Exception):
    """Anything that went wrong talking to the API server."""


class TransportError(ClientError):
    """The server could not be reached, or the connection broke or timed out."""


class ApiError(ClientError):
    """The server answered with an error ``Status``."""

    def __init__(self, status_code: int, reason: str, message: str, status: Obj | None = None) -> None:
        self.status_code = status_code
        self.reason = reason
        self.message = message
        self.status: Obj = status if status is not None else {
            "kind": "Status", "apiVersion": "v1", "status": "Failure",
            "code": status_code, "reason": reason, "message": message}
        super().__init__(f"{status_code} {reason}: {message}" if reason else f"{status_code}: {message}")

    @property
    def details(self) -> Obj:
        return dict(self.status.get("details") or {})

    @property
    def retry_after(self) -> float | None:
        secs = self.details.get("retryAfterSeconds")
        return float(secs) if secs else None

    # Kubernetes' apierrors.IsX checks look at the reason, falling back to the code
    # when the server gave none (as a proxy in between might).
    def _is(self, reason: str, code: int) -> bool:
        return self.reason == reason or (self.reason not in _KNOWN_REASONS and self.status_code == code)

    @property
    def not_found(self) -> bool:
        return self._is("NotFound", 404)

    @property
    def conflict(self) -> bool:
        return self._is("Conflict", 409)

    @property
    def already_exists(self) -> bool:
        return self.reason == "AlreadyExists"

    @property
    def gone(self) -> bool:
        return self.status_code == 410 or self.reason in ("Gone", "Expired")

    @property
    def invalid(self) -> bool:
        return self._is("Invalid", 422)

    @property
    def forbidden(self) -> bool:
        return self._is("Forbidden", 403)

    @property
    def unauthorized(self) -> bool:
        return self._is("Unauthorized", 401)


class BadRequest(ApiError):
    pass


class Unauthorized(ApiError):
    pass


class Forbidden(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class AlreadyExists(ApiError):
    pass


class Gone(ApiError):
    pass


class Invalid(ApiError):
    pass


class TooManyRequests(ApiError):
    pass


class ServerError(ApiError):
    pass



_KNOWN_REASONS = {"BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict", "AlreadyExists", "Gone",
                  "Expired", "Invalid", "TooManyRequests", "ServerTimeout", "Timeout", "MethodNotAllowed",
                  "NotAcceptable", "UnsupportedMediaType", "RequestEntityTooLarge", "InternalError",
                  "ServiceUnavailable"}
_BY_REASON: dict[str, type[ApiError]] = {
    "AlreadyExists": AlreadyExists, "Conflict": Conflict, "NotFound": NotFound, "Gone": Gone,
    "Expired": Gone, "Invalid": Invalid, "Forbidden": Forbidden, "Unauthorized": Unauthorized,
    "BadRequest": BadRequest, "TooManyRequests": TooManyRequests}
_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict, 410: Gone,
    422: Invalid, 429: TooManyRequests}


def api_error(status_code: int, status: Obj) -> ApiError:
    """The ApiError (of the most specific subclass) for a ``Status`` the server sent."""
    code = int(status.get("code") or status_code)
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or "")
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code) or (ServerError if code >= 500 else ApiError)
    return cls(code, reason, message, status)


def _status_of(raw: bytes, code: int) -> Obj:
    try:
        st = orjson.loads(raw)
        if isinstance(st, dict) and st.get("kind") == "Status":
            return st
    except orjson.JSONDecodeError:
        pass
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
            "message": raw.decode(errors="replace")[:1000]}


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, ApiError) and exc.not_found


def is_conflict(exc: BaseException) -> bool:
    return isinstance(exc, ApiError) and exc.conflict


def is_already_exists(exc: BaseException) -> bool:
    return isinstance(exc, ApiError) and exc.already_exists


def is_gone(exc: BaseException) -> bool:
    return isinstance(exc, ApiError) and exc.gone


def is_invalid(exc: BaseException) -> bool:
    return isinstance(exc, ApiError) and exc.invalid


# ---- watch ----------------------------------------------------------------------------
class Event(NamedTuple):
    """One watch event: ``type`` is ADDED, MODIFIED, DELETED, BOOKMARK or ERROR."""

    type: str
    object: Obj

    def error(self) -> ApiError:
        """The ApiError an ERROR event carries (its object is a Status)."""
        return api_error(int(self.object.get("code") or 500), self.object)


class Watch:
    """A watch stream: ``async for ev in watch`` until the server ends it.

    Also an async context manager; leaving it (or ``await close()``) drops the
    connection. Raises ApiError if the server refuses the watch (a 410 among
    them), TransportError if the connection breaks.
    """

    def __init__(self, client: Client, path: str, params: dict[str, str], timeout: aiohttp.ClientTimeout) -> None:
        self._client = client
        self._path = path
        self._params = params
        self._timeout = timeout
        self._resp: aiohttp.ClientResponse | None = None
        self._buf = bytearray()
        self._eof = False

    async def _open(self) -> aiohttp.ClientResponse:
        if self._resp is None:
            self._resp = await self._client._send("GET", self._path, params=self._params, timeout=self._timeout)
        return self._resp

    async def __aenter__(self) -> Self:
        await self._open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> Event:
        resp = await self._open()
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line = bytes(self._buf[:nl])
                del self._buf[:nl + 1]
                if not line.strip():
                    continue
                return self._event(line)
            if self._eof:
                rest = bytes(self._buf).strip()
                self._buf.clear()
                await self.close()
                if rest:  # a last event without its newline
                    return self._event(rest)
                raise StopAsyncIteration
            try:
                chunk = await resp.content.readany()
            except (aiohttp.ClientError, TimeoutError) as exc:
                await self.close()
                raise TransportError(f"watch {self._path}: {exc!r}") from exc
            if chunk:
                self._buf += chunk
            else:
                self._eof = True

    def _event(self, line: bytes) -> Event:
        try:
            ev = orjson.loads(line)
            return Event(str(ev["type"]), ev.get("object") or {})
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise TransportError(f"watch {self._path}: undecodable event {line[:200]!r}") from exc

    async def close(self) -> None:
        self._eof = True
        if self._resp is not None:
            self._resp.close()  # drops the connection: the server's watch ends too


# ---- the client -----------------------------------------------------------------------
def _params(**kw: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in kw.items():
        if v is None or v is False or v == "":
            continue
        out[k.rstrip("_")] = "true" if v is True else str(v)
    return out


_IDEMPOTENT = {"GET", "HEAD", "OPTIONS"}


class Client:
    """One API server connection pool. Use as ``async with Client(cfg) as c:``.

    ``timeout`` bounds each ordinary request (not watches); ``max_retries`` and
    ``retry_delay`` govern retries of requests that failed before the server
    acted on them (the delay doubles on each attempt).
    """

    def __init__(self, cfg: configlib.Config, *, user_agent: str = "kubeling", timeout: float = 60.0,
                 max_retries: int = 3, retry_delay: float = 0.2, connection_limit: int = 100) -> None:
        self.config = cfg
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self._connection_limit = connection_limit
        self._headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if cfg.token:
            self._headers["Authorization"] = f"Bearer {cfg.token}"
        self._ssl = cfg.ssl_context()
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_kubeconfig(cls, path: str | None = None, *, context: str | None = None, **kw: Any) -> Client:
        return cls(configlib.load_kubeconfig(path, context=context), **kw)

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector: aiohttp.BaseConnector
            if self.config.unix_socket:
                connector = aiohttp.UnixConnector(path=self.config.unix_socket, limit=self._connection_limit)
            else:
                connector = aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else True,
                                                 limit=self._connection_limit)
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- raw requests ---------------------------------------------------------------
    async def _send(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                    data: bytes | None = None, headers: Mapping[str, str] | None = None,
                    timeout: aiohttp.ClientTimeout | None = None) -> aiohttp.ClientResponse:
        """Send with retries; an open response with status < 400 (the caller releases it)."""
        url = self.config.server + path
        extra: dict[str, Any] = {}
        if self.config.tls_server_name:
            extra["server_hostname"] = self.config.tls_server_name
        if timeout is not None:
            extra["timeout"] = timeout
        delay = self.retry_delay
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                resp = await self.session.request(method, url, params=params, data=data, headers=headers, **extra)
            except (aiohttp.ClientSSLError, aiohttp.InvalidURL) as exc:
                # A certificate or URL problem does not go away by asking again.
                raise TransportError(f"{method} {path}: {exc}") from exc
            except aiohttp.ClientConnectorError as exc:
                # Nothing reached the server: safe to repeat whatever the method.
                if attempt > self.max_retries:
                    raise TransportError(f"{method} {path}: {exc}") from exc
            except (aiohttp.ClientError, TimeoutError) as exc:
                # The server may have acted on it: only repeat what is idempotent.
                if method not in _IDEMPOTENT or attempt > self.max_retries:
                    raise TransportError(f"{method} {path}: {exc!r}") from exc
            else:
                if resp.status < 400:
                    return resp
                try:
                    raw = await resp.read()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    raise TransportError(f"{method} {path}: {exc!r}") from exc
                finally:
                    resp.release()
                err = api_error(resp.status, _status_of(raw, resp.status))
                retry_after = _retry_after(resp.headers.get("Retry-After"))
                if retry_after is None or attempt > self.max_retries or not (
                        resp.status == 429 or resp.status >= 500):
                    raise err
            await asyncio.sleep(min(retry_after, 10.0) if retry_after is not None else delay)
            delay *= 2

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      body: Any = None, content_type: str = "application/json", raw: bool = False) -> Any:
        """Any request: ``body`` (a JSON value, or bytes/str sent as they are) in; the
        decoded JSON answer out (bytes if ``raw``, text if the answer is not JSON)."""
        data: bytes | None
        if body is None:
            data = None
        elif isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = orjson.dumps(body)
        headers = {"Content-Type": content_type} if data is not None else None
        resp = await self._send(method, path, params=params, data=data, headers=headers)
        try:
            payload = await resp.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransportError(f"{method} {path}: {exc!r}") from exc
        finally:
            resp.release()
        if raw:
            return payload
        if not payload:
            return None
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            return payload.decode(errors="replace")

    # ---- verbs ----------------------------------------------------------------------
    async def get(self, ref: ResourceRef, name: str, *, namespace: str | None = None,
                  subresource: str | None = None) -> Obj:
        return await self.request(  # type: ignore[no-any-return]
            "GET", ref.path(namespace=_ns(ref, namespace), name=name, subresource=subresource))

    async def list(self, ref: ResourceRef, *, namespace: str | None = None, label_selector: str | None = None,
                   field_selector: str | None = None, limit: int | None = None, continue_: str | None = None,
                   resource_version: str | None = None, resource_version_match: str | None = None) -> Obj:
        """The List object (``items``, ``metadata.resourceVersion``, ``metadata.continue``).
        ``namespace=None`` lists across all namespaces."""
        params = _params(labelSelector=label_selector, fieldSelector=field_selector, limit=limit,
                         continue_=continue_, resourceVersion=resource_version,
                         resourceVersionMatch=resource_version_match)
        return await self.request("GET", ref.path(namespace=namespace), params=params)  # type: ignore[no-any-return]

    async def create(self, ref: ResourceRef, obj: Obj, *, namespace: str | None = None,
                     subresource: str | None = None, name: str | None = None, dry_run: bool = False,
                     field_manager: str | None = None) -> Obj:
        """POST ``obj``; with ``subresource`` (``binding``, ``eviction``) POST to the
        subresource of ``name`` (default: the object's own name)."""
        md = obj.get("metadata") or {}
        ns = namespace or md.get("namespace")
        path = (ref.path(namespace=_ns(ref, ns), name=name or md.get("name"), subresource=subresource)
                if subresource else ref.path(namespace=_ns(ref, ns)))
        params = _params(dryRun="All" if dry_run else None, fieldManager=field_manager)
        return await self.request("POST", path, params=params, body=obj)  # type: ignore[no-any-return]

    async def update(self, ref: ResourceRef, obj: Obj, *, namespace: str | None = None,
                     subresource: str | None = None, dry_run: bool = False,
                     field_manager: str | None = None) -> Obj:
        """PUT ``obj`` (its ``metadata.resourceVersion``, if set, is the precondition)."""
        md = obj.get("metadata") or {}
        path = ref.path(namespace=_ns(ref, namespace or md.get("namespace")), name=md["name"],
                        subresource=subresource)
        params = _params(dryRun="All" if dry_run else None, fieldManager=field_manager)
        return await self.request("PUT", path, params=params, body=obj)  # type: ignore[no-any-return]

    async def update_status(self, ref: ResourceRef, obj: Obj, *, namespace: str | None = None,
                            field_manager: str | None = None) -> Obj:
        return await self.update(ref, obj, namespace=namespace, subresource="status", field_manager=field_manager)

    async def patch(self, ref: ResourceRef, name: str, patch: Any, *, namespace: str | None = None,
                    patch_type: str = "merge", subresource: str | None = None, dry_run: bool = False,
                    field_manager: str | None = None, force: bool | None = None) -> Obj:
        """``patch_type``: "merge", "strategic", "json" (a list of operations) or
        "apply" (server-side apply; needs ``field_manager``)."""
        if patch_type not in PATCH_TYPES:
            raise ValueError(f"patch_type must be one of {sorted(PATCH_TYPES)}, not {patch_type!r}")
        path = ref.path(namespace=_ns(ref, namespace), name=name, subresource=subresource)
        params = _params(dryRun="All" if dry_run else None, fieldManager=field_manager, force=force)
        return await self.request("PATCH", path, params=params, body=patch,  # type: ignore[no-any-return]
                                  content_type=PATCH_TYPES[patch_type])

    async def delete(self, ref: ResourceRef, name: str, *, namespace: str | None = None,
                     propagation_policy: str | None = None, grace_period_seconds: int | None = None,
                     preconditions: Obj | None = None, dry_run: bool = False) -> Obj:
        """DELETE; the answer is the object (when deletion is deferred) or a Status.
        ``preconditions``: ``{"uid": ..., "resourceVersion": ...}``."""
        body = _delete_options(propagation_policy, grace_period_seconds, preconditions, dry_run)
        return await self.request("DELETE",  # type: ignore[no-any-return]
                                  ref.path(namespace=_ns(ref, namespace), name=name), body=body)

    async def delete_collection(self, ref: ResourceRef, *, namespace: str | None = None,
                                label_selector: str | None = None, field_selector: str | None = None,
                                propagation_policy: str | None = None,
                                grace_period_seconds: int | None = None) -> Obj:
        params = _params(labelSelector=label_selector, fieldSelector=field_selector)
        body = _delete_options(propagation_policy, grace_period_seconds, None, False)
        return await self.request("DELETE", ref.path(namespace=namespace),  # type: ignore[no-any-return]
                                  params=params, body=body)

    def watch(self, ref: ResourceRef, *, namespace: str | None = None, resource_version: str | None = None,
              label_selector: str | None = None, field_selector: str | None = None,
              allow_bookmarks: bool = True, timeout_seconds: int | None = None) -> Watch:
        """A watch from ``resource_version`` (None or "": the current state first, as ADDED events).

        A too-old version ends in 410: either this raises :class:`Gone` or the stream
        carries an ERROR event whose Status has code 410 (``ev.error().gone``)."""
        params = _params(watch=True, resourceVersion=resource_version, labelSelector=label_selector,
                         fieldSelector=field_selector, allowWatchBookmarks=allow_bookmarks,
                         timeoutSeconds=timeout_seconds)
        # No overall limit; a silent connection is given up a while after the
        # server should have ended the watch (it sends bookmarks while idle).
        read = (timeout_seconds + 60) if timeout_seconds else None
        timeout = aiohttp.ClientTimeout(total=None, connect=self.timeout, sock_read=read)
        return Watch(self, ref.path(namespace=namespace), params, timeout)


def _ns(ref: ResourceRef, namespace: str | None) -> str | None:
    if ref.namespaced and not namespace:
        raise ValueError(f"{ref.plural} are namespaced: a namespace is needed")
    return namespace if ref.namespaced else None


def _delete_options(propagation_policy: str | None, grace_period_seconds: int | None,
                    preconditions: Obj | None, dry_run: bool) -> Obj:
    body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1"}
    if propagation_policy:
        body["propagationPolicy"] = propagation_policy
    if grace_period_seconds is not None:
        body["gracePeriodSeconds"] = grace_period_seconds
    if preconditions:
        body["preconditions"] = preconditions
    if dry_run:
        body["dryRun"] = ["All"]
    return body


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None  # an HTTP date: not worth parsing for a retry hint
