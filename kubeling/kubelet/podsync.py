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
* probes (:mod:`kubeling.kubelet.probes`): workers per running container;
  a failed liveness or startup probe kills the container (then restarted by
  its policy), readiness and startup results give ``ready`` and ``started``;
  a changed result re-syncs the pod through ``resync``;
* lifecycle hooks and termination messages (:mod:`kubeling.kubelet.lifecycle`):
  postStart after the start (a failure kills the container), preStop within
  the grace period before SIGTERM, SIGKILL when the grace period is over;
* a pod with a deletionTimestamp is stopped within its grace period;
  a finished pod's sandbox is stopped so its address is released, and a pod
  its restartPolicy has finished is never given a new sandbox;
* a pod the kubelet fails for good (:mod:`kubeling.kubelet.terminal`: its
  activeDeadlineSeconds passed, node-pressure eviction through
  :meth:`PodSyncer.fail`, or refused at admission under pressure through
  ``admit``) has its containers killed and volumes released and is reported
  ``Failed`` with the reason;
* events as upstream's kubelet records them (Pulled, Created, Started,
  Killing, BackOff, Failed, Unhealthy, FailedPostStartHook, FailedPreStopHook).

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

from kubeling.client import events
from kubeling.kubelet import (
    containerconfig,
    crashbackoff,
    imagepull,
    lifecycle,
    podstatus,
    probes,
    runtimeclass,
    terminal,
    volumes,
)
from kubeling.kubelet import node as nodelib
from kubeling.kubelet.images import store as imagestore
from kubeling.kubelet.runtime import protocol as cri

Obj = dict[str, Any]
log = logging.getLogger("kubeling.kubelet.podsync")

UID_LABEL = "io.kubernetes.pod.uid"
NAME_LABEL = "io.kubernetes.container.name"
RESTARTS = "io.kubernetes.container.restartCount"
MIN_GRACE_AFTER_HOOK = 2.0  # seconds a container always gets after its preStop hook, as upstream


@dataclasses.dataclass
class Result:
    status: Obj | None  # the pod status to publish (None: leave it)
    requeue: float | None = None  # seconds until the next look
    finished: bool = False  # terminating pod fully stopped: delete it from the API


