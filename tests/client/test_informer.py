from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from kubeling.client import clock as clocklib
from kubeling.client import informer, rest
from tests.client import fakeapi
from tests.client.conftest import until


def cm(name: str, ns: str = "default", **labels: str) -> dict:
    return {"metadata": {"name": name, "namespace": ns, "labels": labels}, "data": {}}


class Recorder:
    def __init__(self, inf: informer.Informer) -> None:
        self.events: list[tuple[str, str]] = []
        self.objects: list[Any] = []
        inf.add_handler(on_add=self.add, on_update=self.update, on_delete=self.delete)

    def add(self, obj: dict) -> None:
        self.events.append(("add", informer.key_of(obj)))
        self.objects.append(obj)

    def update(self, old: dict, new: dict) -> None:
        self.events.append(("update", informer.key_of(new)))
        self.objects.append((old, new))

    def delete(self, obj: dict | informer.Tombstone) -> None:
        kind = "tombstone" if isinstance(obj, informer.Tombstone) else "delete"
        self.events.append((kind, informer.key_of(obj)))
        self.objects.append(obj)


def make(client: rest.Client, **kw: Any) -> informer.Informer:
    kw.setdefault("min_backoff", 0.001)
    return informer.Informer(client, rest.CONFIGMAPS, **kw)


def test_store_and_keys() -> None:
    s = informer.Store({"app": lambda o: [o["metadata"].get("labels", {}).get("app", "")]})
    s.put(cm("a", app="x"))
    s.put(cm("b", "other", app="x"))
    s.put({"metadata": {"name": "n1"}})
    assert sorted(s.keys()) == ["default/a", "n1", "other/b"] and len(s) == 3 and "n1" in s
    assert [o["metadata"]["name"] for o in s.by_index("app", "x")] == ["a", "b"]
    assert [o["metadata"]["name"] for o in s.list(namespace="other")] == ["b"]
    assert s.get_by_name("a", namespace="default") is s.get("default/a")
    s.put(cm("a", app="y"))
    assert s.index_keys("app", "x") == ["other/b"] and s.index_keys("app", "y") == ["default/a"]
    s.remove("other/b")
    assert s.index_keys("app", "x") == [] and s.remove("nope") is None
    s.add_indexers({"name": lambda o: [o["metadata"]["name"]]})
    assert s.index_keys("name", "n1") == ["n1"]
    with pytest.raises(KeyError):
        s.by_index("missing", "x")
    with pytest.raises(ValueError):
        s.add_indexers({"app": lambda o: []})
    assert informer.split_key("ns/n") == ("ns", "n") and informer.split_key("n") == (None, "n")
    t = informer.Tombstone("ns/n", cm("n", "ns"))
    assert informer.key_of(t) == "ns/n" and informer.object_of(t) is t.obj


async def test_paged_list_then_watch_from_its_version(api: fakeapi.FakeAPI, client: rest.Client) -> None:
    for i in range(5):
        api.put("configmaps", cm(f"c{i}", team="a" if i % 2 else "b"))
    inf = make(client, page_size=2, indexers={"team": lambda o: [o["metadata"]["labels"]["team"]]})
    rec = Recorder(inf)
    task = inf.start()
    await inf.wait_for_sync(5)
    assert inf.has_synced
    assert rec.events == [("add", f"default/c{i}") for i in range(5)]
    lists = api.list_params()
    assert [q.get("limit") for q in lists] == ["2", "2", "2"] and "continue" in lists[1]
    # Items of a list get the kind and apiVersion the List names.
    assert all(o["kind"] == "ConfigMap" and o["apiVersion"] == "v1" for o in inf.store.list())
    await until(lambda: api.watch_params())
    w = api.watch_params()[0]
    assert w["resourceVersion"] == inf.last_sync_resource_version == "105"
    assert w["allowWatchBookmarks"] == "true" and int(w["timeoutSeconds"]) >= 300
    assert [o["metadata"]["name"] for o in inf.store.by_index("team", "a")] == ["c1", "c3"]
    inf.stop()
    await asyncio.wait_for(task, 5)


async def test_watch_events_update_store_and_handlers(api: fakeapi.FakeAPI, client: rest.Client) -> None:
    api.put("configmaps", cm("a", team="x"))
    inf = make(client, indexers={"team": lambda o: [o["metadata"]["labels"].get("team", "")]})
    rec = Recorder(inf)
    inf.start()
    await inf.wait_for_sync(5)
    await until(lambda: api.watchers)
    api.put("configmaps", cm("b", team="x"))
    api.put("configmaps", cm("a", team="y"))
    api.remove("configmaps", "default/b")
    await until(lambda: len(rec.events) == 4)
    assert rec.events == [("add", "default/a"), ("add", "default/b"), ("update", "default/a"),
                          ("delete", "default/b")]
    old, new = rec.objects[2]
    assert old["metadata"]["labels"] == {"team": "x"} and new["metadata"]["labels"] == {"team": "y"}
    assert new is inf.store.get("default/a")  # handlers get the cache's own objects
    assert inf.store.index_keys("team", "y") == ["default/a"] and inf.store.index_keys("team", "x") == []
    assert inf.last_sync_resource_version == str(api.rev)
    inf.stop()
    await inf.join()


