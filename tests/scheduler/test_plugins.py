"""Filter and score rules of each plugin, on plain dicts."""

from __future__ import annotations

import pytest

from kubeling.scheduler import framework, resources
from kubeling.scheduler.plugins import (
    balancedallocation,
    imagelocality,
    interpodaffinity,
    nodeaffinity,
    nodename,
    nodeports,
    noderesources,
    nodeunschedulable,
    podtopologyspread,
    tainttoleration,
)
from tests.scheduler import objects as o


def run_filter(plugin_cls: type, pod: dict, ni: framework.NodeInfo, cache=None) -> framework.Status | None:
    c = cache or o.cache_of([ni.node])
    plugin = plugin_cls(framework.Handle(c))
    state = framework.CycleState()
    pi = o.info(pod)
    if hasattr(plugin, "pre_filter") and plugin.pre_filter(state, pi) is framework.SKIP:
        return None
    return plugin.filter(state, pi, ni)


def run_score(plugin_cls: type, pod: dict, nodes: list[framework.NodeInfo], cache=None) -> list[int] | None:
    c = cache or o.cache_of([ni.node for ni in nodes])
    plugin = plugin_cls(framework.Handle(c))
    state = framework.CycleState()
    pi = o.info(pod)
    if hasattr(plugin, "pre_score") and plugin.pre_score(state, pi, nodes) is framework.SKIP:
        return None
    scores = plugin.score(state, pi, nodes)
    if hasattr(plugin, "normalize"):
        plugin.normalize(state, pi, scores)
    return scores


# ---- resources ---------------------------------------------------------------------------
def test_pod_requests_sum_containers_max_init_and_overhead() -> None:
    spec = {"containers": [{"resources": {"requests": {"cpu": "100m", "memory": "1Gi"}}},
                           {"resources": {"requests": {"cpu": "200m"}}}],
            "initContainers": [{"resources": {"requests": {"cpu": "500m", "memory": "512Mi"}}}],
            "overhead": {"cpu": "10m"}}
    assert resources.pod_requests(spec) == {"cpu": 510, "memory": 1024**3}


def test_sidecar_init_containers_add_to_the_running_total() -> None:
    spec = {"containers": [{"resources": {"requests": {"cpu": "100m"}}}],
            "initContainers": [{"restartPolicy": "Always", "resources": {"requests": {"cpu": "50m"}}},
                               {"resources": {"requests": {"cpu": "300m"}}}]}
    # the sidecar keeps running: 150m overall, but 350m while the second init container runs
    assert resources.pod_requests(spec) == {"cpu": 350}


def test_limits_stand_in_for_missing_requests() -> None:
    assert resources.pod_requests({"containers": [{"resources": {"limits": {"cpu": "1"}}}]}) == {"cpu": 1000}


# ---- NodeResourcesFit --------------------------------------------------------------------
def test_fit_counts_existing_pods() -> None:
    ni = o.node_info(o.node("n", cpu="1"), o.pod("a", cpu="600m", node_name="n"))
    st = run_filter(noderesources.NodeResourcesFit, o.pod("p", cpu="500m"), ni)
    assert st is not None and st.reasons == ("Insufficient cpu",) and st.code == framework.UNSCHEDULABLE
    assert run_filter(noderesources.NodeResourcesFit, o.pod("p", cpu="400m"), ni) is None


def test_fit_reports_every_shortage_and_pod_count() -> None:
    ni = o.node_info(o.node("n", cpu="1", memory="1Gi", pods="1"), o.pod("a", node_name="n"))
    st = run_filter(noderesources.NodeResourcesFit, o.pod("p", cpu="2", memory="2Gi"), ni)
    assert st is not None and set(st.reasons) == {"Too many pods", "Insufficient cpu", "Insufficient memory"}


def test_fit_extended_resources() -> None:
    n = o.node("n")
    n["status"]["allocatable"]["example.com/gpu"] = "1"
    p = o.pod("p")
    p["spec"]["containers"][0]["resources"] = {"requests": {"example.com/gpu": "2"}}
    st = run_filter(noderesources.NodeResourcesFit, p, framework.NodeInfo(n))
    assert st is not None and st.reasons == ("Insufficient example.com/gpu",)
    p["spec"]["containers"][0]["resources"] = {"requests": {"example.com/gpu": "1"}}
    assert run_filter(noderesources.NodeResourcesFit, p, framework.NodeInfo(n)) is None


