"""What selects a pod: the Services, ReplicationControllers, ReplicaSets and
StatefulSets in its namespace whose selectors match its labels, merged into
one selector (upstream's DefaultSelector), used to spread a workload's pods
by default. Reads informer stores only."""

from __future__ import annotations

from kubeling.client import informer as informerlib
from kubeling.lib import labels
from kubeling.scheduler import framework

_KEY = "default-selector"


class DefaultSelector:
    def __init__(self, *, services: informerlib.Store, controllers: informerlib.Store,
                 replicasets: informerlib.Store, statefulsets: informerlib.Store) -> None:
        self.services = services
        self.controllers = controllers
        self.replicasets = replicasets
        self.statefulsets = statefulsets

    def __call__(self, pod: framework.PodInfo) -> labels.Selector | None:
        if _KEY in pod.compiled:
            return pod.compiled[_KEY]  # type: ignore[no-any-return]
        sel = self._compute(pod)
        pod.compiled[_KEY] = sel
        return sel

    def _compute(self, pod: framework.PodInfo) -> labels.Selector | None:
        ns, have = pod.namespace, pod.labels
        merged: dict[str, str] = {}
        found = False
        # Services and ReplicationControllers select by a plain label map.
        for store in (self.services, self.controllers):
            for obj in store.list(namespace=ns):
                want = (obj.get("spec") or {}).get("selector") or {}
                if want and all(have.get(k) == v for k, v in want.items()):
                    merged.update(want)
                    found = True
        reqs: list[labels.Requirement] = list(labels.from_set(merged).requirements) if merged else []
        for store in (self.replicasets, self.statefulsets):
            for obj in store.list(namespace=ns):
                try:
                    sel = labels.from_label_selector((obj.get("spec") or {}).get("selector"))
                except labels.SelectorError:
                    continue
                if not sel.empty and sel.matches(have):
                    reqs.extend(sel.requirements)
                    found = True
        if not found:
            return None
        return intern(labels.Selector(tuple(sorted(set(reqs), key=lambda r: (r.key, r.operator, r.values)))))


_INTERNED: dict[labels.Selector, labels.Selector] = {}


def intern(sel: labels.Selector) -> labels.Selector:
    """One instance per distinct selector, so per-node caches keyed by the
    selector's identity (topology spread) serve every pod of a workload."""
    if len(_INTERNED) > 10000:  # bound it; a cleared cache only costs recounts
        _INTERNED.clear()
    return _INTERNED.setdefault(sel, sel)