async def test_bookmarks_advance_and_rewatch_resumes_without_relisting(api: fakeapi.FakeAPI,
                                                                      client: rest.Client) -> None:
    api.put("configmaps", cm("a"))
    inf = make(client)
    rec = Recorder(inf)
    inf.start()
    await inf.wait_for_sync(5)
    await until(lambda: api.watchers)
    listed_at = inf.last_sync_resource_version
    api.put("nodes", {"metadata": {"name": "n"}})  # another resource moves the revision on
    await until(lambda: inf.last_sync_resource_version != listed_at)  # a bookmark told us
    assert inf.last_sync_resource_version == str(api.rev)
    api.end_watches()  # the server's watch timeout
    await until(lambda: api.watch_count >= 2)
    assert api.watch_params()[-1]["resourceVersion"] == str(api.rev)
    assert len(api.list_params()) == 1 and inf.relists == 0
    api.put("configmaps", cm("b"))
    await until(lambda: ("add", "default/b") in rec.events)
    inf.stop()
    await inf.join()


@pytest.mark.parametrize("gone_as_http", [False, True])
async def test_gone_relists_and_replays_the_difference(api: fakeapi.FakeAPI, client: rest.Client,
                                                       gone_as_http: bool) -> None:
    api.gone_as_http = gone_as_http
    for name in ("keep", "change", "vanish"):
        api.put("configmaps", cm(name))
    inf = make(client)
    rec = Recorder(inf)
    inf.start()
    await inf.wait_for_sync(5)
    await until(lambda: api.watchers)
    inf.stop()
    await inf.join()
    # While nobody watches: changes, then the history is compacted away.
    api.put("configmaps", cm("change", new="1"))
    api.remove("configmaps", "default/vanish")
    api.put("configmaps", cm("fresh"))
    api.compact()
    rec.events.clear()
    rec.objects.clear()
    inf.start()
    await until(lambda: len(rec.events) == 3)
    assert inf.relists == 1
    assert sorted(rec.events) == [("add", "default/fresh"), ("tombstone", "default/vanish"),
                                  ("update", "default/change")]
    tomb = next(o for o in rec.objects if isinstance(o, informer.Tombstone))
    assert tomb.obj["metadata"]["name"] == "vanish"
    assert sorted(inf.store.keys()) == ["default/change", "default/fresh", "default/keep"]
    # The first watch after the restart resumed from the old version and was refused;
    # the next watch starts from the re-list's version.
    await until(lambda: len(api.watch_params()) >= 3)
    assert api.watch_params()[-1]["resourceVersion"] == str(api.rev)
    inf.stop()
    await inf.join()


async def test_error_event_mid_stream_relists(api: fakeapi.FakeAPI, client: rest.Client) -> None:
    api.put("configmaps", cm("a"))
    inf = make(client)
    rec = Recorder(inf)
    inf.start()
    await inf.wait_for_sync(5)
    await until(lambda: api.watchers)
    api.send_raw("ERROR", fakeapi.status(410, "Expired", "too old resource version: 1 (2)"))
    await until(lambda: len(api.list_params()) == 2)
    await until(lambda: inf.relists == 1)
    assert rec.events == [("add", "default/a")]  # nothing changed: nothing replayed
    await until(lambda: api.watch_count >= 2 and len(api.watchers) == 1)
    api.send_raw("ERROR", fakeapi.status(500, "InternalError", "oops"))  # other errors: watch again
    await until(lambda: api.watch_count >= 3)
    assert len(api.list_params()) == 2 and isinstance(inf.last_error, rest.ServerError)
    inf.stop()
    await inf.join()


async def test_expired_continue_token_falls_back_to_a_full_list(api: fakeapi.FakeAPI,
                                                                client: rest.Client) -> None:
    for i in range(3):
        api.put("configmaps", cm(f"c{i}"))

    def compact_after_first_page(request: web.Request) -> None:
        if "continue" in request.query:
            api.put("configmaps", cm("late"))
            api.compact()
            api.hooks.clear()

    api.hooks.append(compact_after_first_page)
    inf = make(client, page_size=2)
    inf.start()
    await inf.wait_for_sync(5)
    assert len(inf.store) == 4
    lists = api.list_params()
    assert [("continue" in q, q.get("limit")) for q in lists] == [(False, "2"), (True, "2"), (False, None)]
    inf.stop()
    await inf.join()


async def test_failures_are_retried_and_recorded(api: fakeapi.FakeAPI, client: rest.Client) -> None:
    api.put("configmaps", cm("a"))
    api.failures += [fakeapi.error(500, "InternalError", "db down") for _ in range(2)]
    inf = make(client)
    inf.start()
    await inf.wait_for_sync(5)
    assert isinstance(inf.last_error, rest.ServerError) and "db down" in str(inf.last_error)
    assert len(inf.store) == 1
    inf.stop()
    await inf.join()


