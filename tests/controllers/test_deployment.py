"""The Deployment controller (with the ReplicaSet controller making the pods) against
a real API server, and ``kubectl rollout`` against both.

There is no kubelet: a small loop in the test marks pods Running and Ready through
the API (only pods a test's ``ready`` predicate accepts, so a test can hold a
rollout back with an "image that never starts").
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from kubeling.client import rest
from kubeling.controllers import deployment, podutil, replicaset
from kubeling.controllers import deploymentutil as du
from kubeling.lib import timeutil
from tests.controllers import harness
from tests.controllers.harness import Cluster
from tests.e2e.cluster import kubectl_binary

Obj = dict[str, Any]


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout: float = 60.0) -> Any:
    """The harness's ``eventually`` with room for a loaded machine (a bound, not a timing)."""
    return await harness.eventually(check, timeout=max(timeout, 60.0))
NS = "default"
BAD_IMAGE = "registry.invalid/never:starts"


def deploy_body(name: str, replicas: int, *, image: str = "busybox:1", strategy: Obj | None = None,
                **spec: Any) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "strategy": strategy or {"type": "RollingUpdate"},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}, **spec}}


def image_of(pod: Obj) -> str:
    return str(pod["spec"]["containers"][0]["image"])


async def kubelet(c: rest.Client, ready: Callable[[Obj], bool]) -> None:
    """Mark pods Running+Ready as a kubelet would once their containers start."""
    while True:
        for pod in (await c.list(rest.PODS, namespace=NS))["items"]:
            if podutil.is_ready(pod) or podutil.is_terminating(pod) or not ready(pod):
                continue
            pod["status"] = {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": timeutil.rfc3339()}]}
            try:
                await c.update_status(rest.PODS, pod, namespace=NS)
            except (rest.Conflict, rest.NotFound):
                pass
        await asyncio.sleep(0.02)


async def start(cluster: Cluster, *, ready: Callable[[Obj], bool] | None = None) -> deployment.DeploymentController:
    ctrl = await cluster.run(deployment.DeploymentController)
    await cluster.run(replicaset.ReplicaSetController)
    cluster.spawn(kubelet(cluster.client, ready or (lambda p: image_of(p) != BAD_IMAGE)))
    return ctrl  # type: ignore[return-value]


async def owned_rss(c: rest.Client, d_name: str) -> list[Obj]:
    d = await c.get(rest.DEPLOYMENTS, d_name, namespace=NS)
    items = (await c.list(rest.REPLICASETS, namespace=NS))["items"]
    # Oldest revision first (creation times have one-second resolution).
    return sorted((rs for rs in items if podutil.owned_by(rs, d)), key=du.revision)


async def set_image(c: rest.Client, name: str, image: str, **annotations: str) -> Obj:
    patch: Obj = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}
    if annotations:
        patch["metadata"] = {"annotations": annotations}
    return await c.patch(rest.DEPLOYMENTS, name, patch, namespace=NS, patch_type="strategic")


async def complete(c: rest.Client, name: str) -> Obj:
    async def check() -> Obj:
        d = await c.get(rest.DEPLOYMENTS, name, namespace=NS)
        st = d.get("status") or {}
        assert st.get("observedGeneration") == d["metadata"]["generation"]
        assert du.complete(d, st), st
        cond = du.condition(st, du.PROGRESSING)
        assert cond is not None and cond["reason"] == du.NEW_RS_AVAILABLE, st
        return d

    return await eventually(check, timeout=30)  # type: ignore[no-any-return]


async def scaling_events(c: rest.Client, name: str) -> list[str]:
    items = (await c.list(rest.EVENTS, namespace=NS))["items"]
    return [e["message"] for e in items
            if e["involvedObject"]["name"] == name and e["reason"] == "ScalingReplicaSet"]


# ---- pure arithmetic ---------------------------------------------------------------------------

