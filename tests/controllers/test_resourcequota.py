"""The ResourceQuota controller keeps status.hard/used right; with quota
admission (in the test server) this is the whole ResourceQuota feature."""

from __future__ import annotations

from typing import Any

import pytest

from kubeling.client import rest
from kubeling.controllers import resourcequota
from tests.controllers.harness import Cluster, eventually

NS = "quota"
HARD = {
    "pods": "5", "services": "10", "services.nodeports": "1", "services.loadbalancers": "1",
    "replicationcontrollers": "10", "resourcequotas": "1", "cpu": "1", "memory": "500Mi", "configmaps": "10",
    "secrets": "10", "persistentvolumeclaims": "10", "requests.storage": "10Gi", "ephemeral-storage": "50Gi",
    "gold.storageclass.storage.k8s.io/persistentvolumeclaims": "10",
    "gold.storageclass.storage.k8s.io/requests.storage": "10Gi",
    "count/replicasets.apps": "5", "requests.example.com/dongle": "3",
}
ZERO_USED = {k: "0" for k in HARD} | {"resourcequotas": "1"}


def quota(name: str, hard: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name}, "spec": {"hard": hard, **spec}}


def pod(name: str, requests: dict[str, str] | None = None, limits: dict[str, str] | None = None,
        **spec: Any) -> dict[str, Any]:
    res: dict[str, Any] = {}
    if requests:
        res["requests"] = requests
    if limits:
        res["limits"] = limits
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "pause", "image": "pause", "resources": res}], **spec}}


async def setup(cluster: Cluster, *quotas: dict[str, Any]) -> resourcequota.ResourceQuotaController:
    c = cluster.client
    await c.create(rest.NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    ctrl = await cluster.run(resourcequota.ResourceQuotaController)
    for q in quotas:
        await c.create(rest.RESOURCEQUOTAS, q, namespace=NS)
    return ctrl  # type: ignore[return-value]


async def wait_used(c: rest.Client, name: str, expected: dict[str, str]) -> dict[str, Any]:
    async def check() -> dict[str, Any]:
        q = await c.get(rest.RESOURCEQUOTAS, name, namespace=NS)
        status = q.get("status") or {}
        assert status.get("hard") == q["spec"]["hard"]
        used = status.get("used") or {}
        assert {k: used.get(k) for k in expected} == expected, used
        return q
    return await eventually(check)  # type: ignore[no-any-return]


@pytest.mark.conformance("ResourceQuota, object count quota, resourcequotas")
async def test_status_promptly_calculated(cluster: Cluster) -> None:
    await setup(cluster, quota("test-quota", HARD))
    q = await wait_used(cluster.client, "test-quota", ZERO_USED)
    assert q["status"]["used"] == ZERO_USED


@pytest.mark.conformance("ResourceQuota, object count quota, pod")
async def test_life_of_a_pod(cluster: Cluster) -> None:
    c = cluster.client
    await setup(cluster, quota("test-quota", HARD))
    await wait_used(c, "test-quota", ZERO_USED)
    res = {"cpu": "500m", "memory": "252Mi", "ephemeral-storage": "30Gi", "example.com/dongle": "2"}
    await c.create(rest.PODS, pod("test-pod", res, {"example.com/dongle": "2"}), namespace=NS)
    expected = ZERO_USED | {"pods": "1", "cpu": "500m", "memory": "252Mi", "ephemeral-storage": "30Gi",
                            "requests.example.com/dongle": "2"}
    await wait_used(c, "test-quota", expected)
    with pytest.raises(rest.Forbidden) as err:
        await c.create(rest.PODS, pod("fail-pod", {"cpu": "600m", "memory": "100Mi"}), namespace=NS)
    assert "exceeded quota: test-quota, requested: cpu=600m, used: cpu=500m, limited: cpu=1" in err.value.message
    with pytest.raises(rest.Forbidden) as err:
        dongles = {"cpu": "500m", "memory": "100Mi", "ephemeral-storage": "30Gi", "example.com/dongle": "2"}
        await c.create(rest.PODS, pod("fail-pod-for-extended-resource", dongles, {"example.com/dongle": "2"}),
                       namespace=NS)
    assert "requests.example.com/dongle=2" in err.value.message
    p = await c.get(rest.PODS, "test-pod", namespace=NS)
    p["spec"]["containers"][0]["resources"]["requests"] = {"cpu": "100m", "memory": "100Mi",
                                                           "ephemeral-storage": "10Gi"}
    with pytest.raises(rest.Invalid):
        await c.update(rest.PODS, p)
    await wait_used(c, "test-quota", expected)  # the refused requests charged nothing
    await c.delete(rest.PODS, "test-pod", namespace=NS, grace_period_seconds=0)
    await wait_used(c, "test-quota", ZERO_USED)


async def _life_of(cluster: Cluster, ref: rest.ResourceRef, body: dict[str, Any], used_key: str) -> None:
    c = cluster.client
    await setup(cluster, quota("test-quota", HARD))
    await wait_used(c, "test-quota", ZERO_USED)
    await c.create(ref, body, namespace=NS)
    await wait_used(c, "test-quota", ZERO_USED | {used_key: "1"})
    await c.delete(ref, body["metadata"]["name"], namespace=NS)
    await wait_used(c, "test-quota", ZERO_USED)


@pytest.mark.conformance("ResourceQuota, object count quota, configmap")
async def test_life_of_a_configmap(cluster: Cluster) -> None:
    await _life_of(cluster, rest.CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"},
                                              "data": {"a": "b"}}, "configmaps")


