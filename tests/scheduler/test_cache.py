"""The node cache: incremental aggregates, assumed pods, placeholders."""

from __future__ import annotations

from kubeling.scheduler import cache as cachelib
from kubeling.scheduler import framework
from tests.scheduler import objects as o


def test_aggregates_follow_pods() -> None:
    c = cachelib.Cache()
    c.add_node(o.node("n", cpu="2"))
    c.add_pod(o.info(o.pod("a", cpu="500m", memory="1Gi", node_name="n",
                           ports=[{"containerPort": 80, "hostPort": 80}])))
    ni = c.get("n")
    assert ni is not None
    assert (ni.req_cpu, ni.req_mem, len(ni.pods)) == (500, 1024**3, 1)
    assert ni.ports == {("0.0.0.0", "TCP", 80): 1}
    c.update_pod(o.info(o.pod("a", cpu="700m", node_name="n")))
    assert (ni.req_cpu, ni.req_mem, ni.ports) == (700, 0, {})
    c.remove_pod("default/a")
    assert (ni.req_cpu, len(ni.pods), ni.nz_cpu) == (0, 0, 0)


def test_assume_confirm_and_forget() -> None:
    c = cachelib.Cache()
    c.add_node(o.node("n"))
    pi = o.info(o.pod("p", cpu="1"))
    c.assume(pi, "n")
    assert c.is_assumed("default/p") and c.get("n").req_cpu == 1000  # type: ignore[union-attr]
    c.forget("default/p")
    assert not c.is_assumed("default/p") and c.get("n").req_cpu == 0  # type: ignore[union-attr]
    c.assume(pi, "n")
    c.add_pod(o.info(o.pod("p", cpu="1", node_name="n")))  # the informer confirms the binding
    assert not c.is_assumed("default/p")
    c.forget("default/p")  # a confirmed pod stays
    assert c.get("n").req_cpu == 1000  # type: ignore[union-attr]


def test_pods_before_their_node_and_finished_pods() -> None:
    c = cachelib.Cache()
    c.add_pod(o.info(o.pod("early", cpu="1", node_name="later")))
    assert c.get("later") is None and c.node_infos() == []
    c.add_node(o.node("later"))
    ni = c.get("later")
    assert ni is not None and ni.req_cpu == 1000
    done = o.pod("early", cpu="1", node_name="later")
    done["status"] = {"phase": "Succeeded"}
    c.update_pod(framework.PodInfo(done))
    assert ni.req_cpu == 0


def test_node_order_is_stable_and_images_counted() -> None:
    img = {"names": ["nginx:1"], "sizeBytes": 1}
    c = cachelib.Cache()
    for name in ("b", "a", "c"):
        c.add_node(o.node(name, images=[img]))
    assert [ni.name for ni in c.node_infos()] == ["a", "b", "c"]
    assert c.image_spread("nginx:1") == 3
    c.remove_node("b")
    assert [ni.name for ni in c.node_infos()] == ["a", "c"] and c.image_spread("nginx:1") == 2


def test_affinity_tracking() -> None:
    c = cachelib.Cache()
    c.add_node(o.node("n"))
    anti = {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {}, "topologyKey": "kubernetes.io/hostname"}]}}}
    c.add_pod(o.info(o.pod("a", node_name="n", spec=anti)))
    assert [ni.name for ni in c.have_pods_with_anti_affinity()] == ["n"]
    c.remove_pod("default/a")
    assert c.have_pods_with_anti_affinity() == [] and c.have_pods_with_affinity() == []
