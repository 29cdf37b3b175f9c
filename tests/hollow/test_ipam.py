"""Pod IP bookkeeping and the pure object builders of hollow nodes."""

from __future__ import annotations

import ipaddress

import pytest

from kubeling.hollow import ipam, objects


def test_addresses_are_distinct_and_inside_the_range() -> None:
    ips = ipam.PodIPs()
    ips.set_range("n", "10.42.7.0/24")
    got = [ips.assign(f"ns/p{i}", f"uid{i}", "n") for i in range(253)]
    assert len(set(got)) == 253
    net = ipaddress.ip_network("10.42.7.0/24")
    assert all(ipaddress.ip_address(ip) in net for ip in got)
    assert "10.42.7.0" not in got and "10.42.7.1" not in got and "10.42.7.255" not in got
    with pytest.raises(ipam.RangeFull):
        ips.assign("ns/one-too-many", "uidx", "n")


def test_same_pod_keeps_its_address_and_a_namesake_gets_a_new_one() -> None:
    ips = ipam.PodIPs()
    ips.set_range("n", "10.42.0.0/24")
    a = ips.assign("ns/p", "uid1", "n")
    assert ips.assign("ns/p", "uid1", "n") == a
    b = ips.assign("ns/p", "uid2", "n")  # deleted and made again under the same name
    assert b != a and len(ips) == 1


def test_released_addresses_are_not_reused_at_once() -> None:
    ips = ipam.PodIPs()
    ips.set_range("n", "10.42.0.0/24")
    a = ips.assign("ns/a", "u1", "n")
    ips.release("ns/a")
    assert ips.assign("ns/b", "u2", "n") != a
    assert len(ips) == 1


def test_an_address_a_pod_already_shows_is_kept_and_reserved() -> None:
    ips = ipam.PodIPs()
    ips.set_range("n", "10.42.0.0/24")
    assert ips.assign("ns/old", "u1", "n", current="10.42.0.2") == "10.42.0.2"
    assert ips.assign("ns/new", "u2", "n") != "10.42.0.2"
    # An address outside the range (the node's podCIDR changed) is not kept.
    assert ips.assign("ns/moved", "u3", "n", current="10.99.0.5") != "10.99.0.5"


def test_a_new_range_keeps_what_pods_have() -> None:
    ips = ipam.PodIPs()
    ips.set_range("n", str(objects.fallback_pod_cidr(3)))
    first = ips.assign("ns/a", "u1", "n")
    ips.set_range("n", "10.42.3.0/24")
    assert ips.assign("ns/a", "u1", "n") == first
    assert ipaddress.ip_address(ips.assign("ns/b", "u2", "n")) in ipaddress.ip_network("10.42.3.0/24")


def test_fake_ranges_of_nodes_do_not_overlap() -> None:
    nets = [objects.fallback_pod_cidr(i) for i in range(5000)]
    assert len(set(nets)) == 5000
    assert all(n.subnet_of(objects.POD_FALLBACK_NET) for n in nets)  # type: ignore[arg-type]
    assert len({objects.node_ip(i) for i in range(5000)}) == 5000


def test_node_conditions_keep_transition_times_while_healthy() -> None:
    first = objects.node_conditions("2026-01-01T00:00:00Z")
    later = objects.node_conditions("2026-01-01T00:05:00Z", previous=first)
    assert [c["type"] for c in later] == ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"]
    assert all(c["lastHeartbeatTime"] == "2026-01-01T00:05:00Z" for c in later)
    assert all(c["lastTransitionTime"] == "2026-01-01T00:00:00Z" for c in later)
    # After someone marked it Unknown, Ready=True is a transition again.
    unknown = [dict(c, status="Unknown") if c["type"] == "Ready" else c for c in first]
    again = objects.node_conditions("2026-01-01T00:06:00Z", previous=unknown)
    assert again[0]["lastTransitionTime"] == "2026-01-01T00:06:00Z"


@pytest.mark.parametrize(("image", "repo"), [
    ("busybox", "docker.io/library/busybox"),
    ("busybox:1.36", "docker.io/library/busybox"),
    ("me/app:v1", "docker.io/me/app"),
    ("registry.k8s.io/pause:3.9", "registry.k8s.io/pause"),
    ("localhost:5000/x:y", "localhost:5000/x"),
])
def test_image_ids_name_the_repository_and_a_digest(image: str, repo: str) -> None:
    p = {"metadata": {"uid": "u"}, "spec": {"containers": [{"name": "c", "image": image}]}}
    st = objects.running_status(p, host_ip="10.200.0.1", pod_ip="10.42.0.2")
    image_id = st["containerStatuses"][0]["imageID"]
    assert image_id.startswith(repo + "@sha256:") and len(image_id.rsplit(":", 1)[1]) == 64
