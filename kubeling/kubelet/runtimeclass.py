"""Which runtime handler runs a pod: the kubelet's side of RuntimeClass.

A pod naming ``spec.runtimeClassName`` runs with that class's ``handler``; a
pod naming none runs with the node's default. kubeling's runtime offers one
handler, ``runc`` (the default), so a class whose handler is anything else
cannot get a sandbox on this node: :meth:`Resolver.handler` raises
:class:`SandboxRefused` and the pod stays Pending with a
``FailedCreatePodSandBox`` event, as upstream's kubelet leaves a pod whose
handler its container runtime does not configure; :func:`pending_status` is
the status such a pod shows (no sandbox, every container waiting).

Classes are read from an informer on ``runtimeclasses`` (cluster-scoped), as
upstream's kubelet does; a class missing from it is an error that the next
sync of the pod retries, which also covers a class created a moment ago.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubeling.client import informer, rest
from kubeling.kubelet import podstatus

Obj = dict[str, Any]

#: The handlers kubeling's runtime can run; the first is what pods without a class get.
HANDLERS: tuple[str, ...] = ("runc",)
#: The event reason upstream's kubelet records when a sandbox cannot be created.
FAILED_CREATE_POD_SANDBOX = "FailedCreatePodSandBox"


class SandboxRefused(Exception):
    """The pod's sandbox cannot be created here; the message says why (upstream's wording)."""


class Resolver:
    def __init__(self, client: rest.Client, *, handlers: Iterable[str] = HANDLERS) -> None:
        self.handlers = tuple(handlers)
        self.informer = informer.Informer(client, rest.RUNTIMECLASSES)

    def start(self) -> None:
        self.informer.start()

    def stop(self) -> None:
        self.informer.stop()

    def handler(self, pod: Obj) -> str:
        """The handler to create the pod's sandbox with; :class:`SandboxRefused` if there is none."""
        name = (pod.get("spec") or {}).get("runtimeClassName") or ""
        if not name:
            return self.handlers[0]
        rc = self.informer.store.get_by_name(name)
        if rc is None:
            raise SandboxRefused(f'runtimeclass.node.k8s.io "{name}" not found')
        handler = str(rc.get("handler") or "")
        if handler not in self.handlers:
            # containerd's answer to a handler it has no configuration for.
            raise SandboxRefused(f'failed to get sandbox runtime: no runtime for "{handler}" is configured')
        return handler


def event_message(exc: SandboxRefused) -> str:
    """The FailedCreatePodSandBox event's message."""
    return f"Failed to create pod sandbox: {exc}"


def pending_status(pod: Obj, *, node_ip: str, now: str) -> Obj:
    """The status of a pod whose sandbox could not be made: Pending, not ready to
    start containers, each container waiting (ContainerCreating; PodInitializing
    for regular containers behind init containers), what other writers set kept."""
    spec = pod.get("spec") or {}
    inits = list(spec.get("initContainers") or [])
    status: Obj = {k: v for k, v in (pod.get("status") or {}).items() if k != "conditions"}
    status.update({"phase": "Pending", "hostIP": node_ip, "hostIPs": [{"ip": node_ip}]})
    status.setdefault("startTime", now)
    main_reason = "PodInitializing" if inits else "ContainerCreating"
    status["containerStatuses"] = [
        podstatus.container_status(podstatus.ContainerView(spec=c, waiting_reason=main_reason))
        for c in spec.get("containers") or []]
    if inits:
        status["initContainerStatuses"] = [podstatus.container_status(podstatus.ContainerView(spec=c))
                                           for c in inits]
    status["conditions"] = podstatus.conditions(pod, init_done=not inits, containers_ready=False,
                                                phase_="Pending", sandbox_ready=False)
    return status
