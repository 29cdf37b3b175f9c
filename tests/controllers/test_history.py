"""ControllerRevision helpers: hashing, naming, numbering, collisions, truncation."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from kubeling.client import rest
from kubeling.controllers import history
from tests.controllers.harness import Cluster

Obj = dict[str, Any]
NS = "default"


def owner(image: str = "busybox:1", *, name: str = "web", uid: str = "u-1") -> Obj:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": name, "namespace": NS, "uid": uid},
            "spec": {"selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


def test_patch_replaces_the_template_and_round_trips() -> None:
    o = owner()
    patch = history.template_patch(o)
    assert patch["spec"]["template"]["$patch"] == "replace"
    assert "$patch" not in o["spec"]["template"]  # the owner is not modified
    rev = history.new_revision(o, 1)
    assert history.template_of(rev) == o["spec"]["template"]
    assert rev["metadata"]["labels"] == {"app": "web"}
    assert rev["metadata"]["ownerReferences"][0]["uid"] == "u-1"


def test_hash_depends_on_template_and_collisions() -> None:
    a, b = history.template_patch(owner("a")), history.template_patch(owner("b"))
    assert history.hash_of(a, 0) == history.hash_of(a, None) == history.hash_of(a, 0)
    assert history.hash_of(a, 0) != history.hash_of(b, 0)
    assert history.hash_of(a, 0) != history.hash_of(a, 1) != history.hash_of(a, 2)
    assert set(history.hash_of(a, 0)) <= set("bcdfghjklmnpqrstvwxz2456789")


@given(st.text(max_size=300))
def test_names_are_bounded(prefix: str) -> None:
    name = history.revision_name(prefix, "abc")
    assert name.endswith("-abc") and len(name) <= 223 + 4


def test_sort_and_next_number() -> None:
    revs = [{"metadata": {"name": n, "creationTimestamp": "2020-01-01T00:00:00Z"}, "revision": r}
            for n, r in (("c", 3), ("a", 1), ("b", 2))]
    assert [r["metadata"]["name"] for r in history.sort_revisions(revs)] == ["a", "b", "c"]
    assert history.next_number(revs) == 4
    assert history.next_number([]) == 1


async def test_create_handles_collisions_and_equal_revisions(cluster: Cluster) -> None:
    c = cluster.client
    rev = history.new_revision(owner("a"), 1)
    first, count = await history.create(c, rev, prefix="web", collision_count=0)
    assert count == 0 and first["metadata"]["name"] == "web-" + history.hash_of(rev["data"], 0)
    assert first["metadata"]["labels"][history.HASH_LABEL] == history.hash_of(rev["data"], 0)
    # The same template again: the stored revision is returned, nothing new is made.
    again, count = await history.create(c, history.new_revision(owner("a"), 2), prefix="web", collision_count=0)
    assert count == 0 and again["metadata"]["uid"] == first["metadata"]["uid"]

    # A different template whose name is taken: the collision count goes up.
    other = history.new_revision(owner("b"), 2)
    squatter = history.new_revision(owner("zzz"), 9)
    squatter["metadata"]["name"] = "web-" + history.hash_of(other["data"], 0)
    await c.create(rest.CONTROLLERREVISIONS, squatter, namespace=NS)
    made, count = await history.create(c, other, prefix="web", collision_count=0)
    assert count == 1 and made["metadata"]["name"] == "web-" + history.hash_of(other["data"], 1)
    assert history.equal(made, other)

    renumbered = await history.renumber(c, made, 7)
    assert renumbered["revision"] == 7

    all_revs = (await c.list(rest.CONTROLLERREVISIONS, namespace=NS))["items"]
    deleted = await history.truncate(c, all_revs, keep={made["metadata"]["name"]}, limit=1)
    # Oldest first among those not kept: revision 1 goes, the squatter (9) stays.
    assert deleted == [first["metadata"]["name"]]
    left = {r["metadata"]["name"] for r in (await c.list(rest.CONTROLLERREVISIONS, namespace=NS))["items"]}
    assert left == {made["metadata"]["name"], squatter["metadata"]["name"]}
