from __future__ import annotations

import asyncio
import socket

import orjson
import pytest
from aiohttp import test_utils, web

from kubeling.client import config, rest
from tests.client import fakeapi


def cm(name: str, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {}}


def test_resource_paths() -> None:
    assert rest.PODS.path(namespace="ns", name="p", subresource="status") == "/api/v1/namespaces/ns/pods/p/status"
    assert rest.PODS.path() == "/api/v1/pods"
    assert rest.NODES.path(namespace="ignored", name="n1") == "/api/v1/nodes/n1"
    assert rest.DEPLOYMENTS.path(namespace="a b") == "/apis/apps/v1/namespaces/a%20b/deployments"
    ref = rest.ResourceRef.of("example.com/v1beta1", "widgets", namespaced=False)
    assert (ref.group, ref.version, ref.api_version) == ("example.com", "v1beta1", "example.com/v1beta1")
    assert rest.ResourceRef.of("v1", "pods").group == ""
    with pytest.raises(ValueError):
        rest.PODS.path(subresource="status")


async def test_crud_verbs(api: fakeapi.FakeAPI, client: rest.Client) -> None:
    made = await client.create(rest.CONFIGMAPS, cm("a", x="1"), namespace="default")
    assert made["metadata"]["resourceVersion"] and made["metadata"]["namespace"] == "default"
    got = await client.get(rest.CONFIGMAPS, "a", namespace="default")
    assert got == made
    lst = await client.list(rest.CONFIGMAPS, namespace="default", label_selector="x=1")
    assert lst["kind"] == "ConfigMapList" and [i["metadata"]["name"] for i in lst["items"]] == ["a"]
    assert (await client.list(rest.CONFIGMAPS, label_selector="x=2"))["items"] == []
    patched = await client.patch(rest.CONFIGMAPS, "a", {"data": {"k": "v"}}, namespace="default")
    assert patched["data"] == {"k": "v"}
    patched["data"]["k"] = "w"
    updated = await client.update(rest.CONFIGMAPS, patched)  # namespace from the object
    assert updated["data"] == {"k": "w"}
    updated["status"] = {"phase": "ok"}
    st = await client.update_status(rest.CONFIGMAPS, updated)
    assert st["status"] == {"phase": "ok"}
    gone = await client.delete(rest.CONFIGMAPS, "a", namespace="default", propagation_policy="Foreground")
    assert gone["metadata"]["name"] == "a"
    methods = [(m, p) for m, p, _ in api.requests]
    assert methods[-1] == ("DELETE", "/api/v1/namespaces/default/configmaps/a")
    assert methods[-2] == ("PUT", "/api/v1/namespaces/default/configmaps/a/status")
    assert all(h.get("Authorization") == "Bearer t0k3n" for h in api.headers)
    assert all(h.get("Accept") == "application/json" for h in api.headers)


async def test_cluster_scoped_and_params(api: fakeapi.FakeAPI, client: rest.Client) -> None:
    await client.create(rest.NODES, {"metadata": {"name": "n1"}}, dry_run=True, field_manager="me")
    assert api.requests[-1] == ("POST", "/api/v1/nodes", {"dryRun": "All", "fieldManager": "me"})
    assert api.objects["nodes"] == {}
    await client.create(rest.NODES, {"metadata": {"name": "n1"}})
    assert (await client.get(rest.NODES, "n1"))["kind"] == "Node"
    await client.list(rest.CONFIGMAPS, limit=5, continue_="", resource_version="0", field_selector="a=b")
    assert api.requests[-1][2] == {"limit": "5", "resourceVersion": "0", "fieldSelector": "a=b"}


async def test_namespaced_names_need_a_namespace(client: rest.Client) -> None:
    with pytest.raises(ValueError):
        await client.get(rest.CONFIGMAPS, "a")
    with pytest.raises(ValueError):
        await client.create(rest.CONFIGMAPS, cm("a"))
    with pytest.raises(ValueError):
        await client.patch(rest.CONFIGMAPS, "a", {}, patch_type="yaml")


