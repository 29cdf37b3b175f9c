"""Host ports end to end (the CNI portmap role): three pods share hostPort 54323
on one node, told apart by hostIP and protocol, as the conformance test has
it; each is reached through the node's addresses, and a deleted pod's mapping
goes. Real runc pods, scheduled by the scheduler. Needs root and runc; under
CI a missing one fails.
"""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.e2e.cluster import Server
from tests.e2e.test_node import (
    get,
    node,  # noqa: F401 - the module's own node fixture, used by name
    node_name,
    pod_status,
    wait,
)

pytestmark = [pytest.mark.e2e, pytest.mark.root]

PORT = 54323


def _pod(srv: Server, name: str, command: str, port: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": node_name(srv)},
                     "containers": [{"name": "c", "image": "busybox", "command": ["sh", "-c", command],
                                     "ports": [{"containerPort": 8080, "hostPort": PORT, **port}]}]}}


def _http(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def _udp_no_ports(srv: Server, pod: str) -> int:
    """UDP datagrams the pod's network namespace got for a port nothing listens on."""
    lines = [ln.split() for ln in srv.kubectl("exec", pod, "--", "cat", "/proc/net/snmp").stdout.splitlines()
             if ln.startswith("Udp:")]
    return int(lines[1][lines[0].index("NoPorts")])


@pytest.mark.conformance("Scheduling, HostPort matching and HostIP and Protocol not-matching")
def test_one_host_port_three_pods_by_address_and_protocol(node: Server) -> None:  # noqa: F811
    node_ip = next(a["address"] for a in get(node, "nodes")["items"][0]["status"]["addresses"]
                   if a["type"] == "InternalIP")
    serve = "mkdir -p /www && echo {} > /www/index.html && exec httpd -f -p 8080 -h /www"
    pods = [_pod(node, "hp-loopback", serve.format("from-loopback-pod"), {"hostIP": "127.0.0.1"}),
            _pod(node, "hp-node-ip", serve.format("from-node-ip-pod"), {"hostIP": node_ip}),
            _pod(node, "hp-udp", "sleep 3600", {"hostIP": node_ip, "protocol": "UDP"})]
    for p in pods:
        node.kubectl("apply", "-f", "-", input=json.dumps(p))
    for p in pods:
        name = p["metadata"]["name"]
        wait(lambda n=name: pod_status(node, n).get("phase") == "Running", f"{name} Running (scheduled)", node)

    assert _http(f"http://127.0.0.1:{PORT}/") == "from-loopback-pod\n"
    assert _http(f"http://{node_ip}:{PORT}/") == "from-node-ip-pod\n"

    # UDP to the node's address reaches the third pod (where nothing listens on 8080, so its
    # namespace counts the datagram as one for a closed port), not the TCP pods.
    before = {p: _udp_no_ports(node, p) for p in ("hp-udp", "hp-node-ip")}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(3):
            s.sendto(b"hello-udp", (node_ip, PORT))
    wait(lambda: _udp_no_ports(node, "hp-udp") >= before["hp-udp"] + 3, "the datagrams at the UDP pod", node)
    assert _udp_no_ports(node, "hp-node-ip") == before["hp-node-ip"]

    # A deleted pod's mapping goes with it.
    node.kubectl("delete", "pod", "hp-loopback", "--wait=true", "--timeout=60s")
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        _http(f"http://127.0.0.1:{PORT}/")
    rules = subprocess.run(["nft", "list", "map", "ip", "kubeling_kubeling0", "hostports_ip"],
                           capture_output=True, text=True, check=True).stdout
    assert "127.0.0.1" not in rules and f"{node_ip} . tcp . {PORT}" in rules, rules
    for name in ("hp-node-ip", "hp-udp"):
        node.kubectl("delete", "pod", name, "--wait=false")
