"""The plugin table and the default profile (upstream's default plugin set and weights).

Filters run in the order listed, cheapest first as upstream orders them;
volume plugins are not implemented. Score weights are upstream's defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubeling.scheduler import framework
from kubeling.scheduler.plugins import (
    balancedallocation,
    imagelocality,
    interpodaffinity,
    nodeaffinity,
    nodename,
    nodeports,
    noderesources,
    nodeunschedulable,
    podtopologyspread,
    tainttoleration,
)

DEFAULT_SCHEDULER = "default-scheduler"

PluginFactory = Callable[[framework.Handle], Any]

PLUGINS: dict[str, PluginFactory] = {
    nodeunschedulable.NAME: nodeunschedulable.NodeUnschedulable,
    nodename.NAME: nodename.NodeName,
    tainttoleration.NAME: tainttoleration.TaintToleration,
    nodeaffinity.NAME: nodeaffinity.NodeAffinity,
    nodeports.NAME: nodeports.NodePorts,
    noderesources.NAME: noderesources.NodeResourcesFit,
    podtopologyspread.NAME: podtopologyspread.PodTopologySpread,
    interpodaffinity.NAME: interpodaffinity.InterPodAffinity,
    balancedallocation.NAME: balancedallocation.BalancedAllocation,
    imagelocality.NAME: imagelocality.ImageLocality,
}

DEFAULT_FILTERS: tuple[str, ...] = (
    nodeunschedulable.NAME, nodename.NAME, tainttoleration.NAME, nodeaffinity.NAME, nodeports.NAME,
    noderesources.NAME, podtopologyspread.NAME, interpodaffinity.NAME,
)

DEFAULT_SCORES: tuple[tuple[str, int], ...] = (
    (tainttoleration.NAME, 3),
    (nodeaffinity.NAME, 2),
    (noderesources.NAME, 1),
    (podtopologyspread.NAME, 2),
    (interpodaffinity.NAME, 2),
    (balancedallocation.NAME, 1),
    (imagelocality.NAME, 1),
)


class Profile:
    """One scheduler profile: its name (``spec.schedulerName``) and plugins per extension point."""

    def __init__(self, name: str, handle: framework.Handle, *, filters: tuple[str, ...] = DEFAULT_FILTERS,
                 scores: tuple[tuple[str, int], ...] = DEFAULT_SCORES) -> None:
        self.name = name
        self.handle = handle
        names = list(dict.fromkeys([*filters, *(n for n, _ in scores)]))
        self.plugins: dict[str, Any] = {n: PLUGINS[n](handle) for n in names}
        self.pre_filter = [self.plugins[n] for n in filters if hasattr(self.plugins[n], "pre_filter")]
        self.filter = [self.plugins[n] for n in filters]
        self.pre_score = [self.plugins[n] for n, _ in scores if hasattr(self.plugins[n], "pre_score")]
        self.score = [(self.plugins[n], w) for n, w in scores]


def default_profile(handle: framework.Handle, *, name: str = DEFAULT_SCHEDULER) -> Profile:
    return Profile(name, handle)
