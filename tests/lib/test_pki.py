"""kubeling.lib.pki: the cluster CA, serving and admin credentials, kubeconfig, mTLS identity."""

from __future__ import annotations

import asyncio
import base64
import pathlib
import ssl
import stat

import pytest
import yaml
from cryptography import x509

from kubeling.lib import pki


def _mode(path: pathlib.Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _sans(path: pathlib.Path) -> tuple[set[str], set[str]]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(san.get_values_for_type(x509.DNSName)), {str(i) for i in san.get_values_for_type(x509.IPAddress)}


def test_created_with_private_modes(tmp_path: pathlib.Path) -> None:
    p = pki.ensure_pki(tmp_path, hosts=["192.0.2.7", "myhost"])
    assert p.dir == tmp_path / "tls"
    for path in (p.ca_cert, p.serving_cert, p.admin_cert):
        assert path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    for private in (p.ca_key, p.serving_key, p.admin_key, p.admin_token_file):
        assert _mode(private) == 0o600
    assert len(base64.urlsafe_b64decode(p.admin_token + "=" * (-len(p.admin_token) % 4))) == 32
    assert p.admin_token_file.read_text().strip() == p.admin_token
    assert p.ca_pem() == p.ca_cert.read_bytes()
    assert not [f for f in p.dir.iterdir() if f.name.startswith(".")]  # no temporary files left


def test_reused_on_second_call(tmp_path: pathlib.Path) -> None:
    p1 = pki.ensure_pki(tmp_path, hosts=["127.0.0.1", "myhost"])
    before = {f.name: f.read_bytes() for f in p1.dir.iterdir()}
    p2 = pki.ensure_pki(tmp_path, hosts=["myhost", "127.0.0.1"])
    assert p2 == p1
    assert {f.name: f.read_bytes() for f in p2.dir.iterdir()} == before


def test_serving_cert_names(tmp_path: pathlib.Path) -> None:
    p = pki.ensure_pki(tmp_path, hosts=["192.0.2.7", "MyHost", "fe80::1%eth0"])
    dns, ips = _sans(p.serving_cert)
    assert dns == {"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                   "kubernetes.default.svc.cluster.local", "myhost"}
    assert ips == {"127.0.0.1", "::1", "192.0.2.7", "fe80::1", pki.SERVICE_IP}
    usage = x509.load_pem_x509_certificate(p.serving_cert.read_bytes()).extensions.get_extension_for_class(
        x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in usage


def test_serving_cert_reissued_when_hosts_change_ca_kept(tmp_path: pathlib.Path) -> None:
    p = pki.ensure_pki(tmp_path, hosts=["myhost"])
    ca, admin, serving = p.ca_cert.read_bytes(), p.admin_cert.read_bytes(), p.serving_cert.read_bytes()
    p2 = pki.ensure_pki(tmp_path, hosts=["otherhost"])
    assert p2.serving_cert.read_bytes() != serving
    assert "otherhost" in _sans(p2.serving_cert)[0] and "myhost" not in _sans(p2.serving_cert)[0]
    assert p2.ca_cert.read_bytes() == ca and p2.admin_cert.read_bytes() == admin
    assert p2.admin_token == p.admin_token


def test_mismatched_or_foreign_leaf_is_reissued(tmp_path: pathlib.Path) -> None:
    p = pki.ensure_pki(tmp_path, hosts=["myhost"])
    other = pki.ensure_pki(tmp_path / "other", hosts=["myhost"])
    # A key without its certificate (a crash between the two writes) ...
    p.serving_key.write_bytes(other.serving_key.read_bytes())
    # ... and a certificate from another CA.
    p.admin_cert.write_bytes(other.admin_cert.read_bytes())
    p.admin_key.write_bytes(other.admin_key.read_bytes())
    ca = x509.load_pem_x509_certificate(p.ca_cert.read_bytes())
    p2 = pki.ensure_pki(tmp_path, hosts=["myhost"])
    for cert_path, key_path in ((p2.serving_cert, p2.serving_key), (p2.admin_cert, p2.admin_key)):
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        cert.verify_directly_issued_by(ca)
        ssl.create_default_context().load_cert_chain(str(cert_path), str(key_path))  # key matches


def test_new_ca_when_ca_missing(tmp_path: pathlib.Path) -> None:
    p = pki.ensure_pki(tmp_path, hosts=["myhost"])
    p.ca_key.unlink()
    p2 = pki.ensure_pki(tmp_path, hosts=["myhost"])
    ca = x509.load_pem_x509_certificate(p2.ca_cert.read_bytes())
    x509.load_pem_x509_certificate(p2.serving_cert.read_bytes()).verify_directly_issued_by(ca)
    x509.load_pem_x509_certificate(p2.admin_cert.read_bytes()).verify_directly_issued_by(ca)


def test_kubeconfig(tmp_path: pathlib.Path) -> None:
    p = pki.ensure_pki(tmp_path, hosts=["127.0.0.1"])
    path = tmp_path / "kube" / "config"
    pki.write_kubeconfig(path, server="https://127.0.0.1:6443", pki=p, user="admin", cluster="c",
                         context="ctx")
    assert _mode(path) == 0o600
    cfg = yaml.safe_load(path.read_text())
    assert cfg["current-context"] == "ctx"
    assert cfg["contexts"] == [{"name": "ctx", "context": {"cluster": "c", "user": "admin"}}]
    cluster = cfg["clusters"][0]
    assert cluster["name"] == "c" and cluster["cluster"]["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]) == p.ca_pem()
    user = cfg["users"][0]["user"]
    assert base64.b64decode(user["client-certificate-data"]) == p.admin_cert.read_bytes()
    assert base64.b64decode(user["client-key-data"]) == p.admin_key.read_bytes()
    pki.write_kubeconfig(path, server="https://[::1]:6443", pki=p)  # overwritten in place
    assert yaml.safe_load(path.read_text())["clusters"][0]["cluster"]["server"] == "https://[::1]:6443"


def test_check_token(tmp_path: pathlib.Path) -> None:
    p = pki.ensure_pki(tmp_path, hosts=[])
    assert p.check_token(p.admin_token)
    assert not p.check_token(p.admin_token + "x") and not p.check_token("")


def _handshakes(p: pki.PKI, clients: list[ssl.SSLContext]) -> list[object]:
    """Connect once per client context; return what peer_identity saw, or "refused"."""
    seen: list[object] = []

    async def run() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(pki.peer_identity(writer.get_extra_info("ssl_object")))
            writer.write(b"ok")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=p.server_ssl_context())
        port = server.sockets[0].getsockname()[1]
        for ctx in clients:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx,
                                                               server_hostname="kubernetes.default.svc")
                data = await reader.read()
                writer.close()
            except (ssl.SSLError, ConnectionError):
                data = b""
            if data != b"ok":
                # With TLS 1.3 the server checks the client's certificate after the
                # client considers the handshake done: the refusal shows as a reset
                # or an empty read, and the handler never runs.
                seen.append("refused")
        server.close()
        await server.wait_closed()

    asyncio.run(run())
    return seen


def test_mutual_tls_identity(tmp_path: pathlib.Path) -> None:
    p = pki.ensure_pki(tmp_path, hosts=["127.0.0.1"])
    node_dir = tmp_path / "node"
    node_dir.mkdir()
    cert_pem, key_pem = p.sign_client_cert("system:node:n1", ["system:nodes", "extra"])
    (node_dir / "n1.crt").write_bytes(cert_pem)
    (node_dir / "n1.key").write_bytes(key_pem)
    seen = _handshakes(p, [
        p.client_ssl_context(cert=p.admin_cert, key=p.admin_key),
        p.client_ssl_context(cert=node_dir / "n1.crt", key=node_dir / "n1.key"),
        p.client_ssl_context(),
    ])
    assert seen == [("system:admin", ["system:masters"]), ("system:node:n1", ["system:nodes", "extra"]), None]


def test_foreign_client_cert_is_rejected(tmp_path: pathlib.Path) -> None:
    p = pki.ensure_pki(tmp_path / "a", hosts=["127.0.0.1"])
    other = pki.ensure_pki(tmp_path / "b", hosts=["127.0.0.1"])
    seen = _handshakes(p, [p.client_ssl_context(cert=other.admin_cert, key=other.admin_key)])
    # The server refuses the handshake; no request is ever served for that client.
    assert seen == ["refused"]


def test_client_rejects_server_from_another_ca(tmp_path: pathlib.Path) -> None:
    p = pki.ensure_pki(tmp_path / "a", hosts=["127.0.0.1"])
    other = pki.ensure_pki(tmp_path / "b", hosts=["127.0.0.1"])
    with pytest.raises(ssl.SSLCertVerificationError):
        asyncio.run(_connect_only(p, other.client_ssl_context()))


async def _connect_only(p: pki.PKI, ctx: ssl.SSLContext) -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=p.server_ssl_context())
    try:
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


def test_peer_identity_without_tls() -> None:
    assert pki.peer_identity(None) is None

    class Unverified:
        def getpeercert(self) -> dict[str, object]:
            return {}

    assert pki.peer_identity(Unverified()) is None
