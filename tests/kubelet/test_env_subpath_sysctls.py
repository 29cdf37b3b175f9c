"""Service environment variables, subPathExpr and sysctl admission: the pure
parts of the kubelet's container config (the e2e side is
tests/e2e/test_conformance_pods.py)."""

from __future__ import annotations

import os
import pathlib
from typing import Any

import pytest

from kubeling.api import validation
from kubeling.kubelet import containerconfig, servicelinks, subpath, sysctls
from kubeling.kubelet.runtime import protocol as cri


def svc(name: str, ns: str, ip: str, *ports: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"clusterIP": ip, "ports": list(ports)}}


def pod(ns: str = "team", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": ns, "uid": "u"}, "spec": {"containers": [], **spec}}


SERVICES = [
    svc("kubernetes", "default", "10.43.0.1", {"name": "https", "port": 443, "protocol": "TCP"}),
    svc("foo-service", "team", "10.43.0.7", {"port": 8765}, {"name": "dns", "port": 53, "protocol": "UDP"}),
    svc("elsewhere", "other", "10.43.0.8", {"port": 80}),
    svc("headless", "team", "None", {"port": 80}),
]


def test_service_variables_follow_docker_links() -> None:
    env = servicelinks.environment(SERVICES, pod())
    assert env["FOO_SERVICE_SERVICE_HOST"] == "10.43.0.7"
    assert env["FOO_SERVICE_SERVICE_PORT"] == "8765"
    assert env["FOO_SERVICE_SERVICE_PORT_DNS"] == "53"
    assert env["FOO_SERVICE_PORT"] == "tcp://10.43.0.7:8765"
    assert env["FOO_SERVICE_PORT_8765_TCP"] == "tcp://10.43.0.7:8765"
    assert env["FOO_SERVICE_PORT_8765_TCP_PROTO"] == "tcp"
    assert env["FOO_SERVICE_PORT_8765_TCP_PORT"] == "8765"
    assert env["FOO_SERVICE_PORT_8765_TCP_ADDR"] == "10.43.0.7"
    assert env["FOO_SERVICE_PORT_53_UDP"] == "udp://10.43.0.7:53"
    assert env["KUBERNETES_SERVICE_HOST"] == "10.43.0.1"
    assert env["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert not any(k.startswith(("ELSEWHERE_", "HEADLESS_")) for k in env)


def test_without_service_links_only_the_api_server_is_seen() -> None:
    env = servicelinks.environment(SERVICES, pod(enableServiceLinks=False))
    assert env["KUBERNETES_SERVICE_HOST"] == "10.43.0.1"
    assert not any(k.startswith("FOO_SERVICE_") for k in env)


def test_service_variables_come_first_and_can_be_overridden() -> None:
    container = {"name": "c", "env": [{"name": "FOO_SERVICE_SERVICE_PORT", "value": "1"},
                                      {"name": "URL", "value": "http://$(FOO_SERVICE_SERVICE_HOST)/"}]}
    sources = containerconfig.Sources(services=SERVICES)
    env = dict(containerconfig.environment(pod(), container, sources))
    assert env["FOO_SERVICE_SERVICE_PORT"] == "1" and env["URL"] == "http://10.43.0.7/"
    assert "FOO_SERVICE_SERVICE_HOST" not in dict(containerconfig.environment(pod(), container,
                                                                               containerconfig.Sources()))


def test_subpath_expr_expands_and_creates_the_directory(tmp_path: pathlib.Path) -> None:
    vol = tmp_path / "vol"
    vol.mkdir()
    os.chmod(vol, 0o777)
    container = {"name": "c", "volumeMounts": [{"name": "v", "mountPath": "/a", "subPathExpr": "$(A)/$(B)"},
                                               {"name": "v", "mountPath": "/b"}]}
    mounts = [cri.Mount(container_path="/a", host_path=str(vol)), cri.Mount(container_path="/b", host_path=str(vol))]
    out = subpath.apply(container, mounts, {"A": "x", "B": "y"})
    assert out[0].host_path == str(vol / "x" / "y") and out[1].host_path == str(vol)
    assert (vol / "x" / "y").is_dir() and (vol / "x" / "y").stat().st_mode & 0o777 == 0o777


@pytest.mark.parametrize(("env", "message"), [
    ({"A": "..", "B": "y"}, "must not contain '..'"),
    ({"A": "/tmp", "B": "y"}, "must not be an absolute path"),
    ({"B": "y"}, "missing value for A"),
    ({"A": "", "B": "y"}, "missing value for A"),
])
def test_subpath_expr_refusals(tmp_path: pathlib.Path, env: dict[str, str], message: str) -> None:
    container = {"name": "c", "volumeMounts": [{"name": "v", "mountPath": "/a", "subPathExpr": "$(A)/$(B)"}]}
    mounts = [cri.Mount(container_path="/a", host_path=str(tmp_path))]
    with pytest.raises(subpath.SubPathError, match=message):
        subpath.apply(container, mounts, env)
    with pytest.raises(containerconfig.ConfigError, match=message):
        containerconfig.container_config(pod(), container, attempt=0, env=list(env.items()), mounts=mounts,
                                         log_path="c/0.log")


def test_subpath_expr_may_not_leave_the_volume_through_a_symlink(tmp_path: pathlib.Path) -> None:
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "out").symlink_to(tmp_path)
    container = {"name": "c", "volumeMounts": [{"name": "v", "mountPath": "/a", "subPathExpr": "$(A)"}]}
    with pytest.raises(subpath.SubPathError, match="outside"):
        subpath.apply(container, [cri.Mount(container_path="/a", host_path=str(vol))], {"A": "out"})


def test_sysctl_names_are_validated_by_the_api() -> None:
    errs = validation.validate_sysctls(
        [{"name": "foo-"}, {"name": "kernel.shmmax"}, {"name": "safe-and-unsafe"}, {"name": "bar.."},
         {"name": "kernel.shmmax"}, {"name": "net/ipv4/ip_forward"}, {"name": ""}], "spec.securityContext.sysctls")
    got = {(e.field, e.type) for e in errs}
    assert got == {("spec.securityContext.sysctls[0].name", "Invalid"),
                   ("spec.securityContext.sysctls[3].name", "Invalid"),
                   ("spec.securityContext.sysctls[4].name", "Duplicate"),
                   ("spec.securityContext.sysctls[6].name", "Required")}
    host = validation.validate_sysctls([{"name": "net.ipv4.ip_local_port_range"}, {"name": "kernel.shm_rmid_forced"}],
                                       "s", host_network=True, host_ipc=True)
    assert [e.detail for e in host] == ["may not be specified when 'hostNetwork' is true",
                                        "may not be specified when 'hostIPC' is true"]


def test_kubelet_admits_safe_and_allowed_unsafe_sysctls_only() -> None:
    def with_sysctls(*names: str, **spec: Any) -> dict[str, Any]:
        return pod(securityContext={"sysctls": [{"name": n, "value": "1"} for n in names]}, **spec)

    assert sysctls.admit(with_sysctls("kernel.shm_rmid_forced", "net/ipv4/ip_local_port_range")) is None
    assert sysctls.admit(pod()) is None
    assert sysctls.admit(with_sysctls("kernel.msgmax")) == ("SysctlForbidden",
                                                            'forbidden sysctl: "kernel.msgmax" not allowlisted')
    assert sysctls.admit(with_sysctls("kernel.msgmax"), allowed_unsafe=["kernel.msg*"]) is None
    assert "not a namespaced sysctl" in sysctls.admit(with_sysctls("vm.swappiness"),
                                                      allowed_unsafe=["vm.swappiness"])[1]  # type: ignore[index]
    assert "host net" in sysctls.admit(with_sysctls("net.ipv4.tcp_syncookies", hostNetwork=True))[1]  # type: ignore[index]
    assert sysctls.normalize("net/ipv4/conf/eth0.100/rp_filter") == "net.ipv4.conf.eth0/100.rp_filter"
    cfg = containerconfig.sandbox_config(with_sysctls("kernel/shm_rmid_forced"), log_directory="/l", dns=None)
    assert cfg.sysctls == {"kernel.shm_rmid_forced": "1"}
    failure = sysctls.refusal(with_sysctls("kernel.msgmax"))
    assert failure is not None and failure.reason == "SysctlForbidden" and failure.event_type == "Warning"
    assert failure.message == 'Pod was rejected: forbidden sysctl: "kernel.msgmax" not allowlisted'
    assert sysctls.refusal(with_sysctls("kernel.shm_rmid_forced")) is None
