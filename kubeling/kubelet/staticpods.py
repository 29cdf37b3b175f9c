"""Static pods: pods the kubelet runs from manifest files, and their mirror
pods in the API (upstream's file config source and mirror client).

Every ``*.yaml``/``*.yml``/``*.json`` file in ``<data-dir>/manifests`` holds one
Pod. The kubelet runs it as upstream does: named ``<name>-<node>``, in the
manifest's namespace (``default`` if none), bound to this node, its uid a
hash of the manifest and the node (so an edited manifest is a new pod), with
the ``kubernetes.io/config.{hash,source,seen}`` annotations and a toleration
of every NoExecute taint.

The static pod itself never comes from the API: the API holds a *mirror pod*
(annotation ``kubernetes.io/config.mirror`` = the config hash, owned by the
Node) that shows it and carries its status. A mirror pod that was deleted or
no longer matches its manifest is recreated; a mirror pod without a manifest
is deleted. The containers keep running through all of that.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import logging
import pathlib
from collections.abc import Callable
from typing import Any

import yaml

from kubeling.client import informer, rest
from kubeling.lib import timeutil

Obj = dict[str, Any]
log = logging.getLogger("kubeling.kubelet.staticpods")

MIRROR = "kubernetes.io/config.mirror"
HASH = "kubernetes.io/config.hash"
SOURCE = "kubernetes.io/config.source"
SEEN = "kubernetes.io/config.seen"
PERIOD = 2.0  # seconds between looks at the folder (upstream: 20 s, plus inotify)


def is_mirror(pod: Obj) -> bool:
    return MIRROR in ((pod.get("metadata") or {}).get("annotations") or {})


def from_manifest(doc: Obj, node_name: str) -> Obj:
    """The static pod a manifest describes, as upstream's file source shapes it."""
    if doc.get("kind", "Pod") != "Pod":
        raise ValueError(f"a static pod manifest must hold a Pod, not a {doc.get('kind')}")
    pod = copy.deepcopy(doc)
    pod.setdefault("apiVersion", "v1")
    pod["kind"] = "Pod"
    md = pod.setdefault("metadata", {})
    if not md.get("name"):
        raise ValueError("the pod has no metadata.name")
    md["name"] = f"{md['name']}-{node_name.lower()}"
    md["namespace"] = md.get("namespace") or "default"
    md.pop("uid", None)
    md.pop("resourceVersion", None)
    spec = pod.setdefault("spec", {})
    spec["nodeName"] = node_name
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    tolerations = spec.setdefault("tolerations", [])
    if {"operator": "Exists", "effect": "NoExecute"} not in tolerations:
        tolerations.append({"operator": "Exists", "effect": "NoExecute"})
    digest = hashlib.md5(json.dumps(pod, sort_keys=True).encode() + node_name.encode() + b"file",
                         usedforsecurity=False).hexdigest()
    md["uid"] = digest
    md.setdefault("annotations", {}).update({HASH: digest, SOURCE: "file", SEEN: timeutil.rfc3339()})
    pod.setdefault("status", {})
    return pod


class StaticPods:
    def __init__(self, directory: pathlib.Path, node_name: str) -> None:
        self.directory = directory
        self.node_name = node_name
        self._pods: dict[str, Obj] = {}  # key -> static pod (with the status last published)

    def get(self, key: str) -> Obj | None:
        return self._pods.get(key)

    def list(self) -> list[Obj]:
        return list(self._pods.values())

    def set_status(self, key: str, status: Obj) -> None:
        pod = self._pods.get(key)
        if pod is not None:
            pod["status"] = status

    def scan(self) -> set[str]:
        """Read the folder; returns the keys of pods that appeared, changed or went away."""
        found: dict[str, Obj] = {}
        if self.directory.is_dir():
            for path in sorted(self.directory.iterdir()):
                if path.name.startswith(".") or path.suffix not in (".yaml", ".yml", ".json") or not path.is_file():
                    continue
                try:
                    doc = yaml.safe_load(path.read_text())
                    pod = from_manifest(doc or {}, self.node_name)
                except (OSError, yaml.YAMLError, ValueError, AttributeError) as exc:
                    log.warning("ignoring static pod manifest %s: %s", path, exc)
                    continue
                found[informer.key_of(pod)] = pod
        changed = set()
        for key in set(found) | set(self._pods):
            old, new = self._pods.get(key), found.get(key)
            if old is None or new is None or old["metadata"]["uid"] != new["metadata"]["uid"]:
                changed.add(key)
                if new is not None:
                    log.info("static pod %s from %s (uid %s)", key, self.directory, new["metadata"]["uid"])
            elif old is not None and new is not None:
                found[key] = old  # unchanged: keep what we know (its status)
        self._pods = found
        return changed

    def mirror_of(self, pod: Obj, node_uid: str) -> Obj:
        mirror = copy.deepcopy(pod)
        md = mirror["metadata"]
        md.pop("uid", None)
        md["annotations"][MIRROR] = md["annotations"][HASH]
        if node_uid:
            md["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node", "name": self.node_name, "uid": node_uid}]
        mirror.pop("status", None)
        return mirror

    async def sync_mirrors(self, client: rest.Client, store: informer.Store) -> None:
        """Make the API's mirror pods match the static pods."""
        node_uid = ""
        for key, pod in self._pods.items():
            mirror = store.get(key)
            want = pod["metadata"]["uid"]
            md = (mirror or {}).get("metadata") or {}
            if mirror is not None and (md.get("annotations") or {}).get(MIRROR) == want and \
                    not md.get("deletionTimestamp"):
                continue
            ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            if mirror is not None:
                await _delete(client, mirror)
                continue  # recreated on the next round, once the deletion is seen
            if not node_uid:
                node_uid = (await client.get(rest.NODES, self.node_name))["metadata"]["uid"]
            body = self.mirror_of(pod, node_uid)
            try:
                created = await client.create(rest.PODS, body, namespace=ns)
            except rest.Conflict:
                continue  # the informer has not seen it yet
            except rest.ApiError as exc:
                log.warning("creating mirror pod %s/%s failed: %s", ns, name, exc)
                continue
            if pod.get("status"):
                try:
                    await client.patch(rest.PODS, name, {"status": pod["status"]}, namespace=ns,
                                       subresource="status")
                except rest.ApiError:
                    pass
            log.info("created mirror pod %s/%s (uid %s)", ns, name, created["metadata"].get("uid"))
        for mirror in store.list():
            if is_mirror(mirror) and informer.key_of(mirror) not in self._pods and \
                    not mirror["metadata"].get("deletionTimestamp"):
                await _delete(client, mirror)

    async def run(self, client: rest.Client, store: informer.Store, enqueue: Callable[[str], None]) -> None:
        while True:
            try:
                for key in await asyncio.to_thread(self.scan):
                    enqueue(key)
                await self.sync_mirrors(client, store)
            except rest.ApiError as exc:
                log.warning("static pods: %s", exc)
            await asyncio.sleep(PERIOD)


async def _delete(client: rest.Client, mirror: Obj) -> None:
    md = mirror["metadata"]
    try:
        await client.delete(rest.PODS, md["name"], namespace=md["namespace"], grace_period_seconds=0,
                            preconditions={"uid": md["uid"]})
    except (rest.NotFound, rest.Conflict):
        pass