def test_fit_batch_form_agrees_with_rule() -> None:
    nodes = [o.node_info(o.node("a", cpu="1", pods="2"), o.pod("x", cpu="500m", node_name="a")),
             o.node_info(o.node("b", cpu="1", pods="1"), o.pod("y", node_name="b")),
             o.node_info(o.node("c", cpu="2"))]
    plugin = noderesources.NodeResourcesFit(framework.Handle(o.cache_of([])))
    for cpu in ("100m", "500m", "501m", "2", "3"):
        pi = o.info(o.pod("p", cpu=cpu))
        state = framework.CycleState()
        refused: dict[str, framework.Status] = {}

        def keep(ni: framework.NodeInfo, state: framework.CycleState = state, pi: framework.PodInfo = pi,
                 refused: dict[str, framework.Status] = refused) -> bool:
            st = plugin.filter(state, pi, ni)
            if st is not None:
                refused[ni.name] = st
            return st is None
        passed = plugin.filter_nodes(state, pi, nodes, keep)
        assert [ni.name for ni in passed] == [ni.name for ni in nodes if plugin.filter(state, pi, ni) is None]
        assert set(refused) == {ni.name for ni in nodes} - {ni.name for ni in passed}


def test_least_allocated_prefers_emptier_node() -> None:
    empty = o.node_info(o.node("a", cpu="4", memory="8Gi"))
    busy = o.node_info(o.node("b", cpu="4", memory="8Gi"), o.pod("x", cpu="2", memory="4Gi", node_name="b"))
    s = run_score(noderesources.NodeResourcesFit, o.pod("p", cpu="1", memory="2Gi"), [empty, busy])
    assert s == [75, 25]
    assert noderesources.least_allocated(4000, 1000, 100, 25) == 75


def test_balanced_allocation() -> None:
    n = o.node_info(o.node("a", cpu="4", memory="4Gi"))
    assert run_score(balancedallocation.BalancedAllocation, o.pod("p", cpu="2", memory="2Gi"), [n]) == [100]
    assert run_score(balancedallocation.BalancedAllocation, o.pod("p", cpu="4", memory="0"), [n]) == [50]
    assert run_score(balancedallocation.BalancedAllocation, o.pod("p"), [n]) is None  # best effort: skipped


# ---- NodeName, NodeUnschedulable, NodePorts -------------------------------------------------
def test_node_name() -> None:
    ni = framework.NodeInfo(o.node("n1"))
    p = o.pod("p", spec={"nodeName": "n2"})
    st = run_filter(nodename.NodeName, p, ni)
    assert st is not None and st.unresolvable and st.reasons == (nodename.REASON,)
    assert run_filter(nodename.NodeName, o.pod("p", spec={"nodeName": "n1"}), ni) is None


def test_node_unschedulable_unless_tolerated() -> None:
    ni = framework.NodeInfo(o.node("n", unschedulable=True))
    st = run_filter(nodeunschedulable.NodeUnschedulable, o.pod("p"), ni)
    assert st is not None and st.reasons == ("node(s) were unschedulable",)
    tol = {"tolerations": [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                            "effect": "NoSchedule"}]}
    assert run_filter(nodeunschedulable.NodeUnschedulable, o.pod("p", spec=tol), ni) is None


@pytest.mark.parametrize(("existing", "wanted", "clash"), [
    (("0.0.0.0", "TCP", 80), ("0.0.0.0", "TCP", 80), True),
    (("0.0.0.0", "TCP", 80), ("127.0.0.1", "TCP", 80), True),
    (("127.0.0.1", "TCP", 80), ("0.0.0.0", "TCP", 80), True),
    (("127.0.0.1", "TCP", 80), ("127.0.0.2", "TCP", 80), False),
    (("127.0.0.1", "TCP", 80), ("127.0.0.1", "UDP", 80), False),
    (("0.0.0.0", "TCP", 80), ("0.0.0.0", "TCP", 81), False),
])
def test_host_ports(existing: tuple, wanted: tuple, clash: bool) -> None:
    def port(ip: str, proto: str, n: int) -> dict:
        return {"containerPort": 8080, "hostPort": n, "hostIP": ip, "protocol": proto}
    ni = o.node_info(o.node("n"), o.pod("a", node_name="n", ports=[port(*existing)]))
    st = run_filter(nodeports.NodePorts, o.pod("p", ports=[port(*wanted)]), ni)
    assert (st is not None) == clash
    if clash:
        assert st.reasons == ("node(s) didn't have free ports for the requested pod ports",)


