"""Building the OCI config from image and container configs (no root needed)."""

from __future__ import annotations

import pathlib

import pytest

from kubeling.kubelet.runtime import protocol as P
from kubeling.kubelet.runtime import spec


def _cfg(**kw: object) -> P.ContainerConfig:
    return P.ContainerConfig(metadata=P.ContainerMetadata(name="c"), image="x", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("entrypoint,cmd,command,args,want", [
    (["/ep"], ["a"], [], [], ["/ep", "a"]),
    (["/ep"], ["a"], ["/c"], [], ["/c"]),           # command drops the image's Cmd too
    (["/ep"], ["a"], [], ["b"], ["/ep", "b"]),
    (["/ep"], ["a"], ["/c"], ["b"], ["/c", "b"]),
    (None, ["sh"], [], [], ["sh"]),
    (None, None, [], ["x"], ["x"]),
])
def test_process_args(entrypoint: list[str] | None, cmd: list[str] | None, command: list[str],
                      args: list[str], want: list[str]) -> None:
    assert spec.process_args({"Entrypoint": entrypoint, "Cmd": cmd}, _cfg(command=command, args=args)) == want


def test_capabilities() -> None:
    assert spec.capabilities(P.SecurityContext()) == spec.DEFAULT_CAPS
    caps = spec.capabilities(P.SecurityContext(add_capabilities=["NET_ADMIN", "CAP_SYS_TIME"],
                                               drop_capabilities=["NET_RAW", "cap_chown"]))
    assert "NET_ADMIN" in caps and "SYS_TIME" in caps and "NET_RAW" not in caps and "CHOWN" not in caps
    assert spec.capabilities(P.SecurityContext(drop_capabilities=["ALL"], add_capabilities=["KILL"])) == ["KILL"]
    assert spec.capabilities(P.SecurityContext(add_capabilities=["ALL"])) == spec.DEFAULT_CAPS + [
        c for c in spec.ALL_CAPS if c not in spec.DEFAULT_CAPS]
    assert spec.capabilities(P.SecurityContext(privileged=True, drop_capabilities=["ALL"])) == spec.ALL_CAPS


def test_env_merge() -> None:
    env = spec.merge_env(["PATH=/bin", "A=1", "B=2"], [("B", "3"), ("C", "4")], hostname="h")
    assert env == ["PATH=/bin", "A=1", "B=3", "HOSTNAME=h", "C=4"]


def test_resolve_user(tmp_path: pathlib.Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/:/bin/sh\n")
    (tmp_path / "etc/group").write_text("root:x:0:\napp:x:1001:\nextra:x:2000:app\n")
    sc = P.SecurityContext
    assert spec.resolve_user(tmp_path, "", sc()) == (0, 0, [])
    assert spec.resolve_user(tmp_path, "app", sc()) == (1000, 1001, [2000])
    assert spec.resolve_user(tmp_path, "1000:extra", sc()) == (1000, 2000, [])
    assert spec.resolve_user(tmp_path, "4242", sc()) == (4242, 0, [])
    assert spec.resolve_user(tmp_path, "app", sc(run_as_user=5, run_as_group=6, supplemental_groups=[7])) == (
        5, 6, [7])
    assert spec.resolve_user(tmp_path, "", sc(run_as_user=1000)) == (1000, 1001, [2000])
    with pytest.raises(P.InvalidArgument):
        spec.resolve_user(tmp_path, "nobody", sc())


def test_build_spec(tmp_path: pathlib.Path) -> None:
    sandbox = P.PodSandboxConfig(metadata=P.PodSandboxMetadata(name="p", namespace="d", uid="u"),
                                 sysctls={"net.ipv4.ip_unprivileged_port_start": "0"})
    cfg = _cfg(args=["echo", "hi"], working_dir="/w",
               mounts=[P.Mount(container_path="/data", host_path="/srv", readonly=True),
                       P.Mount(container_path="/etc/hosts", host_path="/k/hosts")],
               resources=P.Resources(cpu_shares=512, cpu_quota=50000, memory_limit=20 << 20, pids_limit=100),
               security=P.SecurityContext(readonly_rootfs=True, no_new_privs=True))
    oci = spec.build(rootfs=tmp_path, image_config={"config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]}},
                     config=cfg, sandbox=sandbox, hostname="p",
                     namespaces={"network": "/n/net", "ipc": "/n/ipc", "uts": "/n/uts"},
                     sandbox_mounts={"/etc/hosts": "/s/hosts", "/etc/resolv.conf": "/s/resolv.conf"},
                     cgroups_path="/kubeling/abc")
    assert oci["process"]["args"] == ["echo", "hi"]
    assert oci["process"]["cwd"] == "/w"
    assert oci["process"]["noNewPrivileges"] is True
    assert "CAP_CHOWN" in oci["process"]["capabilities"]["bounding"]
    assert oci["root"] == {"path": str(tmp_path), "readonly": True}
    assert oci["hostname"] == "p"
    ns = {n["type"]: n.get("path") for n in oci["linux"]["namespaces"]}
    assert ns == {"mount": None, "pid": None, "network": "/n/net", "ipc": "/n/ipc", "uts": "/n/uts"}
    res = oci["linux"]["resources"]
    assert res["cpu"] == {"shares": 512, "quota": 50000, "period": 100000}
    assert res["memory"]["limit"] == 20 << 20 and res["pids"] == {"limit": 100}
    dests = {m["destination"]: m for m in oci["mounts"]}
    assert dests["/etc/hosts"]["source"] == "/k/hosts"  # the container's own mount wins
    assert dests["/etc/resolv.conf"]["source"] == "/s/resolv.conf"
    assert "ro" in dests["/data"]["options"]
    assert oci["linux"]["sysctl"] == {"net.ipv4.ip_unprivileged_port_start": "0"}
    with pytest.raises(P.InvalidArgument):
        spec.build(rootfs=tmp_path, image_config={"config": {}}, config=_cfg(), sandbox=sandbox, hostname="p",
                   namespaces={}, sandbox_mounts={}, cgroups_path="/x")


def test_host_network_uses_host_uts() -> None:
    sandbox = P.PodSandboxConfig(metadata=P.PodSandboxMetadata(name="p", namespace="d", uid="u"),
                                 network=P.NamespaceMode.NODE, ipc=P.NamespaceMode.NODE)
    oci = spec.build(rootfs=pathlib.Path("/nonexistent"), image_config={"config": {"Cmd": ["sh"]}},
                     config=_cfg(), sandbox=sandbox, hostname="node", namespaces={}, sandbox_mounts={},
                     cgroups_path="/x")
    assert {n["type"] for n in oci["linux"]["namespaces"]} == {"mount", "pid"}
    assert "hostname" not in oci
