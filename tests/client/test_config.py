from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import pathlib
import ssl

import pytest
import yaml
from aiohttp import test_utils, web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeling.client import config, rest


class Certs:
    """A throwaway CA with a serving certificate for 127.0.0.1 and a client certificate."""

    def __init__(self) -> None:
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
        self.ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(self.ca_key, hashes.SHA256()))
        self.server_cert, self.server_key = self.issue("server", server=True)
        self.client_cert, self.client_key = self.issue("alice", orgs=["devs"])

    def issue(self, cn: str, *, orgs: tuple[str, ...] | list[str] = (), server: bool = False) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in orgs]
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name(attrs + [x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
             .issuer_name(self.ca.subject).public_key(key.public_key())
             .serial_number(x509.random_serial_number())
             .not_valid_before(now - datetime.timedelta(minutes=1))
             .not_valid_after(now + datetime.timedelta(days=1))
             .add_extension(x509.ExtendedKeyUsage(
                 [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
        if server:
            b = b.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("kubernetes.test")]), critical=False)
        cert = b.sign(self.ca_key, hashes.SHA256())
        return (cert.public_bytes(serialization.Encoding.PEM),
                key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))

    @property
    def ca_pem(self) -> bytes:
        return self.ca.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def certs() -> Certs:
    return Certs()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_kubeconfig(path: pathlib.Path, clusters: list[dict], users: list[dict], contexts: list[dict],
                     current: str | None) -> pathlib.Path:
    doc = {"apiVersion": "v1", "kind": "Config", "clusters": clusters, "users": users, "contexts": contexts}
    if current:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc))
    return path


def test_embedded_data_and_contexts(tmp_path: pathlib.Path, certs: Certs) -> None:
    path = write_kubeconfig(
        tmp_path / "kubeconfig",
        clusters=[{"name": "c1", "cluster": {"server": "https://127.0.0.1:6443/",
                                              "certificate-authority-data": b64(certs.ca_pem)}},
                  {"name": "c2", "cluster": {"server": "https://other:6443", "insecure-skip-tls-verify": True,
                                              "tls-server-name": "kubernetes.test"}}],
        users=[{"name": "admin", "user": {"client-certificate-data": b64(certs.client_cert),
                                          "client-key-data": b64(certs.client_key)}},
               {"name": "bot", "user": {"token": "s3cret"}}],
        contexts=[{"name": "one", "context": {"cluster": "c1", "user": "admin"}},
                  {"name": "two", "context": {"cluster": "c2", "user": "bot", "namespace": "kube-system"}}],
        current="one")
    cfg = config.load_kubeconfig(path)
    assert cfg.server == "https://127.0.0.1:6443"
    assert (cfg.ca_data, cfg.cert_data, cfg.key_data) == (certs.ca_pem, certs.client_cert, certs.client_key)
    assert cfg.token is None and not cfg.insecure and cfg.namespace == "default"
    ctx = cfg.ssl_context()
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_REQUIRED
    other = config.load_kubeconfig(path, context="two")
    assert (other.server, other.token, other.insecure) == ("https://other:6443", "s3cret", True)
    assert other.tls_server_name == "kubernetes.test" and other.namespace == "kube-system"
    octx = other.ssl_context()
    assert octx is not None and octx.verify_mode == ssl.CERT_NONE
    assert "s3cret" not in repr(other) and "PRIVATE" not in repr(cfg)


def test_file_paths_relative_to_the_kubeconfig(tmp_path: pathlib.Path, certs: Certs) -> None:
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.crt").write_bytes(certs.ca_pem)
    (tmp_path / "pki" / "me.crt").write_bytes(certs.client_cert)
    (tmp_path / "pki" / "me.key").write_bytes(certs.client_key)
    (tmp_path / "token").write_text("from-file\n")
    path = write_kubeconfig(
        tmp_path / "config",
        clusters=[{"name": "c", "cluster": {"server": "https://127.0.0.1:1", "certificate-authority": "pki/ca.crt"}}],
        users=[{"name": "u", "user": {"client-certificate": "pki/me.crt",
                                      "client-key": str(tmp_path / "pki" / "me.key"), "tokenFile": "token"}}],
        contexts=[{"name": "x", "context": {"cluster": "c", "user": "u"}}], current="x")
    cfg = config.load_kubeconfig(path)
    assert (cfg.ca_data, cfg.cert_data, cfg.key_data) == (certs.ca_pem, certs.client_cert, certs.client_key)
    assert cfg.token == "from-file"
    cfg.ssl_context()