@pytest.mark.conformance("ResourceQuota, object count quota, secret")
async def test_life_of_a_secret(cluster: Cluster) -> None:
    await _life_of(cluster, rest.SECRETS, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                                           "data": {"a": "Yg=="}}, "secrets")


def _template() -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "pause"}]}}


@pytest.mark.conformance("ResourceQuota, object count quota, replicationController")
async def test_life_of_a_replication_controller(cluster: Cluster) -> None:
    await _life_of(cluster, rest.REPLICATIONCONTROLLERS,
                   {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc"},
                    "spec": {"replicas": 0, "selector": {"app": "x"}, "template": _template()}},
                   "replicationcontrollers")


@pytest.mark.conformance("ResourceQuota, object count quota, replicaSet")
async def test_life_of_a_replica_set(cluster: Cluster) -> None:
    await _life_of(cluster, rest.REPLICASETS,
                   {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "rs"},
                    "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "x"}}, "template": _template()}},
                   "count/replicasets.apps")


@pytest.mark.conformance("ResourceQuota, object count quota, service")
async def test_life_of_a_service(cluster: Cluster) -> None:
    c = cluster.client
    await setup(cluster, quota("test-quota", HARD))
    await wait_used(c, "test-quota", ZERO_USED)

    def svc(name: str, stype: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
                "spec": {"type": stype, "ports": [{"name": "http", "port": 80}]}}

    await c.create(rest.SERVICES, svc("test-service", "ClusterIP"), namespace=NS)
    await c.create(rest.SERVICES, svc("test-service-np", "NodePort"), namespace=NS)
    with pytest.raises(rest.Forbidden) as err:
        await c.create(rest.SERVICES, svc("test-service-lb", "LoadBalancer"), namespace=NS)
    assert err.value.message == ('services "test-service-lb" is forbidden: exceeded quota: test-quota, requested: '
                                 'services.nodeports=1, used: services.nodeports=1, limited: services.nodeports=1')
    await wait_used(c, "test-quota", ZERO_USED | {"services": "2", "services.nodeports": "1"})
    await c.delete(rest.SERVICES, "test-service", namespace=NS)
    await c.delete(rest.SERVICES, "test-service-np", namespace=NS)
    await wait_used(c, "test-quota", ZERO_USED)


