"""kubeling.client against a real `kubeling server`: verbs, watch, informers (incl. re-list on 410)."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

from kubeling.client import config, informer, rest
from tests.client.conftest import until
from tests.e2e.cluster import Server

pytestmark = pytest.mark.e2e


@pytest.fixture
def srv(tmp_path: pathlib.Path) -> Iterator[Server]:
    s = Server(tmp_path / "data")
    s.start()
    yield s
    s.stop()


def cm(name: str, **labels: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels}, "data": {}}


async def test_client_verbs_and_errors(srv: Server) -> None:
    async with rest.Client(config.load_kubeconfig(srv.kubeconfig)) as c:
        made = await c.create(rest.CONFIGMAPS, cm("a", x="1"), namespace="default")
        assert made["metadata"]["uid"]
        got = await c.get(rest.CONFIGMAPS, "a", namespace="default")
        assert got["metadata"]["labels"] == {"x": "1"}
        lst = await c.list(rest.CONFIGMAPS, namespace="default", label_selector="x=1")
        assert [i["metadata"]["name"] for i in lst["items"]] == ["a"] and lst["metadata"]["resourceVersion"]
        patched = await c.patch(rest.CONFIGMAPS, "a", {"data": {"k": "v"}}, namespace="default")
        assert patched["data"] == {"k": "v"}
        with pytest.raises(rest.AlreadyExists):
            await c.create(rest.CONFIGMAPS, cm("a"), namespace="default")
        with pytest.raises(rest.Conflict):
            await c.update(rest.CONFIGMAPS, got)  # stale resourceVersion
        await c.delete(rest.CONFIGMAPS, "a", namespace="default")
        with pytest.raises(rest.NotFound) as nf:
            await c.get(rest.CONFIGMAPS, "a", namespace="default")
        assert nf.value.status["kind"] == "Status" and nf.value.reason == "NotFound"


async def test_watch(srv: Server) -> None:
    async with rest.Client(config.load_kubeconfig(srv.kubeconfig)) as c:
        lst = await c.list(rest.CONFIGMAPS, namespace="default")
        await c.create(rest.CONFIGMAPS, cm("w"), namespace="default")
        async with c.watch(rest.CONFIGMAPS, namespace="default",
                           resource_version=lst["metadata"]["resourceVersion"], timeout_seconds=10) as w:
            async for ev in w:
                assert ev.type == "ADDED" and ev.object["metadata"]["name"] == "w"
                break


async def test_informer_tracks_changes_and_indexes(srv: Server) -> None:
    async with rest.Client(config.load_kubeconfig(srv.kubeconfig)) as c:
        await c.create(rest.CONFIGMAPS, cm("pre", team="a"), namespace="default")
        inf = informer.Informer(c, rest.CONFIGMAPS, page_size=1, indexers={
            "team": lambda o: [o["metadata"].get("labels", {}).get("team", "")]})
        events: list[tuple[str, str]] = []
        inf.add_handler(on_add=lambda o: events.append(("add", informer.key_of(o))),
                        on_update=lambda old, new: events.append(("update", informer.key_of(new))),
                        on_delete=lambda o: events.append(("delete", informer.key_of(o))))
        inf.start()
        await inf.wait_for_sync(10)
        assert ("add", "default/pre") in events
        await c.create(rest.CONFIGMAPS, cm("new", team="b"), namespace="default")
        await c.patch(rest.CONFIGMAPS, "pre", {"metadata": {"labels": {"team": "b"}}}, namespace="default")
        await c.delete(rest.CONFIGMAPS, "new", namespace="default")
        await until(lambda: ("delete", "default/new") in events, timeout=10)
        assert ("add", "default/new") in events and ("update", "default/pre") in events
        assert [o["metadata"]["name"] for o in inf.store.by_index("team", "b")] == ["pre"]
        assert inf.store.by_index("team", "a") == []
        inf.stop()
        await inf.join()


async def test_informer_relists_after_server_restart(srv: Server) -> None:
    async with rest.Client(config.load_kubeconfig(srv.kubeconfig)) as c:
        await c.create(rest.CONFIGMAPS, cm("one"), namespace="default")
        await c.create(rest.CONFIGMAPS, cm("two"), namespace="default")
        inf = informer.Informer(c, rest.CONFIGMAPS, namespace="default", min_backoff=0.1)
        deleted: list[str] = []
        inf.add_handler(on_delete=lambda o: deleted.append(informer.key_of(o)))
        inf.start()
        await inf.wait_for_sync(10)
        assert inf.store.get("default/two") is not None
        inf.stop()
        await inf.join()
        # While nobody watches, an object goes away and the server restarts: its watch
        # cache starts at the new revision, so the informer's next watch gets 410 Gone
        # and it must re-list to notice the deletion.
        await c.delete(rest.CONFIGMAPS, "two", namespace="default")
    srv.stop()
    srv.start()
    async with rest.Client(config.load_kubeconfig(srv.kubeconfig)) as c:
        await c.create(rest.CONFIGMAPS, cm("three"), namespace="default")
        inf.client = c
        inf.start()
        await until(lambda: inf.store.get("default/three") is not None and inf.store.get("default/two") is None,
                    timeout=20)
        assert inf.relists >= 1 and "default/two" in deleted
        inf.stop()
        await inf.join()
