"""The garbage collector's view of ownership: every object the API serves, as a
node keyed by uid, with its ownerReferences and the reverse edges (owner uid ->
dependent uids).

The graph is fed from informer events (:meth:`Graph.observe` and
:meth:`Graph.forget`) and only ever read by the collector's workers; it keeps
no object bodies, just what ownership decisions need. Reverse edges are kept
per owner *uid*, whether or not the owner itself has been seen: a dependent
whose owner is gone, or was never seen, still shows up under that uid, which is
how the collector finds dependents of a deleted owner (upstream's "virtual"
nodes serve the same purpose).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kubeling.client import rest

Obj = dict[str, Any]

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


@dataclasses.dataclass(frozen=True)
class Node:
    uid: str
    ref: rest.ResourceRef
    namespace: str | None
    name: str
    owners: tuple[Obj, ...]
    being_deleted: bool
    finalizers: tuple[str, ...]

    @property
    def deleting_dependents(self) -> bool:
        """Deleted in the foreground: waits for its blocking dependents to go first."""
        return self.being_deleted and FOREGROUND in self.finalizers

    @property
    def orphaning(self) -> bool:
        """Deleted with propagationPolicy Orphan: its dependents are to be released."""
        return self.being_deleted and ORPHAN in self.finalizers

    def owner_uids(self) -> set[str]:
        return {str(o.get("uid")) for o in self.owners}

    def blocked_owner_uids(self) -> set[str]:
        """Owners whose foreground deletion waits for this node."""
        return {str(o.get("uid")) for o in self.owners if o.get("blockOwnerDeletion")}

    def describe(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.ref.plural}.{self.ref.group or 'core'} {where}{self.name} ({self.uid})"


def node_of(ref: rest.ResourceRef, obj: Obj) -> Node:
    md = obj.get("metadata") or {}
    return Node(uid=str(md.get("uid") or ""), ref=ref, namespace=md.get("namespace") or None,
                name=str(md.get("name") or ""),
                owners=tuple(o for o in md.get("ownerReferences") or [] if o.get("uid")),
                being_deleted=bool(md.get("deletionTimestamp")),
                finalizers=tuple(md.get("finalizers") or ()))


class Graph:
    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self._dependents: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self.nodes)

    def observe(self, node: Node) -> Node | None:
        """Add or replace ``node``; returns what was known of it before."""
        old = self.nodes.get(node.uid)
        if old is not None:
            self._unlink(old)
        self.nodes[node.uid] = node
        for uid in node.owner_uids():
            self._dependents.setdefault(uid, set()).add(node.uid)
        return old

    def forget(self, uid: str) -> Node | None:
        """Drop a deleted object; its own dependents keep their edges to its uid."""
        old = self.nodes.pop(uid, None)
        if old is not None:
            self._unlink(old)
        return old

    def _unlink(self, node: Node) -> None:
        for uid in node.owner_uids():
            deps = self._dependents.get(uid)
            if deps is not None:
                deps.discard(node.uid)
                if not deps:
                    del self._dependents[uid]

    def dependents(self, owner_uid: str) -> list[Node]:
        return [self.nodes[u] for u in sorted(self._dependents.get(owner_uid, ())) if u in self.nodes]

    def blocking_dependents(self, owner_uid: str) -> list[Node]:
        """Dependents whose reference to ``owner_uid`` says blockOwnerDeletion."""
        return [d for d in self.dependents(owner_uid) if owner_uid in d.blocked_owner_uids()]

    def has_suspect_owner(self, node: Node) -> bool:
        """Some owner of ``node`` is not in the graph (gone, or not seen yet), or lives in
        another namespace than ``node`` (so it cannot be the owner the reference names)."""
        for uid in node.owner_uids():
            owner = self.nodes.get(uid)
            if owner is None or (owner.namespace is not None and owner.namespace != node.namespace):
                return True
        return False
