"""A small in-memory Kubernetes API for client tests, speaking the real wire format.

Lists are ``{"kind": "<Kind>List", "metadata": {"resourceVersion", "continue"}, "items"}``,
watches stream one ``{"type", "object"}`` JSON document per line (BOOKMARKs
included when asked for), errors are ``Status`` objects. Knobs let tests
compact history (too-old resourceVersions answer 410), end open watches,
inject failures, and inspect the requests made.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from kubeling.lib import labels, patch

Obj = dict[str, Any]

# plural -> (kind, apiVersion, namespaced)
KINDS = {"configmaps": ("ConfigMap", "v1", True), "nodes": ("Node", "v1", False),
         "deployments": ("Deployment", "apps/v1", True)}


def status(code: int, reason: str, message: str) -> Obj:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def error(code: int, reason: str, message: str, **headers: str) -> web.Response:
    return web.Response(status=code, body=orjson.dumps(status(code, reason, message)),
                        content_type="application/json", headers=headers)


@dataclasses.dataclass
class Event:
    rev: int
    type: str
    plural: str
    obj: Obj


class FakeAPI:
    def __init__(self, *, bookmark_interval: float = 0.05, gone_as_http: bool = False) -> None:
        self.rev = 100
        self.objects: dict[str, dict[str, Obj]] = {p: {} for p in KINDS}
        self.log: list[Event] = []
        self.compacted = 0  # watches from below this revision answer 410
        self.bookmark_interval = bookmark_interval
        self.gone_as_http = gone_as_http  # 410 as an HTTP error instead of an ERROR event
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.headers: list[dict[str, str]] = []
        self.failures: list[web.Response] = []  # answered, in order, instead of the next requests
        self.watchers: set[asyncio.Queue[Event | None]] = set()
        self.watch_count = 0
        self.url = ""  # set by whoever serves the app
        self.hooks: list[Callable[[web.Request], None]] = []  # run before each request is answered
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.handle)

    # ---- state changes tests make directly ------------------------------------------
    def _bump(self, obj: Obj) -> None:
        self.rev += 1
        obj["metadata"]["resourceVersion"] = str(self.rev)

    def _record(self, etype: str, plural: str, obj: Obj) -> None:
        ev = Event(self.rev, etype, plural, copy.deepcopy(obj))
        self.log.append(ev)
        for q in self.watchers:
            q.put_nowait(ev)

    def put(self, plural: str, obj: Obj) -> Obj:
        kind, api_version, namespaced = KINDS[plural]
        obj = copy.deepcopy(obj)
        obj.setdefault("kind", kind)
        obj.setdefault("apiVersion", api_version)
        md = obj.setdefault("metadata", {})
        if namespaced:
            md.setdefault("namespace", "default")
        key = self.key(plural, md.get("namespace"), md["name"])
        existed = key in self.objects[plural]
        md.setdefault("uid", f"uid-{md['name']}")
        self._bump(obj)
        self.objects[plural][key] = obj
        self._record("MODIFIED" if existed else "ADDED", plural, obj)
        return obj

    def remove(self, plural: str, key: str) -> Obj:
        obj = self.objects[plural].pop(key)
        obj = copy.deepcopy(obj)
        self._bump(obj)
        self._record("DELETED", plural, obj)
        return obj

    def compact(self) -> None:
        """Forget history: any watch or continue token from before now gets 410."""
        self.compacted = self.rev
        self.log.clear()

    def end_watches(self) -> None:
        for q in list(self.watchers):
            q.put_nowait(None)

    def send_raw(self, etype: str, obj: Obj) -> None:
        """Push an event of any type (e.g. ERROR) to every open watch."""
        for q in self.watchers:
            q.put_nowait(Event(self.rev, etype, "*", obj))

    @staticmethod
    def key(plural: str, namespace: str | None, name: str) -> str:
        return f"{namespace}/{name}" if KINDS[plural][2] else name

    # ---- HTTP -----------------------------------------------------------------------
    def _parse(self, path: str) -> tuple[str, str | None, str | None, str | None]:
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["api"]:
            parts = parts[2:]
        elif parts[:1] == ["apis"]:
            parts = parts[3:]
        ns = None
        if len(parts) >= 2 and parts[0] == "namespaces" and parts[2:]:
            ns, parts = parts[1], parts[2:]
        plural = parts[0]
        name = parts[1] if len(parts) > 1 else None
        sub = parts[2] if len(parts) > 2 else None
        return plural, ns, name, sub

    async def handle(self, request: web.Request) -> web.StreamResponse:
        q = dict(request.query)
        self.requests.append((request.method, request.path, q))
        self.headers.append(dict(request.headers))
        for hook in list(self.hooks):
            hook(request)
        if self.failures:
            return self.failures.pop(0)
        plural, ns, name, sub = self._parse(request.path)
        if plural not in KINDS:
            return error(404, "NotFound", f"the server could not find the requested resource ({plural})")
        if request.method == "GET" and name is None:
            if q.get("watch") in ("true", "1"):
                return await self.serve_watch(request, plural, ns, q)
            return self.serve_list(plural, ns, q)
        body: Any = orjson.loads(await request.read()) if request.can_read_body else None
        key = self.key(plural, ns, name) if name else None
        cur = self.objects[plural].get(key) if key else None
        if request.method == "POST":
            md = body.setdefault("metadata", {})
            if ns:
                md["namespace"] = ns
            if self.key(plural, ns, md["name"]) in self.objects[plural]:
                return error(409, "AlreadyExists", f'{plural} "{md["name"]}" already exists')
            if q.get("dryRun"):
                return web.json_response(body, status=201)
            return web.json_response(self.put(plural, body), status=201)
        if cur is None:
            return error(404, "NotFound", f'{plural} "{name}" not found')
        if request.method == "GET":
            return web.json_response(cur)
        if request.method == "PUT":
            if body["metadata"].get("resourceVersion") not in (None, cur["metadata"]["resourceVersion"]):
                return error(409, "Conflict", f'Operation cannot be fulfilled on {plural} "{name}": '
                             "the object has been modified; please apply your changes to the latest version "
                             "and try again")
            new = copy.deepcopy(cur)
            if sub == "status":
                new["status"] = body.get("status")
            else:
                new.update({k: v for k, v in body.items() if k != "status"})
            new["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
            return web.json_response(self.put(plural, new))
        if request.method == "PATCH":
            if request.content_type != "application/merge-patch+json":
                return error(415, "UnsupportedMediaType", f"unsupported patch type {request.content_type}")
            return web.json_response(self.put(plural, patch.json_merge_patch(cur, body)))
        if request.method == "DELETE":
            pre = (body or {}).get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != cur["metadata"]["uid"]:
                return error(409, "Conflict", "Precondition failed: UID in precondition does not match")
            return web.json_response(self.remove(plural, key))  # type: ignore[arg-type]
        return error(405, "MethodNotAllowed", f"{request.method} is not supported")

    def _matching(self, plural: str, ns: str | None, q: dict[str, str]) -> list[Obj]:
        sel = labels.parse(q.get("labelSelector", ""))
        out = []
        for key in sorted(self.objects[plural]):
            obj = self.objects[plural][key]
            if ns and obj["metadata"].get("namespace") != ns:
                continue
            if sel.matches(obj["metadata"].get("labels")):
                out.append(obj)
        return out

    def serve_list(self, plural: str, ns: str | None, q: dict[str, str]) -> web.Response:
        kind, api_version, _ = KINDS[plural]
        items = self._matching(plural, ns, q)
        rv = self.rev
        cont = q.get("continue")
        if cont:
            tok = orjson.loads(base64.urlsafe_b64decode(cont))
            if tok["rv"] < self.compacted:
                return error(410, "Expired", "The provided continue parameter is too old to display a "
                             "consistent list result. You can start a new list without the continue parameter.")
            rv = tok["rv"]
            items = [o for o in items if self._item_key(plural, o) > tok["start"]]
        md: Obj = {"resourceVersion": str(rv)}
        limit = int(q.get("limit") or 0)
        if limit and len(items) > limit:
            items = items[:limit]
            md["continue"] = base64.urlsafe_b64encode(orjson.dumps(
                {"rv": rv, "start": self._item_key(plural, items[-1])})).decode()
        # Real list items carry no kind/apiVersion: the List does.
        served = [{k: v for k, v in copy.deepcopy(o).items() if k not in ("kind", "apiVersion")} for o in items]
        return web.json_response({"kind": f"{kind}List", "apiVersion": api_version, "metadata": md,
                                  "items": served})

    def _item_key(self, plural: str, obj: Obj) -> str:
        return self.key(plural, obj["metadata"].get("namespace"), obj["metadata"]["name"])

    async def serve_watch(self, request: web.Request, plural: str, ns: str | None, q: dict[str, str]) -> web.StreamResponse:
        rv = q.get("resourceVersion", "")
        kind, api_version, _ = KINDS[plural]
        too_old = rv not in ("", "0") and int(rv) < self.compacted
        if too_old and self.gone_as_http:
            return error(410, "Expired", f"too old resource version: {rv} ({self.compacted})")
        self.watch_count += 1
        resp = web.StreamResponse()
        resp.content_type = "application/json"
        await resp.prepare(request)

        async def send(etype: str, obj: Obj) -> None:
            await resp.write(orjson.dumps({"type": etype, "object": obj}) + b"\n")

        if too_old:
            await send("ERROR", status(410, "Expired", f"too old resource version: {rv} ({self.compacted})"))
            return resp
        queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self.watchers.add(queue)
        sel = labels.parse(q.get("labelSelector", ""))

        def wanted(ev: Event) -> bool:
            if ev.plural == "*":
                return True
            return (ev.plural == plural and (not ns or ev.obj["metadata"].get("namespace") == ns)
                    and sel.matches(ev.obj["metadata"].get("labels")))
        try:
            # The queue is subscribed first; history is replayed from a snapshot and
            # the queue then skips what the snapshot covered.
            if rv in ("", "0"):
                last = self.rev
                for obj in self._matching(plural, ns, q):
                    await send("ADDED", copy.deepcopy(obj))
            else:
                last = int(rv)
                for ev in list(self.log):
                    if ev.rev > last:
                        last = ev.rev
                        if wanted(ev):
                            await send(ev.type, ev.obj)
            while True:
                try:
                    item: Event | None = await asyncio.wait_for(queue.get(), self.bookmark_interval)
                except TimeoutError:
                    if q.get("allowWatchBookmarks") == "true":
                        await send("BOOKMARK", {"kind": kind, "apiVersion": api_version,
                                                "metadata": {"resourceVersion": str(self.rev)}})
                    continue
                if item is None:
                    break
                if item.rev > last and wanted(item) or item.plural == "*":
                    await send(item.type, item.obj)
                    if item.type == "ERROR":
                        break
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.watchers.discard(queue)
        return resp

    def watch_params(self) -> list[dict[str, str]]:
        return [q for m, _, q in self.requests if m == "GET" and q.get("watch") == "true"]

    def list_params(self) -> list[dict[str, str]]:
        return [q for m, p, q in self.requests if m == "GET" and q.get("watch") != "true"]
