"""The identity a StatefulSet gives its pods (upstream's ``stateful_set_utils.go``).

Pod ``<set>-<ordinal>`` gets hostname ``<set>-<ordinal>``, subdomain
``spec.serviceName``, labels ``statefulset.kubernetes.io/pod-name``,
``apps.kubernetes.io/pod-index`` and ``controller-revision-hash`` (the
*name* of the ControllerRevision it was made from), and one volume per
``volumeClaimTemplates`` entry bound to the claim ``<claim>-<set>-<ordinal>``.
Pure functions on JSON dicts; nothing here talks to the API.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from kubeling.controllers import history, podutil

Obj = dict[str, Any]

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = history.HASH_LABEL

_ORDINAL = re.compile(r"^(.*)-([0-9]+)$")


def parent_and_ordinal(pod: Obj) -> tuple[str, int]:
    """``("web", 3)`` for ``web-3``; ``("", -1)`` for a name without an ordinal."""
    m = _ORDINAL.match((pod.get("metadata") or {}).get("name") or "")
    if not m:
        return "", -1
    return m.group(1), int(m.group(2))


def ordinal(pod: Obj) -> int:
    return parent_and_ordinal(pod)[1]


def is_member(sts: Obj, pod: Obj) -> bool:
    parent, _ = parent_and_ordinal(pod)
    return parent == sts["metadata"]["name"]


def start_ordinal(sts: Obj) -> int:
    return int(((sts.get("spec") or {}).get("ordinals") or {}).get("start") or 0)


def pod_name(sts: Obj, ord_: int) -> str:
    return f"{sts['metadata']['name']}-{ord_}"


def claim_name(template_name: str, sts: Obj, ord_: int) -> str:
    return f"{template_name}-{sts['metadata']['name']}-{ord_}"


def revision_of(pod: Obj) -> str:
    return ((pod.get("metadata") or {}).get("labels") or {}).get(REVISION_LABEL, "")


def is_running_and_ready(pod: Obj) -> bool:
    return podutil.phase(pod) == "Running" and podutil.is_ready(pod)


def is_healthy(pod: Obj) -> bool:
    return is_running_and_ready(pod) and not podutil.is_terminating(pod)


def is_finished(pod: Obj) -> bool:
    return podutil.phase(pod) in ("Failed", "Succeeded")


def with_revision(sts: Obj, revision: Obj) -> Obj:
    """The set as it was at ``revision`` (upstream's ApplyRevision: the stored template replaces the spec's)."""
    out = copy.deepcopy(sts)
    out["spec"]["template"] = history.template_of(revision)
    return out


def identity_labels(sts: Obj, ord_: int) -> dict[str, str]:
    return {POD_NAME_LABEL: pod_name(sts, ord_), POD_INDEX_LABEL: str(ord_)}


def identity_matches(sts: Obj, pod: Obj) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    _, ord_ = parent_and_ordinal(pod)
    return is_member(sts, pod) and all(labels.get(k) == v for k, v in identity_labels(sts, ord_).items())


def claims_for(sts: Obj, ord_: int) -> list[Obj]:
    """The PersistentVolumeClaims pod ``ord_`` needs, as unsaved objects.
    Labels: the template's plus the set's selector matchLabels (as upstream)."""
    md = sts["metadata"]
    spec = sts.get("spec") or {}
    match_labels = (spec.get("selector") or {}).get("matchLabels") or {}
    policy = spec.get("persistentVolumeClaimRetentionPolicy") or {}
    out = []
    for tmpl in spec.get("volumeClaimTemplates") or []:
        tmd = tmpl.get("metadata") or {}
        claim: Obj = {
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim_name(tmd.get("name", ""), sts, ord_), "namespace": md.get("namespace"),
                         "labels": {**(tmd.get("labels") or {}), **match_labels}},
            "spec": copy.deepcopy(tmpl.get("spec") or {}),
        }
        if tmd.get("annotations"):
            claim["metadata"]["annotations"] = dict(tmd["annotations"])
        if policy.get("whenDeleted") == "Delete":
            # Not a controller reference: the claim outlives the pod, and goes with the set.
            claim["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                                                     "name": md["name"], "uid": md["uid"]}]
        out.append(claim)
    return out


def new_pod(sts: Obj, ord_: int, revision_name: str) -> Obj:
    """Pod ``ord_`` of ``sts`` (whose spec.template is the revision's), labelled with ``revision_name``."""
    template = (sts.get("spec") or {}).get("template") or {}
    pod = podutil.pod_from_template(template, sts)
    md = pod["metadata"]
    md.pop("generateName", None)
    md["name"] = pod_name(sts, ord_)
    md["namespace"] = sts["metadata"].get("namespace")
    md["labels"].update(identity_labels(sts, ord_))
    md["labels"][REVISION_LABEL] = revision_name
    spec = pod["spec"]
    spec["hostname"] = md["name"]
    service = (sts.get("spec") or {}).get("serviceName")
    if service:
        spec["subdomain"] = service
    claim_templates = (sts.get("spec") or {}).get("volumeClaimTemplates") or []
    if claim_templates:
        # A claim template's volume replaces a template volume of the same name.
        by_name = {(t.get("metadata") or {}).get("name", ""): t for t in claim_templates}
        volumes: list[Obj] = [{"name": name, "persistentVolumeClaim": {"claimName": claim_name(name, sts, ord_)}}
                               for name in by_name]
        volumes += [v for v in spec.get("volumes") or [] if v.get("name") not in by_name]
        spec["volumes"] = volumes
    return pod