# ---- NodeAffinity -----------------------------------------------------------------------
def test_node_selector_and_required_affinity() -> None:
    ni = framework.NodeInfo(o.node("n", labels={"disk": "ssd"}))
    assert run_filter(nodeaffinity.NodeAffinity, o.pod("p", spec={"nodeSelector": {"disk": "ssd"}}), ni) is None
    st = run_filter(nodeaffinity.NodeAffinity, o.pod("p", spec={"nodeSelector": {"disk": "hdd"}}), ni)
    assert st is not None and st.unresolvable and st.reasons == ("node(s) didn't match Pod's node affinity/selector",)
    aff = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["nvme"]}]}]}}}}
    assert run_filter(nodeaffinity.NodeAffinity, o.pod("p", spec=aff), ni) is not None


def test_preferred_node_affinity_score() -> None:
    a = framework.NodeInfo(o.node("a", labels={"zone": "z1"}))
    b = framework.NodeInfo(o.node("b", labels={"zone": "z2"}))
    spec = {"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 10, "preference": {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["z2"]}]}},
        {"weight": 5, "preference": {"matchExpressions": [{"key": "zone", "operator": "Exists"}]}}]}}}
    assert run_score(nodeaffinity.NodeAffinity, o.pod("p", spec=spec), [a, b]) == [33, 100]
    assert run_score(nodeaffinity.NodeAffinity, o.pod("p"), [a, b]) is None


