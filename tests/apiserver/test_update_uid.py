"""An update or patch naming another object's uid is refused: uid is immutable."""

from __future__ import annotations

import pathlib

import pytest

from kubeling.client import rest
from tests.controllers.harness import Cluster


async def test_uid_mismatch_is_refused(tmp_path: pathlib.Path) -> None:
    cluster = Cluster(tmp_path / "data")
    await cluster.start()
    try:
        c = cluster.client
        cm = await c.create(rest.CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}},
                            namespace="default")
        stale = dict(cm, metadata={**cm["metadata"], "uid": "00000000-0000-4000-8000-000000000000"})
        stale["metadata"].pop("resourceVersion")
        with pytest.raises(rest.Invalid) as err:
            await c.update(rest.CONFIGMAPS, stale, namespace="default")
        assert "metadata.uid" in str(err.value.status) and "immutable" in err.value.message
        with pytest.raises(rest.Invalid):
            await c.patch(rest.CONFIGMAPS, "a", {"metadata": {"uid": "00000000-0000-4000-8000-000000000000"}},
                          namespace="default")
        # Without a uid the update applies to whatever has the name.
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}}
        assert (await c.update(rest.CONFIGMAPS, body, namespace="default"))["metadata"]["uid"] == cm["metadata"]["uid"]
    finally:
        await cluster.stop()
