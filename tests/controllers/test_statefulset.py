"""The StatefulSet controller against a real API server. There is no kubelet:
the test plays it, marking pods Running and Ready through ``update_status``."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import pytest

from kubeling.client import rest
from kubeling.controllers import statefulset
from kubeling.lib import timeutil
from tests.controllers.harness import Cluster, eventually

Obj = dict[str, Any]
NS = "default"


def sts_body(name: str, replicas: int, *, image: str = "busybox:1", **spec: Any) -> Obj:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name, "labels": labels},
            "spec": {"replicas": replicas, "serviceName": name, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "c", "image": image}]}},
                     **spec}}


async def set_ready(c: rest.Client, name: str, *, ready: bool = True, phase: str = "Running",
                    since: datetime.datetime | None = None) -> Obj:
    ts = timeutil.rfc3339(since or timeutil.now())

    async def write() -> Obj:
        # Playing the kubelet; the controller may have just relabelled the pod (a conflict: read again).
        pod = await c.get(rest.PODS, name, namespace=NS)
        pod["status"] = {"phase": phase, "conditions": [
            {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": ts}]}
        return await c.update_status(rest.PODS, pod, namespace=NS)

    return await eventually(write)  # type: ignore[no-any-return]


async def pod_names(c: rest.Client, app: str) -> list[str]:
    items = (await c.list(rest.PODS, namespace=NS, label_selector=f"app={app}"))["items"]
    return sorted(p["metadata"]["name"] for p in items if not p["metadata"].get("deletionTimestamp"))


async def get_sts(c: rest.Client, name: str) -> Obj:
    return await c.get(rest.STATEFULSETS, name, namespace=NS)


async def wait_pods(c: rest.Client, app: str, names: list[str]) -> None:
    async def check() -> None:
        assert await pod_names(c, app) == names

    await eventually(check)


async def wait_observed(c: rest.Client, name: str) -> Obj:
    """The controller has finished a pass over the set's latest spec."""
    async def check() -> Obj:
        sts = await get_sts(c, name)
        assert sts.get("status", {}).get("observedGeneration") == sts["metadata"]["generation"]
        return sts

    return await eventually(check)  # type: ignore[no-any-return]


async def scale(c: rest.Client, name: str, replicas: int) -> None:
    await c.patch(rest.STATEFULSETS, name, {"spec": {"replicas": replicas}}, namespace=NS)


