"""kubeling.client against a real server: CRUD, watch, informers (incl. re-list on 410)."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import Iterator

import pytest

from kubeling.client import config, informer, rest
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


async def test_client_verbs(srv: Server) -> None:
    async with rest.Client(config.load_kubeconfig(srv.kubeconfig)) as c:
        made = await c.create(rest.CONFIGMAPS, cm("a", x="1"), namespace="default")
        assert made["metadata"]["uid"]
        got = await c.get(rest.CONFIGMAPS, "a", namespace="default")
        assert got["metadata"]["labels"] == {"x": "1"}
        lst = await c.list(rest.CONFIGMAPS, namespace="default", label_selector="x=1")
        assert [i["metadata"]["name"] for i in lst["items"]] == ["a"]
        patched = await c.patch(rest.CONFIGMAPS, "a", {"data": {"k": "v"}}, namespace="default")
        assert patched["data"] == {"k": "v"}
        with pytest.raises(rest.ApiError) as exc:
            await c.create(rest.CONFIGMAPS, cm("a"), namespace="default")
        assert exc.value.already_exists
        stale = dict(got)
        with pytest.raises(rest.ApiError) as exc:
            await c.update(rest.CONFIGMAPS, stale)
        assert exc.value.conflict
        await c.delete(rest.CONFIGMAPS, "a", namespace="default")
        with pytest.raises(rest.ApiError) as exc:
            await c.get(rest.CONFIGMAPS, "a", namespace="default")
        assert exc.value.not_found


async def test_informer_tracks_changes_and_indexes(srv: Server) -> None:
    async with rest.Client(config.load_kubeconfig(srv.kubeconfig)) as c:
        await c.create(rest.CONFIGMAPS, cm("pre", team="a"), namespace="default")
        inf = informer.Informer(c, rest.CONFIGMAPS, indexers={
            "team": lambda o: [o["metadata"].get("labels", {}).get("team", "")]})
        events: list[tuple[str, str]] = []
        inf.add_handler(on_add=lambda o: events.append(("add", o["metadata"]["name"])),
                        on_update=lambda old, new: events.append(("update", new["metadata"]["name"])),
                        on_delete=lambda o: events.append(("delete", informer.key_of(o) if isinstance(o, dict)
                                                           else o.key)))
        inf.start()
        await inf.wait_for_sync(10)
        assert ("add", "pre") in events
        await c.create(rest.CONFIGMAPS, cm("new", team="b"), namespace="default")
        await c.patch(rest.CONFIGMAPS, "pre", {"metadata": {"labels": {"team": "b"}}}, namespace="default")
        await c.delete(rest.CONFIGMAPS, "new", namespace="default")
        for _ in range(100):
            if ("delete", "default/new") in events:
                break
            await asyncio.sleep(0.05)
        assert ("add", "new") in events and ("update", "pre") in events and ("delete", "default/new") in events
        assert [o["metadata"]["name"] for o in inf.store.by_index("team", "b")] == ["pre"]
        assert inf.store.by_index("team", "a") == []
        await inf.stop()


async def test_informer_relists_after_server_restart(srv: Server) -> None:
    cfg = config.load_kubeconfig(srv.kubeconfig)
    async with rest.Client(cfg) as c:
        await c.create(rest.CONFIGMAPS, cm("one"), namespace="default")
        inf = informer.Informer(c, rest.CONFIGMAPS, namespace="default", retry_delay=0.2)
        deleted: list[str] = []
        inf.add_handler(on_delete=lambda o: deleted.append(o.key if isinstance(o, informer.Tombstone)
                                                           else informer.key_of(o)))
        inf.start()
        await inf.wait_for_sync(10)
        assert inf.store.get("default/one") is not None
        await c.delete(rest.CONFIGMAPS, "one", namespace="default")
        for _ in range(100):
            if deleted:
                break
            await asyncio.sleep(0.05)
        await c.create(rest.CONFIGMAPS, cm("two"), namespace="default")
        await asyncio.sleep(0.3)
        await inf.stop()
        # While nobody watches, an object goes away and the server restarts: its
        # watch cache starts at the new revision, so the informer's next watch
        # gets 410 Gone and it must re-list to notice the deletion.
        await c.delete(rest.CONFIGMAPS, "two", namespace="default")
    srv.stop()
    srv.start()
    cfg = config.load_kubeconfig(srv.kubeconfig)
    async with rest.Client(cfg) as c:
        await c.create(rest.CONFIGMAPS, cm("three"), namespace="default")
        inf.client = c
        inf.start()
        for _ in range(200):
            if inf.store.get("default/three") is not None and inf.store.get("default/two") is None:
                break
            await asyncio.sleep(0.05)
        assert inf.relists >= 1
        assert inf.store.get("default/three") is not None
        assert inf.store.get("default/two") is None and "default/two" in deleted
        await inf.stop()