@pytest.mark.conformance("ResourceQuota, quota scope, Terminating and NotTerminating scope")
async def test_terminating_scopes(cluster: Cluster) -> None:
    c = cluster.client
    hard = {"pods": "1", "requests.cpu": "500m", "requests.memory": "200Mi", "limits.cpu": "1",
            "limits.memory": "400Mi"}
    zero = {k: "0" for k in hard}
    await setup(cluster, quota("quota-terminating", hard, scopes=["Terminating"]),
                quota("quota-not-terminating", hard, scopes=["NotTerminating"]))
    await wait_used(c, "quota-terminating", zero)
    await wait_used(c, "quota-not-terminating", zero)
    req, lim = {"cpu": "500m", "memory": "200Mi"}, {"cpu": "1", "memory": "400Mi"}
    full = {"pods": "1", "requests.cpu": "500m", "requests.memory": "200Mi", "limits.cpu": "1",
            "limits.memory": "400Mi"}
    await c.create(rest.PODS, pod("long-running", req, lim), namespace=NS)
    await wait_used(c, "quota-not-terminating", full)
    await wait_used(c, "quota-terminating", zero)
    await c.delete(rest.PODS, "long-running", namespace=NS, grace_period_seconds=0)
    await wait_used(c, "quota-not-terminating", zero)
    await c.create(rest.PODS, pod("terminating", req, lim, activeDeadlineSeconds=3600), namespace=NS)
    await wait_used(c, "quota-terminating", full)
    await wait_used(c, "quota-not-terminating", zero)
    await c.delete(rest.PODS, "terminating", namespace=NS, grace_period_seconds=0)
    await wait_used(c, "quota-terminating", zero)


@pytest.mark.conformance("ResourceQuota, quota scope, BestEffort and NotBestEffort scope")
async def test_best_effort_scopes(cluster: Cluster) -> None:
    c = cluster.client
    await setup(cluster, quota("quota-besteffort", {"pods": "5"}, scopes=["BestEffort"]),
                quota("quota-not-besteffort", {"pods": "5"}, scopes=["NotBestEffort"]))
    await wait_used(c, "quota-besteffort", {"pods": "0"})
    await wait_used(c, "quota-not-besteffort", {"pods": "0"})
    await c.create(rest.PODS, pod("best-effort"), namespace=NS)
    await wait_used(c, "quota-besteffort", {"pods": "1"})
    await wait_used(c, "quota-not-besteffort", {"pods": "0"})
    await c.delete(rest.PODS, "best-effort", namespace=NS)
    await wait_used(c, "quota-besteffort", {"pods": "0"})
    res = {"cpu": "500m", "memory": "200Mi"}
    await c.create(rest.PODS, pod("not-best-effort", res, res), namespace=NS)
    await wait_used(c, "quota-not-besteffort", {"pods": "1"})
    await wait_used(c, "quota-besteffort", {"pods": "0"})
    await c.delete(rest.PODS, "not-best-effort", namespace=NS)
    await wait_used(c, "quota-not-besteffort", {"pods": "0"})


@pytest.mark.conformance("ResourceQuota, update and delete")
async def test_update_and_delete(cluster: Cluster) -> None:
    c = cluster.client
    await setup(cluster, quota("test-quota", {"cpu": "1", "memory": "500Mi"}))
    q = await wait_used(c, "test-quota", {"cpu": "0", "memory": "0"})
    q["spec"]["hard"] = {"cpu": "2", "memory": "1Gi"}
    updated = await c.update(rest.RESOURCEQUOTAS, q)
    assert updated["spec"]["hard"] == {"cpu": "2", "memory": "1Gi"}
    q = await wait_used(c, "test-quota", {"cpu": "0", "memory": "0"})
    assert q["status"]["hard"] == {"cpu": "2", "memory": "1Gi"}
    await c.delete(rest.RESOURCEQUOTAS, "test-quota", namespace=NS)
    with pytest.raises(rest.NotFound):
        await c.get(rest.RESOURCEQUOTAS, "test-quota", namespace=NS)