async def test_errors_carry_the_status(api: fakeapi.FakeAPI, client: rest.Client) -> None:
    with pytest.raises(rest.NotFound) as nf:
        await client.get(rest.CONFIGMAPS, "missing", namespace="default")
    e = nf.value
    assert (e.status_code, e.reason) == (404, "NotFound") and "missing" in e.message
    assert e.status["kind"] == "Status" and rest.is_not_found(e) and not rest.is_conflict(e)
    await client.create(rest.CONFIGMAPS, cm("a"), namespace="default")
    with pytest.raises(rest.AlreadyExists) as ae:
        await client.create(rest.CONFIGMAPS, cm("a"), namespace="default")
    assert rest.is_already_exists(ae.value) and not rest.is_conflict(ae.value)
    stale = await client.get(rest.CONFIGMAPS, "a", namespace="default")
    await client.patch(rest.CONFIGMAPS, "a", {"data": {"x": "y"}}, namespace="default")
    with pytest.raises(rest.Conflict) as cf:
        await client.update(rest.CONFIGMAPS, stale)
    assert rest.is_conflict(cf.value) and cf.value.conflict
    with pytest.raises(rest.Conflict):
        await client.delete(rest.CONFIGMAPS, "a", namespace="default", preconditions={"uid": "other"})
    with pytest.raises(rest.ApiError) as unsup:
        await client.patch(rest.CONFIGMAPS, "a", [], namespace="default", patch_type="json")
    assert unsup.value.status_code == 415
    assert not rest.is_not_found(ValueError("x"))