class PodSyncer:
    def __init__(self, runtime: cri.RuntimeService, images: imagestore.Store, data_dir: pathlib.Path, *,
                 node_ip: str, dns: cri.DNSConfig | None,
                 load_sources: Callable[[Obj], Awaitable[volumes.Sources]],
                 recorder: events.Recorder | None = None, resync: Callable[[str], None] | None = None,
                 runtime_classes: runtimeclass.Resolver | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self.runtime = runtime
        self.runtime_classes = runtime_classes  # None: every pod runs with the default handler
        self.images = images
        self.data_dir = data_dir
        self.node_ip = node_ip
        self.dns = dns
        self.load_sources = load_sources
        self.wall = wall
        self._backoff = crashbackoff.Backoff(wall)
        self._failures: dict[str, terminal.Failure] = {}  # uid -> how the kubelet failed it
        # Asked before a pod's first sandbox: a Failure refuses the pod (the eviction manager's admission).
        self.admit: Callable[[Obj], terminal.Failure | None] | None = None
        self.recorder = recorder
        self._pulls = imagepull.ImagePulls(images, self._event)
        # What the node offers stands in for limits a container leaves unset (downward API).
        self.allocatable = nodelib.capacity(data_dir)[1]
        self.resync = resync  # enqueues a pod by key (probe results changed)
        self._keys: dict[str, str] = {}  # uid -> namespace/name
        self.probes = probes.Manager(runtime, on_change=self._probe_changed,
                                     on_unhealthy=lambda pod, _c, msg: self._event(pod, events.WARNING,
                                                                                   "Unhealthy", msg),
                                     wall=wall)

    def _event(self, pod: Obj, type_: str, reason: str, message: str) -> None:
        if self.recorder is not None:
            self.recorder.event(pod, type_, reason, message)

    def _probe_changed(self, uid: str) -> None:
        key = self._keys.get(uid)
        if key is not None and self.resync is not None:
            self.resync(key)

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
        self._keys[md["uid"]] = f"{md.get('namespace', '')}/{md['name']}"
        if md.get("deletionTimestamp"):
            return await self._terminate(pod)
        phase_now = (pod.get("status") or {}).get("phase")
        if phase_now in ("Succeeded", "Failed"):
            self.probes.remove_pod(md["uid"])
            await self.stop_pod(md["uid"], grace=0)
            self._failures.pop(md["uid"], None)
            return Result(None)
        failure = self._failures.get(md["uid"]) or terminal.deadline_failure(pod, self.wall())
        if failure is not None:
            return await self._fail(pod, failure)
        result = await self._sync_active(pod)
        left = terminal.deadline_left(pod, self.wall())
        if left is not None:  # look again when the deadline passes
            result.requeue = left if result.requeue is None else min(result.requeue, left)
        return result

    def fail(self, uid: str, failure: terminal.Failure) -> terminal.Failure:
        """Fail the pod for good at its next sync (the caller enqueues it). A
        failure already under way stands and is returned instead."""
        return self._failures.setdefault(uid, failure)

    async def _sync_active(self, pod: Obj) -> Result:
        md = pod["metadata"]
        every = await self.sandboxes(md["uid"])
        if not every and self.admit is not None and (refusal := self.admit(pod)) is not None:
            return await self._fail(pod, refusal)
        ready = [s for s in every if s.state == cri.SandboxState.READY]
        if ready:
            sandbox = ready[0]
        elif every and await self._done_for_good(pod, newest := max(every, key=lambda s: s.created_at)):
            sandbox = newest  # finished by its restartPolicy: report it, never run it again
        else:
            if self.runtime_classes is not None:
                try:
                    self.runtime_classes.handler(pod)
                except runtimeclass.SandboxRefused as exc:
                    # No sandbox for a handler this node lacks: Pending, retried (the class may change).
                    self._event(pod, events.WARNING, runtimeclass.FAILED_CREATE_POD_SANDBOX,
                                runtimeclass.event_message(exc))
                    return Result(runtimeclass.pending_status(pod, node_ip=self.node_ip, now=_rfc3339(self.wall())),
                                  requeue=10.0)
            # A dead sandbox means every container restarts in a new one, as upstream.
            attempt = len(await self.sandboxes(md["uid"]))
            await self.stop_pod(md["uid"], grace=0, remove=True)
            cfg = containerconfig.sandbox_config(pod, log_directory=str(self.log_dir(pod)), dns=self.dns,
                                                 attempt=attempt)
            self.log_dir(pod).mkdir(parents=True, exist_ok=True)
            sandbox_id = await self.runtime.run_pod_sandbox(cfg)
            sandbox = await self.runtime.pod_sandbox_status(sandbox_id)
        return await self._sync_containers(pod, sandbox)

    async def _done_for_good(self, pod: Obj, sandbox: cri.PodSandboxStatus) -> bool:
        """Upstream's rule against a new sandbox: a Never pod that already ran
        containers, or an OnFailure pod whose containers all succeeded."""
        spec = pod.get("spec") or {}
        policy = spec.get("restartPolicy") or "Always"
        runs = await self.containers(sandbox.id)
        if policy == "Never":
            return bool(runs)
        if policy == "OnFailure":
            names = [c["name"] for c in spec.get("containers") or []]
            return all(n in runs and runs[n][0].state == cri.ContainerState.EXITED and runs[n][0].exit_code == 0
                       for n in names)
        return False

    async def _sync_containers(self, pod: Obj, sandbox: cri.PodSandboxStatus) -> Result:
        spec = pod.get("spec") or {}
        md = pod["metadata"]
        uid = md["uid"]
        pod_ip = sandbox.ip or self.node_ip
        policy = spec.get("restartPolicy") or "Always"
        existing = await self.containers(sandbox.id)
        init_specs = list(spec.get("initContainers") or [])
        main_specs = list(spec.get("containers") or [])
        init_views = [self._view(c, existing.get(c["name"], []), uid) for c in init_specs]
        main_views = [self._view(c, existing.get(c["name"], []), uid) for c in main_specs]
        # Ephemeral containers (kubectl debug) join a running pod; each runs once, never restarted.
        eph_views = [self._view(c, existing.get(c["name"], []), uid) for c in spec.get("ephemeralContainers") or []]
        requeue: float | None = None
        sources: volumes.Sources | None = None
        config_error = ""
        try:
            sources = await self.load_sources(pod)
            paths = volumes.materialize(pod, self.pod_dir(uid), sources, node_allocatable=self.allocatable)
        except (volumes.VolumeError, containerconfig.ConfigError, OSError) as exc:
            config_error = str(exc)
            paths = {}

        def again(seconds: float) -> None:
            nonlocal requeue
            requeue = seconds if requeue is None else min(requeue, seconds)

        async def start(view: podstatus.ContainerView) -> None:
            name = view.spec["name"]
            if config_error:
                view.waiting_reason, view.waiting_message = "CreateContainerConfigError", config_error
                self._event(pod, events.WARNING, "Failed", f"Error: {config_error}")
                again(2.0)
                return
            if not await self._pulls.ready(pod, view, sources):
                again(2.0 if view.waiting_reason == "ErrImagePull" else 10.0)
                return
            wait = self._backoff.left(uid, view)
            if wait > 0:
                view.waiting_reason = "CrashLoopBackOff"
                view.waiting_message = (f"back-off {int(self._backoff.delay(uid, name))}s restarting failed "
                                        f"container={name} pod={md['name']}_{md['namespace']}({uid})")
                self._event(pod, events.WARNING, "BackOff", f"Back-off restarting failed container {name} in pod "
                                                             f"{md['name']}_{md['namespace']}({uid})")
                again(wait)
                return
            try:
                assert sources is not None
                await self._start(pod, sandbox, view, sources, paths)
            except (containerconfig.ConfigError, volumes.VolumeError) as exc:
                view.waiting_reason, view.waiting_message = "CreateContainerConfigError", str(exc)
                self._event(pod, events.WARNING, "Failed", f"Error: {exc}")
                again(2.0)
            except cri.RuntimeError_ as exc:
                view.waiting_reason, view.waiting_message = "RunContainerError", str(exc)
                self._event(pod, events.WARNING, "Failed", f"Error: {exc}")
                again(2.0)

        # Running containers that failed their liveness or startup probe are killed first.
        for view in main_views:
            cur = view.current
            if cur is None or cur.state != cri.ContainerState.RUNNING:
                continue
            for kind in (probes.Kind.LIVENESS, probes.Kind.STARTUP):
                if self.probes.result(uid, view.spec["name"], kind, cur.id) is False:
                    restart = policy != "Never"
                    message = f"Container {view.spec['name']} failed {kind.value} probe" + \
                              (", will be restarted" if restart else "")
                    probe_grace = (view.spec.get(kind.field) or {}).get("terminationGracePeriodSeconds")
                    await self._kill(pod, view.spec, cur, grace=self._grace(pod, probe_grace), message=message,
                                     pod_ip=pod_ip)
                    view.current = await self.runtime.container_status(cur.id)
                    break

        init_done = True
        for i, view in enumerate(init_views):
            cur = view.current
            if cur is not None and cur.state == cri.ContainerState.EXITED and cur.exit_code == 0:
                view.waiting_reason = ""
                continue
            init_done = False
            if cur is None or (cur.state == cri.ContainerState.EXITED and policy != "Never"):
                await start(view)
            for later in init_views[i + 1:]:
                if later.current is None:
                    later.waiting_reason = "PodInitializing"
            break
        if init_done:
            for view in main_views:
                cur = view.current
                if cur is None or cur.state == cri.ContainerState.EXITED and (
                        policy == "Always" or (policy == "OnFailure" and cur.exit_code != 0)):
                    await start(view)
            for view in eph_views:
                if view.current is None:
                    await start(view)
        else:
            for view in main_views:
                if view.current is None:
                    view.waiting_reason = "PodInitializing"
        running_now: dict[str, tuple[str, float]] = {}
        for view in init_views + main_views + eph_views:
            cur = view.current
            name = view.spec["name"]
            running = cur is not None and cur.state == cri.ContainerState.RUNNING and not view.waiting_reason
            is_main = view.spec in main_specs
            if running and is_main:
                assert cur is not None
                running_now[name] = (cur.id, (cur.started_at or cur.created_at) / 1e9)
            started = running
            if running and is_main and view.spec.get("startupProbe"):
                assert cur is not None
                started = self.probes.result(uid, name, probes.Kind.STARTUP, cur.id) is True
            ready = running and started and is_main
            if ready and view.spec.get("readinessProbe"):
                assert cur is not None
                ready = self.probes.result(uid, name, probes.Kind.READINESS, cur.id) is True
            view.started, view.ready = started, ready
            if cur is not None and cur.state == cri.ContainerState.EXITED:
                view.termination_message = lifecycle.termination_message(self.pod_dir(uid), view.spec, cur)
            if view.previous is not None and view.previous.state == cri.ContainerState.EXITED:
                view.previous_message = lifecycle.termination_message(self.pod_dir(uid), view.spec, view.previous)
        phase = podstatus.phase(spec, init_views, main_views, init_done=init_done)
        if phase in ("Succeeded", "Failed"):
            self.probes.remove_pod(uid)
            await self.stop_pod(uid, grace=0)
        else:
            self.probes.update(pod, running_now, pod_ip)
        status = self._status(pod, sandbox, init_views, main_views, phase, init_done)
        if eph_views:
            status["ephemeralContainerStatuses"] = [podstatus.container_status(v) for v in eph_views]
        return Result(status, requeue)

    @staticmethod
    def _grace(pod: Obj, override: Any = None) -> float:
        if override is not None:
            return float(override)
        value = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        return float(30 if value is None else value)

    async def _kill(self, pod: Obj, spec: Obj, st: cri.ContainerStatus, *, grace: float, message: str,
                    pod_ip: str) -> None:
        """Upstream's killContainer: the Killing event, the preStop hook within the
        grace period, then SIGTERM and SIGKILL after what is left of it."""
        self._event(pod, events.NORMAL, "Killing", message)
        pre = (spec.get("lifecycle") or {}).get("preStop")
        if pre and grace > 0:
            began = time.monotonic()
            try:
                err = await asyncio.wait_for(lifecycle.run_hook(pre, runtime=self.runtime, container_id=st.id,
                                                                container=spec, pod_ip=pod_ip), grace)
            except TimeoutError:
                err = ""
                log.info("preStop hook of %s did not finish within %ss", spec["name"], grace)
            if err:
                self._event(pod, events.WARNING, "FailedPreStopHook", err)
            grace = max(MIN_GRACE_AFTER_HOOK, grace - (time.monotonic() - began))
        await self.runtime.stop_container(st.id, grace)

    def _view(self, spec: Obj, runs: list[cri.ContainerStatus], uid: str) -> podstatus.ContainerView:
        cur = runs[0] if runs else None
        prev = runs[1] if len(runs) > 1 else None
        restarts = cur.metadata.attempt if cur is not None else 0
        return podstatus.ContainerView(spec=spec, current=cur, previous=prev, restart_count=restarts)

    async def _start(self, pod: Obj, sandbox: cri.PodSandboxStatus, view: podstatus.ContainerView,
                     sources: volumes.Sources, paths: dict[str, str]) -> None:
        cur = view.current
        attempt = cur.metadata.attempt + 1 if cur is not None else 0
        spec = view.spec
        uid = pod["metadata"]["uid"]
        # The pod's addresses are known from the sandbox before any status carries them.
        ip = sandbox.ip or self.node_ip
        seen = {**pod, "status": {**(pod.get("status") or {}), "podIP": ip, "podIPs": [{"ip": ip}],
                                  "hostIP": self.node_ip, "hostIPs": [{"ip": self.node_ip}]}}
        env = containerconfig.environment(seen, spec, sources, node_ip=self.node_ip,
                                          node_allocatable=self.allocatable)
        mounts = volumes.mounts(spec, paths)
        mounts.append(lifecycle.prepare_message_file(self.pod_dir(uid), spec, attempt))
        log_rel = f"{spec['name']}/{attempt}.log"
        (self.log_dir(pod) / spec["name"]).mkdir(parents=True, exist_ok=True)
        cfg = containerconfig.container_config(pod, spec, attempt=attempt, env=env, mounts=mounts, log_path=log_rel)
        if spec.get("targetContainerName"):  # kubectl debug --target: that container's processes
            cfg.pid_target = await self._running_id(sandbox.id, spec["targetContainerName"])
        sb_cfg = containerconfig.sandbox_config(pod, log_directory=str(self.log_dir(pod)), dns=self.dns)
        # Keep one exited run for `kubectl logs --previous`; older ones go.
        if view.previous is not None:
            await self.runtime.remove_container(view.previous.id)
            lifecycle.remove_message_file(self.pod_dir(uid), spec["name"], view.previous.metadata.attempt)
        cid = await self.runtime.create_container(sandbox.id, cfg, sb_cfg)
        self._event(pod, events.NORMAL, "Created", f"Created container {spec['name']}")
        await self.runtime.start_container(cid)
        self._event(pod, events.NORMAL, "Started", f"Started container {spec['name']}")
        view.previous = cur
        view.restart_count = attempt
        view.waiting_reason = ""
        post = (spec.get("lifecycle") or {}).get("postStart")
        if post:
            pod_ip = sandbox.ip or self.node_ip
            err = await lifecycle.run_hook(post, runtime=self.runtime, container_id=cid, container=spec,
                                           pod_ip=pod_ip)
            if err:
                self._event(pod, events.WARNING, "FailedPostStartHook", err)
                st = await self.runtime.container_status(cid)
                await self._kill(pod, spec, st, grace=self._grace(pod), message="FailedPostStartHook",
                                 pod_ip=pod_ip)
                view.waiting_reason, view.waiting_message = "PostStartHookError", err
        view.current = await self.runtime.container_status(cid)

    async def _running_id(self, sandbox_id: str, name: str) -> str:
        runs = [c for c in (await self.containers(sandbox_id)).get(name, []) if c.state == cri.ContainerState.RUNNING]
        if not runs:
            raise cri.InvalidArgument(f"target container {name} is not running")
        return runs[0].id

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

    async def _stop_all(self, pod: Obj, grace: float) -> dict[str, cri.ContainerStatus]:
        """Kill every running container of the pod (preStop, SIGTERM, SIGKILL after
        ``grace``), stop its sandboxes; returns each container's newest run."""
        md = pod["metadata"]
        spec = pod.get("spec") or {}
        self.probes.remove_pod(md["uid"])
        sandboxes = await self.sandboxes(md["uid"])
        specs = {c["name"]: c for kind in ("initContainers", "containers", "ephemeralContainers")
                 for c in spec.get(kind) or []}
        kills = []
        for sb in sandboxes:
            for c in await self.runtime.list_containers(cri.ContainerFilter(sandbox_id=sb.id)):
                name = c.labels.get(NAME_LABEL, c.metadata.name)
                if c.state == cri.ContainerState.RUNNING and name in specs:
                    kills.append(self._kill(pod, specs[name], c, grace=grace, message=f"Stopping container {name}",
                                            pod_ip=sb.ip or self.node_ip))
        await asyncio.gather(*kills)
        await self.stop_pod(md["uid"], grace=0)
        final: dict[str, cri.ContainerStatus] = {}
        for sb in sorted(sandboxes, key=lambda s: s.created_at):
            for name, runs in (await self.containers(sb.id)).items():
                final[name] = runs[0]
        return final

    def _final_statuses(self, pod: Obj, specs: list[Obj], final: dict[str, cri.ContainerStatus]) -> list[Obj]:
        out = []
        for c in specs:
            st = final.get(c["name"])
            view = podstatus.ContainerView(spec=c, current=st, restart_count=st.metadata.attempt if st else 0)
            if st is not None and st.state == cri.ContainerState.EXITED:
                view.termination_message = lifecycle.termination_message(self.pod_dir(pod["metadata"]["uid"]), c, st)
            out.append(podstatus.container_status(view))
        return out

    async def _terminate(self, pod: Obj) -> Result:
        md = pod["metadata"]
        spec = pod.get("spec") or {}
        final = await self._stop_all(pod, self._grace(pod, md.get("deletionGracePeriodSeconds")))
        status = dict(pod.get("status") or {})
        status["containerStatuses"] = self._final_statuses(pod, spec.get("containers") or [], final)
        for sb in await self.sandboxes(md["uid"]):
            await self.runtime.remove_pod_sandbox(sb.id)
        volumes.teardown(self.pod_dir(md["uid"]))
        self.forget(md["uid"])
        return Result(status, finished=True)

    async def _fail(self, pod: Obj, failure: terminal.Failure) -> Result:
        """Carry out a :class:`terminal.Failure`: idempotent, so a sync that runs
        again before the Failed status is published reports the same."""
        md = pod["metadata"]
        spec = pod.get("spec") or {}
        self._failures[md["uid"]] = failure  # until the Failed phase is seen in the API
        if failure.event:
            failure.event = False
            self._event(pod, failure.event_type, failure.reason, failure.message)
        grace = self._grace(pod) if failure.grace is None else failure.grace
        final = await self._stop_all(pod, grace)
        volumes.teardown(self.pod_dir(md["uid"]))
        failure.done.set()
        status = terminal.failed_status(
            pod, failure, containers=self._final_statuses(pod, spec.get("containers") or [], final),
            init_containers=self._final_statuses(pod, spec.get("initContainers") or [], final))
        return Result(status)

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
        self.probes.remove_pod(uid)
        self._keys.pop(uid, None)
        self._backoff.forget(uid)
        failure = self._failures.pop(uid, None)
        if failure is not None:
            failure.done.set()  # gone before it was carried out: nothing is left to wait for
        self._pulls.forget(uid)


def _rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
