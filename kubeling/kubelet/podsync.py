"""One pod's reconcile on the node (upstream's ``SyncPod`` / ``SyncTerminatingPod``).

``PodSyncer.sync(pod)`` drives the runtime one step toward the pod's spec and
returns the status to publish plus when to look again:

* a sandbox (namespaces + network) per pod, recreated if it died;
* init containers one at a time, each to a zero exit, in order;
* the app containers started, and restarted by restartPolicy with
  CrashLoopBackOff's delay (10 s doubling to 5 min, reset after 10 min of
  running), keyed by pod uid and container name;
* images must be in the node's image store: a missing one shows
  ErrImagePull, then ImagePullBackOff (pulling from registries comes with the
  registry client);
* a pod with a deletionTimestamp is stopped within its grace period;
  a finished pod's sandbox is stopped so its address is released.

All runtime state is found again from the runtime's labels (pod uid,
container name, restart count), so a restarted agent adopts what runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import pathlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from kubeling.kubelet import containerconfig, podstatus, volumes
from kubeling.kubelet.images import store as imagestore
from kubeling.kubelet.runtime import protocol as cri

Obj = dict[str, Any]
log = logging.getLogger("kubeling.kubelet.podsync")

BACKOFF_START = 10.0
BACKOFF_MAX = 300.0
BACKOFF_RESET = 600.0  # running this long forgives earlier crashes
UID_LABEL = "io.kubernetes.pod.uid"
NAME_LABEL = "io.kubernetes.container.name"
RESTARTS = "io.kubernetes.container.restartCount"


@dataclasses.dataclass
class Result:
    status: Obj | None  # the pod status to publish (None: leave it)
    requeue: float | None = None  # seconds until the next look
    finished: bool = False  # terminating pod fully stopped: delete it from the API


@dataclasses.dataclass
class _Backoff:
    delay: float  # the wait charged for the next crash
    until: float  # when it was last charged (the finish time of the exit it was charged for)


class PodSyncer:
    def __init__(self, runtime: cri.RuntimeService, images: imagestore.Store, data_dir: pathlib.Path, *,
                 node_ip: str, dns: cri.DNSConfig | None,
                 load_sources: Callable[[Obj], Awaitable[volumes.Sources]],
                 wall: Callable[[], float] = time.time) -> None:
        self.runtime = runtime
        self.images = images
        self.data_dir = data_dir
        self.node_ip = node_ip
        self.dns = dns
        self.load_sources = load_sources
        self.wall = wall
        self._backoff: dict[tuple[str, str], _Backoff] = {}
        self._pull_failures: dict[tuple[str, str], int] = {}

    # ---- paths ---------------------------------------------------------------------------
    def pod_dir(self, uid: str) -> pathlib.Path:
        return self.data_dir / "pods" / uid

    def log_dir(self, pod: Obj) -> pathlib.Path:
        md = pod["metadata"]
        return self.data_dir / "logs" / "pods" / f"{md['namespace']}_{md['name']}_{md['uid']}"

    # ---- runtime lookups -----------------------------------------------------------------
    async def sandboxes(self, uid: str) -> list[cri.PodSandboxStatus]:
        return [s for s in await self.runtime.list_pod_sandboxes() if s.labels.get(UID_LABEL) == uid]

    async def containers(self, sandbox_id: str) -> dict[str, list[cri.ContainerStatus]]:
        """Per container name, its runtime containers newest first."""
        out: dict[str, list[cri.ContainerStatus]] = {}
        for c in await self.runtime.list_containers(cri.ContainerFilter(sandbox_id=sandbox_id)):
            out.setdefault(c.labels.get(NAME_LABEL, c.metadata.name), []).append(c)
        for lst in out.values():
            lst.sort(key=lambda c: c.metadata.attempt, reverse=True)
        return out

    # ---- the sync ------------------------------------------------------------------------
    async def sync(self, pod: Obj) -> Result:
        md = pod["metadata"]
        if md.get("deletionTimestamp"):
            return await self._terminate(pod)
        phase_now = (pod.get("status") or {}).get("phase")
        if phase_now in ("Succeeded", "Failed"):
            await self.stop_pod(md["uid"], grace=0)
            return Result(None)
        ready = [s for s in await self.sandboxes(md["uid"]) if s.state == cri.SandboxState.READY]
        if ready:
            sandbox = ready[0]
        else:
            # A dead sandbox means every container restarts in a new one, as upstream.
            attempt = len(await self.sandboxes(md["uid"]))
            await self.stop_pod(md["uid"], grace=0, remove=True)
            cfg = containerconfig.sandbox_config(pod, log_directory=str(self.log_dir(pod)), dns=self.dns,
                                                 attempt=attempt)
            self.log_dir(pod).mkdir(parents=True, exist_ok=True)
            sandbox_id = await self.runtime.run_pod_sandbox(cfg)
            sandbox = await self.runtime.pod_sandbox_status(sandbox_id)
        return await self._sync_containers(pod, sandbox)

    async def _sync_containers(self, pod: Obj, sandbox: cri.PodSandboxStatus) -> Result:
        spec = pod.get("spec") or {}
        uid = pod["metadata"]["uid"]
        policy = spec.get("restartPolicy") or "Always"
        existing = await self.containers(sandbox.id)
        init_specs = list(spec.get("initContainers") or [])
        main_specs = list(spec.get("containers") or [])
        init_views = [self._view(c, existing.get(c["name"], []), uid) for c in init_specs]
        main_views = [self._view(c, existing.get(c["name"], []), uid) for c in main_specs]
        requeue: float | None = None
        sources: volumes.Sources | None = None
        config_error = ""
        try:
            sources = await self.load_sources(pod)
            paths = volumes.materialize(pod, self.pod_dir(uid), sources)
        except (volumes.VolumeError, containerconfig.ConfigError, OSError) as exc:
            config_error = str(exc)
            paths = {}

        async def start(view: podstatus.ContainerView) -> None:
            nonlocal requeue
            if config_error:
                view.waiting_reason, view.waiting_message = "CreateContainerConfigError", config_error
                requeue = 2.0
                return
            if not await self._image_ready(pod, view):
                requeue = 2.0 if view.waiting_reason == "ErrImagePull" else 10.0
                return
            wait = self._backoff_left(uid, view)
            if wait > 0:
                view.waiting_reason = "CrashLoopBackOff"
                name = view.spec["name"]
                view.waiting_message = (f"back-off {int(self._backoff[(uid, name)].delay)}s restarting failed "
                                        f"container={name} pod={pod['metadata']['name']}_"
                                        f"{pod['metadata']['namespace']}({uid})")
                requeue = min(requeue or wait, wait)
                return
            try:
                assert sources is not None
                await self._start(pod, sandbox, view, sources, paths)
            except (containerconfig.ConfigError, volumes.VolumeError) as exc:
                view.waiting_reason, view.waiting_message = "CreateContainerConfigError", str(exc)
                requeue = 2.0
            except cri.RuntimeError_ as exc:
                view.waiting_reason, view.waiting_message = "RunContainerError", str(exc)
                requeue = 2.0

        init_done = True
        for view in init_views:
            cur = view.current
            if cur is not None and cur.state == cri.ContainerState.EXITED and cur.exit_code == 0:
                view.waiting_reason = ""
                continue
            init_done = False
            if cur is None or (cur.state == cri.ContainerState.EXITED and policy != "Never"):
                await start(view)
            break
        if init_done:
            for view in main_views:
                cur = view.current
                if cur is None or cur.state == cri.ContainerState.EXITED and (
                        policy == "Always" or (policy == "OnFailure" and cur.exit_code != 0)):
                    await start(view)
        for view in init_views + main_views:
            cur = view.current
            running = cur is not None and cur.state == cri.ContainerState.RUNNING and not view.waiting_reason
            view.ready = running and view.spec in main_specs
            view.started = running
        phase = podstatus.phase(spec, init_views, main_views, init_done=init_done)
        if phase in ("Succeeded", "Failed"):
            await self.stop_pod(uid, grace=0)
        status = self._status(pod, sandbox, init_views, main_views, phase, init_done)
        return Result(status, requeue)

    def _view(self, spec: Obj, runs: list[cri.ContainerStatus], uid: str) -> podstatus.ContainerView:
        cur = runs[0] if runs else None
        prev = runs[1] if len(runs) > 1 else None
        restarts = cur.metadata.attempt if cur is not None else 0
        return podstatus.ContainerView(spec=spec, current=cur, previous=prev, restart_count=restarts)

    async def _image_ready(self, pod: Obj, view: podstatus.ContainerView) -> bool:
        ref = view.spec.get("image", "")
        key = (pod["metadata"]["uid"], view.spec["name"])
        try:
            self.images.resolve(ref)
        except imagestore.ImageError as exc:
            n = self._pull_failures.get(key, 0) + 1
            self._pull_failures[key] = n
            view.waiting_reason = "ErrImagePull" if n == 1 else "ImagePullBackOff"
            view.waiting_message = (f'failed to pull image "{ref}": {exc}; import it with `kubeling image import`'
                                    if n == 1 else f'Back-off pulling image "{ref}"')
            return False
        self._pull_failures.pop(key, None)
        return True

    def _backoff_left(self, uid: str, view: podstatus.ContainerView) -> float:
        """Seconds the exited container must still wait; 0 means start it now
        (and charge the backoff, as upstream's flowcontrol.Backoff.Next does)."""
        cur = view.current
        if cur is None or cur.state != cri.ContainerState.EXITED:
            return 0.0
        key = (uid, view.spec["name"])
        now = self.wall()
        finished = cur.finished_at / 1e9 if cur.finished_at else now
        b = self._backoff.get(key)
        # An entry older than twice the cap has expired: ten quiet minutes reset the delay.
        expired = b is None or finished - b.until > 2 * BACKOFF_MAX
        if not expired and b is not None and now - finished < b.delay:
            return b.delay - (now - finished)
        if expired:
            self._backoff[key] = _Backoff(delay=BACKOFF_START, until=finished)
        else:
            assert b is not None
            b.delay, b.until = min(b.delay * 2, BACKOFF_MAX), finished
        return 0.0

    async def _start(self, pod: Obj, sandbox: cri.PodSandboxStatus, view: podstatus.ContainerView,
                     sources: volumes.Sources, paths: dict[str, str]) -> None:
        cur = view.current
        attempt = cur.metadata.attempt + 1 if cur is not None else 0
        spec = view.spec
        env = containerconfig.environment(pod, spec, sources, node_ip=self.node_ip)
        mounts = volumes.mounts(spec, paths)
        log_rel = f"{spec['name']}/{attempt}.log"
        (self.log_dir(pod) / spec["name"]).mkdir(parents=True, exist_ok=True)
        cfg = containerconfig.container_config(pod, spec, attempt=attempt, env=env, mounts=mounts, log_path=log_rel)
        sb_cfg = containerconfig.sandbox_config(pod, log_directory=str(self.log_dir(pod)), dns=self.dns)
        # Keep one exited run for `kubectl logs --previous`; older ones go.
        if view.previous is not None:
            await self.runtime.remove_container(view.previous.id)
        cid = await self.runtime.create_container(sandbox.id, cfg, sb_cfg)
        await self.runtime.start_container(cid)
        view.previous = cur
        view.current = await self.runtime.container_status(cid)
        view.restart_count = attempt
        view.waiting_reason = ""

    def _status(self, pod: Obj, sandbox: cri.PodSandboxStatus, init_views: list[podstatus.ContainerView],
                main_views: list[podstatus.ContainerView], phase: str, init_done: bool) -> Obj:
        old = pod.get("status") or {}
        status: Obj = {k: v for k, v in old.items() if k not in ("conditions",)}
        status["phase"] = phase
        status["hostIP"] = self.node_ip
        status["hostIPs"] = [{"ip": self.node_ip}]
        ip = sandbox.ip or self.node_ip
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
        status.setdefault("startTime", _rfc3339(self.wall()))
        status["containerStatuses"] = [podstatus.container_status(v) for v in main_views]
        if init_views:
            status["initContainerStatuses"] = [podstatus.container_status(v) for v in init_views]
        containers_ready = all(v.ready for v in main_views)
        status["conditions"] = podstatus.conditions(pod, init_done=init_done, containers_ready=containers_ready,
                                                    phase_=phase, sandbox_ready=True)
        return status

    # ---- stopping ------------------------------------------------------------------------
    async def stop_pod(self, uid: str, *, grace: float, remove: bool = False) -> None:
        """Stop every container of the pod (SIGTERM, SIGKILL after ``grace``) and its sandboxes."""
        for sb in await self.sandboxes(uid):
            running = [c for c in await self.runtime.list_containers(cri.ContainerFilter(sandbox_id=sb.id))
                       if c.state == cri.ContainerState.RUNNING]
            await asyncio.gather(*(self.runtime.stop_container(c.id, grace) for c in running))
            if sb.state == cri.SandboxState.READY:
                await self.runtime.stop_pod_sandbox(sb.id)
            if remove:
                await self.runtime.remove_pod_sandbox(sb.id)

    async def _terminate(self, pod: Obj) -> Result:
        md = pod["metadata"]
        spec = pod.get("spec") or {}
        grace = md.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30)
        sandboxes = await self.sandboxes(md["uid"])
        final: dict[str, cri.ContainerStatus] = {}
        for sb in sandboxes:
            await self.stop_pod(md["uid"], grace=float(grace))
            for name, runs in (await self.containers(sb.id)).items():
                final[name] = runs[0]
        status = dict(pod.get("status") or {})
        views = [podstatus.ContainerView(spec=c, current=final.get(c["name"]),
                                         restart_count=final[c["name"]].metadata.attempt if c["name"] in final
                                         else 0)
                 for c in spec.get("containers") or []]
        status["containerStatuses"] = [podstatus.container_status(v) for v in views]
        for sb in sandboxes:
            await self.runtime.remove_pod_sandbox(sb.id)
        volumes.teardown(self.pod_dir(md["uid"]))
        self.forget(md["uid"])
        return Result(status, finished=True)

    async def remove_orphans(self, live_uids: set[str]) -> None:
        """Remove sandboxes of pods that no longer exist in the API (housekeeping)."""
        for sb in await self.runtime.list_pod_sandboxes():
            uid = sb.labels.get(UID_LABEL, "")
            if uid and uid not in live_uids:
                log.info("removing sandbox %s of deleted pod %s/%s", sb.id, sb.metadata.namespace, sb.metadata.name)
                await self.stop_pod(uid, grace=0, remove=True)
                volumes.teardown(self.pod_dir(uid))
                self.forget(uid)

    def forget(self, uid: str) -> None:
        for key in [k for k in self._backoff if k[0] == uid]:
            del self._backoff[key]
        for key in [k for k in self._pull_failures if k[0] == uid]:
            del self._pull_failures[key]


def _rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
