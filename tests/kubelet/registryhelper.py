"""A real registry on loopback for the pull tests: Debian's ``docker-registry``
(the CNCF distribution registry) run as a subprocess with a config written
here, plus a pusher speaking the distribution API over plain HTTP and a small
Docker-protocol token server (ES256 tokens with an ``x5c`` chain the registry
trusts) for Bearer auth.

Images are built from the busybox test layer (:mod:`tests.kubelet.testimage`).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hashlib
import http.server
import json
import os
import pathlib
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

REGISTRY_BIN = "/usr/bin/docker-registry"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
USER, PASSWORD = "alice", "s3cret"


def require_registry() -> None:
    if not os.path.exists(REGISTRY_BIN):
        msg = "needs docker-registry (apt-get install docker-registry)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ---- images --------------------------------------------------------------------------------

@dataclasses.dataclass
class Built:
    """An image as blobs: push ``blobs`` then ``manifest`` (of ``media_type``)."""

    manifest: bytes
    media_type: str
    blobs: list[bytes]

    @property
    def digest(self) -> str:
        return digest(self.manifest)


def image(layers: list[bytes], *, cmd: list[str], arch: str = "amd64", docker: bool = False) -> Built:
    import gzip

    diff_ids = [digest(gzip.decompress(x) if x[:2] == b"\x1f\x8b" else x) for x in layers]
    config = json.dumps({"architecture": arch, "os": "linux", "created": "2024-01-01T00:00:00Z",
                         "config": {"Cmd": cmd, "Env": ["PATH=/bin"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    media, cmedia, lmedia = ((DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER_GZIP) if docker
                             else (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER_GZIP))
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": media,
        "config": {"mediaType": cmedia, "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": lmedia, "digest": digest(x), "size": len(x)} for x in layers],
    }).encode()
    return Built(manifest=manifest, media_type=media, blobs=[config, *layers])


def index(entries: list[tuple[Built, str]], *, docker: bool = False) -> bytes:
    """An OCI index / Docker manifest list of (image, architecture)."""
    return json.dumps({
        "schemaVersion": 2, "mediaType": DOCKER_LIST if docker else OCI_INDEX,
        "manifests": [{"mediaType": b.media_type, "digest": b.digest, "size": len(b.manifest),
                       "platform": {"os": "linux", "architecture": arch}} for b, arch in entries],
    }).encode()


# ---- the registry ------------------------------------------------------------------------------

class Registry:
    """One ``docker-registry serve`` on 127.0.0.1; ``auth`` is its config's
    ``auth:`` section (None: open)."""

    def __init__(self, workdir: pathlib.Path, *, auth: dict[str, Any] | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.storage = workdir / "storage"
        self.storage.mkdir(parents=True, exist_ok=True)
        config: dict[str, Any] = {
            "version": 0.1, "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self.storage)}, "delete": {"enabled": True}},
            "http": {"addr": self.host, "secret": "kubeling-test"},
        }
        if auth:
            config["auth"] = auth
        path = workdir / "config.yml"
        path.write_text(json.dumps(config))  # JSON is YAML
        self.log = open(workdir / "registry.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(path)], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.auth_header = ""  # sent by the pusher (Basic for htpasswd, Bearer fetched for token auth)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=2).close()
                break
            except urllib.error.HTTPError:
                break  # 401 from an authenticating registry: it is up
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("registry did not start: " + (workdir / "registry.log").read_text())
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    # -- pushing (distribution API, monolithic uploads) --

    def _req(self, method: str, url: str, *, data: bytes | None = None,
             headers: dict[str, str] | None = None) -> Any:
        if url.startswith("/"):
            url = f"http://{self.host}{url}"
        hdrs = dict(headers or {})
        if self.auth_header:
            hdrs["Authorization"] = self.auth_header
        req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
        return urllib.request.urlopen(req, timeout=30)

    def push_blob(self, repo: str, blob: bytes) -> str:
        d = digest(blob)
        with self._req("POST", f"/v2/{repo}/blobs/uploads/", data=b"") as resp:
            location = resp.headers["Location"]
        location = urllib.parse.urljoin(f"http://{self.host}/", location)
        sep = "&" if "?" in location else "?"
        with self._req("PUT", f"{location}{sep}digest={urllib.parse.quote(d)}", data=blob,
                       headers={"Content-Type": "application/octet-stream"}) as resp:
            assert resp.status == 201, resp.status
        return d

    def push_manifest(self, repo: str, ref: str, manifest: bytes, media_type: str) -> str:
        with self._req("PUT", f"/v2/{repo}/manifests/{ref}", data=manifest,
                       headers={"Content-Type": media_type}) as resp:
            assert resp.status == 201, resp.status
        return digest(manifest)

    def push(self, repo: str, ref: str, built: Built) -> str:
        for blob in built.blobs:
            self.push_blob(repo, blob)
        return self.push_manifest(repo, ref, built.manifest, built.media_type)

    def push_index(self, repo: str, tag: str, entries: list[tuple[Built, str]], *, docker: bool = False) -> str:
        for built, _ in entries:
            self.push(repo, built.digest, built)
        return self.push_manifest(repo, tag, index(entries, docker=docker), DOCKER_LIST if docker else OCI_INDEX)

    def blob_file(self, d: str) -> pathlib.Path:
        """Where the filesystem driver keeps a blob's bytes."""
        hexpart = d.split(":", 1)[1]
        return self.storage / "docker/registry/v2/blobs/sha256" / hexpart[:2] / hexpart / "data"


