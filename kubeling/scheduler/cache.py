"""The scheduler's node cache: every node with the pods on it, kept current
incrementally from the pod and node informers, plus *assumed* pods.

Contract (upstream's internal cache):

* ``assume(pod_info, node)`` puts a pod on a node the moment the scheduler
  picks it, before the binding is written, so the next cycle already counts
  its resources; ``forget`` takes it back if binding fails. When the informer
  later reports the pod bound, ``add_pod`` confirms it (on whatever node the
  API says).
* A pod whose node is not known yet waits on a placeholder until the node
  arrives; placeholders are not offered to filters.
* Pods that have finished (Succeeded/Failed) hold nothing and are dropped.
* ``node_infos()`` is the cycle's view: a list in a stable order, rebuilt only
  when nodes come or go. The event loop is single-threaded and a scheduling
  cycle never awaits, so no copy (upstream's snapshot) is needed.
"""

from __future__ import annotations

from kubeling.scheduler import framework, resources

Obj = framework.Obj


def pod_is_finished(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


class Cache:
    def __init__(self) -> None:
        self._nodes: dict[str, framework.NodeInfo] = {}
        self._real: set[str] = set()
        self._order: list[framework.NodeInfo] | None = []
        self._pod_node: dict[str, str] = {}  # pod key -> node name
        self.assumed: set[str] = set()
        self._image_nodes: dict[str, int] = {}
        self._affinity_nodes: set[str] = set()
        self._anti_affinity_nodes: set[str] = set()

    # ---- nodes ----------------------------------------------------------------------
    def add_node(self, node: Obj) -> framework.NodeInfo:
        name = (node.get("metadata") or {})["name"]
        ni = self._nodes.get(name)
        if ni is None:
            ni = self._nodes[name] = framework.NodeInfo(node)
        else:
            self._count_images(ni, -1)
            ni.set_node(node)
        self._count_images(ni, 1)
        if name not in self._real:
            self._real.add(name)
            self._order = None
        return ni

    update_node = add_node

    def remove_node(self, name: str) -> None:
        ni = self._nodes.get(name)
        if ni is None or name not in self._real:
            return
        self._count_images(ni, -1)
        self._real.discard(name)
        self._order = None
        if not ni.pods:
            del self._nodes[name]
            self._affinity_nodes.discard(name)
            self._anti_affinity_nodes.discard(name)

    def _count_images(self, ni: framework.NodeInfo, sign: int) -> None:
        for img in ni.images:
            n = self._image_nodes.get(img, 0) + sign
            if n > 0:
                self._image_nodes[img] = n
            else:
                self._image_nodes.pop(img, None)

    # ---- pods -----------------------------------------------------------------------
    def _place(self, pi: framework.PodInfo, node_name: str) -> None:
        ni = self._nodes.get(node_name)
        if ni is None:  # the node is not known yet: wait on a placeholder
            ni = self._nodes[node_name] = framework.NodeInfo({"metadata": {"name": node_name}})
        ni.add_pod(pi)
        self._pod_node[pi.key] = node_name
        self._track_affinity(ni)

    def _unplace(self, key: str) -> None:
        name = self._pod_node.pop(key, None)
        if name is None:
            return
        ni = self._nodes.get(name)
        if ni is None:
            return
        pi = ni.pods.get(key)
        if pi is not None:
            ni.remove_pod(pi)
        self._track_affinity(ni)
        if not ni.pods and name not in self._real:
            del self._nodes[name]

    def _track_affinity(self, ni: framework.NodeInfo) -> None:
        if ni.pods_with_affinity:
            self._affinity_nodes.add(ni.name)
        else:
            self._affinity_nodes.discard(ni.name)
        if ni.pods_with_anti_affinity:
            self._anti_affinity_nodes.add(ni.name)
        else:
            self._anti_affinity_nodes.discard(ni.name)

    def add_pod(self, pi: framework.PodInfo) -> None:
        """A bound pod seen by the informer (added or updated): confirms an assumed one."""
        if pod_is_finished(pi.pod) or not pi.node_name:
            self.remove_pod(pi.key)
            return
        self.assumed.discard(pi.key)
        self._unplace(pi.key)
        self._place(pi, pi.node_name)

    update_pod = add_pod

    def remove_pod(self, key: str) -> None:
        self.assumed.discard(key)
        self._unplace(key)

    def assume(self, pi: framework.PodInfo, node_name: str) -> framework.PodInfo:
        """Count ``pi`` on ``node_name`` now; returns the assumed PodInfo."""
        pod = dict(pi.pod)
        pod["spec"] = dict(pod.get("spec") or {}, nodeName=node_name)
        assumed = framework.PodInfo(pod, priority=pi.priority)
        self._unplace(pi.key)
        self._place(assumed, node_name)
        self.assumed.add(pi.key)
        return assumed

    def forget(self, key: str) -> None:
        """Binding failed: take back an assumed pod (a confirmed one stays)."""
        if key in self.assumed:
            self.assumed.discard(key)
            self._unplace(key)

    def is_assumed(self, key: str) -> bool:
        return key in self.assumed

    def node_of(self, key: str) -> str | None:
        return self._pod_node.get(key)

    # ---- the cycle's view -----------------------------------------------------------
    def node_infos(self) -> list[framework.NodeInfo]:
        if self._order is None:
            self._order = [self._nodes[n] for n in sorted(self._real)]
        return self._order

    def get(self, name: str) -> framework.NodeInfo | None:
        return self._nodes.get(name) if name in self._real else None

    def have_pods_with_affinity(self) -> list[framework.NodeInfo]:
        return [self._nodes[n] for n in self._affinity_nodes if n in self._real]

    def have_pods_with_anti_affinity(self) -> list[framework.NodeInfo]:
        return [self._nodes[n] for n in self._anti_affinity_nodes if n in self._real]

    def image_spread(self, image: str) -> int:
        return self._image_nodes.get(resources.normalize_image(image), 0)

    def __len__(self) -> int:
        return len(self._real)