@pytest.mark.conformance("ResourceQuota, manage lifecycle of a ResourceQuota")
async def test_manage_lifecycle(cluster: Cluster) -> None:
    c = cluster.client
    body = quota("e2e-rq", {"cpu": "1", "memory": "500Mi"})
    body["metadata"]["labels"] = {"e2e-rq-label": "e2e-rq"}
    await setup(cluster, body)
    listed = await c.list(rest.RESOURCEQUOTAS, label_selector="e2e-rq-label=e2e-rq")
    assert [i["metadata"]["name"] for i in listed["items"]] == ["e2e-rq"]
    patched = await c.patch(rest.RESOURCEQUOTAS, "e2e-rq", {"metadata": {"labels": {"e2e-rq-label": "patched"}},
                                                           "spec": {"hard": {"cpu": "2", "memory": "1Gi"}}},
                            namespace=NS)
    assert patched["spec"]["hard"] == {"cpu": "2", "memory": "1Gi"}
    assert patched["metadata"]["labels"]["e2e-rq-label"] == "patched"
    await wait_used(c, "e2e-rq", {"cpu": "0", "memory": "0"})
    await c.delete_collection(rest.RESOURCEQUOTAS, namespace=NS, label_selector="e2e-rq-label=patched")
    assert (await c.list(rest.RESOURCEQUOTAS, namespace=NS))["items"] == []


@pytest.mark.conformance("ResourceQuota, apply changes to a ResourceQuota status")
async def test_apply_changes_to_status(cluster: Cluster) -> None:
    c = cluster.client
    ctrl = await setup(cluster)
    ctrl.resync_period = 0.5  # upstream's 5 minute full resync, shortened
    hard = {"cpu": "500m", "memory": "500Mi"}
    await c.create(rest.RESOURCEQUOTAS, quota("e2e-rq-status", hard), namespace=NS)
    q = await c.get(rest.RESOURCEQUOTAS, "e2e-rq-status", namespace=NS)
    q["status"] = {"hard": hard}
    q = await c.update_status(rest.RESOURCEQUOTAS, q)
    assert q["status"]["hard"] == q["spec"]["hard"] == hard
    new_hard = {"cpu": "1", "memory": "1Gi"}
    q = await c.patch(rest.RESOURCEQUOTAS, "e2e-rq-status", {"spec": {"hard": new_hard}}, namespace=NS,
                      patch_type="strategic")
    assert q["spec"]["hard"] == new_hard
    q = await c.patch(rest.RESOURCEQUOTAS, "e2e-rq-status", {"status": {"hard": new_hard}}, namespace=NS,
                      subresource="status", patch_type="strategic")
    assert q["status"]["hard"] == new_hard
    got = await c.get(rest.RESOURCEQUOTAS, "e2e-rq-status", namespace=NS, subresource="status")
    assert got["status"]["hard"] == got["spec"]["hard"] == new_hard
    q = await c.patch(rest.RESOURCEQUOTAS, "e2e-rq-status",
                      {"spec": {"hard": {"cpu": "9"}}, "status": {"hard": {"cpu": "2", "memory": "2Gi"}}},
                      namespace=NS, subresource="status", patch_type="strategic")
    assert q["status"]["hard"] == {"cpu": "2", "memory": "2Gi"}
    assert q["spec"]["hard"] == new_hard  # patching /status never changes the spec
    # The periodic resync puts status.hard back in line with the spec.
    await wait_used(c, "e2e-rq-status", {"cpu": "0", "memory": "0"})
    assert (await c.get(rest.RESOURCEQUOTAS, "e2e-rq-status", namespace=NS))["status"]["hard"] == new_hard


async def test_recalculation_repairs_a_leaked_charge(cluster: Cluster) -> None:
    c = cluster.client
    ctrl = await setup(cluster, quota("q", {"configmaps": "3"}))
    await wait_used(c, "q", {"configmaps": "0"})
    q = await c.get(rest.RESOURCEQUOTAS, "q", namespace=NS)
    q["status"]["used"] = {"configmaps": "2"}  # e.g. charged for a create that then failed
    await c.update_status(rest.RESOURCEQUOTAS, q)

    async def cached() -> None:
        cached = ctrl.quotas.store.get(f"{NS}/q") or {}
        assert (cached.get("status") or {}).get("used") == {"configmaps": "2"}

    await eventually(cached)
    ctrl.enqueue(q)  # what the periodic resync does
    await wait_used(c, "q", {"configmaps": "0"})
