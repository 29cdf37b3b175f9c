"""ResourceQuota admission: refusal with upstream's messages, optimistic charging,
container constraints and scopes. The test plays the quota controller's part
by writing ``status`` itself."""

from __future__ import annotations

import asyncio
import pathlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeling.client import rest
from tests.controllers.harness import Cluster

NS = "default"


@pytest.fixture
async def cluster(tmp_path: pathlib.Path) -> AsyncIterator[Cluster]:
    c = Cluster(tmp_path / "data")
    await c.start()
    yield c
    await c.stop()


def pod(name: str, *, resources: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "busybox"}
    if resources is not None:
        container["resources"] = resources
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [container], **spec}}


async def make_quota(c: rest.Client, name: str, hard: dict[str, str], used: dict[str, str] | None = None,
                     **spec: Any) -> dict[str, Any]:
    q = await c.create(rest.RESOURCEQUOTAS, {"apiVersion": "v1", "kind": "ResourceQuota",
                                             "metadata": {"name": name}, "spec": {"hard": hard, **spec}},
                       namespace=NS)
    if used is not None:
        q["status"] = {"hard": hard, "used": used}
        q = await c.update_status(rest.RESOURCEQUOTAS, q)
    return q


async def used_of(c: rest.Client, name: str) -> dict[str, str]:
    return (await c.get(rest.RESOURCEQUOTAS, name, namespace=NS))["status"]["used"]  # type: ignore[no-any-return]


async def test_exceeding_is_forbidden_with_upstreams_message(cluster: Cluster) -> None:
    c = cluster.client
    await make_quota(c, "q", {"pods": "2"}, {"pods": "2"})
    with pytest.raises(rest.Forbidden) as err:
        await c.create(rest.PODS, pod("p"), namespace=NS)
    assert err.value.status_code == 403
    assert err.value.message == ('pods "p" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, '
                                 'limited: pods=2')


async def test_admitted_create_is_charged(cluster: Cluster) -> None:
    c = cluster.client
    await make_quota(c, "q", {"pods": "3", "requests.cpu": "1", "configmaps": "5"},
                     {"pods": "1", "requests.cpu": "100m", "configmaps": "0"})
    await c.create(rest.PODS, pod("p", resources={"requests": {"cpu": "250m"}}), namespace=NS)
    assert await used_of(c, "q") == {"pods": "2", "requests.cpu": "350m", "configmaps": "0"}
    await c.create(rest.CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}},
                   namespace=NS)
    assert (await used_of(c, "q"))["configmaps"] == "1"
    # A dry run checks but charges nothing.
    await c.create(rest.CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm2"}},
                   namespace=NS, dry_run=True)
    assert (await used_of(c, "q"))["configmaps"] == "1"
    with pytest.raises(rest.Forbidden) as err:
        await c.create(rest.PODS, pod("big", resources={"requests": {"cpu": "700m"}}), namespace=NS)
    assert "exceeded quota: q, requested: requests.cpu=700m, used: requests.cpu=350m, limited: requests.cpu=1" \
        in err.value.message


async def test_concurrent_creates_cannot_both_take_the_last_unit(cluster: Cluster) -> None:
    c = cluster.client
    await make_quota(c, "q", {"secrets": "1"}, {"secrets": "0"})
    results = await asyncio.gather(
        *(c.create(rest.SECRETS, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"s{i}"}},
                   namespace=NS) for i in range(4)),
        return_exceptions=True)
    ok = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, rest.Forbidden)]
    assert len(ok) == 1 and len(refused) == 3
    assert await used_of(c, "q") == {"secrets": "1"}


async def test_cpu_quota_requires_container_requests(cluster: Cluster) -> None:
    c = cluster.client
    await make_quota(c, "compute", {"requests.cpu": "2", "limits.memory": "1Gi"},
                     {"requests.cpu": "0", "limits.memory": "0"})
    with pytest.raises(rest.Forbidden) as err:
        await c.create(rest.PODS, pod("p"), namespace=NS)
    assert err.value.message == ('pods "p" is forbidden: failed quota: compute: must specify '
                                 'limits.memory for: c; requests.cpu for: c')
    await c.create(rest.PODS, pod("ok", resources={"limits": {"cpu": "1", "memory": "64Mi"}}), namespace=NS)
    assert await used_of(c, "compute") == {"requests.cpu": "1", "limits.memory": "64Mi"}


async def test_unknown_usage_refuses_and_missing_status_does_not_enforce(cluster: Cluster) -> None:
    c = cluster.client
    q = await make_quota(c, "fresh", {"pods": "0"})
    # No status.hard yet: the controller has not seen the quota, nothing is enforced.
    await c.create(rest.PODS, pod("early"), namespace=NS)
    q = await c.get(rest.RESOURCEQUOTAS, "fresh", namespace=NS)
    q["status"] = {"hard": {"pods": "5"}}
    await c.update_status(rest.RESOURCEQUOTAS, q)
    with pytest.raises(rest.Forbidden) as err:
        await c.create(rest.PODS, pod("late"), namespace=NS)
    assert "status unknown for quota: fresh, resources: pods" in err.value.message


async def test_scopes_and_service_updates(cluster: Cluster) -> None:
    c = cluster.client
    await make_quota(c, "be", {"pods": "5"}, {"pods": "0"}, scopes=["BestEffort"])
    await make_quota(c, "term", {"pods": "5"}, {"pods": "0"}, scopes=["Terminating"])
    await c.create(rest.PODS, pod("besteffort"), namespace=NS)
    await c.create(rest.PODS, pod("burstable", resources={"requests": {"memory": "1Mi"}},
                                  activeDeadlineSeconds=60), namespace=NS)
    assert await used_of(c, "be") == {"pods": "1"}
    assert await used_of(c, "term") == {"pods": "1"}

    await make_quota(c, "svc", {"services.nodeports": "1", "services": "4"},
                     {"services.nodeports": "0", "services": "0"})
    svc = await c.create(rest.SERVICES, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                                         "spec": {"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81}]}}, namespace=NS)
    assert await used_of(c, "svc") == {"services.nodeports": "0", "services": "1"}
    svc["spec"]["type"] = "NodePort"
    with pytest.raises(rest.Forbidden) as err:
        await c.update(rest.SERVICES, svc)
    assert "exceeded quota: svc, requested: services.nodeports=2, used: services.nodeports=0, " \
           "limited: services.nodeports=1" in err.value.message
