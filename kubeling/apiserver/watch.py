"""Watch streams: newline-delimited ``{"type": ..., "object": ...}`` events.

Served from the watch cache. A watch from resourceVersion unset/"0" first
sends the current objects as ADDED; from N it replays what happened after N,
or sends one ERROR event with a 410 ``Status`` when N is too old. Selector
filters are applied per event with transitions, as upstream: an object that
stops matching is sent as DELETED, one that starts matching as ADDED.
With ``allowWatchBookmarks`` idle streams get BOOKMARK events.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from aiohttp import web

from kubeling.api import errors, registry
from kubeling.apiserver import codec, listing, routing, store, tables, watchcache

Obj = dict[str, Any]

BOOKMARK_INTERVAL = 5.0  # seconds of idleness before a bookmark (upstream: ~1 minute)


class _Stream:
    def __init__(self, resp: web.StreamResponse, res: registry.Resource, st: store.Store, table_version: str,
                 include: str) -> None:
        self.resp = resp
        self.res = res
        self.st = st
        self.table_version = table_version
        self.include = include
        self.headers_sent = False

    async def send(self, type_: str, obj: Obj) -> None:
        if self.table_version and type_ not in ("ERROR", "BOOKMARK"):
            obj = tables.table(self.res, [obj], version=self.table_version, include=self.include,
                               resource_version=obj.get("metadata", {}).get("resourceVersion", ""),
                               headers=not self.headers_sent)
            self.headers_sent = True
        await self.resp.write(codec.dumps({"type": type_, "object": obj}) + b"\n")


async def serve(request: web.Request, api: Any, st: store.Store, route: routing.Route) -> web.StreamResponse:
    res = route.resource
    q = request.query
    pred = listing.make_predicate(res, q.get("labelSelector", ""), q.get("fieldSelector", ""))
    rv_s = q.get("resourceVersion", "")
    send_initial = q.get("sendInitialEvents", "") == "true"
    bookmarks = q.get("allowWatchBookmarks", "") == "true"
    timeout_s = q.get("timeoutSeconds", "")
    try:
        timeout = float(timeout_s) if timeout_s else 1800 + random.random() * 1800
    except ValueError:
        raise errors.bad_request("timeoutSeconds must be a number") from None
    if send_initial and q.get("resourceVersionMatch", "") != "NotOlderThan":
        raise errors.invalid("ListOptions", "meta.k8s.io", "", [errors.forbidden(
            "resourceVersionMatch", "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")])
    cache = api.cacher.resource(res.storage_prefix)
    name = route.name or listing.exact_name(q.get("fieldSelector", ""))
    prefix = res.storage_prefix + (f"{route.namespace}/" if route.namespace and res.namespaced else "")
    exact_key = res.key(route.namespace, name) if name and (route.namespace or not res.namespaced) else ""

    initial: list[Obj] = []
    if rv_s in ("", "0") or send_initial:
        if rv_s not in ("", "0"):
            await api.cacher.wait_for_revision(listing.parse_rv(rv_s), timeout=3.0)
        elif rv_s == "" and send_initial:
            await api.cacher.wait_for_revision(await api.backend.current_revision(), timeout=3.0)
        objs, start = cache.list(exact_key or prefix)
        if exact_key:
            objs = [o for o in objs if o.key == exact_key]
        initial = [o.obj for o in objs if pred is None or pred(o.obj)]
    else:
        start = listing.parse_rv(rv_s)

    tv = tables.wants_table(request.headers.get("Accept", ""))
    resp = web.StreamResponse(status=200)
    resp.content_type = "application/json"
    resp.headers["Transfer-Encoding"] = "chunked"
    resp.headers["Cache-Control"] = "no-cache, private"
    await resp.prepare(request)
    stream = _Stream(resp, res, st, tv, q.get("includeObject", "Metadata"))
    api.metrics.watchers.labels(resource=res.plural).inc()
    watcher: watchcache.Watcher | None = None
    try:
        try:
            watcher = cache.watch(revision=start, key_prefix="" if exact_key else prefix, exact_key=exact_key)
        except watchcache.TooOldError as exc:
            await stream.send("ERROR", errors.status_object(
                410, "Expired", f"too old resource version: {start} ({getattr(exc, 'oldest', start)})"))
            return resp
        for obj in initial:
            await stream.send("ADDED", st.served(obj))
        if send_initial:
            await stream.send("BOOKMARK", _bookmark(res, start, initial_end=True))
        last_rev = start
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                ev = await watcher.next(timeout=min(BOOKMARK_INTERVAL, remaining))
            except watchcache.TooOldError as exc:
                await stream.send("ERROR", errors.status_object(
                    410, "Expired", f"too old resource version: {last_rev} ({getattr(exc, 'oldest', last_rev)})"))
                break
            if ev is None:
                if bookmarks and remaining > BOOKMARK_INTERVAL / 2:
                    await stream.send("BOOKMARK", _bookmark(res, last_rev))
                continue
            last_rev = ev.revision
            await _deliver(stream, st, pred, ev)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        if watcher is not None:
            watcher.close()
        api.metrics.watchers.labels(resource=res.plural).dec()
    return resp


async def _deliver(stream: _Stream, st: store.Store, pred: listing.Predicate | None, ev: watchcache.WatchEvent) -> None:
    obj = ev.obj.obj
    if pred is None:
        await stream.send(ev.type, st.served(obj))
        return
    now = pred(obj)
    if ev.type == "ADDED":
        if now:
            await stream.send("ADDED", st.served(obj))
    elif ev.type == "DELETED":
        if now:
            await stream.send("DELETED", st.served(obj))
    else:
        before = ev.prev is not None and pred(ev.prev.obj)
        if now and before:
            await stream.send("MODIFIED", st.served(obj))
        elif now:
            await stream.send("ADDED", st.served(obj))
        elif before:
            await stream.send("DELETED", st.served(obj))


def _bookmark(res: registry.Resource, revision: int, *, initial_end: bool = False) -> Obj:
    md: Obj = {"resourceVersion": str(revision)}
    if initial_end:
        md["annotations"] = {"k8s.io/initial-events-end": "true"}
    return {"kind": res.kind, "apiVersion": res.group_version, "metadata": md}
