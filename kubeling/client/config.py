"""Client configuration: where the API server is and how to authenticate to it.

:class:`Config` holds the server URL, the CA to trust, an optional client
certificate and key, and an optional bearer token; it builds the
``ssl.SSLContext`` for https servers. Make one directly
(``Config(server=..., token=..., ca_data=...)``), from a kubeconfig file
(:func:`load_kubeconfig`: the current or a named context, embedded ``*-data``
or file paths relative to the kubeconfig), or from a pod's service account
(:func:`in_cluster`). Secrets stay out of ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import pathlib
import shutil
import ssl
import tempfile
from typing import Any

import yaml

SERVICE_ACCOUNT_DIR = pathlib.Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ConfigError(ValueError):
    """The configuration is missing, malformed or names something that does not exist."""


@dataclasses.dataclass(frozen=True)
class Config:
    server: str
    ca_data: bytes | None = dataclasses.field(default=None, repr=False)  # PEM
    cert_data: bytes | None = dataclasses.field(default=None, repr=False)  # PEM, may hold a chain
    key_data: bytes | None = dataclasses.field(default=None, repr=False)  # PEM
    token: str | None = dataclasses.field(default=None, repr=False)
    insecure: bool = False  # skip server certificate verification (insecure-skip-tls-verify)
    tls_server_name: str | None = None  # the name to verify instead of the URL's host
    namespace: str = "default"  # the context's namespace
    # A Unix socket to reach the server through instead of TCP (in-process
    # components of `kubeling server`: no TLS, the socket's mode is the guard).
    unix_socket: str | None = None

    def __post_init__(self) -> None:
        if not self.server:
            raise ConfigError("no API server URL")
        object.__setattr__(self, "server", self.server.rstrip("/"))
        if bool(self.cert_data) != bool(self.key_data):
            raise ConfigError("a client certificate needs its key and the other way round")

    @property
    def is_https(self) -> bool:
        return self.server.startswith("https://")

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context for an https server; None for plain http."""
        if not self.is_https:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_data:
            try:
                ctx.load_verify_locations(cadata=self.ca_data.decode())
            except (ssl.SSLError, UnicodeDecodeError) as exc:
                raise ConfigError(f"bad certificate authority data: {exc}") from exc
        if self.cert_data and self.key_data:
            _load_cert_chain(ctx, self.cert_data, self.key_data)
        return ctx


def _load_cert_chain(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    # ssl loads a certificate chain only from files: write both to a fresh
    # directory only we can read (mkdtemp makes it 0700), files 0600, and remove
    # them straight after.
    d = tempfile.mkdtemp(prefix="kubeling-client-")
    try:
        paths = []
        for name, data in (("client.crt", cert), ("client.key", key)):
            path = os.path.join(d, name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            paths.append(path)
        try:
            ctx.load_cert_chain(paths[0], paths[1])
        except ssl.SSLError as exc:
            raise ConfigError(f"bad client certificate or key: {exc}") from exc
    finally:
        shutil.rmtree(d, ignore_errors=True)


def default_kubeconfig_path() -> pathlib.Path:
    """``$KUBECONFIG`` (its first entry) or ``~/.kube/config``."""
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), "")
    return pathlib.Path(first) if first else pathlib.Path.home() / ".kube" / "config"


def _data(entry: dict[str, Any], key: str, base: pathlib.Path) -> bytes | None:
    if entry.get(f"{key}-data"):
        try:
            return base64.b64decode(entry[f"{key}-data"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError(f"{key}-data is not valid base64") from exc
    if entry.get(key):
        path = pathlib.Path(os.path.expanduser(str(entry[key])))
        try:
            return (path if path.is_absolute() else base / path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {key} {path}: {exc}") from exc
    return None


def _named(items: Any, name: str, what: str) -> dict[str, Any]:
    for item in items or []:
        if isinstance(item, dict) and item.get("name") == name:
            return dict(item.get(what) or {})
    raise ConfigError(f"kubeconfig has no {what} named {name!r}")


def load_kubeconfig(path: str | os.PathLike[str] | None = None, *, context: str | None = None) -> Config:
    """The :class:`Config` of ``context`` (default: current-context) in a kubeconfig file."""
    p = pathlib.Path(path) if path is not None else default_kubeconfig_path()
    try:
        doc = yaml.safe_load(p.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read kubeconfig {p}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"kubeconfig {p} is not a mapping")
    ctx_name = context or doc.get("current-context")
    if not ctx_name:
        raise ConfigError(f"kubeconfig {p} has no current-context")
    ctx = _named(doc.get("contexts"), ctx_name, "context")
    cluster = _named(doc.get("clusters"), str(ctx.get("cluster", "")), "cluster")
    user = _named(doc.get("users"), str(ctx["user"]), "user") if ctx.get("user") else {}
    base = p.parent
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token_path = pathlib.Path(os.path.expanduser(str(user["tokenFile"])))
        try:
            token = (token_path if token_path.is_absolute() else base / token_path).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read tokenFile {token_path}: {exc}") from exc
    return Config(
        server=str(cluster.get("server") or ""),
        ca_data=_data(cluster, "certificate-authority", base),
        cert_data=_data(user, "client-certificate", base),
        key_data=_data(user, "client-key", base),
        token=token or None,
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=cluster.get("tls-server-name") or None,
        namespace=str(ctx.get("namespace") or "default"),
    )


def in_cluster(*, sa_dir: str | os.PathLike[str] = SERVICE_ACCOUNT_DIR,
               environ: dict[str, str] | None = None) -> Config:
    """The config of a process running in a pod: service-account token and CA, server from env."""
    env = os.environ if environ is None else environ
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise ConfigError("not in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set")
    d = pathlib.Path(sa_dir)
    try:
        token = (d / "token").read_text().strip()
        ca = (d / "ca.crt").read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the service account in {d}: {exc}") from exc
    ns_file = d / "namespace"
    namespace = ns_file.read_text().strip() if ns_file.exists() else "default"
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    return Config(server=f"https://{host}:{port}", ca_data=ca, token=token, namespace=namespace)