async def set_image(c: rest.Client, name: str, image: str) -> None:
    await c.patch(rest.STATEFULSETS, name, {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": image}]}}}}, namespace=NS, patch_type="strategic")


async def image_of(c: rest.Client, pod: str) -> str:
    return (await c.get(rest.PODS, pod, namespace=NS))["spec"]["containers"][0]["image"]  # type: ignore[no-any-return]


class DeletionLog:
    """Records the order of pod deletions seen on a watch."""

    def __init__(self, cluster: Cluster) -> None:
        self.deleted: list[str] = []
        self.started = asyncio.Event()
        cluster.spawn(self._run(cluster.client))

    async def _run(self, c: rest.Client) -> None:
        rv = (await c.list(rest.PODS, namespace=NS))["metadata"]["resourceVersion"]
        async with c.watch(rest.PODS, namespace=NS, resource_version=rv) as w:
            self.started.set()
            async for ev in w:
                if ev.type == "DELETED":
                    self.deleted.append(ev.object["metadata"]["name"])


async def test_ordered_create_identity_and_ordered_scale_down(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(statefulset.StatefulSetController)
    await c.create(rest.STATEFULSETS, sts_body("web", 3), namespace=NS)

    # Only web-0 until it is Running and Ready.
    await wait_pods(c, "web", ["web-0"])
    await wait_observed(c, "web")
    pod = await c.get(rest.PODS, "web-0", namespace=NS)
    labels = pod["metadata"]["labels"]
    assert labels["statefulset.kubernetes.io/pod-name"] == "web-0"
    assert labels["apps.kubernetes.io/pod-index"] == "0"
    sts = await get_sts(c, "web")
    assert labels["controller-revision-hash"] == sts["status"]["updateRevision"]
    assert pod["spec"]["hostname"] == "web-0" and pod["spec"]["subdomain"] == "web"
    ref = pod["metadata"]["ownerReferences"][0]
    assert ref["kind"] == "StatefulSet" and ref["uid"] == sts["metadata"]["uid"] and ref["controller"]
    assert await pod_names(c, "web") == ["web-0"]

    # Running but not Ready still holds the next ordinal back.
    await set_ready(c, "web-0", ready=False)
    await wait_observed(c, "web")
    assert await pod_names(c, "web") == ["web-0"]
    await set_ready(c, "web-0")
    await wait_pods(c, "web", ["web-0", "web-1"])
    await set_ready(c, "web-1")
    await wait_pods(c, "web", ["web-0", "web-1", "web-2"])
    await set_ready(c, "web-2")

    async def all_ready() -> Obj:
        st = (await get_sts(c, "web"))["status"]
        assert st["replicas"] == 3 and st["readyReplicas"] == 3 and st["availableReplicas"] == 3
        assert st["currentReplicas"] == 3 and st["updatedReplicas"] == 3
        assert st["currentRevision"] == st["updateRevision"]
        assert st["collisionCount"] == 0
        return st

    await eventually(all_ready)

    async def created_events() -> None:
        items = (await c.list(rest.EVENTS, namespace=NS))["items"]
        msgs = {(e["reason"], e["message"]) for e in items if e["involvedObject"]["name"] == "web"}
        for i in range(3):
            assert ("SuccessfulCreate", f"create Pod web-{i} in StatefulSet web successful") in msgs

    await eventually(created_events)

    # An unhealthy pod halts scaling down.
    await set_ready(c, "web-0", ready=False)
    await eventually(lambda: _ready_replicas(c, "web", 2))
    await scale(c, "web", 1)
    await wait_observed(c, "web")
    assert await pod_names(c, "web") == ["web-0", "web-1", "web-2"]

    # Healthy again: the highest ordinal goes first, one at a time.
    log = DeletionLog(cluster)
    await asyncio.wait_for(log.started.wait(), 10)
    await set_ready(c, "web-0")
    await wait_pods(c, "web", ["web-0"])

    async def in_order() -> None:
        assert log.deleted[:2] == ["web-2", "web-1"]

    await eventually(in_order)

    async def deleted_events() -> None:
        items = (await c.list(rest.EVENTS, namespace=NS))["items"]
        msgs = {(e["reason"], e["message"]) for e in items if e["involvedObject"]["name"] == "web"}
        assert ("SuccessfulDelete", "delete Pod web-2 in StatefulSet web successful") in msgs

    await eventually(deleted_events)


async def _ready_replicas(c: rest.Client, name: str, n: int) -> None:
    assert (await get_sts(c, name))["status"].get("readyReplicas", 0) == n


async def test_parallel_creates_and_deletes_all_at_once(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(statefulset.StatefulSetController)
    await c.create(rest.STATEFULSETS, sts_body("par", 3, podManagementPolicy="Parallel"), namespace=NS)
    # None is Ready, yet all three exist.
    await wait_pods(c, "par", ["par-0", "par-1", "par-2"])
    await scale(c, "par", 0)
    await wait_pods(c, "par", [])


async def test_ordinals_start(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(statefulset.StatefulSetController)
    await c.create(rest.STATEFULSETS, sts_body("os", 2, ordinals={"start": 5}), namespace=NS)
    await wait_pods(c, "os", ["os-5"])
    assert (await c.get(rest.PODS, "os-5", namespace=NS))["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "5"
    await set_ready(c, "os-5")
    await wait_pods(c, "os", ["os-5", "os-6"])


async def test_volume_claim_templates(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(statefulset.StatefulSetController)
    body = sts_body("db", 2, volumeClaimTemplates=[{
        "metadata": {"name": "data", "labels": {"tier": "storage"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
        persistentVolumeClaimRetentionPolicy={"whenDeleted": "Delete", "whenScaled": "Retain"})
    body["spec"]["template"]["spec"]["volumes"] = [{"name": "data", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}]
    sts = await c.create(rest.STATEFULSETS, body, namespace=NS)

    async def claim0() -> Obj:
        return await c.get(rest.PERSISTENTVOLUMECLAIMS, "data-db-0", namespace=NS)

    pvc = await eventually(claim0)
    assert pvc["metadata"]["labels"] == {"tier": "storage", "app": "db"}
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert pvc["metadata"]["ownerReferences"] == [
        {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": sts["metadata"]["uid"]}]
    await wait_pods(c, "db", ["db-0"])
    pod = await c.get(rest.PODS, "db-0", namespace=NS)
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    # The claim replaces the template's volume of the same name; others stay.
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == "data-db-0"
    assert "emptyDir" not in volumes["data"] and "emptyDir" in volumes["tmp"]
    await set_ready(c, "db-0")
    await wait_pods(c, "db", ["db-0", "db-1"])
    await c.get(rest.PERSISTENTVOLUMECLAIMS, "data-db-1", namespace=NS)

    async def claim_event() -> None:
        items = (await c.list(rest.EVENTS, namespace=NS))["items"]
        assert any(e["message"] == "create Claim data-db-0 Pod db-0 in StatefulSet db success" for e in items)

    await eventually(claim_event)

    # A changed policy is applied to the claims of healthy pods.
    await set_ready(c, "db-1")
    await c.patch(rest.STATEFULSETS, "db", {"spec": {"persistentVolumeClaimRetentionPolicy": {
        "whenDeleted": "Retain"}}}, namespace=NS)

    async def released() -> None:
        for name in ("data-db-0", "data-db-1"):
            assert not (await c.get(rest.PERSISTENTVOLUMECLAIMS, name, namespace=NS))["metadata"].get(
                "ownerReferences")

    await eventually(released)


async def test_claims_handed_to_pod_on_scale_down_when_scaled_delete(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(statefulset.StatefulSetController)
    await c.create(rest.STATEFULSETS, sts_body("sd", 2, podManagementPolicy="Parallel", volumeClaimTemplates=[{
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}],
        persistentVolumeClaimRetentionPolicy={"whenDeleted": "Retain", "whenScaled": "Delete"}), namespace=NS)
    await wait_pods(c, "sd", ["sd-0", "sd-1"])
    pod1 = await c.get(rest.PODS, "sd-1", namespace=NS)
    claim0 = await c.get(rest.PERSISTENTVOLUMECLAIMS, "data-sd-0", namespace=NS)
    assert not claim0["metadata"].get("ownerReferences")  # whenDeleted: Retain
    await scale(c, "sd", 1)
    await wait_pods(c, "sd", ["sd-0"])
    # The garbage collector (not running here) removes the claim once its pod owner is gone.
    claim1 = await c.get(rest.PERSISTENTVOLUMECLAIMS, "data-sd-1", namespace=NS)
    assert claim1["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": "sd-1", "uid": pod1["metadata"]["uid"]}]


async def _ready_all(c: rest.Client, app: str, n: int) -> None:
    for i in range(n):
        name = f"{app}-{i}"

        async def exists(name: str = name) -> None:
            await c.get(rest.PODS, name, namespace=NS)

        await eventually(exists)
        await set_ready(c, name)


@pytest.mark.conformance("StatefulSet, Rolling Update with Partition")
async def test_partitioned_rolling_update(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(statefulset.StatefulSetController)
    await c.create(rest.STATEFULSETS, sts_body("ss", 3, updateStrategy={
        "type": "RollingUpdate", "rollingUpdate": {"partition": 3}}), namespace=NS)
    await _ready_all(c, "ss", 3)
    first = await eventually(lambda: _status_is(c, "ss", readyReplicas=3))

    # A partition past the last ordinal: a new revision, but no pod changes.
    await set_image(c, "ss", "busybox:2")
    st = await eventually(lambda: _revision_changed(c, "ss", first["updateRevision"]))
    assert st["currentRevision"] == first["currentRevision"]
    assert [await image_of(c, f"ss-{i}") for i in range(3)] == ["busybox:1"] * 3

    # Canary: partition 2 updates only ss-2.
    await c.patch(rest.STATEFULSETS, "ss", {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 2}}}},
                  namespace=NS)

    async def canary() -> None:
        assert await image_of(c, "ss-2") == "busybox:2"

    await eventually(canary)
    await set_ready(c, "ss-2")
    await eventually(lambda: _status_is(c, "ss", updatedReplicas=1, currentReplicas=2, readyReplicas=3))
    assert [await image_of(c, f"ss-{i}") for i in range(2)] == ["busybox:1"] * 2

    # A pod below the partition that is deleted comes back at the current revision.
    old_uid = (await c.get(rest.PODS, "ss-0", namespace=NS))["metadata"]["uid"]
    await c.delete(rest.PODS, "ss-0", namespace=NS)

    async def restored() -> None:
        pod = await c.get(rest.PODS, "ss-0", namespace=NS)
        assert pod["metadata"]["uid"] != old_uid
        assert pod["spec"]["containers"][0]["image"] == "busybox:1"
        assert pod["metadata"]["labels"]["controller-revision-hash"] == first["currentRevision"]

    await eventually(restored)
    await set_ready(c, "ss-0")
    # One at or above the partition comes back at the update revision.
    old_uid = (await c.get(rest.PODS, "ss-2", namespace=NS))["metadata"]["uid"]
    await c.delete(rest.PODS, "ss-2", namespace=NS)

    async def restored_new() -> None:
        pod = await c.get(rest.PODS, "ss-2", namespace=NS)
        assert pod["metadata"]["uid"] != old_uid
        assert pod["spec"]["containers"][0]["image"] == "busybox:2"
        assert pod["metadata"]["labels"]["controller-revision-hash"] == st["updateRevision"]

    await eventually(restored_new)
    await set_ready(c, "ss-2")

    # Phased roll-out: partition 0 updates ss-1 then ss-0, each once the one above is Ready.
    await c.patch(rest.STATEFULSETS, "ss", {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}},
                  namespace=NS)

    async def one_updated() -> None:
        assert await image_of(c, "ss-1") == "busybox:2"

    await eventually(one_updated)
    await wait_observed(c, "ss")
    assert await image_of(c, "ss-0") == "busybox:1"
    await set_ready(c, "ss-1")

    async def zero_updated() -> None:
        assert await image_of(c, "ss-0") == "busybox:2"

    await eventually(zero_updated)
    await set_ready(c, "ss-0")
    done = await eventually(lambda: _status_is(c, "ss", updatedReplicas=3, currentReplicas=3, readyReplicas=3))
    assert done["currentRevision"] == done["updateRevision"] == st["updateRevision"]


async def _status_is(c: rest.Client, name: str, **want: int) -> Obj:
    sts = await get_sts(c, name)
    st = sts.get("status") or {}
    assert st.get("observedGeneration") == sts["metadata"]["generation"]
    for k, v in want.items():
        assert st.get(k, 0) == v, (k, st)
    return st


async def _revision_changed(c: rest.Client, name: str, old: str) -> Obj:
    st = (await get_sts(c, name))["status"]
    assert st["updateRevision"] != old
    return st  # type: ignore[no-any-return]


async def test_rolling_update_and_rollback(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(statefulset.StatefulSetController)
    await c.create(rest.STATEFULSETS, sts_body("rb", 2, revisionHistoryLimit=1), namespace=NS)
    await _ready_all(c, "rb", 2)
    first = await eventually(lambda: _status_is(c, "rb", readyReplicas=2, updatedReplicas=2))
    await set_image(c, "rb", "busybox:2")
    second = await eventually(lambda: _revision_changed(c, "rb", first["updateRevision"]))

    # Highest ordinal first; rb-0 waits for rb-1 to be Ready again.
    async def top_updated() -> None:
        assert await image_of(c, "rb-1") == "busybox:2"

    await eventually(top_updated)
    await wait_observed(c, "rb")
    assert await image_of(c, "rb-0") == "busybox:1"
    await set_ready(c, "rb-1")

    async def bottom_updated() -> None:
        assert await image_of(c, "rb-0") == "busybox:2"

    await eventually(bottom_updated)
    await set_ready(c, "rb-0")
    st = await eventually(lambda: _status_is(c, "rb", updatedReplicas=2, currentReplicas=2, readyReplicas=2))
    assert st["currentRevision"] == second["updateRevision"]

    # Back to the first template: the first revision is reused, renumbered, not duplicated.
    await set_image(c, "rb", "busybox:1")
    back = await eventually(lambda: _revision_changed(c, "rb", second["updateRevision"]))
    assert back["updateRevision"] == first["updateRevision"]
    revs = (await c.list(rest.CONTROLLERREVISIONS, namespace=NS, label_selector="app=rb"))["items"]
    numbers = {r["metadata"]["name"]: r["revision"] for r in revs}
    assert numbers[first["updateRevision"]] == 3
    await eventually(top_updated_to(c, "rb-1", "busybox:1"))
    await set_ready(c, "rb-1")
    await eventually(top_updated_to(c, "rb-0", "busybox:1"))
    await set_ready(c, "rb-0")
    await eventually(lambda: _status_is(c, "rb", updatedReplicas=2, currentReplicas=2, readyReplicas=2))


def top_updated_to(c: rest.Client, pod: str, image: str) -> Any:
    async def check() -> None:
        assert await image_of(c, pod) == image

    return check


async def test_on_delete_and_history_limit(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(statefulset.StatefulSetController)
    await c.create(rest.STATEFULSETS, sts_body("od", 1, revisionHistoryLimit=1,
                                              updateStrategy={"type": "OnDelete"}), namespace=NS)
    await _ready_all(c, "od", 1)
    first = await eventually(lambda: _status_is(c, "od", readyReplicas=1))
    for image in ("busybox:2", "busybox:3", "busybox:4"):
        await set_image(c, "od", image)
        await wait_observed(c, "od")
    st = await wait_observed(c, "od")
    assert await image_of(c, "od-0") == "busybox:1"
    assert st["status"]["currentRevision"] == first["currentRevision"]

    # Kept: the current revision (its pod lives), the update revision and one more.
    async def trimmed() -> None:
        revs = (await c.list(rest.CONTROLLERREVISIONS, namespace=NS, label_selector="app=od"))["items"]
        assert sorted(r["revision"] for r in revs) == [1, 3, 4]

    await eventually(trimmed)
    await c.delete(rest.PODS, "od-0", namespace=NS)
    await eventually(top_updated_to(c, "od-0", "busybox:4"))


async def test_failed_pod_is_recreated(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(statefulset.StatefulSetController)
    await c.create(rest.STATEFULSETS, sts_body("fp", 1), namespace=NS)
    await wait_pods(c, "fp", ["fp-0"])
    uid = (await c.get(rest.PODS, "fp-0", namespace=NS))["metadata"]["uid"]
    await set_ready(c, "fp-0", ready=False, phase="Failed")

    async def recreated() -> None:
        pod = await c.get(rest.PODS, "fp-0", namespace=NS)
        assert pod["metadata"]["uid"] != uid
        assert pod["status"]["phase"] == "Pending"

    await eventually(recreated)


async def test_min_ready_seconds(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(statefulset.StatefulSetController)
    await c.create(rest.STATEFULSETS, sts_body("mr", 2, minReadySeconds=1), namespace=NS)
    await wait_pods(c, "mr", ["mr-0"])
    await set_ready(c, "mr-0")
    await eventually(lambda: _status_is(c, "mr", readyReplicas=1))
    # Ready for a second makes it available, and only then does mr-1 come.
    await eventually(lambda: _status_is(c, "mr", readyReplicas=1, availableReplicas=1))
    await wait_pods(c, "mr", ["mr-0", "mr-1"])


async def test_adopts_orphan_pod_and_ignores_foreign_names(cluster: Cluster) -> None:
    c = cluster.client
    labels = {"app": "ad"}
    for name in ("ad-0", "other-0"):
        await c.create(rest.PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
                                   "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}}, namespace=NS)
    await cluster.run(statefulset.StatefulSetController)
    sts = await c.create(rest.STATEFULSETS, sts_body("ad", 1), namespace=NS)

    async def adopted() -> None:
        pod = await c.get(rest.PODS, "ad-0", namespace=NS)
        assert (pod["metadata"].get("ownerReferences") or [{}])[0].get("uid") == sts["metadata"]["uid"]

    await eventually(adopted)

    # Once it is healthy (OrderedReady looks no further before), its identity labels are set.
    await set_ready(c, "ad-0")

    async def labelled() -> None:
        pod = await c.get(rest.PODS, "ad-0", namespace=NS)
        labels = pod["metadata"]["labels"]
        assert labels.get("statefulset.kubernetes.io/pod-name") == "ad-0"
        assert labels.get("apps.kubernetes.io/pod-index") == "0"

    await eventually(labelled)

    async def update_event() -> None:
        items = (await c.list(rest.EVENTS, namespace=NS))["items"]
        assert any(e["reason"] == "SuccessfulUpdate" and
                   e["message"] == "update Pod ad-0 in StatefulSet ad successful" for e in items)

    await eventually(update_event)
    other = await c.get(rest.PODS, "other-0", namespace=NS)
    assert not other["metadata"].get("ownerReferences")


@pytest.mark.conformance("StatefulSet resource Replica scaling")
async def test_scale_subresource(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(statefulset.StatefulSetController)
    await c.create(rest.STATEFULSETS, sts_body("sc", 1), namespace=NS)
    await _ready_all(c, "sc", 1)
    sc = await c.get(rest.STATEFULSETS, "sc", namespace=NS, subresource="scale")
    assert sc["spec"]["replicas"] == 1

    async def scale_up() -> None:
        # The controller writes status meanwhile; a conflict is retried on a fresh read.
        sc = await c.get(rest.STATEFULSETS, "sc", namespace=NS, subresource="scale")
        sc["spec"]["replicas"] = 2
        await c.update(rest.STATEFULSETS, sc, subresource="scale")

    await eventually(scale_up)
    assert (await get_sts(c, "sc"))["spec"]["replicas"] == 2
    await wait_pods(c, "sc", ["sc-0", "sc-1"])


@pytest.mark.conformance("StatefulSet, status sub-resource")
async def test_status_subresource_kept_by_controller(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(statefulset.StatefulSetController)
    await c.create(rest.STATEFULSETS, sts_body("st", 1), namespace=NS)
    await _ready_all(c, "st", 1)
    await eventually(lambda: _status_is(c, "st", readyReplicas=1))

    async def update() -> None:
        # The controller writes status too: retry a conflict on a fresh read, as the e2e test does.
        sts = await c.get(rest.STATEFULSETS, "st", namespace=NS, subresource="status")
        sts["status"]["conditions"] = [{"type": "StatusUpdate", "status": "True", "reason": "E2E",
                                        "message": "Set from e2e test"}]
        await c.update_status(rest.STATEFULSETS, sts)

    await eventually(update)
    got = await c.get(rest.STATEFULSETS, "st", namespace=NS, subresource="status")
    assert [x["type"] for x in got["status"]["conditions"]] == ["StatusUpdate"]
    await c.patch(rest.STATEFULSETS, "st", {"status": {"conditions": [
        {"type": "StatusPatched", "status": "True"}]}}, namespace=NS, subresource="status")
    # The controller keeps writing its counts without dropping the conditions.
    await scale(c, "st", 2)
    await _ready_all(c, "st", 2)
    st = await eventually(lambda: _status_is(c, "st", readyReplicas=2))
    assert [cond["type"] for cond in st["conditions"]] == ["StatusPatched"]


@pytest.mark.conformance("StatefulSet, list, patch and delete a collection of StatefulSets")
async def test_list_patch_delete_collection(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(statefulset.StatefulSetController)
    await c.create(rest.STATEFULSETS, sts_body("coll", 1), namespace=NS)
    await _ready_all(c, "coll", 1)
    items = (await c.list(rest.STATEFULSETS, namespace=NS, label_selector="app=coll"))["items"]
    assert [i["metadata"]["name"] for i in items] == ["coll"]
    patched = await c.patch(rest.STATEFULSETS, "coll", {"metadata": {"labels": {"patched": "yes"}}}, namespace=NS)
    assert patched["metadata"]["labels"]["patched"] == "yes"
    await c.delete_collection(rest.STATEFULSETS, namespace=NS, label_selector="app=coll")

    async def gone() -> None:
        items = (await c.list(rest.STATEFULSETS, namespace=NS, label_selector="app=coll"))["items"]
        assert items == []

    await eventually(gone)
