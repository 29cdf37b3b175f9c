"""A DaemonSet's ControllerRevisions (upstream's ``constructHistory``,
``dedupCurHistories`` and ``cleanupHistory``).

The current revision is the one storing the DaemonSet's template; it always
carries the highest revision number, so going back to an older template
renumbers that revision instead of making a new one, and the pods made from
it keep their hash (no restart). Old revisions beyond
``revisionHistoryLimit`` go, oldest first, unless a pod still carries their
hash.
"""

from __future__ import annotations

from typing import Any

from kubeling.client import informer as informerlib
from kubeling.client import rest
from kubeling.controllers import history, podutil

Obj = dict[str, Any]


def _hash(obj: Obj) -> str | None:
    return (obj["metadata"].get("labels") or {}).get(history.HASH_LABEL)


async def current(client: rest.Client, pods: informerlib.Store, ds: Obj, revisions: list[Obj]) -> tuple[Obj, int]:
    """(the current revision, created or renumbered as needed; the collision count used)."""
    collisions = int((ds.get("status") or {}).get("collisionCount") or 0)
    candidate = history.new_revision(ds, 0)
    same = [r for r in history.sort_revisions(revisions) if history.equal(r, candidate)]
    number = history.next_number(r for r in revisions if not history.equal(r, candidate))
    if not same:
        candidate["revision"] = number
        return await history.create(client, candidate, prefix=ds["metadata"]["name"], collision_count=collisions)
    # Duplicates of the current template (someone else made one, or a lost
    # race): the newest wins; pods move to its hash, the others go.
    cur = same[-1]
    await _dedup(client, pods, ds, cur, same[:-1])
    if (cur.get("revision") or 0) < number:
        cur = await history.renumber(client, cur, number)
    return cur, collisions


async def _dedup(client: rest.Client, pods: informerlib.Store, ds: Obj, keep: Obj, duplicates: list[Obj]) -> None:
    if not duplicates:
        return
    ns = ds["metadata"].get("namespace")
    keep_hash = _hash(keep) or ""
    # Only pods of the duplicates are relabelled (upstream relabels every pod,
    # which would also pass off pods of older templates as up to date).
    dup_hashes = {_hash(r) for r in duplicates}
    for pod in pods.list(namespace=ns):
        if podutil.owned_by(pod, ds) and _hash(pod) in dup_hashes:
            try:
                await client.patch(rest.PODS, pod["metadata"]["name"],
                                   {"metadata": {"labels": {history.HASH_LABEL: keep_hash}}}, namespace=ns)
            except rest.NotFound:
                continue
    for rev in duplicates:
        try:
            await client.delete(rest.CONTROLLERREVISIONS, rev["metadata"]["name"], namespace=ns)
        except rest.NotFound:
            continue


async def cleanup(client: rest.Client, ds: Obj, cur: Obj, revisions: list[Obj], pods: list[Obj]) -> None:
    """Delete the oldest revisions past the limit that no pod uses."""
    old = [r for r in history.sort_revisions(revisions) if r["metadata"]["name"] != cur["metadata"]["name"]]
    excess = len(old) - int(ds["spec"].get("revisionHistoryLimit", 10))
    if excess <= 0:
        return
    live = {_hash(p) for p in pods}
    for rev in old:
        if excess <= 0:
            break
        if _hash(rev) in live:
            continue
        try:
            await client.delete(rest.CONTROLLERREVISIONS, rev["metadata"]["name"],
                                namespace=rev["metadata"].get("namespace"))
        except rest.NotFound:
            pass
        excess -= 1
