"""The pure parts of the pod sync: termination messages (file and log
fallback), pod phase and container status shapes, static pod manifests and
volume modes / fsGroup ownership. The runtime-driven behaviour is covered end
to end in tests/e2e/test_node_pods.py."""

from __future__ import annotations

import os
import pathlib
import stat

import pytest

from kubeling.kubelet import lifecycle, podstatus, staticpods, volumes
from kubeling.kubelet.runtime import protocol as cri


def _exited(code: int, *, attempt: int = 0, log_path: str = "", reason: str = "") -> cri.ContainerStatus:
    return cri.ContainerStatus(id=f"id{attempt}", sandbox_id="sb", metadata=cri.ContainerMetadata("c", attempt),
                               state=cri.ContainerState.EXITED, created_at=1, started_at=10**18,
                               finished_at=2 * 10**18, exit_code=code, log_path=log_path,
                               reason=reason or ("Completed" if code == 0 else "Error"))


def _cri_log(path: pathlib.Path, *records: tuple[str, str]) -> None:
    path.write_text("".join(f"2026-01-01T00:00:00.000000000Z stdout {tag} {text}\n" for tag, text in records))


def test_termination_message_from_the_file(tmp_path: pathlib.Path) -> None:
    spec = {"name": "c", "terminationMessagePath": "/dev/custom"}
    mount = lifecycle.prepare_message_file(tmp_path, spec, 2)
    assert mount.container_path == "/dev/custom"
    assert stat.S_IMODE(os.stat(mount.host_path).st_mode) == 0o666  # any user may write it
    pathlib.Path(mount.host_path).write_text("x" * 5000)
    msg = lifecycle.termination_message(tmp_path, spec, _exited(1, attempt=2))
    assert msg == "x" * lifecycle.MESSAGE_LIMIT
    assert lifecycle.prepare_message_file(tmp_path, {"name": "c"}, 0).container_path == "/dev/termination-log"


