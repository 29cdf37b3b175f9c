"""Node selector, node affinity and taint/toleration matching."""

from __future__ import annotations

from kubeling.api import podfit


def node(name: str = "n1", **labels: str) -> dict:
    return {"metadata": {"name": name, "labels": labels}, "spec": {}}


def test_node_selector_and_affinity() -> None:
    pod = {"spec": {"nodeSelector": {"disk": "ssd"}}}
    assert podfit.matches_node(pod, node(disk="ssd"))
    assert not podfit.matches_node(pod, node(disk="hdd"))
    aff = {"spec": {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]},
                                  {"key": "gpu", "operator": "DoesNotExist"}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["special"]}]},
        ]}}}}}
    assert podfit.matches_node(aff, node(zone="a"))
    assert not podfit.matches_node(aff, node(zone="a", gpu="1"))
    assert not podfit.matches_node(aff, node(zone="c"))
    assert podfit.matches_node(aff, node("special", zone="c"))
    gt = {"key": "cores", "operator": "Gt", "values": ["4"]}
    assert podfit.term_matches({"matchExpressions": [gt]}, node(cores="8"))
    assert not podfit.term_matches({"matchExpressions": [gt]}, node(cores="x"))
    assert not podfit.term_matches({}, node())


def test_taints_and_tolerations() -> None:
    taint = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    assert podfit.tolerates([{"key": "dedicated", "operator": "Equal", "value": "db"}], taint)
    assert not podfit.tolerates([{"key": "dedicated", "value": "web"}], taint)
    assert podfit.tolerates([{"operator": "Exists"}], taint)
    assert not podfit.tolerates([{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}], taint)
    soft = {"key": "k", "effect": "PreferNoSchedule"}
    assert podfit.untolerated_taint([soft, taint], []) == taint
    assert podfit.untolerated_taint([soft], []) is None
