"""Compiled pod (anti-)affinity terms, shared by InterPodAffinity and preemption.

A term selects pods by label selector within a set of namespaces: its
``namespaces`` list plus those its ``namespaceSelector`` picks, or, with
neither, the namespace of the pod that carries the term. ``matchLabelKeys``
and ``mismatchLabelKeys`` add ``key in (value)`` / ``key notin (value)`` with
the carrying pod's own label values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubeling.lib import labels
from kubeling.scheduler import framework

NamespaceLabels = Callable[[str], dict[str, str] | None]


class Term:
    __slots__ = ("namespaces", "ns_selector", "selector", "topology_key", "weight")

    def __init__(self, term: dict[str, Any], owner: framework.PodInfo, *, weight: int = 0) -> None:
        self.topology_key: str = term.get("topologyKey") or ""
        self.weight = weight
        try:
            sel = labels.from_label_selector(term.get("labelSelector"))
            extra = [labels.Requirement.make(k, labels.IN, [owner.labels[k]])
                     for k in term.get("matchLabelKeys") or [] if k in owner.labels]
            extra += [labels.Requirement.make(k, labels.NOT_IN, [owner.labels[k]])
                      for k in term.get("mismatchLabelKeys") or [] if k in owner.labels]
            self.selector = sel.add(*extra) if extra else sel
        except labels.SelectorError:
            self.selector = labels.NOTHING
        ns_sel = term.get("namespaceSelector")
        self.namespaces = set(term.get("namespaces") or [])
        self.ns_selector: labels.Selector | None = None
        if ns_sel is not None:
            try:
                self.ns_selector = labels.from_label_selector(ns_sel)
            except labels.SelectorError:
                self.ns_selector = labels.NOTHING
        elif not self.namespaces:
            self.namespaces = {owner.namespace}

    def matches(self, pod: framework.PodInfo, ns_labels: NamespaceLabels) -> bool:
        if pod.namespace not in self.namespaces:
            if self.ns_selector is None:
                return False
            if not self.ns_selector.empty and not self.ns_selector.matches(ns_labels(pod.namespace)):
                return False
        return self.selector.matches(pod.labels)


def _compile(pod: framework.PodInfo, which: str) -> list[Term]:
    got = pod.compiled.get(which)
    if got is None:
        if which == "affinity":
            got = [Term(t, pod) for t in pod.affinity]
        elif which == "anti":
            got = [Term(t, pod) for t in pod.anti_affinity]
        elif which == "pref":
            got = [Term(w.get("podAffinityTerm") or {}, pod, weight=int(w.get("weight") or 0))
                   for w in pod.preferred_affinity]
        else:
            got = [Term(w.get("podAffinityTerm") or {}, pod, weight=-int(w.get("weight") or 0))
                   for w in pod.preferred_anti_affinity]
        pod.compiled[which] = got
    return got


def required_affinity(pod: framework.PodInfo) -> list[Term]:
    return _compile(pod, "affinity")


def required_anti_affinity(pod: framework.PodInfo) -> list[Term]:
    return _compile(pod, "anti")


def preferred(pod: framework.PodInfo) -> list[Term]:
    """Preferred affinity (positive weight) and anti-affinity (negative weight) terms."""
    return _compile(pod, "pref") + _compile(pod, "prefanti")