def test_fenceposts_round_as_upstream() -> None:
    d = deploy_body("x", 10, strategy={"type": "RollingUpdate",
                                       "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    assert du.fenceposts(d) == (3, 2)  # surge rounds up, unavailable down
    d["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": 0, "maxUnavailable": "5%"}
    assert du.fenceposts(d) == (0, 1)  # both zero: one may be unavailable
    d["spec"]["strategy"] = {"type": "Recreate"}
    assert du.max_surge(d) == 0 and du.max_unavailable(d) == 0
    with pytest.raises(ValueError):
        du.scaled_value("3", 10, round_up=True)


def test_template_hash_and_equality() -> None:
    t = deploy_body("x", 1)["spec"]["template"]
    h = du.template_hash(t, None)
    assert h == du.template_hash(dict(reversed(list(t.items()))), None)
    assert h != du.template_hash(t, 1)
    assert set(h) <= set("bcdfghjklmnpqrstvwxz2456789") and 1 <= len(h) <= 10
    hashed = {"metadata": {"labels": {"app": "x", du.HASH_LABEL: h}, "annotations": {}}, "spec": t["spec"]}
    assert du.equal_ignore_hash(t, hashed)
    other = {"metadata": t["metadata"], "spec": {"containers": [{"name": "c", "image": "other"}]}}
    assert not du.equal_ignore_hash(t, other)


def test_revision_history_annotation() -> None:
    d = {"metadata": {"annotations": {du.CHANGE_CAUSE: "v1", du.REVISION: "9"}}, "spec": {"replicas": 2}}
    rs: Obj = {"metadata": {"annotations": {du.REVISION: "1"}}, "spec": {"replicas": 0}}
    assert du.set_new_rs_annotations(d, rs, 3, exists=True)
    ann = rs["metadata"]["annotations"]
    assert ann[du.REVISION] == "3" and ann[du.REVISION_HISTORY] == "1" and ann[du.CHANGE_CAUSE] == "v1"
    assert du.DESIRED_REPLICAS not in ann
    ann[du.REVISION] = "4"
    du.set_new_rs_annotations(d, rs, 6, exists=True)
    assert ann[du.REVISION_HISTORY] == "1,4"
    assert not du.set_new_rs_annotations(d, rs, 5, exists=True)  # never lowered


# ---- the controller ---------------------------------------------------------------------------

async def test_create_scale_and_status(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    await c.create(rest.DEPLOYMENTS, deploy_body("web", 3) | {
        "metadata": {"name": "web", "annotations": {du.CHANGE_CAUSE: "first"}}}, namespace=NS)
    d = await complete(c, "web")
    [rs] = await owned_rss(c, "web")
    h = rs["metadata"]["labels"][du.HASH_LABEL]
    assert rs["metadata"]["name"] == f"web-{h}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", du.HASH_LABEL: h}
    assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", du.HASH_LABEL: h}
    ann = rs["metadata"]["annotations"]
    assert ann[du.REVISION] == "1" and ann[du.DESIRED_REPLICAS] == "3" and ann[du.MAX_REPLICAS] == "4"
    assert ann[du.CHANGE_CAUSE] == "first"
    assert d["metadata"]["annotations"][du.REVISION] == "1"
    st = d["status"]
    assert (st.get("replicas"), st.get("updatedReplicas"), st.get("readyReplicas"), st.get("availableReplicas")) == (3, 3, 3, 3)
    assert "unavailableReplicas" not in st
    avail = du.condition(st, du.AVAILABLE)
    assert avail is not None and avail["status"] == "True" and avail["reason"] == du.MIN_AVAILABLE
    assert f"Scaled up replica set web-{h} from 0 to 3" in await scaling_events(c, "web")

    # Scaling changes the RS size, not the template: no new RS.
    await c.patch(rest.DEPLOYMENTS, "web", {"spec": {"replicas": 1}}, namespace=NS)
    await complete(c, "web")
    [rs] = await owned_rss(c, "web")
    assert rs["spec"]["replicas"] == 1 and rs["metadata"]["annotations"][du.DESIRED_REPLICAS] == "1"
    assert f"Scaled down replica set web-{h} from 3 to 1" in await scaling_events(c, "web")


async def watch_pods(c: rest.Client, rv: str, on_event: Callable[[str, Obj], None]) -> None:
    async with c.watch(rest.PODS, namespace=NS, resource_version=rv) as w:
        async for ev in w:
            if ev.type in ("ADDED", "MODIFIED", "DELETED"):
                on_event(ev.type, ev.object)


@pytest.mark.conformance("Deployment RollingUpdate")
async def test_rolling_update_adopts_deletes_old_pods_and_keeps_availability(cluster: Cluster) -> None:
    """As upstream's RollingUpdateDeployment test: an existing RS (revision N) running
    the pods is adopted by a new Deployment with the same selector; the rollout makes
    revision N+1, and the old pods are replaced. With maxUnavailable=0 the number of
    ready pods never drops below spec.replicas (checked on every pod watch event)."""
    c = cluster.client
    await start(cluster)
    labels = {"name": "sample-pod", "pod": "httpd"}
    old_rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
              "metadata": {"name": "test-rolling-update-controller", "labels": labels,
                           "annotations": {du.REVISION: "3546343826724305832"}},
              "spec": {"replicas": 3, "selector": {"matchLabels": labels},
                       "template": {"metadata": {"labels": labels},
                                    "spec": {"containers": [{"name": "httpd", "image": "httpd"}]}}}}
    await c.create(rest.REPLICASETS, old_rs, namespace=NS)

    async def old_ready() -> None:
        rs = await c.get(rest.REPLICASETS, "test-rolling-update-controller", namespace=NS)
        assert (rs.get("status") or {}).get("availableReplicas") == 3

    await eventually(old_ready)
    ready: dict[str, bool] = {}
    lowest = [3]

    def on_event(kind: str, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        if kind == "DELETED" or podutil.is_terminating(pod):
            ready.pop(uid, None)
        else:
            ready[uid] = podutil.is_ready(pod)
        lowest[0] = min(lowest[0], sum(ready.values()))

    listed = await c.list(rest.PODS, namespace=NS)
    for p in listed["items"]:
        ready[p["metadata"]["uid"]] = podutil.is_ready(p)
    watcher = cluster.spawn(watch_pods(c, listed["metadata"]["resourceVersion"], on_event))
    body = deploy_body("test-rolling-update-deployment", 3, strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
    body["spec"]["selector"] = {"matchLabels": labels}
    body["spec"]["template"]["metadata"]["labels"] = labels
    await c.create(rest.DEPLOYMENTS, body, namespace=NS)
    d = await complete(c, "test-rolling-update-deployment")
    assert d["metadata"]["annotations"][du.REVISION] == "3546343826724305833"
    rss = await owned_rss(c, "test-rolling-update-deployment")
    assert rss[0]["metadata"]["name"] == "test-rolling-update-controller"
    old, new = rss
    assert old["spec"]["replicas"] == 0 and new["spec"]["replicas"] == 3
    assert new["metadata"]["annotations"][du.REVISION] == "3546343826724305833"

    async def only_new_pods() -> None:
        pods = [p for p in (await c.list(rest.PODS, namespace=NS))["items"] if not podutil.is_terminating(p)]
        assert len(pods) == 3 and all(podutil.owned_by(p, new) for p in pods)

    await eventually(only_new_pods)
    watcher.cancel()
    assert lowest[0] >= 3
    msgs = await scaling_events(c, "test-rolling-update-deployment")
    name = new["metadata"]["name"]
    assert msgs[0] == f"Scaled up replica set {name} from 0 to 1"
    assert "Scaled down replica set test-rolling-update-controller from 3 to 2" in msgs


@pytest.mark.conformance("Deployment Recreate")
async def test_recreate_never_runs_old_and_new_together(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    await c.create(rest.DEPLOYMENTS, deploy_body("test-recreate-deployment", 3, image="httpd",
                                                 strategy={"type": "Recreate"}), namespace=NS)
    await complete(c, "test-recreate-deployment")
    images: dict[str, str] = {}
    mixed: list[set[str]] = []

    def on_event(kind: str, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        if kind == "DELETED":
            images.pop(uid, None)
        else:
            images[uid] = image_of(pod)
        if len(set(images.values())) > 1:
            mixed.append(set(images.values()))

    listed = await c.list(rest.PODS, namespace=NS)
    for p in listed["items"]:
        images[p["metadata"]["uid"]] = image_of(p)
    watcher = cluster.spawn(watch_pods(c, listed["metadata"]["resourceVersion"], on_event))
    await set_image(c, "test-recreate-deployment", "agnhost")
    d = await complete(c, "test-recreate-deployment")
    assert d["metadata"]["annotations"][du.REVISION] == "2"
    old, new = await owned_rss(c, "test-recreate-deployment")
    assert old["spec"]["replicas"] == 0 and new["spec"]["replicas"] == 3
    await eventually(lambda: _pods_are(c, {"agnhost"}, 3))
    watcher.cancel()
    assert mixed == []
    msgs = await scaling_events(c, "test-recreate-deployment")
    assert f"Scaled down replica set {old['metadata']['name']} from 3 to 0" in msgs
    assert f"Scaled up replica set {new['metadata']['name']} from 0 to 3" in msgs


async def _pods_are(c: rest.Client, images: set[str], count: int) -> None:
    pods = [p for p in (await c.list(rest.PODS, namespace=NS))["items"] if not podutil.is_terminating(p)]
    assert {image_of(p) for p in pods} == images and len(pods) == count


@pytest.mark.conformance("Deployment Proportional Scaling")
async def test_proportional_scaling_mid_rollout(cluster: Cluster) -> None:
    """Upstream's numbers: 10 replicas, maxSurge 3, maxUnavailable 2; a rollout to an
    image that never starts stalls with 8 old + 5 new; scaling to 30 gives 20 + 13."""
    c = cluster.client
    await start(cluster)
    await c.create(rest.DEPLOYMENTS, deploy_body("webserver", 10, image="httpd", strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 3, "maxUnavailable": 2}}), namespace=NS)
    await complete(c, "webserver")
    await set_image(c, "webserver", BAD_IMAGE)

    async def stalled() -> tuple[Obj, Obj]:
        rss = await owned_rss(c, "webserver")
        assert len(rss) == 2
        old, new = rss
        assert old["spec"]["replicas"] == 8 and new["spec"]["replicas"] == 5
        assert (old.get("status") or {}).get("availableReplicas") == 8
        return old, new

    await eventually(stalled)
    await c.patch(rest.DEPLOYMENTS, "webserver", {"spec": {"replicas": 30}}, namespace=NS)

    async def proportional() -> None:
        o, n = await owned_rss(c, "webserver")
        assert (o["spec"]["replicas"], n["spec"]["replicas"]) == (20, 13)
        assert o["metadata"]["annotations"][du.MAX_REPLICAS] == "33"
        assert n["metadata"]["annotations"][du.DESIRED_REPLICAS] == "30"

    await eventually(proportional, timeout=30)
    # And back down while still stalled: 30 -> 10 (max 13) shares the cut the same way.
    await c.patch(rest.DEPLOYMENTS, "webserver", {"spec": {"replicas": 10}}, namespace=NS)

    async def shrunk() -> None:
        o, n = await owned_rss(c, "webserver")
        assert o["spec"]["replicas"] + n["spec"]["replicas"] == 13
        assert (o["spec"]["replicas"], n["spec"]["replicas"]) == (8, 5)

    await eventually(shrunk, timeout=30)


@pytest.mark.conformance("Deployment RevisionHistoryLimit")
async def test_revision_history_limit_deletes_old_replica_sets(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    await c.create(rest.DEPLOYMENTS, deploy_body("hist", 1, revisionHistoryLimit=1), namespace=NS)
    await complete(c, "hist")
    for i in range(3):
        await set_image(c, "hist", f"busybox:{i + 2}")
        await complete(c, "hist")

    async def one_old_left() -> None:
        rss = await owned_rss(c, "hist")
        assert [du.revision(rs) for rs in rss] == [3, 4]
        assert rss[0]["spec"]["replicas"] == 0

    await eventually(one_old_left)
    await c.patch(rest.DEPLOYMENTS, "hist", {"spec": {"revisionHistoryLimit": 0}}, namespace=NS)
    await set_image(c, "hist", "busybox:9")
    await complete(c, "hist")

    async def none_old_left() -> None:
        rss = await owned_rss(c, "hist")
        assert [du.revision(rs) for rs in rss] == [5]

    await eventually(none_old_left)


async def test_pause_blocks_rollout_but_not_scaling(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    created = await c.create(rest.DEPLOYMENTS, deploy_body("paused", 2), namespace=NS)
    reasons: list[str] = []

    async def watch_progressing() -> None:
        rv = created["metadata"]["resourceVersion"]
        async with c.watch(rest.DEPLOYMENTS, namespace=NS, resource_version=rv) as w:
            async for ev in w:
                cond = du.condition(ev.object.get("status") or {}, du.PROGRESSING)
                if cond is not None and (not reasons or reasons[-1] != cond["reason"]):
                    reasons.append(cond["reason"])

    watcher = cluster.spawn(watch_progressing())
    await complete(c, "paused")
    await c.patch(rest.DEPLOYMENTS, "paused", {"spec": {"paused": True}}, namespace=NS)

    async def paused_condition() -> None:
        d = await c.get(rest.DEPLOYMENTS, "paused", namespace=NS)
        cond = du.condition(d.get("status") or {}, du.PROGRESSING)
        assert cond is not None and (cond["status"], cond["reason"]) == ("Unknown", du.PAUSED)
        assert cond["message"] == "Deployment is paused"

    await eventually(paused_condition)
    await set_image(c, "paused", "busybox:2")
    await c.patch(rest.DEPLOYMENTS, "paused", {"spec": {"replicas": 4}}, namespace=NS)

    async def scaled_not_rolled() -> None:
        d = await c.get(rest.DEPLOYMENTS, "paused", namespace=NS)
        assert (d.get("status") or {}).get("observedGeneration") == d["metadata"]["generation"]
        rss = await owned_rss(c, "paused")
        assert len(rss) == 1
        rs = rss[0]
        assert rs["spec"]["replicas"] == 4 and image_of(rs["spec"]["template"]) == "busybox:1"

    await eventually(scaled_not_rolled)
    await c.patch(rest.DEPLOYMENTS, "paused", {"spec": {"paused": False}}, namespace=NS)
    d = await complete(c, "paused")
    assert d["metadata"]["annotations"][du.REVISION] == "2"
    old, new = await owned_rss(c, "paused")
    assert old["spec"]["replicas"] == 0 and new["spec"]["replicas"] == 4
    assert image_of(new["spec"]["template"]) == "busybox:2"
    watcher.cancel()
    assert reasons[0] == du.NEW_RS_CREATED and reasons[-1] == du.NEW_RS_AVAILABLE
    i = reasons.index(du.PAUSED)
    assert reasons[i + 1] == du.RESUMED and du.NEW_RS_CREATED in reasons[i + 2:]


async def test_progress_deadline_exceeded(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    await c.create(rest.DEPLOYMENTS, deploy_body("stuck", 1, image=BAD_IMAGE, progressDeadlineSeconds=2),
                   namespace=NS)

    async def timed_out() -> None:
        d = await c.get(rest.DEPLOYMENTS, "stuck", namespace=NS)
        d.setdefault("status", {})
        cond = du.condition(d["status"], du.PROGRESSING)
        assert cond is not None and (cond["status"], cond["reason"]) == ("False", du.TIMED_OUT)
        [rs] = await owned_rss(c, "stuck")
        assert cond["message"] == f'ReplicaSet "{rs["metadata"]["name"]}" has timed out progressing.'
        avail = du.condition(d["status"], du.AVAILABLE)
        assert avail is not None and (avail["status"], avail["reason"]) == ("False", du.MIN_UNAVAILABLE)
        assert d["status"].get("unavailableReplicas") == 1

    # Nothing changes in the world after the pod is created: only the controller's
    # own requeue at the deadline can notice it passed.
    await eventually(timed_out, timeout=30)


async def kubectl(cluster: Cluster, *args: str, check: bool = True) -> tuple[int, str]:
    """Stock kubectl against the in-process server (run without blocking its event loop)."""
    env = {**os.environ, "KUBECONFIG": str(cluster.srv.options.data_dir / "kubeconfig")}
    proc = await asyncio.create_subprocess_exec(kubectl_binary(), "-n", NS, *args, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    text = out.decode()
    if check:
        assert proc.returncode == 0, f"kubectl {' '.join(args)} failed:\n{text}"
    return proc.returncode or 0, text


async def test_kubectl_rollout_status_history_undo_pause_resume_restart(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    body = deploy_body("roll", 2)
    body["metadata"]["annotations"] = {du.CHANGE_CAUSE: "first version"}
    await c.create(rest.DEPLOYMENTS, body, namespace=NS)
    _, out = await kubectl(cluster, "rollout", "status", "deployment/roll", "--timeout=60s")
    assert 'deployment "roll" successfully rolled out' in out

    await kubectl(cluster, "set", "image", "deployment/roll", "c=busybox:2")
    await kubectl(cluster, "annotate", "deployment/roll", f"{du.CHANGE_CAUSE}=second version", "--overwrite")
    _, out = await kubectl(cluster, "rollout", "status", "deployment/roll", "--timeout=60s")
    assert 'deployment "roll" successfully rolled out' in out
    _, out = await kubectl(cluster, "rollout", "history", "deployment/roll")
    lines = [ln.split(None, 1) for ln in out.splitlines() if ln[:1].isdigit()]
    assert lines == [["1", "first version"], ["2", "second version"]]

    _, out = await kubectl(cluster, "rollout", "undo", "deployment/roll")
    assert "deployment.apps/roll rolled back" in out
    _, out = await kubectl(cluster, "rollout", "status", "deployment/roll", "--timeout=60s")
    assert 'deployment "roll" successfully rolled out' in out
    d = await complete(c, "roll")
    assert image_of(d["spec"]["template"]) == "busybox:1"
    assert d["metadata"]["annotations"][du.REVISION] == "3"
    rss = await owned_rss(c, "roll")
    assert len(rss) == 2  # the first RS was reused, not a new one made
    second, first = rss
    assert image_of(first["spec"]["template"]) == "busybox:1" and first["spec"]["replicas"] == 2
    assert first["metadata"]["annotations"][du.REVISION] == "3"
    assert first["metadata"]["annotations"][du.REVISION_HISTORY] == "1"
    assert second["spec"]["replicas"] == 0
    _, out = await kubectl(cluster, "rollout", "history", "deployment/roll")
    assert [ln.split(None, 1)[0] for ln in out.splitlines() if ln[:1].isdigit()] == ["2", "3"]

    await kubectl(cluster, "rollout", "pause", "deployment/roll")
    rc, out = await kubectl(cluster, "rollout", "restart", "deployment/roll", check=False)
    assert rc != 0 and "paused" in out
    await kubectl(cluster, "rollout", "resume", "deployment/roll")
    await kubectl(cluster, "rollout", "restart", "deployment/roll")
    _, out = await kubectl(cluster, "rollout", "status", "deployment/roll", "--timeout=60s")
    assert 'deployment "roll" successfully rolled out' in out
    d = await complete(c, "roll")
    assert d["metadata"]["annotations"][du.REVISION] == "4"
    newest = (await owned_rss(c, "roll"))[-1]
    assert "kubectl.kubernetes.io/restartedAt" in newest["spec"]["template"]["metadata"]["annotations"]


async def test_kubectl_rollout_status_reports_deadline(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    await c.create(rest.DEPLOYMENTS, deploy_body("late", 1, image=BAD_IMAGE, progressDeadlineSeconds=1),
                   namespace=NS)
    rc, out = await kubectl(cluster, "rollout", "status", "deployment/late", "--timeout=60s", check=False)
    assert rc != 0 and 'deployment "late" exceeded its progress deadline' in out


@pytest.mark.conformance("Deployment Rollover")
async def test_rollover_mid_rollout(cluster: Cluster) -> None:
    """As upstream's rollover test: an adopted RS runs the pods, the Deployment first
    rolls to an image that never starts (stuck: maxUnavailable 0 keeps the old pod),
    then is changed again before that finishes; the final RS takes over and both
    earlier RSes end at zero."""
    c = cluster.client
    await start(cluster)
    labels = {"name": "rollover-pod", "pod": "httpd"}
    await c.create(rest.REPLICASETS, {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "test-rollover-controller", "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "httpd", "image": "httpd"}]}}}}, namespace=NS)
    body = deploy_body("test-rollover-deployment", 1, image=BAD_IMAGE, minReadySeconds=2, strategy={
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
    body["spec"]["selector"] = {"matchLabels": labels}
    body["spec"]["template"]["metadata"]["labels"] = labels
    await c.create(rest.DEPLOYMENTS, body, namespace=NS)

    async def stuck() -> None:
        d = await c.get(rest.DEPLOYMENTS, "test-rollover-deployment", namespace=NS)
        assert (d.get("status") or {}).get("updatedReplicas") == 1
        rss = await owned_rss(c, "test-rollover-deployment")
        assert [rs["spec"]["replicas"] for rs in rss] == [1, 1]
        assert (rss[0].get("status") or {}).get("availableReplicas") == 1
        assert not (rss[1].get("status") or {}).get("availableReplicas")

    await eventually(stuck, timeout=30)
    await set_image(c, "test-rollover-deployment", "agnhost")
    d = await complete(c, "test-rollover-deployment")
    # The adopted RS had no revision: the stuck rollout was revision 1, this one is 2.
    assert d["metadata"]["annotations"][du.REVISION] == "2"
    rss = await owned_rss(c, "test-rollover-deployment")
    assert rss[0]["metadata"]["name"] == "test-rollover-controller"
    assert [rs["spec"]["replicas"] for rs in rss] == [0, 0, 1]
    assert image_of(rss[2]["spec"]["template"]) == "agnhost"


@pytest.mark.conformance("Deployment, completes the lifecycle of a Deployment")
async def test_deployment_lifecycle(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    body = deploy_body("test-deployment", 1, image="httpd")
    body["metadata"]["labels"] = {"test-deployment-static": "true"}
    await c.create(rest.DEPLOYMENTS, body, namespace=NS)

    async def available(n: int) -> Obj:
        d = await c.get(rest.DEPLOYMENTS, "test-deployment", namespace=NS)
        st = d.get("status") or {}
        assert st.get("availableReplicas") == n and st.get("readyReplicas") == n
        assert st.get("observedGeneration") == d["metadata"]["generation"]
        return d

    await eventually(lambda: available(1))
    await c.patch(rest.DEPLOYMENTS, "test-deployment", {
        "metadata": {"labels": {"test-deployment": "patched"}},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "c", "image": "agnhost"}]}}}},
        namespace=NS, patch_type="strategic")
    await eventually(lambda: available(2), timeout=30)
    await eventually(lambda: _pods_are(c, {"agnhost"}, 2), timeout=30)
    listed = await c.list(rest.DEPLOYMENTS, namespace=NS, label_selector="test-deployment-static=true")
    assert [d["metadata"]["name"] for d in listed["items"]] == ["test-deployment"]

    # Scale through the scale subresource.
    scale = await c.get(rest.DEPLOYMENTS, "test-deployment", namespace=NS, subresource="scale")
    assert scale["spec"]["replicas"] == 2
    scale["spec"]["replicas"] = 3
    del scale["metadata"]["resourceVersion"]  # unconditional: the controller writes status meanwhile
    await c.update(rest.DEPLOYMENTS, scale, namespace=NS, subresource="scale")
    await eventually(lambda: available(3), timeout=30)

    # A status condition written by a client survives the controller's next syncs.
    await c.patch(rest.DEPLOYMENTS, "test-deployment", {"status": {"conditions": [
        {"type": "StatusPatched", "status": "True", "reason": "E2E", "message": "set from the test"}]}},
        namespace=NS, subresource="status", patch_type="merge")
    await c.patch(rest.DEPLOYMENTS, "test-deployment", {"spec": {"replicas": 1}}, namespace=NS)
    d = await eventually(lambda: available(1), timeout=30)
    st = await c.get(rest.DEPLOYMENTS, "test-deployment", namespace=NS, subresource="status")
    assert du.condition(st["status"], "StatusPatched") is not None
    assert du.condition(d["status"], "StatusPatched") is not None

    await c.delete_collection(rest.DEPLOYMENTS, namespace=NS, label_selector="test-deployment-static=true")

    async def gone() -> None:
        assert (await c.list(rest.DEPLOYMENTS, namespace=NS))["items"] == []

    await eventually(gone)


async def test_hash_collision_bumps_collision_count(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    await c.create(rest.DEPLOYMENTS, deploy_body("coll", 1, paused=True), namespace=NS)
    d = await c.get(rest.DEPLOYMENTS, "coll", namespace=NS)
    template = d["spec"]["template"]
    squatter = f"coll-{du.template_hash(template, None)}"
    other = {"app": "someone-else"}
    await c.create(rest.REPLICASETS, {
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": squatter, "labels": other},
        "spec": {"replicas": 0, "selector": {"matchLabels": other},
                 "template": {"metadata": {"labels": other},
                              "spec": {"containers": [{"name": "c", "image": "other"}]}}}}, namespace=NS)
    await c.patch(rest.DEPLOYMENTS, "coll", {"spec": {"paused": False}}, namespace=NS)
    d = await complete(c, "coll")
    assert d["status"]["collisionCount"] == 1
    [rs] = await owned_rss(c, "coll")
    assert rs["metadata"]["name"] == f"coll-{du.template_hash(template, 1)}" != squatter
    assert not (await c.get(rest.REPLICASETS, squatter, namespace=NS))["metadata"].get("ownerReferences")


async def test_releases_replica_set_that_stops_matching(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    await c.create(rest.DEPLOYMENTS, deploy_body("rel", 1), namespace=NS)
    await complete(c, "rel")
    [rs] = await owned_rss(c, "rel")
    await c.patch(rest.REPLICASETS, rs["metadata"]["name"], {"metadata": {"labels": {"app": "gone"}}},
                  namespace=NS)

    async def released() -> None:
        got = await c.get(rest.REPLICASETS, rs["metadata"]["name"], namespace=NS)
        assert not got["metadata"].get("ownerReferences")
        rss = await owned_rss(c, "rel")
        assert len(rss) == 1 and rss[0]["metadata"]["uid"] != rs["metadata"]["uid"]

    await eventually(released, timeout=30)


@pytest.mark.conformance("Deployment, completes the scaling of a Deployment subresource")
async def test_deployment_scale_subresource(cluster: Cluster) -> None:
    c = cluster.client
    await start(cluster)
    await c.create(rest.DEPLOYMENTS, deploy_body("test-new-deployment", 1, image="httpd"), namespace=NS)
    await complete(c, "test-new-deployment")
    await eventually(lambda: _pods_are(c, {"httpd"}, 1))
    scale = await c.get(rest.DEPLOYMENTS, "test-new-deployment", namespace=NS, subresource="scale")
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 1 and scale["status"]["replicas"] == 1
    scale["spec"]["replicas"] = 2
    del scale["metadata"]["resourceVersion"]  # unconditional: the controller writes status meanwhile
    updated = await c.update(rest.DEPLOYMENTS, scale, namespace=NS, subresource="scale")
    assert updated["spec"]["replicas"] == 2
    assert (await c.get(rest.DEPLOYMENTS, "test-new-deployment", namespace=NS))["spec"]["replicas"] == 2
    await c.patch(rest.DEPLOYMENTS, "test-new-deployment", {"spec": {"replicas": 4}}, namespace=NS,
                  subresource="scale")
    assert (await c.get(rest.DEPLOYMENTS, "test-new-deployment", namespace=NS))["spec"]["replicas"] == 4
    d = await complete(c, "test-new-deployment")
    assert d["status"]["availableReplicas"] == 4
    await eventually(lambda: _pods_are(c, {"httpd"}, 4))


async def test_replica_failure_reaches_the_deployment(cluster: Cluster) -> None:
    """A pod creation the API refuses surfaces on the RS as ReplicaFailure and is copied
    onto the Deployment's conditions; it goes away once pods can be made."""
    c = cluster.client
    refuse = {"on": True}

    class Refusing:
        def __getattr__(self, name: str) -> Any:
            return getattr(c, name)

        async def create(self, ref: rest.ResourceRef, obj: Obj, **kw: Any) -> Obj:
            if ref == rest.PODS and refuse["on"]:
                raise rest.Forbidden(403, "Forbidden", 'pods "x" is forbidden: exceeded quota: q')
            return await c.create(ref, obj, **kw)

    await cluster.run(deployment.DeploymentController)
    ctx = cluster.context()
    ctx.client = Refusing()  # type: ignore[assignment]
    await cluster.run(replicaset.ReplicaSetController, ctx=ctx)
    cluster.spawn(kubelet(c, lambda p: True))
    await c.create(rest.DEPLOYMENTS, deploy_body("failing", 1), namespace=NS)

    async def failure() -> None:
        d = await c.get(rest.DEPLOYMENTS, "failing", namespace=NS)
        cond = du.condition(d.get("status") or {}, du.REPLICA_FAILURE)
        assert cond is not None and (cond["status"], cond["reason"]) == ("True", "FailedCreate")
        assert "exceeded quota" in cond["message"]

    await eventually(failure)
    refuse["on"] = False
    d = await complete(c, "failing")
    assert du.condition(d["status"], du.REPLICA_FAILURE) is None


async def test_replica_set_creation_failure_is_reported(cluster: Cluster) -> None:
    c = cluster.client
    refuse = {"on": True}

    class Refusing:
        def __getattr__(self, name: str) -> Any:
            return getattr(c, name)

        async def create(self, ref: rest.ResourceRef, obj: Obj, **kw: Any) -> Obj:
            if ref == rest.REPLICASETS and refuse["on"]:
                raise rest.Forbidden(403, "Forbidden", "replicasets.apps is forbidden: not today")
            return await c.create(ref, obj, **kw)

    ctx = cluster.context()
    ctx.client = Refusing()  # type: ignore[assignment]
    await cluster.run(deployment.DeploymentController, ctx=ctx)
    await cluster.run(replicaset.ReplicaSetController)
    cluster.spawn(kubelet(c, lambda p: True))
    await c.create(rest.DEPLOYMENTS, deploy_body("norights", 1), namespace=NS)

    async def reported() -> None:
        d = await c.get(rest.DEPLOYMENTS, "norights", namespace=NS)
        cond = du.condition(d.get("status") or {}, du.PROGRESSING)
        assert cond is not None and (cond["status"], cond["reason"]) == ("False", du.FAILED_RS_CREATE)
        assert cond["message"].startswith('Failed to create new replica set "norights-')
        assert cond["message"].endswith(": replicasets.apps is forbidden: not today")
        items = (await c.list(rest.EVENTS, namespace=NS))["items"]
        assert any(e["reason"] == du.FAILED_RS_CREATE and e["type"] == "Warning" for e in items)

    await eventually(reported)
    refuse["on"] = False
    await complete(c, "norights")
