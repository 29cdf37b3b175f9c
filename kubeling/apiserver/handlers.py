"""REST verbs over resources: the HTTP face of the generic store.

Every handler returns an aiohttp response or raises ``errors.APIError``; the
server's middleware turns errors into ``Status`` bodies.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from kubeling.api import errors, openapi, pbcodec, registry
from kubeling.apiserver import codec, eviction, listing, routing, store, tables, watch
from kubeling.lib import patch as patchlib
from kubeling.lib import timeutil

Obj = dict[str, Any]

JSON = "application/json"
PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}


def json_response(obj: Any, *, status: int = 200, ctx: store.Context | None = None) -> web.Response:
    resp = web.Response(body=codec.dumps(obj), status=status, content_type=JSON)
    if ctx is not None:
        for w in ctx.warnings:
            resp.headers.add("Warning", f'299 - "{_quote(w)}"')
    return resp


def _quote(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


class Handlers:
    def __init__(self, api: Any) -> None:
        # ``api`` is the APIServer (duck-typed to avoid an import cycle): it owns
        # the stores, backend, cacher and resolver.
        self.api = api

    # ---- entry point -----------------------------------------------------------
    async def handle(self, request: web.Request, route: routing.Route) -> web.StreamResponse:
        method = request.method
        res = route.resource
        st: store.Store = self.api.stores[(res.group, res.version, res.plural)]
        q = request.query
        ctx = store.Context(
            user=request.get("user", ""),
            groups=tuple(request.get("groups", ())),
            dry_run=_dry_run(q),
            subresource=route.subresource,
        )
        if res.namespaced and route.name and not route.namespace:
            raise errors.APIError(404, "NotFound", "the server could not find the requested resource")
        if route.subresource in routing.POD_STREAMING:
            return await self.api.kubelet_proxy.serve(request, route)
        if route.subresource == "scale":
            return await self._scale(request, st, route, ctx)
        if route.subresource in ("binding", "eviction"):
            if method != "POST":
                raise errors.method_not_allowed("the server does not allow this method on the requested resource")
            return await self._pod_action(request, st, route, ctx)
        if method == "GET":
            if route.legacy_watch or _truthy(q.get("watch", "")):
                return await watch.serve(request, self.api, st, route)
            if route.name:
                obj = await st.get(route.namespace, route.name)
                return self._object_response(request, res, obj, ctx)
            return await self._list(request, st, route)
        if method == "POST":
            if route.name:
                raise errors.method_not_allowed("the server does not allow this method on the requested resource")
            obj = await self._body_object(request, res, ctx)
            created = await st.create(ctx, route.namespace, obj)
            return self._object_response(request, res, created, ctx, status=201)
        if method == "PUT":
            if not route.name:
                raise errors.method_not_allowed("the server does not allow this method on the requested resource")
            return await self._update(request, st, route, ctx)
        if method == "PATCH":
            if not route.name:
                raise errors.method_not_allowed("the server does not allow this method on the requested resource")
            return await self._patch(request, st, route, ctx)
        if method == "DELETE":
            if route.name:
                return await self._delete(request, st, route, ctx)
            return await self._delete_collection(request, st, route, ctx)
        raise errors.method_not_allowed(f"the server does not allow the {method} method")

    # ---- responses -------------------------------------------------------------
    def _object_response(
        self, request: web.Request, res: registry.Resource, obj: Obj, ctx: store.Context, *, status: int = 200
    ) -> web.Response:
        tv = tables.wants_table(request.headers.get("Accept", ""))
        if tv:
            include = request.query.get("includeObject", "Metadata")
            return json_response(
                tables.table(res, [obj], version=tv, include=include,
                             resource_version=obj.get("metadata", {}).get("resourceVersion", "")),
                status=status, ctx=ctx,
            )
        return json_response(obj, status=status, ctx=ctx)

    async def _list(self, request: web.Request, st: store.Store, route: routing.Route) -> web.Response:
        res = route.resource
        params = listing.ListParams.from_query(request.query)
        result = await listing.list_objects(res, self.api.backend, self.api.cacher, route.namespace, params)
        items = [st.served(o) for o in result.items]
        tv = tables.wants_table(request.headers.get("Accept", ""))
        if tv:
            include = request.query.get("includeObject", "Metadata")
            return json_response(
                tables.table(res, items, version=tv, include=include,
                             resource_version=str(result.resource_version),
                             continue_=result.continue_, remaining=result.remaining)
            )
        md: Obj = {"resourceVersion": str(result.resource_version)}
        if result.continue_:
            md["continue"] = result.continue_
            if result.remaining is not None:
                md["remainingItemCount"] = result.remaining
        return json_response(
            {"kind": res.list_kind, "apiVersion": res.group_version, "metadata": md, "items": items}
        )

    # ---- bodies ----------------------------------------------------------------
    async def _read_body(self, request: web.Request) -> Any:
        if request.content_length is not None and request.content_length > codec.MAX_BODY:
            raise errors.APIError(413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728")
        body = await read_limited(request)
        return codec.decode_body(body, request.headers.get("Content-Type", JSON))

    async def _body_object(self, request: web.Request, res: registry.Resource, ctx: store.Context) -> Obj:
        ct = request.headers.get("Content-Type", JSON).split(";")[0].strip().lower()
        if ct not in (JSON, "application/yaml", "", "text/yaml", pbcodec.MEDIA_TYPE):
            raise errors.APIError(
                415, "UnsupportedMediaType",
                'the body of the request was in an unknown format - accepted media types include: '
                'application/json, application/yaml, application/vnd.kubernetes.protobuf',
            )
        obj = await self._read_body(request)
        return self._check_object(request, res, obj, ctx)

    def _check_object(self, request: web.Request, res: registry.Resource, obj: Any, ctx: store.Context) -> Obj:
        if not isinstance(obj, dict):
            raise errors.bad_request("the request body must be a JSON object")
        kind = obj.get("kind")
        api_version = obj.get("apiVersion")
        if kind and kind != res.kind:
            raise errors.bad_request(
                f"the kind of the provided object ({kind}) does not match the resource ({res.kind})"
            )
        if api_version and api_version != res.group_version:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({res.group_version})"
            )
        obj["kind"] = res.kind
        obj["apiVersion"] = res.group_version
        self._field_validation(request, res, obj, ctx)
        return obj

    def _field_validation(self, request: web.Request, res: registry.Resource, obj: Obj, ctx: store.Context) -> None:
        mode = request.query.get("fieldValidation", "Warn") or "Warn"
        if mode not in ("Ignore", "Warn", "Strict"):
            raise errors.bad_request(
                f'fieldValidation: Unsupported value: "{mode}": supported values: "Ignore", "Warn", "Strict"'
            )
        if not res.schema or openapi.is_clean(obj, res.schema):
            return
        problems = openapi.type_errors(obj, res.schema)
        if problems:
            # Upstream's JSON decoder stops at the first type mismatch; report that one.
            raise errors.bad_request(f'{res.kind} in version "{res.version}" cannot be handled as a '
                                     f"{res.kind}: {problems[0][1]}")
        unknown = openapi.prune_unknown(obj, res.schema)
        if not unknown:
            return
        msgs = [f'unknown field "{p}"' for p in unknown]
        if mode == "Strict":
            raise errors.bad_request("strict decoding error: " + ", ".join(msgs))
        if mode == "Warn":
            ctx.warnings.extend(msgs)

    # ---- update / patch ----------------------------------------------------------
    async def _update(self, request: web.Request, st: store.Store, route: routing.Route, ctx: store.Context) -> web.Response:
        res = route.resource
        if route.subresource == "finalize":
            return await self._finalize(request, st, route, ctx)
        obj = await self._body_object(request, res, ctx)

        async def mutate(current: Obj) -> Obj:
            if route.subresource == "status":
                # Only status changes; the store copies the rest from the stored object.
                return obj
            return obj

        allow_create = res.kind in ("Lease", "Endpoints") and not route.subresource
        out, created = await st.update(ctx, route.namespace, route.name, mutate, allow_create=allow_create)
        return self._object_response(request, res, out, ctx, status=201 if created else 200)

    async def _patch(self, request: web.Request, st: store.Store, route: routing.Route, ctx: store.Context) -> web.Response:
        res = route.resource
        ct = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        kind = PATCH_TYPES.get(ct)
        if kind is None:
            raise errors.APIError(
                415, "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: "
                + ", ".join(PATCH_TYPES),
            )
        if kind == "apply":
            raise errors.APIError(
                415, "UnsupportedMediaType",
                "server-side apply (application/apply-patch+yaml) is not supported by kubeling yet; "
                "use client-side `kubectl apply` (the default) instead",
            )
        body = await self._read_body(request)
        if kind == "json" and not isinstance(body, list):
            raise errors.bad_request("json patch must be a JSON array of operations")
        if kind != "json" and not isinstance(body, dict):
            raise errors.bad_request("a merge patch must be a JSON object")

        async def mutate(current: Obj) -> Obj:
            try:
                if kind == "json":
                    patched = patchlib.json_patch(current, body)
                elif kind == "merge":
                    patched = patchlib.json_merge_patch(current, body)
                else:
                    patched = patchlib.strategic_merge_patch(current, body, openapi.patch_meta(res.schema))
            except (ValueError, TypeError, KeyError, IndexError) as exc:
                raise errors.APIError(422 if kind == "json" else 400, "Invalid" if kind == "json" else "BadRequest",
                                      f"the server rejected our request due to an error in our request: {exc}") from exc
            if not isinstance(patched, dict):
                raise errors.bad_request("the patch did not produce an object")
            # A resourceVersion in the patch is a precondition; otherwise patches never conflict.
            want = (body.get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
            if not want and kind == "json":
                want = None
            patched.setdefault("metadata", {})
            if want:
                patched["metadata"]["resourceVersion"] = want
            else:
                patched["metadata"].pop("resourceVersion", None)
            return self._check_object(request, res, patched, ctx)

        out, _ = await st.update(ctx, route.namespace, route.name, mutate)
        return self._object_response(request, res, out, ctx)

    async def _finalize(self, request: web.Request, st: store.Store, route: routing.Route, ctx: store.Context) -> web.Response:
        obj = await self._body_object(request, route.resource, ctx)
        finalizers = list((obj.get("spec") or {}).get("finalizers") or [])

        async def mutate(current: Obj) -> Obj:
            current.setdefault("spec", {})["finalizers"] = finalizers
            if not finalizers:
                current["spec"].pop("finalizers")
            current["metadata"].pop("resourceVersion", None)
            return current

        ctx.subresource = "finalize"
        out, _ = await st.update(ctx, "", route.name, mutate)
        await self.api.namespaces.maybe_remove(route.name)
        return json_response(out, ctx=ctx)

    # ---- delete ------------------------------------------------------------------
    async def _delete_options(self, request: web.Request) -> Obj:
        opts: Obj = {}
        if request.can_read_body:
            raw = await read_limited(request)
            if raw.strip():
                body = codec.decode_body(raw, request.headers.get("Content-Type", JSON))
                if not isinstance(body, dict):
                    raise errors.bad_request("DeleteOptions must be a JSON object")
                opts.update(body)
        q = request.query
        if "gracePeriodSeconds" in q:
            try:
                opts["gracePeriodSeconds"] = int(q["gracePeriodSeconds"])
            except ValueError:
                raise errors.bad_request("gracePeriodSeconds must be an integer") from None
        if "propagationPolicy" in q:
            opts["propagationPolicy"] = q["propagationPolicy"]
        if "orphanDependents" in q:
            opts["orphanDependents"] = _truthy(q["orphanDependents"])
        pol = opts.get("propagationPolicy")
        if pol not in (None, "", "Orphan", "Background", "Foreground"):
            raise errors.invalid("DeleteOptions", "", "", [errors.not_supported(
                "propagationPolicy", pol, ["Foreground", "Background", "Orphan"])])
        return opts

    async def _delete(self, request: web.Request, st: store.Store, route: routing.Route, ctx: store.Context) -> web.Response:
        res = route.resource
        if route.subresource:
            raise errors.method_not_allowed("the server does not allow this method on the requested resource")
        opts = await self._delete_options(request)
        if res.kind == "Namespace" and not res.group:
            if route.name in ("default", "kube-system", "kube-public"):
                raise errors.forbidden_error(res.plural, "", route.name,
                                             "this namespace may not be deleted")
            out = await self.api.namespaces.delete(ctx, route.name, opts)
            return json_response(out, ctx=ctx)
        out, deleted = await st.delete(ctx, route.namespace, route.name, opts)
        if deleted and res.kind != "Pod":
            md = out.get("metadata", {})
            return json_response(errors.status_object(200, "", "") | {
                "status": "Success",
                "details": {"name": md.get("name", ""), "group": res.group, "kind": res.plural,
                            "uid": md.get("uid", "")},
            }, ctx=ctx)
        return json_response(out, status=200 if deleted else 202 if _graceful(out) else 200, ctx=ctx)

    async def _delete_collection(self, request: web.Request, st: store.Store, route: routing.Route, ctx: store.Context) -> web.Response:
        res = route.resource
        opts = await self._delete_options(request)
        params = listing.ListParams(
            label_selector=request.query.get("labelSelector", ""),
            field_selector=request.query.get("fieldSelector", ""),
        )
        result = await listing.list_objects(res, self.api.backend, self.api.cacher, route.namespace, params)
        out = []
        for obj in result.items:
            md = obj.get("metadata", {})
            try:
                o, _ = await st.delete(ctx, md.get("namespace", ""), md.get("name", ""), opts)
                out.append(o)
            except errors.APIError as exc:
                if exc.code != 404:
                    raise
        return json_response({"kind": res.list_kind, "apiVersion": res.group_version,
                              "metadata": {"resourceVersion": str(result.resource_version)}, "items": out}, ctx=ctx)

    # ---- subresources --------------------------------------------------------------
    async def _scale(self, request: web.Request, st: store.Store, route: routing.Route, ctx: store.Context) -> web.Response:
        res = route.resource
        spec = res.scale or registry.ScaleSpec()

        def to_scale(obj: Obj) -> Obj:
            md = obj.get("metadata", {})
            sel = spec.selector(obj) if spec.selector else ""
            return {
                "kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                             if k in md},
                "spec": {"replicas": _dig(obj, spec.spec_replicas) or 0},
                "status": {"replicas": _dig(obj, spec.status_replicas) or 0, **({"selector": sel} if sel else {})},
            }

        if request.method == "GET":
            return json_response(to_scale(await st.get(route.namespace, route.name)), ctx=ctx)
        if request.method not in ("PUT", "PATCH"):
            raise errors.method_not_allowed("the server does not allow this method on the requested resource")
        body = await self._read_body(request)
        ct = request.headers.get("Content-Type", JSON).split(";")[0].strip().lower()

        async def mutate(current: Obj) -> Obj:
            scale = to_scale(current)
            if request.method == "PUT":
                new_scale = body
            elif PATCH_TYPES.get(ct) == "json":
                new_scale = patchlib.json_patch(scale, body)
            else:
                new_scale = patchlib.json_merge_patch(scale, body)
            if not isinstance(new_scale, dict):
                raise errors.bad_request("the request body must be a Scale object")
            replicas = (new_scale.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise errors.invalid("Scale", "autoscaling", route.name, [
                    errors.invalid_value("spec.replicas", replicas, "must be greater than or equal to 0")])
            want = (new_scale.get("metadata") or {}).get("resourceVersion")
            if want and request.method == "PUT":
                current["metadata"]["resourceVersion"] = want
            else:
                current["metadata"].pop("resourceVersion", None)
            node = current
            for k in spec.spec_replicas[:-1]:
                node = node.setdefault(k, {})
            node[spec.spec_replicas[-1]] = replicas
            return current

        ctx.subresource = ""
        out, _ = await st.update(ctx, route.namespace, route.name, mutate)
        return json_response(to_scale(out), ctx=ctx)

    async def _pod_action(self, request: web.Request, st: store.Store, route: routing.Route, ctx: store.Context) -> web.Response:
        body = await self._read_body(request)
        if not isinstance(body, dict):
            raise errors.bad_request("the request body must be a JSON object")
        if route.subresource == "binding":
            target = body.get("target") or {}
            node = target.get("name")
            if not node:
                raise errors.invalid("Binding", "", route.name, [errors.required("target.name")])

            async def bind(current: Obj) -> Obj:
                if current.get("metadata", {}).get("deletionTimestamp"):
                    raise errors.conflict("pods", "", route.name, "pod is being deleted, cannot be assigned to a host")
                if (current.get("spec") or {}).get("nodeName"):
                    raise errors.conflict("pods/binding", "", route.name,
                                          f'pod {route.name} is already assigned to node "{current["spec"]["nodeName"]}"')
                current["spec"]["nodeName"] = node
                conds = [c for c in (current.setdefault("status", {}).get("conditions") or [])
                         if c.get("type") != "PodScheduled"]
                conds.append({"type": "PodScheduled", "status": "True",
                              "lastTransitionTime": timeutil.rfc3339(), "lastProbeTime": None})
                current["status"]["conditions"] = conds
                current["metadata"].pop("resourceVersion", None)
                return current

            ctx.subresource = "binding"
            await st.update(ctx, route.namespace, route.name, bind)
            return json_response(errors.status_object(201, "", "") | {"status": "Success"}, status=201)
        # eviction: a delete that asks the pod's disruption budget first.
        await eviction.evict(self.api, ctx, route.namespace, route.name, body)
        return json_response(errors.status_object(201, "", "") | {"status": "Success"}, status=201)


async def read_limited(request: web.Request) -> bytes:
    """The whole body, or 413 as soon as it passes the 3 MiB limit."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > codec.MAX_BODY:
            raise errors.APIError(413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728")
        chunks.append(chunk)


def _dig(obj: Obj, path: tuple[str, ...]) -> Any:
    node: Any = obj
    for k in path:
        if not isinstance(node, dict):
            return None
        node = node.get(k)
    return node


def _truthy(v: str) -> bool:
    return v.lower() in ("1", "true", "yes")


def _dry_run(q: Any) -> bool:
    values = q.getall("dryRun", [])
    for v in values:
        if v != "All":
            raise errors.bad_request(f'dryRun: Unsupported value: "{v}": supported values: "All"')
    return bool(values)


def _graceful(obj: Obj) -> bool:
    return bool(obj.get("metadata", {}).get("deletionTimestamp"))
