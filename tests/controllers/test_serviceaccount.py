"""The ServiceAccount controller keeps a ``default`` account in every namespace."""

from __future__ import annotations

from kubeling.client import rest
from kubeling.controllers import serviceaccount
from tests.controllers.harness import Cluster, eventually


async def test_default_account_created_and_restored(cluster: Cluster) -> None:
    c = cluster.client
    await cluster.run(serviceaccount.ServiceAccountController)
    await c.create(rest.NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sa-test"}})

    async def has_default() -> None:
        sa = await c.get(rest.SERVICEACCOUNTS, "default", namespace="sa-test")
        assert sa["metadata"]["namespace"] == "sa-test"

    await eventually(has_default)
    await c.delete(rest.SERVICEACCOUNTS, "default", namespace="sa-test")
    await eventually(has_default)