def htpasswd_registry(workdir: pathlib.Path) -> Registry:
    if shutil.which("htpasswd") is None:
        msg = "needs htpasswd (apt-get install apache2-utils)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    workdir.mkdir(parents=True, exist_ok=True)
    line = subprocess.run(["htpasswd", "-Bbn", USER, PASSWORD], check=True, capture_output=True,
                          text=True).stdout.strip()
    (workdir / "htpasswd").write_text(line + "\n")
    reg = Registry(workdir, auth={"htpasswd": {"realm": "kubeling-test", "path": str(workdir / "htpasswd")}})
    reg.auth_header = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return reg


# ---- a token server (Docker's token protocol) -------------------------------------------------------

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """Issues ES256 JWTs for ``repository:<name>:<actions>`` scopes: every
    requested action to ``alice``, none to anonymous callers (as Docker Hub
    does for private repositories). Counts requests in ``requests``."""

    SERVICE = "kubeling-test-registry"
    ISSUER = "kubeling-test-issuer"

    def __init__(self, workdir: pathlib.Path) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubeling test token signer")])
        now = datetime.datetime.now(datetime.UTC)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.bundle = workdir / "token-ca.pem"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.requests: list[dict[str, Any]] = []
        server = self
        self.port = free_port()
        self.realm = f"http://127.0.0.1:{self.port}/token"

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urllib.parse.urlparse(self.path)
                query = urllib.parse.parse_qs(url.query)
                user = ""
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Basic "):
                    u, _, p = base64.b64decode(auth[6:]).decode().partition(":")
                    if (u, p) != (USER, PASSWORD):
                        self._send(401, {"errors": [{"code": "UNAUTHORIZED",
                                                     "message": "incorrect username or password"}]})
                        return
                    user = u
                server.requests.append({"user": user, "query": query})
                body = {"token": server.token(user, query.get("scope", []), query.get("service", [""])[0])}
                self._send(200, body)

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def token(self, user: str, scopes: list[str], service: str) -> str:
        access = []
        for scope in scopes:
            for one in scope.split(" "):
                kind, _, rest = one.partition(":")
                name, _, actions = rest.rpartition(":")
                if kind == "repository" and user:
                    access.append({"type": "repository", "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256",
                  "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()]}
        claims = {"iss": self.ISSUER, "sub": user, "aud": service, "exp": now + 300, "nbf": now - 10,
                  "iat": now, "jti": _b64url(os.urandom(12)), "access": access}
        signing_input = (_b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode()))
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return signing_input + "." + _b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def token_registry(workdir: pathlib.Path) -> tuple[Registry, TokenServer]:
    workdir.mkdir(parents=True, exist_ok=True)
    tokens = TokenServer(workdir)
    reg = Registry(workdir, auth={"token": {"realm": tokens.realm, "service": TokenServer.SERVICE,
                                            "issuer": TokenServer.ISSUER, "rootcertbundle": str(tokens.bundle)}})
    # The pusher uses one token for everything it pushes to the "private/" repositories.
    reg.auth_header = "Bearer " + tokens.token(USER, ["repository:private/busybox:pull,push"], TokenServer.SERVICE)
    return reg, tokens
