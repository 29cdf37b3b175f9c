"""The API server: composes storage, watch cache, stores, admission and HTTP.

``APIServer.start()`` opens the store, fills the watch cache, creates the
built-in namespaces and the ``kubernetes`` Service, starts HTTPS and writes the
admin kubeconfig; ``ready`` is set when all of that is done.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import logging
import os
import pathlib
import socket
import time
from typing import Any

from aiohttp import web

import kubeling
from kubeling.api import errors, openapi, registry, resources
from kubeling.apiserver import (
    admission,
    admission_pod,
    admission_priority,
    admission_runtimeclass,
    codec,
    discovery,
    handlers,
    metrics,
    metricsapi,
    namespaces,
    proxy,
    quota,
    routing,
    store,
    watchcache,
)
from kubeling.lib import hostaddr, jointoken, pki
from kubeling.storage import interface as storage
from kubeling.storage import sqlite

log = logging.getLogger("kubeling.apiserver")
Obj = dict[str, Any]

PUBLIC_PATHS = ("/healthz", "/livez", "/readyz", "/version", "/cacerts")
AGG_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGG_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"


@dataclasses.dataclass
class Options:
    data_dir: pathlib.Path
    https_port: int = 6443
    bind_address: str = "0.0.0.0"
    advertise_address: str = "127.0.0.1"
    compact_interval: float = 60.0
    keep_revisions: int = 1000
    watch_history: int = 10000
    datastore_endpoint: str = ""  # etcd endpoints; empty = the embedded SQLite store
    # A root-only Unix socket for the components running in this process
    # (controllers, scheduler, agent): they still speak the HTTP API, without
    # paying for TLS on every request. Peers on it are cluster admins.
    unix_socket: pathlib.Path | None = None
    # tolerationSeconds given to pods for the not-ready/unreachable taints (DefaultTolerationSeconds).
    default_toleration_seconds: int = 300


def _open_backend(options: Options) -> storage.Backend:
    if options.datastore_endpoint:
        from kubeling.storage import etcd  # optional dependency (the `etcd` extra)

        return etcd.Backend(options.datastore_endpoint, compact_interval=options.compact_interval,
                            keep_revisions=options.keep_revisions)
    return sqlite.Backend(str(options.data_dir / "state.db"), compact_interval=options.compact_interval,
                          keep_revisions=options.keep_revisions)


def _endpoint_address(advertise: str) -> str:
    """An address clients in pods can reach (never loopback)."""
    return hostaddr.reachable_address(advertise)


def host_addresses() -> list[str]:
    return hostaddr.host_addresses()


class APIServer:
    def __init__(self, options: Options, *, backend: storage.Backend | None = None) -> None:
        self.options = options
        self.metrics = metrics.Metrics()
        options.data_dir.mkdir(parents=True, exist_ok=True)
        raw_backend = backend or _open_backend(options)
        self.raw_backend = raw_backend
        self.backend: Any = metrics.TimedBackend(raw_backend, self.metrics)
        self.cacher = watchcache.Cacher(raw_backend, history=options.watch_history)
        self.resources: list[registry.Resource] = resources.all_resources()
        self.resolver = routing.Resolver(self.resources)
        self.discovery = discovery.Discovery(self.resources)
        self.service_ips = admission.ServiceIPs()
        plugins: list[Any] = [admission.NamespaceLifecycle(self), self.service_ips,
                              admission_priority.Priority(self),
                              admission_pod.LimitRanger(self), admission_pod.ServiceAccount(),
                              admission_pod.DefaultTolerationSeconds(options.default_toleration_seconds),
                              admission_runtimeclass.RuntimeClass(self), quota.ResourceQuota(self)]
        self.stores: dict[tuple[str, str, str], store.Store] = {
            (r.group, r.version, r.plural): store.Store(r, self.backend, admission=plugins) for r in self.resources
        }
        self.handlers = handlers.Handlers(self)
        self.kubelet_proxy = proxy.KubeletProxy(self)
        self.metrics_api = metricsapi.MetricsAPI(self)
        self.namespaces = namespaces.NamespaceDeleter(self)
        self.ready = asyncio.Event()
        self.port = 0
        self.pki: pki.PKI | None = None
        self.join_token: jointoken.Token | None = None
        self._runner: web.AppRunner | None = None
        self._agg_cache: dict[tuple[bool, str], bytes] = {}

    # ---- lifecycle -----------------------------------------------------------------
    async def start(self) -> None:
        t0 = time.perf_counter()
        opts = self.options
        self.pki = pki.ensure_pki(opts.data_dir, hosts=host_addresses() + [socket.gethostname()])
        self.join_token = jointoken.ensure(opts.data_dir / "token", self.pki.ca_pem())
        await self.raw_backend.start()
        await self.cacher.start()
        services, _ = self.cacher.resource("/registry/core/services/").list("")
        self.service_ips.load([s.obj for s in services])
        await self._bootstrap()
        await self.namespaces.resume()
        # One catch-all route and no aiohttp middleware: _serve does routing,
        # auth, errors and metrics itself, which keeps the per-request cost down.
        app = web.Application(client_max_size=codec.MAX_BODY + 1)
        app.router.add_route("*", "/{tail:.*}", self._serve)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, opts.bind_address, opts.https_port,
                           ssl_context=self.pki.server_ssl_context(), reuse_address=True)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else opts.https_port
        if opts.unix_socket is not None:
            opts.unix_socket.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            opts.unix_socket.unlink(missing_ok=True)
            # Made under a 0077 umask so no other user can connect before the chmod.
            old_umask = os.umask(0o077)
            try:
                await web.UnixSite(self._runner, str(opts.unix_socket)).start()
            finally:
                os.umask(old_umask)
            os.chmod(opts.unix_socket, 0o600)
        await self._publish_endpoints(store.Context(user="system:apiserver"))
        pki.write_kubeconfig(opts.data_dir / "kubeconfig", server=self.url, pki=self.pki)
        self.ready.set()
        log.info("kubeling API server ready on %s in %.0f ms (kubeconfig: %s)", self.url,
                 (time.perf_counter() - t0) * 1000, opts.data_dir / "kubeconfig")

    @property
    def url(self) -> str:
        host = self.options.advertise_address
        if ":" in host:
            host = f"[{host}]"
        return f"https://{host}:{self.port}"

    async def stop(self) -> None:
        await self.namespaces.stop()
        await self.kubelet_proxy.close()
        if self._runner is not None:
            await self._runner.cleanup()
        await self.cacher.stop()
        await self.raw_backend.close()

    async def _bootstrap(self) -> None:
        ctx = store.Context(user="system:apiserver")
        ns_store = self.stores[("", "v1", "namespaces")]
        for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
            if await self.backend.get(ns_store.res.key("", name)) is None:
                try:
                    await ns_store.create(ctx, "", {"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": name}})
                except errors.APIError as exc:
                    if exc.code != 409:
                        raise
        pc_store = self.stores[("scheduling.k8s.io", "v1", "priorityclasses")]
        for pc in admission_priority.bootstrap_objects():
            if await self.backend.get(pc_store.res.key("", pc["metadata"]["name"])) is None:
                try:
                    await pc_store.create(ctx, "", pc)
                except errors.APIError as exc:
                    if exc.code != 409:
                        raise

    async def _publish_endpoints(self, ctx: store.Context) -> None:
        """The `kubernetes` Service's Endpoints and EndpointSlice point at this API
        server, as upstream's apiserver keeps them (refreshed at every start:
        the port may change)."""
        ip = _endpoint_address(self.options.advertise_address)
        port = self.port or self.options.https_port
        family = "IPv6" if ":" in ip else "IPv4"
        wanted = [
            (("", "v1", "services"), {
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kubernetes", "namespace": "default",
                             "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"type": "ClusterIP", "clusterIP": "10.43.0.1", "clusterIPs": ["10.43.0.1"],
                         "sessionAffinity": "None",
                         "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]}}),
            (("", "v1", "endpoints"), {
                "apiVersion": "v1", "kind": "Endpoints",
                "metadata": {"name": "kubernetes", "namespace": "default",
                             "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                "subsets": [{"addresses": [{"ip": ip}],
                             "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}]}),
            (("discovery.k8s.io", "v1", "endpointslices"), {
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": "kubernetes", "namespace": "default",
                             "labels": {"kubernetes.io/service-name": "kubernetes"}},
                "addressType": family,
                "endpoints": [{"addresses": [ip], "conditions": {"ready": True}}],
                "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}),
        ]
        if not ip:  # only loopback here: Endpoints may not point at loopback addresses
            wanted = wanted[:1]
        for gvr, obj in wanted:
            st = self.stores[gvr]

            async def replace(current: Obj, obj: Obj = obj) -> Obj:
                new = codec.deep_copy(obj)
                if current:
                    new["metadata"] = {**current["metadata"], **new["metadata"]}
                    new["metadata"].pop("resourceVersion", None)
                return new

            await st.update(ctx, "default", "kubernetes", replace, allow_create=True)

    # ---- HTTP --------------------------------------------------------------------
    async def _serve(self, request: web.Request) -> web.StreamResponse:
        t0 = time.perf_counter()
        verb, group, resource, sub = request.method.lower(), "", "", ""
        code = 500
        try:
            self._authenticate(request)
            resp = await self._dispatch(request)
            code = resp.status
            route = request.get("route")
            if route is not None:
                group, resource, sub = route.resource.group, route.resource.plural, route.subresource
                verb = request.get("verb", verb)
            return resp
        except errors.APIError as exc:
            code = exc.code
            resp = web.Response(body=codec.dumps(exc.status()), status=exc.code, content_type="application/json")
            if exc.retry_after:
                resp.headers["Retry-After"] = str(exc.retry_after)
            return resp
        except web.HTTPException:
            raise
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as exc:  # never crash on a request: answer 500 with a Status
            log.exception("internal error serving %s %s", request.method, request.path)
            err = errors.internal(str(exc) or exc.__class__.__name__)
            return web.Response(body=codec.dumps(err.status()), status=500, content_type="application/json")
        finally:
            if resource:
                self.metrics.observe_request(verb, group, resource, sub, code, time.perf_counter() - t0)

    def _authenticate(self, request: web.Request) -> None:
        assert self.pki is not None
        authz = request.headers.get("Authorization", "")
        if authz.startswith("Bearer "):
            token = authz[7:].strip()
            if self.pki.check_token(token):
                request["user"], request["groups"] = "system:admin", ["system:masters", "system:authenticated"]
                return
            if self.join_token is not None and hmac.compare_digest(token.encode(), self.join_token.secret.encode()):
                # Agents joined with the node token (bootstrap tokens come with the security issue).
                request["user"], request["groups"] = "kubeling:agent", ["system:nodes", "system:authenticated"]
                return
            raise errors.APIError(401, "Unauthorized", "Unauthorized")
        transport = request.transport
        ssl_obj = transport.get_extra_info("ssl_object") if transport else None
        if ssl_obj is None and transport is not None and \
                transport.get_extra_info("socket").family == socket.AF_UNIX:
            # Only root can open the socket (mode 0600 in a 0700 directory).
            request["user"], request["groups"] = "system:admin", ["system:masters", "system:authenticated"]
            return
        ident = pki.peer_identity(ssl_obj) if ssl_obj is not None else None
        if ident is not None:
            request["user"], request["groups"] = ident[0], list(ident[1]) + ["system:authenticated"]
            return
        if request.path.rstrip("/") in PUBLIC_PATHS or request.path.startswith(("/healthz/", "/livez/", "/readyz/")):
            request["user"], request["groups"] = "system:anonymous", ["system:unauthenticated"]
            return
        raise errors.APIError(401, "Unauthorized", "Unauthorized")

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path == metricsapi.PREFIX or path.startswith(metricsapi.PREFIX + "/"):
            return await self.metrics_api.serve(request)
        route = self.resolver.resolve(path)
        if route is not None:
            request["route"] = route
            request["verb"] = _verb(request, route)
            return await self.handlers.handle(request, route)
        if path == proxy.SERVING_CERT_PATH:
            return await self.kubelet_proxy.serve_cert(request)
        return await self._non_resource(request, path.rstrip("/") or "/")

    async def _non_resource(self, request: web.Request, path: str) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            raise errors.method_not_allowed("the server does not allow this method on the requested resource")
        if path in ("/healthz", "/livez", "/readyz") or path.startswith(("/healthz/", "/livez/", "/readyz/")):
            ok = self.ready.is_set() or not path.startswith("/readyz")
            if "verbose" in request.query:
                body = f"[+]ping ok\n[+]etcd ok\n[{'+' if ok else '-'}]informer-sync ok\n" + (
                    f"{path[1:]} check passed\n" if ok else f"{path[1:]} check failed\n")
                return web.Response(text=body, status=200 if ok else 500)
            return web.Response(text="ok" if ok else "not ready", status=200 if ok else 500)
        if path == "/version":
            major, minor = kubeling.KUBE_VERSION.lstrip("v").split(".")[:2]
            return handlers.json_response({
                "major": major, "minor": minor, "gitVersion": f"{kubeling.KUBE_VERSION}+kubeling{kubeling.__version__}",
                "gitCommit": "", "gitTreeState": "clean", "buildDate": "", "goVersion": "python",
                "compiler": "cpython", "platform": "linux/amd64",
            })
        if path == "/cacerts":
            # Public: an agent checks it against the CA hash in its join token.
            assert self.pki is not None
            return web.Response(body=self.pki.ca_pem(), content_type="application/x-pem-file")
        if path == "/metrics":
            return web.Response(body=self.metrics.render(), content_type="text/plain", charset="utf-8")
        if path in ("/api", "/apis"):
            accept = request.headers.get("Accept", "")
            agg = _aggregated_version(accept)
            if agg:
                key = (path == "/api", agg)
                if key not in self._agg_cache:
                    self._agg_cache[key] = codec.dumps(self.discovery.aggregated(core=path == "/api", version=agg))
                ct = AGG_V2 if agg == "v2" else AGG_V2BETA1
                resp = web.Response(body=self._agg_cache[key], headers={"Content-Type": ct})
                resp.headers["Vary"] = "Accept"
                return resp
            if path == "/api":
                return handlers.json_response(self.discovery.api_versions(f"{self.options.advertise_address}:{self.port}"))
            return handlers.json_response(self.discovery.api_group_list())
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) == 2:
            doc = self.discovery.resource_list("", parts[1])
            if doc:
                return handlers.json_response(doc)
        if parts[0] == "apis" and len(parts) == 2 and parts[1] in self.discovery.groups:
            return handlers.json_response(self.discovery.api_group(parts[1]))
        if parts[0] == "apis" and len(parts) == 3:
            doc = self.discovery.resource_list(parts[1], parts[2])
            if doc:
                return handlers.json_response(doc)
        if path == "/openapi/v2":
            if "protobuf" in request.headers.get("Accept", ""):
                # kubectl 1.27/1.28 only read the v2 document as protobuf.
                served = openapi.v2_served_protobuf(self.resources)
                return _cached(request, served.body, served.etag, content_type=openapi.V2_PROTOBUF)
            served = openapi.v2_served(self.resources)
            return _cached(request, served.body, served.etag)
        if path == "/openapi/v3":
            return handlers.json_response(openapi.v3_index(self.resources))
        if path.startswith("/openapi/v3/"):
            gv = openapi.gv_of_path(path[len("/openapi/v3/"):])
            try:
                served = openapi.v3_served(gv, self.resources)
            except KeyError:
                raise errors.APIError(404, "NotFound", "the server could not find the requested resource") from None
            return _cached(request, served.body, served.etag)
        raise errors.APIError(404, "NotFound", "the server could not find the requested resource")

    # ---- helpers for handlers ------------------------------------------------------


def _cached(request: web.Request, body: bytes, etag: str, *, content_type: str = "application/json") -> web.Response:
    quoted = etag if etag.startswith('"') else f'"{etag}"'
    if request.headers.get("If-None-Match") == quoted:
        return web.Response(status=304, headers={"ETag": quoted})
    return web.Response(body=body, headers={"Content-Type": content_type,
        "ETag": quoted, "Cache-Control": "public, immutable" if "hash" in request.query else "no-cache, private"})


def _aggregated_version(accept: str) -> str:
    for part in accept.split(","):
        p = part.replace(" ", "")
        if "g=apidiscovery.k8s.io" in p and "as=APIGroupDiscoveryList" in p:
            if "v=v2beta1" in p:
                return "v2beta1"
            if "v=v2" in p:
                return "v2"
    return ""


def _verb(request: web.Request, route: routing.Route) -> str:
    m = request.method
    if m == "GET":
        if route.legacy_watch or request.query.get("watch") in ("true", "1"):
            return "watch"
        return "get" if route.name else "list"
    return {"POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete" if route.name else "deletecollection"}.get(m, m.lower())