async def test_handlers_errors_late_handlers_and_removal(api: fakeapi.FakeAPI, client: rest.Client) -> None:
    api.put("configmaps", cm("a"))
    inf = make(client)

    def boom(obj: dict) -> None:
        raise RuntimeError("handler bug")

    inf.add_handler(on_add=boom)
    first = Recorder(inf)
    inf.start()
    await inf.wait_for_sync(5)
    late = Recorder(inf)  # hears of what is cached at once
    assert late.events == [("add", "default/a")] and first.events == [("add", "default/a")]
    inf.remove_handler(inf._handlers[-1])
    await until(lambda: api.watchers)
    api.put("configmaps", cm("b"))
    await until(lambda: len(first.events) == 2)
    assert late.events == [("add", "default/a")]
    inf.stop()
    await inf.join()


async def test_resync_hands_every_object_to_on_update(api: fakeapi.FakeAPI, client: rest.Client) -> None:
    api.put("configmaps", cm("a"))
    api.put("configmaps", cm("b"))
    clock = clocklib.FakeClock()
    inf = make(client, resync_period=30, clock=clock)
    rec = Recorder(inf)
    inf.start()
    await inf.wait_for_sync(5)
    await until(lambda: clock.pending >= 1)
    clock.step(29)
    await asyncio.sleep(0.01)
    assert [e for e in rec.events if e[0] == "update"] == []
    clock.step(1)
    await until(lambda: len(rec.events) == 4)
    updates = [o for o in rec.objects if isinstance(o, tuple)]
    assert all(old is new for old, new in updates)
    assert sorted(e for e in rec.events if e[0] == "update") == [("update", "default/a"), ("update", "default/b")]
    inf.stop()
    await inf.join()


async def test_namespace_and_selector_scope(api: fakeapi.FakeAPI, client: rest.Client) -> None:
    api.put("configmaps", cm("a", "one", app="x"))
    api.put("configmaps", cm("b", "one"))
    api.put("configmaps", cm("c", "two", app="x"))
    inf = make(client, namespace="one", label_selector="app=x")
    inf.start()
    await inf.wait_for_sync(5)
    assert inf.store.keys() == ["one/a"]
    await until(lambda: api.watchers)
    assert api.requests[-1][1] == "/api/v1/namespaces/one/configmaps"
    assert api.watch_params()[-1]["labelSelector"] == "app=x"
    inf.stop()
    await inf.join()


async def test_factory_shares_informers(api: fakeapi.FakeAPI, client: rest.Client) -> None:
    api.put("configmaps", cm("a"))
    api.put("nodes", {"metadata": {"name": "n1"}})
    f = informer.Factory(client)
    cms = f.informer(rest.CONFIGMAPS)
    assert f.informer(rest.CONFIGMAPS, indexers={"name": lambda o: [o["metadata"]["name"]]}) is cms
    nodes = f.informer(rest.NODES)
    assert f.informer(rest.CONFIGMAPS, namespace="x") is not cms and len(f.informers) == 3
    f.start()
    await f.wait_for_sync(5)
    assert cms.store.index_keys("name", "a") == ["default/a"] and nodes.store.keys() == ["n1"]
    f.stop()
    await f.join()


async def test_wait_for_sync_times_out(client: rest.Client, api: fakeapi.FakeAPI) -> None:
    inf = make(client)
    with pytest.raises(TimeoutError):
        await inf.wait_for_sync(0.01)


async def test_start_stop_races_and_direct_run(api: fakeapi.FakeAPI, client: rest.Client) -> None:
    api.put("configmaps", cm("a"))
    inf = make(client)
    inf.start()
    inf.stop()  # before the task even began: it never lists
    await inf.join()
    assert api.requests == [] and not inf.has_synced
    inf.start()
    await inf.wait_for_sync(5)
    inf.stop()
    task = inf.start()  # at once after stop: a new run follows the old one
    await until(lambda: api.watch_count >= 2)
    assert not task.done()
    with pytest.raises(RuntimeError):
        await inf.run()  # one run at a time
    inf.stop()
    await asyncio.wait_for(task, 5)  # ends normally, not cancelled
    assert task.done() and not task.cancelled()
    runner = asyncio.create_task(inf.run())  # run() directly, ended by stop()
    await until(lambda: api.watch_count >= 3)
    inf.stop()
    await asyncio.wait_for(runner, 5)
    assert len(api.list_params()) == 1  # every run resumed from the cached version


async def test_refused_fresh_lists_back_off(api: fakeapi.FakeAPI, client: rest.Client) -> None:
    api.put("configmaps", cm("a"))
    clock = clocklib.FakeClock()
    inf = make(client, clock=clock)
    api.gone_as_http = True
    api.compacted = 10**9  # every watch is "too old", even right after a list
    inf.start()
    await inf.wait_for_sync(5)
    await until(lambda: clock.pending >= 1)  # parked in the backoff, not spinning
    assert inf.relists == 0 and rest.is_gone(inf.last_error or Exception())
    lists = len(api.list_params())
    clock.step(inf.min_backoff)
    await until(lambda: len(api.list_params()) == lists + 1)
    inf.stop()
    await inf.join()