# ---- TaintToleration --------------------------------------------------------------------
def test_taints_filter_and_message() -> None:
    ni = framework.NodeInfo(o.node("n", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]))
    st = run_filter(tainttoleration.TaintToleration, o.pod("p"), ni)
    assert st is not None and st.unresolvable and st.reasons == ("node(s) had untolerated taint {dedicated: gpu}",)
    tol = {"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]}
    assert run_filter(tainttoleration.TaintToleration, o.pod("p", spec=tol), ni) is None
    soft = framework.NodeInfo(o.node("s", taints=[{"key": "k", "effect": "PreferNoSchedule"}]))
    assert run_filter(tainttoleration.TaintToleration, o.pod("p"), soft) is None


def test_prefer_no_schedule_scoring() -> None:
    clean = framework.NodeInfo(o.node("a"))
    one = framework.NodeInfo(o.node("b", taints=[{"key": "k", "effect": "PreferNoSchedule"}]))
    two = framework.NodeInfo(o.node("c", taints=[{"key": "k", "effect": "PreferNoSchedule"},
                                                 {"key": "j", "effect": "PreferNoSchedule"}]))
    assert run_score(tainttoleration.TaintToleration, o.pod("p"), [clean, one, two]) == [100, 50, 0]
    tol = {"tolerations": [{"key": "k", "operator": "Exists"}]}
    assert run_score(tainttoleration.TaintToleration, o.pod("p", spec=tol), [clean, one, two]) == [100, 100, 0]


# ---- ImageLocality ----------------------------------------------------------------------
def test_image_locality() -> None:
    big = {"names": ["docker.io/library/big:1"], "sizeBytes": 800 * imagelocality.MB}
    a = o.node("a", images=[big])
    b = o.node("b")
    c = o.cache_of([a, b])
    nodes = c.node_infos()
    s = run_score(imagelocality.ImageLocality, o.pod("p", image="docker.io/library/big:1"), nodes, cache=c)
    assert s is not None and s[0] > 0 and s[1] == 0
    assert run_score(imagelocality.ImageLocality, o.pod("p", image="other"), nodes, cache=c) is None


# ---- InterPodAffinity -------------------------------------------------------------------
ZONE = "topology.kubernetes.io/zone"


def _zone_nodes() -> list[dict]:
    return [o.node("a", labels={ZONE: "z1"}), o.node("b", labels={ZONE: "z1"}), o.node("c", labels={ZONE: "z2"})]


def _term(app: str, key: str = ZONE) -> dict:
    return {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}


def _filter_all(pod: dict, nodes: list[dict], pods: list[dict]) -> dict[str, framework.Status | None]:
    c = o.cache_of(nodes, pods)
    return {ni.name: run_filter(interpodaffinity.InterPodAffinity, pod, ni, cache=c) for ni in c.node_infos()}


def test_required_pod_affinity_by_zone() -> None:
    db = o.pod("db", labels={"app": "db"}, node_name="a")
    web = o.pod("web", spec={"affinity": {"podAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [_term("db")]}}})
    got = _filter_all(web, _zone_nodes(), [db])
    assert got["a"] is None and got["b"] is None
    assert got["c"] is not None and got["c"].reasons == ("node(s) didn't match pod affinity rules",)


def test_first_pod_of_self_affine_group_may_go_anywhere() -> None:
    first = o.pod("w", labels={"app": "w"}, spec={"affinity": {"podAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [_term("w")]}}})
    assert all(st is None for st in _filter_all(first, _zone_nodes(), []).values())


def test_required_anti_affinity_and_existing_pods_anti_affinity() -> None:
    db = o.pod("db", labels={"app": "db"}, node_name="a")
    lonely = o.pod("l", spec={"affinity": {"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [_term("db")]}}})
    got = _filter_all(lonely, _zone_nodes(), [db])
    assert got["a"] is not None and got["b"] is not None and got["c"] is None
    assert got["b"].reasons == ("node(s) didn't match pod anti-affinity rules",)
    # the other way round: the existing pod refuses company
    hermit = o.pod("h", node_name="c", spec={"affinity": {"podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [_term("web", "kubernetes.io/hostname")]}}})
    got = _filter_all(o.pod("web", labels={"app": "web"}), _zone_nodes(), [hermit])
    assert got["a"] is None and got["c"] is not None
    assert got["c"].reasons == ("node(s) didn't satisfy existing pods anti-affinity rules",)


def test_affinity_respects_namespaces() -> None:
    db = o.pod("db", namespace="other", labels={"app": "db"}, node_name="a")
    web = o.pod("web", spec={"affinity": {"podAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [_term("db")]}}})
    assert all(st is not None for st in _filter_all(web, _zone_nodes(), [db]).values())
    term = dict(_term("db"), namespaces=["other"])
    web["spec"]["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = [term]
    assert _filter_all(web, _zone_nodes(), [db])["a"] is None


def test_preferred_pod_affinity_score() -> None:
    c = o.cache_of(_zone_nodes(), [o.pod("db", labels={"app": "db"}, node_name="a")])
    web = o.pod("web", spec={"affinity": {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 50, "podAffinityTerm": _term("db")}]}}})
    assert run_score(interpodaffinity.InterPodAffinity, web, c.node_infos(), cache=c) == [100, 100, 0]
    web["spec"]["affinity"] = {"podAntiAffinity": web["spec"]["affinity"]["podAffinity"]}
    assert run_score(interpodaffinity.InterPodAffinity, web, c.node_infos(), cache=c) == [0, 0, 100]


# ---- PodTopologySpread ------------------------------------------------------------------
def _spread(when: str = "DoNotSchedule", skew: int = 1, **extra: object) -> dict:
    return {"topologySpreadConstraints": [{"maxSkew": skew, "topologyKey": ZONE, "whenUnsatisfiable": when,
                                           "labelSelector": {"matchLabels": {"app": "w"}}, **extra}]}


def test_spread_do_not_schedule() -> None:
    pods = [o.pod("w1", labels={"app": "w"}, node_name="a")]
    p = o.pod("w2", labels={"app": "w"}, spec=_spread())
    got = _filter_all_spread(p, _zone_nodes(), pods)
    assert got["a"] is not None and got["b"] is not None and got["c"] is None
    assert got["a"].reasons == ("node(s) didn't match pod topology spread constraints",)
    got = _filter_all_spread(o.pod("w2", labels={"app": "w"}, spec=_spread(skew=2)), _zone_nodes(), pods)
    assert all(st is None for st in got.values())


def test_spread_missing_label_and_min_domains() -> None:
    nodes = [*_zone_nodes(), o.node("nolabel")]
    got = _filter_all_spread(o.pod("w", labels={"app": "w"}, spec=_spread()), nodes, [])
    assert got["nolabel"] is not None and got["nolabel"].unresolvable
    pods = [o.pod("w1", labels={"app": "w"}, node_name="a"), o.pod("w2", labels={"app": "w"}, node_name="c")]
    # 2 domains each with one pod: fine at skew 1, unless 3 domains are required (the minimum counts as 0)
    assert _filter_all_spread(o.pod("w3", labels={"app": "w"}, spec=_spread()), _zone_nodes(), pods)["a"] is None
    got = _filter_all_spread(o.pod("w3", labels={"app": "w"}, spec=_spread(minDomains=3)), _zone_nodes(), pods)
    assert got["a"] is not None and got["c"] is not None


def test_spread_honors_node_affinity_by_default() -> None:
    # z2 is excluded by the pod's node selector, so its empty domain does not hold the minimum down
    pods = [o.pod("w1", labels={"app": "w"}, node_name="a")]
    spec = {**_spread(), "nodeSelector": {ZONE: "z1"}}
    got = _filter_all_spread(o.pod("w2", labels={"app": "w"}, spec=spec), _zone_nodes(), pods)
    assert got["a"] is None
    spec = {"topologySpreadConstraints": [dict(_spread()["topologySpreadConstraints"][0], nodeAffinityPolicy="Ignore")],
            "nodeSelector": {ZONE: "z1"}}
    assert _filter_all_spread(o.pod("w2", labels={"app": "w"}, spec=spec), _zone_nodes(), pods)["a"] is not None


def _filter_all_spread(pod: dict, nodes: list[dict], pods: list[dict]) -> dict[str, framework.Status | None]:
    c = o.cache_of(nodes, pods)
    return {ni.name: run_filter(podtopologyspread.PodTopologySpread, pod, ni, cache=c) for ni in c.node_infos()}


def test_spread_schedule_anyway_scores_emptier_domain_higher() -> None:
    c = o.cache_of(_zone_nodes(), [o.pod("w1", labels={"app": "w"}, node_name="a"),
                                   o.pod("w2", labels={"app": "w"}, node_name="b")])
    s = run_score(podtopologyspread.PodTopologySpread, o.pod("w3", labels={"app": "w"}, spec=_spread("ScheduleAnyway")),
                  c.node_infos(), cache=c)
    assert s is not None and s[2] == 100 and s[0] == s[1] < s[2]


def test_system_default_spreading_uses_what_selects_the_pod() -> None:
    from kubeling.lib import labels

    c = o.cache_of(_zone_nodes(), [o.pod("w1", labels={"app": "w"}, node_name="a"),
                                   o.pod("w2", labels={"app": "w"}, node_name="a"),
                                   o.pod("other", labels={"app": "x"}, node_name="b")])
    nodes = c.node_infos()
    p = o.pod("w3", labels={"app": "w"})
    # Nothing selects the pod: no default spreading.
    assert run_score(podtopologyspread.PodTopologySpread, p, nodes, cache=c) is None
    plugin = podtopologyspread.PodTopologySpread(framework.Handle(
        c, default_selector=lambda pod: labels.from_set({"app": "w"})))
    state, pi = framework.CycleState(), o.info(p)
    assert plugin.pre_score(state, pi, nodes) is None
    scores = plugin.score(state, pi, nodes)
    plugin.normalize(state, pi, scores)
    # a holds both replicas (and its zone z1 does): c, alone in the empty zone z2, is best
    assert scores[2] == 100 and scores[0] < scores[1] < scores[2]


def test_default_selector_merges_services_and_workloads() -> None:
    from kubeling.client import informer as informerlib
    from kubeling.scheduler import selectors

    def store(*objs: dict) -> informerlib.Store:
        s = informerlib.Store()
        for obj in objs:
            s.put(obj)
        return s
    svc = {"metadata": {"name": "s", "namespace": "default"}, "spec": {"selector": {"app": "w"}}}
    rs = {"metadata": {"name": "r", "namespace": "default"},
          "spec": {"selector": {"matchLabels": {"app": "w", "hash": "1"}}}}
    elsewhere = {"metadata": {"name": "s2", "namespace": "other"}, "spec": {"selector": {"app": "w"}}}
    ds = selectors.DefaultSelector(services=store(svc, elsewhere), controllers=store(), replicasets=store(rs),
                                   statefulsets=store())
    sel = ds(o.info(o.pod("p", labels={"app": "w", "hash": "1"})))
    assert sel is not None and str(sel) == "app=w,hash=1"
    assert ds(o.info(o.pod("q", labels={"app": "zzz"}))) is None
    sel = ds(o.info(o.pod("r", labels={"app": "w", "hash": "2"})))  # only the Service selects it
    assert sel is not None and str(sel) == "app=w"
