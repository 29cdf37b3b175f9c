"""ImageLocality: prefer nodes that already hold the pod's container images
(``node.status.images``), weighting each image's size by how widely it is
spread over the cluster so one node holding a rare image does not attract
every pod; the sum is clamped between 23 MB and 1000 MB per container."""

from __future__ import annotations

from kubeling.scheduler import framework, resources

NAME = "ImageLocality"
MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB
_IMAGES = "ImageLocality/images"


def locality_score(sizes: list[tuple[str, float]], ni_images: dict[str, int], containers: int) -> int:
    total = sum(ni_images[img] * spread for img, spread in sizes if img in ni_images)
    hi = MAX_CONTAINER_THRESHOLD * max(containers, 1)
    total = min(max(total, MIN_THRESHOLD), hi)
    return int(framework.MAX_NODE_SCORE * (total - MIN_THRESHOLD) // (hi - MIN_THRESHOLD))


class ImageLocality:
    NAME = NAME

    def __init__(self, handle: framework.Handle) -> None:
        self.handle = handle

    def pre_score(self, state: framework.CycleState, pod: framework.PodInfo,
                  nodes: list[framework.NodeInfo]) -> framework.Status | None:
        snap = self.handle.snapshot
        total = len(snap.node_infos()) or 1
        sizes = []
        for img in pod.images:
            spread = snap.image_spread(img)
            if spread:
                sizes.append((resources.normalize_image(img), spread / total))
        if not sizes:
            return framework.SKIP  # no node has any of the images: every score would be 0
        state[_IMAGES] = sizes
        return None

    def score(self, state: framework.CycleState, pod: framework.PodInfo,
              nodes: list[framework.NodeInfo]) -> list[int]:
        sizes = state[_IMAGES]
        n = len(pod.images)
        return [locality_score(sizes, ni.images, n) if ni.images else 0 for ni in nodes]