def test_api_error_classification() -> None:
    e = rest.api_error(410, {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"})
    assert isinstance(e, rest.Gone) and rest.is_gone(e)
    e = rest.api_error(409, {"kind": "Status", "code": 409})  # no reason: the code decides
    assert isinstance(e, rest.Conflict) and e.conflict and not e.already_exists
    e = rest.api_error(503, {"kind": "Status", "code": 503, "reason": "ServiceUnavailable",
                             "details": {"retryAfterSeconds": 2}})
    assert isinstance(e, rest.ServerError) and e.retry_after == 2.0
    e = rest.api_error(422, {"kind": "Status", "code": 422, "reason": "Invalid",
                             "details": {"causes": [{"field": "metadata.name"}]}})
    assert isinstance(e, rest.Invalid) and rest.is_invalid(e) and e.details["causes"][0]["field"] == "metadata.name"
    plain = rest.ApiError(418, "Teapot", "short and stout")
    assert plain.status["code"] == 418 and "short and stout" in str(plain)


async def test_non_status_error_body(api: fakeapi.FakeAPI, client: rest.Client) -> None:
    api.failures.append(web.Response(status=502, text="bad gateway"))
    with pytest.raises(rest.ServerError) as exc:
        await client.get(rest.NODES, "x")
    assert exc.value.status_code == 502 and exc.value.message == "bad gateway"


async def test_retry_after_is_honoured(api: fakeapi.FakeAPI, client: rest.Client) -> None:
    api.failures += [fakeapi.error(429, "TooManyRequests", "slow down", **{"Retry-After": "0"}),
                     fakeapi.error(503, "ServiceUnavailable", "busy", **{"Retry-After": "0"})]
    await client.create(rest.NODES, {"metadata": {"name": "n"}})  # a POST too: the server asked
    assert [m for m, _, _ in api.requests] == ["POST", "POST", "POST"]
    api.failures += [fakeapi.error(429, "TooManyRequests", "slow", **{"Retry-After": "0"}) for _ in range(4)]
    with pytest.raises(rest.TooManyRequests):
        await client.get(rest.NODES, "n")


async def test_connection_refused_is_retried_then_raised() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with rest.Client(config.Config(server=f"http://127.0.0.1:{port}"), max_retries=2,
                           retry_delay=0.001) as c:
        with pytest.raises(rest.TransportError):
            await c.get(rest.NODES, "n")


async def test_raw_request(api: fakeapi.FakeAPI, client: rest.Client) -> None:
    await client.create(rest.NODES, {"metadata": {"name": "n"}})
    raw = await client.request("GET", "/api/v1/nodes/n", raw=True)
    assert orjson.loads(raw)["metadata"]["name"] == "n"
    assert (await client.request("GET", "/api/v1/nodes"))["kind"] == "NodeList"


async def test_watch_stream(api: fakeapi.FakeAPI, client: rest.Client) -> None:
    first = api.put("configmaps", cm("a"))
    api.put("configmaps", cm("b"))
    api.put("nodes", {"metadata": {"name": "n"}})
    events: list[rest.Event] = []
    async with client.watch(rest.CONFIGMAPS, namespace="default",
                            resource_version=first["metadata"]["resourceVersion"], timeout_seconds=30) as w:
        async for ev in w:
            events.append(ev)
            if ev.type == "BOOKMARK":
                break
    assert [(e.type, e.object["metadata"].get("name")) for e in events] == [
        ("ADDED", "b"), ("BOOKMARK", None)]
    assert events[1].object["metadata"]["resourceVersion"] == str(api.rev)
    q = api.watch_params()[-1]
    assert q["allowWatchBookmarks"] == "true" and q["timeoutSeconds"] == "30"
    # Without a resourceVersion the current state comes first; the server ending the
    # watch ends the iteration.
    got: list[tuple[str, str]] = []
    w2 = client.watch(rest.CONFIGMAPS, allow_bookmarks=False)
    async for etype, obj in w2:
        got.append((etype, obj["metadata"]["name"]))
        if len(got) == 2:
            api.remove("configmaps", "default/a")
        if len(got) == 3:
            api.end_watches()
    assert got == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]
    assert "allowWatchBookmarks" not in api.watch_params()[-1]


async def test_watch_gone(api: fakeapi.FakeAPI, client: rest.Client) -> None:
    api.put("configmaps", cm("a"))
    api.compact()
    async for ev in client.watch(rest.CONFIGMAPS, resource_version="1"):
        assert ev.type == "ERROR" and ev.error().gone and isinstance(ev.error(), rest.Gone)
    api.gone_as_http = True
    with pytest.raises(rest.Gone):
        async for _ in client.watch(rest.CONFIGMAPS, resource_version="1"):
            pass


async def test_watch_parses_split_and_large_lines() -> None:
    big = {"metadata": {"name": "big", "resourceVersion": "2"}, "data": {"k": "x" * 300_000}}
    lines = [orjson.dumps({"type": "ADDED", "object": {"metadata": {"name": "a", "resourceVersion": "1"}}}),
             orjson.dumps({"type": "MODIFIED", "object": big})]
    payload = b"\n".join(lines) + b"\n\n" + orjson.dumps({"type": "DELETED", "object": big})  # no final newline

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        for i in range(0, len(payload), 777):  # chunks that cut lines anywhere
            await resp.write(payload[i:i + 777])
            await asyncio.sleep(0)
        return resp

    app = web.Application()
    app.router.add_get("/api/v1/configmaps", handler)
    async with test_utils.TestServer(app) as server, \
            rest.Client(config.Config(server=str(server.make_url("")))) as c:
        events = [ev async for ev in c.watch(rest.CONFIGMAPS)]
    assert [e.type for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert events[1].object == big


async def test_watch_broken_connection_is_a_transport_error() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(b'{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n{"type":"ADD')
        assert request.transport is not None
        request.transport.close()
        return resp

    app = web.Application()
    app.router.add_get("/api/v1/configmaps", handler)
    got = []
    async with test_utils.TestServer(app) as server, \
            rest.Client(config.Config(server=str(server.make_url("")))) as c:
        with pytest.raises(rest.TransportError):
            async for ev in c.watch(rest.CONFIGMAPS):
                got.append(ev.type)
    assert got == ["ADDED"]
