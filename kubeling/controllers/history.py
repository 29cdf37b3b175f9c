"""ControllerRevision history shared by the StatefulSet and DaemonSet controllers
(upstream's ``pkg/controller/history``).

A revision stores the part of its owner that a rollout changes (the pod
template) as a patch, ``{"spec": {"template": {..., "$patch": "replace"}}}``.
Its name is ``<owner>-<hash>`` where the hash is FNV-32a over the patch's JSON
(and the owner's ``status.collisionCount`` once a name collided), written in
the vowel-free alphabet upstream uses for generated names. The same hash is
the ``controller-revision-hash`` label on the revision and on every pod made
from it.

Revision numbers grow: a new template gets the highest number plus one; going
back to an old template (a rollback) renumbers the matching old revision
rather than creating a duplicate. ``truncate`` keeps at most
``revisionHistoryLimit`` revisions that neither are current nor still have
pods.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import orjson

from kubeling.client import informer as informerlib
from kubeling.client import rest
from kubeling.controllers import podutil

Obj = dict[str, Any]

HASH_LABEL = "controller-revision-hash"
# Characters kubernetes uses in generated names: no vowels, no look-alikes.
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# Upstream cuts the owner's name so the revision name stays a valid label value.
_MAX_PREFIX = 223

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193


def _fnv32a(data: bytes, h: int = _FNV_OFFSET) -> int:
    for b in data:
        h ^= b
        h = (h * _FNV_PRIME) & 0xFFFFFFFF
    return h


def safe_encode(text: str) -> str:
    """Map each character onto the generated-name alphabet (upstream's SafeEncodeString)."""
    return "".join(_ALPHABET[ord(ch) % len(_ALPHABET)] for ch in text)


def template_patch(owner: Obj) -> Obj:
    """What a revision stores: the owner's pod template, replacing the whole template when applied."""
    template = copy.deepcopy((owner.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def data_bytes(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def hash_of(data: Any, collision_count: int | None) -> str:
    h = _fnv32a(data_bytes(data))
    if collision_count:
        h = _fnv32a(str(collision_count).encode(), h)
    return safe_encode(str(h))


def revision_name(prefix: str, hash_: str) -> str:
    return f"{prefix[:_MAX_PREFIX]}-{hash_}"


def template_of(revision: Obj) -> Obj:
    """The pod template a revision stores (without the replace directive)."""
    tmpl = copy.deepcopy(((revision.get("data") or {}).get("spec") or {}).get("template") or {})
    tmpl.pop("$patch", None)
    return tmpl


def new_revision(owner: Obj, revision: int, *, template_labels: dict[str, str] | None = None) -> Obj:
    """An unsaved revision of ``owner``'s current template (name and hash label are set on create)."""
    md = owner["metadata"]
    tmpl_labels = template_labels if template_labels is not None else \
        dict((((owner.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {})
    return {
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"namespace": md.get("namespace"), "labels": tmpl_labels,
                     "ownerReferences": [podutil.owner_reference(owner)]},
        "data": template_patch(owner),
        "revision": revision,
    }


def equal(a: Obj, b: Obj) -> bool:
    """Two revisions store the same template."""
    return data_bytes(a.get("data")) == data_bytes(b.get("data"))


def sort_revisions(revisions: Iterable[Obj]) -> list[Obj]:
    """Oldest first: by revision number, then creation time, then name (upstream's byRevision)."""
    return sorted(revisions, key=lambda r: (r.get("revision") or 0,
                                            r["metadata"].get("creationTimestamp") or "", r["metadata"]["name"]))


def next_number(revisions: Iterable[Obj]) -> int:
    return max((r.get("revision") or 0 for r in revisions), default=0) + 1


def owned(store: informerlib.Store, owner: Obj) -> list[Obj]:
    """The revisions in the cache controlled by ``owner``."""
    md = owner["metadata"]
    return [r for r in store.list(namespace=md.get("namespace")) if podutil.owned_by(r, owner)]


async def adopt_orphans(client: rest.Client, store: informerlib.Store, owner: Obj) -> list[Obj]:
    """Adopt orphaned revisions the owner's selector matches; returns those adopted."""
    if podutil.is_terminating(owner):
        return []
    selector = podutil.selector_of(owner)
    md = owner["metadata"]
    candidates = store.list(namespace=md.get("namespace"))
    _, adopt, _ = podutil.claim(candidates, owner, selector)
    adopted = []
    for rev in adopt:
        try:
            adopted.append(await client.patch(rest.CONTROLLERREVISIONS, rev["metadata"]["name"],
                                              podutil.adopt_patch(rev, owner), namespace=md.get("namespace"),
                                              patch_type="strategic"))
        except (rest.NotFound, rest.Conflict, rest.Invalid):
            continue
    return adopted


async def create(client: rest.Client, revision: Obj, *, prefix: str, collision_count: int) -> tuple[Obj, int]:
    """Create ``revision`` named after its hash; on a name taken by a different
    template, bump the collision count and try the next name. Returns the stored
    revision (an equal existing one counts) and the collision count used."""
    ns = revision["metadata"]["namespace"]
    while True:
        h = hash_of(revision["data"], collision_count)
        body = copy.deepcopy(revision)
        body["metadata"]["name"] = revision_name(prefix, h)
        body["metadata"]["labels"] = {**(body["metadata"].get("labels") or {}), HASH_LABEL: h}
        try:
            return await client.create(rest.CONTROLLERREVISIONS, body, namespace=ns), collision_count
        except rest.AlreadyExists:
            existing = await client.get(rest.CONTROLLERREVISIONS, body["metadata"]["name"], namespace=ns)
            if equal(existing, body):
                return existing, collision_count
            collision_count += 1


async def renumber(client: rest.Client, revision: Obj, number: int) -> Obj:
    """Give an existing revision a new number (a rollback to it)."""
    if revision.get("revision") == number:
        return revision
    body = copy.deepcopy(revision)
    body["revision"] = number
    return await client.update(rest.CONTROLLERREVISIONS, body)


async def truncate(client: rest.Client, revisions: Iterable[Obj], *, keep: set[str], limit: int) -> list[str]:
    """Delete the oldest revisions not named in ``keep`` beyond ``limit``; returns the names deleted."""
    history = [r for r in sort_revisions(revisions) if r["metadata"]["name"] not in keep]
    excess = len(history) - max(limit, 0)
    deleted = []
    for rev in history[:max(excess, 0)]:
        md = rev["metadata"]
        try:
            await client.delete(rest.CONTROLLERREVISIONS, md["name"], namespace=md.get("namespace"))
        except rest.NotFound:
            pass
        deleted.append(md["name"])
    return deleted
