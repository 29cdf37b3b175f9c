"""The ``pods/eviction`` subresource, honouring PodDisruptionBudgets as upstream.

An eviction is a delete that first asks the pod's budget: pods that are not
running (Pending, Succeeded, Failed) or already terminating are deleted
without asking; more than one matching budget is an error; a budget the
disruption controller has not yet observed answers 429; a budget with no
disruptions left answers 429 with how many healthy pods it needs. Otherwise
the budget's ``disruptionsAllowed`` is decremented and the pod recorded in
``disruptedPods`` in the *same* optimistic write (so two concurrent
evictions cannot both spend the last disruption), and then the pod is deleted.
Unready pods may be evicted without spending a disruption when the budget
is already satisfied or its ``unhealthyPodEvictionPolicy`` is AlwaysAllow.
"""

from __future__ import annotations

from typing import Any

from kubeling.api import errors
from kubeling.apiserver import store
from kubeling.lib import labels, timeutil

Obj = dict[str, Any]
PDB_PREFIX = "/registry/policy/poddisruptionbudgets/"


def _too_many(message: str, cause: str) -> errors.APIError:
    return errors.APIError(429, "TooManyRequests", message,
                           details={"causes": [{"reason": "DisruptionBudget", "message": cause}]})


def _is_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def matching_budgets(api: Any, pod: Obj) -> list[Obj]:
    ns = pod["metadata"].get("namespace", "")
    items, _ = api.cacher.resource(PDB_PREFIX).list(f"{PDB_PREFIX}{ns}/")
    pod_labels = pod["metadata"].get("labels") or {}
    out = []
    for co in items:
        sel_spec = (co.obj.get("spec") or {}).get("selector")
        if not sel_spec:
            continue  # an empty selector selects nothing in policy/v1 evictions (upstream)
        if labels.from_label_selector(sel_spec).matches(pod_labels):
            out.append(co.obj)
    return out


async def evict(api: Any, ctx: store.Context, namespace: str, name: str, body: Obj) -> None:
    pods = api.stores[("", "v1", "pods")]
    pod = await pods.get(namespace, name)
    opts = body.get("deleteOptions") or {}
    phase = (pod.get("status") or {}).get("phase") or "Pending"
    if pod["metadata"].get("deletionTimestamp") or phase in ("Pending", "Succeeded", "Failed"):
        await pods.delete(ctx, namespace, name, opts)
        return
    budgets = matching_budgets(api, pod)
    if len(budgets) > 1:
        raise errors.internal("This pod has more than one PodDisruptionBudget, which the eviction subresource "
                              "does not support.")
    if budgets:
        await _spend(api, ctx, budgets[0]["metadata"]["name"], pod)
    await pods.delete(ctx, namespace, name, opts)


async def _spend(api: Any, ctx: store.Context, pdb_name: str, pod: Obj) -> None:
    pdbs = api.stores[("policy", "v1", "poddisruptionbudgets")]
    namespace = pod["metadata"]["namespace"]
    pod_name = pod["metadata"]["name"]
    async def decrement(current: Obj) -> Obj:
        # Without a resourceVersion the store re-runs this on a conflicting
        # write, with the fresh budget: the check and the spend stay atomic.
        md = current.get("metadata") or {}
        md.pop("resourceVersion", None)
        status = current.setdefault("status", {})
        if int(status.get("observedGeneration") or 0) < int(md.get("generation") or 0):
            raise _too_many("Cannot evict pod as it would violate the pod's disruption budget.",
                            f"The disruption budget {pdb_name} is still being processed by the server.")
        healthy = int(status.get("currentHealthy") or 0)
        desired = int(status.get("desiredHealthy") or 0)
        if not _is_ready(pod):
            policy = (current.get("spec") or {}).get("unhealthyPodEvictionPolicy") or "IfHealthyBudget"
            if policy == "AlwaysAllow" or healthy >= desired > 0:
                return current  # no disruption spent on a pod that is not healthy anyway
        allowed = int(status.get("disruptionsAllowed") or 0)
        if allowed <= 0:
            raise _too_many("Cannot evict pod as it would violate the pod's disruption budget.",
                            f"The disruption budget {pdb_name} needs {desired} healthy pods and has "
                            f"{healthy} currently")
        status["disruptionsAllowed"] = allowed - 1
        disrupted = dict(status.get("disruptedPods") or {})
        disrupted[pod_name] = timeutil.rfc3339()
        status["disruptedPods"] = disrupted
        return current

    status_ctx = store.Context(user=ctx.user, groups=ctx.groups, dry_run=ctx.dry_run, subresource="status")
    await pdbs.update(status_ctx, namespace, pdb_name, decrement)