def test_default_path_from_env(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_kubeconfig(tmp_path / "kc", clusters=[{"name": "c", "cluster": {"server": "http://h:8080"}}],
                            users=[], contexts=[{"name": "x", "context": {"cluster": "c"}}], current="x")
    monkeypatch.setenv("KUBECONFIG", f"{path}{os.pathsep}/nonexistent")
    cfg = config.load_kubeconfig()
    assert cfg.server == "http://h:8080" and cfg.ssl_context() is None and cfg.token is None


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.pop("current-context"), "current-context"),
    (lambda d: d.update({"current-context": "nope"}), "context named 'nope'"),
    (lambda d: d["contexts"][0]["context"].update(cluster="gone"), "cluster named 'gone'"),
    (lambda d: d["clusters"][0]["cluster"].update({"certificate-authority-data": "!!notbase64"}), "base64"),
    (lambda d: d["clusters"][0]["cluster"].update({"certificate-authority": "/no/such/ca.crt"}), "cannot read"),
    (lambda d: d["clusters"][0]["cluster"].pop("server"), "no API server"),
    (lambda d: d["users"][0]["user"].pop("client-key-data"), "needs its key"),
])
def test_bad_kubeconfigs(tmp_path: pathlib.Path, certs: Certs, mutate: object, match: str) -> None:
    doc = {"clusters": [{"name": "c", "cluster": {"server": "https://h"}}],
           "users": [{"name": "u", "user": {"client-certificate-data": b64(certs.client_cert),
                                            "client-key-data": b64(certs.client_key)}}],
           "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}], "current-context": "x"}
    mutate(doc)  # type: ignore[operator]
    path = tmp_path / "kc"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(config.ConfigError, match=match):
        config.load_kubeconfig(path)


def test_unreadable_and_garbage(tmp_path: pathlib.Path) -> None:
    with pytest.raises(config.ConfigError):
        config.load_kubeconfig(tmp_path / "missing")
    (tmp_path / "list").write_text("- a\n- b\n")
    with pytest.raises(config.ConfigError):
        config.load_kubeconfig(tmp_path / "list")
    with pytest.raises(config.ConfigError, match="certificate authority"):
        config.Config(server="https://h", ca_data=b"not a pem").ssl_context()
    with pytest.raises(config.ConfigError, match="client certificate"):
        config.Config(server="https://h", cert_data=b"x", key_data=b"y").ssl_context()


def test_in_cluster(tmp_path: pathlib.Path, certs: Certs) -> None:
    (tmp_path / "token").write_text("sa-token")
    (tmp_path / "ca.crt").write_bytes(certs.ca_pem)
    (tmp_path / "namespace").write_text("team-a")
    cfg = config.in_cluster(sa_dir=tmp_path, environ={"KUBERNETES_SERVICE_HOST": "fd00::1",
                                                      "KUBERNETES_SERVICE_PORT": "443"})
    assert (cfg.server, cfg.token, cfg.namespace) == ("https://[fd00::1]:443", "sa-token", "team-a")
    assert cfg.ca_data == certs.ca_pem
    with pytest.raises(config.ConfigError):
        config.in_cluster(sa_dir=tmp_path, environ={})


async def test_mutual_tls_against_a_server(tmp_path: pathlib.Path, certs: Certs) -> None:
    for name, data in (("ca.crt", certs.ca_pem), ("s.crt", certs.server_cert), ("s.key", certs.server_key)):
        (tmp_path / name).write_bytes(data)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tmp_path / "s.crt", tmp_path / "s.key")
    server_ctx.load_verify_locations(tmp_path / "ca.crt")
    server_ctx.verify_mode = ssl.CERT_REQUIRED

    async def whoami(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert")  # type: ignore[union-attr]
        cn = [v for rdn in peer["subject"] for k, v in rdn if k == "commonName"]
        return web.json_response({"kind": "Node", "metadata": {"name": cn[0]},
                                  "auth": request.headers.get("Authorization", "")})

    app = web.Application()
    app.router.add_get("/api/v1/nodes/{name}", whoami)
    server = test_utils.TestServer(app, host="127.0.0.1")
    await server.start_server(ssl=server_ctx)
    try:
        url = f"https://127.0.0.1:{server.port}"
        cfg = config.Config(server=url, ca_data=certs.ca_pem, cert_data=certs.client_cert,
                            key_data=certs.client_key, token="tok")
        async with rest.Client(cfg) as c:
            got = await c.get(rest.NODES, "x")
        assert got["metadata"]["name"] == "alice" and got["auth"] == "Bearer tok"
        # The server's certificate is checked against the configured CA.
        other = Certs()
        untrusted = config.Config(server=url, ca_data=other.ca_pem, cert_data=certs.client_cert,
                                  key_data=certs.client_key)
        async with rest.Client(untrusted) as c:
            with pytest.raises(rest.TransportError):
                await c.get(rest.NODES, "x")
        # tls-server-name: verify a name from the certificate rather than the URL's host.
        named = config.Config(server=url, ca_data=certs.ca_pem, cert_data=certs.client_cert,
                              key_data=certs.client_key, tls_server_name="kubernetes.test")
        async with rest.Client(named) as c:
            assert (await c.get(rest.NODES, "x"))["metadata"]["name"] == "alice"
    finally:
        await server.close()
