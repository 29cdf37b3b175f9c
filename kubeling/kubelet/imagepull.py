"""Getting a container's image before it starts (the image half of upstream's
``startContainer``): pulled as its ``imagePullPolicy`` says, with
``imagePullSecrets``; failures show ErrImagePull, then ImagePullBackOff, and
the events upstream's kubelet records (Pulling, Pulled, Failed, BackOff).
Failures are counted per (pod uid, container name).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubeling.client import events
from kubeling.kubelet import podstatus, volumes
from kubeling.kubelet.images import puller
from kubeling.kubelet.images import store as imagestore

Obj = dict[str, Any]


class ImagePulls:
    def __init__(self, images: imagestore.Store, event: Callable[[Obj, str, str, str], None]) -> None:
        self.images = images
        self.event = event  # (pod, type, reason, message)
        self._failures: dict[tuple[str, str], int] = {}

    async def ready(self, pod: Obj, view: podstatus.ContainerView, sources: volumes.Sources | None) -> bool:
        """Make sure the container's image is in the store, pulling it as its
        imagePullPolicy says (upstream's defaults); failures show ErrImagePull,
        then ImagePullBackOff, with the registry's message."""
        ref = view.spec.get("image", "")
        key = (pod["metadata"]["uid"], view.spec["name"])
        secrets = []
        for s in (pod.get("spec") or {}).get("imagePullSecrets") or []:
            secret = (sources.secrets if sources else {}).get(s.get("name", ""))
            if secret is not None:
                secrets.append(secret)
        pulled = False

        def pulling() -> None:
            nonlocal pulled
            pulled = True
            self.event(pod, events.NORMAL, "Pulling", f'Pulling image "{ref}"')

        def offline(message: str) -> None:
            nonlocal pulled
            pulled = False  # the stored image is used after all
            self.event(pod, events.WARNING, "RegistryUnreachable",
                        f'Using image "{ref}" present on the node: the registry cannot be reached ({message})')

        t0 = time.monotonic()
        try:
            await puller.ensure_image(self.images, ref, policy=view.spec.get("imagePullPolicy"),
                                      credentials=secrets, on_pull=pulling, on_offline=offline)
        except imagestore.ImageError as exc:
            n = self._failures.get(key, 0) + 1
            self._failures[key] = n
            reason = getattr(exc, "reason", "ErrImagePull")
            if reason == "ErrImagePull" and n > 1:
                reason = "ImagePullBackOff"
            view.waiting_reason = reason
            view.waiting_message = str(exc) if reason != "ImagePullBackOff" else f'Back-off pulling image "{ref}"'
            if n == 1:
                self.event(pod, events.WARNING, "Failed", f'Failed to pull image "{ref}": {exc}')
            else:
                self.event(pod, events.NORMAL, "BackOff", f'Back-off pulling image "{ref}"')
            self.event(pod, events.WARNING, "Failed", f"Error: {view.waiting_reason}")
            return False
        self._failures.pop(key, None)
        if pulled:
            self.event(pod, events.NORMAL, "Pulled",
                        f'Successfully pulled image "{ref}" in {time.monotonic() - t0:.3f}s')
        else:
            self.event(pod, events.NORMAL, "Pulled", f'Container image "{ref}" already present on machine')
        return True

    def forget(self, uid: str) -> None:
        for key in [k for k in self._failures if k[0] == uid]:
            del self._failures[key]
