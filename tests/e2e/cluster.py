"""A real `kubeling server` in a subprocess, and stock kubectl pointed at it."""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request

import yaml

KUBECTL_DIR = pathlib.Path(os.path.realpath(shutil.which("kubectl") or "/usr/bin/kubectl")).parent


def kubectl_binary(version: str | None = None) -> str:
    """The kubectl on the PATH, or ``kubectl.1.NN`` beside it."""
    if version is None:
        return shutil.which("kubectl") or "kubectl"
    path = KUBECTL_DIR / f"kubectl.{version}"
    if not path.exists():
        raise FileNotFoundError(f"{path} is not installed")
    return str(path)


class Server:
    def __init__(self, data_dir: pathlib.Path, *, extra_args: tuple[str, ...] = (), agent: bool = False) -> None:
        self.data_dir = data_dir
        self.extra_args = extra_args
        self.agent = agent  # run the node agent in the server (needs root and runc)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"

    @property
    def kubeconfig(self) -> pathlib.Path:
        return self.data_dir / "kubeconfig"

    def start(self, *, timeout: float = 30.0) -> None:
        cfg = self.kubeconfig
        if cfg.exists():
            cfg.unlink()  # a restart rewrites it with the new port
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kubeling", "server", "--data-dir", str(self.data_dir), "--https-port", "0",
             "--bind-address", "127.0.0.1", *(() if self.agent else ("--disable-agent",)), *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_path.read_text()[-4000:]}")
            if cfg.exists() and self.ready():
                return
            time.sleep(0.05)
        raise TimeoutError(f"server not ready in {timeout}s:\n{self.log_path.read_text()[-4000:]}")

    @property
    def url(self) -> str:
        cfg = yaml.safe_load(self.kubeconfig.read_text())
        return str(cfg["clusters"][0]["cluster"]["server"])

    def ready(self) -> bool:
        ctx = ssl.create_default_context(cafile=str(self.data_dir / "tls" / "ca.crt"))
        try:
            with urllib.request.urlopen(self.url + "/readyz", context=ctx, timeout=2) as r:
                return r.status == 200
        except Exception:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
        finally:
            self.proc = None

    def kubectl(self, *args: str, version: str | None = None, input: str | None = None,
                check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [kubectl_binary(version), "--kubeconfig", str(self.kubeconfig), *args]
        res = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
        if check and res.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        return res