def test_fallback_to_logs_only_on_error_and_only_without_a_file(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "0.log"
    _cri_log(log, *[("F", f"line {i}") for i in range(100)], ("P", "part-"), ("F", "end"))
    spec = {"name": "c", "terminationMessagePolicy": "FallbackToLogsOnError"}
    lifecycle.prepare_message_file(tmp_path, spec, 0)
    msg = lifecycle.termination_message(tmp_path, spec, _exited(1, log_path=str(log)))
    lines = msg.split("\n")
    assert len(lines) == lifecycle.LOG_TAIL_LINES and lines[-1] == "part-end" and lines[0] == "line 21"
    assert lifecycle.termination_message(tmp_path, spec, _exited(0, log_path=str(log))) == ""
    assert lifecycle.termination_message(tmp_path, {"name": "c"}, _exited(1, log_path=str(log))) == ""
    _cri_log(log, *[("F", "y" * 100) for _ in range(50)])
    assert len(lifecycle.termination_message(tmp_path, spec, _exited(1, log_path=str(log)))) == \
        lifecycle.LOG_TAIL_BYTES
    lifecycle.message_file(tmp_path, "c", 0).write_text("from the file")
    assert lifecycle.termination_message(tmp_path, spec, _exited(1, log_path=str(log))) == "from the file"


def test_status_shapes_for_waiting_terminated_and_last_state() -> None:
    spec = {"name": "c", "image": "busybox"}
    waiting = podstatus.container_status(podstatus.ContainerView(spec=spec, waiting_reason="PodInitializing"))
    assert waiting["state"] == {"waiting": {"reason": "PodInitializing"}} and waiting["lastState"] == {}
    view = podstatus.ContainerView(spec=spec, current=_exited(1, attempt=1), previous=_exited(137, attempt=0,
                                                                                               reason="OOMKilled"),
                                   waiting_reason="CrashLoopBackOff", waiting_message="back-off 10s",
                                   termination_message="bye", previous_message="older", restart_count=1)
    st = podstatus.container_status(view)
    assert st["state"]["waiting"] == {"reason": "CrashLoopBackOff", "message": "back-off 10s"}
    assert st["lastState"]["terminated"]["message"] == "bye" and st["restartCount"] == 1
    view.waiting_reason = ""
    st = podstatus.container_status(view)
    assert st["state"]["terminated"]["exitCode"] == 1 and st["state"]["terminated"]["message"] == "bye"
    assert st["lastState"]["terminated"]["reason"] == "OOMKilled"
    assert st["lastState"]["terminated"]["message"] == "older"


def test_phase_with_failing_init_containers_by_restart_policy() -> None:
    init = [podstatus.ContainerView(spec={"name": "i"}, current=_exited(1))]
    main = [podstatus.ContainerView(spec={"name": "c"})]
    assert podstatus.phase({"restartPolicy": "Never"}, init, main, init_done=False) == "Failed"
    assert podstatus.phase({"restartPolicy": "Always"}, init, main, init_done=False) == "Pending"
    assert podstatus.phase({"restartPolicy": "OnFailure"}, init, main, init_done=False) == "Pending"


def test_static_pod_from_a_manifest(tmp_path: pathlib.Path) -> None:
    (tmp_path / "web.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n"
                                       "spec:\n  containers:\n  - name: c\n    image: busybox\n")
    (tmp_path / ".hidden.yaml").write_text("not: a pod")
    (tmp_path / "bad.yaml").write_text("kind: Service\nmetadata: {name: x}\n")
    pods = staticpods.StaticPods(tmp_path, "Node-1")
    assert pods.scan() == {"default/web-node-1"}
    pod = pods.get("default/web-node-1")
    assert pod is not None
    md = pod["metadata"]
    assert md["annotations"][staticpods.SOURCE] == "file" and md["annotations"][staticpods.HASH] == md["uid"]
    assert pod["spec"]["nodeName"] == "Node-1"
    assert {"operator": "Exists", "effect": "NoExecute"} in pod["spec"]["tolerations"]
    assert pods.scan() == set()  # unchanged
    pods.set_status("default/web-node-1", {"phase": "Running"})
    mirror = pods.mirror_of(pod, "node-uid")
    assert mirror["metadata"]["annotations"][staticpods.MIRROR] == md["uid"] and "uid" not in mirror["metadata"]
    assert mirror["metadata"]["ownerReferences"][0]["uid"] == "node-uid" and staticpods.is_mirror(mirror)
    (tmp_path / "web.yaml").write_text("apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n"
                                       "spec:\n  containers:\n  - name: c\n    image: busybox:1\n")
    assert pods.scan() == {"default/web-node-1"}
    new = pods.get("default/web-node-1")
    assert new is not None and new["metadata"]["uid"] != md["uid"]  # an edited manifest is a new pod
    (tmp_path / "web.yaml").unlink()
    assert pods.scan() == {"default/web-node-1"} and pods.list() == []


def test_volume_default_modes_and_fs_group(tmp_path: pathlib.Path) -> None:
    if os.geteuid() != 0:  # giving files to the fsGroup needs root, as the kubelet has
        (pytest.fail if os.environ.get("CI") else pytest.skip)("needs root")
    pod = {"metadata": {"name": "p", "namespace": "ns", "uid": "u"},
           "spec": {"securityContext": {"fsGroup": 1234},
                    "volumes": [{"name": "cm", "configMap": {"name": "cm", "defaultMode": 0o400}},
                                {"name": "dw", "downwardAPI": {"defaultMode": 0o440, "items": [
                                    {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
                                {"name": "ed", "emptyDir": {}}]}}
    sources = volumes.Sources(configmaps={"cm": {"data": {"k": "v"}}})
    paths = volumes.materialize(pod, tmp_path, sources)
    cm = os.stat(pathlib.Path(paths["cm"]) / "k")
    assert stat.S_IMODE(cm.st_mode) == 0o440 and cm.st_gid == 1234  # fsGroup adds group read, as upstream
    dw = os.stat(pathlib.Path(paths["dw"]) / "name")
    assert stat.S_IMODE(dw.st_mode) == 0o440 and dw.st_gid == 1234
    ed = os.stat(paths["ed"])
    assert ed.st_gid == 1234 and stat.S_IMODE(ed.st_mode) == 0o2777
