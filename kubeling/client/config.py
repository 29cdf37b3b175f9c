"""Client configuration: where the API server is and how to authenticate.

Loads a kubeconfig (current context: server, CA, client certificate and key,
bearer token; embedded ``*-data`` or file paths) into a :class:`Config` that
builds the TLS context.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import pathlib
import ssl
import tempfile
from typing import Any

import yaml


class ConfigError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class Config:
    server: str
    ca_data: bytes | None = None
    cert_data: bytes | None = None
    key_data: bytes | None = None
    token: str | None = None
    insecure: bool = False

    def ssl_context(self) -> ssl.SSLContext | bool:
        if not self.server.startswith("https://"):
            return False
        ctx = ssl.create_default_context()
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_data:
            ctx.load_verify_locations(cadata=self.ca_data.decode())
        if self.cert_data and self.key_data:
            # ssl can only load a certificate chain from files: write them to a private temp dir.
            with tempfile.TemporaryDirectory(prefix="kubeling-client-") as d:
                cert = pathlib.Path(d) / "client.crt"
                key = pathlib.Path(d) / "client.key"
                for path, data in ((cert, self.cert_data), (key, self.key_data)):
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as f:
                        f.write(data)
                ctx.load_cert_chain(str(cert), str(key))
        return ctx


def _data(entry: dict[str, Any], key: str, base: pathlib.Path) -> bytes | None:
    if entry.get(f"{key}-data"):
        return base64.b64decode(entry[f"{key}-data"])
    if entry.get(key):
        path = pathlib.Path(entry[key])
        return (path if path.is_absolute() else base / path).read_bytes()
    return None


def _named(items: list[dict[str, Any]], name: str, what: str) -> dict[str, Any]:
    for item in items or []:
        if item.get("name") == name:
            return dict(item.get(what) or {})
    raise ConfigError(f"kubeconfig has no {what} named {name!r}")


def load_kubeconfig(path: str | os.PathLike[str], *, context: str | None = None) -> Config:
    p = pathlib.Path(path)
    try:
        doc = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read kubeconfig {p}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"kubeconfig {p} is not a mapping")
    ctx_name = context or doc.get("current-context")
    if not ctx_name:
        raise ConfigError(f"kubeconfig {p} has no current-context")
    ctx = _named(doc.get("contexts") or [], ctx_name, "context")
    cluster = _named(doc.get("clusters") or [], ctx.get("cluster", ""), "cluster")
    user = _named(doc.get("users") or [], ctx.get("user", ""), "user") if ctx.get("user") else {}
    base = p.parent
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = (base / user["tokenFile"]).read_text().strip()
    return Config(
        server=str(cluster.get("server", "")).rstrip("/"),
        ca_data=_data(cluster, "certificate-authority", base),
        cert_data=_data(user, "client-certificate", base),
        key_data=_data(user, "client-key", base),
        token=token,
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
    )
